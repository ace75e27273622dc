"""The answer switches over real HTTP: sparse answers as in the setup guide, fields left
out, numbers that appear late (and a numbers list that fails meanwhile), and request
bodies kept in the request log with passwords redacted."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bolna_emulator.answers import SPARSE_NUMBER_FIELDS, SPARSE_TRUNK_FIELDS
from bolna_emulator.process import EmulatorProcess

from .bodies import MUMBAI_NUMBER, TWILIO_PASSWORD, TWILIO_TLS_SDES, TWILIO_USERPASS, minimal
from .contract import assert_error, assert_trunk

TRUNKS = "/sip-trunks/trunks"

# The guide's TLS example answer, and its number example answer: exactly these fields.
GUIDE_TLS_FIELDS = {"id", "name", "provider", "auth_type", "gateways", "transport",
                    "media_encryption", "media_encryption_optimistic", "inbound_enabled",
                    "is_active", "created_at", "updated_at"}
GUIDE_NUMBER_FIELDS = {"id", "phone_number", "byot_trunk_id", "telephony_provider",
                       "deleted", "created_at", "updated_at"}


def _numbers_of(api: httpx.Client, trunk_id: str) -> list[str]:
    return [n["phone_number"] for n in api.get(f"{TRUNKS}/{trunk_id}").json()[
        "phone_numbers"]]


def _listed(api: httpx.Client, trunk_id: str) -> list[str]:
    response = api.get(f"{TRUNKS}/{trunk_id}/numbers")
    assert response.status_code == 200, response.text
    return [n["phone_number"] for n in response.json()]


def test_the_sparse_shapes_are_the_guides_examples() -> None:
    assert set(SPARSE_TRUNK_FIELDS) == GUIDE_TLS_FIELDS
    assert set(SPARSE_NUMBER_FIELDS) == GUIDE_NUMBER_FIELDS


def test_sparse_answers_are_shaped_like_the_guides_examples(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(sparse_answers=True)
    created = api.post(TRUNKS, json={**TWILIO_TLS_SDES, "phone_numbers": [MUMBAI_NUMBER]})
    assert created.status_code == 201
    trunk = created.json()
    assert set(trunk) == GUIDE_TLS_FIELDS
    for answer in (api.get(f"{TRUNKS}/{trunk['id']}").json(), api.get(TRUNKS).json()[0],
                   api.patch(f"{TRUNKS}/{trunk['id']}", json={"qualify_frequency": 30}).json()):
        assert set(answer) == GUIDE_TLS_FIELDS
    number = api.post(f"{TRUNKS}/{trunk['id']}/numbers", json={
        "phone_number": "14155550100", "name": "Sent but not answered"}).json()
    assert set(number) == GUIDE_NUMBER_FIELDS
    assert [set(n) for n in api.get(f"{TRUNKS}/{trunk['id']}/numbers").json()] == [
        GUIDE_NUMBER_FIELDS] * 2
    # What is stored is whole; switched back, the answers are whole again.
    stored = bolna.state()["accounts"][bolna.account(bolna.tokens[0])]["trunks"][0]
    assert stored["qualify_frequency"] == 30 and len(stored["phone_numbers"]) == 2
    bolna.set_faults(sparse_answers=False)
    assert_trunk(api.get(f"{TRUNKS}/{trunk['id']}").json())


def test_chosen_fields_are_left_out_of_every_answer(bolna: EmulatorProcess,
                                                    api: httpx.Client) -> None:
    bolna.set_faults(omit_trunk_fields=["phone_numbers", "rtp_symmetric"],
                     omit_number_fields=["name"])
    trunk = api.post(TRUNKS, json=minimal(phone_numbers=[MUMBAI_NUMBER])).json()
    assert "phone_numbers" not in trunk and "rtp_symmetric" not in trunk
    assert "transport" in trunk
    listed = api.get(f"{TRUNKS}/{trunk['id']}/numbers").json()
    assert [n["phone_number"] for n in listed] == ["919876543210"]
    assert "name" not in listed[0]


def test_unknown_field_names_are_refused(bolna: EmulatorProcess,
                                         anonymous: httpx.Client) -> None:
    before = bolna.faults()
    for settings in ({"omit_trunk_fields": ["phone_number"]},
                     {"omit_number_fields": "name"}, {"sparse_answers": "yes"},
                     {"late_numbers_seconds": -1}, {"unknown_fields_on_update": "drop"}):
        response = anonymous.put("/_emulator/faults", json=settings)
        assert response.status_code == 400, settings
        assert_error(response.json(), 400)
    assert bolna.faults() == before


def test_a_number_appears_after_n_reads(bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(late_numbers_reads=2)
    trunk = api.post(TRUNKS, json=minimal(phone_numbers=[MUMBAI_NUMBER])).json()
    assert trunk["phone_numbers"] == []  # read 1: the create's own answer
    assert _listed(api, trunk["id"]) == []  # read 2
    assert _listed(api, trunk["id"]) == ["919876543210"]
    added = api.post(f"{TRUNKS}/{trunk['id']}/numbers", json={"phone_number": "911"})
    assert added.status_code == 201 and added.json()["phone_number"] == "911"
    assert _numbers_of(api, trunk["id"]) == ["919876543210"]  # 911's read 1
    [listed] = api.get(TRUNKS).json()  # read 2
    assert [n["phone_number"] for n in listed["phone_numbers"]] == ["919876543210"]
    assert _numbers_of(api, trunk["id"]) == ["919876543210", "911"]


def test_a_number_appears_after_n_seconds_and_cannot_be_added_twice(
        bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(late_numbers_seconds=0.6)
    trunk_id = api.post(TRUNKS, json=minimal()).json()["id"]
    added = api.post(f"{TRUNKS}/{trunk_id}/numbers", json={"phone_number": "911"})
    shown_from = time.monotonic() + 0.6
    assert added.status_code == 201
    assert _listed(api, trunk_id) == [] and _numbers_of(api, trunk_id) == []
    again = api.post(f"{TRUNKS}/{trunk_id}/numbers", json={"phone_number": "+911"})
    assert again.status_code == 409
    assert "already on this trunk" in assert_error(again.json(), 409)
    time.sleep(max(0.0, shown_from - time.monotonic()) + 0.05)
    assert _listed(api, trunk_id) == ["911"] and _numbers_of(api, trunk_id) == ["911"]
    stored = bolna.state()["accounts"][bolna.account(bolna.tokens[0])]["numbers"]
    assert [n["phone_number"] for n in stored] == ["911"]


def test_the_numbers_list_can_fail_while_a_number_is_late(bolna: EmulatorProcess,
                                                          api: httpx.Client) -> None:
    bolna.set_faults(late_numbers_reads=2, late_numbers_list_error=True)
    trunk_id = api.post(TRUNKS, json=minimal()).json()["id"]
    assert _listed(api, trunk_id) == []  # nothing late: the list answers
    number = api.post(f"{TRUNKS}/{trunk_id}/numbers", json={"phone_number": "911"}).json()
    for _ in range(2):
        failed = api.get(f"{TRUNKS}/{trunk_id}/numbers")
        assert failed.status_code == 500
        assert_error(failed.json(), 500)
    assert _listed(api, trunk_id) == ["911"]
    # Removing a late number ends its wait; other trunks are not affected.
    late = api.post(f"{TRUNKS}/{trunk_id}/numbers", json={"phone_number": "912"}).json()
    other = api.post(TRUNKS, json=minimal("Other")).json()["id"]
    assert _listed(api, other) == []
    assert api.delete(f"{TRUNKS}/{trunk_id}/numbers/{late['id']}").status_code == 200
    assert _listed(api, trunk_id) == [number["phone_number"]]


def test_a_reset_shows_every_number(bolna: EmulatorProcess, api: httpx.Client) -> None:
    bolna.set_faults(late_numbers_seconds=60)
    trunk_id = api.post(TRUNKS, json=minimal(phone_numbers=[MUMBAI_NUMBER])).json()["id"]
    assert _numbers_of(api, trunk_id) == []
    bolna.set_faults(late_numbers_seconds=0)
    assert _numbers_of(api, trunk_id) == []  # the wait was set when it was added
    bolna.reset()
    assert bolna.faults()["late_numbers_seconds"] == 0


def _recorded(bolna: EmulatorProcess) -> list[tuple[str, str, int | None, Any]]:
    return [(e["method"], e["path"], e["status"], e["body"]) for e in bolna.request_bodies()]


def test_bodies_are_kept_only_when_asked(bolna: EmulatorProcess, api: httpx.Client) -> None:
    api.post(TRUNKS, json=minimal("Before"))
    assert bolna.request_bodies() == []
    assert "body" not in bolna.requests()[0]
    bolna.set_faults(record_bodies=True)
    trunk = api.post(TRUNKS, json={**TWILIO_USERPASS, "phone_numbers": [MUMBAI_NUMBER]}).json()
    api.get(TRUNKS)
    api.patch(f"{TRUNKS}/{trunk['id']}", json={"auth_password": TWILIO_PASSWORD + "-2",
                                               "direct_media": True})
    api.post(f"{TRUNKS}/{trunk['id']}/numbers", json={"phone_number": "911"})
    api.post(TRUNKS, content=b"not json " + TWILIO_PASSWORD.encode(),
             headers={"Content-Type": "application/json"})
    api.delete(f"{TRUNKS}/{trunk['id']}")
    redacted_create = {**TWILIO_USERPASS, "auth_password": "REDACTED",
                       "phone_numbers": [MUMBAI_NUMBER]}
    trunk_path = f"{TRUNKS}/{trunk['id']}"
    assert _recorded(bolna) == [
        ("POST", TRUNKS, 201, redacted_create),
        ("PATCH", trunk_path, 200, {"auth_password": "REDACTED", "direct_media": True}),
        ("POST", f"{trunk_path}/numbers", 201, {"phone_number": "911"}),
        ("POST", TRUNKS, 422, None),
        ("DELETE", trunk_path, 200, None)]
    entries = bolna.request_bodies()
    assert entries[0]["content_type"] == "application/json"
    assert entries[3]["body_error"].startswith("not JSON")
    everything = json.dumps(bolna.requests()) + bolna.log_text()
    assert TWILIO_PASSWORD not in everything


def test_bodies_of_faulted_requests_are_kept_too(bolna: EmulatorProcess,
                                                 api: httpx.Client) -> None:
    """A body refused by a fault was still sent: a check of what a client sends must
    see it."""
    bolna.set_faults(record_bodies=True, burst_429=1)
    assert api.post(TRUNKS, json=minimal("Throttled")).status_code == 429
    assert [(e["status"], e["fault"], e["body"]["name"]) for e in bolna.request_bodies()] == [
        (429, "burst-429", "Throttled")]


def test_request_bodies_from_the_start() -> None:
    with EmulatorProcess(["tok-bodies"], record_bodies=True) as bolna, \
            bolna.client("tok-bodies") as api:
        api.post(TRUNKS, json=minimal())
        assert [e["body"]["auth_password"] for e in bolna.request_bodies()] == ["REDACTED"]
