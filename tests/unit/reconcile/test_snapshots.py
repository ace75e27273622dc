"""One list per account per interval, shared by every trunk of the account."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from bolna_sip_operator.bolna import RateLimited, ServerError, UnexpectedResponse
from bolna_sip_operator.bolna.records import ListedTrunk, split_trunk_list
from bolna_sip_operator.bolna.wire import Trunk
from bolna_sip_operator.reconcile.snapshots import (
    FAILURE_MEMORY_MAX,
    LAG_PROOF,
    AccountSnapshots,
    Unlisted,
    counts_as_outage,
    create_patience,
    failure_memory,
)


def _trunk(trunk_id: str) -> Trunk:
    return Trunk(id=trunk_id, name=f"trunk-{trunk_id}")


def _listed(trunk_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": trunk_id, "name": f"trunk-{trunk_id}", **fields}


def _answer(records: list[dict[str, Any]], needs: tuple[str, ...]) -> list[ListedTrunk]:
    """The records as Bolna's list answer, split as the client splits it."""
    return split_trunk_list(json.dumps(records).encode(), needs=needs)


class _Bolna:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.calls = 0

    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return _answer([_listed(i) for i in self.ids], needs)


def test_concurrent_checks_of_one_account_share_one_list() -> None:
    now = [100.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    bolna = _Bolna(["a", "b"])

    async def scenario() -> None:
        async def check_all() -> list[Trunk | None]:
            return list(await asyncio.gather(
                *(snapshots.trunk("acct", bolna, i, 60) for i in "abc")))

        assert await check_all() == [_trunk("a"), _trunk("b"), None]
        assert bolna.calls == 1
        now[0] += 30
        await check_all()
        assert bolna.calls == 1, "a list younger than max_age is reused"
        now[0] += 31
        await check_all()
        assert bolna.calls == 2

    asyncio.run(scenario())


def test_what_the_operator_wrote_is_kept_until_the_next_list() -> None:
    snapshots = AccountSnapshots(clock=lambda: 1.0)
    bolna = _Bolna(["a"])

    async def scenario() -> None:
        await snapshots.trunk("acct", bolna, "a", 60)
        snapshots.remember("acct", _trunk("new"))
        snapshots.forget("acct", "a")
        assert await snapshots.trunk("acct", bolna, "new", 60) == _trunk("new")
        assert await snapshots.trunk("acct", bolna, "a", 60) is None
        assert bolna.calls == 1

    asyncio.run(scenario())


def test_a_trunk_written_while_the_list_was_in_flight_is_not_lost() -> None:
    now = [0.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])

    class _Slow(_Bolna):
        async def list_trunk_records(self, *, needs: tuple[str, ...] = (),
                                     retry: bool = True) -> list[ListedTrunk]:
            # Bolna answers before the create
            served = _answer([_listed(i) for i in self.ids], needs)
            now[0] += 1
            snapshots.remember("acct", _trunk("created-meanwhile"))
            self.calls += 1
            return served

    async def scenario() -> None:
        bolna = _Slow(["old"])
        assert await snapshots.trunk("acct", bolna, "created-meanwhile", 60) == _trunk(
            "created-meanwhile")

    asyncio.run(scenario())


def test_failure_memory_fits_the_fault() -> None:
    # An outage: 2 s, doubling with each failure of the list in a row, capped at the
    # drift interval (max_age) and at 30 s whatever the interval.
    assert [failure_memory(n, None, 27.0) for n in range(1, 8)] == [
        2.0, 4.0, 8.0, 16.0, 27.0, 27.0, 27.0]
    assert failure_memory(1000, None, 600.0) == FAILURE_MEMORY_MAX == 30.0
    assert failure_memory(3, None, 1.5) == 1.5, "never longer than the list's max_age"
    # A Retry-After is honoured exactly, however many failures came before.
    assert failure_memory(1, 1.0, 27.0) == 1.0
    assert failure_memory(9, 7.0, 27.0) == 7.0
    assert failure_memory(0, 0.0, 27.0) == 0.0
    assert counts_as_outage(ServerError("down", status=503))
    assert not counts_as_outage(RateLimited("busy", status=429, retry_after=1.0))


class _Failing(_Bolna):
    """Fails each list with the next of ``errors`` (None: answers)."""

    def __init__(self, errors: list[Exception | None]) -> None:
        super().__init__(["a"])
        self.errors = errors

    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]:
        assert not retry, "a look asks once; it comes back"
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return _answer([_listed(i, phone_numbers=[]) for i in self.ids], needs)


def test_a_failed_list_answers_for_the_account_for_a_while_and_one_success_resets_it(
        ) -> None:
    now = [0.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    down = ServerError("down", status=503)
    bolna = _Failing([down, down, down, None, down])

    async def look(moment: float) -> bool:
        now[0] = moment
        try:
            await snapshots.trunk("acct", bolna, "a", 27)
        except ServerError:
            return False
        return True

    async def scenario() -> None:
        assert not await look(0) and not await look(1.9), "the first failure: 2 s"
        assert bolna.calls == 1
        assert not await look(2.0) and not await look(5.9), "the second: 4 s"
        assert bolna.calls == 2
        assert not await look(6.0) and bolna.calls == 3
        assert await look(14.0), "8 s later, Bolna answers"
        assert bolna.calls == 4
        assert not await look(14.0 + 28), "a new failure after a success"
        assert not await look(14.0 + 29.9) and bolna.calls == 5, (
            "remembered 2 s again, not 16: one success resets the memory")
        assert await look(14.0 + 30.0) and bolna.calls == 6

    asyncio.run(scenario())


def test_a_429_is_honoured_exactly_and_not_counted_as_an_outage() -> None:
    now = [0.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    busy = RateLimited("busy", status=429, retry_after=1.0)
    down = ServerError("down", status=503)
    bolna = _Failing([down, busy, busy, down])

    async def look(moment: float) -> None:
        now[0] = moment
        with contextlib.suppress(ServerError, RateLimited):
            await snapshots.trunk("acct", bolna, "a", 27)

    async def scenario() -> None:
        await look(0)  # an outage's first failure: 2 s
        await look(2.0)  # a 429: Retry-After 1 s, exactly
        await look(2.9)
        assert bolna.calls == 2
        await look(3.0)  # another 429
        await look(4.0)  # the second failure in a row, 429s aside: 4 s
        assert bolna.calls == 4
        await look(7.9)
        assert bolna.calls == 4
        await look(8.0)
        assert bolna.calls == 5

    asyncio.run(scenario())


def test_record_now_answers_from_the_snapshot_without_asking_bolna() -> None:
    now = [1.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    bolna = _Failing([None, ServerError("down", status=503)])

    async def scenario() -> None:
        assert snapshots.record_now("acct", "a", 27) is Unlisted.STALE
        await snapshots.record("acct", bolna, "a", 27)
        listed = snapshots.record_now("acct", "a", 27)
        assert isinstance(listed, bytes) and b'"a"' in listed
        assert snapshots.record_now("acct", "absent", 27) is None
        now[0] = 29.0
        assert snapshots.record_now("acct", "a", 27) is Unlisted.STALE
        with contextlib.suppress(ServerError):
            await snapshots.record("acct", bolna, "a", 27)
        assert snapshots.record_now("acct", "a", 27) is Unlisted.FAILING
        now[0] = 31.0
        assert snapshots.record_now("acct", "a", 27) is Unlisted.STALE
        assert bolna.calls == 2, "record_now never asks"

    asyncio.run(scenario())


def test_looks_by_name_after_one_moment_share_one_list() -> None:
    now = [10.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    bolna = _Bolna(["a", "b"])

    async def scenario() -> None:
        found = await asyncio.gather(*(snapshots.find_by_name(
            "acct", bolna, f"trunk-{i}", asked_after=5.0) for i in "abc"))
        assert [t.id if t else None for t in found] == ["a", "b", None]
        assert bolna.calls == 1, "one list answers every look after the same moment"
        assert (await snapshots.find_by_name("acct", bolna, "trunk-a", asked_after=9.0)
                ) is not None and bolna.calls == 1, "the list was asked after 9.0"
        now[0] = 11.0
        bolna.ids.append("c")
        assert (await snapshots.find_by_name("acct", bolna, "trunk-c", asked_after=10.5)
                ) is not None
        assert bolna.calls == 2, "a look after the list was asked needs a new one"

    asyncio.run(scenario())


class _Listing:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]:
        return _answer(self.records, needs)


def test_a_record_is_compared_as_listed_json_only_when_it_stands_for_the_whole_trunk(
        ) -> None:
    snapshots = AccountSnapshots(clock=lambda: 1.0)
    bolna = _Listing([_listed("whole", phone_numbers=[]), _listed("no-numbers")])

    async def scenario() -> None:
        whole = await snapshots.record("acct", bolna, "whole", 60)
        assert whole is not None
        assert Trunk.model_validate_json(whole) == await snapshots.trunk(
            "acct", bolna, "whole", 60)
        assert await snapshots.record("acct", bolna, "no-numbers", 60) is None, (
            "listed without numbers: a full look asks for them")
        assert await snapshots.record("acct", bolna, "absent", 60) is None
        snapshots.remember("acct", _trunk("whole"))
        assert await snapshots.record("acct", bolna, "whole", 60) is None, (
            "as the operator wrote it, not as Bolna lists it")
        assert await snapshots.trunk("acct", bolna, "whole", 60) == _trunk("whole")

    asyncio.run(scenario())


def test_a_record_not_as_documented_fails_its_own_trunk_only() -> None:
    snapshots = AccountSnapshots(clock=lambda: 1.0)
    bolna = _Listing([_listed("good"), {"id": "bad"}])  # no name

    async def scenario() -> None:
        assert await snapshots.trunk("acct", bolna, "good", 60) == _trunk("good")
        with pytest.raises(UnexpectedResponse, match="name: missing"):
            await snapshots.trunk("acct", bolna, "bad", 60)

    asyncio.run(scenario())


def test_what_the_operator_wrote_reads_back_equal() -> None:
    """A remembered trunk is kept as JSON too: every field survives the round trip."""
    trunk = Trunk.model_validate({
        "id": "t1", "name": "n", "provider": "twilio", "auth_type": "userpass",
        "gateways": [{"id": "g", "gateway_address": "gw.example.com", "port": 5060,
                      "priority": 1, "created_at": "2026-11-29T10:00:00.5+02:00"}],
        "ip_identifiers": [], "media_encryption": False, "qualify_frequency": 60,
        "phone_numbers": [{"id": "p", "phone_number": "+15550100", "deleted": False,
                           "created_at": "not a time"}],
        "created_at": "2026-11-29T10:00:00Z", "is_active": True})
    snapshots = AccountSnapshots(clock=lambda: 1.0)

    async def scenario() -> None:
        snapshots.remember("acct", trunk)
        assert await snapshots.trunk("acct", _Listing([]), "t1", 60) == trunk

    asyncio.run(scenario())


def test_create_patience_follows_what_the_lists_showed() -> None:
    assert create_patience(0, 0.0, 30.0, 5.0) == 30.0, "no proof yet: the longest"
    assert create_patience(LAG_PROOF - 1, 0.0, 30.0, 5.0) == 30.0
    assert create_patience(LAG_PROOF, 0.0, 30.0, 5.0) == 5.0, "lists keep up: a second look"
    assert create_patience(50, 4.0, 30.0, 5.0) == 8.0, "twice the lag seen"
    assert create_patience(50, 20.0, 30.0, 5.0) == 30.0, "never past the longest"


def test_lists_that_show_the_operators_creates_shorten_the_patience() -> None:
    now = [1.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])
    bolna = _Bolna([])

    async def scenario() -> None:
        for index in range(LAG_PROOF):
            bolna.ids.append(f"c{index}")
            snapshots.remember("acct", _trunk(f"c{index}"), created=True)
        assert snapshots.create_patience("acct", 30.0, 5.0) == 30.0
        now[0] += 1.0
        await snapshots.trunk("acct", bolna, "c0", 0.5)
        assert snapshots.create_patience("acct", 30.0, 5.0) == 5.0
        snapshots.remember("acct", _trunk("late"), created=True)  # not listed yet
        now[0] += 3.0
        await snapshots.trunk("acct", bolna, "c0", 0.5)
        assert snapshots.create_patience("acct", 30.0, 5.0) == 6.0, "a list 3 s late"

    asyncio.run(scenario())
