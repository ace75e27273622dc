"""``/trunk`` trunks over real HTTP: create, read, PATCH, DELETE and their rules.

Every assertion is on what a client sees: the status, the body's exact shape
(``trunk_contract.py``), and what a later read shows. Gateways, carrier IPs, numbers
and agents are in ``test_trunk_children_http.py``; health, calls and the connection
details in ``test_trunk_health_http.py``; tokens, the rate limit and faults in
``test_trunk_access_http.py``.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .conftest import TOKEN_A
from .trunk_contract import (
    TRUNKS,
    assert_message,
    assert_problem,
    assert_settings,
    assert_trunk,
    create,
    get,
    is_uuid,
)

PASSWORD = "canary-trunk-password-42aa"


def _stored(bolna: EmulatorProcess) -> list[dict[str, Any]]:
    trunks: list[dict[str, Any]] = bolna.state()["trunk"]["accounts"][
        bolna.account(TOKEN_A)]["trunks"]
    return trunks


def test_create_answers_200_with_the_contracts_defaults(api: httpx.Client) -> None:
    response = api.post(TRUNKS, json={"name": "Telnyx production"})
    assert response.status_code == 200
    trunk = assert_trunk(response.json())
    assert is_uuid(trunk["id"])
    assert {k: v for k, v in trunk.items() if k not in ("id", "created_at", "updated_at")} == {
        "name": "Telnyx production", "description": None, "preset": None, "is_active": True,
        "inbound_enabled": True, "outbound_enabled": True, "channels": 10,
        "default_inbound_agent_id": None, "auth_username": None, "transport": "udp",
        "codecs": "PCMU,PCMA", "outbound_leading_plus_enabled": False, "gateways": [],
        "ip_acls": [], "numbers": [], "health": "waiting_for_carrier", "active_calls": 0}
    assert trunk["created_at"] == trunk["updated_at"]
    assert get(api, trunk["id"]) == trunk


def test_create_takes_every_accepted_field(bolna: EmulatorProcess, api: httpx.Client) -> None:
    body = {"name": "Full", "description": "note", "preset": "telnyx",
            "inbound_enabled": False, "outbound_enabled": False, "channels": 1000,
            "default_inbound_agent_id": "agent-1", "auth_username": "bolna-out",
            "auth_password": PASSWORD, "transport": "tcp", "codecs": "PCMA",
            "outbound_leading_plus_enabled": True}
    response = api.post(TRUNKS, json=body)
    assert response.status_code == 200, response.text
    trunk = assert_trunk(response.json())
    assert {key: trunk[key] for key in body if key != "auth_password"} == {
        k: v for k, v in body.items() if k != "auth_password"}
    assert PASSWORD not in response.text
    stored = _stored(bolna)[0]
    assert stored["auth_password_sha256"] == hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert PASSWORD not in json.dumps(bolna.state())


def test_list_is_a_bare_array_in_creation_order(api: httpx.Client,
                                                api_b: httpx.Client) -> None:
    assert api.get(TRUNKS).json() == []
    first, second = create(api, "First"), create(api, "Second")
    listed = api.get(TRUNKS)
    assert listed.status_code == 200
    assert listed.json() == [first, second]
    assert api_b.get(TRUNKS).json() == []


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({}, ("body", "name"), "missing"),
    ({"name": ""}, ("body", "name"), "string_too_short"),
    ({"name": "x" * 101}, ("body", "name"), "string_too_long"),
    ({"name": None}, ("body", "name"), "string_type"),
    ({"name": 7}, ("body", "name"), "string_type"),
    ({"name": "T", "description": "d" * 501}, ("body", "description"), "string_too_long"),
    ({"name": "T", "description": None}, ("body", "description"), "string_type"),
    ({"name": "T", "preset": "bandwidth"}, ("body", "preset"), "enum"),
    ({"name": "T", "preset": "Twilio"}, ("body", "preset"), "enum"),
    ({"name": "T", "channels": 0}, ("body", "channels"), "greater_than_equal"),
    ({"name": "T", "channels": 1001}, ("body", "channels"), "less_than_equal"),
    ({"name": "T", "channels": "10"}, ("body", "channels"), "int_type"),
    ({"name": "T", "channels": 10.5}, ("body", "channels"), "int_from_float"),
    ({"name": "T", "channels": True}, ("body", "channels"), "int_type"),
    ({"name": "T", "inbound_enabled": "true"}, ("body", "inbound_enabled"), "bool_type"),
    ({"name": "T", "outbound_enabled": 1}, ("body", "outbound_enabled"), "bool_type"),
    ({"name": "T", "transport": "tls"}, ("body", "transport"), "enum"),
    ({"name": "T", "transport": "UDP"}, ("body", "transport"), "enum"),
    ({"name": "T", "auth_username": ""}, ("body", "auth_username"), "string_too_short"),
    ({"name": "T", "auth_username": "u", "auth_password": ""}, ("body", "auth_password"),
     "string_too_short"),
    ({"name": "T", "codecs": ["PCMU"]}, ("body", "codecs"), "string_type"),
    ({"name": "T", "is_active": False}, ("body", "is_active"), "extra_forbidden"),
    ({"name": "T", "gateways": [{"host": "sip.example.com"}]}, ("body", "gateways"),
     "extra_forbidden"),
    ({"name": "T", "ip_acls": [{"cidr": "198.51.100.0/28"}]}, ("body", "ip_acls"),
     "extra_forbidden"),
    ({"name": "T", "numbers": []}, ("body", "numbers"), "extra_forbidden"),
    ({"name": "T", "provider": "twilio"}, ("body", "provider"), "extra_forbidden"),
    ([], ("body",), "model_attributes_type"),
    ("T", ("body",), "model_attributes_type"),
])
def test_create_outside_the_model_is_fastapis_422(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    assert_problem(api.post(TRUNKS, json=body), loc, kind)
    assert api.get(TRUNKS).json() == []


def test_one_422_names_every_problem_and_never_a_password(api: httpx.Client) -> None:
    response = api.post(TRUNKS, json={"name": 1, "channels": "5", "is_active": True,
                                      "auth_username": "u", "auth_password": 12345})
    detail = response.json()["detail"]
    assert sorted((tuple(e["loc"]), e["type"]) for e in detail) == [
        (("body", "auth_password"), "string_type"), (("body", "channels"), "int_type"),
        (("body", "is_active"), "extra_forbidden"), (("body", "name"), "string_type")]
    assert "12345" not in response.text


@pytest.mark.parametrize("body", [
    {"name": "x" * 100}, {"name": "T", "description": "d" * 500},
    {"name": "T", "description": ""}, {"name": "T", "channels": 1},
    {"name": "T", "channels": 1000}, {"name": "T", "channels": 20.0},
    {"name": "T", "codecs": "PCMU"}, {"name": "T", "codecs": "PCMA"},
    {"name": "T", "codecs": "PCMA,PCMU"}, {"name": "T", "codecs": "PCMU,PCMA"},
    {"name": "T", "preset": "custom"}, {"name": "T", "auth_username": "only-the-user"},
], ids=lambda body: ",".join(f"{k}={str(v)[:12]}" for k, v in body.items()))
def test_create_accepts_the_bounds(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post(TRUNKS, json=body)
    assert response.status_code == 200, response.text
    trunk = assert_trunk(response.json())
    for key, value in body.items():
        assert trunk[key] == value


@pytest.mark.parametrize("codecs", [
    "", "PCMU,PCMU", "PCMA,PCMU,PCMA", "G729", "PCMU,G722", "pcmu", "PCMU, PCMA",
    "PCMU,", ",PCMA", "PCMU;PCMA"])
def test_codecs_outside_the_documented_subsets_are_refused(
        api: httpx.Client, codecs: str) -> None:
    message = assert_message(api.post(TRUNKS, json={"name": "T", "codecs": codecs}), 422)
    assert "codecs" in message and "PCMU" in message
    trunk = create(api)
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json={"codecs": codecs})
    assert_message(response, 422, message)
    assert get(api, trunk["id"]) == trunk


def test_blank_name_and_lone_password_are_refused(api: httpx.Client) -> None:
    assert_message(api.post(TRUNKS, json={"name": "   "}), 422, "name must not be blank")
    assert_message(api.post(TRUNKS, json={"name": "T", "auth_password": PASSWORD}), 422,
                   "auth_password needs auth_username: send them together")
    assert api.get(TRUNKS).json() == []


def test_a_taken_name_is_a_409_in_its_account_only(api: httpx.Client,
                                                   api_b: httpx.Client) -> None:
    first = create(api, "Same")
    message = assert_message(api.post(TRUNKS, json={"name": "Same"}), 409)
    assert "Same" in message
    assert len(api.get(TRUNKS).json()) == 1
    assert api_b.post(TRUNKS, json={"name": "Same"}).status_code == 200
    other = create(api, "Other")
    assert_message(api.patch(f"{TRUNKS}/{other['id']}", json={"name": "Same"}), 409)
    assert api.patch(f"{TRUNKS}/{first['id']}", json={"name": "Same"}).status_code == 200
    assert create(api, "same")["name"] == "same"


def test_patch_changes_only_the_fields_sent(api: httpx.Client) -> None:
    before = create(api, "Patched", description="old", preset="plivo")
    time.sleep(0.002)
    response = api.patch(f"{TRUNKS}/{before['id']}", json={"channels": 20, "preset": "twilio"})
    assert response.status_code == 200
    after = assert_trunk(response.json())
    assert (after["channels"], after["preset"]) == (20, "twilio")
    assert after["updated_at"] > before["updated_at"]
    unchanged = {"channels", "preset", "updated_at"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged}
    assert get(api, before["id"]) == after


def test_patch_sets_every_field_of_the_update_model(api: httpx.Client) -> None:
    trunk = create(api, "Everything")
    body = {"name": "Everything 2", "description": "d", "preset": "vobiz",
            "is_active": False, "inbound_enabled": False, "outbound_enabled": False,
            "channels": 1, "default_inbound_agent_id": "agent-x", "auth_username": "user",
            "auth_password": PASSWORD, "transport": "tcp",
            "outbound_leading_plus_enabled": True, "codecs": "PCMA,PCMU"}
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json=body)
    assert response.status_code == 200, response.text
    after = assert_trunk(response.json())
    assert {k: after[k] for k in body if k != "auth_password"} == {
        k: v for k, v in body.items() if k != "auth_password"}
    assert PASSWORD not in response.text


def test_patch_null_clears_the_nullable_fields(api: httpx.Client) -> None:
    trunk = create(api, "Clear", description="d", preset="exotel",
                   default_inbound_agent_id="agent-1")
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json={
        "description": None, "preset": None, "default_inbound_agent_id": None})
    after = assert_trunk(response.json())
    assert (after["description"], after["preset"], after["default_inbound_agent_id"]) == (
        None, None, None)


def test_empty_patch_changes_nothing_but_updated_at(api: httpx.Client) -> None:
    trunk = create(api)
    after = assert_trunk(api.patch(f"{TRUNKS}/{trunk['id']}", json={}).json())
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in trunk.items() if k != "updated_at"}


def test_credentials_are_set_and_cleared_as_a_pair(bolna: EmulatorProcess,
                                                   api: httpx.Client) -> None:
    trunk = create(api, "Creds")
    path = f"{TRUNKS}/{trunk['id']}"
    after = api.patch(path, json={"auth_username": "bolna", "auth_password": PASSWORD})
    assert assert_trunk(after.json())["auth_username"] == "bolna"
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert _stored(bolna)[0]["auth_password_sha256"] == digest
    api.patch(path, json={"auth_username": "bolna", "auth_password": PASSWORD + "-2"})
    assert _stored(bolna)[0]["auth_password_sha256"] != digest
    cleared = api.patch(path, json={"auth_username": None, "auth_password": None})
    assert cleared.json()["auth_username"] is None
    assert _stored(bolna)[0]["auth_password_sha256"] is None


@pytest.mark.parametrize("body", [
    {"auth_username": "u"}, {"auth_password": PASSWORD},
    {"auth_username": "u", "auth_password": None},
    {"auth_username": None, "auth_password": PASSWORD}, {"auth_username": None},
])
def test_credentials_sent_alone_or_mixed_are_a_422(
        bolna: EmulatorProcess, api: httpx.Client, body: dict[str, Any]) -> None:
    trunk = create(api, "Creds", auth_username="kept", auth_password="kept-password")
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json=body)
    message = assert_message(response, 422)
    assert "auth_username and auth_password" in message
    assert PASSWORD not in response.text
    assert get(api, trunk["id"]) == trunk
    assert _stored(bolna)[0]["auth_password_sha256"] == hashlib.sha256(
        b"kept-password").hexdigest()


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({"name": None}, ("body", "name"), "string_type"),
    ({"name": ""}, ("body", "name"), "string_too_short"),
    ({"is_active": None}, ("body", "is_active"), "bool_type"),
    ({"is_active": "false"}, ("body", "is_active"), "bool_type"),
    ({"channels": None}, ("body", "channels"), "int_type"),
    ({"channels": 0}, ("body", "channels"), "greater_than_equal"),
    ({"transport": None}, ("body", "transport"), "string_type"),
    ({"transport": "tls"}, ("body", "transport"), "enum"),
    ({"codecs": None}, ("body", "codecs"), "string_type"),
    ({"preset": "other"}, ("body", "preset"), "enum"),
    ({"outbound_leading_plus_enabled": None}, ("body", "outbound_leading_plus_enabled"),
     "bool_type"),
    ({"description": "d" * 501}, ("body", "description"), "string_too_long"),
    ({"auth_username": "", "auth_password": PASSWORD}, ("body", "auth_username"),
     "string_too_short"),
    ({"gateways": []}, ("body", "gateways"), "extra_forbidden"),
    ({"ip_acls": []}, ("body", "ip_acls"), "extra_forbidden"),
    ({"numbers": []}, ("body", "numbers"), "extra_forbidden"),
    ({"id": "x"}, ("body", "id"), "extra_forbidden"),
    ({"health": "healthy"}, ("body", "health"), "extra_forbidden"),
    ([], ("body",), "model_attributes_type"),
    (None, ("body",), "missing"),
])
def test_patch_outside_the_model_is_fastapis_422_and_changes_nothing(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    trunk = create(api)
    assert_problem(api.patch(f"{TRUNKS}/{trunk['id']}", json=body), loc, kind)
    assert get(api, trunk["id"]) == trunk


def test_delete_answers_the_settings_and_the_trunk_is_gone(api: httpx.Client) -> None:
    trunk = create(api, "Doomed", description="d", auth_username="u",
                   auth_password=PASSWORD)
    response = api.delete(f"{TRUNKS}/{trunk['id']}")
    assert response.status_code == 200
    settings = assert_settings(response.json())
    assert settings == {k: v for k, v in trunk.items() if k in settings}
    gone = f"No live trunk with id {trunk['id']}"
    assert_message(api.get(f"{TRUNKS}/{trunk['id']}"), 404, gone)
    assert_message(api.patch(f"{TRUNKS}/{trunk['id']}", json={"channels": 2}), 404, gone)
    assert_message(api.delete(f"{TRUNKS}/{trunk['id']}"), 404, gone)
    assert api.get(TRUNKS).json() == []
    assert create(api, "Doomed")["id"] != trunk["id"]


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("PATCH", "", {"channels": 2}), ("DELETE", "", None),
    ("POST", "/gateways", {"host": "sip.example.com"}),
    ("DELETE", "/gateways/3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21", None),
    ("POST", "/ip-acls", {"cidr": "198.51.100.1"}),
    ("DELETE", "/ip-acls/3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21", None),
    ("POST", "/numbers", {"e164": "+12025550143", "destination_key": "12025550143"}),
    ("DELETE", "/numbers/3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21", None),
    ("GET", "/calls", None),
])
def test_an_unknown_trunk_is_a_404_on_every_route(
        api: httpx.Client, method: str, suffix: str, body: Any) -> None:
    unknown = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"
    response = api.request(method, f"{TRUNKS}/{unknown}{suffix}", json=body)
    assert_message(response, 404, f"No live trunk with id {unknown}")


@pytest.mark.parametrize(("method", "path", "loc"), [
    ("GET", f"{TRUNKS}/not-a-uuid", ("path", "trunk_id")),
    ("DELETE", f"{TRUNKS}/01HQXYZ123ABC456DEF0000000", ("path", "trunk_id")),
    ("DELETE", f"{TRUNKS}/3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21/gateways/7",
     ("path", "gateway_id")),
    ("PATCH", "/trunk/numbers/abc", ("path", "number_id")),
])
def test_a_malformed_id_is_fastapis_uuid_422(api: httpx.Client, method: str, path: str,
                                            loc: tuple[str, ...]) -> None:
    """The pages declare every id a ``uuid`` path parameter, which FastAPI parses."""
    body: dict[str, Any] | None = {} if method == "PATCH" else None
    entry = assert_problem(api.request(method, path, json=body), loc, "uuid_parsing")
    assert entry["input"] == path.rsplit("/", 1)[1]


def test_path_and_body_problems_come_in_one_list(api: httpx.Client) -> None:
    response = api.patch(f"{TRUNKS}/nope", json={"channels": "x"})
    assert_problem(response, ("path", "trunk_id"), "uuid_parsing")
    assert_problem(response, ("body", "channels"), "int_type")


def test_an_id_in_another_spelling_of_the_same_uuid_is_the_trunk(api: httpx.Client) -> None:
    trunk = create(api)
    assert get(api, trunk["id"].upper()) == trunk
    assert get(api, trunk["id"].replace("-", "")) == trunk


def test_unknown_path_and_method_answer_in_the_detail_shape(api: httpx.Client) -> None:
    assert_message(api.get("/trunk/gateways"), 404, "Not Found")
    assert_message(api.get("/trunk"), 404, "Not Found")
    not_allowed = api.put(TRUNKS, json={})
    assert_message(not_allowed, 405, "Method Not Allowed")
    assert {m.strip() for m in not_allowed.headers["Allow"].split(",")} == {"GET", "POST"}
    trunk = create(api)
    on_one = api.post(f"{TRUNKS}/{trunk['id']}", json={})
    assert_message(on_one, 405)
    assert {m.strip() for m in on_one.headers["Allow"].split(",")} == {
        "GET", "PATCH", "DELETE"}
    assert_message(api.get(f"/trunk/numbers/{trunk['id']}"), 405)


def test_bodies_are_read_as_fastapi_reads_them(api: httpx.Client) -> None:
    as_text = api.post(TRUNKS, content=json.dumps({"name": "T"}).encode(),
                       headers={"Content-Type": "text/plain"})
    assert_problem(as_text, ("body",), "model_attributes_type")
    broken = api.post(TRUNKS, content=b"{name", headers={"Content-Type": "application/json"})
    assert_problem(broken, ("body", 1), "json_invalid")
    no_type = api.post(TRUNKS, content=json.dumps({"name": "T"}).encode())
    assert no_type.status_code == 200
    assert [t["name"] for t in api.get(TRUNKS).json()] == ["T"]
