"""The Argo CD health check, run in a real Lua interpreter on SipTrunk objects shaped
exactly as the operator writes them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lupa
import pytest

SCRIPT = (Path(__file__).parents[2] / "deploy" / "argocd" / "siptrunk-health.lua").read_text()


def _lua_value(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _lua_value(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_lua_value(lua, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """What Argo CD would show for the object."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _lua_value(lua, obj)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


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


def test_ready_is_healthy() -> None:
    assert health(READY)[0] == "Healthy"


def test_stalled_is_degraded_with_the_reason() -> None:
    obj = _with({"Stalled": ("True", "Conflict", "Bolna already has a trunk named x"),
                 "Ready": ("False", "Error", "Bolna already has a trunk named x")})
    assert health(obj) == ("Degraded", "Conflict: Bolna already has a trunk named x")


def test_no_gateway_answering_is_degraded() -> None:
    obj = _with({"Ready": ("False", "NoHealthyGateway", "0/2 gateways answer OPTIONS"),
                 "GatewaysHealthy": ("False", "AllUnhealthy", "0/2 gateways answer OPTIONS")})
    assert health(obj) == ("Degraded", "0/2 gateways answer OPTIONS")


@pytest.mark.parametrize("change", [
    lambda o: o.pop("status"),
    lambda o: o["metadata"].update(generation=3),
    lambda o: o["metadata"].update(deletionTimestamp="2026-11-26T05:10:00Z"),
    lambda o: o["status"]["conditions"][0].update(status="False", reason="Updating",
                                                  message="waiting for Kamailio"),
    lambda o: o["status"]["conditions"][0].update(observedGeneration=1),
], ids=["new", "newer-generation", "deleting", "updating", "stale-ready"])
def test_everything_else_is_progressing(change: Any) -> None:
    obj = copy.deepcopy(READY)
    change(obj)
    assert health(obj)[0] == "Progressing"
