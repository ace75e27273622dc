"""One list per account per interval, shared by every trunk of the account."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from bolna_sip_operator.bolna import UnexpectedResponse
from bolna_sip_operator.bolna.records import ListedTrunk, split_trunk_list
from bolna_sip_operator.bolna.wire import Trunk
from bolna_sip_operator.reconcile.snapshots import AccountSnapshots


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


def test_a_failed_list_answers_for_the_account_and_its_memory_grows() -> None:
    now = [0.0]
    snapshots = AccountSnapshots(clock=lambda: now[0])

    class _Down(_Bolna):
        async def list_trunk_records(self, *, needs: tuple[str, ...] = (),
                                     retry: bool = True) -> list[ListedTrunk]:
            assert not retry, "the drift check asks once; the loop comes back"
            self.calls += 1
            raise RuntimeError("Bolna is down")

    bolna = _Down([])

    async def look() -> None:
        with contextlib.suppress(RuntimeError):
            await snapshots.trunk("acct", bolna, "a", 30)

    async def scenario() -> None:
        for moment in (0, 1, 29):  # one failure answers for 30 s
            now[0] = moment
            await look()
        assert bolna.calls == 1
        for moment in (31, 60, 89):  # the second one for 60 s
            now[0] = moment
            await look()
        assert bolna.calls == 2
        now[0] = 92
        await look()
        assert bolna.calls == 3

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
