"""Every condition of a trunk (SipTrunk or CarrierTrunk: the same six), from the
parts' observations: one pure function.

The conditions are written for the clients users have, which read them differently:

- kstatus (Flux, ``kubectl`` plugins, cli-utils) reads ``observedGeneration``, then
  ``Reconciling`` (True: InProgress) and ``Stalled`` (True: Failed).
- Argo CD runs the chart's health Lua (``deploy/argocd/siptrunk-health.lua``), which
  reads ``Stalled`` (Degraded) and ``Ready`` (Healthy), else Progressing.
- ``kubectl wait --for=condition=Ready`` reads ``Ready`` only.

So the three aggregate conditions must agree with each other at every moment:
``Ready=True`` exactly when nothing is in progress and nothing is stalled, for the
current generation; ``Reconciling=True`` while any part is working towards it (the
message says which, and Bolna's error while retrying); ``Stalled=True`` when nothing
will change without a person: Bolna refused the spec or the token, or no gateway
answers OPTIONS (the carrier or the addresses in the spec must change; see the README's
table for why this reads Failed and Degraded rather than InProgress).

The three part conditions (``Synced``, ``DispatcherSynced``, ``GatewaysHealthy``) carry
the generation their part last described, so a reader sees which part lags.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conditions import Verdict
from .observations import BolnaReport, EdgeReport, HealthReport, Reports


@dataclass(frozen=True)
class _Aggregate:
    """What Ready, Reconciling and Stalled say: which part blocks, and how."""

    ready: bool
    reason: str
    message: str
    stalled: bool = False
    ready_reason: str | None = None
    """Ready's own reason when it differs (while deleting: Deleting, for any cause)."""


def derive(generation: int, reports: Reports, *, edge_managed: bool) -> list[Verdict]:
    """The six conditions for ``generation``, from the latest reports."""
    verdicts = [_synced(generation, reports.bolna)]
    if edge_managed and reports.deletion is not None:
        verdicts += [
            Verdict("DispatcherSynced", "False", "Removed", "the trunk is being deleted; "
                    "its set is taken off Kamailio", generation),
            Verdict("GatewaysHealthy", "Unknown", "Removed", "the trunk is being deleted; "
                    "its gateways are no longer probed", generation)]
    elif edge_managed:
        verdicts += [_dispatcher(generation, reports.edge),
                     _gateways(generation, reports.health)]
    verdict = _aggregate(generation, reports, edge_managed=edge_managed)
    in_progress = not verdict.ready and not verdict.stalled
    verdicts += [
        Verdict("Ready", "True" if verdict.ready else "False",
                verdict.ready_reason or verdict.reason, verdict.message, generation),
        Verdict("Reconciling", "True" if in_progress else "False",
                verdict.reason if in_progress else "Idle",
                verdict.message if in_progress else "Nothing in progress", generation),
        Verdict("Stalled", "True" if verdict.stalled else "False",
                verdict.reason if verdict.stalled else "Progressing",
                verdict.message if verdict.stalled else "Not stalled", generation),
    ]
    return verdicts


def healthy_gateways(health: HealthReport | None) -> str | None:
    """``healthy/total`` for the GATEWAYS column; None before the first report."""
    if health is None:
        return None
    healthy = sum(1 for g in health.gateways if g.health == "Healthy")
    return f"{healthy}/{len(health.gateways)}"


# ---- the part conditions ---------------------------------------------------------------


def _synced(generation: int, bolna: BolnaReport | None) -> Verdict:
    if bolna is None:
        return Verdict("Synced", "Unknown", "NotObserved",
                       "the operator has not compared Bolna with the spec yet", generation)
    return Verdict("Synced", "True" if bolna.state == "Synced" else "False", bolna.reason,
                   bolna.message, bolna.generation)


def _dispatcher(generation: int, edge: EdgeReport | None) -> Verdict:
    if edge is None:
        return Verdict("DispatcherSynced", "Unknown", "NotObserved",
                       "the SIP edge has not loaded the trunk yet", generation)
    if edge.state == "Loaded":
        return Verdict("DispatcherSynced", "True", "Loaded", edge.message, edge.generation)
    return Verdict("DispatcherSynced", "False", edge.state, edge.message, edge.generation)


def gateway_counts(health: HealthReport) -> tuple[int, int, int]:
    """(healthy, unhealthy, total) gateways."""
    healths = [g.health for g in health.gateways]
    return (sum(1 for h in healths if h == "Healthy"),
            sum(1 for h in healths if h == "Unhealthy"), len(healths))


def _gateways(generation: int, health: HealthReport | None) -> Verdict:
    if health is None:
        return Verdict("GatewaysHealthy", "Unknown", "NotObserved",
                       "Kamailio has not been asked about the gateways yet", generation)
    gen = health.generation
    if health.probing == "Off":
        return Verdict("GatewaysHealthy", "True", "ProbingDisabled",
                       "OPTIONS probing is off for this trunk (qualifyFrequency: 0)", gen)
    if health.probing == "Inactive":
        return Verdict("GatewaysHealthy", "True", "TrunkInactive",
                       "the trunk is inactive; its gateways are disabled", gen)
    healthy, unhealthy, total = gateway_counts(health)
    notes = _dns_and_address_notes(health)
    if total == 0:
        return Verdict("GatewaysHealthy", "True", "NoGateways",
                       "the trunk has no gateways (inbound only): nothing to probe", gen)
    draining = [g.uri for g in health.gateways if g.health == "Draining"]
    if draining:
        notes = f"; draining (edge.drain): {', '.join(draining)}{notes}"
    if len(draining) == total:
        return Verdict("GatewaysHealthy", "False", "AllDraining",
                       f"every gateway is drained{notes}: the SIP edge sends no new call",
                       gen)
    if healthy + len(draining) == total:
        return Verdict("GatewaysHealthy", "True", "AllHealthy",
                       f"{healthy}/{total} gateways answer OPTIONS{notes}", gen)
    if unhealthy and not healthy and unhealthy + len(draining) == total:
        return Verdict("GatewaysHealthy", "False", "AllUnhealthy",
                       f"0/{total} gateways answer OPTIONS{notes}", gen)
    if unhealthy:
        down = ", ".join(g.uri for g in health.gateways
                         if g.health == "Unhealthy" and g.reason not in ("DNS", "TLS"))
        down = f"; not answering: {down}" if down else ""
        return Verdict("GatewaysHealthy", "False", "SomeUnhealthy",
                       f"{healthy}/{total} gateways answer OPTIONS{down}{notes}", gen)
    return Verdict("GatewaysHealthy", "Unknown", "Probing",
                   f"{healthy}/{total} gateways confirmed so far; Kamailio is probing{notes}",
                   gen)


def _dns_and_address_notes(health: HealthReport) -> str:
    """What the gateway count leaves out: names that do not resolve (or whose lookups
    fail), and addresses of a name that do not answer while another one does."""
    notes = [g.message for g in health.gateways if g.reason in ("DNS", "TLS") and g.message]
    for gateway in health.gateways:
        down = [a.address for a in gateway.addresses or () if a.health == "Unhealthy"]
        if down and gateway.health != "Unhealthy":
            notes.append(f"{gateway.gateway_address}: {len(down)} of "
                         f"{len(gateway.addresses or ())} addresses not answering "
                         f"({', '.join(down)})")
    return "".join(f"; {note}" for note in notes)


# ---- Ready, Reconciling, Stalled ---------------------------------------------------------


def _aggregate(generation: int, reports: Reports, *, edge_managed: bool) -> _Aggregate:
    deletion = reports.deletion
    if deletion is not None:
        return _Aggregate(False, deletion.reason, deletion.message,
                          stalled=deletion.state == "Blocked", ready_reason="Deleting")
    bolna = reports.bolna
    if bolna is None or bolna.generation != generation:
        return _Aggregate(False, "Updating" if bolna else "Creating",
                          f"waiting for the operator to bring Bolna to generation "
                          f"{generation}")
    if bolna.state == "Stalled":
        return _Aggregate(False, bolna.reason, bolna.message, stalled=True)
    if bolna.state == "Retrying":
        return _Aggregate(False, bolna.reason, f"retrying: {bolna.message}")
    if not edge_managed:
        return _Aggregate(True, "Available", bolna.message)
    edge = reports.edge
    if edge is None or edge.generation != generation:
        return _Aggregate(False, "Loading", "Bolna matches spec; waiting for Kamailio to "
                          f"load generation {generation}")
    if edge.state == "Refused":
        return _Aggregate(False, "EdgeRefused", edge.message, stalled=True)
    if edge.state != "Loaded":
        reason = {"Unreachable": "KamailioUnreachable",
                  "NoReplicas": "NoKamailioReplicas"}.get(edge.state, "Loading")
        return _Aggregate(False, reason, f"Bolna matches spec; Kamailio: {edge.message}")
    health = reports.health
    if health is None or health.generation != generation:
        return _Aggregate(False, "Probing", "Bolna and Kamailio match spec; waiting for "
                          "the first gateway health of this generation")
    verdict = _gateways(generation, health)
    if verdict.reason == "AllUnhealthy" and all(g.reason == "TLS" for g in health.gateways):
        return _Aggregate(False, "NoHealthyGateway", f"TLS fails with every gateway "
                          f"({verdict.message}): check the gateways' certificates and the "
                          "edge's CA bundle and certificate (kamailio.tls)", stalled=True)
    if verdict.reason == "AllUnhealthy":
        return _Aggregate(False, "NoHealthyGateway", f"no gateway answers OPTIONS "
                          f"({verdict.message}): check the carrier and "
                          "spec.gateways", stalled=True)
    if verdict.reason == "AllDraining":
        return _Aggregate(False, "NoHealthyGateway", verdict.message)
    if verdict.status == "Unknown":
        return _Aggregate(False, "Probing", f"Bolna and Kamailio match spec; "
                          f"{verdict.message}")
    return _Aggregate(True, "Available", f"Bolna and Kamailio match spec; "
                      f"{verdict.message}")
