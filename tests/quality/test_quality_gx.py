"""The quality gate against a real PostgreSQL: clean marts pass, each corruption fails by name."""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path

import pytest

from audience.quality import gx as gate
from audience.quality.gx import QualityGateError, QualityGateFailed, SuiteSpec, run_gate, validate_table
from audience.warehouse import WarehouseParams

from .conftest import FAKE_EMAIL_DOMAIN, FAKE_LAST_NAME, FAKE_PHONE_PREFIX, execute

SUITES = ["audience_members"]
TABLE = "marts.audience_members"


def _run(params: WarehouseParams, **kwargs):
    kwargs.setdefault("data_docs", False)
    # the GX suites alone: this toy warehouse has no segment marts for the statistical checks
    return run_gate(params, SUITES, statistics=False, **kwargs)


def _blocking_names(exc: QualityGateFailed) -> set[str]:
    return {c.check_name for c in exc.result.blocking}


# --------------------------------------------------------------------------- passing


def test_clean_marts_pass_and_every_check_is_recorded(clean_db: WarehouseParams, tmp_path: Path) -> None:
    result = _run(clean_db, run_id="clean-run", data_docs=tmp_path / "docs")

    assert result.success
    assert result.failed == ()
    names = {c.check_name for c in result.checks}
    assert {
        "expect_table_row_count_to_be_between:not_empty",
        "expect_compound_columns_to_be_unique:audience_key,person_id",
        "expect_column_values_to_match_regex:email_sha256",
        "expect_column_values_to_not_be_null:gen_sha256",
        "unexpected_rows_expectation:member_has_consent",
        "unexpected_rows_expectation:member_not_erased",
        "unexpected_rows_expectation:member_is_adult",
        "unexpected_rows_expectation:has_email_or_phone",
    } <= names
    assert len(names) == len(result.checks), "check names are unique within a run"

    rows = execute(
        clean_db,
        "select check_name, success, severity, table_name, suite, observed from ops.validation_runs "
        "where run_id = %s",
        ("clean-run",),
    )
    assert len(rows) == len(result.checks)
    assert all(success for _, success, *_ in rows)
    assert {severity for _, _, severity, *_ in rows} == {"critical"}
    assert {(table, suite) for *_, table, suite, _ in rows} == {(TABLE, "audience_members")}
    row_count = next(obs for name, *_, obs in rows if name.endswith(":not_empty"))
    assert row_count["observed_value"] == 12

    summary = result.summary()
    assert json.loads(json.dumps(summary)) == summary, "the summary must be XCom (JSON) safe"
    assert summary["success"] is True
    assert summary["checks"] == len(result.checks) and summary["failed"] == 0
    assert summary["data_docs"] and Path(summary["data_docs"]).is_file()


def test_validate_table_reports_without_recording(clean_db: WarehouseParams) -> None:
    from expectations.audience_members import build_suite

    execute(clean_db, "create schema if not exists ops")
    execute(clean_db, "drop table if exists ops.validation_runs")
    outcome = validate_table("marts", "audience_members", build_suite(), target=clean_db.uri())

    assert outcome.success
    assert outcome.table_name == TABLE
    assert len(outcome.checks) > 20
    assert execute(clean_db, "select to_regclass('ops.validation_runs')") == [(None,)]


# --------------------------------------------------------------------------- failing


CORRUPTIONS = {
    "duplicate_member": (
        "insert into marts.audience_members select * from marts.audience_members where person_id = 'p0001'",
        {"expect_compound_columns_to_be_unique:audience_key,person_id"},
    ),
    "null_hash": (
        "update marts.audience_members set ln_sha256 = null where person_id = 'p0002'",
        {"expect_column_values_to_not_be_null:ln_sha256"},
    ),
    "upper_case_hash": (
        "update marts.audience_members set email_sha256 = upper(email_sha256) where person_id = 'p0003'",
        {"expect_column_values_to_match_regex:email_sha256"},
    ),
    "unhashed_email": (
        "update marts.audience_members m set email_sha256 = p.email from marts.persons p "
        "where p.person_id = m.person_id and m.person_id = 'p0003'",
        {
            "expect_column_values_to_match_regex:email_sha256",
            "expect_column_values_to_match_like_pattern_list:email_sha256",
        },
    ),
    "short_hash": (
        "update marts.audience_members set email_sha256 = left(email_sha256, 63) where person_id = 'p0003'",
        {"expect_column_values_to_match_like_pattern_list:email_sha256"},
    ),
    "no_email_nor_phone": (
        "update marts.audience_members set email_sha256 = '', phone_sha256 = '' where person_id = 'p0004'",
        {"unexpected_rows_expectation:has_email_or_phone"},
    ),
    "non_consenting_member": (
        "update marts.persons set has_marketing_consent = false where person_id = 'p0005'",
        {"unexpected_rows_expectation:member_has_consent"},
    ),
    "consent_unknown": (
        "update marts.persons set has_marketing_consent = null where person_id = 'p0005'",
        {"unexpected_rows_expectation:member_has_consent"},
    ),
    "erased_member": (
        "update marts.persons set is_erasure_requested = true where person_id = 'p0006'",
        {"unexpected_rows_expectation:member_not_erased"},
    ),
    "minor_member": (
        "insert into marts.audience_members select 'consenting_adults', 'p0013', 'p0013', email_sha256, "
        "phone_sha256, fn_sha256, ln_sha256, ct_sha256, zip_sha256, country_sha256, doby_sha256, gen_sha256 "
        "from marts.audience_members where person_id = 'p0001'",
        {"unexpected_rows_expectation:member_is_adult"},
    ),
    "member_of_unknown_age": (
        "update marts.persons set age = null where person_id = 'p0007'",
        {"unexpected_rows_expectation:member_is_adult"},
    ),
    "orphan_member": (
        "delete from marts.persons where person_id = 'p0008'",
        {"unexpected_rows_expectation:member_is_a_person"},
    ),
    "extern_id_not_person_id": (
        "update marts.audience_members set extern_id = 'p9999' where person_id = 'p0009'",
        {"expect_column_pair_values_to_be_equal:extern_id,person_id"},
    ),
    "empty_table": (
        "truncate marts.audience_members",
        {"expect_table_row_count_to_be_between:not_empty", "row_count_vs_previous_run"},
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_fails_the_gate_naming_the_check(clean_db: WarehouseParams, case: str) -> None:
    sql, expected = CORRUPTIONS[case]
    if "row_count_vs_previous_run" in expected:
        _run(clean_db, run_id=f"before-{case}")  # the passing run the row count is compared with
    execute(clean_db, sql)

    with pytest.raises(QualityGateFailed) as info:
        _run(clean_db, run_id=f"corrupt-{case}")

    assert _blocking_names(info.value) == expected
    message = str(info.value)
    for name in expected:
        assert f"{TABLE} {name}" in message
    assert f"run_id = 'corrupt-{case}'" in message
    failed_rows = execute(
        clean_db,
        "select check_name, severity, observed, message from ops.validation_runs "
        "where run_id = %s and not success",
        (f"corrupt-{case}",),
    )
    assert {name for name, *_ in failed_rows} == expected
    assert all(severity == "critical" and msg for _, severity, _, msg in failed_rows)


def test_failure_message_carries_observed_values(clean_db: WarehouseParams) -> None:
    execute(clean_db, CORRUPTIONS["duplicate_member"][0])
    execute(clean_db, CORRUPTIONS["upper_case_hash"][0])
    execute(clean_db, CORRUPTIONS["non_consenting_member"][0])

    with pytest.raises(QualityGateFailed) as info:
        _run(clean_db)

    checks = {c.check_name: c for c in info.value.result.blocking}
    dup = checks["expect_compound_columns_to_be_unique:audience_key,person_id"]
    assert dup.observed["unexpected_count"] == 2
    assert dup.observed["element_count"] == 13
    assert "p0001" in dup.message
    upper = checks["expect_column_values_to_match_regex:email_sha256"]
    assert upper.observed["unexpected_count"] == 1
    assert any(item["value"].isupper() for item in upper.observed["unexpected_sample"])
    consent = checks["unexpected_rows_expectation:member_has_consent"]
    assert consent.observed["observed_value"] == 1
    assert consent.observed["unexpected_rows_sample"] == [
        {"audience_key": "consenting_adults", "person_id": "p0005"}
    ]
    assert "p0005" in str(info.value)


def test_samples_are_read_only_for_the_checks_that_found_unexpected_values(
    clean_db: WarehouseParams, tmp_path: Path
) -> None:
    # GX reads a sample of unexpected values for every column check, a whole scan when there are
    # none: the gate asks for none (LIMIT 0) and validates again, with a sample, the checks that
    # found some. The failing check still carries its sample
    import sqlalchemy as sa

    limits: list[tuple[str, int]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        column = re.search(r"SELECT (\w+) AS unexpected_values", statement)
        limit = re.search(r"LIMIT %\((\w+)\)s", statement)
        if column and limit and isinstance(parameters, dict):
            limits.append((column.group(1), parameters[limit.group(1)]))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        execute(clean_db, CORRUPTIONS["upper_case_hash"][0])
        with pytest.raises(QualityGateFailed) as info:
            _run(clean_db, data_docs=tmp_path / "docs")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)

    sampled = {column for column, limit in limits if limit}
    assert sampled == {"email_sha256"}, limits
    assert len([1 for _, limit in limits if limit == 0]) >= 20  # every other column check: LIMIT 0
    upper = {c.check_name: c for c in info.value.result.blocking}[
        "expect_column_values_to_match_regex:email_sha256"
    ]
    assert upper.observed["unexpected_count"] == 1
    assert any(item["value"].isupper() for item in upper.observed["unexpected_sample"])
    # the Data Docs show the suite once: not the second pass, whose own result GX did not scrub
    docs = tmp_path / "docs"
    pages = list(docs.rglob("*.html"))
    shown = [
        p
        for p in pages
        if "samples" in str(p.relative_to(docs)) or ":samples" in p.read_text(errors="replace")
    ]
    assert pages and not shown


def test_missing_table_fails_as_a_check(clean_db: WarehouseParams) -> None:
    execute(clean_db, "drop table marts.audience_members")

    with pytest.raises(QualityGateFailed) as info:
        _run(clean_db)

    assert _blocking_names(info.value) == {"table_exists"}
    assert "dbt build --select audience_members" in str(info.value)


def test_broken_persons_table_is_a_failure_not_a_crash(clean_db: WarehouseParams) -> None:
    execute(clean_db, "drop table marts.persons")

    result = _run(clean_db, raise_on_failure=False)

    assert not result.success
    failed = {c.check_name: c for c in result.blocking}
    assert "unexpected_rows_expectation:member_has_consent" in failed
    assert failed["unexpected_rows_expectation:member_has_consent"].message.startswith(
        "could not be evaluated"
    )


def test_warning_severity_is_recorded_but_does_not_block(clean_db: WarehouseParams) -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    def build() -> gx.ExpectationSuite:
        return gx.ExpectationSuite(
            name="members_size_watch",
            expectations=[
                gxe.ExpectTableRowCountToBeBetween(max_value=5, severity="warning", meta={"check": "small"})
            ],
        )

    spec = SuiteSpec(name="members_size_watch", schema="marts", table="audience_members", build=build)
    result = run_gate(clean_db, [spec], run_id="warn-run", data_docs=False, statistics=False)

    assert result.success
    (check,) = [c for c in result.failed if c.expectation_type != "row_count_bounds"]
    assert (check.check_name, check.severity, check.observed["observed_value"]) == (
        "expect_table_row_count_to_be_between:small",
        "warning",
        12,
    )
    assert execute(
        clean_db,
        "select success, severity from ops.validation_runs where run_id = 'warn-run' "
        "and check_name like 'expect_%%'",
    ) == [(False, "warning")]


def test_rerun_with_same_run_id_replaces_its_rows(clean_db: WarehouseParams) -> None:
    first = _run(clean_db, run_id="same-run")
    execute(clean_db, CORRUPTIONS["null_hash"][0])
    second = _run(clean_db, run_id="same-run", raise_on_failure=False)

    rows = execute(clean_db, "select success from ops.validation_runs where run_id = 'same-run'")
    assert len(rows) == len(first.checks) == len(second.checks)
    assert sum(not success for (success,) in rows) == 1


# --------------------------------------------------------------------------- no PII, quiet


def test_no_pii_in_results_rows_messages_or_data_docs(clean_db: WarehouseParams, tmp_path: Path) -> None:
    for case in ("unhashed_email", "orphan_member", "non_consenting_member", "duplicate_member"):
        execute(clean_db, CORRUPTIONS[case][0])
    execute(
        clean_db,
        "update marts.audience_members m set phone_sha256 = p.phone_e164_digits, ln_sha256 = p.last_name "
        "from marts.persons p where p.person_id = m.person_id and m.person_id = 'p0010'",
    )
    docs = tmp_path / "docs"

    with pytest.raises(QualityGateFailed) as info:
        _run(clean_db, run_id="pii-run", data_docs=docs)

    failing = {c.check_name for c in info.value.result.blocking}
    # digits are hex characters: a clear phone number fails on its length
    assert "expect_column_values_to_match_like_pattern_list:phone_sha256" in failing
    assert "expect_column_values_to_match_like_pattern_list:ln_sha256" in failing
    texts = [
        str(info.value),
        json.dumps(info.value.result.summary()),
        json.dumps([c.observed for c in info.value.result.checks]),
        json.dumps(execute(clean_db, "select observed::text, message from ops.validation_runs")),
    ]
    texts += [p.read_text(errors="replace") for p in docs.rglob("*.html")]
    assert len(texts) > 4, "data docs were written"
    for text in texts:
        for canary in (FAKE_EMAIL_DOMAIN, FAKE_PHONE_PREFIX, FAKE_LAST_NAME, "Canar"):
            assert canary not in text
    assert "<not a hash:" in str(info.value)

    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and copy.result.run_id == "pii-run"


def test_gate_is_quiet_and_finds_the_warehouse_from_the_environment(
    clean_db: WarehouseParams, capfd: pytest.CaptureFixture, caplog, monkeypatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", clean_db.uri())
    caplog.set_level(logging.DEBUG)
    result = run_gate(suites=SUITES, data_docs=False, statistics=False)

    assert result.success

    out, err = capfd.readouterr()
    assert out == ""
    assert "Calculating Metrics" not in err and err == ""
    chatter = [
        r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING
    ]
    assert chatter == []
    assert any(
        r.name == "audience.quality.gx" and "quality gate passed" in r.getMessage() for r in caplog.records
    )


# --------------------------------------------------------------------------- suites and helpers


def test_suite_modules_are_discovered_and_bad_names_explained() -> None:
    assert "audience_members" in gate.suite_modules()
    spec = gate.load_suite("audience_members")
    assert (spec.name, spec.table_name) == ("audience_members", TABLE)
    with pytest.raises(QualityGateError, match="no suite module expectations.nope.*audience_members"):
        gate.load_suite("nope")
    with pytest.raises(QualityGateError, match="listed twice"):
        gate._resolve_suites(["audience_members", "audience_members"])


def test_targets_and_urls() -> None:
    params = gate._resolve_target("postgresql+psycopg2://u:p%40ss@db.example:6543/wh")
    assert (params.host, params.port, params.user, params.password, params.dbname) == (
        "db.example",
        6543,
        "u",
        "p@ss",
        "wh",
    )
    assert gate.sqlalchemy_url(params) == "postgresql+psycopg://u:p%40ss@db.example:6543/wh"
    with pytest.raises(TypeError):
        gate._resolve_target(42)  # type: ignore[arg-type]
