"""Gateway health across a Kamailio reload: the last verdict stands until a probe."""

from __future__ import annotations

from bolna_sip_operator.edge.health import next_health
from bolna_sip_operator.edge.set_ids import assign_set_ids, lowest_free


def test_a_reload_does_not_forget_what_probes_said() -> None:
    # After a reload every destination reads AP with no latency sample.
    assert next_health("Healthy", "AP", sampled=False) == "Healthy"
    assert next_health("Unhealthy", "AP", sampled=False) == "Unhealthy"
    assert next_health(None, "AP", sampled=False) == "Probing"  # new to the set
    # Kamailio's own verdicts replace the carried one.
    assert next_health("Healthy", "IP", sampled=False) == "Unhealthy"
    assert next_health("Unhealthy", "AP", sampled=True) == "Healthy"
    assert next_health("Healthy", "TP", sampled=False) == "Probing"
    assert next_health(None, "AX", sampled=False) == "NotProbed"


def test_set_ids_are_kept_and_clashes_resolved_by_uid() -> None:
    assert lowest_free([1, 2, 4]) == 3
    assigned = assign_set_ids(["b", "a", "c"], {"a": 5, "b": 5, "c": 1})
    assert assigned == {"a": 5, "b": 2, "c": 1}
