"""Dispatcher and address files rendered from SipTrunks: exact, ordered, uninjectable."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.edge.views import carrier_edge, siptrunk_edge
from bolna_sip_operator.kamailio.render import (
    HEADER,
    Answer,
    EdgeSpec,
    Renderer,
    TrunkRoute,
    render,
)
from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec
from bolna_sip_operator.model.spec import Gateway, SipTrunkSpec
from tests.corpus import IP_BASED_SPEC, USERPASS_SPEC

TWILIO = "your-trunk.pstn.twilio.com"


def _dns(spec: EdgeSpec, answers: dict[str, tuple[str, ...]] | None = None
         ) -> dict[str, Answer | None]:
    """Each gateway name's addresses: as given, else one of 192.0.2.0/24 per name."""
    given = answers or {}
    return {name: Answer(given.get(name, (f"192.0.2.{n + 1}",)))
            for n, name in enumerate(spec.hostnames)}


def _route(set_id: int, name: str = "trunk", **changes: Any) -> TrunkRoute:
    spec = siptrunk_edge(SipTrunkSpec.model_validate({**USERPASS_SPEC, **changes}))
    return TrunkRoute("telephony", name, set_id, spec, resolved=_dns(spec))


def test_one_set_per_trunk_with_bolna_priority_inverted_and_distinct() -> None:
    route = _route(3, gateways=[
        {"gatewayAddress": "b.example.com", "priority": 2},
        {"gatewayAddress": "a.example.com", "priority": 1},
        {"gatewayAddress": "c.example.com", "priority": 2, "port": 5080}])
    # b is 192.0.2.1, a 192.0.2.2, c 192.0.2.3: a line per address, in Bolna's order.
    assert render([route]).dispatcher_text == HEADER + (
        "3 sip:192.0.2.2:5060 8 3 duid=3-1.0;trunk=telephony/trunk;host=a.example.com\n"
        "3 sip:192.0.2.1:5060 8 2 duid=3-0.0;trunk=telephony/trunk;host=b.example.com\n"
        "3 sip:192.0.2.3:5080 8 1 duid=3-2.0;trunk=telephony/trunk;host=c.example.com\n")


def test_every_address_of_a_name_is_a_line_in_the_gateways_place() -> None:
    """A name's addresses fail over within its priority: all of them before the next
    gateway; IPv4 first; an address already written is not written twice; a name
    without addresses has no line, and the other gateways stay."""
    spec = siptrunk_edge(SipTrunkSpec.model_validate({**USERPASS_SPEC, "gateways": [
        {"gatewayAddress": "backup.example.com", "priority": 2},
        {"gatewayAddress": "edge.example.com", "priority": 1},
        {"gatewayAddress": "198.51.100.7", "priority": 3},
        {"gatewayAddress": "gone.example.com", "priority": 4}]}))
    route = TrunkRoute("ns", "t", 4, spec, resolved={
        "edge.example.com": Answer(("198.51.100.1", "198.51.100.2", "2001:db8::1")),
        "backup.example.com": Answer(("198.51.100.2", "198.51.100.3")),
        "gone.example.com": Answer((), "does not resolve (NXDOMAIN)")})
    assert render([route]).dispatcher_text.splitlines()[1:] == [
        "4 sip:198.51.100.1:5060 8 5 duid=4-1.0;trunk=ns/t;host=edge.example.com",
        "4 sip:198.51.100.2:5060 8 4 duid=4-1.1;trunk=ns/t;host=edge.example.com",
        "4 sip:[2001:db8::1]:5060 8 3 duid=4-1.2;trunk=ns/t;host=edge.example.com",
        "4 sip:198.51.100.3:5060 8 2 duid=4-0.1;trunk=ns/t;host=backup.example.com",
        "4 sip:198.51.100.7:5060 8 1 duid=4-2;trunk=ns/t",
    ]
    # Not looked up yet: no line for the name; the render never looks anything up.
    pending = TrunkRoute("ns", "t", 4, spec, resolved={})
    assert [line.split()[1] for line in render([pending]).dispatcher_text.splitlines()[1:]
            ] == ["sip:198.51.100.7:5060"]


def test_transport_port_ipv6_probing_and_active_shape_each_line() -> None:
    tls = _route(1, "tls", transport="transport-tls", mediaEncryption="sdes",
                 gateways=[{"gatewayAddress": "2001:db8::10"}])
    tcp = _route(2, "tcp", transport="transport-tcp", qualifyFrequency=0,
                 gateways=[{"gatewayAddress": "203.0.113.5"}])
    paused = _route(4, "paused", active=False)
    lines = render([paused, tcp, tls]).dispatcher_text.splitlines()[1:]
    assert lines == [
        "1 sip:[2001:db8::10]:5061;transport=tls 8 1 duid=1-0;trunk=telephony/tls",
        "2 sip:203.0.113.5:5060;transport=tcp 0 1 duid=2-0;trunk=telephony/tcp",
        f"4 sip:192.0.2.1:5060 4 1 duid=4-0.0;trunk=telephony/paused;host={TWILIO}",
    ]


def test_a_carrier_trunks_channels_are_every_lines_call_limit() -> None:
    """CarrierTrunk ``channels`` goes into the attrs as ``maxcalls`` (the edge's channel
    limit), before the trunk tag; a SipTrunk has no limit."""
    spec = CarrierTrunkSpec.model_validate({"channels": 25, "gateways": [
        {"host": "sip.telnyx.com"}, {"host": "sip.telnyx.eu", "priority": 2}]})
    edge = carrier_edge(spec)
    route = TrunkRoute("voice", "telnyx", 5, edge, tag="ctrunk:", resolved=_dns(edge))
    assert render([route, _route(6)]).dispatcher_text.splitlines()[1:] == [
        "5 sip:192.0.2.1:5060 8 2 duid=5-0.0;maxcalls=25;trunk=ctrunk:voice/telnyx;"
        "host=sip.telnyx.com",
        "5 sip:192.0.2.2:5060 8 1 duid=5-1.0;maxcalls=25;trunk=ctrunk:voice/telnyx;"
        "host=sip.telnyx.eu",
        f"6 sip:192.0.2.1:5060 8 1 duid=6-0.0;trunk=telephony/trunk;host={TWILIO}",
    ]


def test_ip_based_identifiers_become_address_entries_grouped_by_set() -> None:
    spec = SipTrunkSpec.model_validate({**IP_BASED_SPEC, "ipIdentifiers": [
        {"ipAddress": "15.207.90.192/31"}, {"ipAddress": "10.1.2.3/8"},
        {"ipAddress": "203.0.113.9"}, {"ipAddress": "2001:db8::/32"}]})
    rendered = render([TrunkRoute("ns", "plivo", 7, siptrunk_edge(spec)), _route(8)])
    assert rendered.address_text == HEADER + (
        "7 15.207.90.192 31 0 ns/plivo\n"
        "7 10.0.0.0 8 0 ns/plivo\n"
        "7 203.0.113.9 32 0 ns/plivo\n"
        "7 [2001:db8::] 32 0 ns/plivo\n")


def test_a_trunk_that_slipped_past_validation_is_left_out_whole() -> None:
    good = _route(1, "good")
    spec = SipTrunkSpec.model_validate(USERPASS_SPEC)
    bad_gateway = Gateway.model_construct(gatewayAddress="a.example.com\n9 sip:evil", port=None,
                                          priority=1)
    evil = TrunkRoute("ns", "evil", 2, siptrunk_edge(spec.model_copy(update={"gateways": [
        spec.gateways[0], bad_gateway]})))
    rendered = render([good, evil])
    assert "evil" not in rendered.dispatcher_text
    assert list(rendered.refused) == ["ns/evil"]
    assert "gateways[1].gatewayAddress" in rendered.refused["ns/evil"]


_hostnames = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}",
                           fullmatch=True)
_addresses = _hostnames | st.ip_addresses().map(str)
_gateways = st.lists(st.fixed_dictionaries(
    {"gatewayAddress": _addresses},
    optional={"port": st.integers(1, 65535), "priority": st.integers(1, 1000)}),
    min_size=1, max_size=16, unique_by=lambda g: (g["gatewayAddress"], g.get("port")))


@given(gateways=_gateways, transport=st.sampled_from(["transport-udp", "transport-tcp"]),
       active=st.booleans(), qualify=st.integers(0, 3600))
def test_every_valid_trunk_renders_five_clean_fields_per_line(
        gateways: list[dict[str, Any]], transport: str, active: bool, qualify: int) -> None:
    try:
        spec = SipTrunkSpec.model_validate({**USERPASS_SPEC, "gateways": gateways,
                                            "transport": transport, "active": active,
                                            "qualifyFrequency": qualify})
    except ValueError:
        return  # e.g. two addresses equal after lower-casing: the CRD refuses those too
    edge = siptrunk_edge(spec)
    resolved = _dns(edge)
    rendered = render([TrunkRoute("ns", "t", 9, edge, resolved=resolved)])
    assert not rendered.refused
    lines = rendered.dispatcher_text.splitlines()[1:]
    hosts = {g.address: g.address for g in edge.gateways} | {
        name: answer.addresses[0] for name, answer in resolved.items() if answer}
    # One line per URI: a name whose address is also an IP gateway's is written once.
    assert len(lines) == len({(ipaddress.ip_address(hosts[g.address]), g.port)
                              for g in edge.gateways})
    for line in lines:
        fields = line.split(" ")
        assert len(fields) == 5 and all(fields) and "#" not in line
    priorities = [int(line.split()[3]) for line in lines]
    assert sorted(priorities, reverse=True) == priorities == list(range(len(lines), 0, -1))


def test_the_renderer_reuses_unchanged_trunks_and_renders_the_same_text() -> None:
    routes = [_route(i, f"t{i}") for i in range(1, 6)]
    renderer = Renderer()
    assert renderer.render(routes).dispatcher_text == render(routes).dispatcher_text
    changed = [*routes[:2], _route(3, "t3", transport="transport-tcp"), *routes[3:]]
    assert renderer.render(changed).dispatcher_text == render(changed).dispatcher_text
    assert ";transport=tcp" in renderer.render(changed).dispatcher_text


def test_a_drained_gateway_is_written_disabled_in_its_place_and_never_sent_to_bolna() -> None:
    """``edge.drain`` (either kind): the gateway's lines are flag 4 with ``drain=1`` in
    the attrs, in the same priority place; the other gateways are unchanged, and the
    field stays out of what the operator sends Bolna."""
    from bolna_sip_operator.reconcile.carrier_desired import desired_carrier_trunk
    from bolna_sip_operator.reconcile.desired import desired_trunk

    route = _route(3, gateways=[
        {"gatewayAddress": "198.51.100.1", "priority": 1, "edge": {"drain": True}},
        {"gatewayAddress": "198.51.100.2", "priority": 2, "edge": {"drain": False}},
        {"gatewayAddress": TWILIO, "priority": 3, "edge": {"drain": True}}])
    assert render([route]).dispatcher_text.splitlines()[1:] == [
        "3 sip:198.51.100.1:5060 4 3 duid=3-0;drain=1;trunk=telephony/trunk",
        "3 sip:198.51.100.2:5060 8 2 duid=3-1;trunk=telephony/trunk",
        f"3 sip:192.0.2.1:5060 4 1 duid=3-2.0;drain=1;trunk=telephony/trunk;host={TWILIO}",
    ]
    spec = CarrierTrunkSpec.model_validate({"channels": 5, "gateways": [
        {"host": "203.0.113.1"}, {"host": "203.0.113.2", "edge": {"drain": True}}]})
    assert [d.line() for d in render([TrunkRoute("voice", "c", 4, carrier_edge(spec),
                                                 tag="ctrunk:")]).destinations] == [
        "4 sip:203.0.113.1:5060 8 2 duid=4-0;maxcalls=5;trunk=ctrunk:voice/c",
        "4 sip:203.0.113.2:5060 4 1 duid=4-1;drain=1;maxcalls=5;trunk=ctrunk:voice/c",
    ]
    assert "drain" not in repr(desired_carrier_trunk(spec, "c"))
    sip = SipTrunkSpec.model_validate({**USERPASS_SPEC, "gateways": [
        {"gatewayAddress": "198.51.100.1", "edge": {"drain": True}}]})
    assert "drain" not in repr(desired_trunk(sip, "t"))
