"""Statistical validation of the segments: they differ, the clusters hold, the memberships are stable.

``run_checks(conn, run_id)`` returns :class:`~audience.quality.checks.CheckResult` rows (no PII:
statistics, p-values, effect sizes, counts and per-segment aggregates) for the gate to record
in ``ops.validation_runs``, and writes the stability history to ``ops.segment_stability``.

**Segments really differ** (suite ``statistics``, table = the segment's mart). Each
segmentation dimension is tested on the attribute it is defined by *and* on at least one
other attribute (see :data:`DIFFERENCE_TESTS`); a test passes when p < ``alpha`` and the
effect size reaches its minimum, so a large sample cannot make a negligible difference pass
and identical segments (a tier column unrelated to the score) fail.

- Categorical × segment: Pearson's chi-square on the contingency table counted in SQL
  (``scipy.stats.chi2_contingency``), effect size Cramér's V = √(χ² / (n·(min(r, c) − 1))).
- Numeric across segments: one-way ANOVA (effect η² = SS_between / SS_total) *and*
  Kruskal–Wallis (effect ε² = H / (n − 1)) are both computed and reported; the verdict uses
  Kruskal–Wallis when the pooled values are skewed (|sample skewness| > ``skew_threshold``:
  spend, scores and propensities are), ANOVA otherwise. Values come from a deterministic
  sample of at most ``sample_rows`` people (``order by md5(person_id)``).
- Null and ``unknown`` values are left out (absence of data is no segment); segments or
  categories with fewer than ``min_group_size`` people are left out and listed.

**Clusters are coherent** (suite ``clusters``): the cosine silhouette of the latest
psychographic run, recomputed on a sample of ``ml.author_embeddings`` (and the one stored in
``ml.cluster_selection`` beside it), at least ``min_silhouette``; every cluster's share of
the clustered authors within [``cluster_min_share``, ``cluster_max_share``].

**Segments are stable** (suite ``stability``): see :mod:`audience.quality.stability`.

Thresholds are :class:`StatsConfig` fields, each documented there, read from
``AUDIENCE_STATS_*`` variables by :meth:`StatsConfig.from_env`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from audience.quality import stability
from audience.quality.checks import SEVERITIES, CheckResult, ValidationOutcome
from audience.settings import SettingError

log = logging.getLogger(__name__)

STATISTICS_SUITE = "statistics"
CLUSTERS_SUITE = "clusters"
STABILITY_SUITE = "stability"

# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class StatsConfig:
    """Thresholds of the statistical checks (environment: ``AUDIENCE_STATS_<FIELD>``, upper case)."""

    #: significance level: a difference test passes when its p-value is below it.
    alpha: float = 0.05
    #: minimum Cramér's V for a chi-square test to count as a difference (Cohen's "small" is 0.1).
    min_cramers_v: float = 0.1
    #: minimum η² (ANOVA) or ε² (Kruskal–Wallis) for a numeric test (Cohen's "small" is 0.01).
    min_eta_squared: float = 0.01
    #: |skewness| of the pooled values above which Kruskal–Wallis, not ANOVA, gives the verdict.
    skew_threshold: float = 1.0
    #: at most this many people per numeric test, a deterministic sample (md5 of person_id).
    sample_rows: int = 20_000
    #: segments/categories with fewer people are left out of a test (and of stability verdicts).
    min_group_size: int = 10
    #: severity of a failed test on the attribute a segmentation is defined by (a tier that does not
    #: differ in score, an age band that does not differ in age): critical stops the sync.
    difference_severity: str = "critical"
    #: severity of a failed test on another attribute (does the segmentation mean something beyond
    #: its definition?): a weak real effect may miss p < alpha on a small base, so warning by default.
    secondary_difference_severity: str = "warning"
    #: minimum cosine silhouette of the interest clusters (0.25: weak structure; 0.5: reasonable).
    min_silhouette: float = 0.25
    #: authors sampled to recompute the silhouette (O(n²) distances).
    silhouette_sample: int = 2_000
    #: severity of a silhouette below the minimum (or no psychographic run at all).
    silhouette_severity: str = "critical"
    #: smallest and largest share of the clustered authors a cluster may hold.
    cluster_min_share: float = 0.01
    cluster_max_share: float = 0.5
    #: severity of a cluster outside those bounds.
    cluster_size_severity: str = "warning"
    #: a segment whose Jaccard (members kept / members either run) falls below this is unstable.
    min_jaccard: float = 0.5
    #: a dimension whose adjusted Rand index between the two runs falls below this is unstable.
    min_ari: float = 0.5
    #: severity of an unstable dimension (warning by default: segments may legitimately move).
    stability_severity: str = "warning"

    def __post_init__(self) -> None:
        for name in ("alpha", "cluster_min_share", "cluster_max_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise SettingError(f"stats setting {name}={value} must be in (0, 1]")
        for name in ("min_cramers_v", "min_eta_squared", "min_jaccard"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise SettingError(f"stats setting {name}={value} must be in [0, 1]")
        for name in ("min_silhouette", "min_ari"):
            value = getattr(self, name)
            if not -1 <= value <= 1:
                raise SettingError(f"stats setting {name}={value} must be in [-1, 1]")
        if self.cluster_min_share >= self.cluster_max_share:
            raise SettingError(
                f"stats settings cluster_min_share={self.cluster_min_share} must be below "
                f"cluster_max_share={self.cluster_max_share}"
            )
        if self.skew_threshold < 0:
            raise SettingError(f"stats setting skew_threshold={self.skew_threshold} must be >= 0")
        for name in ("sample_rows", "silhouette_sample"):
            if getattr(self, name) < 10:
                raise SettingError(f"stats setting {name}={getattr(self, name)} must be at least 10")
        if self.min_group_size < 2:
            raise SettingError(f"stats setting min_group_size={self.min_group_size} must be at least 2")
        for name in (
            "difference_severity",
            "secondary_difference_severity",
            "silhouette_severity",
            "cluster_size_severity",
            "stability_severity",
        ):
            if getattr(self, name) not in SEVERITIES:
                raise SettingError(
                    f"stats setting {name}={getattr(self, name)!r} must be one of {SEVERITIES}"
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "stats config") -> StatsConfig:
        """Defaults overridden by ``values`` (field name → value, strings converted); bad → SettingError."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            field = known.get(key)
            if field is None:
                raise SettingError(f"{source}: unknown stats setting {key!r}; known: {sorted(known)}")
            default = getattr(cls, key)
            try:
                if isinstance(default, str):
                    value: Any = str(raw).strip().lower()
                elif isinstance(default, int):
                    value = int(raw)
                else:
                    value = float(raw)
            except (TypeError, ValueError):
                raise SettingError(
                    f"{source}: {key}={raw!r} is not a {type(default).__name__}; fix or unset it"
                ) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingError(f"{source}: {key}={raw!r} is not a finite number")
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except SettingError as exc:
            raise SettingError(f"{source}: {exc}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StatsConfig:
        """Defaults overridden by ``AUDIENCE_STATS_<FIELD>`` variables (e.g. ``AUDIENCE_STATS_ALPHA=0.01``)."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for f in fields(cls):
            name = f"AUDIENCE_STATS_{f.name.upper()}"
            if env.get(name, "") != "":
                values[f.name] = env[name]
        prefixed = {k for k in env if k.startswith("AUDIENCE_STATS_")}
        unknown = sorted(prefixed - {f"AUDIENCE_STATS_{f.name.upper()}" for f in fields(cls)})
        if unknown:
            raise SettingError(
                f"unknown setting(s) {unknown}; the AUDIENCE_STATS_* settings are "
                f"{[f'AUDIENCE_STATS_{f.name.upper()}' for f in fields(cls)]}"
            )
        try:
            return cls.from_mapping(values, source="environment")
        except SettingError as exc:
            # name the variable, not the field
            message = str(exc)
            for key in values:
                message = message.replace(f" {key}=", f" AUDIENCE_STATS_{key.upper()}=")
            raise SettingError(message) from None


def resolve_config(config: StatsConfig | Mapping[str, Any] | None) -> StatsConfig:
    """``None`` → from the environment; a mapping → the environment's values overridden by it."""
    if config is None:
        return StatsConfig.from_env()
    if isinstance(config, StatsConfig):
        return config
    base = StatsConfig.from_env()
    override = StatsConfig.from_mapping(config)
    return replace(base, **{k: getattr(override, k) for k in config})


# --------------------------------------------------------------------------- pure statistics


def _num(value: float | None, digits: int = 6) -> float | None:
    """A JSON-safe float (jsonb has no NaN): rounded to significant digits, None for NaN/inf."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def chi_square(table: Mapping[tuple[str, str], int], *, min_group_size: int = 1) -> dict[str, Any]:
    """Pearson's chi-square of a (segment, category) → count table, with Cramér's V.

    Segments and categories with fewer than ``min_group_size`` people are left out first.
    """
    from scipy.stats import chi2_contingency  # noqa: PLC0415

    seg_totals: dict[str, int] = {}
    cat_totals: dict[str, int] = {}
    for (seg, cat), n in table.items():
        seg_totals[seg] = seg_totals.get(seg, 0) + n
        cat_totals[cat] = cat_totals.get(cat, 0) + n
    segments = sorted(s for s, n in seg_totals.items() if n >= min_group_size)
    categories = sorted(c for c, n in cat_totals.items() if n >= min_group_size)
    dropped = sorted(
        {s for s in seg_totals if s not in segments} | {c for c in cat_totals if c not in categories}
    )
    matrix = np.array([[table.get((s, c), 0) for c in categories] for s in segments], dtype=float)
    result: dict[str, Any] = {
        "test": "chi_square",
        "n": int(matrix.sum()),
        "segments": len(segments),
        "categories": len(categories),
        "groups": {s: int(matrix[i].sum()) for i, s in enumerate(segments)},
    }
    if dropped:
        result["dropped_small_groups"] = dropped
    if len(segments) < 2 or len(categories) < 2:
        result.update(statistic=None, p_value=None, effect="cramers_v", effect_size=None)
        result["note"] = "fewer than two segments or categories with enough people"
        return result
    # drop rows/columns emptied by the category filter
    matrix = matrix[matrix.sum(axis=1) > 0][:, matrix.sum(axis=0) > 0]
    chi2, p, dof, expected = chi2_contingency(matrix, correction=False)
    n = matrix.sum()
    k = min(matrix.shape) - 1
    v = math.sqrt(chi2 / (n * k)) if n and k else 0.0
    result.update(
        statistic=_num(chi2),
        dof=int(dof),
        p_value=_num(p),
        effect="cramers_v",
        effect_size=_num(v, 4),
        low_expected_cells=_num(float((expected < 5).mean()), 3),
    )
    return result


def compare_groups(
    groups: Mapping[str, Sequence[float] | np.ndarray],
    *,
    min_group_size: int = 2,
    skew_threshold: float = 1.0,
) -> dict[str, Any]:
    """One-way ANOVA and Kruskal–Wallis of a numeric attribute across segments, with effect sizes.

    ``test`` names the one the verdict uses: Kruskal–Wallis when |skewness| of the pooled
    values exceeds ``skew_threshold``, ANOVA otherwise; both are reported.
    """
    from scipy import stats as st  # noqa: PLC0415

    arrays = {str(k): np.asarray(v, dtype=float) for k, v in groups.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    kept = {k: v for k, v in sorted(arrays.items()) if len(v) >= min_group_size}
    dropped = sorted(k for k in arrays if k not in kept)
    result: dict[str, Any] = {
        "n": int(sum(len(v) for v in kept.values())),
        "groups": {
            k: {"n": len(v), "mean": _num(v.mean(), 4), "median": _num(np.median(v), 4)}
            for k, v in kept.items()
        },
    }
    if dropped:
        result["dropped_small_groups"] = dropped
    if len(kept) < 2:
        result.update(test="anova", p_value=None, effect="eta_squared", effect_size=None)
        result["note"] = "fewer than two segments with enough people"
        return result
    values = list(kept.values())
    pooled = np.concatenate(values)
    n = len(pooled)
    ss_total = float(((pooled - pooled.mean()) ** 2).sum())
    if ss_total == 0.0:  # every value identical: no test can tell the segments apart
        anova = {"f": None, "p_value": 1.0, "eta_squared": 0.0}
        kruskal = {"h": None, "p_value": 1.0, "epsilon_squared": 0.0}
        skewness = 0.0
    else:
        ss_between = float(sum(len(v) * (v.mean() - pooled.mean()) ** 2 for v in values))
        f, p_f = st.f_oneway(*values)
        h, p_h = st.kruskal(*values)
        anova = {"f": _num(f), "p_value": _num(p_f), "eta_squared": _num(ss_between / ss_total, 4)}
        kruskal = {"h": _num(h), "p_value": _num(p_h), "epsilon_squared": _num(h / (n - 1), 4)}
        skewness = float(st.skew(pooled))
    skewed = abs(skewness) > skew_threshold
    chosen = kruskal if skewed else anova
    result.update(
        test="kruskal" if skewed else "anova",
        p_value=chosen["p_value"],
        effect="epsilon_squared" if skewed else "eta_squared",
        effect_size=chosen["epsilon_squared" if skewed else "eta_squared"],
        skewness=_num(skewness, 4),
        anova=anova,
        kruskal=kruskal,
    )
    return result


def verdict(result: Mapping[str, Any], *, alpha: float, min_effect: float) -> bool:
    """A difference is shown when p < alpha and the effect size reaches ``min_effect``."""
    p, effect = result.get("p_value"), result.get("effect_size")
    return p is not None and effect is not None and p < alpha and effect >= min_effect


# --------------------------------------------------------------------------- what is tested


@dataclass(frozen=True)
class Attribute:
    """A per-person column of a mart; ``expr`` uses ``{t}`` for the table's alias."""

    table: str
    expr: str
    numeric: bool = False


def _known(column: str) -> str:
    return f"nullif(nullif({{t}}.{column}, 'unknown'), '')"


ATTRIBUTES: dict[str, Attribute] = {
    "age": Attribute("marts.person_demographics", "{t}.age::float8", numeric=True),
    "engagement_score": Attribute("marts.person_engagement", "{t}.engagement_score::float8", numeric=True),
    "monetary_eur": Attribute("marts.person_rfm", "{t}.monetary_eur::float8", numeric=True),
    "recency_days": Attribute("marts.person_rfm", "{t}.recency_days::float8", numeric=True),
    "purchase_propensity": Attribute(
        "marts.person_propensity", "{t}.purchase_propensity::float8", numeric=True
    ),
    "age_band": Attribute("marts.seg_age_band", _known("age_band")),
    "gender": Attribute("marts.person_demographics", _known("gender")),
    "urban_class": Attribute("marts.person_demographics", _known("urban_class")),
    "engagement_tier": Attribute("marts.person_engagement", _known("engagement_tier")),
    "rfm_segment": Attribute("marts.person_rfm", _known("rfm_segment")),
    "propensity_decile": Attribute("marts.person_propensity", "{t}.propensity_decile::text"),
    "interest_label": Attribute("marts.person_psychographics", _known("interest_label")),
    "interest_cluster_id": Attribute("marts.person_psychographics", "{t}.interest_cluster_id::text"),
    "persona_id": Attribute("marts.person_personas", _known("persona_id")),
}


@dataclass(frozen=True)
class DifferenceTest:
    """``attribute`` must differ across the segments of ``segment``; ``defining`` marks the
    attribute the segmentation is built from (the others show it means something beyond it)."""

    segment: str
    attribute: str
    defining: bool

    @property
    def check_name(self) -> str:
        return f"{self.attribute}_differs_across_{self.segment}"


#: Each dimension: the attribute it is defined by, then at least one it is not (measured on the
#: 5,000-contact demo world: every one of these has p < 1e-5 and an effect of at least 0.03 ε²/η²
#: or 0.13 V; gender × tier, urban class × interest and gender × age band show no real
#: difference there, so they are not gate checks).
DIFFERENCE_TESTS: tuple[DifferenceTest, ...] = (
    DifferenceTest("engagement_tier", "engagement_score", defining=True),
    DifferenceTest("engagement_tier", "purchase_propensity", defining=False),
    DifferenceTest("engagement_tier", "rfm_segment", defining=False),
    DifferenceTest("age_band", "age", defining=True),
    DifferenceTest("age_band", "purchase_propensity", defining=False),
    DifferenceTest("age_band", "rfm_segment", defining=False),
    DifferenceTest("rfm_segment", "monetary_eur", defining=True),
    DifferenceTest("rfm_segment", "recency_days", defining=True),
    DifferenceTest("rfm_segment", "purchase_propensity", defining=False),
    DifferenceTest("propensity_decile", "purchase_propensity", defining=True),
    DifferenceTest("propensity_decile", "engagement_score", defining=False),
    DifferenceTest("interest_label", "interest_cluster_id", defining=True),
    DifferenceTest("interest_label", "age", defining=False),
    DifferenceTest("interest_label", "monetary_eur", defining=False),
    DifferenceTest("persona_id", "age", defining=True),
    DifferenceTest("persona_id", "engagement_score", defining=True),
    DifferenceTest("persona_id", "purchase_propensity", defining=False),
)


def _difference_severity(test: DifferenceTest, cfg: StatsConfig) -> str:
    return cfg.difference_severity if test.defining else cfg.secondary_difference_severity


def _pair_sql(test: DifferenceTest) -> tuple[str, str, str]:
    """FROM clause and the segment / value expressions of one test."""
    seg, val = ATTRIBUTES[test.segment], ATTRIBUTES[test.attribute]
    if seg.table == val.table:
        return f"{seg.table} s", seg.expr.format(t="s"), val.expr.format(t="s")
    return (
        f"{seg.table} s join {val.table} v on v.person_id = s.person_id",
        seg.expr.format(t="s"),
        val.expr.format(t="v"),
    )


def _difference_message(test: DifferenceTest, result: Mapping[str, Any], ok: bool, cfg: StatsConfig) -> str:
    if result.get("p_value") is None:
        return f"{test.attribute} across {test.segment}: not testable ({result.get('note', 'no data')})"
    minimum = cfg.min_cramers_v if result["effect"] == "cramers_v" else cfg.min_eta_squared
    text = (
        f"{test.attribute} across {len(result['groups'])} {test.segment} segments (n={result['n']}): "
        f"{result['test']} p={result['p_value']:.3g}, {result['effect']}={result['effect_size']:.3f}"
    )
    if ok:
        return "passed: " + text
    return (
        f"{text}: the segments do not differ (need p < {cfg.alpha} and {result['effect']} >= {minimum}); "
        f"check how {test.segment} is computed"
    )


def run_difference_test(conn: psycopg.Connection, test: DifferenceTest, cfg: StatsConfig) -> CheckResult:
    source, seg_expr, val_expr = _pair_sql(test)
    seg_attr, val_attr = ATTRIBUTES[test.segment], ATTRIBUTES[test.attribute]
    where = f"{seg_expr} is not null and {val_expr} is not null"
    if val_attr.numeric:
        rows = conn.execute(
            f"select segment, value from (select s.person_id, {seg_expr} as segment, {val_expr} as value "  # noqa: S608
            f"from {source} where {where}) t order by md5(person_id) limit %s",
            (cfg.sample_rows,),
        ).fetchall()
        groups: dict[str, list[float]] = {}
        for segment, value in rows:
            groups.setdefault(str(segment), []).append(float(value))
        result = compare_groups(groups, min_group_size=cfg.min_group_size, skew_threshold=cfg.skew_threshold)
        min_effect, kind = cfg.min_eta_squared, "stats_anova_kruskal"
    else:
        rows = conn.execute(
            f"select {seg_expr}, {val_expr}, count(*) from {source} where {where} group by 1, 2"  # noqa: S608
        ).fetchall()
        result = chi_square(
            {(str(r[0]), str(r[1])): int(r[2]) for r in rows}, min_group_size=cfg.min_group_size
        )
        min_effect, kind = cfg.min_cramers_v, "stats_chi_square"
    ok = verdict(result, alpha=cfg.alpha, min_effect=min_effect)
    observed = {
        "segment": test.segment,
        "attribute": test.attribute,
        "defining": test.defining,
        "alpha": cfg.alpha,
        "min_effect": min_effect,
        **result,
    }
    return CheckResult(
        suite=STATISTICS_SUITE,
        table_name=seg_attr.table,
        check_name=test.check_name,
        expectation_type=kind,
        success=ok,
        severity=_difference_severity(test, cfg),
        observed=observed,
        message=_difference_message(test, result, ok, cfg),
    )


# --------------------------------------------------------------------------- clusters


def cluster_size_shares(sizes: Mapping[str, int], *, min_share: float, max_share: float) -> dict[str, Any]:
    """Each cluster's share of the clustered items and those outside [min_share, max_share]."""
    total = sum(sizes.values())
    shares = {k: (n / total if total else 0.0) for k, n in sizes.items()}
    return {
        "clusters": len(sizes),
        "clustered": total,
        "sizes": dict(sizes),
        "shares": {k: _num(v, 4) for k, v in shares.items()},
        "too_small": sorted(k for k, v in shares.items() if v < min_share),
        "too_large": sorted(k for k, v in shares.items() if v > max_share),
    }


def recompute_silhouette(vectors: np.ndarray, labels: Sequence[Any]) -> float | None:
    """Cosine silhouette of ``labels`` (None when fewer than two clusters or too few points)."""
    from sklearn.metrics import silhouette_score  # noqa: PLC0415

    labels = np.asarray(labels)
    distinct = len(set(labels.tolist()))
    if distinct < 2 or distinct >= len(labels):
        return None
    return float(silhouette_score(vectors, labels, metric="cosine"))


def run_cluster_checks(conn: psycopg.Connection, cfg: StatsConfig) -> list[CheckResult]:
    latest = conn.execute(
        "select run_id, algorithm, k, silhouette, authors, clustered_authors from ml.psychographic_runs "
        "order by finished_at desc limit 1"
    ).fetchone()
    if latest is None:
        return [
            CheckResult(
                CLUSTERS_SUITE,
                "ml.psychographic_runs",
                "interest_clusters_silhouette",
                "stats_silhouette",
                False,
                cfg.silhouette_severity,
                {"runs": 0},
                "no psychographic run recorded; run the build_segments DAG (ml task) first",
            )
        ]
    run_id, algorithm, k, run_silhouette, authors, clustered = latest
    chosen = conn.execute(
        "select silhouette from ml.cluster_selection where run_id = %s and is_chosen", (run_id,)
    ).fetchone()
    stored = chosen[0] if chosen and chosen[0] is not None else run_silhouette
    rows = conn.execute(
        "select e.embedding::real[], c.cluster_id from ml.author_embeddings e "
        "join ml.author_clusters c on c.platform = e.platform and c.author_id = e.author_id "
        "where e.run_id = %s and c.run_id = %s and c.cluster_id is not null "
        "order by md5(e.platform || ':' || e.author_id) limit %s",
        (run_id, run_id, cfg.silhouette_sample),
    ).fetchall()
    recomputed = None
    if rows:
        vectors = np.array([r[0] for r in rows], dtype=float)
        recomputed = recompute_silhouette(vectors, [r[1] for r in rows])
    value = recomputed if recomputed is not None else stored
    ok = value is not None and value >= cfg.min_silhouette
    observed = {
        "psychographic_run_id": run_id,
        "algorithm": algorithm,
        "k": k,
        "silhouette": _num(value, 4),
        "silhouette_recomputed": _num(recomputed, 4),
        "silhouette_stored": _num(stored, 4),
        "sample": len(rows),
        "metric": "cosine",
        "min_silhouette": cfg.min_silhouette,
    }
    text = (
        f"silhouette {value:.3f} (cosine, {len(rows)} authors sampled; stored {stored})"
        if value is not None
        else ""
    )
    silhouette_check = CheckResult(
        CLUSTERS_SUITE,
        "ml.author_clusters",
        "interest_clusters_silhouette",
        "stats_silhouette",
        ok,
        cfg.silhouette_severity,
        observed,
        ("passed: " + text)
        if ok
        else (
            f"{text or 'no silhouette'} below {cfg.min_silhouette}: the interest clusters are not coherent; "
            "review the psychographic model (k range, embeddings)"
        ),
    )
    sizes = {
        str(r[0]): int(r[1])
        for r in conn.execute(
            "select cluster_id, count(*) from ml.author_clusters where run_id = %s and cluster_id is not null "
            "group by 1 order by 1",
            (run_id,),
        ).fetchall()
    }
    shares = cluster_size_shares(sizes, min_share=cfg.cluster_min_share, max_share=cfg.cluster_max_share)
    shares.update(
        psychographic_run_id=run_id,
        authors=authors,
        unclustered=(authors - clustered) if authors is not None and clustered is not None else None,
        min_share=cfg.cluster_min_share,
        max_share=cfg.cluster_max_share,
    )
    size_ok = len(sizes) >= 2 and not shares["too_small"] and not shares["too_large"]
    bounds = f"[{cfg.cluster_min_share:.1%}, {cfg.cluster_max_share:.1%}]"
    if size_ok:
        size_message = f"passed: {len(sizes)} clusters, every share within {bounds}"
    elif len(sizes) < 2:
        size_message = f"{len(sizes)} cluster(s): nothing to segment by interest"
    else:
        bad = [f"{c} ({shares['shares'][c]:.1%})" for c in shares["too_small"] + shares["too_large"]]
        size_message = f"cluster(s) outside share bounds {bounds}: {', '.join(bad)}"
    size_check = CheckResult(
        CLUSTERS_SUITE,
        "ml.author_clusters",
        "interest_cluster_sizes",
        "stats_cluster_sizes",
        size_ok,
        cfg.cluster_size_severity,
        shares,
        size_message,
    )
    return [silhouette_check, size_check]


# --------------------------------------------------------------------------- stability


def stability_checks(
    results: Sequence[stability.DimensionStability],
    cfg: StatsConfig,
    *,
    snapshot_at: datetime,
    previous_at: datetime,
) -> list[CheckResult]:
    checks = []
    for dim in results:
        judged = [s for s in dim.segments if max(s.previous_size, s.current_size) >= cfg.min_group_size]
        unstable = sorted(
            (s for s in judged if s.jaccard is not None and s.jaccard < cfg.min_jaccard),
            key=lambda s: s.jaccard,
        )
        ari_low = dim.ari is not None and dim.ari < cfg.min_ari
        ok = not unstable and not ari_low
        observed = {
            "dimension": dim.dimension,
            "snapshot_at": snapshot_at.isoformat(),
            "previous_snapshot_at": previous_at.isoformat(),
            "ari": _num(dim.ari, 4),
            "weighted_jaccard": _num(dim.weighted_jaccard, 4),
            "people_in_both": dim.people_in_both,
            "entered": dim.entered,
            "left": dim.left,
            "jaccard": {s.segment: _num(s.jaccard, 4) for s in dim.segments},
            "unstable_segments": [s.segment for s in unstable],
            "min_jaccard": cfg.min_jaccard,
            "min_ari": cfg.min_ari,
        }
        ari = "n/a" if dim.ari is None else f"{dim.ari:.3f}"
        text = f"{dim.dimension}: ARI {ari}, weighted Jaccard {observed['weighted_jaccard']}"
        if ok:
            message = f"passed: {text}"
        else:
            worst = ", ".join(f"{s.segment} {s.jaccard:.2f}" for s in unstable[:5])
            message = (
                f"{text} since the previous snapshot ({previous_at:%Y-%m-%d %H:%M}): "
                + (f"ARI below {cfg.min_ari}; " if ari_low else "")
                + (f"segments below Jaccard {cfg.min_jaccard}: {worst}" if unstable else "")
            ).rstrip("; ")
        checks.append(
            CheckResult(
                STABILITY_SUITE,
                stability.SNAPSHOT_TABLE,
                f"{dim.dimension}_stable",
                "stats_stability",
                ok,
                cfg.stability_severity,
                observed,
                message,
            )
        )
    return checks


def run_stability_checks(
    conn: psycopg.Connection, run_id: str, cfg: StatsConfig, *, run_at: datetime, record: bool = True
) -> list[CheckResult]:
    times = stability.snapshot_times(conn)
    if len(times) < 2:
        note = "first snapshot run: nothing to compare yet" if times else "the snapshot is empty"
        return [
            CheckResult(
                STABILITY_SUITE,
                stability.SNAPSHOT_TABLE,
                "segments_stable",
                "stats_stability",
                True,
                cfg.stability_severity,
                {"snapshot_runs": len(times), "note": note},
                f"passed: {note}",
            )
        ]
    current_at, previous_at = times
    results = [
        stability.dimension_stability(d, stability.read_pairs(conn, d, previous_at, current_at))
        for d in stability.snapshot_dimensions(conn)
    ]
    if record:
        rows = stability.history_rows(run_id, run_at, current_at, previous_at, results)
        stability.record_history(conn, run_id, rows)
    return stability_checks(results, cfg, snapshot_at=current_at, previous_at=previous_at)


# --------------------------------------------------------------------------- entry points


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _guarded(
    conn: psycopg.Connection,
    tables: Sequence[str],
    placeholder: tuple[str, str, str, str, str],
    hint: str,
    run: Callable[[], list[CheckResult]],
) -> list[CheckResult]:
    """``run()`` in a savepoint; a missing table or a query error becomes one failed check
    (``placeholder`` = suite, table, check name, type, severity) saying why."""
    missing = [t for t in tables if conn.execute("select to_regclass(%s)", (t,)).fetchone()[0] is None]
    if missing:
        reason = f"table(s) {', '.join(missing)} missing; {hint}"
    else:
        try:
            with conn.transaction():
                return run()
        except psycopg.Error as exc:
            reason = _first_line(exc)
    suite, table, name, kind, severity = placeholder
    return [CheckResult(suite, table, name, kind, False, severity, {"error": reason}, f"not run: {reason}")]


def run_checks(
    conn: psycopg.Connection,
    run_id: str,
    *,
    config: StatsConfig | Mapping[str, Any] | None = None,
    record: bool = True,
) -> list[CheckResult]:
    """Every statistical check, in order: differences, clusters, stability.

    ``config``: a :class:`StatsConfig`, a mapping of overrides, or None (``AUDIENCE_STATS_*``).
    With ``record`` the stability history is written to ``ops.segment_stability`` (replacing
    ``run_id``'s rows) and committed; without it nothing is written or committed. A check that
    cannot run (a table missing, a query error) is returned as failed, with its severity and
    the reason; nothing here raises because of the data.
    """
    cfg = resolve_config(config)
    started = time.monotonic()
    run_at = datetime.now(UTC)
    checks: list[CheckResult] = []
    for test in DIFFERENCE_TESTS:
        seg, val = ATTRIBUTES[test.segment], ATTRIBUTES[test.attribute]
        kind = "stats_anova_kruskal" if val.numeric else "stats_chi_square"
        checks += _guarded(
            conn,
            [seg.table, val.table],
            (STATISTICS_SUITE, seg.table, test.check_name, kind, _difference_severity(test, cfg)),
            "build them (dbt build) and re-run",
            lambda test=test: [run_difference_test(conn, test, cfg)],
        )
    checks += _guarded(
        conn,
        ["ml.psychographic_runs", "ml.cluster_selection", "ml.author_embeddings", "ml.author_clusters"],
        (
            CLUSTERS_SUITE,
            "ml.author_clusters",
            "interest_clusters_silhouette",
            "stats_silhouette",
            cfg.silhouette_severity,
        ),
        "run the psychographic model (build_segments) first",
        lambda: run_cluster_checks(conn, cfg),
    )
    checks += _guarded(
        conn,
        [stability.SNAPSHOT_TABLE],
        (
            STABILITY_SUITE,
            stability.SNAPSHOT_TABLE,
            "segments_stable",
            "stats_stability",
            cfg.stability_severity,
        ),
        "run dbt snapshot",
        lambda: run_stability_checks(conn, run_id, cfg, run_at=run_at, record=record),
    )
    if record and not conn.autocommit:
        conn.commit()

    failed = [c for c in checks if not c.success]
    log.info(
        "statistical checks (run_id=%s): %d checks, %d failed (%d critical) in %.2fs",
        run_id,
        len(checks),
        len(failed),
        sum(c.blocking for c in failed),
        time.monotonic() - started,
    )
    for check in failed:
        log.warning(
            "%s check failed on %s: %s: %s", check.severity, check.table_name, check.check_name, check.message
        )
    return checks


def as_outcomes(checks: Sequence[CheckResult], duration_s: float = 0.0) -> list[ValidationOutcome]:
    """The checks grouped per (suite, table), as the gate's :class:`ValidationOutcome`\\ s, in order."""
    grouped: dict[tuple[str, str], list[CheckResult]] = {}
    for check in checks:
        grouped.setdefault((check.suite, check.table_name), []).append(check)
    share = duration_s / len(grouped) if grouped else 0.0
    return [ValidationOutcome(s, t, tuple(cs), share) for (s, t), cs in grouped.items()]
