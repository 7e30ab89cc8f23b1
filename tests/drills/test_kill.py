"""Drills: SIGKILL a pipeline step's process mid-way, run it again, and compare with an uninterrupted run.

Each step runs as a real subprocess (a loader through ``pipeline.ingest``, ``dbt run``, the Facebook
sync), is killed with SIGKILL once it has written something, and is then run again; the end state
must equal a reference run that was never interrupted. The sync's finer kill trials (one per batch,
in-process) are in tests/destinations/test_sync_replace.py; here the whole process dies.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from audience import pipeline, warehouse
from audience.destinations.facebook import FacebookDestination, FacebookSettings
from audience.destinations.sync import sync_audience
from audience.identity import FACEBOOK_SCHEMA

pytestmark = pytest.mark.drills

ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = ROOT / "dbt_project"
AS_OF = "2026-11-01"


# --------------------------------------------------------------------------- helpers


@contextmanager
def database(
    server: warehouse.WarehouseParams, template: str | None = None
) -> Iterator[warehouse.WarehouseParams]:
    name = f"drill_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**server.libpq("postgres"), autocommit=True) as admin:
        admin.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    params = warehouse.WarehouseParams(server.host, server.port, server.user, server.password, name)
    try:
        yield params
    finally:
        with psycopg.connect(**server.libpq("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def using(params: warehouse.WarehouseParams) -> Iterator[None]:
    """The process environment points at ``params`` (as a task's would)."""
    saved = {k: os.environ.get(k) for k in params.env()}
    os.environ.update(params.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def spawn(args: list[str], params: warehouse.WarehouseParams, log: Path) -> subprocess.Popen:
    env = {**os.environ, **params.env()}
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fail if it ended (or the time ran out) first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the process ended ({proc.returncode}) before {what}: no kill happened")
        if ready():
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def wait_backends_gone(params: warehouse.WarehouseParams, timeout: float = 30) -> None:
    """The killed client's server process ends when it notices the closed socket; wait for that."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(**params.libpq(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            others = conn.execute(
                "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (params.dbname,),
            ).fetchone()[0]
            if not others:
                return
            time.sleep(0.05)
    pytest.fail("the killed process's database session did not end")


def database_bytes(conn: psycopg.Connection) -> int:
    """Bytes in the database's files, read from disk: nothing waits for the locks a loader holds, and
    uncommitted rows count, even in a file only the loader's transaction sees yet (a first web-events
    load truncates its empty table and copies into the new file, which pg_relation_filepath does not
    show to other sessions)."""
    folder = conn.execute(
        "select current_setting('data_directory') || '/base/' || oid from pg_database "
        "where datname = current_database()"
    ).fetchone()[0]
    total = 0
    for entry in os.scandir(folder):
        try:
            total += entry.stat().st_size if entry.is_file() else 0
        except FileNotFoundError:  # dropped meanwhile
            pass
    return total


def table_digest(conn: psycopg.Connection, table: str, columns: str = "*") -> tuple[int, str]:
    row = conn.execute(
        f"select count(*), coalesce(md5(string_agg(t::text, '|' order by t::text)), '') "
        f"from (select {columns} from {table}) t"
    ).fetchone()
    return row[0], row[1]


# --------------------------------------------------------------------------- loaders

FEED_STATE = {
    # feed -> the bookkeeping that must match too (besides raw rows, ops.ingest_state and rejects)
    "hubspot__contacts": [],
    "hubspot__deals": [],
    "salesforce__contacts": [],
    "files__contacts": ["ops.ingested_files:name, size, sha256, status, rows_loaded, rows_rejected"],
    "web_events__events": ["ops.web_events_files:path, size, read_offset, lines, tail_sha1"],
}


def _ingest_state(conn: psycopg.Connection, table: str) -> dict:
    entity = table.split("__", 1)[1]
    rows = conn.execute(
        "select source, entity, watermark from ops.ingest_state where entity = %s", (entity,)
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def _end_state(conn: psycopg.Connection, feed: str) -> dict:
    from audience.sources.catalog import by_task_id

    table = f"raw.{by_task_id(feed).raw_table}"
    n, distinct = conn.execute(f"select count(*), count(distinct _record_id) from {table}").fetchone()
    state = {
        "rows": table_digest(conn, table, "_record_id, _updated_at, payload"),
        "distinct_ids": distinct,
        "duplicates": n - distinct,
        "watermarks": _ingest_state(conn, table),
        "rejects": table_digest(conn, "raw.rejects", "source, entity, reason, payload"),
    }
    for spec in FEED_STATE[feed]:
        ops_table, columns = spec.split(":")
        state[ops_table] = table_digest(conn, ops_table, columns)
    return state


@pytest.mark.parametrize(
    "feed, moment",
    [
        ("hubspot__contacts", "mid_copy"),
        ("hubspot__deals", "before_commit"),
        ("salesforce__contacts", "before_commit"),
        ("files__contacts", "before_commit"),
        ("web_events__events", "before_commit"),
    ],
)
def test_killed_loader_rerun_equals_an_uninterrupted_run(
    fresh_warehouse, sandbox, warehouse_server, tmp_path, feed, moment
):
    """``mid_copy``: killed while its COPY streams pages. ``before_commit``: killed with every row written
    and only the commit (watermark and batch record) to go, the worst moment: held there by a lock."""
    with database(warehouse_server) as ref:
        with using(ref):
            pipeline.ingest(feed)
            with warehouse.connect() as conn:
                reference = _end_state(conn, feed)
    assert reference["distinct_ids"] > 0 and reference["duplicates"] == 0

    from audience.sources.catalog import by_task_id

    table = f"raw.{by_task_id(feed).raw_table}"
    drill = fresh_warehouse
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        if feed == "files__contacts":
            from audience.sources.files import FILES_DDL

            conn.execute(FILES_DDL)
        conn.commit()
    holder = psycopg.connect(**drill.libpq())
    watch = psycopg.connect(**drill.libpq(), autocommit=True)  # statistics views: a fresh look each time
    before = database_bytes(watch)
    try:
        if moment == "before_commit":
            holder.execute("lock table ops.ingest_batches in exclusive mode")

        def written() -> bool:
            if moment == "mid_copy":
                got = watch.execute(
                    "select coalesce(max(tuples_processed), 0) from pg_stat_progress_copy where datname = %s",
                    (drill.dbname,),
                ).fetchone()[0]
                return got > 0
            # blocked on our lock: its rows are all written, only the commit is missing
            waiting = watch.execute(
                "select count(*) from pg_stat_activity where datname = %s and wait_event_type = 'Lock' "
                "and query ilike '%%ops.ingest_batches%%'",
                (drill.dbname,),
            ).fetchone()[0]
            return waiting > 0 and database_bytes(watch) > before

        code = f"from audience import pipeline; pipeline.ingest({feed!r})"
        if moment == "mid_copy":
            # COPY sends its data in chunks of 1 MB, a small world's whole load: 32 kB chunks let the
            # server hold rows from the first pages while later pages are still being fetched
            code = (
                "from audience import warehouse; warehouse.copy_rows.__kwdefaults__['chunk_bytes'] = 32768; "
                + code
            )
        proc = spawn([sys.executable, "-c", code], drill, tmp_path / "killed.log")
        kill_when(proc, written, f"{feed} wrote rows ({moment})")
        holder.rollback()  # releases the lock: the orphaned session finds its client gone and aborts
    finally:
        holder.close()
        watch.close()
    wait_backends_gone(drill)
    with warehouse.connect() as conn:
        assert conn.execute(f"select count(*) from {table}").fetchone()[0] == 0  # nothing half-committed
        assert conn.execute("select count(*) from ops.ingest_batches").fetchone()[0] == 0

    pipeline.ingest(feed)  # the re-run
    with warehouse.connect() as conn:
        assert _end_state(conn, feed) == reference


# --------------------------------------------------------------------------- dbt

DBT_FEEDS = (
    "hubspot__contacts",
    "hubspot__deals",
    "salesforce__contacts",
    "salesforce__leads",
    "salesforce__opportunities",
    "files__contacts",
    "files__orders",
    "web_events__events",
    "facebook_pages__posts",
    "facebook_pages__comments",
)


def _dbt(command: str, target: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "dbt"),
        command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target / "target"),
        "--log-path",
        str(target / "logs"),
        "--vars",
        f'{{"as_of_date": "{AS_OF}"}}',
    ]


def _run_dbt(command: str, params: warehouse.WarehouseParams, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    proc = spawn(_dbt(command, work), params, work / "dbt.out")
    assert proc.wait(600) == 0, (work / "dbt.out").read_text()[-3000:]


def _marts(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    tables = [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    ]
    return {t: table_digest(conn, f'marts."{t}"') for t in tables}


@pytest.mark.dbt
def test_killed_dbt_run_rerun_equals_an_uninterrupted_run(sandbox, warehouse_server, tmp_path):
    with database(warehouse_server) as base:
        with using(base):
            for feed in DBT_FEEDS:
                pipeline.ingest(feed)
        _run_dbt("seed", base, tmp_path / "seed")
        with (
            database(warehouse_server, template=base.dbname) as ref,
            database(warehouse_server, template=base.dbname) as drill,
        ):
            _run_dbt("run", ref, tmp_path / "ref")
            with psycopg.connect(**ref.libpq()) as conn:
                reference = _marts(conn)
            assert len(reference) > 10 and all(n for n, _ in reference.values() if n)

            watch = psycopg.connect(**drill.libpq(), autocommit=True)
            try:

                def some_marts_built() -> bool:
                    built = watch.execute(
                        "select count(*) from information_schema.tables where table_schema = 'marts' "
                        "and table_type = 'BASE TABLE' and table_name not like '%%__dbt_%%'"
                    ).fetchone()[0]
                    return built >= 3

                proc = spawn(_dbt("run", tmp_path / "killed"), drill, tmp_path / "killed.out")
                kill_when(proc, some_marts_built, "dbt built three marts")
            finally:
                watch.close()
            wait_backends_gone(drill)
            with psycopg.connect(**drill.libpq()) as conn:
                partial = conn.execute(
                    "select count(*) from information_schema.tables where table_schema = 'marts' "
                    "and table_type = 'BASE TABLE' and table_name not like '%%__dbt_%%'"
                ).fetchone()[0]
            assert 3 <= partial < len(reference)  # killed mid-way: some marts built, not all

            _run_dbt("run", drill, tmp_path / "rerun")
            with psycopg.connect(**drill.libpq()) as conn:
                again = _marts(conn)
    assert again == reference  # same tables, same rows, no leftover __dbt_tmp/__dbt_backup relation


# --------------------------------------------------------------------------- sync


def test_killed_sync_process_rerun_converges_to_the_mart(fresh_warehouse, sandbox, sandbox_world, tmp_path):
    """The sync process dies while its batches are going out; the re-run leaves the platform's audience
    equal to marts.audience_members, and the ledger (ops.sync_state) agrees."""
    sys.path.insert(0, str(ROOT / "tests" / "destinations"))
    import members  # the destination tests' helpers: the mart's contract, the world's hashed members

    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        members.reset(conn)
        rows = members.from_world(sandbox_world, conn)
        members.insert(conn, rows)
        mart = members.table_rows(conn)
    assert len(mart) > 500

    code = (
        "import dataclasses\n"
        "from audience import warehouse\n"
        "from audience.destinations.facebook import FacebookDestination, FacebookSettings\n"
        "from audience.destinations.sync import sync_audience\n"
        f"settings = dataclasses.replace(FacebookSettings.sandbox({sandbox.url!r}), max_rows_per_request=50)\n"
        "with warehouse.connect() as conn:\n"
        f"    sync_audience(conn, FacebookDestination(settings), {members.AUDIENCE!r})\n"
    )

    def held() -> int:
        audiences = httpx.get(f"{sandbox.url}/_sandbox/facebook/audiences", timeout=10).json()["audiences"]
        return sum(a["member_count"] for a in audiences if a["name"] == members.AUDIENCE)

    proc = spawn([sys.executable, "-c", code], fresh_warehouse, tmp_path / "killed.log")
    kill_when(proc, lambda: held() >= 200, "the platform held 200 members")
    wait_backends_gone(fresh_warehouse)
    assert held() < len(mart)  # killed mid-way

    settings = dataclasses.replace(FacebookSettings.sandbox(sandbox.url), max_rows_per_request=50)
    with warehouse.connect() as conn:
        result = sync_audience(conn, FacebookDestination(settings), members.AUDIENCE)
        ledger = conn.execute(
            "select count(*) from ops.sync_state where audience_key = %s and destination = 'facebook'",
            (members.AUDIENCE,),
        ).fetchone()[0]
    assert result.summary()["outcome"] != "failed"
    audiences = httpx.get(f"{sandbox.url}/_sandbox/facebook/audiences", timeout=10).json()["audiences"]
    (audience,) = [a for a in audiences if a["name"] == members.AUDIENCE]
    body = httpx.get(f"{sandbox.url}/_sandbox/facebook/audiences/{audience['id']}/members", timeout=60).json()
    index = [body["schema"].index(k) if k in body["schema"] else None for k in FACEBOOK_SCHEMA]
    platform = {tuple("" if i is None else row[i] for i in index) for row in body["data"]}
    assert platform == mart
    assert ledger == len(mart)
