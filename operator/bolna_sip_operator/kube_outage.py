"""The Kubernetes API going away and coming back: one log line each, never a traceback.

While the kube-apiserver is down (an upgrade, a restart, a network split) every call the
operator makes to it fails: each handler, each queued reconcile, each status write, each
Event and each loop of the SIP edge. Left alone, each failure escapes as a traceback
(Kopf logs one per handler, per attempt), dozens for a short outage, and they hide the
one fact worth knowing: the API is unreachable.

So one process-wide ``KubeOutage`` is told of every call to the API
(``ObservedKubeApi``, the operator's transport) and of Kopf's own failed attempts (a
filter on the log handler, ``KopfRequestFilter``). It logs one WARNING when calls start
failing and one INFO when one succeeds again, and probes the API (``GET /version``,
every few seconds) meanwhile, so the INFO line comes even when nothing else asks. The
callers treat such a failure as temporary: Kopf's handlers retry it (``kopf.TemporaryError``,
logged at DEBUG), a queued reconcile and an Event are tried again once the API is back
(``after_recovery``), the loops simply try again on their next round. Status is written
by the retried reconcile, so once the API is back every trunk says what is true.

A call that began during an outage and fails after it ended does not open another one:
only calls started since the recovery count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from .kube_api import ApiError, Json, KubeApi

log = logging.getLogger(__name__)

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
"""Answers of an apiserver that cannot serve now (a proxy before it failing, etcd away,
a timeout). Not 500: a failing webhook answers it for one object, again and again."""
PROBE_INTERVAL = 2.0
RETRY_DELAY = 10.0
"""Seconds before Kopf runs a handler again that failed on an unreachable API."""
MARKER = "the Kubernetes API is unreachable"
"""Starts the warning, and the message of every handler retry it causes."""


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the Kubernetes API could not be reached or could not serve
    (as opposed to an answer that refuses: those are the caller's to handle)."""
    if isinstance(error, ApiError):
        return error.status in UNAVAILABLE_STATUSES
    return isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError
                      | TimeoutError)


def describe(error: BaseException) -> str:
    """The error in a few words, for the one warning (never a body: the status only)."""
    if isinstance(error, ApiError):
        return f"HTTP {error.status} {error.reason}".strip()
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class KubeOutage:
    """Whether the API is reachable, from what the calls to it meet."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        self._clock = clock
        self._log = logger
        self.down = False
        self.since = 0.0
        self.back_at = float("-inf")
        self.failures = 0
        """Calls that failed during the current (or last) outage."""
        self.outages = 0
        self._after: list[Callable[[], None]] = []
        self._prober: Callable[[], None] | None = None

    def now(self) -> float:
        """The clock calls are timed with (``started`` of ``failed`` and ``succeeded``)."""
        return self._clock()

    def failed(self, error: BaseException | str, *, started: float | None = None) -> bool:
        """A call (started at ``started``, None: just now) met an unreachable API.
        Returns whether this opened an outage (and logged it)."""
        if self.down:
            self.failures += 1
            return False
        if started is not None and started < self.back_at:
            return False  # began during the last outage: no news
        self.down, self.since, self.failures = True, self._clock(), 1
        self.outages += 1
        what = error if isinstance(error, str) else describe(error)
        self._log.warning("%s (%s); retrying", MARKER, what)
        if self._prober is not None:
            self._prober()
        return True

    def succeeded(self, *, started: float) -> None:
        """A call started at ``started`` got an answer: if it began during an outage,
        the API is back."""
        if not self.down or started < self.since:
            return
        self.down, self.back_at = False, self._clock()
        self._log.info("the Kubernetes API is reachable again after %.0f s (%d failed "
                       "call(s) meanwhile)", self.back_at - self.since, self.failures)
        after, self._after = self._after, []
        for callback in after:
            try:
                callback()
            except Exception:  # one caller's trouble must not stop the others'
                self._log.warning("after the Kubernetes API outage", exc_info=True)

    def after_recovery(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the API is back (at once if it is not down)."""
        if self.down:
            self._after.append(callback)
        else:
            callback()

    def probe_with(self, prober: Callable[[], None] | None) -> None:
        """``prober`` is called when an outage opens: it looks at the API until it
        answers (``ObservedKubeApi``)."""
        self._prober = prober


OUTAGE = KubeOutage()
"""The operator's one view of its apiserver."""


class ObservedKubeApi(KubeApi):
    """``KubeApi`` that tells ``outage`` how each call went, and probes the API while
    it is down."""

    def __init__(self, *args: Any, outage: KubeOutage = OUTAGE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = outage
        self._probe: asyncio.Task[None] | None = None
        outage.probe_with(self._start_probe)

    async def request(self, *args: Any, **kwargs: Any) -> Json:
        started = self.outage.now()
        try:
            answer = await super().request(*args, **kwargs)
        except Exception as error:
            self._observed(error, started)
            raise
        self.outage.succeeded(started=started)
        return answer

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[Json]:
        started = self.outage.now()
        answered = False
        try:
            async for event in super().watch(*args, **kwargs):
                if not answered:
                    answered = True
                    self.outage.succeeded(started=started)
                yield event
        except Exception as error:
            self._observed(error, started)
            raise

    def _observed(self, error: BaseException, started: float) -> None:
        if is_unreachable(error):
            self.outage.failed(error, started=started)
        elif isinstance(error, ApiError):
            self.outage.succeeded(started=started)  # an answer, if a refusal

    def _start_probe(self) -> None:
        if self._probe is not None and not self._probe.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to probe with
            self._probe = asyncio.get_running_loop().create_task(self._probing())

    async def _probing(self) -> None:
        """Until the API answers: ``GET /version`` every few seconds (any authenticated
        user may read it)."""
        while self.outage.down:
            await asyncio.sleep(PROBE_INTERVAL)
            with contextlib.suppress(Exception):  # told to the outage by ``request``
                await self.request("GET", "/version")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
            self._probe = None
        await super().close()


_KOPF_RETRY = re.compile(r"^Request attempt #\d+(?:/\d+)? failed; will retry: (?P<what>.*)$",
                         re.DOTALL)
_UNREACHABLE_NAMES = ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError",
                      "ServerTimeoutError", "TimeoutError", "ConnectionTimeoutError",
                      "SocketTimeoutError", "ClientConnectionResetError",
                      "ClientPayloadError")


class KopfRequestFilter(logging.Filter):
    """Kopf's own calls to an unreachable API, and the handler retries they cause: told
    to ``outage`` (which logs the outage once) and kept out of the log unless DEBUG.

    Kopf logs each failed attempt of each of its requests at ERROR ("Request attempt
    #2/9 failed; will retry: ..."), and each handler that failed temporarily; both are
    noise while the outage is logged once. What Kopf gives up on ("escalating") is kept.
    """

    def __init__(self, outage: KubeOutage = OUTAGE) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf") or record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        retry = _KOPF_RETRY.match(message)
        if retry is not None and any(name in message for name in _UNREACHABLE_NAMES):
            self.outage.failed(f"Kopf: {retry['what'][:300]}")
            return self._demoted(record)
        if MARKER in message and "failed temporarily" in message:
            return self._demoted(record)
        return True

    @staticmethod
    def _demoted(record: logging.LogRecord) -> bool:
        """The record as DEBUG: shown only when the operator logs at DEBUG."""
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def install_log_filter(outage: KubeOutage = OUTAGE) -> None:
    """Put ``KopfRequestFilter`` on every handler of the root logger (Kopf's own
    included: ``kopf.configure`` adds it there)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, KopfRequestFilter) for f in handler.filters):
            handler.addFilter(KopfRequestFilter(outage))
