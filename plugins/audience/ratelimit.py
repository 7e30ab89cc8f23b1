"""A client-side rate limiter, to keep to an API's documented rate before it has to say 429.

``SlidingWindow(limit, window)`` lets through at most ``limit`` calls in any
``window`` seconds, the way LinkedIn (600 calls a minute) and INSEE Melodi (30
a minute) count them: over the trailing window, not per token refill. A call
waits only when the ``limit``-th call before it is less than a window old, so
a long run goes at the full documented rate. (The token bucket this replaces
could never exceed the limit in any window only by holding back to ``limit``
minus its burst per window: a sixth slower, and a run past the burst paced
from its start; README, Benchmark.)

The server stamps a call when it arrives, after the client stamped it when
sending; ``margin`` seconds (default 1) are added to the client's window, so
that a later call arriving faster than an earlier one cannot put ``limit + 1``
calls in the server's window. A 429 is still retried by the callers. The clock
and the sleep are injectable, so tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """Thread-safe; ``acquire()`` blocks (through ``sleep``) until the window has room for a call."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        margin: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"rate limit {limit!r} must be a whole number of calls, at least 1")
        if window <= 0 or margin < 0:
            raise ValueError(
                f"rate limit window {window!r}s must be positive and margin {margin!r}s not negative"
            )
        self.limit = limit
        self.span = float(window) + float(margin)
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque(maxlen=limit)  # when the last `limit` calls were let through
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting, for logs

    def try_acquire(self) -> float:
        """Count a call and return 0 if the window has room; otherwise the seconds until it will."""
        with self._lock:
            now = self._clock()
            if len(self._calls) == self.limit:
                wait = self._calls[0] + self.span - now
                if wait > 0:
                    return wait
            self._calls.append(now)  # the deque is bounded: the oldest call leaves
            return 0.0

    def acquire(self) -> None:
        """Count a call, sleeping first as long as needed."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            self.waited += wait
            self._sleep(wait)
