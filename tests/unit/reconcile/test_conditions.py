"""Conditions keep their transition time unless their status changes."""

from __future__ import annotations

from bolna_sip_operator.reconcile.conditions import Verdict, find, set_conditions


def test_transition_time_moves_only_when_status_changes() -> None:
    first = set_conditions([], [Verdict("Ready", "False", "Creating", "x")], 1, now="T1")
    same = set_conditions(first, [Verdict("Ready", "False", "Error", "y")], 2, now="T2")
    flipped = set_conditions(same, [Verdict("Ready", "True", "Available", "z")], 2, now="T3")
    assert find(first, "Ready")["lastTransitionTime"] == "T1"  # type: ignore[index]
    assert find(same, "Ready")["lastTransitionTime"] == "T1"  # type: ignore[index]
    assert find(same, "Ready")["observedGeneration"] == 2  # type: ignore[index]
    assert find(flipped, "Ready")["lastTransitionTime"] == "T3"  # type: ignore[index]


def test_order_is_stable_and_other_conditions_are_kept() -> None:
    conditions = set_conditions([], [Verdict("Stalled", "False", "A", "a"),
                                     Verdict("Synced", "True", "B", "b")], 1, now="T")
    conditions = set_conditions(conditions, [Verdict("Ready", "True", "C", "c")], 1, now="T")
    assert [c["type"] for c in conditions] == ["Ready", "Synced", "Stalled"]
