"""A client-side token bucket, to keep to an API's documented rate before it has to say 429.

``TokenBucket(capacity, per_second)`` holds at most ``capacity`` tokens and
gains ``per_second`` tokens a second; :meth:`TokenBucket.acquire` takes one,
sleeping until one is there. In any window of ``W`` seconds it lets through at
most ``capacity + per_second × W`` calls, so :meth:`TokenBucket.per_window`
builds a bucket that never exceeds "``limit`` calls per ``window`` seconds"
however the calls are spread (INSEE Melodi: 30 per minute). The clock and the
sleep are injectable, so tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """Thread-safe token bucket; ``acquire()`` blocks (through ``sleep``) until a token is free."""

    def __init__(
        self,
        capacity: float,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"token bucket capacity {capacity!r} must be at least 1")
        if per_second <= 0:
            raise ValueError(f"token bucket refill rate {per_second!r} must be positive")
        self.capacity = float(capacity)
        self.per_second = float(per_second)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting, for logs

    @classmethod
    def per_window(
        cls,
        limit: int,
        window: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> TokenBucket:
        """A bucket that lets through at most ``limit`` calls in any ``window`` seconds.

        ``burst`` calls may go at once (default: a sixth of the limit, at least 1);
        the rest of the window's allowance refills evenly.
        """
        if limit < 1 or window <= 0:
            raise ValueError(
                f"rate limit {limit!r} per {window!r}s must be at least 1 call in a positive window"
            )
        burst = max(1, limit // 6) if burst is None else burst
        if not 1 <= burst <= limit:
            raise ValueError(f"burst {burst!r} must be between 1 and the limit {limit}")
        if burst == limit:
            # the whole allowance at once would leave nothing to refill within the window
            burst = max(1, limit - 1)
        return cls(burst, (limit - burst) / window, clock=clock, sleep=sleep)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.per_second)
        self._last = now

    def try_acquire(self) -> float:
        """Take a token if one is there and return 0; otherwise return the seconds until one will be."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0 - _EPSILON:  # tolerate float drift, or a refill could never quite arrive
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return (1.0 - self._tokens) / self.per_second

    def acquire(self) -> None:
        """Take a token, sleeping as long as needed."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            self.waited += wait
            self._sleep(wait)
