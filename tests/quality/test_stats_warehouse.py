"""The statistical checks on a copy of the built demo warehouse (made by ``tests/quality/built.py``).

Clean data passes; random engagement tiers (independent of the score) fail the tier's
checks; a second snapshot run with two thirds of the tiers changed is reported as unstable (warning)
and recorded in ``ops.segment_stability``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from audience import warehouse
from audience.quality.stats import DIFFERENCE_TESTS, run_checks

from . import built


def _template_exists(admin: dict) -> bool:
    with psycopg.connect(**admin, autocommit=True) as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", (built.template(),)).fetchone()
            is not None
        )


@pytest.fixture
def built_db() -> Iterator[psycopg.Connection]:
    """A connection to a fresh copy of the built demo warehouse, dropped afterwards."""
    base = warehouse.params()
    admin = base.libpq("postgres")
    if not _template_exists(admin):
        pytest.skip(f"no {built.template()} database (a built demo warehouse) on this server")
    name = f"test_stats_{uuid.uuid4().hex[:8]}"
    for attempt in range(10):  # the template cannot be copied while someone is connected to it
        try:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'create database "{name}" template {built.template()}')
            break
        except psycopg.errors.ObjectInUse:
            if attempt == 9:
                raise
            time.sleep(1)
    try:
        with psycopg.connect(**base.libpq(name)) as conn:
            yield conn
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _by_name(checks):
    return {c.check_name: c for c in checks}


def test_clean_warehouse_passes(built_db):
    checks = run_checks(built_db, "test_clean", config={"min_group_size": 10})
    names = _by_name(checks)
    assert not [c.check_name for c in checks if c.blocking]
    for test in DIFFERENCE_TESTS:
        check = names[test.check_name]
        assert check.success, check.message
        assert check.observed["p_value"] < 0.05
    assert names["interest_clusters_silhouette"].success
    assert names["interest_clusters_silhouette"].observed["silhouette"] >= 0.25
    first = names["segments_stable"]
    assert first.success and "first snapshot run" in first.message
    # observed values are JSON and carry no contact data
    text = json.dumps([c.observed for c in checks])
    assert "@" not in text
    email = built_db.execute("select email from marts.persons where email is not null limit 1").fetchone()[0]
    assert email not in text and email not in " ".join(c.message for c in checks)


def test_identical_engagement_tiers_fail(built_db):
    # tiers drawn from a hash of the person id: the same distribution of everything in every tier
    built_db.execute(
        "update marts.person_engagement set engagement_tier = "
        "(array['cold', 'warm', 'hot'])[1 + get_byte(decode(md5(person_id || ':tier'), 'hex'), 0) % 3]"
    )
    checks = _by_name(run_checks(built_db, "test_identical", record=False))
    for name in (
        "engagement_score_differs_across_engagement_tier",
        "purchase_propensity_differs_across_engagement_tier",
        "rfm_segment_differs_across_engagement_tier",
    ):
        assert not checks[name].success, checks[name].message
        assert checks[name].table_name == "marts.person_engagement"
        assert "do not differ" in checks[name].message
    # the test on the defining attribute stops the sync; the others are warnings by default
    assert checks["engagement_score_differs_across_engagement_tier"].blocking
    assert not checks["purchase_propensity_differs_across_engagement_tier"].blocking
    assert not checks["rfm_segment_differs_across_engagement_tier"].blocking
    tier = checks["engagement_score_differs_across_engagement_tier"].observed
    assert tier["test"] == "kruskal" and tier["effect_size"] < 0.01
    assert set(tier["groups"]) == {"cold", "warm", "hot"}
    # the other dimensions are untouched
    assert checks["age_differs_across_age_band"].success
    assert checks["engagement_score_differs_across_persona_id"].success
    built_db.rollback()


def test_missing_mart_fails_its_checks_only(built_db):
    built_db.execute("drop table marts.person_rfm")
    checks = _by_name(run_checks(built_db, "test_missing", record=False))
    missing = checks["monetary_eur_differs_across_rfm_segment"]
    assert not missing.success and missing.blocking and "marts.person_rfm" in missing.message
    assert checks["age_differs_across_age_band"].success
    built_db.rollback()


def _second_snapshot_with_most_tiers_changed(conn: psycopg.Connection) -> None:
    # two thirds of the people move one tier up (hot wraps to cold): every tier then keeps at most
    # about a third of its people, so each one's Jaccard is well under 0.5 whatever the tiers'
    # sizes (with half moved, a large 'cold' tier's Jaccard sat at 0.5 +/- the split's noise)
    most = "get_byte(decode(md5(person_id), 'hex'), 0) % 3 <> 0"
    conn.execute(
        "create temp table changed as select * from snapshots.person_segments_snapshot "
        f"where dbt_valid_to is null and {most}"
    )
    conn.execute(
        "create temp table next_run as "
        "select max(dbt_valid_from) + interval '1 day' as at from snapshots.person_segments_snapshot"
    )
    conn.execute(
        "update snapshots.person_segments_snapshot s set dbt_valid_to = (select at from next_run) "
        "from changed c where s.person_id = c.person_id and s.dbt_valid_to is null"
    )
    conn.execute(
        "insert into snapshots.person_segments_snapshot (person_id, age_band, engagement_tier, rfm_segment, "
        "interest_label, propensity_decile, persona_id, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to) "
        "select person_id, age_band, "
        "case engagement_tier when 'cold' then 'warm' when 'warm' then 'hot' else 'cold' end, "
        "rfm_segment, interest_label, propensity_decile, persona_id, md5(person_id || ':2'), "
        "(select at from next_run), (select at from next_run), null from changed"
    )
    conn.commit()


def test_most_memberships_changed_is_reported_unstable(built_db):
    _second_snapshot_with_most_tiers_changed(built_db)
    for _ in range(2):  # a re-run with the same run id replaces its history rows
        checks = _by_name(run_checks(built_db, "test_stability"))
    tier = checks["engagement_tier_stable"]
    assert not tier.success
    assert tier.severity == "warning" and not tier.blocking
    assert tier.observed["ari"] < 0.5
    assert set(tier.observed["unstable_segments"]) == {"cold", "warm", "hot"}
    assert all(j < 0.5 for j in tier.observed["jaccard"].values())
    for dimension in ("age_band", "rfm_segment", "persona_id", "propensity_decile", "interest_label"):
        check = checks[f"{dimension}_stable"]
        assert check.success and check.observed["ari"] == 1.0, check.message

    rows = built_db.execute(
        "select dimension, segment, jaccard, ari from ops.segment_stability where run_id = 'test_stability'"
    ).fetchall()
    overall = {r[0]: r[3] for r in rows if r[1] == "*"}
    assert overall["engagement_tier"] == pytest.approx(tier.observed["ari"], abs=1e-3)
    assert overall["age_band"] == 1.0
    tiers = {r[1]: r[2] for r in rows if r[0] == "engagement_tier" and r[1] != "*"}
    assert set(tiers) == {"cold", "warm", "hot"} and max(tiers.values()) < 0.5
    assert len(rows) == len({(r[0], r[1]) for r in rows})
