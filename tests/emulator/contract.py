"""The response shapes Bolna documents, as checks a test can run on any answer.

Field names and types follow the ``SIPTrunkResponse``, ``SIPTrunkPhoneNumberResponse``
and ``Error`` schemas of Bolna's OpenAPI (``/sip-trunks`` part) and the trunk object of
``bolna-api.md``: every documented field present with its documented type, ids
ULID-like, times ISO 8601 UTC. ``description`` and ``auth_username`` are optional
(absent when unset; ``auth_username`` only on userpass trunks), and so is a number's
``name``.
"""

from __future__ import annotations

import re
from typing import Any

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

_TRUNK_FIELDS: dict[str, type | tuple[str, ...]] = {
    "id": str, "name": str, "provider": str, "auth_type": ("userpass", "ip-based"),
    "gateways": list, "ip_identifiers": list, "phone_numbers": list,
    "allow": str, "disallow": str,
    "transport": ("transport-udp", "transport-tcp", "transport-tls"),
    "direct_media": bool, "rtp_symmetric": bool, "force_rport": bool,
    "media_encryption": ("no", "sdes"), "media_encryption_optimistic": bool,
    "qualify_frequency": int, "inbound_enabled": bool,
    "outbound_leading_plus_enabled": bool, "is_active": bool,
    "created_at": str, "updated_at": str,
}
_TRUNK_OPTIONAL = {"description": str, "auth_username": str}
_NUMBER_FIELDS: dict[str, type | tuple[str, ...]] = {
    "id": str, "phone_number": str, "byot_trunk_id": str, "telephony_provider": ("sip-trunk",),
    "deleted": bool, "created_at": str, "updated_at": str,
}
_GATEWAY_FIELDS: dict[str, type | tuple[str, ...]] = {
    "id": str, "gateway_address": str, "port": int, "priority": int, "created_at": str,
}


def _check(obj: Any, fields: dict[str, type | tuple[str, ...]], what: str) -> None:
    assert isinstance(obj, dict), f"{what} is not an object: {obj!r}"
    for key, kind in fields.items():
        assert key in obj, f"{what} lacks {key}: {obj!r}"
        value = obj[key]
        if isinstance(kind, tuple):
            assert value in kind, f"{what}.{key} = {value!r}, not one of {kind}"
        elif kind is int:
            assert isinstance(value, int) and not isinstance(value, bool), f"{what}.{key}"
        else:
            assert isinstance(value, kind), f"{what}.{key} = {value!r} is not {kind}"
    for key in ("id", "byot_trunk_id"):
        if key in fields:
            assert ULID.match(obj[key]), f"{what}.{key} = {obj[key]!r} is not a ULID"
    for key in ("created_at", "updated_at"):
        if key in fields:
            assert UTC_TIME.match(obj[key]), f"{what}.{key} = {obj[key]!r}"


def assert_number(obj: Any) -> dict[str, Any]:
    """A ``SIPTrunkPhoneNumberResponse``."""
    _check(obj, _NUMBER_FIELDS, "number")
    if "name" in obj:
        assert isinstance(obj["name"], str)
    return dict(obj)


def assert_trunk(obj: Any) -> dict[str, Any]:
    """A ``SIPTrunkResponse`` with every documented field, and never a password."""
    _check(obj, _TRUNK_FIELDS, "trunk")
    for key, kind in _TRUNK_OPTIONAL.items():
        if key in obj:
            assert isinstance(obj[key], kind), f"trunk.{key} = {obj[key]!r}"
    assert obj["auth_type"] == "userpass" or "auth_username" not in obj
    assert not any("password" in key for key in obj), "a password field in a trunk answer"
    for gateway in obj["gateways"]:
        _check(gateway, _GATEWAY_FIELDS, "gateway")
    for identifier in obj["ip_identifiers"]:
        assert isinstance(identifier, dict) and isinstance(identifier.get("ip_address"), str)
    for number in obj["phone_numbers"]:
        assert_number(number)
        assert number["byot_trunk_id"] == obj["id"] and number["deleted"] is False
    return dict(obj)


def assert_error(obj: Any, status: int, message: str | None = None) -> str:
    """The OpenAPI's ``Error``: ``{"error": <int status>, "message": str}``."""
    assert isinstance(obj, dict) and set(obj) == {"error", "message"}, obj
    assert obj["error"] == status, obj
    assert isinstance(obj["message"], str) and obj["message"], obj
    if message is not None:
        assert obj["message"] == message, obj
    return str(obj["message"])


def assert_detail(obj: Any, loc: tuple[str | int, ...], kind: str) -> dict[str, Any]:
    """FastAPI's 422 body, ``{"detail": [{"type", "loc", "msg", "input"}, ...]}``, with
    an entry of type ``kind`` at ``loc`` (``("body", "gateways", 0, "port")``); returns
    that entry. A password is never echoed."""
    assert isinstance(obj, dict) and set(obj) == {"detail"}, obj
    detail = obj["detail"]
    assert isinstance(detail, list) and detail, obj
    for entry in detail:
        assert {"type", "loc", "msg", "input"} <= set(entry), entry
        assert isinstance(entry["msg"], str) and entry["msg"], entry
        assert entry["loc"][0] == "body", entry
        if "auth_password" in entry["loc"]:
            assert entry["input"] == "REDACTED", entry
    matching = [e for e in detail if tuple(e["loc"]) == loc and e["type"] == kind]
    assert matching, f"no {kind} at {loc} in {detail}"
    return dict(matching[0])
