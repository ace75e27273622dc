"""One list of Bolna trunks per account per drift interval, shared by every trunk.

The drift loop looks at every trunk each interval. Asking Bolna for each trunk
separately would spend a thousand calls of an account's 1000-a-minute budget every
interval; one list (``GET /sip-trunks/trunks``, or ``GET /trunk/trunks`` for
CarrierTrunks, returns every trunk with its children) answers all of them. Concurrent
looks of one account wait for the same list call.

The list is kept as each trunk's JSON (``bolna.records``), parsed only when one trunk is
looked at: a quiet drift check compares the JSON with what the last full check saw, so
most trunks of a round are never parsed, and 10,000 trunks hold about 13 MB, not 130.

A failed list is remembered for the account (``failure_memory``): the looks that come
meanwhile share its error instead of each asking Bolna again. The memory fits the fault:
a 429's ``Retry-After`` exactly (the account is busy, Bolna is not down), else a couple
of seconds doubling with each failure of the list in a row, up to at most the drift
interval, and forgotten after one list that succeeds. The drift loop itself never waits
for a list: ``record_now`` answers from the snapshot as it is, or says that it is stale
(the trunk's check then goes through its queue, which waits for the one list) or that
the list is failing (the check is left for later). A list also answers the look for a
trunk whose create lost its answer (``find_by_name``): every trunk of the account that
looks after the same moment shares one list.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter

from ..bolna.client import parse_record
from ..bolna.errors import RateLimited, TemporaryError
from ..bolna.records import ListedTrunk
from ..bolna.wire import PhoneNumber, Trunk
from .desired import phone_key

log = logging.getLogger(__name__)


class _Identified(Protocol):
    @property
    def id(self) -> Any: ...


T = TypeVar("T", bound=_Identified)


class _Lister(Protocol):
    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]: ...


FAILURE_MEMORY_BASE = 2.0
"""Seconds the first failure of an account's list (not a 429) is shared by the looks
that follow: long enough that the trunks looking in the same moment send one request,
short enough that a passing 5xx or timeout costs a look two seconds, not an interval."""
FAILURE_MEMORY_MAX = 30.0
"""The most a failure is remembered, however long Bolna keeps failing the list (and at
most the list's ``max_age``, the drift interval's 0.9): one failed list per account per
30 s costs 2 of Bolna's 1000 requests a minute, and once Bolna is back the next list is
at most that far away. Ten minutes (what this was) left trunks unchecked, and a look
after a create unanswered, for minutes after a short outage."""


def failure_memory(failures: int, retry_after: float | None, max_age: float) -> float:
    """Seconds a failed list answers for the account's looks.

    ``failures`` is how many lists failed in a row, this one included (a 429 does not
    count: the account is busy, Bolna is up); ``retry_after`` the server's Retry-After,
    which is honoured exactly. Otherwise ``FAILURE_MEMORY_BASE`` doubling with each
    failure in a row, capped at ``FAILURE_MEMORY_MAX`` and at ``max_age``.
    """
    if retry_after is not None:
        return max(0.0, retry_after)
    cap = min(FAILURE_MEMORY_MAX, max(max_age, 0.0))
    return float(min(cap, FAILURE_MEMORY_BASE * 2.0 ** min(max(failures - 1, 0), 32)))


def counts_as_outage(error: BaseException) -> bool:
    """Whether a failed list makes the failure memory grow: not a 429 (a busy account,
    and Bolna says when to come back), anything else temporary."""
    return not isinstance(error, RateLimited)


LAG_MEMORY = 30.0
"""A create not shown by lists this long after it is no longer watched (twice this:
someone deleted it, most likely); the lag it showed stays."""
LAG_PROOF = 3
"""This operator's creates that lists asked after them must have shown, none of them
late, before the account's lists count as keeping up with creates."""


def create_patience(shown: int, lag_seen: float, longest: float, shortest: float) -> float:
    """Seconds a trunk whose create lost its answer is looked for by name before it is
    created again: long enough for Bolna's list to show a create it made.

    How far the list lags behind a create is Bolna's to say, so the account's own lists
    say it: ``longest`` until they have shown ``LAG_PROOF`` of this operator's creates,
    then twice the longest lag they were ever seen to have (``lag_seen``: a list asked
    that long after a create did not show it), at least ``shortest`` (a second look
    after one more list). Against a list that keeps up, a lost create costs seconds,
    not ``longest``; a list seen lagging once puts the patience back up for good.
    """
    if shown < LAG_PROOF:
        return longest
    return min(longest, max(shortest, 2.0 * lag_seen))


class Unlisted(enum.Enum):
    """Why ``record_now`` cannot answer from the snapshot now."""

    STALE = "stale"
    """The account's list is older than asked, or not taken yet: it must be asked for
    (the caller's queued run waits for it, one list for all)."""
    FAILING = "failing"
    """The account's last list failed moments ago with a passing fault
    (``failure_memory``): do not ask. A refusal answers ``STALE``: the trunk's run meets
    the remembered refusal and shows it."""


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
    asked_at: float = float("-inf")
    """When the list now held was asked for: it shows every trunk made before then."""
    failure: Exception | None = None
    """The last list's error: the looks of the account share it for ``failed_for``
    seconds, so an outage costs one failed list per account that often, not one per
    trunk."""
    failed_at: float = 0.0
    failed_for: float = 0.0
    failures: int = 0
    """Failed lists in a row (429s aside): the memory of a failure doubles with each."""
    names: dict[str, str] | None = None
    """Trunk ID by name, made from the records when a look by name first needs it."""
    created: dict[str, float] = field(default_factory=dict)
    """Trunks this operator created, with when, not yet shown by a list asked after."""
    shown: int = 0
    """Creates of this operator a list asked after them has shown."""
    lag_seen: float = 0.0
    """The longest a list asked after a create of this operator left it out."""


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

    def record_now(self, account: str, trunk_id: str, max_age: float
                   ) -> bytes | Unlisted | None:
        """``record`` without waiting: the trunk's JSON from the snapshot as it is, if
        the list is at most ``max_age`` seconds old; else why not (``Unlisted``). For
        the drift loop, which must never wait for Bolna."""
        snapshot = self._accounts.get(account)
        now = self._clock()
        if snapshot is None:
            return Unlisted.STALE
        if self._failing(snapshot, now):
            # A passing fault leaves the trunk for a later round; a refusal (a revoked
            # token) is not one: the trunk's own run must meet it, and say so (Stalled).
            return (Unlisted.FAILING if isinstance(snapshot.failure, TemporaryError)
                    else Unlisted.STALE)
        if not snapshot.taken_at or now - snapshot.taken_at > max_age:
            return Unlisted.STALE
        return None if trunk_id in snapshot.partial else snapshot.trunks.get(trunk_id)

    def _failing(self, snapshot: _Snapshot, now: float) -> bool:
        return snapshot.failure is not None and now - snapshot.failed_at < snapshot.failed_for

    async def find_by_name(self, account: str, bolna: _Lister, name: str, *,
                           asked_after: float | None = None) -> T | None:
        """The trunk named ``name`` (names are unique per account) in a list asked for
        after ``asked_after`` (default: now), which this look shares with every other
        look of the account that a list asked after that moment answers: a hundred
        creates whose answers were lost cost one list, not a hundred."""
        after = self._clock() if asked_after is None else asked_after
        snapshot = await self._fresh(account, bolna, float("inf"), asked_after=after)
        if snapshot.names is None:
            snapshot.names = {}
            for trunk_id, record in snapshot.trunks.items():
                named = _name_of(record)
                if named is not None:
                    snapshot.names.setdefault(named, trunk_id)
        found = snapshot.names.get(name)
        held = snapshot.trunks.get(found) if found is not None else None
        return None if held is None else self.parse(held)

    async def _fresh(self, account: str, bolna: _Lister, max_age: float, *,
                     asked_after: float = float("-inf")) -> _Snapshot:
        """The account's snapshot, listed again if older than ``max_age`` or asked for
        before ``asked_after``; the last failure instead while it is remembered."""
        snapshot = self._accounts.setdefault(account, _Snapshot())
        async with snapshot.lock:
            now = self._clock()
            if self._failing(snapshot, now):
                assert snapshot.failure is not None
                raise snapshot.failure  # Bolna failed moments ago: do not ask again
            if (now - snapshot.taken_at > max_age or not snapshot.taken_at
                    or snapshot.asked_at < asked_after):
                await self._list(account, snapshot, bolna, max_age)
        return snapshot

    async def _list(self, account: str, snapshot: _Snapshot, bolna: _Lister,
                    max_age: float) -> None:
        """Ask for the account's list (the snapshot's lock held) and keep it, or
        remember why it failed."""
        asked_at = self._clock()
        self.lists += 1
        try:
            # One attempt: the looks come back; no burst of retries per look.
            listed = await bolna.list_trunk_records(needs=self._needs, retry=False)
        except Exception as error:
            self._failed(account, snapshot, error, max_age)
            raise
        if snapshot.failures:
            log.info("the list of Bolna account %s answers again after %d failure(s) "
                     "in a row", account, snapshot.failures)
        snapshot.failure, snapshot.failures = None, 0
        snapshot.trunks, snapshot.partial, snapshot.names = {}, set(), None
        for trunk in listed:
            snapshot.trunks[trunk.id] = trunk.record
            if not trunk.complete:
                snapshot.partial.add(trunk.id)
        del listed
        for key, made in list(snapshot.created.items()):
            if made >= asked_at:
                continue  # created while the list was on its way: it proves nothing
            if key in snapshot.trunks:
                snapshot.shown += 1
                del snapshot.created[key]
            else:
                snapshot.lag_seen = max(snapshot.lag_seen, asked_at - made)
                if asked_at - made > 2 * LAG_MEMORY:
                    del snapshot.created[key]  # deleted by someone else, most likely
        snapshot.written = {key: entry for key, entry in snapshot.written.items()
                            if entry[0] >= asked_at}
        for key, (_, record) in snapshot.written.items():
            snapshot.trunks[key] = record
            snapshot.partial.add(key)
        snapshot.asked_at = asked_at
        snapshot.taken_at = self._clock()

    def _failed(self, account: str, snapshot: _Snapshot, error: Exception,
                max_age: float) -> None:
        """Remember a failed list for as long as ``failure_memory`` says."""
        if counts_as_outage(error):
            snapshot.failures += 1
        retry_after = error.retry_after if isinstance(error, TemporaryError) else None
        snapshot.failure, snapshot.failed_at = error, self._clock()
        snapshot.failed_for = failure_memory(snapshot.failures, retry_after, max_age)
        if snapshot.failures == 1 and counts_as_outage(error):
            # Once per streak: the trunks keep their status meanwhile (trunk.py).
            log.info("the list of Bolna account %s failed (%s); asked again in %.0f s, "
                     "then less often while it keeps failing (at most every %.0f s)",
                     account, type(error).__name__, snapshot.failed_for,
                     min(FAILURE_MEMORY_MAX, max_age))

    def create_patience(self, account: str, longest: float, shortest: float) -> float:
        """``create_patience`` for the account, from what its lists showed."""
        snapshot = self._accounts.get(account)
        if snapshot is None:
            return longest
        return create_patience(snapshot.shown, snapshot.lag_seen, longest, shortest)

    def remember(self, account: str, trunk: T, *, created: bool = False) -> None:
        """Keep the snapshot current with what this operator just wrote (``created``:
        a create Bolna answered, which the next list should show)."""
        snapshot = self._accounts.setdefault(account, _Snapshot())
        key = str(trunk.id)
        record = self.canonical(trunk)
        snapshot.written[key] = (self._clock(), record)
        if created:
            snapshot.created[key] = self._clock()
        if snapshot.taken_at:
            snapshot.trunks[key] = record
            snapshot.partial.add(key)
            named = _name_of(record) if snapshot.names is not None else None
            if snapshot.names is not None and named is not None:
                snapshot.names[named] = key  # kept, not rebuilt after every create

    def forget(self, account: str, trunk_id: str) -> None:
        """Drop a trunk this operator deleted."""
        snapshot = self._accounts.get(account)
        if snapshot is not None:
            snapshot.trunks.pop(trunk_id, None)
            snapshot.partial.discard(trunk_id)
            snapshot.written.pop(trunk_id, None)
            snapshot.created.pop(trunk_id, None)
            snapshot.names = None


def _name_of(record: bytes) -> str | None:
    """A listed record's ``name``, read without the model (a look by name reads every
    record of the list once, then keeps an index)."""
    try:
        name = json.loads(record).get("name")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


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
