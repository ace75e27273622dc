"""A TLS gateway's health and reason from the edge agent's verdicts (htable tlsfail).

The htable.dump answer below is what Kamailio 5.6.3 returned in
tests/integration/test_edge_tls.py (one entry per failing gateway URI); the poller's
mapping is exercised without a replica (its per-gateway step is pure).
"""

from __future__ import annotations

from typing import Any, cast

from bolna_sip_operator.edge.health import HealthPoller, _Sample
from bolna_sip_operator.kamailio.render import Answer, EdgeGateway, EdgeSpec, TrunkRoute
from bolna_sip_operator.kamailio.rpc import ListedDestination, parse_tls_failures
from bolna_sip_operator.reconcile.derive import _aggregate
from bolna_sip_operator.reconcile.observations import (
    BolnaReport,
    EdgeReport,
    HealthReport,
    Reports,
)

WRONG_CA = "sip:127.0.0.1:40001;transport=tls"
WHY = ("TLS: the certificate of gw.example.test:40001 (127.0.0.1) fails verification: "
       "unable to get local issuer certificate")
DUMP = [{"entry": 12, "size": 1, "slot": [{"name": WRONG_CA, "type": "str", "value": WHY}]}]


def _poller() -> HealthPoller:
    poller = HealthPoller(cast(Any, None), cast(Any, None), cast(Any, None))
    poller._tls_failures = parse_tls_failures(DUMP)
    return poller


def _route(address: str, transport: str = "tls") -> TrunkRoute:
    gateway = EdgeGateway(address, 40001, 1, "spec.gateways[0].gatewayAddress")
    return TrunkRoute("ns", "t", 7, EdgeSpec((gateway,), transport, True, True),
                      resolved={"gw.example.test": Answer(("127.0.0.1",))})


def _up(uri: str) -> dict[tuple[int, str], list[_Sample]]:
    listed = ListedDestination(7, uri, "IP", 1, "", None)
    return {(7, uri): [_Sample(listed, True)]}


def test_the_agents_verdict_from_kamailio_parses() -> None:
    assert parse_tls_failures(DUMP) == {WRONG_CA: WHY}
    assert parse_tls_failures([]) == {}


def test_a_gateway_failing_tls_is_unhealthy_with_reason_tls() -> None:
    poller = _poller()
    report, _ = poller._gateway(_route("127.0.0.1"), _route("127.0.0.1").spec.gateways[0],
                                _up(WRONG_CA))
    assert (report.health, report.reason) == ("Unhealthy", "TLS")
    assert report.message == ("spec.gateways[0].gatewayAddress: TLS: the certificate of "
                              "gw.example.test:40001 (127.0.0.1) fails verification: "
                              "unable to get local issuer certificate")
    # A name's address failing TLS: the gateway says TLS, its address Unhealthy.
    named = _route("gw.example.test")
    report, _ = poller._gateway(named, named.spec.gateways[0], _up(WRONG_CA))
    assert report.reason == "TLS" and report.health == "Unhealthy"
    assert report.addresses is not None and report.addresses[0].health == "Unhealthy"


def test_an_edge_without_tls_says_so_and_the_trunk_condition_names_tls() -> None:
    poller = _poller()
    poller._tls_failures, poller._edge_tls = {}, False
    route = _route("127.0.0.1")
    report, _ = poller._gateway(route, route.spec.gateways[0], _up(WRONG_CA))
    assert report.reason == "TLS"
    assert "the SIP edge speaks no TLS" in (report.message or "")
    # A udp trunk is not judged by TLS at all.
    udp = _route("127.0.0.1", "udp")
    plain, _ = poller._gateway(udp, udp.spec.gateways[0], _up("sip:127.0.0.1:40001"))
    assert plain.reason is None

    reports = Reports(bolna=BolnaReport(1, "Synced", "Synced", "ok"),
                      edge=EdgeReport(1, "Loaded", "loaded"),
                      health=HealthReport(1, (report,)))
    verdict = _aggregate(1, reports, edge_managed=True)
    assert verdict.reason == "NoHealthyGateway"
    assert verdict.message.startswith("TLS fails with every gateway")
