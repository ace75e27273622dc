"""One run of a trunk's Bolna work at a time, with requests coalesced.

Three things ask for a trunk to be reconciled: Kopf (create, resume, a spec change,
deletion), a change of a Secret the trunk references, and the drift loop. Kopf
serialises its own handlers per object, but the other two come from elsewhere; they go
through this queue, as do Kopf's, so runs of one trunk never overlap. Requests that
arrive while a run is in progress collapse into one more run, which reads the newest
object from the registry rather than the one the request saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..kube_outage import OUTAGE, is_unreachable
from .objects import TrunkObject
from .outcomes import RetryLater

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: asyncio.Task[None] | None = None
    work: Callable[[], Awaitable[None]] | None = None
    """What the waiting request runs: a full run replaces a waiting drift check."""
    weak: bool = False
    """Whether the waiting request is only a drift check."""


class TrunkRegistry:
    """The newest body of every live trunk object (both kinds) this operator serves, by
    UID."""

    def __init__(self) -> None:
        self._objects: dict[str, TrunkObject] = {}
        self._by_name: dict[tuple[str, str], str] = {}

    def put(self, obj: TrunkObject) -> TrunkObject:
        """Keep the newer of the held and the given object (by generation)."""
        held = self._objects.get(obj.uid)
        if held is None or obj.generation >= held.generation:
            self._objects[obj.uid] = obj
            self._by_name[(obj.namespace, obj.ref)] = obj.uid
            return obj
        return held

    def get(self, uid: str) -> TrunkObject | None:
        """The newest object with that UID."""
        return self._objects.get(uid)

    def named(self, namespace: str, name: str) -> TrunkObject | None:
        """The object with that name (``TrunkObject.ref``: a CarrierTrunk's is
        ``CarrierTrunk/<name>``)."""
        uid = self._by_name.get((namespace, name))
        return self._objects.get(uid) if uid is not None else None

    def remove(self, uid: str) -> None:
        """The object is gone."""
        obj = self._objects.pop(uid, None)
        if obj is not None:
            self._by_name.pop((obj.namespace, obj.ref), None)

    def uids(self) -> list[str]:
        """Every UID, sorted (a stable order for the drift loop)."""
        return sorted(self._objects)


class TrunkQueue:
    """Per-trunk serialisation: ``run`` waits for its turn, ``enqueue`` does not."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    async def run(self, uid: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` when no other work of the trunk runs; return its result."""
        slot = self._slots.setdefault(uid, _Slot())
        async with slot.lock:
            return await work()

    def enqueue(self, uid: str, work: Callable[[], Awaitable[None]], *,
                weak: bool = False) -> None:
        """Run ``work`` soon, in turn; a request already waiting absorbs this one,
        except that a full request takes the place of a ``weak`` one (a drift check
        that finds the trunk stalled does nothing: a retry absorbed into it, a token
        that works again say, would be lost)."""
        slot = self._slots.setdefault(uid, _Slot())
        if slot.pending is not None and not slot.pending.done():
            if slot.weak and not weak:
                slot.work, slot.weak = work, False
            return
        slot.work, slot.weak = work, weak
        slot.pending = asyncio.get_running_loop().create_task(self._later(uid, slot))

    async def _later(self, uid: str, slot: _Slot) -> None:
        async with slot.lock:
            work = slot.work
            slot.pending, slot.work = None, None  # requests from now on need another run
            if work is None:
                return
            try:
                await work()
            except RetryLater as error:
                # Bolna's trouble, already in the trunk's status (and a Warning the
                # first time): a line per trunk per drift round would only be noise.
                log.debug("queued reconcile of %s: %s", uid, error)
            except Exception as error:  # logged: nobody awaits a queued run
                if not is_unreachable(error):
                    log.warning("queued reconcile of %s: %s", uid, error)
                    return
                # The outage is logged once; the run is made again when the API is back.
                log.debug("queued reconcile of %s: %s; again after the outage", uid, error)
                OUTAGE.after_recovery(lambda: self._again(uid, work))

    def _again(self, uid: str, work: Callable[[], Awaitable[None]]) -> None:
        """A run the API outage failed, once the API is back (unless the trunk is gone)."""
        if uid in self._slots:
            self.enqueue(uid, work)

    def forget(self, uid: str) -> None:
        """The trunk is gone; a waiting request is dropped."""
        slot = self._slots.pop(uid, None)
        if slot is not None and slot.pending is not None:
            slot.pending.cancel()

    async def aclose(self) -> None:
        """Cancel waiting requests."""
        pending = [s.pending for s in self._slots.values() if s.pending is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
