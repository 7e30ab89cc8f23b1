"""What a quality check found, in a form safe to log, store and return (no PII).

Great Expectations results are turned into :class:`CheckResult` rows here:
failing values are kept only for columns named like ids, keys or hashes
(``id``, ``*_id``, ``*_key``, ``*_sha256``) or for expectations with
``meta={"sample_values": True}``; other columns get counts only. A value of a
``*_sha256`` column that is not a hex digest (a clear value someone forgot to
hash) is shown as its length and a digest prefix, never as itself. These
functions read GX result objects by attribute and never import GX.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

SAMPLE_SIZE = 5
MESSAGE_LIMIT = 600
SUMMARY_FAILED_LIMIT = 20
SAFE_SAMPLE_COLUMN = re.compile(r"^(id|.+_id|.+_key|.+_sha256)$")
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
SEVERITIES = ("critical", "warning", "info")
UNEXPECTED_ROWS = "unexpected_rows_expectation"


class QualityGateError(RuntimeError):
    """The gate could not run at all (a suite module is malformed, a suite is listed twice)."""


class QualityGateFailed(RuntimeError):
    """At least one critical expectation failed; ``.result`` holds every check."""

    def __init__(self, result: GateResult, message: str | None = None) -> None:
        self.result = result
        super().__init__(message or result.failure_message())

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for executors that ship exceptions
        return (type(self), (self.result, str(self)))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    """One expectation's verdict on one table (one row of ``ops.validation_runs``)."""

    suite: str
    table_name: str
    check_name: str
    expectation_type: str
    success: bool
    severity: str
    observed: dict[str, Any]
    message: str

    @property
    def blocking(self) -> bool:
        return not self.success and self.severity == "critical"


@dataclass(frozen=True)
class ValidationOutcome:
    """One suite run on one table."""

    suite: str
    table_name: str
    checks: tuple[CheckResult, ...]
    duration_s: float

    @property
    def success(self) -> bool:
        return not any(check.blocking for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.success)


@dataclass(frozen=True)
class GateResult:
    """Every suite of one gate run; ``success`` is False when a critical check failed."""

    run_id: str
    run_at: datetime
    outcomes: tuple[ValidationOutcome, ...]
    duration_s: float
    data_docs: str | None = None
    checks: tuple[CheckResult, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(c for o in self.outcomes for c in o.checks))

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.success)

    @property
    def blocking(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.blocking)

    def summary(self) -> dict[str, Any]:
        """A compact, JSON-ready account of the run (ids, counts and hashes only), for an XCom."""
        failed = self.failed
        return {
            "run_id": self.run_id,
            "run_at": self.run_at.isoformat(),
            "success": self.success,
            "duration_s": round(self.duration_s, 2),
            "checks": len(self.checks),
            "failed": len(failed),
            "blocking": len(self.blocking),
            "suites": [
                {
                    "suite": o.suite,
                    "table": o.table_name,
                    "success": o.success,
                    "checks": len(o.checks),
                    "failed": len(o.failed),
                }
                for o in self.outcomes
            ],
            "failed_checks": [
                {
                    "table": c.table_name,
                    "check": c.check_name,
                    "severity": c.severity,
                    "message": c.message,
                }
                for c in failed[:SUMMARY_FAILED_LIMIT]
            ],
            "data_docs": self.data_docs,
        }

    def failure_message(self) -> str:
        blocking = self.blocking
        lines = [
            f"quality gate failed (run_id={self.run_id}): {len(blocking)} critical check(s) of "
            f"{len(self.checks)} failed:"
        ]
        lines += [f"  - {c.table_name} {c.check_name}: {c.message}" for c in blocking]
        lines.append(
            f"Every check is in ops.validation_runs where run_id = '{self.run_id}'. Fix the data or the "
            "dbt model that builds it and re-run; nothing downstream (the sync) runs until the gate passes."
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- result parsing


def expectation_columns(kwargs: dict[str, Any]) -> tuple[str, ...]:
    if kwargs.get("column"):
        return (str(kwargs["column"]),)
    if kwargs.get("column_list"):
        return tuple(str(c) for c in kwargs["column_list"])
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    return ()


def _samples_allowed(columns: Sequence[str], meta: dict[str, Any]) -> bool:
    if "sample_values" in meta:
        return bool(meta["sample_values"])
    return bool(columns) and all(SAFE_SAMPLE_COLUMN.match(c) for c in columns)


def _safe_value(column: str, value: Any) -> Any:
    """A failing value fit to show: a value of a ``*_sha256`` column that is no hex digest may be the
    clear value someone forgot to hash, so it is replaced by its length and a digest of it."""
    if column.endswith("_sha256") and isinstance(value, str) and value and not _HEX_DIGEST.match(value):
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        return f"<not a hash: {len(value)} chars, sha256 {digest}...>"
    return _jsonable(value)


def _safe_sample(columns: Sequence[str], value: Any) -> Any:
    """Mask one failing value (one column) or tuple/dict of values (several columns)."""
    if isinstance(value, dict):
        return {str(k): _safe_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(columns) > 1:
        return [_safe_value(c, v) for c, v in zip(columns, value, strict=False)]
    return _safe_value(columns[0] if columns else "", value)


def safe_row(row: dict[str, Any], shown: Sequence[str] = ()) -> dict[str, Any]:
    """An unexpected row with only its id/key/hash columns (and the non-PII columns a rule lists
    in ``meta["sample_columns"]``, given as ``shown``), invalid hashes masked."""
    return {
        str(k): _safe_value(str(k), v)
        for k, v in row.items()
        if SAFE_SAMPLE_COLUMN.match(str(k)) or str(k) in shown
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports errors either flat or keyed by metric id; the first error's first line, or None."""
    if not info:
        return None
    if "raised_exception" in info:
        entries = [info]
    else:
        entries = [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "error").strip()
            return (message.splitlines() or ["error"])[0][:300]
    return None


_SAMPLE_KEYS = ("partial_unexpected_list", "unexpected_list")
_DROPPED_KEYS = ("partial_unexpected_index_list", "unexpected_index_list", "unexpected_rows")


def scrub_result(res: Any) -> None:
    """Make a GX expectation result safe to keep (in ``observed`` and in Data Docs), in place.

    Columns cleared for samples keep their failing values, masked where a hash column holds
    something else; other columns keep counts only.
    """
    cfg = res.expectation_config
    result = res.result
    if not result:
        return
    columns = expectation_columns(cfg.kwargs)
    details = result.get("details")
    if isinstance(details, dict):
        for key in _DROPPED_KEYS:
            details.pop(key, None)
    for key in _DROPPED_KEYS:
        result.pop(key, None)
    if not columns:
        return
    if not _samples_allowed(columns, cfg.meta or {}):
        for key in (*_SAMPLE_KEYS, "partial_unexpected_counts", "details"):
            result.pop(key, None)
        if not isinstance(result.get("observed_value"), (int, float, type(None))):
            result.pop("observed_value", None)
        return
    for key in _SAMPLE_KEYS:
        if isinstance(result.get(key), list):
            result[key] = [_safe_sample(columns, v) for v in result[key]]
    if isinstance(result.get("partial_unexpected_counts"), list):
        result["partial_unexpected_counts"] = [
            {**item, "value": _safe_sample(columns, item.get("value"))} if isinstance(item, dict) else item
            for item in result["partial_unexpected_counts"]
        ]
    if "observed_value" in result and not isinstance(result["observed_value"], (int, float, type(None))):
        result["observed_value"] = _safe_sample(columns, result["observed_value"])


def _observed(result: dict[str, Any]) -> dict[str, Any]:
    """Counts and a few failing values from a scrubbed GX result."""
    observed: dict[str, Any] = {}
    for key in ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count"):
        value = result.get(key)
        if value is not None:
            observed[key] = round(value, 4) if isinstance(value, float) else _jsonable(value)
    counts = result.get("partial_unexpected_counts")
    listed = result.get("partial_unexpected_list")
    if counts:
        observed["unexpected_sample"] = _jsonable(counts[:SAMPLE_SIZE])
    elif listed:
        observed["unexpected_sample"] = _jsonable(listed[:SAMPLE_SIZE])
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        observed["mismatched"] = _jsonable(mismatched)
    return observed


def _message(cfg: Any, success: bool, observed: dict[str, Any], error: str | None) -> str:
    if error:
        return f"could not be evaluated: {error}"
    parts: list[str] = []
    if "unexpected_count" in observed:
        total = observed.get("element_count")
        pct = observed.get("unexpected_percent")
        text = f"{observed['unexpected_count']} of {total} rows unexpected"
        if pct:
            text += f" ({pct:.2f}%)"
        parts.append(text)
    elif cfg.type == UNEXPECTED_ROWS and "observed_value" in observed:
        parts.append(f"{observed['observed_value']} unexpected row(s)")
    elif "mismatched" in observed:
        parts.append(f"columns mismatched: {json.dumps(observed['mismatched'], sort_keys=True)}")
    elif "observed_value" in observed:
        bounds = {
            k: cfg.kwargs[k] for k in ("min_value", "max_value", "value") if cfg.kwargs.get(k) is not None
        }
        expected = ", ".join(f"{k}={v}" for k, v in bounds.items())
        parts.append(
            f"observed {observed['observed_value']}" + (f" (expected {expected})" if expected else "")
        )
    sample = observed.get("unexpected_sample") or observed.get("unexpected_rows_sample")
    if sample and not success:
        parts.append("e.g. " + json.dumps(sample, default=str))
    text = "; ".join(parts) or ("passed" if success else "failed")
    if success and parts:
        text = "passed: " + text
    return text[:MESSAGE_LIMIT]


def checks_from_result(
    result: ExpectationSuiteValidationResult,
    suite_name: str,
    table_name: str,
    samples: dict[str, list[dict[str, Any]]],
    order: dict[Any, int],
) -> list[CheckResult]:
    ordered = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    checks: list[CheckResult] = []
    seen: dict[str, int] = {}
    for res in ordered:
        cfg = res.expectation_config
        meta = dict(cfg.meta or {})
        columns = expectation_columns(cfg.kwargs)
        detail = ",".join(columns) or str(meta.get("check") or "")
        name = f"{cfg.type}:{detail}" if detail else cfg.type
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        severity = str(getattr(cfg.severity, "value", cfg.severity) or "critical").lower()
        if severity not in SEVERITIES:
            severity = "critical"
        error = exception_message(res.exception_info)
        observed = _observed(res.result or {})
        if meta.get("check"):
            observed["check"] = meta["check"]
        if error:
            observed["error"] = error
        if cfg.type == UNEXPECTED_ROWS:
            rows = samples.get(cfg.kwargs.get("unexpected_rows_query", ""))
            if rows:
                observed["unexpected_rows_sample"] = rows
        success = bool(res.success) and error is None
        checks.append(
            CheckResult(
                suite=suite_name,
                table_name=table_name,
                check_name=name,
                expectation_type=cfg.type,
                success=success,
                severity=severity,
                observed=observed,
                message=_message(cfg, success, observed, error),
            )
        )
    return checks
