from __future__ import annotations

import random

import pytest

from audience.retry import GaveUp, RetryPolicy, TransientError, call_with_retry, parse_retry_after


def test_retries_transient_then_succeeds_honouring_retry_after():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("HTTP 429", retry_after=2.0)
        return "ok"

    out = call_with_retry(
        flaky, what="test", classify=lambda e: None, sleep=sleeps.append, rng=random.Random(0)
    )
    assert out == "ok" and len(calls) == 3
    assert all(2.0 <= s <= 2.5 for s in sleeps)


def test_backoff_grows_and_is_jittered():
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    ceilings = [1, 2, 4, 8, 8]
    for attempt, ceiling in enumerate(ceilings, start=1):
        d = policy.delay(attempt, None, rng)
        assert 0 <= d <= ceiling


def test_permanent_error_is_raised_at_once():
    calls = []

    def bad():
        calls.append(1)
        raise ValueError("400 bad request")

    with pytest.raises(ValueError):
        call_with_retry(bad, what="test", classify=lambda e: None, sleep=lambda s: None)
    assert len(calls) == 1


def test_gives_up_with_a_clear_message():
    def down():
        raise ConnectionError("refused")

    with pytest.raises(GaveUp, match="HubSpot contact search: still failing after 3 attempts"):
        call_with_retry(
            down,
            what="HubSpot contact search",
            classify=lambda e: TransientError("connection refused"),
            policy=RetryPolicy(attempts=3),
            sleep=lambda s: None,
        )


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
