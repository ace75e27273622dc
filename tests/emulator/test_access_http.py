"""Tokens, accounts and the rate limit over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .bodies import minimal
from .conftest import TOKEN_A
from .contract import assert_error

TRUNKS = "/sip-trunks/trunks"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer not-a-known-token"}, {"Authorization": f"Token {TOKEN_A}"},
    {"Authorization": "Bearer"}, {"Authorization": TOKEN_A},
], ids=["none", "unknown", "other-scheme", "empty", "no-scheme"])
def test_missing_or_unknown_token_is_403_detail(
        bolna: EmulatorProcess, anonymous: httpx.Client, headers: dict[str, str]) -> None:
    for method, path in (("GET", TRUNKS), ("POST", TRUNKS), ("DELETE", f"{TRUNKS}/x"),
                         ("GET", f"{TRUNKS}/x/numbers")):
        response = anonymous.request(method, path, headers=headers,
                                     json=minimal() if method == "POST" else None)
        assert response.status_code == 403
        assert response.json() == {"detail": "Unrecognized access token"}
    assert bolna.state()["accounts"][bolna.account(TOKEN_A)]["trunks"] == []


def test_scheme_is_case_insensitive(anonymous: httpx.Client) -> None:
    response = anonymous.get(TRUNKS, headers={"Authorization": f"bearer {TOKEN_A}"})
    assert response.status_code == 200


def test_each_token_is_its_own_account(api: httpx.Client, api_b: httpx.Client) -> None:
    mine = api.post(TRUNKS, json=minimal("Shared name")).json()
    assert api_b.get(TRUNKS).json() == []
    for response in (api_b.get(f"{TRUNKS}/{mine['id']}"),
                     api_b.patch(f"{TRUNKS}/{mine['id']}", json={"description": "x"}),
                     api_b.delete(f"{TRUNKS}/{mine['id']}"),
                     api_b.get(f"{TRUNKS}/{mine['id']}/numbers"),
                     api_b.post(f"{TRUNKS}/{mine['id']}/numbers", json={"phone_number": "1"})):
        assert_error(response.json(), 404, "Trunk not found")
    theirs = api_b.post(TRUNKS, json=minimal("Shared name"))
    assert theirs.status_code == 201
    assert [t["id"] for t in api.get(TRUNKS).json()] == [mine["id"]]
    assert api.get(f"{TRUNKS}/{mine['id']}").json() == mine


def test_unknown_path_and_method(api: httpx.Client) -> None:
    assert_error(api.get("/sip-trunks/gateways").json(), 404)
    not_allowed = api.put(TRUNKS, json={})
    assert_error(not_allowed.json(), 405)
    assert not_allowed.headers["Allow"] in ("GET,POST", "POST,GET")
    assert_error(api.get("/").json(), 404)


def test_rate_limit_per_account_then_recovery(bolna: EmulatorProcess, api: httpx.Client,
                                              api_b: httpx.Client) -> None:
    bolna.set_faults(rate_limit=5, rate_window_seconds=1.5)
    started = time.monotonic()
    assert [api.get(TRUNKS).status_code for _ in range(5)] == [200] * 5
    refused = api.get(TRUNKS)
    assert refused.status_code == 429
    assert_error(refused.json(), 429)
    assert refused.headers["Retry-After"] in ("1", "2")
    assert api.post(TRUNKS, json=minimal()).status_code == 429
    assert api_b.get(TRUNKS).status_code == 200
    assert bolna.state()["accounts"][bolna.account(TOKEN_A)]["trunks"] == []
    time.sleep(max(0.0, started + 1.6 - time.monotonic()))
    assert api.get(TRUNKS).status_code == 200


def test_rate_limit_without_retry_after(bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(rate_limit=2, retry_after=False)
    statuses = [api.get(TRUNKS) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert "Retry-After" not in statuses[2].headers


def test_admin_api_is_neither_limited_nor_authenticated(
        bolna: EmulatorProcess, anonymous: httpx.Client) -> None:
    bolna.set_faults(rate_limit=1, error_rate=1.0, burst_429=5)
    for _ in range(5):
        assert bolna.stats()["total"] == 0
        assert anonymous.get("/_emulator/health").json() == {"status": "ok"}
