"""Client-side rate limiting, shared by every client of one Bolna account.

Bolna allows 1000 requests per minute per organisation on the SIP trunk endpoints and
answers 429 above that. Every SipTrunk that uses the same API token spends the same
budget, so the limiter belongs to the token, not to a client: ``LimiterRegistry`` hands
out one ``RateLimiter`` per token (keyed by a SHA-256 of it; the token itself is never a
key, a log field or a repr).

The default, 950 per minute with a burst of 20, keeps any 60 s window at or below 970
requests whatever window Bolna counts in: a margin for clock skew and for people using
the same account from the dashboard or scripts, so that a 429 is an anomaly rather than
part of normal operation. When a 429 comes anyway, ``pause()`` holds every user of the
account until the server's ``Retry-After`` (or the backoff), then lets requests through
one interval apart, without a burst.

The algorithm is GCRA (a token bucket kept as one timestamp): each ``acquire()``
reserves the next free slot and sleeps until it, with no lock, so it works across event
loops and keeps callers in arrival order.

Spacing the *sends* is not enough on a busy machine: Bolna counts requests when they
*arrive*, and an event loop that stalls for a few seconds (or a server that queues)
delivers a backlog of requests closer together than they were sent. ``slot()`` adds a
window guard for that: a request is sent only while fewer than ``rate + burst`` requests
are in flight or were answered in the last 60 s. Any request's arrival lies between its
send and its answer, so every 60 s window at the server then holds at most that many of
ours, however they were delayed: the last one sent among them saw all the others in
flight or recently answered. In steady operation the guard never binds (it counts the
same requests as the bucket, plus the few in flight); it binds only after a stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import SecretStr

BOLNA_LIMIT_PER_MINUTE = 1000
DEFAULT_RATE_PER_MINUTE = 950.0
DEFAULT_BURST = 20
WINDOW_SECONDS = 60.0
_EPSILON = 1e-9


class RateLimiter:
    """An async token bucket: ``rate_per_minute`` sustained, ``burst`` at once."""

    def __init__(self, rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
                 burst: int = DEFAULT_BURST, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self._interval = 60.0 / rate_per_minute
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._tat = float("-inf")  # theoretical arrival time of the next request
        self._paused_until = float("-inf")
        self._generation = 0  # bumped by pause(): reservations made before it are void
        self._window_limit = int(rate_per_minute) + burst
        self._in_flight = 0
        self._answered: deque[float] = deque()  # when recent requests were answered

    def __repr__(self) -> str:
        return f"RateLimiter(rate_per_minute={self.rate_per_minute}, burst={self.burst})"

    @property
    def paused_until(self) -> float | None:
        """The clock time until which the account is paused, if it is."""
        return self._paused_until if self._paused_until > self._clock() else None

    def _reserve(self) -> float:
        now = self._clock()
        start = max(self._tat, now)
        self._tat = start + self._interval
        wait = start - self._tolerance - now
        return wait if wait > _EPSILON else 0.0  # float residue is not a wait

    async def acquire(self) -> None:
        """Wait until one more request may be sent, and count it."""
        while True:
            generation = self._generation
            wait = self._reserve()
            if wait <= 0:
                return
            await self._sleep(wait)
            if generation == self._generation:
                return
            # A 429 paused the account while we waited: our slot is void, take a new one.

    def _window_wait(self) -> float:
        """How long until one more request fits the window guard (0: it fits now)."""
        now = self._clock()
        answered = self._answered
        while answered and answered[0] <= now - WINDOW_SECONDS:
            answered.popleft()
        if len(answered) + self._in_flight < self._window_limit:
            return 0.0
        if answered:
            return max(answered[0] + WINDOW_SECONDS - now, _EPSILON)
        return self._interval  # all of the window is in flight: look again shortly

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request's place from before it is sent until it is answered (or
        given up): the bucket's spacing plus the window guard (see the module)."""
        await self.acquire()
        while (wait := self._window_wait()) > 0:
            await self._sleep(wait)
        self._in_flight += 1  # no await between the check and the count
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answered.append(self._clock())

    def pause(self, seconds: float) -> None:
        """Hold every request of this account for ``seconds`` (after a 429).

        A shorter pause than one already in force changes nothing. After the pause the
        bucket starts empty: requests resume one interval apart, not in a burst.
        """
        until = self._clock() + max(0.0, seconds)
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tat = until + self._tolerance
        self._generation += 1


def token_key(token: SecretStr) -> str:
    """A stable key for a token that does not reveal it."""
    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()


class LimiterRegistry:
    """One ``RateLimiter`` per Bolna account (per API token)."""

    def __init__(self, factory: Callable[[], RateLimiter] = RateLimiter) -> None:
        self._factory = factory
        self._limiters: dict[str, RateLimiter] = {}

    def __repr__(self) -> str:
        return f"LimiterRegistry({len(self._limiters)} account(s))"

    def __len__(self) -> int:
        return len(self._limiters)

    def for_token(self, token: SecretStr) -> RateLimiter:
        """The limiter of the account this token belongs to (created on first use)."""
        key = token_key(token)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = self._factory()
        return limiter


SHARED_LIMITERS = LimiterRegistry()
"""The process-wide registry clients use when given no limiter."""
