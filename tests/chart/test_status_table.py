"""The README's status table, asserted: state -> conditions -> kstatus -> Argo CD -> wait.

Each row builds the status exactly as the operator writes it (the real ``StatusOwner``
and ``derive``) from the observations of that state, and asks the real engines through
``gitops-judge``: kstatus' ``Compute`` (what Flux waits on) and Argo CD's health with the
chart's Lua. ``kubectl wait --for=condition=Ready`` returns exactly when the Ready
condition is True for the current generation; the integration tier checks that with the
real kubectl (``test_status_clients.py``, and against the running operator in
``test_operator_bolna.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.reconcile.observations import (
    BolnaReport,
    DeletionReport,
    EdgeReport,
    GatewayReport,
    HealthReport,
    Reports,
)
from bolna_sip_operator.reconcile.status_owner import StatusOwner, TrunkIdentity
from tests.gitops import judge

GEN = 2
SYNCED = BolnaReport(GEN, "Synced", "Synced", "Bolna trunk T and its 1 number(s) match spec")
LOADED = EdgeReport(GEN, "Loaded", "set 3 loaded and verified on 2 Kamailio replica(s)")


def _health(*healths: str, generation: int = GEN) -> HealthReport:
    return HealthReport(generation, tuple(
        GatewayReport(f"10.0.0.{i}", 5060, f"sip:10.0.0.{i}:5060", i + 1, h)  # type: ignore[arg-type]
        for i, h in enumerate(healths)))


@dataclass(frozen=True)
class Row:
    """One state of a SipTrunk and what every client makes of it."""

    state: str
    reports: Reports | None
    """None: the operator has not written a status at all."""
    ready: tuple[str, str]
    kstatus: str
    argocd: str
    deleting: bool = False
    observed_older: bool = False


TABLE = [
    Row("never seen by the operator", None, ("-", "-"), "InProgress", "Progressing"),
    Row("first look (nothing observed yet)", Reports(), ("False", "Creating"), "InProgress",
        "Progressing"),
    Row("spec changed, not yet observed", Reports(SYNCED, LOADED, _health("Healthy")),
        ("True", "Available"), "InProgress", "Progressing", observed_older=True),
    Row("Bolna synced, Kamailio loading the change",
        Reports(SYNCED, EdgeReport(GEN - 1, "Loaded", "set 3 loaded"),
                _health("Healthy", generation=GEN - 1)),
        ("False", "Loading"), "InProgress", "Progressing"),
    Row("loaded, new gateways being probed",
        Reports(SYNCED, LOADED, _health("Probing", "Probing")),
        ("False", "Probing"), "InProgress", "Progressing"),
    Row("Bolna failing, retrying", Reports(BolnaReport(
        GEN, "Retrying", "BolnaUnavailable", "Bolna answered 503"), LOADED, _health("Healthy")),
        ("False", "BolnaUnavailable"), "InProgress", "Progressing"),
    Row("Bolna rate limiting", Reports(BolnaReport(
        GEN, "Retrying", "RateLimited", "429, retry after 3 s")),
        ("False", "RateLimited"), "InProgress", "Progressing"),
    Row("token refused", Reports(BolnaReport(
        GEN, "Stalled", "Unauthorized", "Bolna refused the API token")),
        ("False", "Unauthorized"), "Failed", "Degraded"),
    Row("spec refused by Bolna", Reports(BolnaReport(
        GEN, "Stalled", "Rejected", "Bolna rejected the trunk: bad gateway")),
        ("False", "Rejected"), "Failed", "Degraded"),
    Row("Ready", Reports(SYNCED, LOADED, _health("Healthy", "Healthy")),
        ("True", "Available"), "Current", "Healthy"),
    Row("one gateway down", Reports(SYNCED, LOADED, _health("Healthy", "Unhealthy")),
        ("True", "Available"), "Current", "Healthy"),
    Row("all gateways down", Reports(SYNCED, LOADED, _health("Unhealthy", "Unhealthy")),
        ("False", "NoHealthyGateway"), "Failed", "Degraded"),
    Row("Kamailio unreachable", Reports(SYNCED, EdgeReport(GEN, "Unreachable", "refused")),
        ("False", "KamailioUnreachable"), "InProgress", "Progressing"),
    Row("deleting, Bolna down", Reports(SYNCED, LOADED, _health("Healthy"), DeletionReport(
        "Retrying", "BolnaUnavailable", "not deleted in Bolna yet: 503")),
        ("False", "Deleting"), "Terminating", "Progressing", deleting=True),
]


def _crd_status_schema() -> dict[str, Any]:
    crd = yaml.safe_load((Path(__file__).parents[2] / "crds" / "siptrunk.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["status"])


def _object(row: Row) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "twilio", "namespace": "telephony", "uid": "u1",
                                "generation": GEN + (1 if row.observed_older else 0)}
    if row.deleting:
        metadata["deletionTimestamp"] = "2026-11-29T05:00:00Z"
    obj: dict[str, Any] = {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk",
                           "metadata": metadata, "spec": {"provider": "twilio"}}
    if row.reports is None:
        # What the API server returns for an object the operator has not seen yet: the
        # CRD's default status, if any.
        default = _crd_status_schema().get("default")
        if default is not None:
            obj["status"] = default
        return obj

    class _Nowhere:
        async def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                               **_: Any) -> None:
            return None

    owner = StatusOwner(_Nowhere(), edge_managed=True)
    owner.see(TrunkIdentity("telephony", "twilio", "u1", GEN, {}))
    reports = row.reports

    async def write() -> None:
        await owner.report("u1", bolna=reports.bolna, edge=reports.edge,
                           health=reports.health, deletion=reports.deletion)

    asyncio.run(write())
    obj["status"] = owner.status("u1")
    return obj


@pytest.mark.parametrize("row", TABLE, ids=[row.state for row in TABLE])
def test_each_state_reads_the_same_to_every_client(row: Row) -> None:
    obj = _object(row)
    [verdict] = judge([obj])
    conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
    ready = conditions.get("Ready")
    assert ((ready["status"], ready["reason"]) if ready else ("-", "-")) == row.ready
    assert verdict.kstatus.status == row.kstatus, verdict
    assert verdict.argocd.status == row.argocd, verdict
    if ready is not None and not row.observed_older:
        # kubectl wait --for=condition=Ready returns exactly in the rows kstatus calls
        # Current; the three aggregates never contradict each other.
        assert (ready["status"] == "True") == (row.kstatus == "Current")
        in_progress = conditions["Reconciling"]["status"] == "True"
        stalled = conditions["Stalled"]["status"] == "True"
        assert not (in_progress and stalled)
        if not row.deleting:
            assert in_progress == (row.kstatus == "InProgress")
            assert stalled == (row.kstatus == "Failed")


def test_retrying_shows_bolna_s_error_to_both_engines() -> None:
    [verdict] = judge([_object(TABLE[5])])
    assert "503" in verdict.kstatus.message
    assert "503" in verdict.argocd.message
