"""The retry policy: exponential backoff with full jitter, Retry-After obeyed and capped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.bolna import RateLimited, RetryPolicy, ServerError
from bolna_sip_operator.bolna.retry import is_idempotent


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.jitter) == (
        5, 0.5, 30.0, "full")
    assert policy.max_retry_after == 60.0


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(jitter="none", base_delay=0.5, max_delay=3.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


@given(st.integers(1, 200), st.floats(0, 1, exclude_max=True),
       st.floats(0.01, 5), st.floats(0, 60))
def test_full_jitter_stays_within_the_cap(attempt: int, draw: float, base: float,
                                          cap: float) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap, random=lambda: draw)
    delay = policy.backoff(attempt)
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))
    assert delay == pytest.approx(draw * min(cap, base * 2 ** (attempt - 1)))


def test_retry_after_is_obeyed_exactly_up_to_the_cap() -> None:
    policy = RetryPolicy(jitter="none", max_retry_after=60)
    assert policy.delay_for(1, RateLimited("slow", retry_after=7.0)) == 7.0
    assert policy.delay_for(3, RateLimited("slow", retry_after=0.0)) == 0.0
    assert policy.delay_for(1, RateLimited("slow", retry_after=61.0)) is None
    assert policy.delay_for(2, RateLimited("slow")) == 1.0
    assert policy.delay_for(2, ServerError("busy", retry_after=4.0)) == 4.0


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1},
                                    {"max_delay": -1}, {"max_retry_after": -1}])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_idempotent_methods() -> None:
    assert all(is_idempotent(m) for m in ("GET", "PATCH", "DELETE", "get"))
    assert not is_idempotent("POST")
