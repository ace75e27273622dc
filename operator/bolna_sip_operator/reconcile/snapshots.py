"""One list of Bolna trunks per account per drift interval, shared by every trunk.

The drift loop looks at every trunk each interval. Asking Bolna for each trunk
separately would spend a thousand calls of an account's 1000-a-minute budget every
interval; one list (``GET /sip-trunks/trunks``, or ``GET /trunk/trunks`` for
CarrierTrunks, returns every trunk with its children) answers all of them. Concurrent
looks of one account wait for the same list call.

The list is kept as each trunk's JSON (``bolna.records``), parsed only when one trunk is
looked at: a quiet drift check compares the JSON with what the last full check saw, so
most trunks of a round are never parsed, and 10,000 trunks hold about 13 MB, not 130.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter

from ..bolna.client import parse_record
from ..bolna.records import ListedTrunk
from ..bolna.wire import PhoneNumber, Trunk
from .desired import phone_key


class _Identified(Protocol):
    @property
    def id(self) -> Any: ...


T = TypeVar("T", bound=_Identified)


class _Lister(Protocol):
    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]: ...


FAILURE_MEMORY = 60.0
"""Seconds a first failed list answers for the account's drift checks (at most max_age);
it doubles with each failure in a row, up to ``FAILURE_MEMORY_MAX``."""
FAILURE_MEMORY_MAX = 600.0


def _failure_memory(max_age: float, failures: int) -> float:
    base = min(max_age, FAILURE_MEMORY)
    return float(min(base * 2.0 ** max(failures - 1, 0), max(base, FAILURE_MEMORY_MAX)))


@dataclass
class _Snapshot:
    taken_at: float = 0.0
    trunks: dict[str, bytes] = field(default_factory=dict)
    """Each trunk's record as JSON (``records``): parsed when one trunk is looked at."""
    partial: set[str] = field(default_factory=set)
    """Trunks whose JSON cannot stand for a full look: listed without their children,
    or held as this operator wrote them rather than as Bolna lists them."""
    written: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    """What this operator wrote, with when: kept across a list that was already in
    flight when the write happened (Bolna may have served the list before it)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failure: Exception | None = None
    """The last list's error: the drift checks of the account share it for a while, so
    an outage costs one failed list per ``FAILURE_MEMORY``, not one per trunk."""
    failed_at: float = 0.0
    failures: int = 0
    """Failed lists in a row: the memory of a failure doubles with each."""


NUMBER_PATIENCE = 60.0
"""Seconds a number this operator added counts as present though Bolna does not show it
yet (its own tooling records numbers that appear late)."""


class ListSnapshots(Generic[T]):
    """The latest list of each account's trunks, and how old it is (either API: the
    trunks need only an ``id``).

    Records are kept as JSON and parsed by ``adapter`` one trunk at a time; ``needs``
    names the fields a listed record must carry for a full look (its children), and
    ``source`` names the list in the error of a record that cannot be parsed.
    """

    def __init__(self, adapter: TypeAdapter[T], source: str, *,
                 needs: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._adapter = adapter
        self._source = source
        self._needs = needs
        self._clock = clock
        self._accounts: dict[str, _Snapshot] = {}
        self.lists = 0
        """List calls made, for benchmarks and tests."""

    async def trunk(self, account: str, bolna: _Lister, trunk_id: str, max_age: float
                    ) -> T | None:
        """The trunk as Bolna listed it at most ``max_age`` seconds ago; None if absent."""
        record = (await self._fresh(account, bolna, max_age)).trunks.get(trunk_id)
        return None if record is None else self.parse(record)

    def parse(self, record: bytes) -> T:
        """A record of the list (``record``) as the model; ``UnexpectedResponse`` if it
        is not as documented."""
        return parse_record(self._adapter, record, self._source)

    def canonical(self, trunk: T) -> bytes:
        """The model's own JSON: equal models, equal bytes, whatever form Bolna sent."""
        return self._adapter.dump_json(trunk)

    async def record(self, account: str, bolna: _Lister, trunk_id: str, max_age: float
                     ) -> bytes | None:
        """The trunk's JSON as Bolna listed it at most ``max_age`` seconds ago, if it is
        listed complete: equal JSON is an equal trunk. None otherwise."""
        snapshot = await self._fresh(account, bolna, max_age)
        return None if trunk_id in snapshot.partial else snapshot.trunks.get(trunk_id)

    async def _fresh(self, account: str, bolna: _Lister, max_age: float) -> _Snapshot:
        """The account's snapshot, listed again if older than ``max_age``."""
        snapshot = self._accounts.setdefault(account, _Snapshot())
        async with snapshot.lock:
            if snapshot.failure is not None and self._clock() - snapshot.failed_at < (
                    _failure_memory(max_age, snapshot.failures)):
                raise snapshot.failure  # Bolna failed moments ago: do not ask again
            if self._clock() - snapshot.taken_at > max_age or not snapshot.taken_at:
                asked_at = self._clock()
                self.lists += 1
                try:
                    # One attempt: the drift loop comes back; no burst per look.
                    listed = await bolna.list_trunk_records(needs=self._needs,
                                                            retry=False)
                except Exception as error:
                    snapshot.failure, snapshot.failed_at = error, self._clock()
                    snapshot.failures += 1
                    raise
                snapshot.failure, snapshot.failures = None, 0
                snapshot.trunks, snapshot.partial = {}, set()
                for trunk in listed:
                    snapshot.trunks[trunk.id] = trunk.record
                    if not trunk.complete:
                        snapshot.partial.add(trunk.id)
                del listed
                snapshot.written = {key: entry for key, entry in snapshot.written.items()
                                    if entry[0] >= asked_at}
                for key, (_, record) in snapshot.written.items():
                    snapshot.trunks[key] = record
                    snapshot.partial.add(key)
                snapshot.taken_at = self._clock()
        return snapshot

    def remember(self, account: str, trunk: T) -> None:
        """Keep the snapshot current with what this operator just wrote."""
        snapshot = self._accounts.setdefault(account, _Snapshot())
        key = str(trunk.id)
        record = self.canonical(trunk)
        snapshot.written[key] = (self._clock(), record)
        if snapshot.taken_at:
            snapshot.trunks[key] = record
            snapshot.partial.add(key)

    def forget(self, account: str, trunk_id: str) -> None:
        """Drop a trunk this operator deleted."""
        snapshot = self._accounts.get(account)
        if snapshot is not None:
            snapshot.trunks.pop(trunk_id, None)
            snapshot.partial.discard(trunk_id)
            snapshot.written.pop(trunk_id, None)


class AccountSnapshots(ListSnapshots[Trunk]):
    """The legacy API's lists, plus the numbers this operator added moments ago (the
    legacy API may list a number only a while after it was added)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(TypeAdapter(Trunk), "GET /sip-trunks/trunks",
                         needs=("phone_numbers",), clock=clock)
        self._added: dict[tuple[str, str], dict[str, tuple[float, PhoneNumber | None]]] = {}
        """(account, trunk ID) -> numbers this operator added, by phone_key, with when
        (and Bolna's answer for the number, when it gave one)."""

    def remember_numbers(self, account: str, trunk_id: str,
                         added: list[PhoneNumber | str]) -> None:
        """Numbers Bolna confirmed adding (its answer, or only the number, as for those
        of a create body): present, whether or not it lists them yet."""
        if not added:
            return
        held = self._added.setdefault((account, trunk_id), {})
        for number in added:
            if isinstance(number, str):
                held.setdefault(phone_key(number), (self._clock(), None))
            else:
                held[phone_key(number.phone_number)] = (self._clock(), number)

    def holds_numbers(self, account: str, trunk_id: str) -> bool:
        """Whether numbers this operator added to the trunk are still held (so what
        Bolna lists is not the whole answer)."""
        return bool(self._added.get((account, trunk_id)))

    def pending_numbers(self, account: str, trunk: Trunk) -> set[str]:
        """Keys (``phone_key``) of numbers added moments ago that Bolna does not show."""
        held = self._added.get((account, trunk.id)) or {}
        shown = {phone_key(n.phone_number) for n in trunk.phone_numbers or ()
                 if not n.deleted}
        now = self._clock()
        return {key for key, (added_at, _) in held.items()
                if key not in shown and now - added_at <= NUMBER_PATIENCE}

    def with_recent_numbers(self, account: str, trunk: Trunk) -> Trunk:
        """The trunk with the numbers this operator added moments ago put back, if
        Bolna's answer does not show them yet; a number once shown is forgotten."""
        held = self._added.get((account, trunk.id))
        if not held or trunk.phone_numbers is None:
            return trunk
        shown = {phone_key(n.phone_number) for n in trunk.phone_numbers if not n.deleted}
        now = self._clock()
        late = []
        for key, (added_at, number) in list(held.items()):
            if key in shown or now - added_at > NUMBER_PATIENCE:
                del held[key]
            elif number is not None:
                late.append(number)
        if not held:
            self._added.pop((account, trunk.id), None)
        if not late:
            return trunk
        return trunk.model_copy(update={"phone_numbers": [*trunk.phone_numbers, *late]})
