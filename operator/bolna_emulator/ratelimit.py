"""The per-account rate limit: a sliding window over accepted requests.

Bolna allows 1000 requests per minute per organisation on these endpoints and answers
429 beyond. A sliding window (rather than fixed minutes) has no boundary at which a
client may briefly send twice the limit, so a client that passes here passes there.
Refused requests are not counted: a client that keeps retrying is let in again as soon
as the oldest accepted request leaves the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` accepted requests per key in any ``window`` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}

    def acquire(self, key: str, limit: int, window: float) -> float | None:
        """Count one request for ``key``; None if it is allowed, else the seconds until
        the next one would be."""
        now = self._clock()
        accepted = self._accepted.setdefault(key, deque())
        while accepted and accepted[0] <= now - window:
            accepted.popleft()
        if len(accepted) >= limit:
            return accepted[len(accepted) - limit] + window - now
        accepted.append(now)
        return None

    def clear(self) -> None:
        self._accepted.clear()
