"""``ops.validation_runs``: one row per check per gate run; ``ops.table_row_counts``: each
validated table's row count per run, and the row-count bounds drawn from them.

A re-run with the same ``run_id`` (an Airflow retry) replaces its own rows, so
the tables hold each run once. ``observed`` holds counts and a few ids/hashes.

Row-count bounds: a table with fewer rows than ``(1 - AUDIENCE_GATE_MAX_ROW_DROP)``
times its count at the latest *passing* gate run fails (critical); more than
``AUDIENCE_GATE_MAX_ROW_GROWTH`` times that count warns. With no passing run
before (the first run), the check passes with a note.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from audience.quality.checks import CheckResult, GateResult
from audience.quality.config import GateConfig
from audience.warehouse import WarehouseError, WarehouseParams

ROW_COUNT_DROP_CHECK = "row_count_vs_previous_run"
ROW_COUNT_GROWTH_CHECK = "row_count_growth_vs_previous_run"
ROW_COUNT_TYPE = "row_count_bounds"

TABLE_ROW_COUNTS_DDL = """
create table if not exists ops.table_row_counts (
    run_id       text not null,
    run_at       timestamptz not null,
    table_name   text not null,
    row_count    bigint not null,
    gate_passed  boolean not null,
    primary key (run_id, table_name)
);
create index if not exists table_row_counts_table_idx on ops.table_row_counts (table_name, run_at);
"""

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
        cur.execute(TABLE_ROW_COUNTS_DDL)


def _connect(params: WarehouseParams, purpose: str) -> psycopg.Connection:
    try:
        return psycopg.connect(**params.libpq(), connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WarehouseError(
            f"cannot {purpose} in {params.redacted()}: {reason}. "
            "Check AIRFLOW_CONN_WAREHOUSE (or unset it to use the embedded server)."
        ) from None


def record_checks(
    params: WarehouseParams, result: GateResult, row_counts: Mapping[str, int] | None = None
) -> int:
    """Write one row per check to ``ops.validation_runs``, replacing this run_id's rows for these suites,
    and each table's row count (``row_counts``) to ``ops.table_row_counts`` with the gate's verdict."""
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
    conn = _connect(params, "record the quality gate run")
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
            if row_counts:
                cur.executemany(
                    "insert into ops.table_row_counts (run_id, run_at, table_name, row_count, gate_passed) "
                    "values (%s, %s, %s, %s, %s) on conflict (run_id, table_name) do update set "
                    "run_at = excluded.run_at, row_count = excluded.row_count, "
                    "gate_passed = excluded.gate_passed",
                    [(result.run_id, result.run_at, t, n, result.success) for t, n in row_counts.items()],
                )
        conn.commit()
    return len(rows)


# --------------------------------------------------------------------------- row-count bounds


def count_rows(params: WarehouseParams, tables: Iterable[str]) -> dict[str, int]:
    """``count(*)`` of each ``schema.table`` that exists (missing tables are left out)."""
    counts: dict[str, int] = {}
    with _connect(params, "count the validated tables' rows") as conn:
        for table_name in dict.fromkeys(tables):
            schema, table = table_name.split(".", 1)
            exists = conn.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0]
            if exists is None:
                continue
            query = sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            counts[table_name] = int(conn.execute(query).fetchone()[0])
    return counts


def previous_row_counts(
    params: WarehouseParams, tables: Iterable[str], run_id: str
) -> dict[str, tuple[str, int]]:
    """Each table's ``(run_id, row_count)`` at the latest passing gate run other than ``run_id``."""
    wanted = list(dict.fromkeys(tables))
    with _connect(params, "read the previous row counts") as conn:
        if conn.execute("select to_regclass('ops.table_row_counts')").fetchone()[0] is None:
            return {}
        rows = conn.execute(
            "select distinct on (table_name) table_name, run_id, row_count from ops.table_row_counts "
            "where gate_passed and run_id <> %s and table_name = any(%s) "
            "order by table_name, run_at desc",
            (run_id, wanted),
        ).fetchall()
    return {table: (prev_run, int(count)) for table, prev_run, count in rows}


def row_count_checks(
    suite: str,
    table_name: str,
    row_count: int,
    previous: tuple[str, int] | None,
    config: GateConfig,
) -> list[CheckResult]:
    """The drop (critical) and growth (warning) checks of one table against its previous passing run."""
    observed: dict[str, object] = {"row_count": row_count}
    if previous is None:
        return [
            CheckResult(
                suite=suite,
                table_name=table_name,
                check_name=ROW_COUNT_DROP_CHECK,
                expectation_type=ROW_COUNT_TYPE,
                success=True,
                severity="critical",
                observed={**observed, "previous_row_count": None},
                message=f"passed: {row_count} rows; first run: no previous passing run to compare with",
            )
        ]
    previous_run, previous_count = previous
    observed.update(previous_run_id=previous_run, previous_row_count=previous_count)
    minimum = math.ceil(previous_count * config.min_row_share())
    maximum = math.floor(previous_count * config.max_row_growth)
    change = (row_count - previous_count) / previous_count * 100 if previous_count else None
    change_text = f" ({change:+.1f}%)" if change is not None else ""
    dropped = row_count < minimum
    grew = previous_count > 0 and row_count > maximum
    return [
        CheckResult(
            suite=suite,
            table_name=table_name,
            check_name=ROW_COUNT_DROP_CHECK,
            expectation_type=ROW_COUNT_TYPE,
            success=not dropped,
            severity="critical",
            observed={**observed, "min_row_count": minimum},
            message=(
                f"{'' if dropped else 'passed: '}{row_count} rows, {previous_count} at the previous passing "
                f"run {previous_run}{change_text}; at least {minimum} expected "
                f"(AUDIENCE_GATE_MAX_ROW_DROP={config.max_row_drop})"
            ),
        ),
        CheckResult(
            suite=suite,
            table_name=table_name,
            check_name=ROW_COUNT_GROWTH_CHECK,
            expectation_type=ROW_COUNT_TYPE,
            success=not grew,
            severity="warning",
            observed={**observed, "max_row_count": maximum},
            message=(
                f"{'' if grew else 'passed: '}{row_count} rows, {previous_count} at the previous passing "
                f"run {previous_run}{change_text}; at most {maximum} expected "
                f"(AUDIENCE_GATE_MAX_ROW_GROWTH={config.max_row_growth})"
            ),
        ),
    ]
