"""Phone numbers over real HTTP: add, list, remove, conflicts, and numbers at creation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bolna_emulator.process import EmulatorProcess

from .bodies import MUMBAI_NUMBER, TWILIO_USERPASS, minimal
from .contract import assert_detail, assert_error, assert_number, assert_trunk

TRUNKS = "/sip-trunks/trunks"


def _trunk(api: httpx.Client, name: str, **changes: Any) -> str:
    response = api.post(TRUNKS, json=minimal(name, **changes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _add(api: httpx.Client, trunk_id: str, body: dict[str, Any]) -> httpx.Response:
    return api.post(f"{TRUNKS}/{trunk_id}/numbers", json=body)


def test_add_answers_the_guides_number(api: httpx.Client) -> None:
    trunk = api.post(TRUNKS, json=TWILIO_USERPASS).json()
    response = _add(api, trunk["id"], MUMBAI_NUMBER)
    assert response.status_code == 201
    number = assert_number(response.json())
    assert {k: number[k] for k in ("phone_number", "byot_trunk_id", "telephony_provider",
                                   "deleted", "name")} == {
        "phone_number": "919876543210", "byot_trunk_id": trunk["id"],
        "telephony_provider": "sip-trunk", "deleted": False, "name": "Mumbai Support Line"}
    assert number["created_at"] == number["updated_at"]
    listed = api.get(f"{TRUNKS}/{trunk['id']}/numbers")
    assert listed.status_code == 200 and listed.json() == [number]
    assert api.get(f"{TRUNKS}/{trunk['id']}").json()["phone_numbers"] == [number]


def test_number_is_stored_exactly_as_sent(api: httpx.Client) -> None:
    trunk = _trunk(api, "T")
    for sent in ("+14155550100", "14155550101", "0014155550102"):
        assert _add(api, trunk, {"phone_number": sent}).json()["phone_number"] == sent
    assert "name" not in _add(api, trunk, {"phone_number": "99"}).json()


def test_remove_soft_deletes(bolna: EmulatorProcess, api: httpx.Client) -> None:
    trunk = _trunk(api, "T")
    keep = _add(api, trunk, {"phone_number": "911"}).json()
    gone = _add(api, trunk, {"phone_number": "912"}).json()
    response = api.delete(f"{TRUNKS}/{trunk}/numbers/{gone['id']}")
    assert response.status_code == 200
    assert response.json() == {"message": "Phone number removed successfully"}
    assert api.get(f"{TRUNKS}/{trunk}/numbers").json() == [keep]
    assert api.get(f"{TRUNKS}/{trunk}").json()["phone_numbers"] == [keep]
    numbers = bolna.state()["accounts"][bolna.account(bolna.tokens[0])]["numbers"]
    assert [(n["id"], n["deleted"]) for n in numbers] == [(keep["id"], False),
                                                           (gone["id"], True)]
    again = api.delete(f"{TRUNKS}/{trunk}/numbers/{gone['id']}")
    assert_error(again.json(), 404, "Phone number not found")


def test_numbers_of_unknown_trunk_or_number_are_404(api: httpx.Client) -> None:
    trunk = _trunk(api, "T")
    other = _trunk(api, "Other")
    number = _add(api, other, {"phone_number": "911"}).json()
    unknown = "01HQXYZ123ABC456DEF0000000"
    for response in (api.get(f"{TRUNKS}/{unknown}/numbers"),
                     _add(api, unknown, {"phone_number": "911"}),
                     api.delete(f"{TRUNKS}/{unknown}/numbers/{number['id']}"),
                     api.delete(f"{TRUNKS}/{trunk}/numbers/{unknown}"),
                     api.delete(f"{TRUNKS}/{trunk}/numbers/{number['id']}")):
        assert response.status_code == 404
        assert_error(response.json(), 404)
    assert api.get(f"{TRUNKS}/{other}/numbers").json() == [number]


@pytest.mark.parametrize(("first", "second"), [
    ("919876543210", "919876543210"), ("+919876543210", "919876543210"),
    ("919876543210", "+919876543210")])
def test_number_on_another_active_trunk_is_a_conflict(
        api: httpx.Client, first: str, second: str) -> None:
    one, two = _trunk(api, "One"), _trunk(api, "Two")
    assert _add(api, one, {"phone_number": first}).status_code == 201
    response = _add(api, two, {"phone_number": second})
    assert response.status_code == 409
    assert "already on another active trunk" in assert_error(response.json(), 409)
    same = _add(api, one, {"phone_number": second})
    assert "already on this trunk" in assert_error(same.json(), 409)
    assert len(api.get(f"{TRUNKS}/{two}/numbers").json()) == 0


def test_number_may_join_when_the_other_trunk_is_inactive_or_it_was_removed(
        api: httpx.Client) -> None:
    paused, active, third = _trunk(api, "Paused"), _trunk(api, "A"), _trunk(api, "Third")
    assert api.patch(f"{TRUNKS}/{paused}", json={"is_active": False}).status_code == 200
    assert _add(api, paused, {"phone_number": "911"}).status_code == 201
    number = _add(api, active, {"phone_number": "+911"})
    assert number.status_code == 201
    api.delete(f"{TRUNKS}/{active}/numbers/{number.json()['id']}")
    assert _add(api, third, {"phone_number": "911"}).status_code == 201


def test_numbers_are_per_account(api: httpx.Client, api_b: httpx.Client) -> None:
    assert _add(api, _trunk(api, "T"), {"phone_number": "911"}).status_code == 201
    assert _add(api_b, _trunk(api_b, "T"), {"phone_number": "911"}).status_code == 201


@pytest.mark.parametrize(("body", "message"), [
    ({"phone_number": ""}, "phone_number is required"),
    ({"phone_number": "91 98765"}, "phone_number must be digits with an optional leading +"),
    ({"phone_number": "0919876543210", "e164_check_enabled": True},
     "phone_number is not a valid E.164 number"),
])
def test_invalid_number_is_a_400(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    trunk = _trunk(api, "T")
    response = _add(api, trunk, body)
    assert response.status_code == 400
    assert_error(response.json(), 400, message)
    assert api.get(f"{TRUNKS}/{trunk}/numbers").json() == []


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({}, ("body", "phone_number"), "missing"),
    ({"phone_number": 919876543210}, ("body", "phone_number"), "string_type"),
    ({"phone_number": None}, ("body", "phone_number"), "string_type"),
    ({"phone_number": "911", "name": 3}, ("body", "name"), "string_type"),
    ({"phone_number": "911", "name": None}, ("body", "name"), "string_type"),
    ({"phone_number": "911", "e164_check_enabled": "no"}, ("body", "e164_check_enabled"),
     "bool_type"),
    ({"phone_number": "911", "agent_id": "a"}, ("body", "agent_id"), "extra_forbidden"),
])
def test_number_outside_the_schema_is_fastapis_422(
        api: httpx.Client, body: dict[str, Any], loc: tuple[str, ...], kind: str) -> None:
    trunk = _trunk(api, "T")
    response = _add(api, trunk, body)
    assert response.status_code == 422
    assert_detail(response.json(), loc, kind)
    assert api.get(f"{TRUNKS}/{trunk}/numbers").json() == []


def test_numbers_given_at_creation_become_numbers(api: httpx.Client) -> None:
    trunk = assert_trunk(api.post(TRUNKS, json=minimal(phone_numbers=[
        MUMBAI_NUMBER, {"phone_number": "+14155550100"}])).json())
    assert [(n["phone_number"], n.get("name")) for n in trunk["phone_numbers"]] == [
        ("919876543210", "Mumbai Support Line"), ("+14155550100", None)]
    assert api.get(f"{TRUNKS}/{trunk['id']}/numbers").json() == trunk["phone_numbers"]


def test_conflicting_number_at_creation_creates_nothing(api: httpx.Client) -> None:
    _add(api, _trunk(api, "Holder"), {"phone_number": "+919876543210"})
    response = api.post(TRUNKS, json=minimal("New", phone_numbers=[MUMBAI_NUMBER]))
    assert response.status_code == 409
    assert_error(response.json(), 409)
    assert [t["name"] for t in api.get(TRUNKS).json()] == ["Holder"]
