"""Databases for the run-report tests: a copy of the built warehouse (``tests/quality/built.py``) with gate, sync
and stability rows (some hostile), and helpers to make and drop databases."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from audience import warehouse
from audience.warehouse import WarehouseParams

HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)">&amp;'
OLD_RUN = "scheduled__2026-10-31T00:00:00+00:00"
NEW_RUN = "manual__2026-11-01T06:00:00+00:00"
T0 = datetime(2026, 10, 31, 6, 0, tzinfo=UTC)

STABILITY_DDL = """
create table if not exists ops.segment_stability (
    run_id text not null, run_at timestamptz not null, dimension text not null, segment text,
    jaccard double precision, ari double precision
)
"""


def create_database(*, template: str | None = None) -> WarehouseParams:
    """A new database on the warehouse server (a copy of ``template`` when given)."""
    base = warehouse.params()
    name = f"test_report_{uuid.uuid4().hex[:8]}"
    clause = f' template "{template}"' if template else ""
    with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
        if (
            template
            and not conn.execute("select 1 from pg_database where datname = %s", (template,)).fetchone()
        ):
            raise RuntimeError(f"the built warehouse {template!r} is not on this server")
        for attempt in range(20):  # the template is busy while someone else copies it
            try:
                conn.execute(f'create database "{name}"{clause}')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(1)
    return dataclasses.replace(base, dbname=name)


def drop_database(params: WarehouseParams) -> None:
    with psycopg.connect(**params.libpq("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{params.dbname}" with (force)')


def load_runs(params: WarehouseParams) -> None:
    """Two gate runs (the newer one failing, with a hostile message), syncs, stability, a hostile name."""
    from audience.destinations.sync import ensure_sync_tables
    from audience.quality.validation_runs import ensure_validation_runs_table

    t1 = T0 + timedelta(days=1)
    checks = [
        (
            OLD_RUN,
            T0,
            "persons",
            "marts.persons",
            "expect_column_values_to_be_unique:person_id",
            True,
            "critical",
            "passed",
        ),
        (
            NEW_RUN,
            t1,
            "persons",
            "marts.persons",
            "expect_column_values_to_be_unique:person_id",
            True,
            "critical",
            "passed",
        ),
        (
            NEW_RUN,
            t1,
            "audience_members",
            "marts.audience_members",
            "expect_column_values_to_not_be_null:email_sha256",
            False,
            "critical",
            f"3 of 3262 rows unexpected; e.g. {HOSTILE}",
        ),
        (
            NEW_RUN,
            t1,
            "stats",
            "marts.person_segments",
            "chi_square:engagement_tier",
            False,
            "warning",
            "p = 0.2",
        ),
    ]
    with psycopg.connect(**params.libpq()) as conn:
        ensure_validation_runs_table(conn)
        conn.cursor().executemany(
            "insert into ops.validation_runs (run_id, run_at, suite, table_name, check_name, success, severity, "
            "message) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            checks,
        )
        conn.commit()
        ensure_sync_tables(conn)
        syncs = [
            ("s1", "consenting_adults", "facebook", "failed", 0, 0, 0, 0, T0, HOSTILE),
            ("s2", "consenting_adults", "facebook", "synced", 3262, 3262, 0, 0, t1, ""),
            ("s3", "active_buyers_30d", "facebook", "unchanged", 1928, 0, 0, 1928, t1, None),
        ]
        conn.cursor().executemany(
            "insert into ops.sync_runs (run_id, audience_key, destination, outcome, desired, added, removed, "
            "unchanged, started_at, finished_at, message) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*s[:9], s[8] + timedelta(seconds=5), s[9]) for s in syncs],
        )
        conn.execute(STABILITY_DDL)
        rows = []
        for i, run in enumerate(["r1", "r2", "r3"]):
            for dimension, ari in (
                ("age_band", 1.0),
                ("engagement_tier", 0.9 - 0.1 * i),
                ("persona_id", 0.8),
            ):
                rows.append((run, T0 + timedelta(hours=i), dimension, "hot", 0.7 + 0.05 * i, ari))
        conn.cursor().executemany(
            "insert into ops.segment_stability (run_id, run_at, dimension, segment, jaccard, ari) "
            "values (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        conn.execute(
            "update marts.audiences set name = %s where audience_key = 'committed_ecologists'", (HOSTILE,)
        )
        conn.commit()
