"""Gateway names: how answers are kept, refreshed and reported (no DNS server here: the
lookups are the hosts file or a stand-in; tests/integration/test_edge_hostnames.py runs a
real one)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest

from bolna_sip_operator.edge.health import HealthPoller
from bolna_sip_operator.edge.hostnames import (
    DnsSettings,
    GatewayResolver,
    HostsFile,
    _Failed,
    _Found,
    _Gone,
    _Outcome,
    parse_servers,
)
from bolna_sip_operator.edge.views import siptrunk_edge
from bolna_sip_operator.kamailio.render import Answer, TrunkRoute
from bolna_sip_operator.model.spec import SipTrunkSpec
from bolna_sip_operator.model.status import SipTrunkStatus
from bolna_sip_operator.reconcile.derive import derive
from bolna_sip_operator.reconcile.observations import (
    AddressReport,
    BolnaReport,
    EdgeReport,
    GatewayReport,
    HealthReport,
    Reports,
    reports_from_status,
)
from bolna_sip_operator.reconcile.status_owner import StatusOwner, _Record
from tests.corpus import USERPASS_SPEC

NAME = "gw.carrier.example"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Scripted(GatewayResolver):
    """A resolver whose lookups answer from a script, in order."""

    def __init__(self, outcomes: list[_Outcome], clock: _Clock, **settings: Any) -> None:
        super().__init__(DnsSettings(servers=("127.0.0.1:9",), hosts_file=None,
                                     **settings), clock=clock)
        self.outcomes = outcomes

    async def lookup(self, name: str) -> _Outcome:
        self.lookups += 1
        return self.outcomes.pop(0)


def test_answers_are_kept_by_ttl_a_dns_outage_keeps_addresses_a_no_empties() -> None:
    clock = _Clock()
    changes: list[Answer | None] = []

    async def scenario() -> None:
        resolver = _Scripted([
            _Found(("192.0.2.1", "192.0.2.2"), 1.0),  # TTL under min_ttl: 5 s kept
            _Failed("no answer within 2 s"),
            _Gone("NXDOMAIN", 600.0),  # negative TTL capped at negative_ttl
            _Found(("192.0.2.3",), 9999.0)], clock, max_ttl=300.0, negative_ttl=30.0)
        resolver.on_change = lambda: changes.append(resolver.answer(NAME))
        assert resolver.answer(NAME) is None
        resolver.retain([NAME])
        assert resolver.answer(NAME) is None  # looked up in the background
        await resolver.settle()
        entry = resolver._names[NAME]
        assert resolver.answer(NAME) == Answer(("192.0.2.1", "192.0.2.2"))
        assert entry.due == 105.0
        # A failed lookup keeps the addresses, says why, and is tried again soon.
        await resolver._refresh(NAME)
        kept = resolver.answer(NAME)
        assert kept is not None and kept.addresses == ("192.0.2.1", "192.0.2.2")
        assert kept.error == ("cannot be looked up (no answer within 2 s); the addresses "
                              "it had are kept")
        assert entry.due == 105.0
        # NXDOMAIN: no address, and the reason.
        await resolver._refresh(NAME)
        assert resolver.answer(NAME) == Answer((), "does not resolve (NXDOMAIN)")
        assert entry.due == 130.0
        await resolver._refresh(NAME)
        assert resolver.answer(NAME) == Answer(("192.0.2.3",))
        assert entry.due == 400.0  # a day's TTL is held to max_ttl
        # A name no trunk uses any more is forgotten.
        resolver.retain([])
        assert resolver.answer(NAME) is None

    asyncio.run(scenario())
    assert [a.addresses if a else None for a in changes] == [
        ("192.0.2.1", "192.0.2.2"), ("192.0.2.1", "192.0.2.2"), (), ("192.0.2.3",)]


def test_the_refresh_loop_looks_a_name_up_again_when_its_ttl_runs_out() -> None:
    async def scenario() -> int:
        resolver = _Scripted([_Found(("192.0.2.1",), 0.05)] * 50, _Clock(), min_ttl=0.05)
        resolver._clock = time.monotonic
        resolver.retain([NAME])
        loop = asyncio.create_task(resolver.run())
        await asyncio.sleep(0.5)
        loop.cancel()
        return resolver.lookups

    assert 3 <= asyncio.run(scenario()) <= 20


def test_settle_is_bounded_by_the_lookup_timeout() -> None:
    class _Slow(_Scripted):
        async def lookup(self, name: str) -> _Outcome:
            await asyncio.sleep(30)
            return _Failed("never")

    async def scenario() -> float:
        resolver = _Slow([], _Clock(), timeout=0.1)
        resolver.retain([NAME])
        loop = asyncio.get_running_loop()
        started = loop.time()
        await resolver.settle()
        resolver.retain([])
        return loop.time() - started

    assert asyncio.run(scenario()) < 2.0


def test_the_hosts_file_answers_first_as_the_system_resolver_does(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
                     "192.0.2.9 GW.Carrier.Example gw  # alias\nnot-an-ip broken\n")
    assert HostsFile(hosts).lookup("localhost") == ["127.0.0.1", "::1"]
    assert HostsFile(hosts).lookup("gw.carrier.example") == ["192.0.2.9"]
    assert HostsFile(hosts).lookup("broken") == []

    async def lookup(families: tuple[str, ...]) -> _Outcome:
        resolver = GatewayResolver(DnsSettings(servers=("127.0.0.1:9",), hosts_file=hosts,
                                               families=families))  # type: ignore[arg-type]
        return await resolver.lookup("localhost")

    # localhost, which Kamailio's own resolver skipped here: both its addresses.
    assert asyncio.run(lookup(("ipv4", "ipv6"))) == _Found(("127.0.0.1", "::1"), 60.0)
    assert asyncio.run(lookup(("ipv4",))) == _Found(("127.0.0.1",), 60.0)


def test_dns_servers_are_addresses_with_an_optional_port() -> None:
    servers = parse_servers(["127.0.0.1:5353", "10.96.0.10", "[::1]:53"])
    assert [(s.address, s.port) for s in servers] == [
        ("127.0.0.1", 5353), ("10.96.0.10", 53), ("::1", 53)]
    with pytest.raises(ValueError, match=r"--dns-server 'dns\.example:53'"):
        parse_servers(["dns.example:53"])


# ---- health: each address under its gateway; DNS as the reason ------------------------


def _route(resolved: dict[str, Answer | None]) -> TrunkRoute:
    spec = siptrunk_edge(SipTrunkSpec.model_validate({**USERPASS_SPEC, "gateways": [
        {"gatewayAddress": NAME, "priority": 1},
        {"gatewayAddress": "198.51.100.7", "priority": 2}]}))
    return TrunkRoute("ns", "t", 3, spec, resolved=resolved)


def _poller() -> HealthPoller:
    return HealthPoller(cast(Any, None), cast(Any, None), lambda *_: None)


def test_a_name_without_addresses_is_unhealthy_with_reason_dns() -> None:
    route = _route({NAME: Answer((), "does not resolve (NXDOMAIN)")})
    gateway = route.spec.gateways[0]
    report, _ = _poller()._gateway(route, gateway, {})
    assert (report.health, report.reason, report.addresses) == ("Unhealthy", "DNS", ())
    assert report.message == (f"spec.gateways[0].gatewayAddress: {NAME} does not resolve "
                              "(NXDOMAIN): check the name in spec and the carrier's DNS")
    assert report.uri == f"sip:{NAME}:5060"
    pending, _ = _poller()._gateway(_route({NAME: None}), gateway, {})
    assert (pending.health, pending.reason) == ("Probing", None)
    ip, keys = _poller()._gateway(route, route.spec.gateways[1], {})
    assert ip.addresses is None and ip.uri == "sip:198.51.100.7:5060"
    assert [key for key, _ in keys] == [(3, "sip:198.51.100.7:5060")]


def _gateway_health(*addresses: tuple[str, str]) -> GatewayReport:
    return GatewayReport(NAME, 5060, f"sip:{NAME}:5060", 1,
                         "Healthy" if any(h == "Healthy" for _, h in addresses)
                         else "Unhealthy",
                         addresses=tuple(AddressReport(a, f"sip:{a}:5060", h)  # type: ignore[arg-type]
                                         for a, h in addresses))


def test_conditions_name_the_dns_reason_and_addresses_that_do_not_answer() -> None:
    synced = BolnaReport(2, "Synced", "Synced", "in sync")
    loaded = EdgeReport(2, "Loaded", "set 3 loaded")
    ip = GatewayReport("198.51.100.7", 5060, "sip:198.51.100.7:5060", 2, "Healthy")
    gone = GatewayReport(NAME, 5060, f"sip:{NAME}:5060", 1, "Unhealthy", addresses=(),
                         reason="DNS", message=f"{NAME} does not resolve (NXDOMAIN)")
    verdicts = {v.type: v for v in derive(2, Reports(synced, loaded, HealthReport(
        2, (gone, ip))), edge_managed=True)}
    assert verdicts["GatewaysHealthy"].reason == "SomeUnhealthy"
    assert verdicts["GatewaysHealthy"].message == (
        f"1/2 gateways answer OPTIONS; {NAME} does not resolve (NXDOMAIN)")
    assert verdicts["Ready"].status == "True"  # the other gateway routes
    half = _gateway_health(("192.0.2.1", "Unhealthy"), ("192.0.2.2", "Healthy"))
    verdicts = {v.type: v for v in derive(2, Reports(synced, loaded, HealthReport(
        2, (half, ip))), edge_managed=True)}
    assert verdicts["GatewaysHealthy"].reason == "AllHealthy"
    assert verdicts["GatewaysHealthy"].message == (
        f"2/2 gateways answer OPTIONS; {NAME}: 1 of 2 addresses not answering (192.0.2.1)")


def test_addresses_and_the_dns_reason_survive_an_operator_restart() -> None:
    class _Nowhere:
        async def patch_status(self, *_: Any, **__: Any) -> None:
            return None

    owner = StatusOwner(_Nowhere(), edge_managed=True)
    half = _gateway_health(("192.0.2.1", "Unhealthy"), ("192.0.2.2", "Healthy"))
    gone = GatewayReport("b.carrier.example", 5060, "sip:b.carrier.example:5060", 2,
                         "Unhealthy", addresses=(), reason="DNS", message="gone")
    record = _Record("ns", "t", 2, owner.facts("x"), Reports(
        BolnaReport(2, "Synced", "Synced", "in sync"), EdgeReport(2, "Loaded", "loaded"),
        HealthReport(2, (half, gone))), {})
    status = owner.compose(record)
    assert status["gateways"][0]["addresses"] == [
        {"address": "192.0.2.1", "uri": "sip:192.0.2.1:5060", "health": "Unhealthy"},
        {"address": "192.0.2.2", "uri": "sip:192.0.2.2:5060", "health": "Healthy"}]
    assert status["gateways"][1]["reason"] == "DNS"
    assert "addresses" not in GatewayReport("10.0.0.1", 5060, "sip:10.0.0.1:5060", 1,
                                            "Healthy").to_status().model_dump(
                                                exclude_none=True)
    read = reports_from_status(SipTrunkStatus.model_validate(status))
    assert read.health is not None
    assert [(g.health, g.reason, g.addresses) for g in read.health.gateways] == [
        (half.health, None, half.addresses), ("Unhealthy", "DNS", ())]


def test_after_a_restart_the_addresses_in_status_stand_until_a_lookup_answers() -> None:
    """A restart during a DNS outage must not take a name's lines out of Kamailio: the
    addresses the last operator wrote (status) are used, and looked up at once."""
    async def scenario() -> tuple[Answer | None, Answer | None, int]:
        resolver = _Scripted([_Failed("no answer within 2 s")], _Clock())
        resolver.seed(NAME, ["192.0.2.1", "192.0.2.2"])
        resolver.seed(NAME, ["203.0.113.1"])  # known already: left as it is
        resolver.retain([NAME])
        await resolver.settle(timeout=5)  # nothing to wait for
        seeded = resolver.answer(NAME)
        loop = asyncio.create_task(resolver.run())
        while not resolver.lookups:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        loop.cancel()
        return seeded, resolver.answer(NAME), resolver.lookups

    seeded, after, lookups = asyncio.run(scenario())
    assert seeded == Answer(("192.0.2.1", "192.0.2.2"))
    assert lookups == 1
    assert after is not None and after.addresses == ("192.0.2.1", "192.0.2.2")
    assert after.error is not None and "the addresses it had are kept" in after.error
