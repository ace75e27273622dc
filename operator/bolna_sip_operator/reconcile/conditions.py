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
    generation: int | None = None
    """The generation this verdict describes; None: the one given to ``set_conditions``."""


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
            "observedGeneration": (verdict.generation if verdict.generation is not None
                                   else generation),
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
