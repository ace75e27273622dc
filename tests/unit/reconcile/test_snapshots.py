"""One list per account per interval, shared by every trunk of the account."""

from __future__ import annotations

import asyncio
import contextlib

from bolna_sip_operator.bolna.wire import Trunk
from bolna_sip_operator.reconcile.snapshots import AccountSnapshots


def _trunk(trunk_id: str) -> Trunk:
    return Trunk(id=trunk_id, name=f"trunk-{trunk_id}")



class _Bolna:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.calls = 0

    async def list_trunks(self, *, retry: bool = True) -> list[Trunk]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return [_trunk(i) for i in self.ids]


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
        async def list_trunks(self, *, retry: bool = True) -> list[Trunk]:
            served = [_trunk(i) for i in self.ids]  # Bolna answers before the create
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
        async def list_trunks(self, *, retry: bool = True) -> list[Trunk]:
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
