"""The statistics behind the gate's statistical checks, on small synthetic data (no database)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from audience.quality import stability
from audience.quality.stats import (
    ATTRIBUTES,
    DIFFERENCE_TESTS,
    StatsConfig,
    chi_square,
    cluster_size_shares,
    compare_groups,
    recompute_silhouette,
    resolve_config,
    stability_checks,
    verdict,
)
from audience.settings import SettingError

RNG_SEED = 20261101


def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


# --------------------------------------------------------------------------- numeric comparisons


def test_differing_groups_pass_and_identical_groups_fail():
    r = rng()
    differing = {"cold": r.normal(10, 3, 300), "warm": r.normal(14, 3, 300), "hot": r.normal(20, 3, 300)}
    result = compare_groups(differing, min_group_size=10)
    assert result["test"] == "anova"
    assert result["p_value"] < 1e-10
    assert result["anova"]["eta_squared"] > 0.5
    assert verdict(result, alpha=0.05, min_effect=0.01)

    same = r.normal(10, 3, 900)
    identical = {"cold": same[:300], "warm": same[300:600], "hot": same[600:]}
    result = compare_groups(identical, min_group_size=10)
    assert result["anova"]["eta_squared"] < 0.01
    assert not verdict(result, alpha=0.05, min_effect=0.01)


def test_constant_values_cannot_differ():
    result = compare_groups({"a": [1.0] * 20, "b": [1.0] * 20})
    assert result["p_value"] == 1.0
    assert result["effect_size"] == 0.0
    assert not verdict(result, alpha=0.05, min_effect=0.0001)


def test_skewed_values_are_judged_by_kruskal_and_both_are_reported():
    r = rng()
    spend = {"low": r.lognormal(3.0, 1.2, 400), "high": r.lognormal(3.6, 1.2, 400)}
    result = compare_groups(spend, skew_threshold=1.0)
    assert result["skewness"] > 1.0
    assert result["test"] == "kruskal"
    assert result["effect"] == "epsilon_squared"
    assert result["p_value"] == result["kruskal"]["p_value"]
    assert result["effect_size"] == result["kruskal"]["epsilon_squared"]
    assert result["anova"]["p_value"] is not None  # reported too
    # a symmetric attribute with the same threshold goes to ANOVA
    symmetric = compare_groups({"a": r.normal(0, 1, 400), "b": r.normal(0.5, 1, 400)}, skew_threshold=1.0)
    assert symmetric["test"] == "anova"


def test_small_groups_are_left_out_and_listed():
    r = rng()
    result = compare_groups(
        {"big": r.normal(0, 1, 50), "other": r.normal(3, 1, 50), "tiny": [100.0, 200.0]}, min_group_size=10
    )
    assert result["dropped_small_groups"] == ["tiny"]
    assert set(result["groups"]) == {"big", "other"}
    one_left = compare_groups({"big": r.normal(0, 1, 50), "tiny": [1.0]}, min_group_size=10)
    assert one_left["p_value"] is None
    assert not verdict(one_left, alpha=0.05, min_effect=0.0)


# --------------------------------------------------------------------------- chi-square


def test_chi_square_dependent_table_passes_with_cramers_v():
    table = {("young", "f"): 80, ("young", "m"): 20, ("old", "f"): 20, ("old", "m"): 80}
    result = chi_square(table)
    assert result["p_value"] < 1e-10
    # 2x2: V = |phi| = (80*80 - 20*20) / sqrt(100^4) = 0.6
    assert result["effect_size"] == pytest.approx(0.6, abs=1e-4)
    assert result["dof"] == 1
    assert verdict(result, alpha=0.05, min_effect=0.1)


def test_chi_square_independent_table_fails():
    table = {(s, c): n for s in ("cold", "warm", "hot") for c, n in (("f", 50), ("m", 30), ("x", 20))}
    result = chi_square(table)
    assert result["p_value"] == pytest.approx(1.0)
    assert result["effect_size"] == pytest.approx(0.0, abs=1e-6)
    assert not verdict(result, alpha=0.05, min_effect=0.1)


def test_chi_square_drops_small_segments_and_categories():
    table = {("a", "x"): 40, ("a", "y"): 5, ("b", "x"): 5, ("b", "y"): 40, ("c", "x"): 3, ("a", "z"): 2}
    result = chi_square(table, min_group_size=10)
    assert result["dropped_small_groups"] == ["c", "z"]
    assert result["segments"] == 2 and result["categories"] == 2


# --------------------------------------------------------------------------- clusters


def test_silhouette_of_separated_and_mixed_clusters():
    r = rng()
    centres = np.eye(8)[:3] * 5
    vectors = np.vstack([c + r.normal(0, 0.3, (40, 8)) for c in centres])
    labels = np.repeat([1, 2, 3], 40)
    assert recompute_silhouette(vectors, labels) > 0.7
    shuffled = r.permutation(labels)
    assert recompute_silhouette(vectors, shuffled) < 0.1
    assert recompute_silhouette(vectors, np.ones(120)) is None


def test_cluster_size_shares_flags_small_and_large_clusters():
    result = cluster_size_shares({"1": 900, "2": 95, "3": 5}, min_share=0.01, max_share=0.5)
    assert result["too_small"] == ["3"]
    assert result["too_large"] == ["1"]
    assert result["shares"]["2"] == 0.095


# --------------------------------------------------------------------------- stability


def test_jaccard_and_ari_on_known_memberships():
    people = [f"p{i}" for i in range(100)]
    previous = {p: ("a" if i < 50 else "b") for i, p in enumerate(people)}
    same = stability.dimension_stability("tier", stability.pairs_from_labels(previous, dict(previous)))
    assert same.ari == 1.0
    assert [s.jaccard for s in same.segments] == [1.0, 1.0]

    # 25 of a's 50 members move to b
    current = {p: ("b" if i < 25 else lbl) for i, (p, lbl) in enumerate(previous.items())}
    moved = stability.dimension_stability("tier", stability.pairs_from_labels(previous, current))
    by_segment = {s.segment: s for s in moved.segments}
    assert by_segment["a"].jaccard == pytest.approx(25 / 50)  # kept 25 of the 50 it had
    assert by_segment["b"].jaccard == pytest.approx(50 / 75)  # kept its 50, gained 25
    labels_prev = [previous[p] for p in people]
    labels_cur = [current[p] for p in people]
    assert moved.ari == pytest.approx(adjusted_rand_score(labels_prev, labels_cur))
    assert moved.ari < 0.5


def test_entrants_leavers_and_null_labels():
    previous = {"p1": "a", "p2": "a", "p3": None, "p4": "b"}
    current = {"p1": "a", "p3": "b", "p4": "b", "p5": "a"}  # p2 left, p5 entered, p3 got a label
    result = stability.dimension_stability("x", stability.pairs_from_labels(previous, current))
    assert (result.entered, result.left, result.people_in_both) == (1, 1, 3)
    by_segment = {s.segment: s for s in result.segments}
    assert set(by_segment) == {"a", "b"}  # null is no segment
    assert by_segment["a"].jaccard == pytest.approx(1 / 3)  # {p1,p2} vs {p1,p5}
    assert by_segment["b"].jaccard == pytest.approx(1 / 2)  # {p4} vs {p3,p4}
    rows = stability.history_rows("r1", None, None, None, [result])
    assert rows[0][5] == stability.OVERALL and rows[0][7] == result.ari
    assert {r[5] for r in rows[1:]} == {"a", "b"}


def test_stability_check_warns_below_thresholds():
    from datetime import datetime

    previous = {f"p{i}": ("a" if i % 2 else "b") for i in range(200)}
    current = {p: ("b" if i < 150 else lbl) for i, (p, lbl) in enumerate(previous.items())}
    dims = [
        stability.dimension_stability("tier", stability.pairs_from_labels(previous, current)),
        stability.dimension_stability("band", stability.pairs_from_labels(previous, dict(previous))),
    ]
    cfg = StatsConfig()
    t0, t1 = datetime(2026, 11, 1), datetime(2026, 11, 2)
    tier, band = stability_checks(dims, cfg, snapshot_at=t1, previous_at=t0)
    assert not tier.success and tier.severity == "warning" and not tier.blocking
    assert "a" in tier.observed["unstable_segments"]
    assert tier.observed["ari"] < cfg.min_ari
    assert band.success and band.observed["ari"] == 1.0
    strict = stability_checks(
        dims, StatsConfig(stability_severity="critical"), snapshot_at=t1, previous_at=t0
    )
    assert strict[0].blocking


# --------------------------------------------------------------------------- configuration


def test_config_from_env_and_errors():
    cfg = StatsConfig.from_env(
        {"AUDIENCE_STATS_ALPHA": "0.01", "AUDIENCE_STATS_STABILITY_SEVERITY": "Critical"}
    )
    assert cfg.alpha == 0.01 and cfg.stability_severity == "critical"
    assert StatsConfig.from_env({}) == StatsConfig()
    with pytest.raises(SettingError, match="AUDIENCE_STATS_ALPHA='lots' is not a float"):
        StatsConfig.from_env({"AUDIENCE_STATS_ALPHA": "lots"})
    with pytest.raises(SettingError, match="AUDIENCE_STATS_ALPHA=2.0 must be in"):
        StatsConfig.from_env({"AUDIENCE_STATS_ALPHA": "2"})
    with pytest.raises(SettingError, match="AUDIENCE_STATS_MIN_JACARD"):
        StatsConfig.from_env({"AUDIENCE_STATS_MIN_JACARD": "0.4"})
    with pytest.raises(SettingError, match="must be one of"):
        StatsConfig.from_env({"AUDIENCE_STATS_DIFFERENCE_SEVERITY": "fatal"})
    with pytest.raises(SettingError, match="cluster_min_share"):
        StatsConfig(cluster_min_share=0.6, cluster_max_share=0.5)


def test_resolve_config_mapping_overrides_environment(monkeypatch):
    monkeypatch.setenv("AUDIENCE_STATS_MIN_ARI", "0.7")
    cfg = resolve_config({"alpha": 0.01})
    assert (cfg.alpha, cfg.min_ari) == (0.01, 0.7)
    with pytest.raises(SettingError, match="unknown stats setting"):
        resolve_config({"alfa": 0.01})


def test_every_dimension_is_tested_on_its_definition_and_something_else():
    segments = {t.segment for t in DIFFERENCE_TESTS}
    for segment in segments:
        tests = [t for t in DIFFERENCE_TESTS if t.segment == segment]
        assert any(t.defining for t in tests), segment
        assert any(not t.defining for t in tests), segment
    for test in DIFFERENCE_TESTS:
        assert test.segment in ATTRIBUTES and test.attribute in ATTRIBUTES
        assert not ATTRIBUTES[test.segment].numeric
    assert len({t.check_name for t in DIFFERENCE_TESTS}) == len(DIFFERENCE_TESTS)


def test_checks_group_into_gate_outcomes():
    from audience.quality.checks import CheckResult
    from audience.quality.stats import as_outcomes

    def check(suite, table, name, success, severity="critical"):
        return CheckResult(suite, table, name, "stats", success, severity, {}, "")

    outcomes = as_outcomes(
        [
            check("statistics", "marts.person_engagement", "a", True),
            check("statistics", "marts.person_engagement", "b", False),
            check("stability", "snapshots.person_segments_snapshot", "c", False, "warning"),
        ],
        duration_s=2.0,
    )
    assert [(o.suite, o.table_name, len(o.checks)) for o in outcomes] == [
        ("statistics", "marts.person_engagement", 2),
        ("stability", "snapshots.person_segments_snapshot", 1),
    ]
    assert not outcomes[0].success and outcomes[1].success  # a warning does not block
