"""The suites of every mart against the built demo warehouse (a copy of the one ``tests/quality/built.py`` makes).

The clean world passes every suite. Each corruption is applied to copies of the few tables it
needs, in a schema of its own (the suites take their schema), and must fail the gate naming the
check, the table and the failing ids or values.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audience import warehouse
from audience.quality.gx import QualityGateFailed, SuiteSpec, run_gate, suite_modules
from audience.warehouse import WarehouseParams

from . import built
from .conftest import execute

MART_SUITES = {
    "persons",
    "person_demographics",
    "person_engagement",
    "person_rfm",
    "person_next_action",
    "person_propensity",
    "event_transitions",
    "person_psychographics",
    "personas",
    "audiences",
    "audience_members",
}
# tables the suites' rules join to, copied beside the table under test
JOINED = ("persons", "audience_members", "interest_clusters", "person_personas")


@pytest.fixture(scope="module")
def world() -> Iterator[WarehouseParams]:
    """One copy of the demo warehouse for this module (retried while another session clones it)."""
    base = warehouse.params()
    name = f"test_suites_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(f'create database "{name}" template {built.template()} strategy file_copy')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(1)
            except psycopg.errors.InvalidCatalogName:
                pytest.skip(f"no {built.template()} database (built by the demo) on this server")
    try:
        yield dataclasses.replace(base, dbname=name)
    finally:
        with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _copy(params: WarehouseParams, schema: str, tables: tuple[str, ...]) -> None:
    statements = [f"drop schema if exists {schema} cascade", f"create schema {schema}"]
    statements += [f"create table {schema}.{t} as table marts.{t}" for t in dict.fromkeys(tables)]
    execute(params, ";".join(statements))


def _spec(module: str, schema: str) -> SuiteSpec:
    mod = importlib.import_module(f"expectations.{module}")
    return SuiteSpec(mod.SUITE_NAME, schema, mod.TABLE, functools.partial(mod.build_suite, schema=schema))


def _gate(params: WarehouseParams, module: str, schema: str, run_id: str, **kwargs):
    kwargs.setdefault("data_docs", False)
    kwargs.setdefault("statistics", False)
    return run_gate(params, [_spec(module, schema)], run_id=run_id, **kwargs)


# --------------------------------------------------------------------------- clean data


def test_every_mart_that_matters_has_a_suite() -> None:
    assert MART_SUITES <= set(suite_modules())


def test_clean_world_passes_every_suite_and_keeps_each_run(world: WarehouseParams, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    execute(world, "create schema if not exists ops; drop table if exists ops.table_row_counts")
    first = run_gate(world, run_id="clean-1", data_docs=docs, statistics=False)

    assert first.success, first.failure_message()
    assert first.failed == ()
    assert {o.suite for o in first.outcomes} >= MART_SUITES
    assert len(first.checks) > 120
    notes = [c for c in first.checks if c.check_name == "row_count_vs_previous_run"]
    assert len(notes) == len(first.outcomes)
    assert all(c.observed["previous_row_count"] is None and "first run" in c.message for c in notes)
    counts = dict(
        execute(world, "select table_name, row_count from ops.table_row_counts where run_id = 'clean-1'")
    )
    (persons,) = execute(world, "select count(*) from marts.persons")[0]
    assert counts["marts.persons"] == persons > 0 and counts["marts.audience_members"] > 0

    second = run_gate(world, run_id="clean-2", data_docs=docs, statistics=False)

    assert second.success
    growth = {c.table_name: c for c in second.checks if c.check_name == "row_count_growth_vs_previous_run"}
    assert growth["marts.persons"].observed["previous_row_count"] == persons
    assert growth["marts.persons"].observed["previous_run_id"] == "clean-1"
    index = (docs / "index.html").read_text()
    assert "clean-1" in index and "clean-2" in index, "the Data Docs index lists every run"
    recorded = execute(
        world,
        "select run_id, count(*) from ops.validation_runs where run_id like 'clean-%%' group by 1 order by 1",
    )
    assert recorded == [("clean-1", len(first.checks)), ("clean-2", len(second.checks))]


# --------------------------------------------------------------------------- corruptions

# case: (suite module, table corrupted, SQL with {s} for the schema, expected failing checks, shown)
CORRUPTIONS = {
    "duplicated_person_id": (
        "persons",
        "insert into {s}.persons select * from {s}.persons order by person_id limit 2",
        {"expect_column_values_to_be_unique:person_id"},
        "MIN_PERSON",
    ),
    "null_hash_in_audience": (
        "audience_members",
        "update {s}.audience_members set email_sha256 = null "
        "where person_id = (select min(person_id) from {s}.audience_members)",
        {"expect_column_values_to_not_be_null:email_sha256"},
        "rows unexpected",
    ),
    "short_hash_in_audience": (
        "audience_members",
        "update {s}.audience_members set phone_sha256 = left(phone_sha256, 12) "
        "where person_id = (select min(person_id) from {s}.audience_members where phone_sha256 <> '')",
        {"expect_column_values_to_match_like_pattern_list:phone_sha256"},
        "not a hash",
    ),
    "member_without_consent": (
        "audience_members",
        "update {s}.persons set has_marketing_consent = false "
        "where person_id = (select min(person_id) from {s}.audience_members)",
        {"unexpected_rows_expectation:member_has_consent"},
        "MIN_MEMBER",
    ),
    "propensity_above_1": (
        "person_propensity",
        "update {s}.person_propensity set purchase_propensity = 1.25 "
        "where purchase_propensity = (select max(purchase_propensity) from {s}.person_propensity)",
        {"expect_column_values_to_be_between:purchase_propensity"},
        "1.25",
    ),
    "transition_probability_above_1": (
        "event_transitions",
        "update {s}.event_transitions set probability = 1.5 "
        "where from_state = 'start' and to_state = (select min(to_state) from {s}.event_transitions "
        "where from_state = 'start')",
        {
            "expect_column_values_to_be_between:probability",
            "unexpected_rows_expectation:outgoing_probabilities_sum_to_1",
        },
        '"from_state": "start"',
    ),
    "next_action_probability_negative": (
        "person_next_action",
        "update {s}.person_next_action set next_purchase_probability = -0.1 "
        "where person_id = (select min(person_id) from {s}.person_next_action)",
        {"expect_column_values_to_be_between:next_purchase_probability"},
        "-0.1",
    ),
    "age_out_of_range_and_bad_country": (
        "person_demographics",
        "update {s}.person_demographics set age = 150, country_code = 'France' "
        "where person_id = (select min(person_id) from {s}.person_demographics where age_band = '65+')",
        {
            "expect_column_values_to_be_between:age",
            "expect_column_values_to_match_regex:country_code",
        },
        "150",
    ),
    "unknown_engagement_tier": (
        "person_engagement",
        "update {s}.person_engagement set engagement_tier = 'lukewarm' "
        "where person_id = (select min(person_id) from {s}.person_engagement)",
        {
            "expect_column_values_to_be_in_set:engagement_tier",
            "unexpected_rows_expectation:tiers_are_score_ranges",
        },
        "lukewarm",
    ),
    "rfm_score_6": (
        "person_rfm",
        "update {s}.person_rfm set r_score = 6 "
        "where person_id = (select min(person_id) from {s}.person_rfm where rfm_segment = 'champions')",
        {"expect_column_values_to_be_between:r_score"},
        "6",
    ),
    "cluster_without_text": (
        "person_psychographics",
        "update {s}.person_psychographics set interest_cluster_id = (select min(interest_cluster_id) "
        "from {s}.interest_clusters) where person_id = (select min(person_id) "
        "from {s}.person_psychographics where not has_text)",
        {"unexpected_rows_expectation:no_text_no_cluster"},
        "person_id",
    ),
    "persona_too_small": (
        "personas",
        "create temporary table victim as select persona_id from {s}.personas "
        "where persona_id <> 'other' order by persona_size desc, persona_id limit 1; "
        "delete from {s}.person_personas where persona_id = (table victim) and person_id not in "
        "(select person_id from {s}.person_personas where persona_id = (table victim) order by person_id limit 10); "
        "update {s}.personas set persona_size = 10 where persona_id = (table victim)",
        {"unexpected_rows_expectation:persona_min_size"},
        '"persona_size": 10',
    ),
    "too_small_audience_marked_syncable": (
        "audiences",
        "update {s}.audiences set is_syncable = true, min_size = 50 "
        "where audience_key = 'young_professionals_idf_30d'",
        {"unexpected_rows_expectation:syncable_meets_destination_minimum"},
        '"required_members": 300',
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_fails_the_gate_naming_check_table_and_values(world: WarehouseParams, case: str) -> None:
    module, sql, expected, shown = CORRUPTIONS[case]
    schema = f"c_{case}"[:60]
    table = importlib.import_module(f"expectations.{module}").TABLE
    _copy(world, schema, (*JOINED, table))
    if shown in ("MIN_MEMBER", "MIN_PERSON"):  # the failing id the message must show
        source = "audience_members" if shown == "MIN_MEMBER" else "persons"
        shown = execute(world, f"select min(person_id) from {schema}.{source}")[0][0]
    before = _gate(world, module, schema, f"{case}-clean")
    assert before.success, before.failure_message()
    execute(world, sql.format(s=schema))

    with pytest.raises(QualityGateFailed) as info:
        _gate(world, module, schema, case)

    assert {c.check_name for c in info.value.result.blocking} == expected
    message = str(info.value)
    for name in expected:
        assert f"{schema}.{table} {name}" in message
    assert shown in message
    rows = execute(
        world, "select check_name from ops.validation_runs where run_id = %s and not success", (case,)
    )
    assert {name for (name,) in rows} == expected


def test_emptied_segment_table_fails_against_the_previous_passing_run(world: WarehouseParams) -> None:
    schema = "c_emptied"
    _copy(world, schema, (*JOINED, "person_engagement"))
    assert _gate(world, "person_engagement", schema, "emptied-before").success

    execute(world, f"delete from {schema}.person_engagement where person_id < 'a'")  # about 63%
    with pytest.raises(QualityGateFailed) as info:
        _gate(world, "person_engagement", schema, "emptied-half")
    assert {c.check_name for c in info.value.result.blocking} == {"row_count_vs_previous_run"}
    (check,) = info.value.result.blocking
    (engaged,) = execute(world, "select count(*) from marts.person_engagement")[0]
    assert check.observed["previous_row_count"] == engaged
    assert check.observed["previous_run_id"] == "emptied-before"
    assert f"{schema}.person_engagement row_count_vs_previous_run: {check.observed['row_count']} rows" in str(
        info.value
    )

    execute(world, f"delete from {schema}.person_engagement")
    with pytest.raises(QualityGateFailed) as info:
        _gate(world, "person_engagement", schema, "emptied-all")
    # compared with the last *passing* run, not with the failed half
    names = {c.check_name for c in info.value.result.blocking}
    assert names == {"row_count_vs_previous_run", "expect_table_row_count_to_be_between:not_empty"}
    drop = next(c for c in info.value.result.blocking if c.check_name == "row_count_vs_previous_run")
    assert drop.observed["previous_run_id"] == "emptied-before" and drop.observed["row_count"] == 0


def test_small_drop_passes_and_growth_only_warns(world: WarehouseParams) -> None:
    schema = "c_growth"
    _copy(world, schema, (*JOINED, "personas"))
    assert _gate(world, "personas", schema, "growth-before").success
    execute(world, f"delete from {schema}.personas where left(persona_id, 5) = '18-24'")  # a few rows
    execute(world, f"delete from {schema}.person_personas where left(persona_id, 5) = '18-24'")
    assert _gate(world, "personas", schema, "growth-drop").success

    execute(
        world,
        f"insert into {schema}.personas (persona_id, persona_level, persona_size, is_below_min_size) "
        f"select persona_id || '#' || g, persona_level, persona_size, "
        f"is_below_min_size from {schema}.personas cross join generate_series(1, 4) g "
        "where persona_id <> 'other'; "
        f"insert into {schema}.person_personas (person_id, persona_id) select person_id, persona_id || '#' || g "
        f"from {schema}.person_personas cross join generate_series(1, 4) g where persona_id <> 'other'",
    )
    result = _gate(world, "personas", schema, "growth-after")

    assert result.success
    (warned,) = result.failed
    assert (warned.check_name, warned.severity) == ("row_count_growth_vs_previous_run", "warning")
    assert warned.observed["previous_run_id"] == "growth-drop"


def test_summary_of_a_failed_gate_is_json_and_names_failures(world: WarehouseParams) -> None:
    schema = "c_summary"
    _copy(world, schema, (*JOINED, "audiences"))
    execute(world, f"update {schema}.audiences set member_count = member_count + 1")

    result = _gate(world, "audiences", schema, "summary-run", raise_on_failure=False)

    summary = result.summary()
    assert json.loads(json.dumps(summary)) == summary
    failed = {f["check"] for f in summary["failed_checks"]}
    assert "unexpected_rows_expectation:member_count_matches_members" in failed
    assert summary["success"] is False and summary["blocking"] >= 1
