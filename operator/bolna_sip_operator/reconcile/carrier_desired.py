"""What Bolna's ``/trunk`` API should hold for a CarrierTrunk, in Bolna's field names.

Pure: the validated spec and the object's name in, Bolna's settings and the three sets of
children (gateways, carrier IPs, numbers) out. The password is not part of it: it
travels as a secret value, and only when it has to.

A setting the spec leaves out is ``None`` here and is not managed: Bolna keeps whatever
it holds (the same rule as SipTrunk's ``description``). ``isActive``, ``inboundEnabled``,
``outboundEnabled`` and ``channels`` always have a value, from the CRD's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.carrier_spec import CarrierTrunkSpec

SETTINGS = (
    "name", "description", "preset", "is_active", "inbound_enabled", "outbound_enabled",
    "channels", "default_inbound_agent_id", "auth_username", "transport", "codecs",
    "outbound_leading_plus_enabled",
)
"""The settings the operator keeps equal to spec with PATCH: the fields of Bolna's update
body that the spec maps to, ``auth_password`` aside (sent with ``auth_username``)."""

CREATE_FIELDS = (
    "name", "description", "preset", "inbound_enabled", "outbound_enabled", "channels",
    "default_inbound_agent_id",
)
"""The create body. Assumption, named: Bolna's create page was readable only up to
``auth_username``, so only the fields seen there are sent on create; ``auth_username``
goes with ``auth_password`` (not seen on create, and Bolna takes them together), and
``is_active``, ``transport``, ``codecs`` and ``outbound_leading_plus_enabled`` go with the
PATCH that follows at once, whose body Bolna documents in full. The trunk is never
created with more than the page shows."""


@dataclass(frozen=True)
class DesiredGateway:
    """A gateway; a changed one is another gateway (Bolna has no gateway update)."""

    host: str
    port: int
    priority: int

    @property
    def key(self) -> tuple[str, int, int]:
        """What makes two gateways the same: host in any letter case, port, priority."""
        return self.host.lower(), self.port, self.priority


@dataclass(frozen=True)
class DesiredNumber:
    """A number as the spec asks for it (``agent_id`` None: the trunk's default)."""

    e164: str
    destination_key: str
    agent_id: str | None


@dataclass(frozen=True)
class DesiredCarrierTrunk:
    """The trunk Bolna should hold, without secrets."""

    settings: dict[str, Any]
    """Bolna's field -> value; None: not managed."""
    gateways: tuple[DesiredGateway, ...]
    networks: tuple[str, ...]
    """Carrier IPs, normalised (a bare address is its /32 or /128) as Bolna stores them."""
    numbers: dict[str, DesiredNumber]
    """By ``e164``."""

    @property
    def name(self) -> str:
        """Bolna's name of the trunk: the key for finding a create whose answer was lost."""
        return str(self.settings["name"])

    def create_body(self) -> dict[str, Any]:
        """The create call's body: ``CREATE_FIELDS`` that the spec manages."""
        return {k: self.settings[k] for k in CREATE_FIELDS if self.settings[k] is not None}


def desired_carrier_trunk(spec: CarrierTrunkSpec, object_name: str) -> DesiredCarrierTrunk:
    """Render a spec into Bolna's fields; ``object_name`` is the default trunk name."""
    settings: dict[str, Any] = {
        "name": spec.effective_name(object_name),
        "description": spec.description,
        "preset": spec.preset,
        "is_active": spec.isActive,
        "inbound_enabled": spec.inboundEnabled,
        "outbound_enabled": spec.outboundEnabled,
        "channels": spec.channels,
        "default_inbound_agent_id": spec.defaultInboundAgentId,
        "auth_username": spec.authUsername if spec.has_credentials else None,
        "transport": spec.transport,
        "codecs": spec.codecs_text(),
        "outbound_leading_plus_enabled": spec.outboundLeadingPlusEnabled,
    }
    return DesiredCarrierTrunk(
        settings=settings,
        gateways=tuple(DesiredGateway(g.host, g.effective_port(), g.priority)
                       for g in spec.gateways),
        networks=tuple(acl.network() for acl in spec.ipAcls),
        numbers={n.e164: DesiredNumber(n.e164, n.effective_destination_key(), n.agentId)
                 for n in spec.numbers})
