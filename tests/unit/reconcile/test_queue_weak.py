"""The per-trunk queue: a waiting drift check gives way to a full request."""

from __future__ import annotations

import asyncio

from bolna_sip_operator.reconcile.queue import TrunkQueue


def test_a_full_request_takes_the_place_of_a_waiting_drift_check() -> None:
    ran: list[str] = []

    async def scenario() -> None:
        queue = TrunkQueue()
        gate = asyncio.Event()

        async def busy() -> None:
            await gate.wait()

        def work(name: str):  # type: ignore[no-untyped-def]
            async def run() -> None:
                ran.append(name)
            return run

        running = asyncio.create_task(queue.run("t", busy))
        await asyncio.sleep(0)
        queue.enqueue("t", work("drift"), weak=True)
        queue.enqueue("t", work("retry"))  # a token works again: must not be lost
        queue.enqueue("t", work("drift again"), weak=True)
        gate.set()
        await running
        for _ in range(5):
            await asyncio.sleep(0)
        await queue.aclose()

    asyncio.run(scenario())
    assert ran == ["retry"]
