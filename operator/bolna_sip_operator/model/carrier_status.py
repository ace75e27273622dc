"""The CarrierTrunk status: what the operator observed in Bolna and on the SIP edge.

The conditions are SipTrunk's six (``Ready``, ``Synced``, ``DispatcherSynced``,
``GatewaysHealthy``, ``Reconciling``, ``Stalled``), with the same ``Condition``,
dispatcher and gateway models (imported from ``status.py``), so ``kubectl wait``, the
Argo CD health Lua and kstatus read both kinds alike. Unknown fields are ignored: a
newer operator may have written fields an older one does not know.

Two health truths sit side by side and are never merged: ``gateways`` /
``healthyGateways`` are the SIP edge's own OPTIONS probes of the carrier's gateways (from
Kamailio), and ``bolna`` is Bolna's call-outcome health of the trunk. Bolna's ``health``
values are unverified (its pages show only the dashboard's labels), so ``bolna.health``
is the operator's mapping of them and ``bolna.reportedHealth`` keeps Bolna's raw value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .status import (
    _INT64,
    DispatcherStatus,
    GatewayStatus,
    TrunkStatus,
    _Observed,
)

BolnaHealthState = Literal["WaitingForCarrier", "Healthy", "Degraded", "Disabled", "Unknown"]


class CarrierNumberStatus(_Observed):
    """A number as Bolna holds it."""

    e164: str = Field(description="The number as Bolna stores it (E.164).")
    id: str = Field(description="Bolna's ID of the number.")


class BolnaHealth(_Observed):
    """Bolna's own health of the trunk, from call outcomes (its dashboard's Health)."""

    health: BolnaHealthState = Field(
        description=("WaitingForCarrier (no call has crossed the trunk yet), Healthy, "
                     "Degraded (the last three or more outbound calls failed at the "
                     "carrier; one answered call clears it), Disabled (isActive is false) "
                     "or Unknown (Bolna answered a value the operator does not know)."))
    reportedHealth: str | None = Field(  # noqa: N815 (the API's own camelCase)
        default=None, description="Bolna's health value exactly as it answered it.")
    activeCalls: int | None = Field(  # noqa: N815
        default=None, ge=0, json_schema_extra=_INT64,
        description="Calls on the trunk now, as Bolna reports them; absent when unknown.")
    observedAt: datetime | None = Field(  # noqa: N815
        default=None, description=("When the operator first saw Bolna report this health "
                                   "(it moves when the health changes, not on every read)."))


class CarrierAllowlist(_Observed):
    """What the carrier must allowlist and send to, from Bolna's ``GET /trunk/pop``.

    The same for every trunk and account, read from Bolna rather than hard-coded (Bolna
    asks for that: a second edge address is reserved and may start sending).
    """

    sipDomain: str | None = Field(  # noqa: N815
        default=None, description="Bolna's SIP domain, e.g. trunk.bolna.ai: the carrier's "
        "origination URI points here.")
    port: int | None = Field(default=None, description="Bolna's SIP port, e.g. 5060.")
    transports: list[Annotated[str, Field(description="A transport, e.g. udp.")]] = Field(
        default_factory=list, description="SIP transports Bolna accepts, e.g. udp, tcp.")
    signallingIps: list[Annotated[str, Field(  # noqa: N815
        description="An address of Bolna's SIP edge.")]] = Field(
        default_factory=list,
        description=("Every address Bolna's SIP edge signals from: allowlist all of them, "
                     "even one that sends no traffic today."))
    rtpPorts: str | None = Field(  # noqa: N815
        default=None, description="The UDP port range of Bolna's media, e.g. 30000-40000.")


class CarrierTrunkStatus(TrunkStatus):
    """The observed state of the trunk in Bolna and on the SIP edge."""

    numbers: list[CarrierNumberStatus] = Field(
        default_factory=list, description="The trunk's numbers as Bolna holds them.")
    numberCount: int | None = Field(  # noqa: N815
        default=None, description="How many numbers Bolna holds for the trunk.")
    dispatcher: DispatcherStatus | None = Field(
        default=None, description="The trunk's place in Kamailio's dispatcher.")
    gateways: list[GatewayStatus] = Field(
        default_factory=list,
        description=("Each gateway's health as the SIP edge's OPTIONS probes see it "
                     "(from Kamailio); gatewayAddress is the gateway's host."))
    healthyGateways: str | None = Field(  # noqa: N815
        default=None, description="Gateways answering OPTIONS, out of all, e.g. 2/2.")
    bolna: BolnaHealth | None = Field(
        default=None, description="Bolna's own call-outcome health of the trunk.")
    carrierAllowlist: CarrierAllowlist | None = Field(  # noqa: N815
        default=None,
        description="What the carrier must allowlist and send to (Bolna's GET /trunk/pop).")
