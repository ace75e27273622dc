"""``/trunk`` health, active calls, the calls list and the connection details over HTTP.

Health follows the contract: ``disabled`` when the trunk is not active; else
``waiting_for_carrier`` until a call is recorded; else ``degraded`` once 3 or more
outbound calls failed since the last answered call (either direction); else
``healthy``. Calls are recorded through the admin API, as Bolna's edge would see them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .conftest import TOKEN_A
from .trunk_contract import POP, TRUNKS, assert_call, assert_message, assert_trunk, create, get


def _health(api: httpx.Client, trunk_id: str) -> str:
    return str(get(api, trunk_id)["health"])


def test_health_from_waiting_to_healthy_to_degraded_and_back(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    assert _health(api, trunk_id) == "waiting_for_carrier"
    bolna.record_call(trunk_id, "inbound", True)
    assert _health(api, trunk_id) == "healthy"
    bolna.record_call(trunk_id, "outbound", False)
    bolna.record_call(trunk_id, "outbound", False, sip_code=503)
    assert _health(api, trunk_id) == "healthy"
    bolna.record_call(trunk_id, "outbound", False, sip_code=408)
    assert _health(api, trunk_id) == "degraded"
    bolna.record_call(trunk_id, "inbound", False)
    bolna.record_call(trunk_id, "outbound", False)
    assert _health(api, trunk_id) == "degraded"
    bolna.record_call(trunk_id, "inbound", True)
    assert _health(api, trunk_id) == "healthy"
    assert [t["health"] for t in api.get(TRUNKS).json()] == ["healthy"]


def test_an_answered_outbound_call_clears_degraded_too(bolna: EmulatorProcess,
                                                        api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    for _ in range(5):
        bolna.record_call(trunk_id, "outbound", False)
    assert _health(api, trunk_id) == "degraded"
    bolna.record_call(trunk_id, "outbound", True)
    assert _health(api, trunk_id) == "healthy"
    for _ in range(2):
        bolna.record_call(trunk_id, "outbound", False)
    assert _health(api, trunk_id) == "healthy"


def test_failed_inbound_calls_never_degrade(bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    bolna.record_call(trunk_id, "inbound", False, sip_code=486)
    assert _health(api, trunk_id) == "healthy"
    for _ in range(5):
        bolna.record_call(trunk_id, "inbound", False)
    assert _health(api, trunk_id) == "healthy"


def test_an_inactive_trunk_is_disabled_whatever_its_calls(bolna: EmulatorProcess,
                                                          api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    path = f"{TRUNKS}/{trunk_id}"
    assert api.patch(path, json={"is_active": False}).json()["health"] == "disabled"
    for _ in range(3):
        bolna.record_call(trunk_id, "outbound", False)
    assert _health(api, trunk_id) == "disabled"
    assert api.patch(path, json={"is_active": True}).json()["health"] == "degraded"
    waiting = create(api, "Waiting")["id"]
    api.patch(f"{TRUNKS}/{waiting}", json={"is_active": False})
    assert _health(api, waiting) == "disabled"
    assert api.patch(f"{TRUNKS}/{waiting}", json={"is_active": True}).json()["health"] == (
        "waiting_for_carrier")


def test_the_labels_switch_answers_the_dashboards_words(bolna: EmulatorProcess,
                                                        api: httpx.Client) -> None:
    waiting, healthy, degraded, disabled = (create(api, name)["id"] for name in
                                            ("W", "H", "Dg", "Ds"))
    bolna.record_call(healthy, "inbound", True)
    for _ in range(3):
        bolna.record_call(degraded, "outbound", False)
    api.patch(f"{TRUNKS}/{disabled}", json={"is_active": False})
    bolna.set_faults(trunk_health_labels=True)
    expected = {waiting: "Waiting for carrier", healthy: "Healthy",
                degraded: "Degraded", disabled: "Disabled"}
    for trunk_id, label in expected.items():
        assert assert_trunk(api.get(f"{TRUNKS}/{trunk_id}").json(),
                            labels=True)["health"] == label
    assert {t["id"]: t["health"] for t in api.get(TRUNKS).json()} == expected
    patched = api.patch(f"{TRUNKS}/{healthy}", json={"channels": 3})
    assert patched.json()["health"] == "Healthy"
    bolna.reset()
    assert bolna.faults()["trunk_health_labels"] is False


def test_active_calls_read_what_the_admin_api_set(bolna: EmulatorProcess,
                                                  api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    assert get(api, trunk_id)["active_calls"] == 0
    assert bolna.set_active_calls(trunk_id, 7) == {"trunk_id": trunk_id, "active_calls": 7}
    assert get(api, trunk_id)["active_calls"] == 7
    assert api.get(TRUNKS).json()[0]["active_calls"] == 7
    bolna.set_active_calls(trunk_id, 0)
    assert get(api, trunk_id)["active_calls"] == 0


def test_calls_are_listed_newest_first_and_filtered(bolna: EmulatorProcess,
                                                    api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    path = f"{TRUNKS}/{trunk_id}/calls"
    assert api.get(path).json() == []
    recorded = [
        bolna.record_call(trunk_id, "inbound", True, execution_id="exec-1"),
        bolna.record_call(trunk_id, "outbound", False, sip_code=480),
        bolna.record_call(trunk_id, "outbound", True),
        bolna.record_call(trunk_id, "inbound", False),
    ]
    listed = api.get(path)
    assert listed.status_code == 200
    calls = [assert_call(call) for call in listed.json()]
    assert calls == list(reversed(recorded))
    assert [(c["direction"], c["outcome"], c["sip_code"]) for c in calls] == [
        ("inbound", "failed", 503), ("outbound", "answered", 200),
        ("outbound", "failed", 480), ("inbound", "answered", 200)]
    assert calls[-1]["execution_id"] == "exec-1"
    assert len({c["execution_id"] for c in calls}) == 4
    assert api.get(path, params={"direction": "outbound"}).json() == [calls[1], calls[2]]
    assert api.get(path, params={"direction": "inbound"}).json() == [calls[0], calls[3]]
    bad = api.get(path, params={"direction": "both"})
    assert bad.status_code == 422
    entry = bad.json()["detail"][0]
    assert (entry["type"], entry["loc"], entry["input"]) == (
        "enum", ["query", "direction"], "both")
    assert get(api, trunk_id)["updated_at"] == get(api, trunk_id)["created_at"]


def test_calls_of_another_account_or_a_deleted_trunk_are_404(
        bolna: EmulatorProcess, api: httpx.Client, api_b: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    bolna.record_call(trunk_id, "inbound", True)
    assert_message(api_b.get(f"{TRUNKS}/{trunk_id}/calls"), 404)
    api.delete(f"{TRUNKS}/{trunk_id}")
    assert_message(api.get(f"{TRUNKS}/{trunk_id}/calls"), 404,
                   f"No live trunk with id {trunk_id}")


@pytest.mark.parametrize("body", [
    {"direction": "sideways", "answered": True}, {"direction": "inbound"},
    {"answered": True}, {"direction": "inbound", "answered": "yes"},
    {"direction": "inbound", "answered": True, "sip_code": 99},
    {"direction": "inbound", "answered": True, "sip_code": "200"},
    {"direction": "inbound", "answered": True, "execution_id": ""},
    {"direction": "inbound", "answered": True, "cause": "x"}, [],
])
def test_recording_a_call_refuses_bad_bodies(bolna: EmulatorProcess, api: httpx.Client,
                                             anonymous: httpx.Client, body: Any) -> None:
    trunk_id = create(api)["id"]
    response = anonymous.post(f"/_emulator/trunk/trunks/{trunk_id}/calls", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    assert _health(api, trunk_id) == "waiting_for_carrier"


def test_admin_routes_answer_404_for_an_unknown_trunk(bolna: EmulatorProcess,
                                                      anonymous: httpx.Client) -> None:
    unknown = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"
    for method, suffix, body in (("POST", "calls", {"direction": "inbound", "answered": True}),
                                 ("PUT", "active-calls", {"active_calls": 1})):
        response = anonymous.request(method, f"/_emulator/trunk/trunks/{unknown}/{suffix}",
                                     json=body)
        assert response.status_code == 404
        assert response.json() == {"error": 404, "message": f"No live trunk with id {unknown}"}
    malformed = anonymous.put("/_emulator/trunk/trunks/x/active-calls",
                              json={"active_calls": 1})
    assert malformed.status_code == 400


@pytest.mark.parametrize("body", [{"active_calls": -1}, {"active_calls": "2"},
                                  {"active_calls": True}, {}, {"active_calls": 1, "x": 1}])
def test_setting_active_calls_refuses_bad_bodies(bolna: EmulatorProcess, api: httpx.Client,
                                                 anonymous: httpx.Client,
                                                 body: dict[str, Any]) -> None:
    trunk_id = create(api)["id"]
    response = anonymous.put(f"/_emulator/trunk/trunks/{trunk_id}/active-calls", json=body)
    assert response.status_code == 400
    assert get(api, trunk_id)["active_calls"] == 0


def test_the_admin_state_shows_calls_and_reset_empties_it(bolna: EmulatorProcess,
                                                          api: httpx.Client) -> None:
    trunk_id = create(api)["id"]
    call = bolna.record_call(trunk_id, "outbound", False)
    bolna.set_agents(TOKEN_A, ["agent-1"])
    account = bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]
    assert account["trunks"][0]["calls"] == [call]
    assert account["trunks"][0]["auth_password_sha256"] is None
    assert account["agents"] == ["agent-1"]
    bolna.reset()
    trunk_state = bolna.state()["trunk"]["accounts"]
    assert set(trunk_state) == {bolna.account(token) for token in bolna.tokens}
    assert all(content == {"trunks": [], "numbers": [], "agents": []}
               for content in trunk_state.values())
    assert api.get(TRUNKS).json() == []


def test_pop_answers_the_guides_values_by_default(api: httpx.Client) -> None:
    response = api.get(POP)
    assert response.status_code == 200
    assert response.json() == {
        "sip_domain": "trunk.bolna.ai", "port": 5060, "transports": ["udp", "tcp"],
        "ips": ["15.252.21.46", "13.206.230.198"], "rtp_ports": "30000-40000"}


def test_pop_values_are_settings(bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(trunk_pop_sip_domain="edge.test", trunk_pop_port=5080,
                     trunk_pop_transports=["udp"], trunk_pop_ips=["192.0.2.1"],
                     trunk_pop_rtp_ports="10000-20000")
    assert api.get(POP).json() == {
        "sip_domain": "edge.test", "port": 5080, "transports": ["udp"],
        "ips": ["192.0.2.1"], "rtp_ports": "10000-20000"}
    refused = httpx.put(f"{bolna.url}/_emulator/faults", json={"trunk_pop_port": 0})
    assert refused.status_code == 400
    bolna.reset()
    assert api.get(POP).json()["sip_domain"] == "trunk.bolna.ai"


def test_labels_and_pop_values_as_start_settings() -> None:
    """Start settings (``BOLNA_EMULATOR_SETTINGS``) hold across a reset."""
    with EmulatorProcess(["tok-labels"], trunk_health_labels=True,
                         settings={"trunk_pop_port": 5070}) as bolna, \
            bolna.client("tok-labels") as api:
        response = api.post(TRUNKS, json={"name": "Labelled"})
        assert response.status_code == 200
        assert assert_trunk(response.json(), labels=True)["health"] == "Waiting for carrier"
        assert api.get(POP).json()["port"] == 5070
        bolna.reset()
        again = api.post(TRUNKS, json={"name": "Labelled"}).json()
        assert again["health"] == "Waiting for carrier"
        assert api.get(POP).json()["port"] == 5070
