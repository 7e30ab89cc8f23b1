"""``ops.validation_runs``: one row per expectation per gate run.

A re-run with the same ``run_id`` (an Airflow retry) replaces its own rows, so
the table holds each run once. ``observed`` holds counts and a few ids/hashes.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from audience.quality.checks import GateResult
from audience.warehouse import WarehouseError, WarehouseParams

VALIDATION_RUNS_DDL = """
create table if not exists ops.validation_runs (
    run_id      text not null,
    run_at      timestamptz not null,
    suite       text not null,
    table_name  text not null,
    check_name  text not null,
    success     boolean not null,
    observed    jsonb not null default '{}'::jsonb,
    severity    text not null,
    message     text not null,
    primary key (run_id, suite, table_name, check_name)
);
create index if not exists validation_runs_run_at_idx on ops.validation_runs (run_at);
"""


def ensure_validation_runs_table(conn: psycopg.Connection) -> None:
    """Create ``ops.validation_runs`` (idempotent; does not commit)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.quality.validation_runs'))")
        cur.execute("create schema if not exists ops")
        cur.execute(VALIDATION_RUNS_DDL)


def record_checks(params: WarehouseParams, result: GateResult) -> int:
    """Write one row per check to ``ops.validation_runs``, replacing this run_id's rows for these suites."""
    rows = [
        (
            result.run_id,
            result.run_at,
            c.suite,
            c.table_name,
            c.check_name,
            c.success,
            Jsonb(c.observed),
            c.severity,
            c.message,
        )
        for c in result.checks
    ]
    pairs = sorted({(o.suite, o.table_name) for o in result.outcomes})
    try:
        conn = psycopg.connect(**params.libpq(), connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WarehouseError(
            f"cannot record the quality gate run in {params.redacted()}: {reason}. "
            "Check AIRFLOW_CONN_WAREHOUSE (or unset it to use the embedded server)."
        ) from None
    with conn:
        ensure_validation_runs_table(conn)
        with conn.cursor() as cur:
            for suite, table_name in pairs:
                cur.execute(
                    "delete from ops.validation_runs where run_id = %s and suite = %s and table_name = %s",
                    (result.run_id, suite, table_name),
                )
            cur.executemany(
                "insert into ops.validation_runs (run_id, run_at, suite, table_name, check_name, success, "
                "observed, severity, message) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
    return len(rows)
