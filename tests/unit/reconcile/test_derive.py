"""Conditions from observations: each state a user can meet, and how they read."""

from __future__ import annotations

from bolna_sip_operator.reconcile.derive import derive
from bolna_sip_operator.reconcile.observations import (
    BolnaReport,
    DeletionReport,
    EdgeReport,
    GatewayReport,
    HealthReport,
    Reports,
)

SYNCED = BolnaReport(2, "Synced", "Synced", "Bolna trunk T and its 1 number(s) match spec")
LOADED = EdgeReport(2, "Loaded", "set 3 loaded and verified on 2 Kamailio replica(s)")


def _gateway(uri: str, health: str) -> GatewayReport:
    return GatewayReport("10.0.0.1", 5060, uri, 1, health)  # type: ignore[arg-type]


def _health(*healths: str, generation: int = 2) -> HealthReport:
    return HealthReport(generation, tuple(_gateway(f"sip:g{i}", h)
                                          for i, h in enumerate(healths)))


def _read(reports: Reports, generation: int = 2, *, edge: bool = True
          ) -> dict[str, tuple[str, str, int | None]]:
    return {v.type: (v.status, v.reason, v.generation)
            for v in derive(generation, reports, edge_managed=edge)}


def test_ready_needs_every_part_on_the_current_generation() -> None:
    ready = _read(Reports(SYNCED, LOADED, _health("Healthy", "Unhealthy")))
    assert ready["Ready"] == ("True", "Available", 2)
    assert ready["Reconciling"][0] == ready["Stalled"][0] == "False"
    assert ready["GatewaysHealthy"][:2] == ("False", "SomeUnhealthy")
    # Kamailio still holds generation 1: not Ready, in progress, and the part says so.
    lagging = _read(Reports(SYNCED, EdgeReport(1, "Loaded", "set 3 loaded"),
                            _health("Healthy", generation=1)))
    assert lagging["Ready"][:2] == ("False", "Loading")
    assert lagging["Reconciling"][0] == "True"
    assert lagging["DispatcherSynced"] == ("True", "Loaded", 1)
    # Loaded for 2 but health last read for 1: still probing.
    probing = _read(Reports(SYNCED, LOADED, _health("Healthy", generation=1)))
    assert probing["Ready"][:2] == ("False", "Probing")


def test_retrying_is_in_progress_with_its_own_reason() -> None:
    retry = BolnaReport(2, "Retrying", "BolnaUnavailable", "Bolna answered 503")
    read = _read(Reports(retry, LOADED, _health("Healthy")))
    assert read["Ready"][:2] == ("False", "BolnaUnavailable")
    assert read["Reconciling"] == ("True", "BolnaUnavailable", 2)
    assert read["Stalled"][0] == "False"
    assert read["Synced"] == ("False", "BolnaUnavailable", 2)


def test_permanent_errors_and_dead_gateways_stall() -> None:
    refused = BolnaReport(2, "Stalled", "Unauthorized", "Bolna refused the token")
    read = _read(Reports(refused))
    assert read["Stalled"] == ("True", "Unauthorized", 2)
    assert read["Reconciling"][0] == "False"
    dead = _read(Reports(SYNCED, LOADED, _health("Unhealthy", "Unhealthy")))
    assert dead["Ready"][:2] == ("False", "NoHealthyGateway")
    assert dead["Stalled"][:2] == ("True", "NoHealthyGateway")
    assert dead["Reconciling"][0] == "False"


def test_never_seen_and_deleting() -> None:
    fresh = _read(Reports(), generation=1)
    assert fresh["Ready"][:2] == ("False", "Creating")
    assert fresh["Reconciling"][0] == "True"
    deleting = _read(Reports(SYNCED, LOADED, _health("Healthy"), DeletionReport(
        "Retrying", "BolnaUnavailable", "not deleted in Bolna yet: 503")))
    assert deleting["Ready"][:2] == ("False", "Deleting")
    assert deleting["Reconciling"][:2] == ("True", "BolnaUnavailable")
    assert deleting["DispatcherSynced"][:2] == ("False", "Removed")


def test_without_an_edge_bolna_alone_decides() -> None:
    read = _read(Reports(SYNCED), edge=False)
    assert read["Ready"][:2] == ("True", "Available")
    assert "DispatcherSynced" not in read


def test_a_drained_gateway_is_neither_unhealthy_nor_missing() -> None:
    """``Draining`` gateways are left out of the count's judgement: the others decide,
    and a trunk with every gateway drained is not Ready (no new call can go out), but
    not stalled either (the drain is the user's choice)."""
    one = _read(Reports(SYNCED, LOADED, _health("Healthy", "Draining")))
    assert one["GatewaysHealthy"][:2] == ("True", "AllHealthy")
    assert one["Ready"][:2] == ("True", "Available")
    down = _read(Reports(SYNCED, LOADED, _health("Unhealthy", "Draining")))
    assert down["GatewaysHealthy"][:2] == ("False", "AllUnhealthy")
    drained = _read(Reports(SYNCED, LOADED, _health("Draining", "Draining")))
    assert drained["GatewaysHealthy"][:2] == ("False", "AllDraining")
    assert drained["Ready"][:2] == ("False", "NoHealthyGateway")
    assert drained["Stalled"][0] == "False"
