"""``audience bench-ingest``: each loader's rows per second beside a plain COPY of the same rows.

One run, one throwaway database on the warehouse server. A synthetic world is
generated; each loader then loads its feed, and the rows it wrote to ``raw.*``
are copied out to a file once. The measurement interleaves the loader and a
plain COPY of that file into a plain table (same columns, no index) — the
fastest PostgreSQL takes those rows — on the same data, a fresh table each
time: a warm-up pair (not counted), then loader, COPY, loader, COPY, ...
(``--repeat`` times each). Each repetition is reported, with the median rate
of each side, their min and max, and the ratio of the medians, on which the
target (≥ 70% of plain COPY, for the loaders that read files) is judged: on a
shared machine the COPY alone varies by a fifth between runs, so one pair
proves little.

Feeds: the pixel files (``web_events.events``) and the CRM drop
(``files.contacts`` CSV, ``files.orders`` Parquet) at ``--events`` rows
each (the drop files are the world's own rows repeated under new ids up to
that size); with ``--contacts N`` (default 100,000; 0 skips them) the API
feeds through the sandbox over HTTP on a world of N contacts: HubSpot and
Salesforce contacts, Facebook and LinkedIn comments. Their rate is bound by
the API's paging, not by the warehouse: they are shown, not judged.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

TARGET = 0.70
COPY_COLUMNS = "_batch_id, _loaded_at, _record_id, _updated_at, payload"


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


@dataclass
class Case:
    """One feed to measure: how to load it, and how to forget it so the next load starts afresh."""

    name: str
    source: str
    entity: str
    load: Callable[[psycopg.Connection], int]  # rows loaded
    note: str
    judged: bool  # the target applies (file loaders); API feeds are bound by paging
    forget_sql: tuple[str, ...] = ()  # besides dropping the raw table and its watermark

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.entity}"

    def forget(self, conn: psycopg.Connection) -> None:
        conn.execute(f"drop table if exists {self.raw_table}")
        exists = conn.execute("select to_regclass('ops.ingest_state') is not null").fetchone()[0]
        if exists:
            conn.execute(
                "delete from ops.ingest_state where source = %s and entity = %s", (self.source, self.entity)
            )
            conn.execute(
                "delete from raw.rejects where source = %s and entity = %s", (self.source, self.entity)
            )
        for sql in self.forget_sql:
            if conn.execute("select to_regclass(%s) is not null", (sql.split()[2],)).fetchone()[0]:
                conn.execute(sql)
        conn.commit()


@dataclass
class Repetition:
    loader_s: float
    copy_s: float
    rows: int
    copy_rows: int

    @property
    def loader_rate(self) -> float:
        return self.rows / self.loader_s if self.loader_s else 0.0

    @property
    def copy_rate(self) -> float:
        return self.copy_rows / self.copy_s if self.copy_s else 0.0


@dataclass
class Measure:
    case: Case
    warmup: Repetition
    reps: list[Repetition] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        loader = [r.loader_rate for r in self.reps]
        plain = [r.copy_rate for r in self.reps]
        ratios = [r.loader_rate / r.copy_rate for r in self.reps if r.copy_rate]
        med_l, med_c = statistics.median(loader), statistics.median(plain)
        ratio = med_l / med_c if med_c else 0.0
        return {
            "loader": self.case.name,
            "rows": self.reps[0].rows,
            "judged": self.case.judged,
            "note": self.case.note,
            "warmup": _rep_dict(self.warmup),
            "repetitions": [_rep_dict(r) for r in self.reps],
            "loader_rows_per_s": {
                "median": round(med_l),
                "min": round(min(loader)),
                "max": round(max(loader)),
            },
            "plain_copy_rows_per_s": {
                "median": round(med_c),
                "min": round(min(plain)),
                "max": round(max(plain)),
            },
            "ratio_of_medians": round(ratio, 3),
            "ratio_min": round(min(ratios), 3) if ratios else 0.0,
            "ratio_max": round(max(ratios), 3) if ratios else 0.0,
            "meets_target": (ratio >= TARGET) if self.case.judged else None,
        }


def _rep_dict(r: Repetition) -> dict[str, Any]:
    return {
        "loader_s": round(r.loader_s, 3),
        "loader_rows_per_s": round(r.loader_rate),
        "copy_s": round(r.copy_s, 3),
        "copy_rows_per_s": round(r.copy_rate),
        "ratio": round(r.loader_rate / r.copy_rate, 3) if r.copy_rate else 0.0,
    }


def spool_rows(conn: psycopg.Connection, raw_table: str, spool: Path) -> int:
    """Copy ``raw_table``'s rows out to ``spool`` in COPY text format; returns the bytes written."""
    size = 0
    with open(spool, "wb") as out, conn.cursor() as cur:
        with cur.copy(f"copy {raw_table} ({COPY_COLUMNS}) to stdout") as cp:
            for data in cp:
                out.write(data)
                size += len(data)
    conn.commit()
    return size


def plain_copy(conn: psycopg.Connection, spool: Path) -> tuple[int, float]:
    """COPY ``spool`` into a fresh plain table (no index); returns (rows, seconds). The table is dropped after."""
    plain = f"raw.bench_plain_{uuid.uuid4().hex[:6]}"
    conn.execute(
        f"create table {plain} (_batch_id text not null, _loaded_at timestamptz not null, "
        "_record_id text not null, _updated_at timestamptz, payload jsonb not null)"
    )
    conn.commit()
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
    return rows, seconds


def _timed_load(conn: psycopg.Connection, case: Case) -> tuple[int, float]:
    case.forget(conn)
    started = time.monotonic()
    rows = case.load(conn)
    return rows, time.monotonic() - started


def measure(conn: psycopg.Connection, case: Case, repeat: int, spool_dir: Path) -> Measure:
    """Warm-up, then ``repeat`` interleaved loader / plain COPY pairs on the same rows."""
    rows, seconds = _timed_load(conn, case)
    if rows == 0:
        raise RuntimeError(f"bench: {case.name} loaded no rows; the world has nothing for it")
    spool = spool_dir / f"{case.name}.copy"
    spool_rows(conn, case.raw_table, spool)
    copy_rows, copy_s = plain_copy(conn, spool)
    result = Measure(case, Repetition(seconds, copy_s, rows, copy_rows))
    log.info("bench: %s warm-up: %d rows in %.2fs, plain COPY %.2fs", case.name, rows, seconds, copy_s)
    try:
        for n in range(repeat):
            got, seconds = _timed_load(conn, case)
            if got != rows:
                raise RuntimeError(f"bench: {case.name} loaded {got} rows, {rows} at its warm-up")
            copy_rows, copy_s = plain_copy(conn, spool)
            result.reps.append(Repetition(seconds, copy_s, got, copy_rows))
            log.info(
                "bench: %s %d/%d: loader %.2fs, plain COPY %.2fs", case.name, n + 1, repeat, seconds, copy_s
            )
    finally:
        spool.unlink(missing_ok=True)
        case.forget(conn)
    return result


# ----------------------------------------------------------------------------- the feeds


def scaled_drop(world_drop: Path, out: Path, rows: int) -> dict[str, int]:
    """A CRM drop of ``rows`` contacts (CSV) and ``rows`` orders (Parquet) from the world's own drop.

    The world's rows are repeated, each copy under new ids (``<id>-<copy>``), so nothing is a duplicate.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    source_csv = sorted(world_drop.glob("contacts_*.csv"))[0]
    with open(source_csv, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = next(reader)
        body = [r for r in reader if r]
    id_col = header.index("customer_id")
    written = 0
    with open(out / "contacts_bench.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header)
        copy = 0
        while written < rows:
            for row in body[: rows - written]:
                row = list(row)
                row[id_col] = f"{row[id_col]}-{copy}"
                writer.writerow(row)
            written += min(len(body), rows - written)
            copy += 1
    table = pq.read_table(sorted(world_drop.glob("orders_*.parquet"))[0])
    ids = table.column("order_id").to_pylist()
    with pq.ParquetWriter(out / "orders_bench.parquet", table.schema, compression="zstd") as writer:
        done = copy = 0
        while done < rows:
            part = table.slice(0, rows - done)
            new_ids = pa.array([f"{i}-{copy}" for i in ids[: part.num_rows]], pa.string())
            writer.write_table(part.set_column(0, "order_id", new_ids))
            done += part.num_rows
            copy += 1
    return {"contacts": written, "orders": done}


def file_cases(world: Path, drop: Path) -> list[Case]:
    from audience.sources import files, web_events  # noqa: PLC0415

    events_root = world / "web_events"
    return [
        Case(
            "web_events.events",
            "web_events",
            "events",
            lambda conn: (
                web_events.load_events(conn, settings=web_events.WebEventsSettings(events_root)).rows_loaded
            ),
            "pixel files → raw, validated, deduplicated (unique index)",
            True,
            ("delete from ops.web_events_files",),
        ),
        Case(
            "files.contacts",
            "files",
            "contacts",
            lambda conn: files.load_contacts(conn, settings=files.FilesSettings(drop)).rows_loaded,
            "CRM drop CSV (';', UTF-8) → raw, row checks",
            True,
            ("delete from ops.ingested_files where source = 'files' and entity = 'contacts'",),
        ),
        Case(
            "files.orders",
            "files",
            "orders",
            lambda conn: files.load_orders(conn, settings=files.FilesSettings(drop)).rows_loaded,
            "CRM drop Parquet → raw, row checks",
            True,
            ("delete from ops.ingested_files where source = 'files' and entity = 'orders'",),
        ),
    ]


def api_cases(url: str) -> list[Case]:
    from audience.sources import facebook_pages, hubspot, linkedin, salesforce  # noqa: PLC0415

    hs = hubspot.HubSpotSettings(url, hubspot.SANDBOX_TOKEN, page_size=200, is_sandbox=True)
    sf = salesforce.SalesforceSettings(url, salesforce.SANDBOX_TOKEN, is_sandbox=True)
    fb = facebook_pages.FacebookPagesSettings(
        facebook_pages.SANDBOX_TOKEN,
        facebook_pages.SANDBOX_PAGE_ID,
        facebook_pages.SANDBOX_AD_ACCOUNT,
        url,
        is_sandbox=True,
    )
    li = linkedin.LinkedInSettings(
        linkedin.SANDBOX_TOKEN, linkedin.SANDBOX_ORGANIZATION, url, is_sandbox=True
    )
    paging = "over HTTP (sandbox): bound by API paging, not by the warehouse"
    return [
        Case(
            "hubspot.contacts",
            "hubspot",
            "contacts",
            lambda conn: hubspot.load_contacts(conn, settings=hs).rows_loaded,
            paging,
            False,
        ),
        Case(
            "salesforce.contacts",
            "salesforce",
            "contacts",
            lambda conn: salesforce.load_contacts(conn, settings=sf).rows_loaded,
            paging,
            False,
        ),
        Case(
            "facebook.comments",
            "facebook",
            "comments",
            lambda conn: facebook_pages.load_comments(conn, settings=fb).rows_loaded,
            paging,
            False,
        ),
        Case(
            "linkedin.comments",
            "linkedin",
            "comments",
            lambda conn: linkedin.load_comments(conn, settings=li).rows_loaded,
            paging + " (sandbox call quota lifted)",
            False,
        ),
    ]


def bench_ingest(
    events: int = 1_000_000,
    contacts: int = 100_000,
    *,
    repeat: int = 3,
    seed: int = 11,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Generate a world with about ``events`` web events (and ``contacts`` contacts); measure each feed.

    ``contacts=0`` skips the API feeds; ``only`` keeps the feeds whose names start with one of its
    entries. Returns ``{"events", "contacts", "repeat", "target", "results": [summary, ...]}``.
    """
    import requests  # noqa: PLC0415

    from sandbox.world import generate  # noqa: PLC0415

    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    results: list[dict[str, Any]] = []

    def wanted(case: Case) -> bool:
        return not only or any(case.name.startswith(o) for o in only)

    with tempfile.TemporaryDirectory(prefix="audience-bench-") as tmp:
        tmp_path = Path(tmp)
        # events come with contacts: a world of N contacts and M events per contact has about N*M events
        world_contacts = max(contacts, 1000)
        per_contact = max(1, round(events / world_contacts))
        world = tmp_path / "world"
        world.mkdir()
        started = time.monotonic()
        meta = generate(world, contacts=world_contacts, events_per_contact=per_contact, seed=seed)
        drop = tmp_path / "drop"
        sizes = scaled_drop(world / "crm_drop", drop, events)
        log.info(
            "bench: world of %d contacts and %d events, drop of %d contacts and %d orders, in %.1fs",
            world_contacts,
            meta["events"],
            sizes["contacts"],
            sizes["orders"],
            time.monotonic() - started,
        )
        with _throwaway_database() as conn:
            for case in file_cases(world, drop):
                if wanted(case):
                    results.append(measure(conn, case, repeat, tmp_path).summary())
            if contacts:
                from sandbox.server import start_background  # noqa: PLC0415

                handle = start_background(world, tmp_path / "sandbox-state")
                try:
                    requests.post(
                        f"{handle.url}/_sandbox/linkedin/config",
                        json={"calls_per_minute": 1_000_000},
                        timeout=30,
                    ).raise_for_status()
                    for case in api_cases(handle.url):
                        if wanted(case):
                            results.append(measure(conn, case, repeat, tmp_path).summary())
                finally:
                    handle.stop()
    return {
        "events": meta["events"],
        "contacts": contacts,
        "repeat": repeat,
        "target": TARGET,
        "results": results,
    }


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['repeat']} interleaved repetitions per feed after a warm-up; rates in rows/s; "
        "ratio = loader / plain COPY of the same rows"
    ]
    for r in report["results"]:
        lines.append("")
        lines.append(f"{r['loader']} — {r['rows']:,} rows — {r['note']}")
        lines.append(
            f"  {'rep':<8} {'loader s':>9} {'loader/s':>10} {'COPY s':>8} {'COPY/s':>10} {'ratio':>6}"
        )
        for n, rep in enumerate([r["warmup"], *r["repetitions"]]):
            label = "warm-up" if n == 0 else str(n)
            lines.append(
                f"  {label:<8} {rep['loader_s']:>9.2f} {rep['loader_rows_per_s']:>10,} {rep['copy_s']:>8.2f} "
                f"{rep['copy_rows_per_s']:>10,} {rep['ratio']:>6.0%}"
            )
        lo, pc = r["loader_rows_per_s"], r["plain_copy_rows_per_s"]
        verdict = {True: "meets", False: "MISSES", None: "not judged"}[r["meets_target"]]
        lines.append(
            f"  median loader {lo['median']:,}/s (min {lo['min']:,}, max {lo['max']:,}); "
            f"plain COPY {pc['median']:,}/s (min {pc['min']:,}, max {pc['max']:,})"
        )
        lines.append(
            f"  ratio of medians {r['ratio_of_medians']:.0%} (per pair {r['ratio_min']:.0%}–{r['ratio_max']:.0%}): "
            f"{verdict} the target"
        )
    lines.append("")
    lines.append(f"target: file loaders ≥ {report['target']:.0%} of plain COPY (ratio of medians)")
    return "\n".join(lines)


def main_bench_ingest(argv: list[str] | None = None) -> int:
    """``audience bench-ingest [--events N] [--contacts N] [--repeat R] [--only NAME]``: 1 if a target is missed."""
    parser = argparse.ArgumentParser(prog="audience bench-ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="rows for the file loaders: web events, drop contacts, drop orders (default 1,000,000)",
    )
    parser.add_argument(
        "--contacts",
        type=int,
        default=100_000,
        help="world contacts for the API feeds over HTTP (0 skips them; default 100,000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="interleaved loader/COPY pairs per feed after a warm-up (default 3)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="measure only the feeds whose name starts with this (repeatable), e.g. --only web_events",
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.events < 1 or args.contacts < 0 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1 and --contacts zero or more")
    report = bench_ingest(
        args.events, args.contacts, repeat=args.repeat, seed=args.seed, only=tuple(args.only)
    )
    print(format_table(report))
    return 0 if all(r["meets_target"] is not False for r in report["results"]) else 1
