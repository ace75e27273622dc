"""The SIP edge's single writer against a real Kamailio: a burst of a thousand trunk
changes is coalesced into few reloads, and a Kamailio that was killed and restarted
has its entries verified again. The status store here is a plain in-memory record
(``MemoryStatuses``); the operator uses its trunk reconciler, tested end to end in
test_operator_kamailio.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.kamailio import Kamailio
from bolna_sip_operator.edge import Edge
from bolna_sip_operator.kamailio.rpc import KamailioRpc
from bolna_sip_operator.kamailio.sink import FileSink
from bolna_sip_operator.reconcile.objects import TrunkObject
from tests.corpus import USERPASS_SPEC
from tests.integration.helpers import MemoryStatuses

pytestmark = pytest.mark.integration
RELOAD_DELTA = 1.0


def _trunk(index: int, priority: int = 1) -> TrunkObject:
    spec = {**USERPASS_SPEC, "gateways": [
        {"gatewayAddress": f"10.{index // 250}.{index % 250}.1", "priority": priority},
        {"gatewayAddress": f"10.{index // 250}.{index % 250}.2", "priority": 2}]}
    return TrunkObject(namespace="burst", name=f"trunk-{index}", uid=f"uid-{index:04d}",
                       generation=1, spec=spec, annotations={}, status={})


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    """Kamailio with a one-second reload_delta, probing off (the gateways are fake)."""
    with Kamailio(tmp_path / "kamailio", reload_delta=int(RELOAD_DELTA)) as edge:
        yield edge


def _edge(kamailio: Kamailio, statuses: MemoryStatuses) -> tuple[Edge, KamailioRpc]:
    replica = KamailioRpc(kamailio.rpc_url)
    edge = Edge(FileSink(kamailio.dispatcher_file, kamailio.address_file), [replica],
                statuses.owner(), lambda *_: None, reload_delta=RELOAD_DELTA, debounce=0.2)
    return edge, replica


def test_a_burst_of_a_thousand_changes_is_a_few_reloads(kamailio: Kamailio) -> None:
    statuses = MemoryStatuses()

    async def scenario() -> tuple[int, float, list[Any]]:
        edge, replica = _edge(kamailio, statuses)
        loop = asyncio.create_task(edge.run_sync())
        started = time.monotonic()
        for index in range(1000):  # spread over about three reload windows
            edge.upsert(_trunk(index))
            await asyncio.sleep(0.002)
        for index in range(0, 1000, 2):
            edge.upsert(_trunk(index, priority=3))  # a second change to half of them
            await asyncio.sleep(0.002)
        while len(statuses.dispatcher_synced()) < 1000 or any(
                reason != "Loaded" for reason in statuses.dispatcher_synced().values()):
            await asyncio.sleep(0.2)
            if time.monotonic() - started > 120:
                raise AssertionError(f"not all Loaded: {statuses.dispatcher_synced()}")
        elapsed = time.monotonic() - started
        loop.cancel()
        listed = await replica.dispatcher_list()
        await replica.aclose()
        return edge.reloads.get("dispatcher.reload", 0), elapsed, listed

    reloads, elapsed, listed = asyncio.run(scenario())
    assert len(listed) == 2000
    assert len({d.set_id for d in listed}) == 1000
    windows = elapsed / RELOAD_DELTA
    assert 1 <= reloads <= windows + 1, f"{reloads} dispatcher reloads in {elapsed:.1f}s"


def test_a_restarted_kamailio_is_verified_again(kamailio: Kamailio) -> None:
    statuses = MemoryStatuses()

    async def scenario() -> None:
        edge, replica = _edge(kamailio, statuses)
        loop = asyncio.create_task(edge.run_sync())
        health = asyncio.create_task(edge.run_health(0.5))
        for index in range(3):
            edge.upsert(_trunk(index))
        await _until(lambda: set(statuses.dispatcher_synced().values()) == {"Loaded"})
        kamailio.kill()
        await _until(lambda: set(statuses.dispatcher_synced().values()) == {"Unreachable"})
        kamailio.restart()
        await _until(lambda: set(statuses.dispatcher_synced().values()) == {"Loaded"})
        assert len(await replica.dispatcher_list()) == 6
        loop.cancel()
        health.cancel()
        await replica.aclose()

    asyncio.run(scenario())


async def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)
