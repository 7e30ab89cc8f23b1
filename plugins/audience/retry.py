"""Retries with exponential back-off and full jitter, honouring ``Retry-After``.

Shared by every source and destination: a call is retried when the error is
classified as transient (rate limit, 5xx, connection reset); anything else is
raised at once. A source that stays down fails with a message naming the
source and the last status, never a payload.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TransientError(Exception):
    """An error worth retrying; ``retry_after`` (seconds) when the server said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class GaveUp(RuntimeError):
    """Retries exhausted: the remote service stayed unavailable."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    # cap on a server-supplied Retry-After, so a misbehaving server cannot park a task for hours
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after) + rng.uniform(0, self.base_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    classify: Callable[[BaseException], TransientError | None],
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, TransientError], None] | None = None,
) -> T:
    """Call ``fn``; on an error that ``classify`` deems transient, wait and try again.

    ``what`` names the call in messages (e.g. "HubSpot contact search"); it must not hold PII.
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            transient = exc if isinstance(exc, TransientError) else classify(exc)
            if transient is None:
                raise
            if attempt >= policy.attempts:
                raise GaveUp(
                    f"{what}: still failing after {attempt} attempts ({transient}); "
                    "the service looks down or is rate limiting hard — try again later"
                ) from exc
            wait = policy.delay(attempt, transient.retry_after, rng)
            log.warning(
                "%s: transient error (%s), retry %d/%d in %.1fs",
                what,
                transient,
                attempt,
                policy.attempts - 1,
                wait,
            )
            if on_retry:
                on_retry(attempt, transient)
            sleep(wait)
