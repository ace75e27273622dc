"""``/trunk`` tokens, the rate limit shared with ``/sip-trunks``, faults, the request log."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bolna_emulator.faults import ERROR_STATUSES
from bolna_emulator.process import EmulatorProcess

from .bodies import minimal
from .conftest import TOKEN_A, TOKEN_B
from .trunk_contract import POP, TRUNKS, assert_message, create

LEGACY = "/sip-trunks/trunks"
SOME_ID = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"
PASSWORD = "canary-trunk-password-77c1"

ROUTES = [
    ("POST", TRUNKS), ("GET", TRUNKS), ("GET", f"{TRUNKS}/{SOME_ID}"),
    ("PATCH", f"{TRUNKS}/{SOME_ID}"), ("DELETE", f"{TRUNKS}/{SOME_ID}"),
    ("POST", f"{TRUNKS}/{SOME_ID}/gateways"), ("DELETE", f"{TRUNKS}/{SOME_ID}/gateways/x"),
    ("POST", f"{TRUNKS}/{SOME_ID}/ip-acls"), ("DELETE", f"{TRUNKS}/{SOME_ID}/ip-acls/x"),
    ("POST", f"{TRUNKS}/{SOME_ID}/numbers"), ("DELETE", f"{TRUNKS}/{SOME_ID}/numbers/x"),
    ("PATCH", f"/trunk/numbers/{SOME_ID}"), ("GET", f"{TRUNKS}/{SOME_ID}/calls"),
    ("GET", POP), ("GET", "/trunk/unknown"),
]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer not-a-known-token"}, {"Authorization": f"Token {TOKEN_A}"},
    {"Authorization": TOKEN_A}], ids=["none", "unknown", "other-scheme", "no-scheme"])
def test_every_route_needs_a_known_token(bolna: EmulatorProcess, anonymous: httpx.Client,
                                         headers: dict[str, str]) -> None:
    for method, path in ROUTES:
        body = {"name": "T"} if method in ("POST", "PATCH") else None
        response = anonymous.request(method, path, headers=headers, json=body)
        assert_message(response, 403, "Unrecognized access token")
    assert bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]["trunks"] == []


def test_each_token_is_its_own_account(api: httpx.Client, api_b: httpx.Client) -> None:
    mine = create(api, "Mine")
    assert api_b.get(TRUNKS).json() == []
    for response in (api_b.get(f"{TRUNKS}/{mine['id']}"),
                     api_b.patch(f"{TRUNKS}/{mine['id']}", json={"channels": 2}),
                     api_b.delete(f"{TRUNKS}/{mine['id']}"),
                     api_b.post(f"{TRUNKS}/{mine['id']}/gateways", json={"host": "a.com"})):
        assert_message(response, 404, f"No live trunk with id {mine['id']}")
    assert api.get(f"{TRUNKS}/{mine['id']}").json() == mine


def test_the_rate_limit_is_one_budget_across_both_apis(
        bolna: EmulatorProcess, api: httpx.Client, api_b: httpx.Client) -> None:
    bolna.set_faults(rate_limit=4, rate_window_seconds=1.5)
    started = time.monotonic()
    statuses = [api.get(LEGACY).status_code, api.get(TRUNKS).status_code,
                api.get(LEGACY).status_code, api.get(POP).status_code]
    assert statuses == [200] * 4
    refused = api.post(TRUNKS, json={"name": "Refused"})
    assert_message(refused, 429)
    assert refused.headers["Retry-After"] in ("1", "2")
    legacy = api.get(LEGACY)
    assert legacy.status_code == 429 and set(legacy.json()) == {"error", "message"}
    assert api_b.get(TRUNKS).status_code == 200
    assert bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]["trunks"] == []
    time.sleep(max(0.0, started + 1.6 - time.monotonic()))
    assert api.get(TRUNKS).status_code == 200


def test_faults_reach_trunk_requests_in_the_detail_shape(bolna: EmulatorProcess,
                                                         api: httpx.Client) -> None:
    bolna.set_faults(burst_429=2)
    for _ in range(2):
        burst = api.get(TRUNKS)
        assert_message(burst, 429)
        assert burst.headers["Retry-After"] == "1"
    bolna.set_faults(error_rate=1.0)
    failed = api.post(TRUNKS, json={"name": "Never"})
    assert failed.status_code in ERROR_STATUSES
    assert_message(failed, failed.status_code, "Internal error (emulated fault)")
    bolna.set_faults(error_rate=0.0)
    assert api.get(TRUNKS).json() == []
    assert bolna.stats()["by_fault"] == {"burst-429": 2, "error": 1}


def test_a_lost_answer_still_commits_the_change(bolna: EmulatorProcess,
                                                api: httpx.Client) -> None:
    bolna.set_faults(drop_after_commit_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(TRUNKS, json={"name": "Lost"})
    bolna.set_faults(drop_after_commit_rate=0.0)
    listed = api.get(TRUNKS).json()
    assert [t["name"] for t in listed] == ["Lost"]
    assert_message(api.post(TRUNKS, json={"name": "Lost"}), 409)
    dropped = [e for e in bolna.requests() if e["fault"] == "drop-after-commit"]
    assert [(e["method"], e["path"], e["status"]) for e in dropped] == [
        ("POST", TRUNKS, None)]


def test_the_request_log_names_trunk_routes_and_redacts_passwords(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(record_bodies=True)
    trunk = create(api, "Logged", auth_username="u", auth_password=PASSWORD)
    api.patch(f"{TRUNKS}/{trunk['id']}", json={"auth_username": "u",
                                                "auth_password": PASSWORD + "-2"})
    api.get(f"{TRUNKS}/{trunk['id']}/calls")
    entries = bolna.requests()
    assert [(e["method"], e["route"], e["status"], e["account"]) for e in entries] == [
        ("POST", TRUNKS, 200, bolna.account(TOKEN_A)),
        ("PATCH", TRUNKS + "/{trunk_id}", 200, bolna.account(TOKEN_A)),
        ("GET", TRUNKS + "/{trunk_id}/calls", 200, bolna.account(TOKEN_A))]
    assert entries[0]["body"] == {"name": "Logged", "auth_username": "u",
                                  "auth_password": "REDACTED"}
    everything = json.dumps([entries, bolna.state(), bolna.stats()]) + bolna.log_text()
    assert PASSWORD not in everything
    assert TOKEN_A not in everything and TOKEN_B not in everything


def test_the_admin_routes_are_neither_limited_nor_faulted(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk = create(api)
    bolna.set_faults(rate_limit=1, error_rate=1.0, burst_429=5)
    for _ in range(3):
        bolna.record_call(trunk["id"], "outbound", True)
        bolna.set_active_calls(trunk["id"], 1)
        bolna.set_agents(TOKEN_A, [])
    assert bolna.stats()["total"] == 1


def test_a_legacy_trunk_and_a_trunk_may_share_a_name(api: httpx.Client) -> None:
    assert api.post(LEGACY, json=minimal("Shared")).status_code == 201
    assert create(api, "Shared")["name"] == "Shared"
