"""Freed heap goes back to the kernel when the operator asks glibc for it."""

from __future__ import annotations

import asyncio
import gc
import platform
import threading
import weakref
from pathlib import Path

import pytest

from bolna_sip_operator import memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_glibc_is_found_where_the_operator_runs() -> None:
    # The image and this machine are glibc (Debian): the release must not be a no-op.
    assert platform.libc_ver()[0] == "glibc"
    assert memory.can_release()


def test_heap_freed_between_survivors_is_returned() -> None:
    # A burst of 1 KB buffers, every tenth kept (as a reconcile wave leaves its
    # records behind): the freed holes stay in glibc's heap until it is asked.
    burst = [bytearray(1000) for _ in range(200_000)]
    kept = burst[::10]
    del burst
    before = _rss_mb()
    assert memory.release_freed_memory()
    after = _rss_mb()
    assert len(kept) == 20_000
    assert before - after > 50, f"RSS {before:.0f} MB -> {after:.0f} MB"


def test_the_trim_loop_releases_off_the_event_loop(monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    calls: list[str] = []

    def release() -> bool:
        calls.append(threading.current_thread().name)
        return True

    monkeypatch.setattr(memory, "release_freed_memory", release)

    async def scenario() -> None:
        task = asyncio.create_task(memory.run_trim_loop(0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert len(calls) >= 3
    assert all(name != "MainThread" for name in calls)


def test_what_lives_forever_is_frozen_and_garbage_is_not() -> None:
    # Freezing is for the whole process: this test's process is given back its
    # collector as it was (unfreeze) whatever happens.
    class Node:
        me: Node

    kept = [{"i": i} for i in range(5000)]
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    frozen_before = gc.get_freeze_count()
    try:
        memory.freeze_what_lives_forever()
        assert gc.get_freeze_count() - frozen_before >= len(kept)
        assert gone() is None, "garbage is collected before the freeze, never frozen"
        assert gc.get_count()[0] < 100
    finally:
        gc.unfreeze()
