"""``store.py`` without a server: the contract's rules as pure state changes."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bolna_emulator.store import (
    IP_IDENTIFIERS_REQUIRED_MESSAGE,
    SDES_NEEDS_TLS_MESSAGE,
    USERPASS_REQUIRED_MESSAGE,
    Account,
    ApiError,
    Store,
    new_id,
    utc_now,
)

from .bodies import PLIVO_IP_BASED, TWILIO_PASSWORD, TWILIO_TLS_SDES, TWILIO_USERPASS, minimal
from .cases import INVALID_CREATES, Invalid
from .contract import ULID, UTC_TIME, assert_detail, assert_trunk


@pytest.fixture
def account() -> Account:
    return Store().account("acct0001")


def _refused(call: Any, *args: Any) -> ApiError:
    """The error ``call(*args)`` raises."""
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_ids_are_ulids_in_creation_order() -> None:
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert ULID.match(first) and ULID.match(second)
    assert first < second
    assert len({new_id() for _ in range(1000)}) == 1000


def test_times_are_utc_with_z() -> None:
    assert UTC_TIME.match(utc_now())


def test_minimal_trunk_gets_every_documented_default(account: Account) -> None:
    trunk = assert_trunk(account.create_trunk(minimal()))
    assert trunk["gateways"][0]["port"] == 5060 and trunk["gateways"][0]["priority"] == 1
    expected = {
        "allow": "ulaw,alaw", "disallow": "all", "transport": "transport-udp",
        "media_encryption": "no", "qualify_frequency": 60, "is_active": True,
        "inbound_enabled": False, "outbound_leading_plus_enabled": True,
        "rtp_symmetric": True, "force_rport": True, "direct_media": False,
        "media_encryption_optimistic": False, "ip_identifiers": [], "phone_numbers": [],
    }
    assert {key: trunk[key] for key in expected} == expected
    assert "description" not in trunk
    assert trunk["created_at"] == trunk["updated_at"]


@pytest.mark.parametrize("case", INVALID_CREATES, ids=lambda case: case.id)
def test_invalid_create_is_refused_and_nothing_stored(account: Account, case: Invalid) -> None:
    error = _refused(account.create_trunk, case.body)
    assert error.status == case.status
    if case.loc is None:
        assert (error.message, error.detail) == (case.message, None)
    else:
        assert_detail({"detail": error.detail}, case.loc, str(case.kind))
        assert ".".join(str(part) for part in case.loc[1:]) in error.message
    assert account.trunks == {} and account.numbers == {}


def test_ip_based_trunk_keeps_no_credentials(account: Account) -> None:
    trunk = account.create_trunk({**PLIVO_IP_BASED, "auth_username": "u", "auth_password": "p"})
    assert "auth_username" not in trunk
    assert account.trunks[trunk["id"]].auth_password is None


def test_password_is_kept_but_never_shown(account: Account) -> None:
    trunk = account.create_trunk(TWILIO_USERPASS)
    stored = account.trunks[trunk["id"]]
    assert stored.auth_password == TWILIO_PASSWORD
    assert TWILIO_PASSWORD not in repr(stored)
    assert TWILIO_PASSWORD not in json.dumps(account.list_trunks())
    view = json.dumps(account.to_admin_view())
    assert TWILIO_PASSWORD not in view
    assert hashlib.sha256(TWILIO_PASSWORD.encode()).hexdigest() in view


def test_patch_changes_only_what_is_sent(account: Account) -> None:
    before = account.create_trunk(TWILIO_USERPASS)
    time.sleep(0.002)
    after = account.update_trunk(before["id"], {"description": "changed"})
    assert after["description"] == "changed"
    assert after["updated_at"] > before["updated_at"]
    unchanged = {k: v for k, v in after.items() if k not in ("description", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("description",
                                                                     "updated_at")}


def test_patch_replaces_lists_whole(account: Account) -> None:
    trunk = account.create_trunk(PLIVO_IP_BASED)
    after = account.update_trunk(trunk["id"], {
        "gateways": [{"gateway_address": "b.plivo.com", "priority": 2},
                     {"gateway_address": "a.plivo.com", "port": 5080}],
        "ip_identifiers": [{"ip_address": "10.0.0.0/8"}]})
    assert [(g["gateway_address"], g["port"], g["priority"]) for g in after["gateways"]] == [
        ("b.plivo.com", 5060, 2), ("a.plivo.com", 5080, 1)]
    assert after["ip_identifiers"] == [{"ip_address": "10.0.0.0/8"}]
    old_ids = {g["id"] for g in trunk["gateways"]}
    assert not old_ids & {g["id"] for g in after["gateways"]}


OUTSIDE_THE_UPDATE_SCHEMA: list[dict[str, Any]] = [
    {"provider": "plivo"}, {"auth_type": "ip-based"}, {"direct_media": True},
    {"rtp_symmetric": False}, {"force_rport": False}, {"phone_numbers": []},
    {"id": "X", "created_at": "never"}]


@pytest.mark.parametrize("body", OUTSIDE_THE_UPDATE_SCHEMA, ids=lambda body: next(iter(body)))
def test_fields_outside_the_update_schema_are_ignored(account: Account,
                                                      body: dict[str, Any]) -> None:
    """As Bolna's FastAPI service does: the PATCH succeeds and they change nothing."""
    trunk = account.create_trunk(TWILIO_USERPASS)
    after = account.update_trunk(trunk["id"], {**body, "description": "x"})
    assert {k: v for k, v in after.items() if k not in ("description", "updated_at")} == {
        k: v for k, v in trunk.items() if k not in ("description", "updated_at")}
    assert after["description"] == "x"


@pytest.mark.parametrize("body", OUTSIDE_THE_UPDATE_SCHEMA, ids=lambda body: next(iter(body)))
def test_fields_outside_the_update_schema_can_be_refused(account: Account,
                                                         body: dict[str, Any]) -> None:
    trunk = account.create_trunk(TWILIO_USERPASS)
    error = _refused(lambda: account.update_trunk(trunk["id"], {**body, "description": "x"},
                                                  unknown_fields="refuse"))
    assert error.status == 422
    for key in body:
        assert_detail({"detail": error.detail}, ("body", key), "extra_forbidden")
    assert account.get_trunk(trunk["id"]) == trunk


def test_sdes_is_checked_against_the_merged_trunk(account: Account) -> None:
    tls = account.create_trunk(TWILIO_TLS_SDES)
    error = _refused(account.update_trunk, tls["id"], {"transport": "transport-udp"})
    assert (error.status, error.message) == (422, SDES_NEEDS_TLS_MESSAGE)
    udp = account.create_trunk(minimal())
    error = _refused(account.update_trunk, udp["id"], {"media_encryption": "sdes"})
    assert error.status == 422
    both = account.update_trunk(udp["id"], {"media_encryption": "sdes",
                                            "transport": "transport-tls"})
    assert (both["transport"], both["media_encryption"]) == ("transport-tls", "sdes")


def test_patch_keeps_the_documented_requirements(account: Account) -> None:
    userpass = account.create_trunk(minimal())
    for body in ({"auth_password": ""}, {"auth_username": " "}):
        error = _refused(account.update_trunk, userpass["id"], body)
        assert error.message == USERPASS_REQUIRED_MESSAGE
    error = _refused(account.update_trunk, userpass["id"], {"auth_username": None})
    assert_detail({"detail": error.detail}, ("body", "auth_username"), "string_type")
    ip_based = account.create_trunk(PLIVO_IP_BASED)
    error = _refused(account.update_trunk, ip_based["id"], {"ip_identifiers": []})
    assert error.message == IP_IDENTIFIERS_REQUIRED_MESSAGE
    assert account.update_trunk(userpass["id"], {"ip_identifiers": []})["ip_identifiers"] == []


def test_password_rotation(account: Account) -> None:
    trunk = account.create_trunk(minimal())
    account.update_trunk(trunk["id"], {"auth_password": "rotated"})
    assert account.trunks[trunk["id"]].auth_password == "rotated"


def test_names_are_unique_per_account(account: Account) -> None:
    account.create_trunk(minimal("One"))
    other = account.create_trunk(minimal("Two"))
    assert _refused(account.create_trunk, minimal("One")).status == 409
    assert _refused(account.update_trunk, other["id"], {"name": "One"}).status == 409
    assert account.update_trunk(other["id"], {"name": "Two"})["name"] == "Two"
    Store().account("other").create_trunk(minimal("One"))


def test_numbers_compare_with_and_without_plus(account: Account) -> None:
    first = account.create_trunk(minimal("First"))
    second = account.create_trunk(minimal("Second"))
    account.add_number(first["id"], {"phone_number": "+919876543210"})
    error = _refused(account.add_number, second["id"], {"phone_number": "919876543210"})
    assert error.status == 409 and "another active trunk" in error.message
    error = _refused(account.add_number, first["id"], {"phone_number": "919876543210"})
    assert error.status == 409 and "this trunk" in error.message
    account.update_trunk(first["id"], {"is_active": False})
    number = account.add_number(second["id"], {"phone_number": "919876543210"})
    assert number["phone_number"] == "919876543210"


def test_delete_cascades_to_numbers(account: Account) -> None:
    trunk = account.create_trunk(minimal(phone_numbers=[
        {"phone_number": "911"}, {"phone_number": "+912", "name": "b"}]))
    extra = account.add_number(trunk["id"], {"phone_number": "913"})
    account.remove_number(trunk["id"], extra["id"])
    assert account.delete_trunk(trunk["id"]) == (
        "Trunk deleted successfully. 2 phone number(s) removed.")
    assert all(number.deleted for number in account.numbers.values())
    assert len(account.numbers) == 3
    assert _refused(account.get_trunk, trunk["id"]).status == 404
    again = account.create_trunk(minimal("Again", phone_numbers=[{"phone_number": "911"}]))
    assert [n["phone_number"] for n in again["phone_numbers"]] == ["911"]


def test_state_record_round_trips(account: Account) -> None:
    store = Store()
    first = store.account("a")
    first.create_trunk(TWILIO_USERPASS)
    gone = first.create_trunk(PLIVO_IP_BASED)
    first.add_number(gone["id"], {"phone_number": "919876543210", "name": "x"})
    first.delete_trunk(gone["id"])
    store.account("b").create_trunk(TWILIO_TLS_SDES)
    record = json.loads(json.dumps(store.to_record()))
    loaded = Store()
    loaded.load_record(record)
    assert loaded.to_admin_view() == store.to_admin_view()
    assert loaded.to_record() == record
    with pytest.raises(ValueError, match="version 1"):
        loaded.load_record({"accounts": {}})


# ---- property: whatever arrives, the store refuses cleanly or keeps the rules ----------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 70000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)

_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["T", "", "  ", None, 3]),
    "provider": st.sampled_from(["twilio", "", None]),
    "auth_type": st.sampled_from(["userpass", "ip-based", "other", None, True]),
    "auth_username": st.sampled_from(["u", "", None, 1]),
    "auth_password": st.sampled_from(["p", "", None]),
    "gateways": st.sampled_from([[{"gateway_address": "a.example.com"}], [], None,
                                 [{"gateway_address": "a.example.com", "port": 0}]]),
    "ip_identifiers": st.sampled_from([[{"ip_address": "10.0.0.1"}], [], None, [{}]]),
    "transport": st.sampled_from(["transport-udp", "transport-tls", "tls", None]),
    "media_encryption": st.sampled_from(["no", "sdes", False, None]),
    "phone_numbers": st.sampled_from([[{"phone_number": "919876543210"}], [], [{}], None]),
    "inbound_enabled": st.sampled_from([True, False, "true", None]),
    "qualify_frequency": st.sampled_from([0, 60, -1, "60", True]),
}


@st.composite
def _create_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(_JSON)
    body = {}
    for key, values in _FIELD_VALUES.items():
        if draw(st.booleans()):
            body[key] = draw(values | _JSON)
    return body


@settings(max_examples=150, deadline=None)
@given(_create_bodies())
def test_any_create_is_refused_cleanly_or_keeps_the_rules(body: Any) -> None:
    account = Store().account("prop")
    refused: ApiError | None = None
    try:
        trunk = account.create_trunk(body)
    except ApiError as caught:
        refused = caught
    if refused is not None:
        assert refused.status in (400, 409, 422) and refused.message
        assert account.trunks == {} and account.numbers == {}
        return
    assert_trunk(trunk)
    stored = account.trunks[trunk["id"]]
    assert trunk["name"].strip() and trunk["provider"].strip() and trunk["gateways"]
    assert trunk["media_encryption"] != "sdes" or trunk["transport"] == "transport-tls"
    if trunk["auth_type"] == "userpass":
        assert stored.auth_username and stored.auth_password
    else:
        assert trunk["ip_identifiers"]


def test_unknown_fields_on_create_are_refused_or_ignored_as_switched(account: Account) -> None:
    """By default a create field outside SIPTrunkCreateRequest is a 422 naming it (so
    ``is_active`` on create is); switched to "ignore", it is dropped unseen, as
    pydantic's default does, and the trunk takes the default."""
    body = minimal(ice_support=True, user_id="u1", is_active=False)
    error = _refused(account.create_trunk, body)
    for key in ("ice_support", "user_id", "is_active"):
        assert_detail({"detail": error.detail}, ("body", key), "extra_forbidden")
    trunk = account.create_trunk(body, unknown_fields="ignore")
    assert "ice_support" not in trunk and "user_id" not in trunk
    assert trunk["is_active"] is True


def test_unknown_fields_of_an_added_number(account: Account) -> None:
    trunk = account.create_trunk(minimal())
    error = _refused(account.add_number, trunk["id"], {"phone_number": "911", "agent": "a"})
    assert_detail({"detail": error.detail}, ("body", "agent"), "extra_forbidden")
    number = account.add_number(trunk["id"], {"phone_number": "911", "agent": "a"},
                                unknown_fields="ignore")
    assert "agent" not in number


def test_the_schema_check_comes_before_the_trunk_lookup(account: Account) -> None:
    """FastAPI validates the body before its handler runs: 422 before 404."""
    for call in (lambda: account.update_trunk("nope", {"name": 1}),
                 lambda: account.add_number("nope", {"phone_number": 1})):
        assert _refused(call).status == 422
    assert _refused(account.update_trunk, "nope", {"name": "x"}).status == 404


def test_a_password_is_never_echoed_in_a_detail(account: Account) -> None:
    error = _refused(account.create_trunk, minimal(auth_password=["canary-pw"], extra={
        "auth_password": "canary-pw"}))
    assert "canary-pw" not in json.dumps(error.detail) + error.message
