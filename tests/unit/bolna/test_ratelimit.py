"""The account's rate limiter: spacing, burst, pause on 429, and one per token."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import BolnaClient, LimiterRegistry, RateLimiter
from bolna_sip_operator.bolna.ratelimit import DEFAULT_BURST, DEFAULT_RATE_PER_MINUTE

from .conftest import TOKEN, FakeClock

pytestmark = pytest.mark.anyio


async def _times(limiter: RateLimiter, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await limiter.acquire()
        times.append(clock.now)
    return times


async def test_burst_then_steady_spacing(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=clock.sleep)
    assert await _times(limiter, clock, 7) == [0, 0, 0, 1, 2, 3, 4]


async def test_idle_time_refills_the_burst_but_no_more(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=clock.sleep)
    await _times(limiter, clock, 3)
    clock.now = 100.0
    assert await _times(limiter, clock, 5) == [100, 100, 100, 101, 102]


async def test_concurrent_callers_are_spaced_in_arrival_order(clock: FakeClock) -> None:
    limiter = RateLimiter(120, burst=1, clock=clock, sleep=clock.sleep)
    order: list[tuple[int, float]] = []

    async def caller(index: int) -> None:
        await limiter.acquire()
        order.append((index, clock.now))

    await asyncio.gather(*(caller(i) for i in range(5)))
    assert order == [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]


async def test_no_sixty_second_window_exceeds_rate_plus_burst(clock: FakeClock) -> None:
    limiter = RateLimiter(DEFAULT_RATE_PER_MINUTE, DEFAULT_BURST, clock=clock,
                          sleep=clock.sleep)
    times = await _times(limiter, clock, 2500)
    most = max(sum(1 for t in times if start <= t < start + 60) for start in times[::50])
    assert most <= DEFAULT_RATE_PER_MINUTE + DEFAULT_BURST < 1000


async def test_the_window_guard_never_slows_steady_operation(clock: FakeClock) -> None:
    plain = RateLimiter(DEFAULT_RATE_PER_MINUTE, DEFAULT_BURST, clock=clock,
                        sleep=clock.sleep)
    expected = await _times(plain, clock, 2500)
    clock.now = 0.0
    guarded = RateLimiter(DEFAULT_RATE_PER_MINUTE, DEFAULT_BURST, clock=clock,
                          sleep=clock.sleep)
    times = []
    for _ in range(2500):
        async with guarded.slot():  # answered at once
            times.append(clock.now)
    assert times == expected


async def test_a_backlog_answered_together_holds_the_next_request_a_window(
        clock: FakeClock) -> None:
    # 61 requests (rate 60 + burst 1) are sent one a second but stall in flight, as
    # when the event loop or Bolna falls behind; they may all arrive at Bolna when
    # answered, together. Bolna's 60 s window then holds 61 of ours: no more may go
    # until those leave it, whatever the bucket says.
    limiter = RateLimiter(60, burst=1, clock=clock, sleep=clock.sleep)
    async with contextlib.AsyncExitStack() as stalled:
        for _ in range(61):
            await stalled.enter_async_context(limiter.slot())
        sent: list[float] = []

        async def one_more() -> None:
            async with limiter.slot():
                sent.append(clock.now)

        late = asyncio.ensure_future(one_more())
        for _ in range(20):
            await asyncio.sleep(0)
        assert sent == []  # the bucket allows it, the guard does not
        answered_at = clock.now
    await late
    assert sent[0] >= answered_at + 60


async def test_pause_holds_then_resumes_without_a_burst(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=clock.sleep)
    await _times(limiter, clock, 2)
    limiter.pause(10)
    assert limiter.paused_until == 10
    limiter.pause(4)  # a shorter pause changes nothing
    assert limiter.paused_until == 10
    assert await _times(limiter, clock, 3) == [10, 11, 12]
    assert limiter.paused_until is None


async def test_pause_reaches_callers_already_waiting(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=1, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    waiter = asyncio.ensure_future(_times(limiter, clock, 1))
    await asyncio.sleep(0)  # the waiter has reserved t=1 and sleeps
    limiter.pause(5)
    assert await waiter == [5]


async def test_real_time_spacing_between_concurrent_callers() -> None:
    limiter = RateLimiter(6000, burst=1)  # one every 10 ms
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    assert time.monotonic() - started >= 0.035


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="at least"):
        RateLimiter(10, burst=0)


def test_one_limiter_per_token_never_keyed_by_the_token() -> None:
    registry = LimiterRegistry()
    first = registry.for_token(SecretStr(TOKEN))
    assert registry.for_token(SecretStr(TOKEN)) is first
    assert registry.for_token(SecretStr("another-token")) is not first
    assert len(registry) == 2
    assert TOKEN not in repr(registry) and TOKEN not in repr(first)
    assert all(TOKEN not in key for key in registry._limiters)


async def test_clients_of_one_account_share_its_limiter() -> None:
    registry = LimiterRegistry()
    async with BolnaClient(TOKEN, limiters=registry) as one, \
            BolnaClient(SecretStr(TOKEN), limiters=registry) as two, \
            BolnaClient("other-account", limiters=registry) as other:
        assert one.rate_limiter is two.rate_limiter
        assert other.rate_limiter is not one.rate_limiter


async def test_a_pause_by_one_client_holds_the_other(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=5, clock=clock, sleep=clock.sleep)
    registry = LimiterRegistry(lambda: limiter)
    async with BolnaClient(TOKEN, limiters=registry) as one, \
            BolnaClient(TOKEN, limiters=registry) as two:
        one.rate_limiter.pause(30)
        await two.rate_limiter.acquire()
        assert clock.now == 30
