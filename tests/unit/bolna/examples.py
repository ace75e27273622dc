"""Bolna's own example requests and responses, verbatim from the setup guide and the
OpenAPI document (``/work/shared/reference``), so the wire models are tested against
what Bolna publishes rather than against what we think it sends."""

from __future__ import annotations

import json
from typing import Any

USERPASS_RESPONSE = """
{
  "id": "01HQXYZ123ABC456DEF",
  "name": "Twilio Production",
  "provider": "twilio",
  "description": "Main Twilio Elastic SIP trunk",
  "auth_type": "userpass",
  "auth_username": "<your-sip-username>",
  "gateways": [
    {
      "id": "01HQXYZ111AAA111BBB",
      "gateway_address": "your-trunk.pstn.twilio.com",
      "port": 5060,
      "priority": 1,
      "created_at": "2026-05-09T10:00:00Z"
    }
  ],
  "ip_identifiers": [],
  "phone_numbers": [],
  "allow": "ulaw,alaw",
  "disallow": "all",
  "transport": "transport-udp",
  "direct_media": false,
  "rtp_symmetric": true,
  "force_rport": true,
  "media_encryption": "no",
  "media_encryption_optimistic": false,
  "qualify_frequency": 60,
  "inbound_enabled": true,
  "outbound_leading_plus_enabled": true,
  "is_active": true,
  "created_at": "2026-05-09T10:00:00Z",
  "updated_at": "2026-05-09T10:00:00Z"
}
"""

IP_BASED_RESPONSE = """
{
  "id": "01HQXYZ789GHI012JKL",
  "name": "Plivo Elastic Trunk",
  "provider": "plivo",
  "auth_type": "ip-based",
  "gateways": [
    {
      "id": "01HQXYZ222BBB222CCC",
      "gateway_address": "21467306465797919.zt.plivo.com",
      "port": 5060,
      "priority": 1,
      "created_at": "2026-05-09T10:00:00Z"
    }
  ],
  "ip_identifiers": [
    { "ip_address": "15.207.90.192/31" },
    { "ip_address": "204.89.151.128/27" },
    { "ip_address": "13.52.9.0/25" }
  ],
  "phone_numbers": [],
  "transport": "transport-udp",
  "media_encryption": "no",
  "media_encryption_optimistic": false,
  "is_active": true,
  "inbound_enabled": true,
  "created_at": "2026-05-09T10:00:00Z",
  "updated_at": "2026-05-09T10:00:00Z"
}
"""

TLS_SDES_RESPONSE = """
{
  "id": "01HQXYZ555TLS888SDES",
  "name": "Twilio Production (encrypted)",
  "provider": "twilio",
  "auth_type": "userpass",
  "gateways": [
    {
      "id": "01HQXYZ333CCC333DDD",
      "gateway_address": "your-trunk.pstn.twilio.com",
      "port": 5061,
      "priority": 1,
      "created_at": "2026-05-09T10:00:00Z"
    }
  ],
  "transport": "transport-tls",
  "media_encryption": "sdes",
  "media_encryption_optimistic": false,
  "inbound_enabled": true,
  "is_active": true,
  "created_at": "2026-05-09T10:00:00Z",
  "updated_at": "2026-05-09T10:00:00Z"
}
"""

NUMBER_RESPONSE = """
{
  "id": "01HQNUMBER111222333",
  "phone_number": "919876543210",
  "byot_trunk_id": "01HQXYZ123ABC456DEF",
  "telephony_provider": "sip-trunk",
  "deleted": false,
  "created_at": "2026-05-09T10:05:00Z",
  "updated_at": "2026-05-09T10:05:00Z"
}
"""

TRUNK_DELETED = {"message": "Trunk deleted successfully. 3 phone number(s) removed."}
NUMBER_REMOVED = {"message": "Phone number removed successfully"}

# Request bodies of the guide's curl examples (the password placeholders stay).
USERPASS_REQUEST = """
{
  "name": "Twilio Production",
  "provider": "twilio",
  "description": "Main Twilio Elastic SIP trunk",
  "auth_type": "userpass",
  "auth_username": "<your-sip-username>",
  "auth_password": "<your-sip-password>",
  "gateways": [
    {
      "gateway_address": "your-trunk.pstn.twilio.com",
      "port": 5060,
      "priority": 1
    }
  ],
  "transport": "transport-udp",
  "allow": "ulaw,alaw",
  "disallow": "all",
  "inbound_enabled": true,
  "outbound_leading_plus_enabled": true
}
"""

IP_BASED_REQUEST = """
{
  "name": "Plivo Elastic Trunk",
  "provider": "plivo",
  "auth_type": "ip-based",
  "gateways": [
    {
      "gateway_address": "21467306465797919.zt.plivo.com",
      "port": 5060,
      "priority": 1
    }
  ],
  "ip_identifiers": [
    { "ip_address": "15.207.90.192/31" },
    { "ip_address": "204.89.151.128/27" },
    { "ip_address": "13.52.9.0/25" }
  ],
  "transport": "transport-udp",
  "inbound_enabled": true
}
"""

TLS_SDES_REQUEST = """
{
  "name": "Twilio Production (encrypted)",
  "provider": "twilio",
  "auth_type": "userpass",
  "auth_username": "<your-sip-username>",
  "auth_password": "<your-sip-password>",
  "gateways": [
    {
      "gateway_address": "your-trunk.pstn.twilio.com",
      "port": 5061,
      "priority": 1
    }
  ],
  "transport": "transport-tls",
  "media_encryption": "sdes",
  "media_encryption_optimistic": false,
  "allow": "ulaw,alaw",
  "disallow": "all",
  "inbound_enabled": true
}
"""

TRUNK_RESPONSES = (USERPASS_RESPONSE, IP_BASED_RESPONSE, TLS_SDES_RESPONSE)
TRUNK_REQUESTS = (USERPASS_REQUEST, IP_BASED_REQUEST, TLS_SDES_REQUEST)


def load(text: str) -> Any:
    """A parsed copy of an example (each call a fresh one, safe to change)."""
    return json.loads(text)
