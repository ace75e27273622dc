"""Condition bookkeeping in the metav1.Condition and kstatus manner.

Pure: ``set_condition`` returns a new list and keeps ``lastTransitionTime`` when the
status did not change, so writing the same verdict twice is a no-op and the status
writer can skip the write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]
ConditionDict = dict[str, Any]

CONDITION_ORDER = ("Ready", "Synced", "DispatcherSynced", "GatewaysHealthy", "Reconciling",
                   "Stalled")


@dataclass(frozen=True)
class Verdict:
    """One condition's new value."""

    type: str
    status: Status
    reason: str
    message: str


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it (seconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_conditions(current: list[ConditionDict], verdicts: list[Verdict], generation: int,
                   now: str | None = None) -> list[ConditionDict]:
    """Apply verdicts; untouched conditions stay; the result is in a stable order."""
    by_type = {c["type"]: dict(c) for c in current}
    stamp = now or now_rfc3339()
    for verdict in verdicts:
        old = by_type.get(verdict.type)
        changed = old is None or old.get("status") != verdict.status
        by_type[verdict.type] = {
            "type": verdict.type,
            "status": verdict.status,
            "observedGeneration": generation,
            "lastTransitionTime": stamp if changed or old is None
            else old.get("lastTransitionTime", stamp),
            "reason": verdict.reason,
            "message": verdict.message,
        }
    order = {name: i for i, name in enumerate(CONDITION_ORDER)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], 99), c["type"]))


def find(conditions: list[ConditionDict], type_: str) -> ConditionDict | None:
    """The condition of that type, if set."""
    return next((c for c in conditions if c.get("type") == type_), None)


def derive_ready(conditions: list[ConditionDict]) -> Verdict | None:
    """Ready from its parts when the SIP edge is managed: Bolna synced, Kamailio loaded,
    and a gateway answering (or probing off). None while Bolna is not synced: the
    Bolna reconcile then says why itself."""
    synced = find(conditions, "Synced") or {}
    if synced.get("status") != "True":
        return None
    dispatcher = find(conditions, "DispatcherSynced") or {}
    if dispatcher.get("status") != "True":
        return Verdict("Ready", "False", "Updating",
                       "Bolna matches spec; waiting for Kamailio to load the trunk: "
                       + str(dispatcher.get("message") or "not synced yet"))
    gateways = find(conditions, "GatewaysHealthy") or {}
    reason = gateways.get("reason")
    if reason == "AllUnhealthy":
        return Verdict("Ready", "False", "NoHealthyGateway", str(gateways.get("message")))
    if reason in ("AllHealthy", "SomeUnhealthy", "ProbingDisabled"):
        return Verdict("Ready", "True", "Available",
                       f"Bolna and Kamailio match spec; {gateways.get('message')}")
    return Verdict("Ready", "False", "Updating",
                   "Bolna and Kamailio match spec; waiting for the first OPTIONS probes")
