"""Fault decisions and the rate-limit window, without a server."""

from __future__ import annotations

import pytest

from bolna_emulator.faults import ERROR_STATUSES, FaultInjector, FaultSettings
from bolna_emulator.ratelimit import SlidingWindow


def _kinds(injector: FaultInjector, count: int) -> list[str | None]:
    return [injector.decide(mutating=True).kind for _ in range(count)]


def test_same_seed_same_faults() -> None:
    settings = FaultSettings(error_rate=0.3, timeout_rate=0.1, drop_after_commit_rate=0.2,
                             latency_jitter_ms=10)
    first, second = FaultInjector(settings, 42), FaultInjector(settings, 42)
    assert [first.decide(mutating=True) for _ in range(200)] == [
        second.decide(mutating=True) for _ in range(200)]
    assert _kinds(FaultInjector(settings, 43), 200) != _kinds(FaultInjector(settings, 42), 200)


def test_draws_do_not_depend_on_settings() -> None:
    """Turning one fault on does not shift the draws of another: a replay with one
    switch changed still meets the same other faults."""
    quiet = FaultInjector(FaultSettings(error_rate=0.5), 7)
    noisy = FaultInjector(FaultSettings(error_rate=0.5, latency_jitter_ms=50,
                                        drop_after_commit_rate=0.5), 7)
    assert _kinds(quiet, 100) == _kinds(noisy, 100)


def test_shares_are_close_to_the_rates() -> None:
    injector = FaultInjector(FaultSettings(error_rate=0.2), 1)
    decisions = [injector.decide(mutating=False) for _ in range(5000)]
    errors = [d for d in decisions if d.kind == "error"]
    assert 0.17 < len(errors) / len(decisions) < 0.23
    assert {d.error_status for d in errors} == set(ERROR_STATUSES)
    assert not any(d.drop_after_commit for d in decisions)


def test_drop_only_for_changes_that_were_not_faulted() -> None:
    injector = FaultInjector(FaultSettings(drop_after_commit_rate=1.0), 1)
    assert injector.decide(mutating=True).drop_after_commit
    assert not injector.decide(mutating=False).drop_after_commit
    injector.update({"burst_429": 1})
    burst = injector.decide(mutating=True)
    assert burst.kind == "burst-429" and not burst.drop_after_commit


def test_latency_and_jitter() -> None:
    injector = FaultInjector(FaultSettings(latency_ms=50, latency_jitter_ms=20), 3)
    delays = [injector.decide(mutating=False).delay_seconds for _ in range(500)]
    assert min(delays) >= 0.05 and max(delays) <= 0.07 and len(set(delays)) > 400


def test_burst_counts_down() -> None:
    injector = FaultInjector(FaultSettings(), 1)
    injector.update({"burst_429": 2})
    assert _kinds(injector, 3) == ["burst-429", "burst-429", None]
    assert injector.burst_remaining == 0


def test_a_burst_of_429s_every_period_for_as_long_as_it_is_on() -> None:
    now = [0.0]
    injector = FaultInjector(FaultSettings(), 1, clock=lambda: now[0])
    injector.update({"burst_429_every_seconds": 10.0, "burst_429_size": 3})
    assert _kinds(injector, 4) == ["burst-429"] * 3 + [None], "the first burst at once"
    now[0] = 9.9
    assert _kinds(injector, 1) == [None]
    now[0] = 10.0
    assert _kinds(injector, 4) == ["burst-429"] * 3 + [None]
    now[0] = 35.0  # quiet periods with no request: one burst, not three
    assert _kinds(injector, 4) == ["burst-429"] * 3 + [None]
    injector.update({"burst_429_every_seconds": 0.0})
    now[0] = 40.0
    assert _kinds(injector, 2) == [None, None]


def test_the_first_requests_of_each_route_fail_whatever_the_timing() -> None:
    injector = FaultInjector(FaultSettings(), 1)
    injector.update({"error_first_per_route": 2})

    def kind(route: str) -> str | None:
        return injector.decide(mutating=False, route=route).kind

    assert [kind("GET /a"), kind("POST /a"), kind("GET /a"), kind("GET /a"),
            kind("POST /a"), kind("POST /a")] == [
        "error", "error", "error", None, "error", None]
    injector.update({"error_first_per_route": 1})
    assert [kind("GET /a"), kind("GET /a")] == ["error", None], "counted from the change"


@pytest.mark.parametrize(("changes", "message"), [
    ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
    ({"error_rate": "0.5"}, "error_rate must be a number"),
    ({"retry_after": 1}, "retry_after must be true or false"),
    ({"rate_limit": 0}, "rate_limit must be at least 1"),
    ({"rate_limit": 2.5}, "rate_limit must be an integer"),
    ({"latency_ms": -1}, "latency_ms must be a number of at least 0"),
    ({"burst_429": -1}, "burst_429 must be an integer of at least 0"),
    ({"seed": "x"}, "seed must be an integer"),
    ({"speed": 1}, "unknown fault setting 'speed'"),
])
def test_bad_settings_are_refused_whole(changes: dict[str, object], message: str) -> None:
    injector = FaultInjector(FaultSettings(), 1)
    with pytest.raises(ValueError, match=message):
        injector.update({"latency_ms": 5, **changes})
    assert injector.settings == FaultSettings()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window() -> None:
    clock = _Clock()
    window = SlidingWindow(clock)
    assert all(window.acquire("a", 3, 60) is None for _ in range(3))
    assert window.acquire("a", 3, 60) == pytest.approx(60)
    assert window.acquire("b", 3, 60) is None
    clock.now += 30
    assert window.acquire("a", 3, 60) == pytest.approx(30)
    clock.now += 30.001
    assert all(window.acquire("a", 3, 60) is None for _ in range(3))
    assert window.acquire("a", 3, 60) == pytest.approx(60)
