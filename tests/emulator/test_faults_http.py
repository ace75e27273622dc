"""Each fault switch over real HTTP, as a client of the emulator meets it."""

from __future__ import annotations

import time

import httpx
import pytest

from bolna_emulator.faults import ERROR_STATUSES
from bolna_emulator.process import EmulatorProcess

from .bodies import minimal
from .conftest import TOKEN_A
from .contract import assert_error

TRUNKS = "/sip-trunks/trunks"


def _names(bolna: EmulatorProcess) -> list[str]:
    trunks = bolna.state()["accounts"][bolna.account(TOKEN_A)]["trunks"]
    return [trunk["name"] for trunk in trunks]


def test_latency_is_added(bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(latency_ms=120)
    started = time.monotonic()
    assert api.get(TRUNKS).status_code == 200
    assert time.monotonic() - started >= 0.12
    assert bolna.requests()[-1]["added_latency_ms"] == pytest.approx(120)


def _create_many(api: httpx.Client, count: int) -> list[int]:
    statuses = []
    for index in range(count):
        response = api.post(TRUNKS, json=minimal(f"T{index}"))
        if response.status_code >= 500:
            assert_error(response.json(), response.status_code,
                         "Internal error (emulated fault)")
        statuses.append(response.status_code)
    return statuses


def test_error_share_is_seeded_and_commits_nothing(bolna: EmulatorProcess,
                                                   api: httpx.Client) -> None:
    bolna.set_faults(error_rate=0.5, seed=99)
    first = _create_many(api, 30)
    errors = [s for s in first if s != 201]
    assert 5 <= len(errors) <= 25 and set(errors) <= set(ERROR_STATUSES)
    assert _names(bolna) == [f"T{i}" for i, status in enumerate(first) if status == 201]
    assert bolna.stats()["by_fault"] == {"error": len(errors)}
    bolna.reset()
    bolna.set_faults(error_rate=0.5, seed=99)
    assert _create_many(api, 30) == first


def test_timeout_holds_then_closes_without_an_answer(bolna: EmulatorProcess,
                                                     api: httpx.Client) -> None:
    bolna.set_faults(timeout_rate=1.0, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(TRUNKS, json=minimal("Held"))
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        api.get(TRUNKS, timeout=0.1)
    bolna.set_faults(timeout_rate=0.0)
    assert api.get(TRUNKS).json() == []
    deadline = time.monotonic() + 5
    while len(held := [e for e in bolna.requests() if e["fault"] == "timeout"]) < 2:
        assert time.monotonic() < deadline, "the second held request was never logged"
        time.sleep(0.05)
    assert [(e["method"], e["status"]) for e in held] == [("POST", None), ("GET", None)]


def test_burst_of_429_with_retry_after(bolna: EmulatorProcess, api: httpx.Client) -> None:
    assert bolna.set_faults(burst_429=3)["burst_429"] == 3
    refused = [api.post(TRUNKS, json=minimal()) for _ in range(3)]
    for response in refused:
        assert response.status_code == 429
        assert_error(response.json(), 429)
        assert response.headers["Retry-After"] == "1"
    assert api.post(TRUNKS, json=minimal()).status_code == 201
    assert bolna.faults()["burst_429"] == 0
    assert bolna.stats()["by_fault"] == {"burst-429": 3}


def test_commit_then_drop_loses_the_answer_not_the_change(bolna: EmulatorProcess,
                                                          api: httpx.Client) -> None:
    bolna.set_faults(drop_after_commit_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(TRUNKS, json=minimal("Lost"))
    assert _names(bolna) == ["Lost"]
    listed = api.get(TRUNKS)
    assert listed.status_code == 200
    trunk_id = listed.json()[0]["id"]
    with pytest.raises(httpx.RemoteProtocolError):
        api.patch(f"{TRUNKS}/{trunk_id}", json={"name": "Renamed"})
    assert _names(bolna) == ["Renamed"]
    refused = api.post(TRUNKS, json=minimal("Renamed"))
    assert_error(refused.json(), 409)
    with pytest.raises(httpx.RemoteProtocolError):
        api.delete(f"{TRUNKS}/{trunk_id}")
    assert _names(bolna) == []
    dropped = [entry for entry in bolna.requests() if entry["fault"] == "drop-after-commit"]
    assert [(e["method"], e["status"]) for e in dropped] == [
        ("POST", None), ("PATCH", None), ("DELETE", None)]


def test_faults_spare_the_admin_api_and_reset_restores_them(bolna: EmulatorProcess) -> None:
    start = bolna.faults()
    changed = bolna.set_faults(error_rate=1.0, timeout_rate=1.0, latency_ms=5000)
    assert changed["error_rate"] == 1.0 and changed["latency_ms"] == 5000
    assert bolna.stats()["total"] == 0
    bolna.reset()
    assert bolna.faults() == start


@pytest.mark.parametrize("settings", [
    {"error_rate": 2}, {"nonsense": 1}, {"retry_after": "no"}, {"burst_429": -1}])
def test_bad_fault_settings_are_refused(bolna: EmulatorProcess, anonymous: httpx.Client,
                                        settings: dict[str, object]) -> None:
    before = bolna.faults()
    response = anonymous.put("/_emulator/faults", json=settings)
    assert response.status_code == 400
    assert_error(response.json(), 400)
    assert bolna.faults() == before
