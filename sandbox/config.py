"""Settings of the sandbox server: fault injection and the platforms' limits.

Both are plain dataclasses that travel as JSON (on the command line of the
background server, and through ``POST /_sandbox/faults`` and
``POST /_sandbox/config``). Every limit can also come from the environment as
``SANDBOX_<FIELD>`` (e.g. ``SANDBOX_RATE_LIMIT_STATUS=429``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

FAULT_KINDS = ("429", "500", "503", "graph_rate_limit", "timeout")
TARGETS = ("hubspot", "graph", "salesforce", "linkedin_ads")


class ConfigError(ValueError):
    """A sandbox setting is wrong (the message says which and what is allowed)."""


@dataclass(frozen=True)
class FaultConfig:
    """Random failures injected before a request reaches its handler (so nothing changes state).

    ``rate``: share of API requests that fail (0..1); ``kinds``: which failures,
    drawn uniformly; ``seed``: makes the sequence of failures reproducible;
    ``timeout_seconds``: how long a "timeout" fault holds the request before
    answering 504; ``targets``: which APIs are affected.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    timeout_seconds: float = 15.0
    targets: tuple[str, ...] = TARGETS

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ConfigError(f"fault rate {self.rate!r} must be between 0 and 1")
        kinds = tuple(str(k) for k in self.kinds)
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown or not kinds:
            raise ConfigError(
                f"fault kinds {unknown or '[]'} not understood; use some of {', '.join(FAULT_KINDS)}"
            )
        targets = tuple(str(t) for t in self.targets)
        if not targets or set(targets) - set(TARGETS):
            raise ConfigError(
                f"fault targets {list(targets)} not understood; use some of {', '.join(TARGETS)}"
            )
        if self.timeout_seconds < 0:
            raise ConfigError("fault timeout_seconds must be zero or more")
        object.__setattr__(self, "rate", float(self.rate))
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "seed", int(self.seed))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        return _from_dict(cls, data, "faults")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        out["targets"] = list(self.targets)
        return out


@dataclass(frozen=True)
class SandboxConfig:
    """The platforms' limits, as the sandbox enforces them.

    - ``graph_calls_per_hour_base`` + ``graph_calls_per_hour_per_audience`` ×
      live audiences: the Marketing API's hourly call budget per ad account
      (standard access); past it, Graph error code 17 / subcode 2446079.
    - ``rate_limit_status``: HTTP status of Graph rate-limit errors (400 as
      Graph usually answers, or 429).
    - ``graph_max_rows``: rows per users/usersreplace call (10,000).
    - ``max_request_line``: longest request line (method + target + version)
      before HTTP 414, like a real front server (8,192 bytes).
    - ``hubspot_search_per_second``: HubSpot's search rate limit (real: 5 per
      second); 0 (the default) turns it off.
    - ``hubspot_max_results``: results one search query can page through (10,000).
    - ``replace_session_seconds``: how long a usersreplace session stays open
      waiting for its next batch (Meta: 90 minutes).
    - ``linkedin_calls_per_minute``: calls on a DMP segment's ``/users`` per token
      per sliding minute (LinkedIn: about 600); past it, 429 ``TOO_MANY_REQUESTS``.
    - ``linkedin_max_elements``: elements per ``/users`` call (5,000, as peers use).
    """

    graph_calls_per_hour_base: int = 5000
    graph_calls_per_hour_per_audience: int = 40
    rate_limit_status: int = 400
    graph_max_rows: int = 10_000
    max_request_line: int = 8192
    hubspot_search_per_second: float = 0.0
    hubspot_max_results: int = 10_000
    replace_session_seconds: int = 90 * 60
    linkedin_calls_per_minute: int = 600
    linkedin_max_elements: int = 5_000

    def __post_init__(self) -> None:
        if self.rate_limit_status not in (400, 429):
            raise ConfigError(f"rate_limit_status must be 400 or 429, not {self.rate_limit_status!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"sandbox setting {f.name}={value!r} must be a number, zero or more")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SandboxConfig:
        """Defaults, overridden by ``SANDBOX_<FIELD>`` environment variables."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SANDBOX_{f.name.upper()}")
            if raw in (None, ""):
                continue
            try:
                values[f.name] = float(raw) if f.type in ("float", float) else int(raw)
            except ValueError:
                raise ConfigError(f"SANDBOX_{f.name.upper()}={raw!r} is not a number") from None
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: SandboxConfig | None = None) -> SandboxConfig:
        if base is None:
            return _from_dict(cls, data, "config")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown sandbox settings {unknown}; known: {', '.join(sorted(known))}")
        return replace(base, **data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_dict(cls: Any, data: dict[str, Any], what: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} settings {unknown}; known: {', '.join(sorted(known))}")
    values = dict(data)
    for key in ("kinds", "targets"):
        if key in values and isinstance(values[key], str):
            values[key] = tuple(v.strip() for v in values[key].split(",") if v.strip())
        elif key in values:
            values[key] = tuple(values[key])
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def dumps(obj: FaultConfig | SandboxConfig) -> str:
    return json.dumps(obj.to_dict(), separators=(",", ":"))
