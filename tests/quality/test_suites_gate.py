"""The gate around the suites: thresholds from the environment, row-count bounds, the hook for the
statistical checks (``audience.quality.stats.run_checks``) and the Airflow task's failure."""

from __future__ import annotations

import pickle
import sys
import threading
import types

import psycopg
import pytest

from audience.quality import gx
from audience.quality.checks import CheckResult, QualityGateFailed
from audience.quality.config import GateConfig, load_config
from audience.quality.gx import run_gate
from audience.quality.validation_runs import row_count_checks
from audience.settings import SettingError
from audience.warehouse import WarehouseParams

from .conftest import execute

# --------------------------------------------------------------------------- config


def test_defaults_and_environment_overrides() -> None:
    config = load_config({})
    assert config == GateConfig()
    assert (config.max_row_drop, config.max_row_growth) == (0.5, 3.0)
    assert config.destination_min_sizes == {"facebook": 100, "linkedin": 300}
    assert config.persona_min_size == 50

    config = load_config(
        {
            "AUDIENCE_GATE_MAX_ROW_DROP": "0.3",
            "AUDIENCE_GATE_MIN_AUDIENCE_LINKEDIN": "1000",
            "AUDIENCE_GATE_PERSONA_MIN_SIZE": "",
        }
    )
    assert config.max_row_drop == 0.3 and config.min_row_share() == pytest.approx(0.7)
    assert config.destination_min_sizes["linkedin"] == 1000
    assert config.persona_min_size == 50  # empty means the default
    assert load_config({}, persona_min_size=20).persona_min_size == 20


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUDIENCE_GATE_MAX_ROW_DROP": "half"}, "AUDIENCE_GATE_MAX_ROW_DROP='half' is not a number"),
        ({"AUDIENCE_GATE_MAX_ROW_DROP": "1.5"}, "AUDIENCE_GATE_MAX_ROW_DROP=1.5 must be a share"),
        ({"AUDIENCE_GATE_MAX_ROW_GROWTH": "0.9"}, "AUDIENCE_GATE_MAX_ROW_GROWTH=0.9 must be above 1"),
        (
            {"AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK": "1e2"},
            "AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK='1e2' is not an",
        ),
        (
            {"AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK": "0"},
            "AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK=0 must be at least",
        ),
        (
            {"AUDIENCE_GATE_PROBABILITY_TOLERANCE": "nan"},
            "AUDIENCE_GATE_PROBABILITY_TOLERANCE='nan' is not a",
        ),
        # the statistical thresholds are AUDIENCE_STATS_* (audience.quality.stats), not the gate's
        ({"AUDIENCE_GATE_SIGNIFICANCE": "0.05"}, "unknown variable(s) ['AUDIENCE_GATE_SIGNIFICANCE']"),
        ({"AUDIENCE_GATE_MAX_DROP": "0.2"}, "unknown variable(s) ['AUDIENCE_GATE_MAX_DROP']"),
    ],
)
def test_bad_values_fail_early_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingError) as info:
        load_config(env)
    assert named in str(info.value)


def test_a_bad_threshold_stops_the_gate_before_it_reads_anything(monkeypatch) -> None:
    monkeypatch.setenv("AUDIENCE_GATE_MAX_ROW_DROP", "-1")
    with pytest.raises(SettingError, match="AUDIENCE_GATE_MAX_ROW_DROP"):
        run_gate("postgresql://nobody@127.0.0.1:1/none", ["audience_members"], data_docs=False)


def test_config_reaches_the_suites() -> None:
    from expectations import audience_members, audiences, personas

    config = GateConfig(min_audience_facebook=250, persona_min_size=7, member_min_age=21)
    by_check = {e.meta["check"]: e for e in audiences.build_suite(config=config).expectations}
    assert "('facebook', 250)" in by_check["syncable_meets_destination_minimum"].unexpected_rows_query
    by_check = {e.meta["check"]: e for e in personas.build_suite(config=config).expectations}
    assert "persona_size < 7" in by_check["persona_min_size"].unexpected_rows_query
    by_check = {e.meta["check"]: e for e in audience_members.build_suite(config=config).expectations}
    assert "p.age < 21" in by_check["member_is_adult"].unexpected_rows_query


# --------------------------------------------------------------------------- row-count bounds


def test_row_count_bounds() -> None:
    config = GateConfig()
    (first,) = row_count_checks("s", "marts.t", 10, None, config)
    assert first.success and "first run" in first.message

    drop, growth = row_count_checks("s", "marts.t", 49, ("run-1", 100), config)
    assert not drop.success and drop.severity == "critical" and growth.success
    assert drop.observed == {
        "row_count": 49,
        "previous_run_id": "run-1",
        "previous_row_count": 100,
        "min_row_count": 50,
    }
    assert "-51.0%" in drop.message and "run-1" in drop.message
    assert all(c.success for c in row_count_checks("s", "marts.t", 50, ("run-1", 100), config))

    drop, growth = row_count_checks("s", "marts.t", 301, ("run-1", 100), config)
    assert drop.success and not growth.success and growth.severity == "warning" and not growth.blocking

    strict = GateConfig(max_row_drop=0.1)
    drop, _ = row_count_checks("s", "marts.t", 89, ("run-1", 100), strict)
    assert not drop.success


# --------------------------------------------------------------------------- statistical checks hook


def _fake_stats(monkeypatch, run_checks) -> list:
    calls: list = []

    def recorded(conn, run_id):
        calls.append((conn.info.dbname, run_id))  # the gate hands over an open connection
        conn_or_params = conn
        return run_checks(conn_or_params, run_id)

    module = types.ModuleType("audience.quality.stats")
    module.run_checks = recorded
    monkeypatch.setitem(sys.modules, "audience.quality.stats", module)
    return calls


def _stat(name: str, success: bool, severity: str = "critical") -> CheckResult:
    return CheckResult(
        suite="stats",
        table_name="marts.person_segments",
        check_name=name,
        expectation_type="chi_square",
        success=success,
        severity=severity,
        observed={"p_value": 0.4 if not success else 0.001, "segments": 3},
        message="p=0.4: segments do not differ in gender" if not success else "passed",
    )


def test_statistical_checks_are_recorded_and_a_failed_critical_one_fails_the_gate(
    clean_db: WarehouseParams, monkeypatch
) -> None:
    calls = _fake_stats(
        monkeypatch,
        lambda conn, run_id: [
            _stat("segments_differ:gender", False),
            _stat("segments_differ:age", True),
            _stat("stability:jaccard", False, "warning"),
        ],
    )

    with pytest.raises(QualityGateFailed) as info:
        run_gate(clean_db, ["audience_members"], run_id="stats-run", data_docs=False)

    assert calls and calls[0][0] == clean_db.dbname and calls[0][1] == "stats-run"
    assert {c.check_name for c in info.value.result.blocking} == {"segments_differ:gender"}
    assert "marts.person_segments segments_differ:gender: p=0.4" in str(info.value)
    rows = execute(
        clean_db,
        "select check_name, success, severity, observed->>'p_value' from ops.validation_runs "
        "where run_id = 'stats-run' and suite = 'stats' order by check_name",
    )
    assert rows == [
        ("segments_differ:age", True, "critical", "0.001"),
        ("segments_differ:gender", False, "critical", "0.4"),
        ("stability:jaccard", False, "warning", "0.4"),
    ]


def test_passing_statistics_let_the_gate_pass(clean_db: WarehouseParams, monkeypatch) -> None:
    _fake_stats(monkeypatch, lambda conn, run_id: [_stat("stability:jaccard", False, "warning")])
    result = run_gate(clean_db, ["audience_members"], data_docs=False)
    assert result.success and [c.check_name for c in result.failed] == ["stability:jaccard"]


def test_statistics_that_crash_fail_the_gate_as_a_check(clean_db: WarehouseParams, monkeypatch) -> None:
    def boom(conn, run_id):
        raise ZeroDivisionError("division by zero")

    _fake_stats(monkeypatch, boom)
    result = run_gate(clean_db, ["audience_members"], data_docs=False, raise_on_failure=False)

    assert not result.success
    (check,) = result.blocking
    assert check.check_name == "stats_run_checks"
    assert "ZeroDivisionError: division by zero" in check.message
    assert any(c.check_name.startswith("expect_") and c.success for c in result.checks), "GX suites still ran"


def test_statistics_run_while_the_suites_are_validated(clean_db: WarehouseParams, monkeypatch) -> None:
    """The statistical checks (and row counts) read on their own connection beside the GX suites:
    each side here waits for the other to have started, which only a gate running both at once meets."""
    validating, stats_running = threading.Event(), threading.Event()
    overlapped: list[bool] = []
    validate = gx._GxSession.validate

    def suite_waits_for_stats(self, *args, **kwargs):
        validating.set()
        overlapped.append(stats_running.wait(20))
        return validate(self, *args, **kwargs)

    def stats_wait_for_a_suite(conn, run_id):
        overlapped.append(validating.wait(20))
        stats_running.set()
        return [_stat("segments_differ:age", True)]

    monkeypatch.setattr(gx._GxSession, "validate", suite_waits_for_stats)
    _fake_stats(monkeypatch, stats_wait_for_a_suite)
    result = run_gate(clean_db, ["audience_members"], run_id="side-by-side", data_docs=False)

    assert overlapped == [True, True]
    assert result.success
    assert {o.suite for o in result.outcomes} == {"audience_members", "stats"}
    counted = execute(
        clean_db, "select table_name, row_count from ops.table_row_counts where run_id = 'side-by-side'"
    )
    assert counted == [("marts.audience_members", 12)], "the row count read beside the suites is recorded"


def test_without_a_stats_module_the_gate_runs_the_suites_only(clean_db: WarehouseParams, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "audience.quality.stats", None)  # import raises ModuleNotFoundError
    result = run_gate(clean_db, ["audience_members"], data_docs=False)
    assert result.success and {o.suite for o in result.outcomes} == {"audience_members"}


# --------------------------------------------------------------------------- the Airflow task


def test_failed_gate_fails_the_airflow_task_without_retry(clean_db: WarehouseParams, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from audience import pipeline

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", clean_db.uri())
    monkeypatch.setenv("AUDIENCE_GX_DATA_DOCS", "false")
    monkeypatch.setattr("audience.quality.gx.suite_modules", lambda: ["audience_members"])
    monkeypatch.setitem(sys.modules, "audience.quality.stats", None)  # this toy warehouse has no segments
    inputs = {"stage": "segments", "fingerprint": "f" * 64, "inputs": {"raw": {}}}
    assert pipeline.validate_segments(run_id="task-ok", inputs=inputs)["success"] is True

    execute(clean_db, "update marts.persons set has_marketing_consent = false where person_id = 'p0005'")
    with pytest.raises(QualityGateFailed) as info:
        pipeline.validate_segments(run_id="task-fail", inputs=inputs)
    # each verdict is recorded with the inputs it judged (audience.freshness): the same inputs
    # later skip the build after a pass, and fail at once after a failure
    with psycopg.connect(clean_db.uri()) as conn:
        verdicts = conn.execute(
            "select summary->>'gate_passed', fingerprint from ops.stage_runs where stage = 'segments' "
            "order by stage_run_id"
        ).fetchall()
    assert verdicts == [("true", "f" * 64), ("false", "f" * 64)]

    assert isinstance(info.value, AirflowFailException)
    message = str(info.value)
    assert "marts.audience_members unexpected_rows_expectation:member_has_consent" in message
    assert "p0005" in message
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, AirflowFailException) and str(copy) == message
