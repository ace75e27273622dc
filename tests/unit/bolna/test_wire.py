"""Wire models: read what Bolna publishes, tolerate what it leaves out or adds, and send
exactly the fields we mean (strings, not YAML booleans; the password only in the body)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from bolna_sip_operator.bolna import (
    GatewayCreate,
    IpIdentifierCreate,
    NumberCreate,
    PhoneNumber,
    Trunk,
    TrunkCreate,
    TrunkUpdate,
)

from . import examples


@pytest.mark.parametrize("text", examples.TRUNK_RESPONSES, ids=["userpass", "ip-based", "tls"])
def test_guide_trunk_responses_parse(text: str) -> None:
    trunk = Trunk.model_validate_json(text)
    raw = examples.load(text)
    assert trunk.id == raw["id"]
    assert trunk.name == raw["name"]
    assert trunk.gateways is not None
    assert [g.gateway_address for g in trunk.gateways] == [
        g["gateway_address"] for g in raw["gateways"]]
    assert trunk.media_encryption in ("no", "sdes")


def test_userpass_response_reads_every_field() -> None:
    trunk = Trunk.model_validate_json(examples.USERPASS_RESPONSE)
    assert trunk.auth_type == "userpass"
    assert trunk.auth_username == "<your-sip-username>"
    assert trunk.gateways is not None and trunk.gateways[0].id == "01HQXYZ111AAA111BBB"
    assert (trunk.gateways[0].port, trunk.gateways[0].priority) == (5060, 1)
    assert trunk.ip_identifiers == [] and trunk.phone_numbers == []
    assert (trunk.allow, trunk.disallow, trunk.transport) == ("ulaw,alaw", "all", "transport-udp")
    assert (trunk.direct_media, trunk.rtp_symmetric, trunk.force_rport) == (False, True, True)
    assert trunk.qualify_frequency == 60 and trunk.is_active is True
    assert trunk.created_at is not None and trunk.created_at.year == 2026


def test_absent_fields_are_none_not_guessed_defaults() -> None:
    ip_based = Trunk.model_validate_json(examples.IP_BASED_RESPONSE)
    assert ip_based.allow is None and ip_based.disallow is None
    assert ip_based.qualify_frequency is None and ip_based.auth_username is None
    assert ip_based.ip_identifiers is not None
    assert [i.ip_address for i in ip_based.ip_identifiers][-1] == "13.52.9.0/25"
    tls = Trunk.model_validate_json(examples.TLS_SDES_RESPONSE)
    assert tls.ip_identifiers is None and tls.phone_numbers is None
    assert tls.media_encryption == "sdes"


def test_unknown_fields_are_ignored_everywhere() -> None:
    raw = examples.load(examples.USERPASS_RESPONSE)
    raw |= {"ice_support": True, "user_id": "u-1", "health": {"ok": True}}
    raw["gateways"][0]["weight"] = 50
    raw["phone_numbers"] = [examples.load(examples.NUMBER_RESPONSE) | {"agent_id": "a"}]
    trunk = Trunk.model_validate(raw)
    assert trunk.phone_numbers is not None
    assert trunk.phone_numbers[0].phone_number == "919876543210"
    assert "ice_support" not in trunk.model_dump()


def test_minimal_trunk_parses() -> None:
    trunk = Trunk.model_validate({"id": "t", "name": "n"})
    assert trunk.gateways is None and trunk.provider is None


def test_a_returned_password_is_dropped() -> None:
    trunk = Trunk.model_validate({"id": "t", "name": "n", "auth_password": "leaked"})
    assert "leaked" not in repr(trunk) and "leaked" not in trunk.model_dump_json()


def test_unreadable_timestamps_and_yaml_boolean_are_tolerated() -> None:
    trunk = Trunk.model_validate({"id": "t", "name": "n", "created_at": "last tuesday",
                                  "media_encryption": False})
    assert trunk.created_at is None
    assert trunk.media_encryption == "no"


def test_unknown_enum_values_do_not_break_reading() -> None:
    trunk = Trunk.model_validate({"id": "t", "name": "n", "transport": "transport-wss",
                                  "media_encryption": "dtls", "auth_type": "oauth"})
    assert trunk.transport == "transport-wss"


def test_guide_number_response_parses() -> None:
    number = PhoneNumber.model_validate_json(examples.NUMBER_RESPONSE)
    assert number.id == "01HQNUMBER111222333"
    assert number.byot_trunk_id == "01HQXYZ123ABC456DEF"
    assert number.telephony_provider == "sip-trunk" and number.deleted is False
    assert number.name is None


def test_response_without_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        Trunk.model_validate({"name": "n"})


@pytest.mark.parametrize("text", examples.TRUNK_REQUESTS, ids=["userpass", "ip-based", "tls"])
def test_guide_requests_round_trip_through_trunk_create(text: str) -> None:
    raw = examples.load(text)
    assert TrunkCreate.model_validate(raw).to_body() == raw


def test_create_body_opens_the_password_and_keeps_strings() -> None:
    trunk = TrunkCreate(
        name="t", provider="twilio", auth_type="userpass", auth_username="u",
        auth_password=SecretStr("s3cret-pw"),
        gateways=[GatewayCreate(gateway_address="sip.example.com", port=5061, priority=1)],
        transport="transport-tls", media_encryption="no",
        phone_numbers=[NumberCreate(phone_number="919876543210", name="Mumbai")])
    body = trunk.to_body()
    assert body["auth_password"] == "s3cret-pw"
    assert body["media_encryption"] == "no"
    assert body["phone_numbers"] == [{"phone_number": "919876543210", "name": "Mumbai"}]
    assert "description" not in body and "ip_identifiers" not in body
    assert json.loads(json.dumps(body)) == body
    assert "s3cret-pw" not in repr(trunk) and "s3cret-pw" not in str(trunk)
    assert "s3cret-pw" not in trunk.model_dump_json()


@pytest.mark.parametrize("value", [False, True, 0, "No", "none"])
def test_media_encryption_is_never_a_boolean(value: Any) -> None:
    with pytest.raises(ValidationError):
        TrunkUpdate.model_validate({"media_encryption": value})


def test_requests_refuse_unknown_and_immutable_fields() -> None:
    with pytest.raises(ValidationError):
        TrunkUpdate.model_validate({"provider": "plivo"})
    with pytest.raises(ValidationError):
        TrunkUpdate.model_validate({"auth_type": "ip-based"})
    with pytest.raises(ValidationError):
        NumberCreate.model_validate({"phone_number": "1", "label": "x"})


def test_a_bad_password_value_is_not_echoed_by_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        TrunkUpdate.model_validate({"auth_password": 12345678901234})
    assert "12345678901234" not in str(caught.value)


def test_update_replaces_lists_and_can_clear_them() -> None:
    update = TrunkUpdate(gateways=[GatewayCreate(gateway_address="a.example.com")],
                         ip_identifiers=[])
    assert update.to_body() == {"gateways": [{"gateway_address": "a.example.com"}],
                                "ip_identifiers": []}
    assert TrunkUpdate().to_body() == {} and TrunkUpdate().is_empty()
    assert not update.is_empty()


_UPDATE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(min_size=1, max_size=20),
    "description": st.text(max_size=20),
    "auth_username": st.text(min_size=1, max_size=20),
    "auth_password": st.text(min_size=1, max_size=20).map(SecretStr),
    "gateways": st.lists(st.builds(GatewayCreate, gateway_address=st.just("g.example.com"),
                                   port=st.integers(1, 65535)), max_size=3),
    "ip_identifiers": st.lists(st.builds(IpIdentifierCreate,
                                         ip_address=st.just("203.0.113.0/24")), max_size=3),
    "allow": st.sampled_from(["ulaw", "ulaw,alaw"]),
    "disallow": st.just("all"),
    "inbound_enabled": st.booleans(),
    "outbound_leading_plus_enabled": st.booleans(),
    "is_active": st.booleans(),
    "qualify_frequency": st.integers(0, 3600),
    "transport": st.sampled_from(["transport-udp", "transport-tcp", "transport-tls"]),
    "media_encryption": st.sampled_from(["no", "sdes"]),
    "media_encryption_optimistic": st.booleans(),
    "direct_media": st.booleans(),
    "rtp_symmetric": st.booleans(),
    "force_rport": st.booleans(),
}


def test_update_strategy_covers_every_field() -> None:
    assert set(_UPDATE_VALUES) == set(TrunkUpdate.model_fields)


@given(st.fixed_dictionaries({}, optional=_UPDATE_VALUES))
def test_update_body_holds_exactly_the_fields_given(fields: dict[str, Any]) -> None:
    body = TrunkUpdate(**fields).to_body()
    assert set(body) == set(fields)
    for name, value in fields.items():
        if isinstance(value, SecretStr):
            assert body[name] == value.get_secret_value()
        elif isinstance(value, list):
            assert len(body[name]) == len(value)
        else:
            assert body[name] == value


def test_only_to_body_opens_a_password() -> None:
    """The password leaves its SecretStr in one method; a second call site is a leak risk."""
    source = Path(__file__).parents[3] / "operator" / "bolna_sip_operator" / "bolna"
    openers = {path.name: path.read_text().count("get_secret_value()")
               for path in source.glob("*.py")}
    assert openers["wire.py"] == 1
    assert "password.get_secret_value" not in "".join(
        path.read_text() for path in source.glob("*.py") if path.name != "wire.py")
