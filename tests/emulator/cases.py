"""Create requests Bolna refuses, with the answer each must get.

Shared by the pure tests of ``store.py`` and the HTTP tests, so both levels hold the
emulator to one list. The first block is Bolna's documented messages, word for word;
then the bodies that do not fit the OpenAPI's request schema (wrong types, ``null``,
values outside an enum, fields outside the schema), each a 422 with FastAPI's detail
naming the field; last the emulator's own refusals where the documentation is silent
(out-of-range numbers, malformed values), each a 400 naming its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bolna_emulator.store import (
    AUTH_TYPE_MESSAGE,
    GATEWAY_REQUIRED_MESSAGE,
    IP_IDENTIFIERS_REQUIRED_MESSAGE,
    NAME_REQUIRED_MESSAGE,
    PROVIDER_REQUIRED_MESSAGE,
    SDES_NEEDS_TLS_MESSAGE,
    USERPASS_REQUIRED_MESSAGE,
)

from .bodies import PLIVO_IP_BASED, minimal, without


@dataclass(frozen=True)
class Invalid:
    """A create body and the error it must get: ``status`` and ``message`` for
    Bolna's ``{"error", "message"}`` answers, or, for a body that does not fit the
    OpenAPI's request schema, a 422 with FastAPI's detail: an entry of type ``kind``
    at ``loc``."""

    id: str
    body: Any
    status: int
    message: str | None = None
    loc: tuple[str | int, ...] | None = None
    kind: str | None = None


def schema(case_id: str, body: Any, loc: tuple[str | int, ...], kind: str) -> Invalid:
    """A body refused by the schema check: 422 with ``kind`` at ``loc``."""
    return Invalid(case_id, body, 422, loc=loc, kind=kind)


INVALID_CREATES: tuple[Invalid, ...] = (
    # Bolna's documented messages.
    Invalid("no-name", without(minimal(), "name"), 400, NAME_REQUIRED_MESSAGE),
    Invalid("blank-name", minimal(name="   "), 400, NAME_REQUIRED_MESSAGE),
    Invalid("no-name-no-provider", without(minimal(), "name", "provider"), 400,
            NAME_REQUIRED_MESSAGE),
    Invalid("no-provider", without(minimal(), "provider"), 400, PROVIDER_REQUIRED_MESSAGE),
    Invalid("empty-provider", minimal(provider=""), 400, PROVIDER_REQUIRED_MESSAGE),
    Invalid("no-auth-type", without(minimal(), "auth_type"), 400, AUTH_TYPE_MESSAGE),
    Invalid("bad-auth-type", minimal(auth_type="digest"), 400, AUTH_TYPE_MESSAGE),
    Invalid("auth-type-case", minimal(auth_type="UserPass"), 400, AUTH_TYPE_MESSAGE),
    Invalid("auth-type-null", minimal(auth_type=None), 400, AUTH_TYPE_MESSAGE),
    Invalid("no-gateways", without(minimal(), "gateways"), 400, GATEWAY_REQUIRED_MESSAGE),
    Invalid("empty-gateways", minimal(gateways=[]), 400, GATEWAY_REQUIRED_MESSAGE),
    Invalid("userpass-no-username", without(minimal(), "auth_username"), 400,
            USERPASS_REQUIRED_MESSAGE),
    Invalid("userpass-no-password", without(minimal(), "auth_password"), 400,
            USERPASS_REQUIRED_MESSAGE),
    Invalid("userpass-empty-password", minimal(auth_password=""), 400,
            USERPASS_REQUIRED_MESSAGE),
    Invalid("ip-based-no-identifiers", without(PLIVO_IP_BASED, "ip_identifiers"), 400,
            IP_IDENTIFIERS_REQUIRED_MESSAGE),
    Invalid("ip-based-empty-identifiers", {**PLIVO_IP_BASED, "ip_identifiers": []}, 400,
            IP_IDENTIFIERS_REQUIRED_MESSAGE),
    Invalid("sdes-udp", minimal(transport="transport-udp", media_encryption="sdes"), 422,
            SDES_NEEDS_TLS_MESSAGE),
    Invalid("sdes-tcp", minimal(transport="transport-tcp", media_encryption="sdes"), 422,
            SDES_NEEDS_TLS_MESSAGE),
    Invalid("sdes-default-transport", minimal(media_encryption="sdes"), 422,
            SDES_NEEDS_TLS_MESSAGE),
    # The OpenAPI's request schema, refused as FastAPI refuses it (422, detail).
    # Enums: only the exact strings (a YAML 1.1 reader turns an unquoted no into false).
    schema("media-encryption-false", minimal(media_encryption=False),
           ("body", "media_encryption"), "enum"),
    schema("media-encryption-yes", minimal(media_encryption="yes"),
           ("body", "media_encryption"), "enum"),
    schema("transport-short", minimal(transport="udp"), ("body", "transport"), "enum"),
    # The body itself.
    schema("body-array", [minimal()], ("body",), "model_attributes_type"),
    schema("body-null", None, ("body",), "missing"),
    # Types, and null where the schema gives a type (no request field is nullable).
    schema("null-name", minimal(name=None), ("body", "name"), "string_type"),
    schema("name-number", minimal(name=5), ("body", "name"), "string_type"),
    schema("description-number", minimal(description=1), ("body", "description"),
           "string_type"),
    schema("description-null", minimal(description=None), ("body", "description"),
           "string_type"),
    schema("password-number", minimal(auth_password=1234), ("body", "auth_password"),
           "string_type"),
    schema("null-gateways", minimal(gateways=None), ("body", "gateways"), "list_type"),
    schema("gateways-object", minimal(gateways={"gateway_address": "a.example.com"}),
           ("body", "gateways"), "list_type"),
    schema("gateway-string", minimal(gateways=["sip.example.com"]), ("body", "gateways", 0),
           "model_attributes_type"),
    schema("gateway-no-address", minimal(gateways=[{"port": 5060}]),
           ("body", "gateways", 0, "gateway_address"), "missing"),
    schema("gateway-port-string", minimal(gateways=[
        {"gateway_address": "a.example.com"}, {"gateway_address": "b", "port": "5060"}]),
           ("body", "gateways", 1, "port"), "int_type"),
    schema("ip-identifier-string", {**PLIVO_IP_BASED, "ip_identifiers": ["1.2.3.4"]},
           ("body", "ip_identifiers", 0), "model_attributes_type"),
    schema("switch-string", minimal(inbound_enabled="true"), ("body", "inbound_enabled"),
           "bool_type"),
    schema("switch-null", minimal(rtp_symmetric=None), ("body", "rtp_symmetric"),
           "bool_type"),
    schema("switch-number", minimal(rtp_symmetric=1), ("body", "rtp_symmetric"), "bool_type"),
    schema("qualify-string", minimal(qualify_frequency="60"), ("body", "qualify_frequency"),
           "int_type"),
    schema("qualify-float", minimal(qualify_frequency=60.5), ("body", "qualify_frequency"),
           "int_from_float"),
    schema("numbers-object", minimal(phone_numbers={"phone_number": "919876543210"}),
           ("body", "phone_numbers"), "list_type"),
    schema("number-missing", minimal(phone_numbers=[{"name": "x"}]),
           ("body", "phone_numbers", 0, "phone_number"), "missing"),
    # Fields outside SIPTrunkCreateRequest (refused on create by default).
    schema("is-active-on-create", minimal(is_active=False), ("body", "is_active"),
           "extra_forbidden"),
    schema("unknown-field", minimal(ice_support=True), ("body", "ice_support"),
           "extra_forbidden"),
    schema("unknown-gateway-field", minimal(gateways=[
        {"gateway_address": "a.example.com", "transport": "udp"}]),
           ("body", "gateways", 0, "transport"), "extra_forbidden"),
    # The emulator's own rules, where the documentation is silent (400, named field).
    Invalid("gateway-with-scheme", minimal(gateways=[{"gateway_address": "sip://a.b"}]), 400,
            "gateways[0].gateway_address must be a hostname or IP address, without scheme "
            "or path"),
    Invalid("gateway-port-too-big", minimal(gateways=[
        {"gateway_address": "a.example.com", "port": 70000}]), 400,
            "gateways[0].port must be an integer between 1 and 65535"),
    Invalid("gateway-priority-negative", minimal(gateways=[
        {"gateway_address": "a.example.com", "priority": -1}]), 400,
            "gateways[0].priority must be an integer of at least 0"),
    Invalid("ip-identifier-bad", {**PLIVO_IP_BASED, "ip_identifiers": [
        {"ip_address": "15.207.90.999/31"}]}, 400,
            "ip_identifiers[0].ip_address must be an IP address or CIDR block "
            "(got '15.207.90.999/31')"),
    Invalid("qualify-negative", minimal(qualify_frequency=-5), 400,
            "qualify_frequency must be an integer of at least 0"),
    Invalid("allow-empty", minimal(allow=""), 400, "allow must be a non-empty string"),
    Invalid("number-letters", minimal(phone_numbers=[{"phone_number": "91-98765"}]), 400,
            "phone_numbers[0].phone_number must be digits with an optional leading +"),
    Invalid("number-twice", minimal(phone_numbers=[{"phone_number": "919876543210"},
                                                   {"phone_number": "+919876543210"}]), 400,
            "phone_numbers[1].phone_number +919876543210 is listed twice (with and without "
            "+ is the same number)"),
)
