"""The drift loop's pacing: every trunk once a round, spread over the interval."""

from __future__ import annotations

import asyncio

import pytest

from bolna_sip_operator.reconcile.drift import TICK, run_drift_loop


class _RoundOverError(Exception):
    pass


def _one_round(count: int, interval: float) -> tuple[list[float], list[list[str]]]:
    """The waits of the first round, and the trunks checked after each wait."""
    uids = [f"uid-{i:05d}" for i in range(count)]
    waits: list[float] = []
    steps: list[list[str]] = []

    async def sleep(seconds: float) -> None:
        if sum(len(step) for step in steps) == count:
            raise _RoundOverError
        waits.append(seconds)
        steps.append([])

    async def check(uid: str) -> None:
        steps[-1].append(uid)
        if uid == "uid-00003":
            raise RuntimeError("one trunk's trouble")

    with pytest.raises(_RoundOverError):
        asyncio.run(run_drift_loop(interval, lambda: uids, check, sleep=sleep))
    return waits, steps


def test_few_trunks_are_checked_one_per_wait_over_the_interval() -> None:
    waits, steps = _one_round(10, 60.0)
    assert steps == [[f"uid-{i:05d}"] for i in range(10)], "a failure stops nothing"
    assert waits == [6.0] * 10


def test_many_trunks_are_checked_in_steps_no_closer_than_a_tick() -> None:
    waits, steps = _one_round(10_000, 60.0)
    assert [uid for step in steps for uid in step] == [f"uid-{i:05d}" for i in range(10_000)]
    assert len(steps) <= 60.0 / TICK and min(waits) >= TICK
    assert sum(waits) == pytest.approx(60.0)
