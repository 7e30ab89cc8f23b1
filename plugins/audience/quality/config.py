"""The quality gate's thresholds: one frozen dataclass, defaults that suit the demo, overridable
from the environment (``AUDIENCE_GATE_<FIELD>``, e.g. ``AUDIENCE_GATE_MAX_ROW_DROP=0.3``).

In Airflow, set them as environment variables of the workers (or in ``.env``); a bad value
stops the gate before it reads anything, with a message naming the variable.

=====================================  ============  =====================================================
Environment variable                   Default       Meaning
=====================================  ============  =====================================================
``AUDIENCE_GATE_MAX_ROW_DROP``         ``0.5``       A validated table that has fewer rows than
                                                     ``(1 - this) x`` its count at the previous passing
                                                     gate run fails the gate (0.5: a halving stops it).
``AUDIENCE_GATE_MAX_ROW_GROWTH``       ``3.0``       A table more than this many times larger than at the
                                                     previous passing run raises a warning (no stop).
``AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK`` ``100``      Fewest members an audience synced to Facebook needs.
``AUDIENCE_GATE_MIN_AUDIENCE_LINKEDIN`` ``300``      Fewest members an audience synced to LinkedIn needs.
``AUDIENCE_GATE_PERSONA_MIN_SIZE``     ``50``        Smallest persona other than ``'other'`` (keep equal to
                                                     the dbt var ``persona_min_size``).
``AUDIENCE_GATE_MEMBER_MIN_AGE``       ``18``        Youngest age allowed in any audience (dbt var
                                                     ``audience_min_age``).
``AUDIENCE_GATE_PROBABILITY_TOLERANCE`` ``1e-6``     How far a Markov state's outgoing probabilities may
                                                     sum from 1 (floating-point rounding).
=====================================  ============  =====================================================

The statistical checks (segments differ, clusters coherent, segments stable) have their own
thresholds, ``AUDIENCE_STATS_*``: see ``audience.quality.stats.StatsConfig``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from audience.settings import SettingError

ENV_PREFIX = "AUDIENCE_GATE_"


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the quality gate (see the module docstring for each one)."""

    max_row_drop: float = 0.5
    max_row_growth: float = 3.0
    min_audience_facebook: int = 100
    min_audience_linkedin: int = 300
    persona_min_size: int = 50
    member_min_age: int = 18
    probability_tolerance: float = 1e-6

    def __post_init__(self) -> None:
        _check_share("max_row_drop", self.max_row_drop, open_high=False)
        if not self.max_row_growth > 1:
            raise SettingError(
                f"{_env('max_row_growth')}={self.max_row_growth} must be above 1 (a growth factor, e.g. 3)"
            )
        for name in ("min_audience_facebook", "min_audience_linkedin", "persona_min_size"):
            if getattr(self, name) < 1:
                raise SettingError(f"{_env(name)}={getattr(self, name)} must be at least 1")
        if not 0 <= self.member_min_age <= 120:
            raise SettingError(f"{_env('member_min_age')}={self.member_min_age} must be an age, 0 to 120")
        if not 0 < self.probability_tolerance < 0.5:
            raise SettingError(
                f"{_env('probability_tolerance')}={self.probability_tolerance} must be above 0 and below 0.5"
            )

    @property
    def destination_min_sizes(self) -> dict[str, int]:
        """Fewest members each destination demands of an audience synced to it."""
        return {"facebook": self.min_audience_facebook, "linkedin": self.min_audience_linkedin}

    def min_row_share(self) -> float:
        """Share of the previous passing run's row count a table must keep."""
        return 1.0 - self.max_row_drop


def _env(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _check_share(name: str, value: float, *, open_low: bool = False, open_high: bool = False) -> None:
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok and math.isfinite(value)):
        bounds = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise SettingError(f"{_env(name)}={value} must be a share in {bounds}")


def _parse(field: dataclasses.Field, raw: str) -> object:
    name = ENV_PREFIX + field.name.upper()
    text = raw.strip()
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        article = "an integer" if kind == "int" else "a number"
        raise SettingError(f"{name}={raw!r} is not {article}; set it to {article} or unset it") from None
    return text.lower()


def load_config(environ: Mapping[str, str] | None = None, **overrides: object) -> GateConfig:
    """The gate's configuration: defaults, then ``AUDIENCE_GATE_*`` variables, then ``overrides``.

    Raises :class:`audience.settings.SettingError` naming the variable when a value is not valid.
    """
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(GateConfig)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SettingError(f"unknown gate setting(s) {unknown}; choose from {sorted(fields)}")
    values: dict[str, object] = {}
    for name, field in fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw.strip() != "":
            values[name] = _parse(field, raw)
    known = {ENV_PREFIX + name.upper() for name in fields}
    stray = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    if stray:
        raise SettingError(f"unknown variable(s) {stray}; the gate reads {', '.join(sorted(known))}")
    values.update(overrides)
    return GateConfig(**values)
