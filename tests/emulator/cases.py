"""Create requests Bolna refuses, with the status and message each must get.

Shared by the pure tests of ``store.py`` and the HTTP tests, so both levels hold the
emulator to one list. The first block is Bolna's documented messages, word for word;
the rest are the emulator's own refusals where the documentation is silent (wrong
types, out-of-range numbers, malformed entries), each naming its field.
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
    """A create body and the error it must get."""

    id: str
    body: Any
    status: int
    message: str


INVALID_CREATES: tuple[Invalid, ...] = (
    # Bolna's documented messages.
    Invalid("no-name", without(minimal(), "name"), 400, NAME_REQUIRED_MESSAGE),
    Invalid("null-name", minimal(name=None), 400, NAME_REQUIRED_MESSAGE),
    Invalid("blank-name", minimal(name="   "), 400, NAME_REQUIRED_MESSAGE),
    Invalid("no-name-no-provider", without(minimal(), "name", "provider"), 400,
            NAME_REQUIRED_MESSAGE),
    Invalid("no-provider", without(minimal(), "provider"), 400, PROVIDER_REQUIRED_MESSAGE),
    Invalid("empty-provider", minimal(provider=""), 400, PROVIDER_REQUIRED_MESSAGE),
    Invalid("no-auth-type", without(minimal(), "auth_type"), 400, AUTH_TYPE_MESSAGE),
    Invalid("bad-auth-type", minimal(auth_type="digest"), 400, AUTH_TYPE_MESSAGE),
    Invalid("auth-type-case", minimal(auth_type="UserPass"), 400, AUTH_TYPE_MESSAGE),
    Invalid("no-gateways", without(minimal(), "gateways"), 400, GATEWAY_REQUIRED_MESSAGE),
    Invalid("empty-gateways", minimal(gateways=[]), 400, GATEWAY_REQUIRED_MESSAGE),
    Invalid("null-gateways", minimal(gateways=None), 400, GATEWAY_REQUIRED_MESSAGE),
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
    # Enums: only the exact strings (a YAML 1.1 reader turns an unquoted no into false).
    Invalid("media-encryption-false", minimal(media_encryption=False), 400,
            "media_encryption must be 'no' or 'sdes' (got false)"),
    Invalid("media-encryption-yes", minimal(media_encryption="yes"), 400,
            "media_encryption must be 'no' or 'sdes' (got \"yes\")"),
    Invalid("transport-short", minimal(transport="udp"), 400,
            "transport must be 'transport-udp' or 'transport-tcp' or 'transport-tls' "
            "(got \"udp\")"),
    # Types and ranges, where the documentation is silent.
    Invalid("body-array", [minimal()], 400, "Request body must be a JSON object"),
    Invalid("body-null", None, 400, "Request body must be a JSON object"),
    Invalid("name-number", minimal(name=5), 400, "name must be a string"),
    Invalid("description-number", minimal(description=1), 400,
            "description must be a string"),
    Invalid("password-number", minimal(auth_password=1234), 400,
            "auth_password must be a string"),
    Invalid("gateways-object", minimal(gateways={"gateway_address": "a.example.com"}), 400,
            "gateways must be an array of gateway objects"),
    Invalid("gateway-string", minimal(gateways=["sip.example.com"]), 400,
            "gateways[0] must be a JSON object"),
    Invalid("gateway-no-address", minimal(gateways=[{"port": 5060}]), 400,
            "gateways[0].gateway_address is required"),
    Invalid("gateway-with-scheme", minimal(gateways=[{"gateway_address": "sip://a.b"}]), 400,
            "gateways[0].gateway_address must be a hostname or IP address, without scheme "
            "or path"),
    Invalid("gateway-port-string", minimal(gateways=[
        {"gateway_address": "a.example.com"}, {"gateway_address": "b", "port": "5060"}]),
            400, "gateways[1].port must be an integer between 1 and 65535"),
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
    Invalid("ip-identifier-string", {**PLIVO_IP_BASED, "ip_identifiers": ["1.2.3.4"]}, 400,
            "ip_identifiers[0] must be a JSON object"),
    Invalid("switch-string", minimal(inbound_enabled="true"), 400,
            "inbound_enabled must be a boolean (true or false)"),
    Invalid("switch-null", minimal(is_active=None), 400,
            "is_active must be a boolean (true or false)"),
    Invalid("switch-number", minimal(rtp_symmetric=1), 400,
            "rtp_symmetric must be a boolean (true or false)"),
    Invalid("qualify-string", minimal(qualify_frequency="60"), 400,
            "qualify_frequency must be an integer of at least 0"),
    Invalid("qualify-negative", minimal(qualify_frequency=-5), 400,
            "qualify_frequency must be an integer of at least 0"),
    Invalid("qualify-float", minimal(qualify_frequency=60.5), 400,
            "qualify_frequency must be an integer of at least 0"),
    Invalid("allow-empty", minimal(allow=""), 400, "allow must be a non-empty string"),
    Invalid("numbers-object", minimal(phone_numbers={"phone_number": "919876543210"}), 400,
            "phone_numbers must be an array of {\"phone_number\": ...} objects"),
    Invalid("number-missing", minimal(phone_numbers=[{"name": "x"}]), 400,
            "phone_numbers[0].phone_number is required"),
    Invalid("number-letters", minimal(phone_numbers=[{"phone_number": "91-98765"}]), 400,
            "phone_numbers[0].phone_number must be digits with an optional leading +"),
    Invalid("number-twice", minimal(phone_numbers=[{"phone_number": "919876543210"},
                                                   {"phone_number": "+919876543210"}]), 400,
            "phone_numbers[1].phone_number +919876543210 is listed twice (with and without "
            "+ is the same number)"),
)
