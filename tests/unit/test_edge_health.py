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


def test_a_drained_gateway_reads_draining_and_undraining_restores_it() -> None:
    """Kamailio holds a drained gateway ``D``: ``Draining`` for an active trunk (not
    Disabled, not Unhealthy), ``Disabled`` still for an inactive one; once undrained and
    reloaded it is Probing until its next answered probe, then Healthy."""
    from bolna_sip_operator.edge.health import drained
    from bolna_sip_operator.kamailio.render import EdgeGateway, EdgeSpec, TrunkRoute

    gateway = EdgeGateway("198.51.100.1", 5060, 1, "spec.gateways[0].gatewayAddress",
                          drain=True)
    active = TrunkRoute("ns", "t", 1, EdgeSpec((gateway,), "udp", True, True))
    inactive = TrunkRoute("ns", "t", 1, EdgeSpec((gateway,), "udp", False, True))
    assert drained(next_health("Healthy", "DX", sampled=False), gateway, active) == "Draining"
    assert drained(next_health(None, "DX", sampled=False), gateway, inactive) == "Disabled"
    undrained = EdgeGateway("198.51.100.1", 5060, 1, "spec.gateways[0].gatewayAddress")
    assert drained(next_health("Draining", "AP", sampled=False), undrained,
                   active) == "Probing"
    assert next_health("Draining", "AP", sampled=True) == "Healthy"
