"""What Argo CD and kstatus (Flux) say about SipTrunk and CarrierTrunk objects shaped as
the operator writes them, from the engines' own code (``tests/gitops.py``: one run of
the Go program ``gitops-judge`` per kind for the whole table).

CarrierTrunk has SipTrunk's conditions and ``observedGeneration``, so it gets the same
health Lua (under its own argocd-cm key) and the same table, with the kind's name in
kstatus' messages; its two health truths (``status.bolna`` and the gateways) reach Argo
CD only through the conditions the operator derives from them.

What each engine reads, in the versions pinned in ``hack/tools/gitops-judge/go.mod``:

Argo CD (argo-cd v2, gitops-engine ``health.GetResourceHealth``, the controller's call):
  1. ``metadata.deletionTimestamp`` set: ``Progressing`` "Pending deletion", decided by
     gitops-engine before any Lua runs (the Lua's own "Being deleted" branch is never
     reached in Argo CD).
  2. Otherwise ``deploy/argocd/siptrunk-health.lua`` (installed as the resource
     override for ``sip.bolna.ai/SipTrunk``): no ``status``, or ``status.observedGeneration``
     missing or below ``metadata.generation``: ``Progressing``; ``Stalled=True`` (whose
     condition ``observedGeneration`` is not older): ``Degraded`` "<reason>: <message>";
     ``Ready=True``: ``Healthy`` with Ready's message; ``Ready=False`` with reason
     ``NoHealthyGateway``: ``Degraded``; anything else: ``Progressing``. It never reads
     ``Reconciling``. A Lua error shows as ``Unknown`` with the error as message.

kstatus (cli-utils ``status.Compute``, generic rules for a custom resource):
  1. ``metadata.deletionTimestamp`` set: ``Terminating``.
  2. ``status.observedGeneration`` present and not equal to ``metadata.generation``:
     ``InProgress``. Absent: not checked at all.
  3. ``Reconciling=True``: ``InProgress``; ``Stalled=True``: ``Failed``; with the
     condition's message. (Conditions' own ``observedGeneration`` is not read.)
  4. ``Ready`` present: ``True`` is ``Current``, otherwise ``InProgress`` with its message.
  5. Otherwise ``Current`` "Resource is current": so a SipTrunk with no status at all,
     or ``status: {}``, is Current to kstatus (Flux would call it ready at once).

Where the two disagree (no healthy gateway: Degraded vs InProgress; Reconciling=True
next to Ready=True: Healthy vs InProgress; no status: Progressing vs Current; a Ready
condition of an older generation: Progressing vs Current) the table records what each
says today; the condition design that makes them agree changes these expectations.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.gitops import Judgement, judge


def _condition(type_: str, status: str, reason: str, message: str,
               generation: int = 2) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": "2026-11-26T05:00:00Z"}


READY: dict[str, Any] = {
    "apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk",
    "metadata": {"name": "twilio", "namespace": "telephony", "generation": 2},
    "spec": {"provider": "twilio"},
    "status": {
        "trunkId": "01M8B1P20HK597WY9K0TWQTW0C", "observedGeneration": 2,
        "healthyGateways": "2/2",
        "conditions": [
            _condition("Ready", "True", "Available",
                       "Bolna and Kamailio match spec; 2/2 gateways answer OPTIONS"),
            _condition("Synced", "True", "ReconcileSuccess", "Bolna trunk matches spec"),
            _condition("DispatcherSynced", "True", "Loaded", "set 3 loaded and verified"),
            _condition("GatewaysHealthy", "True", "AllHealthy", "2/2 gateways answer"),
            _condition("Reconciling", "False", "ReconcileSuccess", "Up to date"),
            _condition("Stalled", "False", "ReconcileSuccess", "Not stalled"),
        ],
    },
}


def _with(conditions: dict[str, tuple[str, str, str]], **status: Any) -> dict[str, Any]:
    obj = copy.deepcopy(READY)
    for item in obj["status"]["conditions"]:
        if item["type"] in conditions:
            item["status"], item["reason"], item["message"] = conditions[item["type"]]
    obj["status"].update(status)
    return obj


def _changed(change: Callable[[dict[str, Any]], object],
             base: dict[str, Any] = READY) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    change(obj)
    return obj


def _status_only(status: dict[str, Any] | None) -> dict[str, Any]:
    """A SipTrunk as first created (generation 1) with exactly this status."""
    obj = copy.deepcopy(READY)
    obj["metadata"]["generation"] = 1
    if status is None:
        del obj["status"]
    else:
        obj["status"] = status
    return obj


@dataclass(frozen=True)
class Case:
    id: str
    obj: dict[str, Any]
    kstatus: tuple[str, str]
    argocd: tuple[str, str]


CASES = [
    Case("ready", READY,
         kstatus=("Current", "Resource is Ready"),
         argocd=("Healthy", "Bolna and Kamailio match spec; 2/2 gateways answer OPTIONS")),
    Case("stalled",
         _with({"Stalled": ("True", "Conflict", "Bolna already has a trunk named x"),
                "Ready": ("False", "Error", "Bolna already has a trunk named x")}),
         kstatus=("Failed", "Bolna already has a trunk named x"),
         argocd=("Degraded", "Conflict: Bolna already has a trunk named x")),
    # Disagreement: the Lua calls Ready=False/NoHealthyGateway Degraded; kstatus reads
    # only Ready=False (Stalled is False here), which is InProgress.
    Case("no-healthy-gateway",
         _with({"Ready": ("False", "NoHealthyGateway", "0/2 gateways answer OPTIONS"),
                "GatewaysHealthy": ("False", "AllUnhealthy", "0/2 gateways answer OPTIONS")}),
         kstatus=("InProgress", "0/2 gateways answer OPTIONS"),
         argocd=("Degraded", "0/2 gateways answer OPTIONS")),
    # Disagreement: no status is Current to kstatus (nothing to say otherwise).
    Case("new", _changed(lambda o: o.pop("status")),
         kstatus=("Current", "Resource is current"),
         argocd=("Progressing", "Waiting for the operator")),
    Case("newer-generation", _changed(lambda o: o["metadata"].update(generation=3)),
         kstatus=("InProgress", "SipTrunk generation is 3, but latest observed generation is 2"),
         argocd=("Progressing", "Waiting for the operator to observe generation 3")),
    Case("deleting",
         _changed(lambda o: o["metadata"].update(deletionTimestamp="2026-11-26T05:10:00Z")),
         kstatus=("Terminating", "Resource scheduled for deletion"),
         argocd=("Progressing", "Pending deletion")),
    Case("updating",
         _changed(lambda o: o["status"]["conditions"][0].update(
             status="False", reason="Updating", message="waiting for Kamailio")),
         kstatus=("InProgress", "waiting for Kamailio"),
         argocd=("Progressing", "Updating: waiting for Kamailio")),
    # Disagreement: kstatus does not read a condition's own observedGeneration.
    Case("stale-ready",
         _changed(lambda o: o["status"]["conditions"][0].update(observedGeneration=1)),
         kstatus=("Current", "Resource is Ready"),
         argocd=("Progressing", "Waiting for the operator")),
    # Disagreement: the Lua never reads Reconciling; kstatus puts it before Ready.
    Case("reconciling-while-ready",
         _changed(lambda o: o["status"]["conditions"][4].update(
             status="True", reason="Progressing", message="reloading Kamailio")),
         kstatus=("InProgress", "reloading Kamailio"),
         argocd=("Healthy", "Bolna and Kamailio match spec; 2/2 gateways answer OPTIONS")),
    # What a schema default for status would give a new SipTrunk before the operator
    # writes anything (generation 1):
    Case("status-empty", _status_only({}),
         kstatus=("Current", "Resource is current"),
         argocd=("Progressing", "Waiting for the operator to observe generation 1")),
    Case("status-observed-generation-0", _status_only({"observedGeneration": 0}),
         kstatus=("InProgress", "SipTrunk generation is 1, but latest observed generation is 0"),
         argocd=("Progressing", "Waiting for the operator to observe generation 1")),
    Case("status-reconciling-only",
         _status_only({"conditions": [_condition("Reconciling", "True", "Pending",
                                                 "Waiting for the operator", 1)]}),
         kstatus=("InProgress", "Waiting for the operator"),
         argocd=("Progressing", "Waiting for the operator to observe generation 1")),
]


def _as_carrier_trunk(obj: dict[str, Any]) -> dict[str, Any]:
    """The same object as a CarrierTrunk, with the status fields only that kind has."""
    carrier = copy.deepcopy(obj)
    carrier["kind"] = "CarrierTrunk"
    carrier["spec"] = {"preset": "twilio"}
    if carrier.get("status", {}).get("trunkId"):
        carrier["status"]["bolna"] = {"health": "Healthy", "reportedHealth": "healthy",
                                      "activeCalls": 2}
    return carrier


CARRIER_CASES = [
    Case(case.id, _as_carrier_trunk(case.obj),
         kstatus=(case.kstatus[0], case.kstatus[1].replace("SipTrunk", "CarrierTrunk")),
         argocd=case.argocd)
    for case in CASES
] + [
    # Bolna's own health is not a condition: a Ready trunk whose calls have been failing
    # is Healthy to both engines until the operator's conditions say otherwise.
    Case("bolna-degraded-while-ready",
         _changed(lambda o: o["status"].update(bolna={"health": "Degraded",
                                                      "reportedHealth": "degraded"}),
                  _as_carrier_trunk(READY)),
         kstatus=("Current", "Resource is Ready"),
         argocd=("Healthy", "Bolna and Kamailio match spec; 2/2 gateways answer OPTIONS")),
]


@functools.cache
def judgements(kind: str = "SipTrunk") -> dict[str, Judgement]:
    """Both engines on every case of a kind, from one run of gitops-judge with the health
    Lua installed for that kind (a missing binary fails each test that asks, with the
    command that builds it)."""
    cases = CARRIER_CASES if kind == "CarrierTrunk" else CASES
    return dict(zip([case.id for case in cases],
                    judge([case.obj for case in cases], kind=kind), strict=True))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_argocd_health(case: Case) -> None:
    result = judgements()[case.id]
    assert not result.errors
    assert result.argocd == case.argocd


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_kstatus(case: Case) -> None:
    result = judgements()[case.id]
    assert not result.errors
    assert result.kstatus == case.kstatus


@pytest.mark.parametrize("case", CARRIER_CASES, ids=[case.id for case in CARRIER_CASES])
def test_carrier_trunk_argocd_health(case: Case) -> None:
    result = judgements("CarrierTrunk")[case.id]
    assert not result.errors
    assert result.argocd == case.argocd


@pytest.mark.parametrize("case", CARRIER_CASES, ids=[case.id for case in CARRIER_CASES])
def test_carrier_trunk_kstatus(case: Case) -> None:
    result = judgements("CarrierTrunk")[case.id]
    assert not result.errors
    assert result.kstatus == case.kstatus


def test_the_health_check_is_installed_per_kind() -> None:
    """Argo CD runs a health Lua only for the group/kind it is installed under: a
    CarrierTrunk judged with the SipTrunk key alone gets no verdict from it."""
    (with_own_key,) = judge([_as_carrier_trunk(READY)], kind="CarrierTrunk")
    (with_sip_key_only,) = judge([_as_carrier_trunk(READY)], kind="SipTrunk")
    assert with_own_key.argocd.status == "Healthy"
    assert with_sip_key_only.argocd != with_own_key.argocd


def test_a_lua_error_is_unknown_in_argocd() -> None:
    """Argo CD shows a failing health script as Unknown with the Lua error."""
    obj = copy.deepcopy(READY)
    obj["status"]["observedGeneration"] = "2"  # a string: the Lua's comparison fails
    (result,) = judge([obj])
    assert result.argocd.status == "Unknown"
    assert "attempt to compare" in result.argocd.message
    # kstatus refuses the malformed field outright (its callers see the error).
    assert result.kstatus.status == "Error"
    assert "status.observedGeneration" in result.kstatus.message
