"""The SipTrunk status: what the operator observed, for kubectl, Argo CD and Flux.

Conditions follow metav1.Condition and the kstatus conventions (``Ready``,
``Reconciling``, ``Stalled``, ``observedGeneration``), so ``kubectl wait
--for=condition=Ready`` and GitOps health checks read them without extra configuration.
Status models ignore unknown fields: a newer operator may have written fields an older
one does not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

ConditionType = Literal["Ready", "Synced", "DispatcherSynced", "GatewaysHealthy",
                        "Reconciling", "Stalled"]
GatewayHealth = Literal["Healthy", "Unhealthy", "Probing", "NotProbed", "Disabled", "Draining",
                        "Unknown"]

_INT64: JsonDict = {"format": "int64"}


class _Observed(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Condition(_Observed):
    """One aspect of the trunk's state, as a metav1.Condition."""

    type: str = Field(description="Ready, Synced, DispatcherSynced, GatewaysHealthy, "
                      "Reconciling or Stalled.", max_length=316)
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    observedGeneration: int | None = Field(  # noqa: N815
        default=None, ge=0, json_schema_extra=_INT64,
        description="The metadata.generation this condition was set for.")
    lastTransitionTime: datetime = Field(  # noqa: N815
        description="When the status last changed.")
    reason: str = Field(
        max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="A CamelCase word for programs, e.g. Available or ReconcileError.")
    message: str = Field(max_length=32768, description="A sentence for people.")


class PhoneNumberStatus(_Observed):
    """A number as Bolna holds it."""

    phoneNumber: str = Field(description="The number as Bolna stores it.")  # noqa: N815
    id: str = Field(description="Bolna's ID of the number.")


class DispatcherStatus(_Observed):
    """Where the trunk lives on the SIP edge."""

    setId: int = Field(  # noqa: N815
        ge=1, description=("The Kamailio dispatcher set that holds this trunk's gateways; "
                           "stable for the life of the object."))


class GatewayAddressStatus(_Observed):
    """One address of a gateway named by a hostname, as Kamailio sees it."""

    address: str = Field(description="An IP address the gateway's name resolves to.")
    uri: str = Field(description="The SIP URI written to Kamailio for it.")
    health: GatewayHealth = Field(
        description=("Healthy (answers OPTIONS), Unhealthy (stopped answering), Probing, "
                     "NotProbed, Disabled, Draining or Unknown, as for a gateway."))
    flags: str | None = Field(default=None, description="Kamailio's flags, e.g. AP.")
    latencyMs: float | None = Field(  # noqa: N815
        default=None, description="Average OPTIONS round trip in milliseconds.")
    lastTransitionTime: datetime | None = Field(  # noqa: N815
        default=None, description="When health last changed.")


class GatewayStatus(_Observed):
    """One gateway as Kamailio sees it."""

    gatewayAddress: str = Field(description="The gateway's address from spec.")  # noqa: N815
    port: int = Field(description="The effective port.")
    uri: str | None = Field(default=None, description=(
        "The SIP URI written to Kamailio; for a gateway named by a hostname, the name's "
        "URI (Kamailio holds one URI per address, under addresses)."))
    priority: int = Field(description="The priority from spec (1 is tried first).")
    health: GatewayHealth = Field(
        description=("Healthy (answers OPTIONS), Unhealthy (stopped answering), Probing "
                     "(failing, still selected), NotProbed (probing off), Disabled "
                     "(trunk inactive), Draining (edge.drain: no new call at the SIP "
                     "edge) or Unknown."))
    flags: str | None = Field(default=None, description="Kamailio's flags, e.g. AP.")
    latencyMs: float | None = Field(  # noqa: N815
        default=None, description="Average OPTIONS round trip in milliseconds.")
    lastTransitionTime: datetime | None = Field(  # noqa: N815
        default=None, description="When health last changed.")
    reason: str | None = Field(
        default=None, max_length=64,
        description=("Why the gateway has this health when Kamailio's probes do not say: "
                     "DNS (its name does not resolve, or cannot be looked up), or TLS "
                     "(a transport-tls gateway: the edge's TLS handshake with it fails, "
                     "e.g. its certificate fails verification, or the edge has no TLS)."))
    message: str | None = Field(
        default=None, max_length=1024, description="The reason in a sentence.")
    addresses: list[GatewayAddressStatus] | None = Field(
        default=None,
        description=("For a gateway named by a hostname: every address the name resolves "
                     "to (A and AAAA, looked up again as their TTL runs out), each probed "
                     "and tried in turn (one Kamailio destination each); the gateway is "
                     "Healthy while one answers. Absent for a gateway given as an IP."))


class TrunkStatus(_Observed):
    """What both kinds' status start with: Bolna's trunk, the conditions, and the two
    facts that make creates and password rotations safe (``CarrierTrunkStatus`` and
    ``SipTrunkStatus`` add their numbers and the SIP edge's view)."""

    trunkId: str | None = Field(default=None, description="Bolna's ID of the trunk.")  # noqa: N815
    observedGeneration: int | None = Field(  # noqa: N815
        default=None, ge=0, json_schema_extra=_INT64,
        description="The metadata.generation that this status describes.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["type"]},
        description="Ready, Synced, DispatcherSynced, GatewaysHealthy, Reconciling, Stalled.")
    createStartedAt: datetime | None = Field(  # noqa: N815
        default=None,
        description=("Set just before a create call whose answer could be lost; while it "
                     "is set and trunkId is not, the operator looks the trunk up by name "
                     "before creating again, so a lost answer never makes a duplicate."))
    passwordSecretVersion: str | None = Field(  # noqa: N815
        default=None,
        description=("UID/resourceVersion of the password Secret last sent to Bolna, to "
                     "notice rotation. Nothing derived from the password is kept."))


class SipTrunkStatus(TrunkStatus):
    """The observed state of the trunk in Bolna and on the SIP edge."""

    phoneNumbers: list[PhoneNumberStatus] = Field(  # noqa: N815
        default_factory=list, description="The trunk's numbers as Bolna holds them.")
    phoneNumberCount: int | None = Field(  # noqa: N815
        default=None, description="How many numbers Bolna holds for the trunk.")
    dispatcher: DispatcherStatus | None = Field(
        default=None, description="The trunk's place in Kamailio's dispatcher.")
    gateways: list[GatewayStatus] = Field(
        default_factory=list, description="Each gateway's health as Kamailio reports it.")
    healthyGateways: str | None = Field(  # noqa: N815
        default=None, description="Healthy gateways out of all, e.g. 2/2.")
