"""``bench-sync``: our Facebook sync beside a hand-written SDK script, on the sandbox.

Builds ``N`` synthetic members (default 1,000,000; digests made in SQL, no
real person) in a throwaway database on the warehouse server, then:

1. **ours**: :func:`audience.destinations.sync.sync_audience` to the sandbox
   (records per second, requests), with the default of one upload request in
   flight (a crash re-sends at most that batch), and again, as another audience
   of the same members, with ``--parallel-requests`` (default 4) in flight;
2. **plain**: what a user would write by hand against the same sandbox: the
   SDK's own ``CustomAudience.add_users(..., is_raw=True)`` (the SDK
   normalises and hashes) in batches of 10,000, one call after another; only
   the calls are timed, not the making of the raw rows;
3. **1% change**: 0.5% of the members leave, as many join; the next sync.

Targets (exit 1 if one is missed): upload requests of the first sync =
ceil(N / 10,000); ours >= 5x the plain script's records per second (judged
for each of the two settings); the change sends <= 1.05% of N records.

    python -m audience.bench_sync --members 1000000 [--sandbox-url URL]

Without ``--sandbox-url`` a sandbox is started in the background (tiny world,
throwaway state folder) and stopped at the end. The database is dropped at
the end either way.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from audience.destinations.facebook import MAX_ROWS_PER_REQUEST, FacebookDestination, FacebookSettings
from audience.destinations.sync import sync_audience
from audience.identity import FACEBOOK_MEMBER_COLUMNS

log = logging.getLogger(__name__)

AUDIENCE = "bench_sync"
PARALLEL_AUDIENCE = "bench_sync_parallel"
PLAIN_AUDIENCE = "bench_sync_plain_sdk"
SPEED_TARGET = 5.0
CHANGE_TARGET = 0.0105
# the keys a typical customer list has: an id, an email, a phone, a country
PLAIN_SCHEMA = ["EXTERN_ID", "EMAIL", "PHONE", "COUNTRY"]


@dataclass
class Leg:
    name: str
    records: int = 0
    seconds: float = 0.0
    requests: int = 0
    upload_requests: int = 0

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BenchReport:
    members: int
    parallel_requests: int = 4
    ours: Leg = field(default_factory=lambda: Leg("ours: first sync"))
    parallel: Leg = field(default_factory=lambda: Leg("ours: first sync, N"))
    plain: Leg = field(default_factory=lambda: Leg("plain SDK add_users"))
    change: Leg = field(default_factory=lambda: Leg("ours: 1% change"))
    equal: bool = False

    def __post_init__(self) -> None:
        self.parallel.name = f"ours: first sync, {self.parallel_requests}x"

    @property
    def expected_uploads(self) -> int:
        return math.ceil(self.members / MAX_ROWS_PER_REQUEST)

    def speedup(self, leg: Leg) -> float:
        return leg.per_second / self.plain.per_second if self.plain.per_second else 0.0

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) for each target."""
        return [
            (
                f"first sync uploads = ceil(N/10,000) = {self.expected_uploads}",
                str(self.ours.upload_requests),
                self.ours.upload_requests == self.expected_uploads,
            ),
            (
                f"ours, 1 request in flight (default) >= {SPEED_TARGET:g}x plain",
                f"{self.speedup(self.ours):.2f}x",
                self.speedup(self.ours) >= SPEED_TARGET,
            ),
            (
                f"ours, {self.parallel_requests} requests in flight >= {SPEED_TARGET:g}x plain",
                f"{self.speedup(self.parallel):.2f}x",
                self.speedup(self.parallel) >= SPEED_TARGET,
            ),
            (
                f"1% change sends <= {CHANGE_TARGET:.2%} of N = {int(self.members * CHANGE_TARGET)}",
                f"{self.change.records} records, {self.change.requests} requests",
                self.change.records <= self.members * CHANGE_TARGET
                and self.change.requests <= self.members * CHANGE_TARGET,
            ),
            ("sandbox holds exactly the audience", "yes" if self.equal else "no", self.equal),
        ]

    def table(self) -> str:
        lines = [
            f"bench-sync: {self.members:,} members",
            f"{'leg':<28}{'records':>12}{'seconds':>10}{'records/s':>12}{'requests':>10}{'uploads':>9}",
        ]
        for leg in (self.ours, self.parallel, self.plain, self.change):
            lines.append(
                f"{leg.name:<28}{leg.records:>12,}{leg.seconds:>10.2f}{leg.per_second:>12,.0f}"
                f"{leg.requests:>10}{leg.upload_requests:>9}"
            )
        lines.append("")
        for target, measured, met in self.targets():
            lines.append(f"{'OK  ' if met else 'MISS'} {target}: {measured}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- set-up


@contextmanager
def throwaway_database() -> Iterator[psycopg.Connection]:
    """A new database on the warehouse server, dropped on exit."""
    from audience import warehouse  # noqa: PLC0415 - starts the embedded server only when needed

    server = warehouse.params()
    name = f"bench_sync_{uuid.uuid4().hex[:10]}"
    admin = server.libpq(dbname="postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        with psycopg.connect(**server.libpq(dbname=name)) as conn:
            yield conn
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def sandbox(url: str | None) -> Iterator[str]:
    """The given sandbox URL, or a sandbox started for the bench (stopped on exit)."""
    if url:
        yield url.rstrip("/")
        return
    from sandbox.server import start_background  # noqa: PLC0415
    from sandbox.world import generate  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        generate(folder / "world", contacts=50, events_per_contact=0, seed=1)
        handle = start_background(folder / "world", folder / "state")
        try:
            yield handle.url
        finally:
            handle.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _digest(expr: str) -> str:
    return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"


def create_members(conn: psycopg.Connection, start: int, count: int, audience: str = AUDIENCE) -> None:
    """Synthetic members ``b<start>..``: extern id, email, phone and country digests (nothing real)."""
    values = {
        "extern_id": "'b' || i",
        "email_sha256": _digest("'person' || i || '@example.org'"),
        "phone_sha256": _digest("'336' || lpad(i::text, 8, '0')"),
        "country_sha256": _digest("'fr'"),
    }
    columns = ", ".join(FACEBOOK_MEMBER_COLUMNS)
    exprs = ", ".join(values.get(c, "''") for c in FACEBOOK_MEMBER_COLUMNS)
    conn.execute(
        f"insert into marts.audience_members (audience_key, person_id, {columns}) "
        f"select %s, 'b' || i, {exprs} from generate_series(%s::bigint, %s::bigint) as i",
        (audience, start, start + count - 1),
    )
    conn.commit()


def build_warehouse(conn: psycopg.Connection, members: int) -> None:
    hashes = ", ".join(f"{c} text not null" for c in FACEBOOK_MEMBER_COLUMNS if c != "extern_id")
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create table marts.audience_members (audience_key text not null, person_id text not null, "
        f"extern_id text not null, {hashes}, primary key (audience_key, person_id))"
    )
    conn.commit()
    create_members(conn, 0, members)
    conn.execute("analyze marts.audience_members")
    conn.commit()


def upload_calls(url: str) -> int:
    """``/users`` requests the sandbox has answered so far."""
    stats = requests.get(f"{url}/_sandbox/stats", timeout=30).json()
    return sum(n for key, n in stats["requests"].items() if key.endswith("/{id}/users"))


# --------------------------------------------------------------------------- legs


def run_ours(
    conn: psycopg.Connection, url: str, leg: Leg, audience: str = AUDIENCE, parallel_requests: int = 1
) -> str:
    dest = FacebookDestination(FacebookSettings.sandbox(url))
    uploads = upload_calls(url)
    started = time.monotonic()
    result = sync_audience(conn, dest, audience, parallel_requests=parallel_requests)
    leg.seconds = time.monotonic() - started
    if result.outcome != "synced":
        raise RuntimeError(f"the bench sync did not complete: {result.outcome} ({result.message})")
    leg.records = result.added + result.removed
    leg.requests = result.requests
    leg.upload_requests = upload_calls(url) - uploads
    return str(result.platform_audience_id)


def run_plain(url: str, members: int, leg: Leg) -> None:
    """The hand-written script: SDK objects, raw values, the SDK's hashing, batches of 10,000."""
    from facebook_business.adobjects.adaccount import AdAccount  # noqa: PLC0415
    from facebook_business.adobjects.customaudience import CustomAudience  # noqa: PLC0415
    from facebook_business.api import FacebookAdsApi  # noqa: PLC0415
    from facebook_business.session import FacebookSession  # noqa: PLC0415

    settings = FacebookSettings.sandbox(url)
    FacebookSession.GRAPH = settings.base_url
    api = FacebookAdsApi.init(
        access_token=settings.access_token, api_version=settings.api_version, crash_log=False
    )
    before = api.get_num_requests_attempted()
    created = AdAccount(f"act_{settings.ad_account_id}", api=api).create_custom_audience(
        params={
            "name": PLAIN_AUDIENCE,
            "subtype": "CUSTOM",
            "description": "bench-sync: the plain SDK script",
            "customer_file_source": "USER_PROVIDED_ONLY",
        }
    )
    audience = CustomAudience(created["id"], api=api)
    uploads = upload_calls(url)
    for start in range(0, members, MAX_ROWS_PER_REQUEST):
        users = [
            [f"b{i}", f"person{i}@example.org", f"06{i:08d}", "FR"]
            for i in range(start, min(members, start + MAX_ROWS_PER_REQUEST))
        ]
        began = time.monotonic()
        audience.add_users(PLAIN_SCHEMA, users, is_raw=True)
        leg.seconds += time.monotonic() - began
        leg.records += len(users)
    leg.requests = api.get_num_requests_attempted() - before
    leg.upload_requests = upload_calls(url) - uploads


def run_change(conn: psycopg.Connection, url: str, members: int, leg: Leg) -> str:
    """0.5% of the members leave (every 200th), as many new ones join; sync again."""
    moved = members // 200
    conn.execute(
        "delete from marts.audience_members where audience_key = %s and person_id in "
        "(select 'b' || i from generate_series(0::bigint, %s::bigint, 200) as i)",
        (AUDIENCE, members - 1),
    )
    conn.commit()
    create_members(conn, members, moved)
    return run_ours(conn, url, leg)


def sandbox_matches(conn: psycopg.Connection, url: str, audience_id: str) -> bool:
    """The sandbox's members equal the table's, compared by extern id (read in pages of 100,000)."""
    held: set[str] = set()
    rows_held = 0
    page = 100_000
    while True:
        answer = requests.get(
            f"{url}/_sandbox/facebook/audiences/{audience_id}/members",
            params={"limit": page, "offset": rows_held},
            timeout=600,
        )
        answer.raise_for_status()
        body = answer.json()
        if not body.get("data"):
            break
        index = body["schema"].index("EXTERN_ID")
        held.update(row[index] for row in body["data"])
        rows_held += len(body["data"])
        if len(body["data"]) < page:
            break
    wanted = conn.execute(
        "select extern_id from marts.audience_members where audience_key = %s", (AUDIENCE,)
    ).fetchall()
    conn.commit()
    return rows_held == len(wanted) and held == {r[0] for r in wanted}


def run(members: int, url: str | None = None, parallel_requests: int = 4) -> BenchReport:
    """All the legs against one sandbox; the report (targets judged by the caller)."""
    if members < 1:
        raise ValueError(f"--members must be at least 1, got {members}")
    report = BenchReport(members, parallel_requests=parallel_requests)
    with throwaway_database() as conn, sandbox(url) as base:
        requests.post(f"{base}/_sandbox/reset", timeout=60).raise_for_status()
        build_warehouse(conn, members)
        create_members(conn, 0, members, PARALLEL_AUDIENCE)
        audience_id = run_ours(conn, base, report.ours)
        run_plain(base, members, report.plain)
        run_ours(conn, base, report.parallel, PARALLEL_AUDIENCE, parallel_requests)
        run_change(conn, base, members, report.change)
        report.equal = sandbox_matches(conn, base, audience_id)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000, help="members to sync (default 1,000,000)")
    parser.add_argument("--sandbox-url", default=None, help="a running sandbox (default: start one)")
    parser.add_argument(
        "--parallel-requests",
        type=int,
        default=4,
        help="requests in flight for the second leg of ours (default 4)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = run(args.members, args.sandbox_url, args.parallel_requests)
    print(report.table())
    return 0 if all(met for _, _, met in report.targets()) else 1


if __name__ == "__main__":
    sys.exit(main())
