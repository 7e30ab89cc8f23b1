"""Turning GX results into PII-safe checks: pure functions, no database, no GX import."""

from __future__ import annotations

from types import SimpleNamespace

from audience.quality import checks


def test_exception_info_in_both_gx_shapes() -> None:
    assert checks.exception_message({"raised_exception": False, "exception_message": None}) is None
    assert checks.exception_message({"raised_exception": True, "exception_message": "boom\nmore"}) == "boom"
    nested = {"MetricConfigurationID(x)": {"raised_exception": True, "exception_message": "relation missing"}}
    assert checks.exception_message(nested) == "relation missing"
    assert checks.exception_message(None) is None


def _fake_result(kwargs: dict, result: dict, meta: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(expectation_config=SimpleNamespace(kwargs=kwargs, meta=meta or {}), result=result)


def test_scrub_keeps_hashes_masks_clear_values_and_drops_unsafe_columns() -> None:
    digest = "a" * 64
    res = _fake_result(
        {"column": "email_sha256"},
        {"partial_unexpected_list": [digest.upper(), "jane@x.example"], "unexpected_count": 2},
    )
    checks.scrub_result(res)
    kept, masked = res.result["partial_unexpected_list"]
    assert kept == digest.upper()
    assert masked.startswith("<not a hash: 14 chars") and "jane" not in masked

    res = _fake_result(
        {"column": "email"},
        {
            "observed_value": "jane@x.example",
            "partial_unexpected_list": ["jane@x.example"],
            "partial_unexpected_counts": [{"value": "jane@x.example", "count": 1}],
            "unexpected_count": 1,
        },
    )
    checks.scrub_result(res)
    assert res.result == {"unexpected_count": 1}

    res = _fake_result({"column": "email"}, {"partial_unexpected_list": ["x"]}, meta={"sample_values": True})
    checks.scrub_result(res)
    assert res.result["partial_unexpected_list"] == ["x"]
