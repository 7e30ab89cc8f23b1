"""``audience bench-ingest``: each loader's rows per second beside a plain COPY of the same rows.

One run, one throwaway database on the warehouse server: a synthetic world is
generated (its web events and HubSpot contacts), each loader loads it, then the
rows it wrote to ``raw.*`` are copied out and COPY'd again into a plain table
(same columns, no index) in the same database — the fastest PostgreSQL can
take those rows. The ratio loader / plain COPY is the figure to watch (target
≥ 70% for the file loaders). HubSpot goes through the sandbox over HTTP, so
its figure is bound by the API's paging, not by the warehouse: it is labelled
as such.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

TARGET = 0.70


@contextlib.contextmanager
def _throwaway_database() -> Iterator[psycopg.Connection]:
    from audience import warehouse  # noqa: PLC0415

    server = warehouse.params()
    name = f"audience_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**server.libpq(), autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        with psycopg.connect(**server.libpq(name)) as conn:
            yield conn
    finally:
        with psycopg.connect(**server.libpq(), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def plain_copy_rate(conn: psycopg.Connection, raw_table: str, spool_dir: Path) -> tuple[int, float]:
    """Copy ``raw_table``'s rows out to a file, then time a COPY of that file into a plain table."""
    plain = f"raw.bench_plain_{uuid.uuid4().hex[:6]}"
    spool = spool_dir / "rows.copy"
    with open(spool, "wb") as out, conn.cursor() as cur:
        with cur.copy(
            f"copy {raw_table} (_batch_id, _loaded_at, _record_id, _updated_at, payload) to stdout"
        ) as cp:
            for data in cp:
                out.write(data)
    conn.execute(
        f"create table {plain} (_batch_id text not null, _loaded_at timestamptz not null, "
        "_record_id text not null, _updated_at timestamptz, payload jsonb not null)"
    )
    conn.commit()
    rows = 0
    started = time.monotonic()
    with open(spool, "rb") as fh, conn.cursor() as cur:
        with cur.copy(f"copy {plain} from stdin") as cp:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        rows = cur.rowcount
    conn.commit()
    seconds = time.monotonic() - started
    conn.execute(f"drop table {plain}")
    conn.commit()
    spool.unlink()
    return rows, seconds


def _entry(
    name: str, rows: int, seconds: float, plain_rows: int, plain_seconds: float, note: str
) -> dict[str, Any]:
    rate = rows / seconds if seconds else 0.0
    plain_rate = plain_rows / plain_seconds if plain_seconds else 0.0
    return {
        "loader": name,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rate),
        "plain_copy_rows_per_s": round(plain_rate),
        "ratio": round(rate / plain_rate, 3) if plain_rate else 0.0,
        "note": note,
    }


def bench_ingest(events: int = 1_000_000, contacts: int = 100_000, *, seed: int = 11) -> dict[str, Any]:
    """Generate a world with about ``events`` web events and ``contacts`` contacts; measure each loader.

    ``contacts=0`` skips HubSpot. Returns ``{"events", "contacts", "results": [...], "target"}``.
    """
    from audience.sources import hubspot, web_events  # noqa: PLC0415
    from sandbox.world import generate  # noqa: PLC0415

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="audience-bench-") as tmp:
        tmp_path = Path(tmp)
        # events come with contacts: a world of N contacts and M events per contact has about N*M events
        world_contacts = max(contacts, 1000)
        per_contact = max(1, round(events / world_contacts))
        world = tmp_path / "world"
        world.mkdir()
        started = time.monotonic()
        meta = generate(world, contacts=world_contacts, events_per_contact=per_contact, seed=seed)
        log.info(
            "bench: world of %d contacts and %d events in %.1fs",
            world_contacts,
            meta["events"],
            time.monotonic() - started,
        )
        with _throwaway_database() as conn:
            res = web_events.load_events(conn, settings=web_events.WebEventsSettings(world / "web_events"))
            plain_rows, plain_s = plain_copy_rate(conn, "raw.web_events__events", tmp_path)
            results.append(
                _entry(
                    "web_events.events",
                    res.rows_loaded,
                    res.duration_s,
                    plain_rows,
                    plain_s,
                    "files → raw, validated, deduplicated (unique index)",
                )
            )
            if contacts:
                from sandbox.server import start_background  # noqa: PLC0415

                handle = start_background(world, tmp_path / "sandbox-state")
                try:
                    settings = hubspot.HubSpotSettings(
                        handle.url, hubspot.SANDBOX_TOKEN, page_size=200, is_sandbox=True
                    )
                    res = hubspot.load_contacts(conn, settings=settings)
                finally:
                    handle.stop()
                plain_rows, plain_s = plain_copy_rate(conn, "raw.hubspot__contacts", tmp_path)
                results.append(
                    _entry(
                        "hubspot.contacts",
                        res.rows_loaded,
                        res.duration_s,
                        plain_rows,
                        plain_s,
                        "through the sandbox over HTTP: bound by API paging, not by the warehouse",
                    )
                )
    return {"events": meta["events"], "contacts": contacts, "target": TARGET, "results": results}


def format_table(report: dict[str, Any]) -> str:
    head = f"{'loader':<20} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'plain COPY rows/s':>18} {'ratio':>6}  note"
    lines = [head, "-" * len(head)]
    for r in report["results"]:
        lines.append(
            f"{r['loader']:<20} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rows_per_s']:>10,} "
            f"{r['plain_copy_rows_per_s']:>18,} {r['ratio']:>6.0%}  {r['note']}"
        )
    lines.append(f"target: file loaders ≥ {report['target']:.0%} of plain COPY")
    return "\n".join(lines)


def main_bench_ingest(argv: list[str] | None = None) -> int:
    """``audience bench-ingest [--events N] [--contacts N] [--seed S]``: prints the table; 1 if below target."""
    parser = argparse.ArgumentParser(prog="audience bench-ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="web events to load (default 1,000,000)"
    )
    parser.add_argument(
        "--contacts",
        type=int,
        default=100_000,
        help="HubSpot contacts to load through the sandbox (0 skips it; default 100,000)",
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.events < 1 or args.contacts < 0:
        parser.error("--events must be at least 1 and --contacts zero or more")
    report = bench_ingest(args.events, args.contacts, seed=args.seed)
    print(format_table(report))
    files = [r for r in report["results"] if r["loader"] == "web_events.events"]
    return 0 if all(r["ratio"] >= TARGET for r in files) else 1
