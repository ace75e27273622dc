"""The operator's own Kubernetes Events: named after the operator, and folded when repeated.

``kopf.event`` posts every call as a new Event from component ``kopf``; a reconcile that
retries posts the same warning every few seconds, and ``kubectl describe`` fills with
copies. ``EventRecorder`` posts them itself, as ``bolna-sip-operator`` and the pod's name,
and folds a repeat into the Event already posted, as client-go's recorder does: one Event
that says "x30 over 4m" instead of thirty.

The API is core/v1 (``/api/v1/namespaces/<ns>/events``), not events.k8s.io/v1. Both
store the same objects and ``kubectl describe`` shows both, but:

- in events.k8s.io/v1 a repeat can only update ``series``; the ``count`` and
  ``lastTimestamp`` that event exporters, dashboards and older kubectl read are
  immutable there (``deprecatedCount``), so they would stay at 1 and the first time;
- core/v1 updates ``count`` and ``lastTimestamp``, which every reader understands, and it
  still carries ``reportingComponent`` and ``reportingInstance`` beside ``source``;
- it is the API Kopf used, so the chart's RBAC and what users already watch stay the
  same (``kubectl get events --field-selector involvedObject.name=...``).

The logic that decides (``EventAggregator``) is pure: it takes the clock as arguments
and does no I/O. ``EventRecorder`` does the writes, on the running event loop, and never
raises into or blocks the handler that posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .kube_outage import OUTAGE, is_unreachable

COMPONENT = "bolna-sip-operator"
"""``source.component``, ``reportingComponent`` (reportingController) of every Event."""

MESSAGE_LIMIT = 1024
"""At most this many bytes (so characters) of a message: events.k8s.io's limit, which
core/v1 does not enforce, but a longer message is a log, not an Event."""
REASON_LIMIT = 128
"""The apiserver's limit on ``reason`` and on ``reportingInstance``."""
NAME_LIMIT = 253
"""An object name's limit: ``<object name>.<16 hex digits>`` must fit."""
_ELLIPSIS = "..."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about (``involvedObject``); namespace "" if cluster-scoped."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ObjectRef:
        """The reference to an object as Kopf or the apiserver hands it over."""
        meta = body.get("metadata") or {}
        return cls(api_version=str(body.get("apiVersion", "")), kind=str(body.get("kind", "")),
                   namespace=str(meta.get("namespace") or ""), name=str(meta.get("name", "")),
                   uid=str(meta.get("uid", "")))


EventKey = tuple[str, str, str, str]
"""(involved object uid, type, reason, message): what makes two Events the same Event."""


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (so characters), "..." marking a cut.

    Bytes rather than characters because that is what the apiserver counts; a cut never
    splits a character.
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(_ELLIPSIS)
    return encoded[:room].decode("utf-8", "ignore") + _ELLIPSIS


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, as core/v1 Events store their times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(eq=False)
class Series:
    """One Event as this process knows it: what was observed, and what the apiserver has.

    Compared by identity: a series that expired and one started later for the same key
    are different Events.
    """

    ref: ObjectRef
    type: str
    reason: str
    message: str
    name: str
    """The Event object's name, ``<object name>.<hex>``."""
    first_seen: datetime
    last_seen: datetime
    last_seen_at: float
    """Monotonic time of the last observation (expiry)."""
    count: int = 1
    """Observations so far."""
    written: int = 0
    """The count the apiserver holds; 0 until the Event is created."""
    attempted_at: float | None = None
    """Monotonic time of the last write attempt, successful or not (coalescing)."""

    @property
    def key(self) -> EventKey:
        return (self.ref.uid, self.type, self.reason, self.message)

    @property
    def pending(self) -> bool:
        """Observations the apiserver has not seen yet."""
        return self.count > self.written

    def write_at(self, min_interval: float) -> float:
        """The monotonic time from which the next write may go: at once for the first
        one, else ``min_interval`` after the last attempt (so a burst, or an apiserver
        that keeps failing, costs one call per interval, not one per observation)."""
        if self.attempted_at is None:
            return float("-inf")
        return self.attempted_at + min_interval


class EventAggregator:
    """Which observations are repeats of which Event: pure, the clock comes as arguments.

    A repeat is the same (object uid, type, reason, message) within ``window`` seconds of
    its last sighting. Memory is bounded twice: series silent for longer than the window
    are forgotten, and beyond ``max_entries`` the least recently seen is forgotten (a
    forgotten series' next repeat starts a new Event, which is what a reader wants after
    ten quiet minutes anyway).
    """

    def __init__(self, *, window: float = 600.0, max_entries: int = 4096) -> None:
        if window <= 0 or max_entries < 1:
            raise ValueError("window must be positive and max_entries at least 1")
        self.window = window
        self.max_entries = max_entries
        self._series: OrderedDict[EventKey, Series] = OrderedDict()
        """Least recently seen first."""
        self._last_stamp = 0

    def __len__(self) -> int:
        return len(self._series)

    def __iter__(self) -> Iterator[Series]:
        return iter(list(self._series.values()))

    def observe(self, ref: ObjectRef, type_: str, reason: str, message: str, *,
                now: float, wall: datetime) -> Series:
        """Count one observation; the series it belongs to, new or continued.

        ``reason`` and ``message`` should already be capped (``EventRecorder`` does), so
        that what is compared is what is posted.
        """
        self.expire(now)
        key = (ref.uid, type_, reason, message)
        series = self._series.get(key)
        if series is not None:
            series.count += 1
            series.last_seen, series.last_seen_at = wall, now
            self._series.move_to_end(key)
            return series
        series = Series(ref=ref, type=type_, reason=reason, message=message,
                        name=self.event_name(ref, wall), first_seen=wall, last_seen=wall,
                        last_seen_at=now)
        self._series[key] = series
        while len(self._series) > self.max_entries:
            self._series.popitem(last=False)
        return series

    def expire(self, now: float) -> None:
        """Forget the series not seen within the window."""
        while self._series:
            oldest = next(iter(self._series.values()))
            if now - oldest.last_seen_at < self.window:
                return
            self._series.popitem(last=False)

    def renamed(self, series: Series, wall: datetime) -> None:
        """Give a series a fresh Event name and nothing written: its Event is gone or its
        name was taken, so the next write creates one."""
        series.name = self.event_name(series.ref, wall)
        series.written = 0

    def event_name(self, ref: ObjectRef, wall: datetime) -> str:
        """``<object name>.<hex nanoseconds>``, as client-go names Events; strictly
        increasing in this process, so two series never share a name."""
        nanos = (wall - _EPOCH) // timedelta(microseconds=1) * 1000
        stamp = max(nanos, self._last_stamp + 1)
        self._last_stamp = stamp
        suffix = f".{stamp:x}"
        prefix = ref.name[:NAME_LIMIT - len(suffix)].rstrip(".-")
        return prefix + suffix


def event_body(series: Series, count: int, *, component: str, instance: str
               ) -> dict[str, Any]:
    """The core/v1 Event for a series, ``count`` observations so far."""
    ref = series.ref
    involved = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name,
                "uid": ref.uid}
    if ref.namespace:
        involved["namespace"] = ref.namespace
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": series.name, "namespace": event_namespace(ref)},
        "involvedObject": involved,
        "type": series.type,
        "reason": series.reason,
        "message": series.message,
        "count": count,
        "firstTimestamp": timestamp(series.first_seen),
        "lastTimestamp": timestamp(series.last_seen),
        # kubectl describe's "From" column reads source.component first.
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
    }


def event_namespace(ref: ObjectRef) -> str:
    """An Event lives in its object's namespace; a cluster-scoped object's in "default"
    (the apiserver's rule for core/v1 Events)."""
    return ref.namespace or "default"


def default_instance() -> str:
    """``reportingInstance``: the pod's name (``POD_NAME``, from the downward API), else
    the host name (the pod's name too, unless the pod sets another)."""
    return cap_text(os.environ.get("POD_NAME") or socket.gethostname(), REASON_LIMIT)


class EventWriter(Protocol):
    """The two writes the recorder needs (``kube.Kube`` has them)."""

    async def create_event(self, namespace: str, event: dict[str, Any]) -> bool:
        """Create; False when the name is taken."""
        ...

    async def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Merge-patch; False when the Event is gone."""
        ...


class EventRecorder:
    """Posts Events without ever blocking or failing the caller; folds repeats.

    ``post`` counts the observation and returns at once; a task per series (at most one
    at a time, so a create is never overtaken by its own update) writes the count: the
    first observation at once, later ones at most once per ``min_interval``, always
    ending with the latest count. A failed write is logged at WARNING (status only: the
    apiserver's error body would echo the Event) and retried by the next repeat or by
    ``aclose``. ``aclose`` writes whatever is still pending, without waiting out the
    intervals.
    """

    def __init__(self, kube: EventWriter, *, component: str = COMPONENT,
                 instance: str | None = None, window: float = 600.0,
                 min_interval: float = 5.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._kube = kube
        self.component = component
        self.instance = cap_text(instance, REASON_LIMIT) if instance else default_instance()
        self.min_interval = min_interval
        self._aggregator = EventAggregator(window=window, max_entries=max_entries)
        self._clock, self._wall_clock = clock, wall_clock
        self._pumps: dict[Series, asyncio.Task[None]] = {}
        self._closing = asyncio.Event()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the writes run on: the first one seen (Kopf's), for posts from
        threads (Kopf runs synchronous handlers in a thread pool)."""
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self.calls = 0
        """API calls made (creates and patches, failed ones too): for tests and metrics."""

    def post(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Record an Event on ``ref`` (``type_`` "Normal" or "Warning"); returns at once.

        Safe from any thread: a post from outside the event loop (a synchronous Kopf
        handler's thread) is handed to the loop the recorder was created or first used
        on. With no loop at all, or after ``aclose``, the Event is dropped and logged.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None and self._loop.is_running() and not self._closed:
                with contextlib.suppress(RuntimeError):  # the loop closed just now
                    self._loop.call_soon_threadsafe(self.post, ref, type_, reason, message)
                    return
            log.warning("Event %s on %s %s/%s dropped: no running event loop",
                        reason, ref.kind, ref.namespace, ref.name)
            return
        if self._loop is None:
            self._loop = loop
        if self._closed:
            log.debug("Event %s on %s %s/%s dropped: the recorder is closed",
                      reason, ref.kind, ref.namespace, ref.name)
            return
        try:
            series = self._aggregator.observe(
                ref, type_, cap_text(reason, REASON_LIMIT), cap_text(message, MESSAGE_LIMIT),
                now=self._clock(), wall=self._wall_clock())
            self._start(series, loop)
        except Exception:  # a bug here must not fail the handler that posts
            log.warning("Event %s on %s %s/%s dropped", reason, ref.kind, ref.namespace,
                        ref.name, exc_info=True)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Write what is pending (now, not after the intervals); then drop later posts.

        Writes still unfinished after ``timeout`` seconds are cancelled and logged.
        """
        self._closed = True
        self._closing.set()
        loop = asyncio.get_running_loop()
        for series in self._aggregator:
            if series.pending:  # e.g. the last write failed and no repeat came since
                self._start(series, loop)
        tasks = set(self._pumps.values())
        if not tasks:
            return
        _, unfinished = await asyncio.wait(tasks, timeout=timeout)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("%d Event(s) not written within %.0fs of shutdown", len(unfinished),
                        timeout)

    def _resume(self, series: Series) -> None:
        """Write a series an outage of the API held back (unless closed meanwhile: then
        ``aclose`` wrote it, or gave up)."""
        if series.pending and not self._closed and self._loop is not None:
            self._start(series, self._loop)

    def _start(self, series: Series, loop: asyncio.AbstractEventLoop) -> None:
        """Start the series' writer unless it runs (the running one writes the new count
        too: it loops until nothing is pending)."""
        if series not in self._pumps:
            self._pumps[series] = loop.create_task(self._pump(series))

    async def _pump(self, series: Series) -> None:
        try:
            while series.pending:
                delay = series.write_at(self.min_interval) - self._clock()
                if delay > 0 and not self._closing.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                if not await self._write(series):
                    return  # logged; the next repeat or aclose tries again
        finally:
            # No await between the last ``pending`` check and here: a post cannot slip
            # in between and find a writer that is about to end.
            self._pumps.pop(series, None)

    async def _write(self, series: Series) -> bool:
        """One create or update with the current count; False if it failed (logged)."""
        count = series.count
        namespace = event_namespace(series.ref)
        series.attempted_at = self._clock()
        try:
            if series.written:
                self.calls += 1
                patch = {"count": count, "lastTimestamp": timestamp(series.last_seen)}
                if await self._kube.patch_event(namespace, series.name, patch):
                    series.written = count
                    return True
                # Gone (deleted, or outlived the apiserver's event TTL): a new one.
                self._aggregator.renamed(series, self._wall_clock())
            for _ in range(2):  # a taken name (another replica's, in a race) gets one more
                self.calls += 1
                body = event_body(series, count, component=self.component,
                                  instance=self.instance)
                if await self._kube.create_event(namespace, body):
                    series.written = count
                    return True
                self._aggregator.renamed(series, self._wall_clock())
            raise RuntimeError("the Event name was taken twice")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_unreachable(error):
                # The outage is logged once; the Event is written once the API is back.
                log.debug("Event %s on %s %s/%s waits for the Kubernetes API: %s",
                          series.reason, series.ref.kind, series.ref.namespace,
                          series.ref.name, _describe(error))
                OUTAGE.after_recovery(lambda: self._resume(series))
                return False
            log.warning("could not write Event %s (%s) on %s %s/%s: %s", series.reason,
                        series.type, series.ref.kind, series.ref.namespace, series.ref.name,
                        _describe(error))
            return False


def _describe(error: Exception) -> str:
    """An error in a few words. For an API error, its status only: the apiserver's
    answer (``str()`` of the exception) can echo the Event it refused."""
    status = getattr(error, "status", None)
    if status is not None:
        return f"{type(error).__name__} HTTP {status} {getattr(error, 'reason', '') or ''}"
    return f"{type(error).__name__}: {error}"
