"""Fixtures for the Bolna client tests: a scripted Bolna behind httpx.MockTransport, and
a fake clock that both the retry policy and the rate limiter sleep on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import BolnaClient, RateLimiter, RetryPolicy

TOKEN = "tok-CANARY-7f3a9c1e-secret"
PASSWORD = "pw-CANARY-b41e-secret"
BASE_URL = "http://bolna.invalid"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Virtual time: ``sleep`` records the wait and moves the clock to its end.

    Concurrent sleepers wake in the order they went to sleep (FIFO), and the clock only
    moves forward, which is how real sleepers of increasing deadlines behave.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedBolna:
    """Answers requests with the given steps in order (the last one repeats) and keeps
    every request it saw."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    @property
    def methods(self) -> list[str]:
        return [request.method for request in self.requests]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def reply(status: int, payload: Any = None, *, text: str | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    """A response with a JSON payload (a str payload is sent as raw JSON text)."""
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    if isinstance(payload, str):
        return httpx.Response(status, content=payload.encode(),
                              headers={"Content-Type": "application/json", **(headers or {})})
    return httpx.Response(status, json=payload, headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., BolnaClient]:
    """Builds clients on a scripted Bolna, with fake time and no real waiting."""

    def build(bolna: ScriptedBolna, *, retry: RetryPolicy | None = None,
              rate_limiter: RateLimiter | None = None, **kwargs: Any) -> BolnaClient:
        return BolnaClient(
            SecretStr(TOKEN), base_url=BASE_URL, transport=httpx.MockTransport(bolna),
            retry=retry or RetryPolicy(jitter="none", sleep=clock.sleep),
            rate_limiter=rate_limiter or RateLimiter(60_000, 1_000, clock=clock,
                                                     sleep=clock.sleep),
            **kwargs)

    return build
