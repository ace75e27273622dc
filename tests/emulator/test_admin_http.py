"""The admin API (state, request log, stats, reset) and what never leaves the emulator."""

from __future__ import annotations

import hashlib
import json
import re

import httpx

from bolna_emulator.process import EmulatorProcess

from .bodies import TWILIO_PASSWORD, TWILIO_USERPASS, minimal
from .conftest import TOKEN_A, TOKEN_B
from .contract import UTC_TIME, assert_trunk

TRUNKS = "/sip-trunks/trunks"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_state_shows_every_account_with_password_digests(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk = api.post(TRUNKS, json=TWILIO_USERPASS).json()
    state = bolna.state()
    assert set(state["accounts"]) == {bolna.account(TOKEN_A), bolna.account(TOKEN_B)}
    assert bolna.account(TOKEN_A) == _sha256(TOKEN_A)[:8]
    stored = state["accounts"][bolna.account(TOKEN_A)]["trunks"][0]
    assert stored.pop("auth_password_sha256") == _sha256(TWILIO_PASSWORD)
    assert assert_trunk(stored) == trunk
    api.patch(f"{TRUNKS}/{trunk['id']}", json={"auth_password": "rotated-canary"})
    rotated = bolna.state()["accounts"][bolna.account(TOKEN_A)]["trunks"][0]
    assert rotated["auth_password_sha256"] == _sha256("rotated-canary")


def test_request_log_names_accounts_not_tokens(bolna: EmulatorProcess, api: httpx.Client,
                                               anonymous: httpx.Client) -> None:
    trunk = api.post(TRUNKS, json=minimal()).json()
    api.get(f"{TRUNKS}/{trunk['id']}")
    anonymous.get(TRUNKS)
    entries = bolna.requests()
    assert [(e["seq"], e["method"], e["path"], e["route"], e["status"], e["account"])
            for e in entries] == [
        (1, "POST", TRUNKS, TRUNKS, 201, bolna.account(TOKEN_A)),
        (2, "GET", f"{TRUNKS}/{trunk['id']}", TRUNKS + "/{trunk_id}", 200,
         bolna.account(TOKEN_A)),
        (3, "GET", TRUNKS, TRUNKS, 403, None)]
    for entry in entries:
        assert UTC_TIME.match(entry["time"]) and entry["fault"] is None
        assert entry["duration_ms"] >= 0
    assert [e["seq"] for e in bolna.requests(since=2)] == [3]
    assert TOKEN_A not in json.dumps(entries)


def test_stats_count_by_route_template_and_status(bolna: EmulatorProcess,
                                                  api: httpx.Client) -> None:
    ids = [api.post(TRUNKS, json=minimal(f"T{i}")).json()["id"] for i in range(3)]
    api.post(TRUNKS, json=minimal("T0"))
    for trunk_id in ids:
        api.get(f"{TRUNKS}/{trunk_id}")
    api.delete(f"{TRUNKS}/{ids[0]}")
    api.get(f"{TRUNKS}/{ids[0]}")
    stats = bolna.stats()
    assert stats["total"] == 9
    assert stats["by_status"] == {"200": 4, "201": 3, "404": 1, "409": 1}
    assert stats["by_account"] == {bolna.account(TOKEN_A): 9}
    assert stats["by_fault"] == {}
    assert {(r["method"], r["route"], r["status"]): r["count"] for r in stats["routes"]} == {
        ("POST", TRUNKS, 201): 3, ("POST", TRUNKS, 409): 1,
        ("GET", TRUNKS + "/{trunk_id}", 200): 3, ("GET", TRUNKS + "/{trunk_id}", 404): 1,
        ("DELETE", TRUNKS + "/{trunk_id}", 200): 1}


def test_reset_empties_everything_but_keeps_tokens(bolna: EmulatorProcess,
                                                   api: httpx.Client) -> None:
    api.post(TRUNKS, json=minimal())
    bolna.set_faults(latency_ms=1)
    bolna.reset()
    assert bolna.state()["accounts"] == {bolna.account(TOKEN_A): {"trunks": [], "numbers": []},
                                         bolna.account(TOKEN_B): {"trunks": [], "numbers": []}}
    assert bolna.requests() == [] and bolna.stats()["total"] == 0
    assert bolna.faults()["latency_ms"] == 0
    assert api.get(TRUNKS).json() == []


def test_password_and_token_never_leave_the_emulator(bolna: EmulatorProcess,
                                                     api: httpx.Client) -> None:
    seen = []
    created = api.post(TRUNKS, json={**TWILIO_USERPASS, "phone_numbers": [
        {"phone_number": "919876543210"}]})
    seen.append(created.text)
    trunk_id = created.json()["id"]
    for response in (
            api.get(TRUNKS), api.get(f"{TRUNKS}/{trunk_id}"),
            api.patch(f"{TRUNKS}/{trunk_id}", json={"auth_password": TWILIO_PASSWORD + "-2"}),
            api.patch(f"{TRUNKS}/{trunk_id}", json={"auth_password": ""}),
            api.post(TRUNKS, json={**TWILIO_USERPASS, "media_encryption": "sdes"}),
            api.post(TRUNKS, json=TWILIO_USERPASS),
            api.get(f"{TRUNKS}/{trunk_id}/numbers"),
            api.delete(f"{TRUNKS}/{trunk_id}")):
        seen.append(response.text)
    seen += [json.dumps(bolna.state()), json.dumps(bolna.requests()),
             json.dumps(bolna.stats()), json.dumps(bolna.faults()), bolna.log_text()]
    for text in seen:
        assert TWILIO_PASSWORD not in text
        assert TOKEN_A not in text and TOKEN_B not in text


def test_one_access_line_per_request(bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk = api.post(TRUNKS, json=minimal("Logged")).json()
    api.get(f"{TRUNKS}/{trunk['id']}", params={"x": "1"})
    lines = bolna.log_text().splitlines()
    assert any(re.search(r"INFO bolna_emulator\.access: POST /sip-trunks/trunks 201 "
                         r"[0-9.]+ms$", line) for line in lines)
    assert any(f"GET /sip-trunks/trunks/{trunk['id']}?x=1 200" in line for line in lines)
