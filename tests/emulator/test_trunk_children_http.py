"""``/trunk`` gateways, carrier IPs, numbers and agents over real HTTP, and the cascade."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .conftest import TOKEN_A, TOKEN_B
from .trunk_contract import (
    TRUNKS,
    assert_gateway,
    assert_ip_acl,
    assert_message,
    assert_number,
    assert_problem,
    create,
    get,
)

UNKNOWN_ID = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"


def _gateway(api: httpx.Client, trunk_id: str, **body: Any) -> httpx.Response:
    return api.post(f"{TRUNKS}/{trunk_id}/gateways", json=body)


def _acl(api: httpx.Client, trunk_id: str, cidr: str) -> httpx.Response:
    return api.post(f"{TRUNKS}/{trunk_id}/ip-acls", json={"cidr": cidr})


def _number(api: httpx.Client, trunk_id: str, e164: str,
            destination_key: str | None = None, **more: Any) -> httpx.Response:
    key = e164.removeprefix("+") if destination_key is None else destination_key
    return api.post(f"{TRUNKS}/{trunk_id}/numbers",
                    json={"e164": e164, "destination_key": key, **more})


# ---- gateways -----------------------------------------------------------------------

def test_gateways_are_added_with_defaults_in_the_order_added(api: httpx.Client) -> None:
    trunk = create(api)
    first = _gateway(api, trunk["id"], host="sip.example.com")
    assert first.status_code == 200
    assert {k: v for k, v in assert_gateway(first.json()).items() if k != "id"} == {
        "host": "sip.example.com", "port": 5060, "priority": 1}
    second = assert_gateway(_gateway(api, trunk["id"], host="203.0.113.10", port=5080,
                                     priority=0).json())
    third = assert_gateway(_gateway(api, trunk["id"], host="2001:db8::10",
                                    priority=1000).json())
    assert get(api, trunk["id"])["gateways"] == [first.json(), second, third]


def test_a_ninth_gateway_is_a_422(api: httpx.Client) -> None:
    trunk = create(api)
    for index in range(8):
        assert _gateway(api, trunk["id"], host=f"gw{index}.example.com").status_code == 200
    refused = _gateway(api, trunk["id"], host="gw8.example.com")
    assert_message(refused, 422, "a trunk has at most 8 gateways")
    gateways = get(api, trunk["id"])["gateways"]
    assert [g["host"] for g in gateways] == [f"gw{i}.example.com" for i in range(8)]
    removed = api.delete(f"{TRUNKS}/{trunk['id']}/gateways/{gateways[0]['id']}")
    assert removed.status_code == 200
    assert _gateway(api, trunk["id"], host="gw8.example.com").status_code == 200


@pytest.mark.parametrize("host", [
    "sip://sip.example.com", "sip.example.com:5060", "sip.example.com/path", "a b.com",
    "1.2.3", "300.1.1.1", "-bad.example.com", "bad-.example.com", "under_score.com",
    "x" * 64 + ".com", "[2001:db8::1]", " sip.example.com"])
def test_a_host_that_is_no_hostname_or_ip_is_a_422(api: httpx.Client, host: str) -> None:
    trunk = create(api)
    message = assert_message(_gateway(api, trunk["id"], host=host), 422)
    assert message.startswith("host must be a hostname or an IP address")
    assert get(api, trunk["id"])["gateways"] == []


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({}, ("body", "host"), "missing"),
    ({"host": ""}, ("body", "host"), "string_too_short"),
    ({"host": None}, ("body", "host"), "string_type"),
    ({"host": "a.com", "port": 0}, ("body", "port"), "greater_than_equal"),
    ({"host": "a.com", "port": 65536}, ("body", "port"), "less_than_equal"),
    ({"host": "a.com", "port": "5060"}, ("body", "port"), "int_type"),
    ({"host": "a.com", "port": None}, ("body", "port"), "int_type"),
    ({"host": "a.com", "priority": -1}, ("body", "priority"), "greater_than_equal"),
    ({"host": "a.com", "transport": "udp"}, ("body", "transport"), "extra_forbidden"),
    (None, ("body",), "missing"),
])
def test_a_gateway_outside_the_model_is_fastapis_422(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    trunk = create(api)
    response = api.post(f"{TRUNKS}/{trunk['id']}/gateways", json=body)
    assert_problem(response, loc, kind)
    assert get(api, trunk["id"])["gateways"] == []


def test_removing_a_gateway_answers_it_then_404(api: httpx.Client) -> None:
    trunk = create(api)
    keep = _gateway(api, trunk["id"], host="a.example.com").json()
    gone = _gateway(api, trunk["id"], host="b.example.com").json()
    path = f"{TRUNKS}/{trunk['id']}/gateways/{gone['id']}"
    response = api.delete(path)
    assert response.status_code == 200 and assert_gateway(response.json()) == gone
    assert get(api, trunk["id"])["gateways"] == [keep]
    assert_message(api.delete(path), 404, f"No gateway with id {gone['id']} on trunk "
                                          f"{trunk['id']}")
    other = create(api, "Other")
    assert_message(api.delete(f"{TRUNKS}/{other['id']}/gateways/{keep['id']}"), 404)


# ---- carrier IPs --------------------------------------------------------------------

@pytest.mark.parametrize(("sent", "stored"), [
    ("198.51.100.7", "198.51.100.7/32"), ("198.51.100.0/28", "198.51.100.0/28"),
    ("198.51.100.7/28", "198.51.100.0/28"), ("10.0.0.0/8", "10.0.0.0/8"),
    ("2001:db8::1", "2001:db8::1/128"), ("2001:DB8:0:0::/32", "2001:db8::/32"),
    ("0.0.0.0/0", "0.0.0.0/0")])
def test_carrier_ips_are_stored_normalised(api: httpx.Client, sent: str, stored: str) -> None:
    trunk = create(api)
    response = _acl(api, trunk["id"], sent)
    assert response.status_code == 200
    acl = assert_ip_acl(response.json())
    assert acl["cidr"] == stored
    assert get(api, trunk["id"])["ip_acls"] == [acl]


@pytest.mark.parametrize("cidr", [
    "not-an-ip", "300.1.1.1", "198.51.100.0/33", "2001:db8::/129", " 198.51.100.1",
    "198.51.100.1 ", "sip.example.com", "198.51.100.1-198.51.100.9"])
def test_a_carrier_ip_that_is_no_address_is_a_422(api: httpx.Client, cidr: str) -> None:
    trunk = create(api)
    message = assert_message(_acl(api, trunk["id"], cidr), 422)
    assert message.startswith("cidr must be an IP address or CIDR range")
    assert get(api, trunk["id"])["ip_acls"] == []


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({}, ("body", "cidr"), "missing"), ({"cidr": ""}, ("body", "cidr"), "string_too_short"),
    ({"cidr": 3232235777}, ("body", "cidr"), "string_type"),
    ({"cidr": "198.51.100.1", "note": "x"}, ("body", "note"), "extra_forbidden")])
def test_a_carrier_ip_outside_the_model_is_fastapis_422(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    trunk = create(api)
    assert_problem(api.post(f"{TRUNKS}/{trunk['id']}/ip-acls", json=body), loc, kind)


def test_the_same_network_twice_on_a_trunk_is_a_409(api: httpx.Client) -> None:
    trunk, other = create(api, "One"), create(api, "Two")
    first = _acl(api, trunk["id"], "198.51.100.7").json()
    message = assert_message(_acl(api, trunk["id"], "198.51.100.7/32"), 409)
    assert "198.51.100.7/32" in message
    assert _acl(api, trunk["id"], "198.51.100.0/28").status_code == 200
    assert_message(_acl(api, trunk["id"], "198.51.100.9/28"), 409)
    assert _acl(api, other["id"], "198.51.100.7").status_code == 200
    assert [a["cidr"] for a in get(api, trunk["id"])["ip_acls"]] == [
        first["cidr"], "198.51.100.0/28"]


def test_removing_a_carrier_ip_answers_it_then_404(api: httpx.Client) -> None:
    trunk = create(api)
    acl = _acl(api, trunk["id"], "198.51.100.7").json()
    path = f"{TRUNKS}/{trunk['id']}/ip-acls/{acl['id']}"
    response = api.delete(path)
    assert response.status_code == 200 and response.json() == acl
    assert get(api, trunk["id"])["ip_acls"] == []
    assert_message(api.delete(path), 404,
                   f"No carrier IP with id {acl['id']} on trunk {trunk['id']}")
    assert _acl(api, trunk["id"], "198.51.100.7").status_code == 200


# ---- numbers ------------------------------------------------------------------------

def test_a_number_is_added_and_shown_on_its_trunk(api: httpx.Client) -> None:
    trunk = create(api)
    response = _number(api, trunk["id"], "+12025550143", agent_id="agent-1")
    assert response.status_code == 200
    number = assert_number(response.json())
    assert {k: number[k] for k in ("trunk_id", "e164", "destination_key", "agent_id",
                                   "last_inbound_at", "last_outbound_at", "is_deleted",
                                   "deleted_at")} == {
        "trunk_id": trunk["id"], "e164": "+12025550143", "destination_key": "12025550143",
        "agent_id": "agent-1", "last_inbound_at": None, "last_outbound_at": None,
        "is_deleted": False, "deleted_at": None}
    assert number["created_at"] == number["updated_at"]
    plain = assert_number(_number(api, trunk["id"], "+442071838750", "02071838750",
                                  agent_id=None).json())
    assert plain["agent_id"] is None
    assert get(api, trunk["id"])["numbers"] == [number, plain]


@pytest.mark.parametrize("e164", [
    "12025550143", "+02025550143", "+123456", "+1234567890123456", "+1202555014a",
    "+1 202 555 0143", "+12025550143\n", "++12025550143",
    "+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"])
def test_an_e164_outside_the_pattern_is_fastapis_422(api: httpx.Client, e164: str) -> None:
    trunk = create(api)
    response = _number(api, trunk["id"], e164, "12025550143")
    entry = assert_problem(response, ("body", "e164"), "string_pattern_mismatch")
    assert entry["ctx"] == {"pattern": r"^\+[1-9]\d{6,14}$"}
    assert get(api, trunk["id"])["numbers"] == []


@pytest.mark.parametrize("e164", ["+1234567", "+123456789012345"])
def test_the_e164_length_bounds_are_accepted(api: httpx.Client, e164: str) -> None:
    trunk = create(api)
    assert _number(api, trunk["id"], e164).status_code == 200


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({"destination_key": "1"}, ("body", "e164"), "missing"),
    ({"e164": "+12025550143"}, ("body", "destination_key"), "missing"),
    ({"e164": "+12025550143", "destination_key": ""}, ("body", "destination_key"),
     "string_too_short"),
    ({"e164": 12025550143, "destination_key": "1"}, ("body", "e164"), "string_type"),
    ({"e164": "+12025550143", "destination_key": "1", "agent_id": 5}, ("body", "agent_id"),
     "string_type"),
    ({"e164": "+12025550143", "destination_key": "1", "name": "x"}, ("body", "name"),
     "extra_forbidden"),
])
def test_a_number_outside_the_model_is_fastapis_422(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    trunk = create(api)
    assert_problem(api.post(f"{TRUNKS}/{trunk['id']}/numbers", json=body), loc, kind)


@pytest.mark.parametrize("key", ["+12025550143", "1202 5550143", "12025550143\t"])
def test_a_destination_key_with_plus_or_spaces_is_a_422(api: httpx.Client, key: str) -> None:
    trunk = create(api)
    message = assert_message(_number(api, trunk["id"], "+12025550143", key), 422)
    assert message.startswith("destination_key")


def test_an_e164_live_anywhere_in_the_account_is_a_409(api: httpx.Client,
                                                       api_b: httpx.Client) -> None:
    trunk, other = create(api, "One"), create(api, "Two")
    held = _number(api, trunk["id"], "+12025550143").json()
    for target in (trunk["id"], other["id"]):
        message = assert_message(_number(api, target, "+12025550143", "other-key"), 409)
        assert held["id"] in message and trunk["id"] in message
    assert [n["id"] for n in get(api, trunk["id"])["numbers"]] == [held["id"]]
    assert get(api, other["id"])["numbers"] == []
    theirs = create(api_b, "Theirs")
    assert _number(api_b, theirs["id"], "+12025550143").status_code == 200
    assert _number(api, other["id"], "+12025550144", "12025550143").status_code == 200


def test_removing_a_number_soft_deletes_it_and_frees_its_e164(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk, other = create(api, "One"), create(api, "Two")
    keep = _number(api, trunk["id"], "+12025550100").json()
    gone = _number(api, trunk["id"], "+12025550143").json()
    path = f"{TRUNKS}/{trunk['id']}/numbers/{gone['id']}"
    assert_message(api.delete(f"{TRUNKS}/{other['id']}/numbers/{gone['id']}"), 404)
    response = api.delete(path)
    assert response.status_code == 200
    removed = assert_number(response.json())
    assert removed["is_deleted"] is True and removed["deleted_at"] is not None
    assert {k: v for k, v in removed.items()
            if k not in ("is_deleted", "deleted_at", "updated_at")} == {
        k: v for k, v in gone.items() if k not in ("is_deleted", "deleted_at", "updated_at")}
    assert get(api, trunk["id"])["numbers"] == [keep]
    assert_message(api.delete(path), 404)
    again = _number(api, other["id"], "+12025550143")
    assert again.status_code == 200 and again.json()["id"] != gone["id"]
    stored = bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]["numbers"]
    assert [(n["e164"], n["is_deleted"]) for n in stored] == [
        ("+12025550100", False), ("+12025550143", True), ("+12025550143", False)]


def test_assigning_an_agent_sets_and_clears_it(api: httpx.Client) -> None:
    trunk = create(api)
    number = _number(api, trunk["id"], "+12025550143").json()
    path = f"/trunk/numbers/{number['id']}"
    set_ = api.patch(path, json={"agent_id": "agent-7"})
    assert set_.status_code == 200
    assert assert_number(set_.json())["agent_id"] == "agent-7"
    assert set_.json()["updated_at"] >= number["updated_at"]
    assert get(api, trunk["id"])["numbers"][0]["agent_id"] == "agent-7"
    for clearing in (b'{"agent_id": null}', b"{}", b""):
        api.patch(path, json={"agent_id": "agent-7"})
        cleared = api.patch(path, content=clearing,
                            headers={"Content-Type": "application/json"})
        assert cleared.status_code == 200, (clearing, cleared.text)
        assert cleared.json()["agent_id"] is None
    assert get(api, trunk["id"])["numbers"][0]["agent_id"] is None


def test_assigning_refuses_bad_bodies_and_removed_numbers(api: httpx.Client,
                                                          api_b: httpx.Client) -> None:
    trunk = create(api)
    number = _number(api, trunk["id"], "+12025550143").json()
    path = f"/trunk/numbers/{number['id']}"
    assert_problem(api.patch(path, json={"agent_id": 5}), ("body", "agent_id"), "string_type")
    assert_problem(api.patch(path, json={"agent_id": ""}), ("body", "agent_id"),
                   "string_too_short")
    assert_problem(api.patch(path, json={"agent": "x"}), ("body", "agent"), "extra_forbidden")
    assert_message(api_b.patch(path, json={"agent_id": "x"}), 404)
    api.delete(f"{TRUNKS}/{trunk['id']}/numbers/{number['id']}")
    assert_message(api.patch(path, json={"agent_id": "x"}), 404,
                   f"No live number with id {number['id']}")
    assert_message(api.patch(f"/trunk/numbers/{UNKNOWN_ID}", json={}), 404)


# ---- agents -------------------------------------------------------------------------

def test_agents_once_named_are_the_only_ones_accepted(bolna: EmulatorProcess,
                                                      api: httpx.Client,
                                                      api_b: httpx.Client) -> None:
    trunk = create(api, "Before", default_inbound_agent_id="anything")
    number = _number(api, trunk["id"], "+12025550143", agent_id="anything").json()
    assert bolna.set_agents(TOKEN_A, ["agent-1", "agent-2"]) == {
        "account": bolna.account(TOKEN_A), "agents": ["agent-1", "agent-2"]}
    refusals = [
        api.post(TRUNKS, json={"name": "New", "default_inbound_agent_id": "agent-9"}),
        api.patch(f"{TRUNKS}/{trunk['id']}", json={"default_inbound_agent_id": "agent-9"}),
        _number(api, trunk["id"], "+12025550144", agent_id="agent-9"),
        api.patch(f"/trunk/numbers/{number['id']}", json={"agent_id": "agent-9"}),
    ]
    for response in refusals:
        assert assert_message(response, 422).endswith("'agent-9' is not one of your agents")
    assert [t["name"] for t in api.get(TRUNKS).json()] == ["Before"]
    assert get(api, trunk["id"])["default_inbound_agent_id"] == "anything"
    assert api.patch(f"/trunk/numbers/{number['id']}",
                     json={"agent_id": "agent-2"}).json()["agent_id"] == "agent-2"
    assert api.patch(f"{TRUNKS}/{trunk['id']}",
                     json={"default_inbound_agent_id": None}).status_code == 200
    theirs = create(api_b, "Theirs", default_inbound_agent_id="agent-9")
    assert theirs["default_inbound_agent_id"] == "agent-9"
    bolna.set_agents(TOKEN_A, [])
    assert create(api, "After", default_inbound_agent_id="agent-9")["name"] == "After"
    assert bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_B)]["agents"] == []


@pytest.mark.parametrize(("headers", "body"), [
    ({}, {"agents": ["a"]}),
    ({"Authorization": "Bearer not-a-token"}, {"agents": ["a"]}),
    ({"Authorization": f"Bearer {TOKEN_A}"}, {"agents": "a"}),
    ({"Authorization": f"Bearer {TOKEN_A}"}, {"agents": [""]}),
    ({"Authorization": f"Bearer {TOKEN_A}"}, {"agents": [1]}),
    ({"Authorization": f"Bearer {TOKEN_A}"}, {}),
    ({"Authorization": f"Bearer {TOKEN_A}"}, {"agents": [], "more": 1}),
])
def test_setting_agents_needs_a_token_and_a_list(
        bolna: EmulatorProcess, anonymous: httpx.Client, headers: dict[str, str],
        body: dict[str, Any]) -> None:
    response = anonymous.put("/_emulator/agents", json=body, headers=headers)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    assert bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]["agents"] == []


# ---- the cascade --------------------------------------------------------------------

def test_deleting_a_trunk_takes_its_children_with_it(bolna: EmulatorProcess,
                                                     api: httpx.Client) -> None:
    trunk, other = create(api, "Doomed"), create(api, "Kept")
    gateway = _gateway(api, trunk["id"], host="sip.example.com").json()
    acl = _acl(api, trunk["id"], "198.51.100.7").json()
    numbers = [_number(api, trunk["id"], e164).json()
               for e164 in ("+12025550143", "+12025550144")]
    bolna.record_call(trunk["id"], "inbound", True)
    kept = _number(api, other["id"], "+12025550145").json()
    assert api.delete(f"{TRUNKS}/{trunk['id']}").status_code == 200
    base = f"{TRUNKS}/{trunk['id']}"
    for response in (api.delete(f"{base}/gateways/{gateway['id']}"),
                     api.delete(f"{base}/ip-acls/{acl['id']}"),
                     api.delete(f"{base}/numbers/{numbers[0]['id']}"),
                     api.get(f"{base}/calls"),
                     api.patch(f"/trunk/numbers/{numbers[1]['id']}", json={})):
        assert_message(response, 404)
    account = bolna.state()["trunk"]["accounts"][bolna.account(TOKEN_A)]
    assert [t["id"] for t in account["trunks"]] == [other["id"]]
    removed = [n for n in account["numbers"] if n["trunk_id"] == trunk["id"]]
    assert [(n["id"], n["is_deleted"]) for n in removed] == [
        (numbers[0]["id"], True), (numbers[1]["id"], True)]
    assert all(n["deleted_at"] for n in removed)
    assert get(api, other["id"])["numbers"] == [kept]
    for number in numbers:
        assert _number(api, other["id"], number["e164"]).status_code == 200
