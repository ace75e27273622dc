"""What each part of the operator saw, stamped with the generation it describes.

Three parts look at a trunk of either kind: the Bolna half (is Bolna's trunk equal to
the spec?), the SIP edge (does every Kamailio replica hold the trunk's set?) and the
health poller (do the gateways answer OPTIONS?). Each reports a typed observation here
and nothing else; ``derive.py`` turns the latest observation of every part into
conditions, and ``status_owner.py`` is the only writer of status. A part never writes a
condition, so two parts can never disagree in the status about what the other saw.

Every observation carries the ``metadata.generation`` it describes. Ready needs every
part to describe the current generation: a gateway list loaded for generation 2 says
nothing about generation 3.

On an operator restart the observations are read back from the status the last
operator wrote (``reports_from_status``), so a restart does not flip Ready.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ..kamailio.health import Health
from ..model.carrier_status import CarrierTrunkStatus
from ..model.status import Condition, GatewayAddressStatus, GatewayStatus, SipTrunkStatus

BolnaState = Literal["Synced", "Retrying", "Stalled"]
EdgeState = Literal["Loaded", "Pending", "Unreachable", "NoReplicas", "Refused"]
Probing = Literal["On", "Off", "Inactive"]
DeletionState = Literal["Deleting", "Retrying", "Blocked"]


@dataclass(frozen=True)
class BolnaReport:
    """The Bolna half's last outcome for one generation.

    ``reason`` names the class of outcome for the REASON column: ``Synced``; while
    retrying ``BolnaUnavailable``, ``RateLimited`` or ``CreatePending``; when stalled
    ``Unauthorized``, ``Conflict``, ``Rejected``, ``SecretNotFound``, ``NoToken``,
    ``AdoptionFailed`` or ``OwnedElsewhere``.
    """

    generation: int
    state: BolnaState
    reason: str
    message: str


@dataclass(frozen=True)
class EdgeReport:
    """Whether every Kamailio replica holds the trunk's set as rendered for a generation."""

    generation: int
    state: EdgeState
    message: str


@dataclass(frozen=True)
class AddressReport:
    """One address of a gateway named by a hostname: one dispatcher line."""

    address: str
    uri: str
    health: Health
    flags: str | None = None
    latency_ms: float | None = None
    since: str | None = None

    def to_status(self) -> GatewayAddressStatus:
        """The status entry."""
        return GatewayAddressStatus.model_validate({
            "address": self.address, "uri": self.uri, "health": self.health,
            "flags": self.flags, "latencyMs": self.latency_ms,
            "lastTransitionTime": self.since})


@dataclass(frozen=True)
class GatewayReport:
    """One gateway as the SIP edge sees it.

    A gateway named by a hostname has one ``AddressReport`` per address the name
    resolves to; its own health is the best of theirs (a call reaches it while one
    address answers), or ``Unhealthy`` with reason ``DNS`` when the name has no address.
    """

    gateway_address: str
    port: int
    uri: str
    priority: int
    health: Health
    flags: str | None = None
    latency_ms: float | None = None
    since: str | None = None
    """When ``health`` last changed (RFC 3339)."""
    addresses: tuple[AddressReport, ...] | None = None
    """None for a gateway given as an IP address."""
    reason: str | None = None
    """Why the health is what it is, when Kamailio's flags do not say: ``DNS``."""
    message: str | None = None

    def to_status(self) -> GatewayStatus:
        """The status entry."""
        return GatewayStatus.model_validate({
            "gatewayAddress": self.gateway_address, "port": self.port, "uri": self.uri,
            "priority": self.priority, "health": self.health, "flags": self.flags,
            "latencyMs": self.latency_ms, "lastTransitionTime": self.since,
            "reason": self.reason, "message": self.message,
            "addresses": None if self.addresses is None
            else [a.to_status().model_dump(mode="json", exclude_none=True)
                  for a in self.addresses]})


@dataclass(frozen=True)
class HealthReport:
    """The health of the gateways of the set loaded for a generation."""

    generation: int
    gateways: tuple[GatewayReport, ...]
    probing: Probing = "On"


@dataclass(frozen=True)
class DeletionReport:
    """Where deletion stands: in progress, waiting out a temporary error, or blocked."""

    state: DeletionState
    reason: str
    message: str


@dataclass(frozen=True)
class Reports:
    """The latest observation of every part; None: that part has not reported yet."""

    bolna: BolnaReport | None = None
    edge: EdgeReport | None = None
    health: HealthReport | None = None
    deletion: DeletionReport | None = None

    def with_(self, **parts: object) -> Reports:
        """A copy with some parts replaced."""
        return replace(self, **parts)  # type: ignore[arg-type]


def _condition(status: SipTrunkStatus | CarrierTrunkStatus, type_: str) -> Condition | None:
    return next((c for c in status.conditions if c.type == type_), None)


def reports_from_status(status: SipTrunkStatus | CarrierTrunkStatus) -> Reports:
    """The observations a status written by ``derive`` stands for (the inverse of it).

    Used once per trunk after an operator start, so the first write of the new process
    keeps what the old one knew: a trunk Ready before a restart stays Ready through it.
    """
    bolna = edge = health = None
    synced = _condition(status, "Synced")
    stalled = _condition(status, "Stalled")
    if synced is not None and synced.observedGeneration is not None:
        generation = synced.observedGeneration
        if synced.status == "True":
            bolna = BolnaReport(generation, "Synced", "Synced", synced.message)
        elif (stalled is not None and stalled.status == "True"
              and stalled.reason == synced.reason):
            bolna = BolnaReport(generation, "Stalled", synced.reason, synced.message)
        elif synced.status == "False":
            bolna = BolnaReport(generation, "Retrying", synced.reason, synced.message)
    loaded = _condition(status, "DispatcherSynced")
    if loaded is not None and loaded.observedGeneration is not None:
        state: EdgeState = "Loaded" if loaded.status == "True" else (
            loaded.reason if loaded.reason in ("Unreachable", "NoReplicas", "Refused")
            else "Pending")  # type: ignore[assignment]
        edge = EdgeReport(loaded.observedGeneration, state, loaded.message)
    healthy = _condition(status, "GatewaysHealthy")
    if healthy is not None and healthy.observedGeneration is not None:
        probing: Probing = ("Off" if healthy.reason == "ProbingDisabled"
                            else "Inactive" if healthy.reason == "TrunkInactive" else "On")
        health = HealthReport(healthy.observedGeneration, tuple(
            GatewayReport(g.gatewayAddress, g.port, g.uri or "", g.priority, g.health,
                          g.flags, g.latencyMs, _rfc3339(g.lastTransitionTime),
                          None if g.addresses is None else tuple(
                              AddressReport(a.address, a.uri, a.health, a.flags,
                                            a.latencyMs, _rfc3339(a.lastTransitionTime))
                              for a in g.addresses),
                          g.reason, g.message)
            for g in status.gateways), probing)
    return Reports(bolna=bolna, edge=edge, health=health)


def _rfc3339(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None
