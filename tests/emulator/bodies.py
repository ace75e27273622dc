"""Request bodies of Bolna's setup guide, as sent there, and small builders around them.

The guide's three trunk examples and its number example, with the values the guide
uses (placeholders included), so a test can compare the emulator's answer with the
guide's example answer field by field.
"""

from __future__ import annotations

import copy
from typing import Any

TWILIO_PASSWORD = "canary-sip-password-5b8e"

TWILIO_USERPASS: dict[str, Any] = {
    "name": "Twilio Production",
    "provider": "twilio",
    "description": "Main Twilio Elastic SIP trunk",
    "auth_type": "userpass",
    "auth_username": "<your-sip-username>",
    "auth_password": TWILIO_PASSWORD,
    "gateways": [{"gateway_address": "your-trunk.pstn.twilio.com", "port": 5060,
                  "priority": 1}],
    "transport": "transport-udp",
    "allow": "ulaw,alaw",
    "disallow": "all",
    "inbound_enabled": True,
    "outbound_leading_plus_enabled": True,
}

PLIVO_IP_BASED: dict[str, Any] = {
    "name": "Plivo Elastic Trunk",
    "provider": "plivo",
    "auth_type": "ip-based",
    "gateways": [{"gateway_address": "21467306465797919.zt.plivo.com", "port": 5060,
                  "priority": 1}],
    "ip_identifiers": [{"ip_address": "15.207.90.192/31"},
                       {"ip_address": "204.89.151.128/27"},
                       {"ip_address": "13.52.9.0/25"}],
    "transport": "transport-udp",
    "inbound_enabled": True,
}

TWILIO_TLS_SDES: dict[str, Any] = {
    "name": "Twilio Production (encrypted)",
    "provider": "twilio",
    "auth_type": "userpass",
    "auth_username": "<your-sip-username>",
    "auth_password": TWILIO_PASSWORD,
    "gateways": [{"gateway_address": "your-trunk.pstn.twilio.com", "port": 5061,
                  "priority": 1}],
    "transport": "transport-tls",
    "media_encryption": "sdes",
    "media_encryption_optimistic": False,
    "allow": "ulaw,alaw",
    "disallow": "all",
    "inbound_enabled": True,
}

MUMBAI_NUMBER: dict[str, Any] = {"phone_number": "919876543210",
                                 "name": "Mumbai Support Line"}


def minimal(name: Any = "Minimal", **changes: Any) -> dict[str, Any]:
    """The smallest valid userpass trunk: only the required fields (``name`` may be
    anything, for the tests of wrong types)."""
    body: dict[str, Any] = {
        "name": name, "provider": "custom", "auth_type": "userpass",
        "auth_username": "user", "auth_password": TWILIO_PASSWORD,
        "gateways": [{"gateway_address": "sip.example.com"}],
    }
    body.update(changes)
    return body


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A deep copy of ``body`` without ``keys``."""
    trimmed = copy.deepcopy(body)
    for key in keys:
        trimmed.pop(key, None)
    return trimmed
