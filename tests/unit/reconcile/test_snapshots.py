"""One list per account per interval, shared by every trunk of the account."""

from __future__ import annotations

import asyncio

from bolna_sip_operator.bolna.wire import Trunk
from bolna_sip_operator.reconcile.snapshots import AccountSnapshots


def _trunk(trunk_id: str) -> Trunk:
    return Trunk(id=trunk_id, name=f"trunk-{trunk_id}")



class _Bolna:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.calls = 0

    async def list_trunks(self) -> list[Trunk]:
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
        async def list_trunks(self) -> list[Trunk]:
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
