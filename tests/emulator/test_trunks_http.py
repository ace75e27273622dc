"""Trunks over real HTTP: the guide's examples, defaults, validation, PATCH, DELETE."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .bodies import PLIVO_IP_BASED, TWILIO_TLS_SDES, TWILIO_USERPASS, minimal
from .cases import INVALID_CREATES, Invalid
from .contract import assert_detail, assert_error, assert_trunk

TRUNKS = "/sip-trunks/trunks"

# The answers of Bolna's setup guide, less ids and times (checked by the contract).
GUIDE_TWILIO_ANSWER: dict[str, Any] = {
    "name": "Twilio Production", "provider": "twilio",
    "description": "Main Twilio Elastic SIP trunk", "auth_type": "userpass",
    "auth_username": "<your-sip-username>",
    "gateways": [{"gateway_address": "your-trunk.pstn.twilio.com", "port": 5060,
                  "priority": 1}],
    "ip_identifiers": [], "phone_numbers": [], "allow": "ulaw,alaw", "disallow": "all",
    "transport": "transport-udp", "direct_media": False, "rtp_symmetric": True,
    "force_rport": True, "media_encryption": "no", "media_encryption_optimistic": False,
    "qualify_frequency": 60, "inbound_enabled": True, "outbound_leading_plus_enabled": True,
    "is_active": True,
}
GUIDE_PLIVO_ANSWER: dict[str, Any] = {
    "name": "Plivo Elastic Trunk", "provider": "plivo", "auth_type": "ip-based",
    "gateways": [{"gateway_address": "21467306465797919.zt.plivo.com", "port": 5060,
                  "priority": 1}],
    "ip_identifiers": [{"ip_address": "15.207.90.192/31"},
                       {"ip_address": "204.89.151.128/27"}, {"ip_address": "13.52.9.0/25"}],
    "phone_numbers": [], "transport": "transport-udp", "media_encryption": "no",
    "media_encryption_optimistic": False, "is_active": True, "inbound_enabled": True,
}
GUIDE_TLS_ANSWER: dict[str, Any] = {
    "name": "Twilio Production (encrypted)", "provider": "twilio", "auth_type": "userpass",
    "gateways": [{"gateway_address": "your-trunk.pstn.twilio.com", "port": 5061,
                  "priority": 1}],
    "transport": "transport-tls", "media_encryption": "sdes",
    "media_encryption_optimistic": False, "inbound_enabled": True, "is_active": True,
}


def _shown(trunk: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The answer's values for the guide's fields; gateways without id and time."""
    shown = {key: trunk[key] for key in expected}
    shown["gateways"] = [{k: v for k, v in g.items() if k not in ("id", "created_at")}
                         for g in trunk["gateways"]]
    return shown


def _create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(TRUNKS, json=body)
    assert response.status_code == 201, response.text
    return assert_trunk(response.json())


@pytest.mark.parametrize(("body", "expected"), [
    (TWILIO_USERPASS, GUIDE_TWILIO_ANSWER),
    (PLIVO_IP_BASED, GUIDE_PLIVO_ANSWER),
    (TWILIO_TLS_SDES, GUIDE_TLS_ANSWER),
], ids=["twilio-userpass", "plivo-ip-based", "twilio-tls-sdes"])
def test_guide_examples_answer_as_the_guide_shows(
        api: httpx.Client, body: dict[str, Any], expected: dict[str, Any]) -> None:
    trunk = _create(api, body)
    assert _shown(trunk, expected) == expected
    assert trunk["created_at"] == trunk["updated_at"]
    assert trunk["gateways"][0]["created_at"] == trunk["created_at"]
    assert api.get(f"{TRUNKS}/{trunk['id']}").json() == trunk


def test_full_example_has_exactly_the_guides_fields(api: httpx.Client) -> None:
    trunk = _create(api, TWILIO_USERPASS)
    assert set(trunk) == {*GUIDE_TWILIO_ANSWER, "id", "created_at", "updated_at"}


def test_minimal_trunk_gets_the_field_references_defaults(api: httpx.Client) -> None:
    trunk = _create(api, minimal())
    defaults = {
        "allow": "ulaw,alaw", "disallow": "all", "transport": "transport-udp",
        "media_encryption": "no", "media_encryption_optimistic": False,
        "direct_media": False, "rtp_symmetric": True, "force_rport": True,
        "qualify_frequency": 60, "inbound_enabled": False,
        "outbound_leading_plus_enabled": True, "is_active": True,
        "ip_identifiers": [], "phone_numbers": [],
    }
    assert {key: trunk[key] for key in defaults} == defaults
    assert [(g["port"], g["priority"]) for g in trunk["gateways"]] == [(5060, 1)]
    assert "description" not in trunk


@pytest.mark.parametrize("case", INVALID_CREATES, ids=lambda case: case.id)
def test_invalid_create_gets_the_documented_error(
        bolna: EmulatorProcess, api: httpx.Client, case: Invalid) -> None:
    response = api.post(TRUNKS, json=case.body)
    assert response.status_code == case.status
    if case.loc is None:
        assert_error(response.json(), case.status, case.message)
    else:
        assert_detail(response.json(), case.loc, str(case.kind))
    assert api.get(TRUNKS).json() == []


def test_body_that_is_not_json_is_fastapis_422(api: httpx.Client) -> None:
    response = api.post(TRUNKS, content=b"{name: x", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    entry = assert_detail(response.json(), ("body", 1), "json_invalid")
    assert entry["msg"] == "JSON decode error"
    blank = api.post(TRUNKS, content=b"  ", headers={"Content-Type": "application/json"})
    assert_detail(blank.json(), ("body", 2), "json_invalid")
    empty = api.post(TRUNKS, content=b"", headers={"Content-Type": "application/json"})
    assert_detail(empty.json(), ("body",), "missing")


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "text/json"])
def test_a_json_body_sent_as_another_media_type_is_a_422(
        api: httpx.Client, content_type: str) -> None:
    """As FastAPI: a body that is not declared JSON is not parsed, so it is no object."""
    response = api.post(TRUNKS, content=json.dumps(TWILIO_USERPASS).encode(),
                        headers={"Content-Type": content_type})
    assert response.status_code == 422
    entry = assert_detail(response.json(), ("body",), "model_attributes_type")
    assert entry["input"] == "REDACTED"
    assert TWILIO_USERPASS["auth_password"] not in response.text
    assert api.get(TRUNKS).json() == []


@pytest.mark.parametrize("content_type", [
    None, "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/merge-patch+json"])
def test_json_media_types_and_none_are_read_as_json(
        api: httpx.Client, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = api.post(TRUNKS, content=json.dumps(minimal()).encode(), headers=headers)
    assert response.status_code == 201, response.text


def test_duplicate_name_is_a_conflict(api: httpx.Client) -> None:
    _create(api, minimal("Same"))
    response = api.post(TRUNKS, json=minimal("Same"))
    assert response.status_code == 409
    assert_error(response.json(), 409, "A trunk named 'Same' already exists")
    assert len(api.get(TRUNKS).json()) == 1


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_trunk_is_404(api: httpx.Client, method: str) -> None:
    body = {"description": "x"} if method == "PATCH" else None
    response = api.request(method, f"{TRUNKS}/01HQXYZ123ABC456DEF0000000", json=body)
    assert response.status_code == 404
    assert_error(response.json(), 404, "Trunk not found")


def test_list_is_a_bare_array_filtered_by_is_active(api: httpx.Client) -> None:
    active = _create(api, minimal("Active"))
    paused = _create(api, minimal("Paused"))
    assert api.patch(f"{TRUNKS}/{paused['id']}", json={"is_active": False}).status_code == 200
    everything = api.get(TRUNKS).json()
    assert [t["id"] for t in everything] == [active["id"], paused["id"]]
    for trunk in everything:
        assert_trunk(trunk)
    assert [t["id"] for t in api.get(TRUNKS, params={"is_active": "true"}).json()] == [
        active["id"]]
    assert [t["id"] for t in api.get(TRUNKS, params={"is_active": "false"}).json()] == [
        paused["id"]]
    response = api.get(TRUNKS, params={"is_active": "maybe"})
    assert_error(response.json(), 400)


def test_patch_changes_only_the_fields_sent(api: httpx.Client) -> None:
    before = _create(api, TWILIO_USERPASS)
    time.sleep(0.002)
    response = api.patch(f"{TRUNKS}/{before['id']}", json={
        "description": "changed", "inbound_enabled": False, "qualify_frequency": 0})
    assert response.status_code == 200
    after = assert_trunk(response.json())
    changed = {"description", "inbound_enabled", "qualify_frequency", "updated_at"}
    assert {k: after[k] for k in changed - {"updated_at"}} == {
        "description": "changed", "inbound_enabled": False, "qualify_frequency": 0}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed}
    assert after["updated_at"] > before["updated_at"]
    assert api.get(f"{TRUNKS}/{before['id']}").json() == after


def test_patch_replaces_gateways_and_ip_identifiers_whole(api: httpx.Client) -> None:
    trunk = _create(api, PLIVO_IP_BASED)
    after = api.patch(f"{TRUNKS}/{trunk['id']}", json={
        "gateways": [{"gateway_address": "a.plivo.com", "port": 5080, "priority": 2},
                     {"gateway_address": "b.plivo.com"}],
        "ip_identifiers": [{"ip_address": "198.51.100.7"}]}).json()
    assert [(g["gateway_address"], g["port"], g["priority"]) for g in after["gateways"]] == [
        ("a.plivo.com", 5080, 2), ("b.plivo.com", 5060, 1)]
    assert after["ip_identifiers"] == [{"ip_address": "198.51.100.7"}]


NOT_IN_THE_UPDATE_SCHEMA: dict[str, Any] = {
    "provider": "plivo", "auth_type": "ip-based", "direct_media": True,
    "rtp_symmetric": False, "force_rport": False, "phone_numbers": [],
    "id": "01HQXYZ123ABC456DEF0000000", "created_at": "2020-01-01T00:00:00Z"}


@pytest.mark.parametrize("field", sorted(NOT_IN_THE_UPDATE_SCHEMA))
def test_fields_outside_the_update_schema_are_ignored(api: httpx.Client, field: str) -> None:
    """Bolna's update schema lacks them; its FastAPI service drops them unseen. The
    PATCH succeeds, changes only what the schema has, and its answer shows the old
    value: the one way a client can tell that Bolna did not take the field."""
    trunk = _create(api, TWILIO_USERPASS)
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json={
        field: NOT_IN_THE_UPDATE_SCHEMA[field], "description": "x"})
    assert response.status_code == 200
    after = response.json()
    assert after[field] == trunk[field] and after["description"] == "x"
    assert api.get(f"{TRUNKS}/{trunk['id']}").json() == after


def test_fields_outside_the_update_schema_refused_when_switched(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk = _create(api, TWILIO_USERPASS)
    bolna.set_faults(unknown_fields_on_update="refuse")
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json={"direct_media": True,
                                                           "description": "x"})
    assert response.status_code == 422
    assert_detail(response.json(), ("body", "direct_media"), "extra_forbidden")
    assert api.get(f"{TRUNKS}/{trunk['id']}").json() == trunk


def test_unknown_create_fields_ignored_when_switched(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(unknown_fields_on_create="ignore")
    trunk = _create(api, minimal(is_active=False, ice_support=True))
    assert trunk["is_active"] is True and "ice_support" not in trunk


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": ""}, 400, "Trunk name is required"),
    ({"gateways": []}, 400, "At least one gateway is required"),
    ({"auth_password": ""}, 400,
     "auth_username and auth_password are required for userpass auth"),
    ({"media_encryption": "sdes"}, 422,
     "media_encryption='sdes' requires transport='transport-tls'"),
])
def test_invalid_patch_changes_nothing(
        api: httpx.Client, body: Any, status: int, message: str | None) -> None:
    trunk = _create(api, minimal())
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json=body)
    assert response.status_code == status
    assert_error(response.json(), status, message)
    assert api.get(f"{TRUNKS}/{trunk['id']}").json() == trunk


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({"media_encryption": False}, ("body", "media_encryption"), "enum"),
    ({"transport": "tls"}, ("body", "transport"), "enum"),
    ({"is_active": "false"}, ("body", "is_active"), "bool_type"),
    ({"is_active": None}, ("body", "is_active"), "bool_type"),
    ({"description": None}, ("body", "description"), "string_type"),
    ({"auth_password": None}, ("body", "auth_password"), "string_type"),
    ({"ip_identifiers": None}, ("body", "ip_identifiers"), "list_type"),
    ({"gateways": [{"port": 5060}]}, ("body", "gateways", 0, "gateway_address"), "missing"),
    ({"qualify_frequency": True}, ("body", "qualify_frequency"), "int_type"),
    ([], ("body",), "model_attributes_type"),
    (None, ("body",), "missing"),
])
def test_patch_outside_the_schema_is_fastapis_422_and_changes_nothing(
        api: httpx.Client, body: Any, loc: tuple[str | int, ...], kind: str) -> None:
    trunk = _create(api, minimal())
    response = api.patch(f"{TRUNKS}/{trunk['id']}", json=body)
    assert response.status_code == 422
    assert_detail(response.json(), loc, kind)
    assert api.get(f"{TRUNKS}/{trunk['id']}").json() == trunk


def test_one_422_names_every_field_at_fault(api: httpx.Client) -> None:
    response = api.post(TRUNKS, json=minimal(name=1, transport="udp", inbound_enabled="y",
                                             is_active=True))
    detail = response.json()["detail"]
    assert sorted((tuple(e["loc"]), e["type"]) for e in detail) == [
        (("body", "inbound_enabled"), "bool_type"), (("body", "is_active"), "extra_forbidden"),
        (("body", "name"), "string_type"), (("body", "transport"), "enum")]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", TRUNKS, {"GET", "POST"}),
    ("DELETE", TRUNKS, {"GET", "POST"}),
    ("POST", TRUNKS + "/01HQXYZ123ABC456DEF0000000", {"GET", "PATCH", "DELETE"}),
    ("PATCH", TRUNKS + "/x/numbers", {"GET", "POST"}),
    ("GET", TRUNKS + "/x/numbers/y", {"DELETE"}),
    ("HEAD", TRUNKS, {"GET", "POST"}),
])
def test_a_method_a_path_lacks_is_405_with_allow(
        api: httpx.Client, method: str, path: str, allowed: set[str]) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    if method != "HEAD":
        assert_error(response.json(), 405)


def test_sdes_on_patch_is_checked_against_the_merged_trunk(api: httpx.Client) -> None:
    tls = _create(api, TWILIO_TLS_SDES)
    response = api.patch(f"{TRUNKS}/{tls['id']}", json={"transport": "transport-tcp"})
    assert_error(response.json(), 422, "media_encryption='sdes' requires transport='transport-tls'")
    udp = _create(api, minimal())
    both = api.patch(f"{TRUNKS}/{udp['id']}", json={
        "transport": "transport-tls", "media_encryption": "sdes",
        "media_encryption_optimistic": True})
    assert both.status_code == 200
    assert both.json()["media_encryption_optimistic"] is True


def test_patch_to_a_taken_name_is_a_conflict(api: httpx.Client) -> None:
    _create(api, minimal("Taken"))
    other = _create(api, minimal("Other"))
    response = api.patch(f"{TRUNKS}/{other['id']}", json={"name": "Taken"})
    assert_error(response.json(), 409)
    assert api.patch(f"{TRUNKS}/{other['id']}", json={"name": "Other"}).status_code == 200


def test_delete_cascades_and_counts_the_numbers(bolna: EmulatorProcess,
                                                api: httpx.Client) -> None:
    trunk = _create(api, minimal(phone_numbers=[
        {"phone_number": "919876543210", "name": "Mumbai"}, {"phone_number": "+14155550100"}]))
    api.post(f"{TRUNKS}/{trunk['id']}/numbers", json={"phone_number": "14155550101"})
    response = api.delete(f"{TRUNKS}/{trunk['id']}")
    assert response.status_code == 200
    assert response.json() == {"message": "Trunk deleted successfully. 3 phone number(s) removed."}
    assert api.get(f"{TRUNKS}/{trunk['id']}").status_code == 404
    assert api.get(f"{TRUNKS}/{trunk['id']}/numbers").status_code == 404
    assert api.delete(f"{TRUNKS}/{trunk['id']}").status_code == 404
    account = bolna.state()["accounts"][bolna.account(bolna.tokens[0])]
    assert account["trunks"] == []
    assert len(account["numbers"]) == 3
    assert all(n["deleted"] and n["byot_trunk_id"] == trunk["id"] for n in account["numbers"])
    empty = _create(api, minimal("Empty"))
    assert api.delete(f"{TRUNKS}/{empty['id']}").json() == {
        "message": "Trunk deleted successfully. 0 phone number(s) removed."}
