"""The ``/trunk`` wire shapes of the project's contract, as checks a test runs on answers.

``carriertrunk-contract.md`` ("The wire") fixes what Bolna's pages leave out: the Trunk,
TrunkSettings, Gateway, carrier IP, Number and call objects field by field, and the two
error bodies (``{"detail": "<message>"}``, or FastAPI's list for a request that does
not fit its model). Each check asserts exactly those keys, so a field added or lost on
either side of the wire fails here first.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from .contract import UTC_TIME

TRUNKS = "/trunk/trunks"
POP = "/trunk/pop"

SETTINGS_FIELDS = (
    "id", "name", "description", "preset", "is_active", "inbound_enabled",
    "outbound_enabled", "channels", "default_inbound_agent_id", "auth_username",
    "transport", "codecs", "outbound_leading_plus_enabled", "created_at", "updated_at")
TRUNK_FIELDS = (*SETTINGS_FIELDS[:-2], "gateways", "ip_acls", "numbers", "health",
                "active_calls", "created_at", "updated_at")
NUMBER_FIELDS = (
    "id", "trunk_id", "e164", "destination_key", "agent_id", "last_inbound_at",
    "last_outbound_at", "created_at", "updated_at", "is_deleted", "deleted_at")
CALL_FIELDS = ("execution_id", "direction", "outcome", "sip_code", "created_at")
HEALTH_VALUES = ("waiting_for_carrier", "healthy", "degraded", "disabled")
PRESETS = ("plivo", "telnyx", "twilio", "exotel", "vobiz", "vonage", "custom")
_CODECS = re.compile(r"^(PCMU|PCMA)(,(PCMU|PCMA))?$")


def is_uuid(value: Any) -> bool:
    """A canonical (lowercase, hyphenated) UUID string."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def assert_settings(obj: Any) -> dict[str, Any]:
    """TrunkSettings (the DELETE answer): exactly these fields, each of its type."""
    assert isinstance(obj, dict) and tuple(obj) == SETTINGS_FIELDS, obj
    _check_settings(obj)
    return dict(obj)


def _check_settings(obj: dict[str, Any]) -> None:
    assert is_uuid(obj["id"]), obj
    assert isinstance(obj["name"], str) and 1 <= len(obj["name"]) <= 100
    assert _optional_str(obj["description"])
    assert obj["preset"] is None or obj["preset"] in PRESETS
    for key in ("is_active", "inbound_enabled", "outbound_enabled",
                "outbound_leading_plus_enabled"):
        assert isinstance(obj[key], bool), (key, obj[key])
    assert _is_int(obj["channels"]) and 1 <= obj["channels"] <= 1000
    assert _optional_str(obj["default_inbound_agent_id"])
    assert _optional_str(obj["auth_username"])
    assert obj["transport"] in ("udp", "tcp")
    assert _CODECS.match(obj["codecs"]), obj["codecs"]
    assert UTC_TIME.match(obj["created_at"]) and UTC_TIME.match(obj["updated_at"])
    assert not any("password" in key for key in obj), "a password field in an answer"


def assert_trunk(obj: Any, *, labels: bool = False) -> dict[str, Any]:
    """A Trunk: exactly the contract's fields in its order, children well formed."""
    assert isinstance(obj, dict) and tuple(obj) == TRUNK_FIELDS, obj
    _check_settings(obj)
    for gateway in obj["gateways"]:
        assert_gateway(gateway)
    for acl in obj["ip_acls"]:
        assert_ip_acl(acl)
    for number in obj["numbers"]:
        assert_number(number)
        assert number["trunk_id"] == obj["id"] and number["is_deleted"] is False
    if labels:
        assert obj["health"] in ("Waiting for carrier", "Healthy", "Degraded", "Disabled")
    else:
        assert obj["health"] in HEALTH_VALUES, obj["health"]
    assert _is_int(obj["active_calls"]) and obj["active_calls"] >= 0
    return dict(obj)


def assert_gateway(obj: Any) -> dict[str, Any]:
    assert isinstance(obj, dict) and tuple(obj) == ("id", "host", "port", "priority"), obj
    assert is_uuid(obj["id"]) and isinstance(obj["host"], str)
    assert _is_int(obj["port"]) and _is_int(obj["priority"])
    return dict(obj)


def assert_ip_acl(obj: Any) -> dict[str, Any]:
    assert isinstance(obj, dict) and tuple(obj) == ("id", "cidr"), obj
    assert is_uuid(obj["id"]) and "/" in obj["cidr"]
    return dict(obj)


def assert_number(obj: Any) -> dict[str, Any]:
    assert isinstance(obj, dict) and tuple(obj) == NUMBER_FIELDS, obj
    assert is_uuid(obj["id"]) and is_uuid(obj["trunk_id"])
    assert isinstance(obj["e164"], str) and isinstance(obj["destination_key"], str)
    assert _optional_str(obj["agent_id"])
    assert isinstance(obj["is_deleted"], bool)
    assert UTC_TIME.match(obj["created_at"]) and UTC_TIME.match(obj["updated_at"])
    assert (obj["deleted_at"] is None) == (not obj["is_deleted"]), obj
    return dict(obj)


def assert_call(obj: Any) -> dict[str, Any]:
    assert isinstance(obj, dict) and tuple(obj) == CALL_FIELDS, obj
    assert isinstance(obj["execution_id"], str) and obj["execution_id"]
    assert obj["direction"] in ("inbound", "outbound")
    assert obj["outcome"] in ("answered", "failed")
    assert _is_int(obj["sip_code"]) and UTC_TIME.match(obj["created_at"])
    return dict(obj)


def assert_message(response: httpx.Response, status: int,
                   message: str | None = None) -> str:
    """``{"detail": "<message>"}`` with this status; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if message is not None:
        assert body["detail"] == message, body
    return str(body["detail"])


def assert_problem(response: httpx.Response, loc: tuple[str | int, ...],
                   kind: str) -> dict[str, Any]:
    """FastAPI's 422 list with an entry of type ``kind`` at ``loc``; returns it. A
    password is never echoed."""
    assert response.status_code == 422, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for entry in detail:
        assert {"type", "loc", "msg", "input"} <= set(entry), entry
        assert entry["loc"][0] in ("body", "path", "query"), entry
        if "auth_password" in entry["loc"]:
            assert entry["input"] == "REDACTED", entry
    matching = [e for e in detail if tuple(e["loc"]) == loc and e["type"] == kind]
    assert matching, f"no {kind} at {loc} in {detail}"
    return dict(matching[0])


def create(api: httpx.Client, name: str = "Carrier", **fields: Any) -> dict[str, Any]:
    """Create a trunk; assert the 200 and the Trunk shape."""
    response = api.post(TRUNKS, json={"name": name, **fields})
    assert response.status_code == 200, response.text
    return assert_trunk(response.json())


def get(api: httpx.Client, trunk_id: str) -> dict[str, Any]:
    response = api.get(f"{TRUNKS}/{trunk_id}")
    assert response.status_code == 200, response.text
    return assert_trunk(response.json())
