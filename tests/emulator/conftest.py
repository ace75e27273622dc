"""One emulator process for the session, reset before each test that uses it.

Tests that need their own start options (a state file, CLI fault flags) start their
own :class:`EmulatorProcess`; everything else shares this one and sets faults at
runtime, which a reset undoes. No skips: if the emulator cannot start, the tests error.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

TOKEN_A = "canary-token-alpha-7f3d"
TOKEN_B = "canary-token-bravo-91c2"


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[EmulatorProcess]:
    """The shared emulator: two accounts, a fixed seed, short timeouts."""
    with EmulatorProcess([TOKEN_A, TOKEN_B], seed=1234, timeout_seconds=0.3) as process:
        yield process


@pytest.fixture
def bolna(emulator_process: EmulatorProcess) -> EmulatorProcess:
    """The shared emulator, emptied: no trunks, no log, the start's faults."""
    emulator_process.reset()
    return emulator_process


@pytest.fixture(scope="session")
def _client_a(emulator_process: EmulatorProcess) -> Iterator[httpx.Client]:
    with emulator_process.client(TOKEN_A) as client:
        yield client


@pytest.fixture(scope="session")
def _client_b(emulator_process: EmulatorProcess) -> Iterator[httpx.Client]:
    with emulator_process.client(TOKEN_B) as client:
        yield client


@pytest.fixture
def api(bolna: EmulatorProcess, _client_a: httpx.Client) -> httpx.Client:
    """A client of account A (one per session: an httpx client is slow to make)."""
    return _client_a


@pytest.fixture
def api_b(bolna: EmulatorProcess, _client_b: httpx.Client) -> httpx.Client:
    """A client of account B."""
    return _client_b


@pytest.fixture(scope="session")
def _client_anonymous(emulator_process: EmulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_process.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def anonymous(bolna: EmulatorProcess, _client_anonymous: httpx.Client) -> httpx.Client:
    """A client with no token (set headers per request)."""
    return _client_anonymous
