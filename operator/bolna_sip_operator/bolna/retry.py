"""When and how long to wait before sending a failed request again.

Exponential backoff with full jitter (sleep a uniform random time in ``[0, cap]``, the
cap doubling each attempt up to ``max_delay``): many reconciles that fail together do
not come back together. A ``Retry-After`` from Bolna is obeyed exactly instead, up to
``max_retry_after`` (60 s: Bolna's limit is counted per minute, so a longer wait is not
about the rate limit). A longer ``Retry-After`` is not slept inside the client: the
error is raised with its ``retry_after`` so the reconciler can requeue the trunk
without holding a worker for minutes.

Which requests may be sent again at all is decided by the client (see ``client.py``):
GET, PATCH and DELETE always; a POST only when Bolna surely did not act on it.

Two temporary errors are never retried in-process: ``AnswerTooLarge`` (the same answer
would come again, and reading it again costs the whole limit each time) and
``DeadlineExceeded`` (an attempt that used the whole deadline is not a blip; five of them
would hold the caller for minutes). They are raised at once and the reconciler requeues
the trunk with its own backoff, reporting why in the meantime.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from .errors import AnswerTooLarge, DeadlineExceeded, TemporaryError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})


def is_idempotent(method: str) -> bool:
    """Whether sending ``method`` twice has the effect of sending it once.

    PATCH is idempotent here because Bolna's PATCH sets fields (and replaces lists) to
    the values sent; it has no increments or appends.
    """
    return method.upper() in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait between tries.

    With the defaults a call that keeps failing is tried 5 times over at most
    0.5 + 1 + 2 + 4 = 7.5 s of backoff (plus the timeouts), short enough for a Kopf
    handler, long enough to ride out a blip. ``sleep`` and ``random`` are there for
    tests.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: Literal["full", "none"] = "full"
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, compare=False, repr=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without a hint."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        if self.jitter == "none":
            return cap
        return cap * self.random()

    def delay_for(self, attempt: int, error: TemporaryError) -> float | None:
        """The wait before the next attempt, or ``None`` when the client should not wait
        in-process (the server asked for longer than ``max_retry_after``, or the error is
        one that an immediate retry would only repeat: see the module's docstring)."""
        if isinstance(error, AnswerTooLarge | DeadlineExceeded):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after
        return self.backoff(attempt)
