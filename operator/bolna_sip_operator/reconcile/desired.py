"""What Bolna should hold for a SipTrunk, in Bolna's own field names.

Pure: the spec (already validated) and the trunk's object name go in, Bolna's wire fields
come out. The password is not part of it; it travels separately as a secret value and
only when a create or a rotation needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.spec import SipTrunkSpec

MANAGED_FIELDS = (
    "name", "description", "auth_username", "gateways", "ip_identifiers", "allow",
    "disallow", "inbound_enabled", "outbound_leading_plus_enabled", "transport",
    "media_encryption", "media_encryption_optimistic", "qualify_frequency", "is_active",
)
"""Fields the operator keeps equal to spec with PATCH: exactly the fields of Bolna's
update schema (``SIPTrunkUpdateRequest``) that the spec maps to, ``auth_password`` aside
(sent only on rotation)."""

CREATE_ONLY_FIELDS = ("direct_media", "rtp_symmetric", "force_rport")
"""In Bolna's create schema, not in its update schema: sent once, never PATCHed (the CRD
keeps them immutable)."""

IMMUTABLE_FIELDS = ("provider", "auth_type", *CREATE_ONLY_FIELDS)
"""Fields Bolna cannot change after creation; a trunk whose value differs (an adopted
one, or one changed outside the operator) is a conflict only a person can settle."""
CREATE_EXCLUDED = ("is_active",)


def phone_key(number: str) -> str:
    """Bolna treats a number with and without its leading + as the same number."""
    return number.removeprefix("+")


@dataclass(frozen=True)
class DesiredNumber:
    """A phone number as the spec asks for it."""

    phone_number: str
    name: str | None


@dataclass(frozen=True)
class DesiredTrunk:
    """The trunk and numbers Bolna should hold, without secrets."""

    fields: dict[str, Any]
    numbers: dict[str, DesiredNumber]
    """Keyed by ``phone_key``."""

    @property
    def name(self) -> str:
        """Bolna's name of the trunk: unique per account, the key for finding it."""
        return str(self.fields["name"])

    def create_body(self) -> dict[str, Any]:
        """The create call's body, numbers included (one call for trunk and numbers).

        ``is_active`` is not a create field in Bolna's API (a trunk starts active); an
        inactive trunk is created, then paused by the plan's PATCH.
        """
        body = {k: v for k, v in self.fields.items()
                if v is not None and k not in CREATE_EXCLUDED}
        if self.numbers:
            body["phone_numbers"] = [
                {k: v for k, v in (("phone_number", n.phone_number), ("name", n.name))
                 if v is not None}
                for n in self.numbers.values()]
        return body


def desired_trunk(spec: SipTrunkSpec, object_name: str) -> DesiredTrunk:
    """Render a spec into Bolna's fields; ``object_name`` is the default trunk name."""
    fields: dict[str, Any] = {
        "name": spec.name or object_name,
        "provider": spec.provider,
        "description": spec.description,
        "auth_type": spec.authType,
        "auth_username": spec.authUsername if spec.authType == "userpass" else None,
        "gateways": [
            {"gateway_address": g.gatewayAddress, "port": g.effective_port(spec.transport),
             "priority": g.priority}
            for g in spec.gateways],
        "ip_identifiers": [{"ip_address": i.ipAddress} for i in spec.ipIdentifiers or ()],
        "allow": spec.allow,
        "disallow": spec.disallow,
        "inbound_enabled": spec.inboundEnabled,
        "outbound_leading_plus_enabled": spec.outboundLeadingPlusEnabled,
        "transport": spec.transport,
        "media_encryption": spec.mediaEncryption,
        "media_encryption_optimistic": spec.mediaEncryptionOptimistic,
        "direct_media": spec.directMedia,
        "rtp_symmetric": spec.rtpSymmetric,
        "force_rport": spec.forceRport,
        "qualify_frequency": spec.qualifyFrequency,
        "is_active": spec.active,
    }
    numbers = {phone_key(n.phoneNumber): DesiredNumber(n.phoneNumber, n.name)
               for n in spec.phoneNumbers or ()}
    return DesiredTrunk(fields=fields, numbers=numbers)
