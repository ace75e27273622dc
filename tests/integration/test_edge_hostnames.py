"""Gateways named by hostnames, with real parts: a DNS server on loopback (dnsmasq)
serving one name with two addresses and a two-second TTL, the operator resolving it
(``--dns-server``), the real Kamailio probing and routing to every address, sipp
gateways on 127.0.0.2, 127.0.0.3 and 127.0.0.4, the Bolna emulator and a real
kube-apiserver for the SipTrunk's status.

Assertions read what a user sees: the SipTrunk's status (each address's health under
its gateway, reason DNS), what Kamailio holds (dispatcher.list) and which gateway a call
reached. Every wait is on such a signal, never a fixed sleep.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.dns_server import DnsServer
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess
from bolna_devenv.sip_peer import SipPeer, place_call
from bolna_emulator.process import EmulatorProcess
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import condition, wait_condition, wait_for, warm_up

pytestmark = pytest.mark.integration
TOKEN = "hostnames-test-token"
NAME = "gw.edge.test"
BACKUP = "backup.edge.test"
FIRST, SECOND, BACKUP_ADDRESS = "127.0.0.2", "127.0.0.3", "127.0.0.4"
BOTH = {NAME: [FIRST, SECOND], BACKUP: [BACKUP_ADDRESS]}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for this module's processes."""
    return tmp_path_factory.mktemp("hostnames")


@pytest.fixture(scope="module")
def dns(workdir: Path) -> Iterator[DnsServer]:
    """dnsmasq: gw.edge.test has two addresses, backup.edge.test one; TTL 2 s."""
    with DnsServer(workdir / "dns", BOTH, ttl=2) as server:
        yield server


@pytest.fixture(scope="module")
def kamailio(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio probing every second, failing a gateway after two lost probes."""
    with Kamailio(workdir / "kamailio", ping_interval=1, probing_threshold=2,
                  fr_timer_ms=1000, reload_delta=1) as edge:
        yield edge


@pytest.fixture(scope="module")
def peers(workdir: Path) -> Iterator[dict[str, SipPeer]]:
    """A gateway on each address of gw.edge.test (one port), one on backup.edge.test."""
    port = _port_free_on(FIRST, SECOND)  # fixed: the first one is stopped and started
    with SipPeer(workdir / "first", name="first", host=FIRST, port=port) as first, \
            SipPeer(workdir / "second", name="second", host=SECOND, port=port) as second, \
            SipPeer(workdir / "backup", name="backup", host=BACKUP_ADDRESS) as backup:
        yield {FIRST: first, SECOND: second, BACKUP_ADDRESS: backup}


def _port_free_on(*hosts: str) -> int:
    """A UDP port free on every one of the hosts now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in hosts:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError(f"no UDP port free on all of {hosts}")


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, kamailio: Kamailio, dns: DnsServer,
             workdir: Path, peers: dict[str, SipPeer]) -> Iterator[OperatorProcess]:
    """The operator with the SIP edge on, resolving names at the test's DNS server."""
    with EmulatorProcess(tokens=[TOKEN]) as bolna:
        process = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=workdir / "operator.log", drift_interval=30,
            extra_args=("--namespace", "dns-*", "--kamailio-rpc", kamailio.rpc_url,
                        "--dispatcher-file", str(kamailio.dispatcher_file),
                        "--address-file", str(kamailio.address_file),
                        "--reload-delta", "1", "--health-interval", "1",
                        "--probe-settle", "4", "--dns-server", dns.server,
                        "--dns-timeout", "1", "--dns-min-ttl", "1",
                        "--dns-negative-ttl", "2", "--dns-family", "ipv4"))
        process.start()
        try:
            backup = peers[BACKUP_ADDRESS]
            warm_up(control_plane, bolna, prefix="dns", spec={
                **IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
                    {"gatewayAddress": BACKUP_ADDRESS, "port": backup.port}]})
            yield process
        finally:
            process.stop()


@pytest.fixture
def namespace(api_client: Any) -> str:
    """A fresh namespace the operator watches."""
    return create_namespace(api_client, "dns")


def _trunk(name: str, peers: dict[str, SipPeer]) -> dict[str, Any]:
    return manifest({**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
        {"gatewayAddress": NAME, "port": peers[FIRST].port, "priority": 1},
        {"gatewayAddress": BACKUP, "port": peers[BACKUP_ADDRESS].port, "priority": 2}]},
        name=name)


def _addresses(trunk: dict[str, Any], gateway: int = 0) -> list[tuple[str, str]]:
    gateways = (trunk.get("status") or {}).get("gateways") or []
    if len(gateways) <= gateway:
        return []
    return [(a["address"], a["health"]) for a in gateways[gateway].get("addresses") or ()]


def _set(kamailio: Kamailio, set_id: int) -> list[dict[str, Any]]:
    return sorted((t for t in kamailio.dispatcher_targets() if t["SET"] == set_id),
                  key=lambda t: -t["PRIORITY"])


def _ready_with_both_names(trunks: Trunks, namespace: str, name: str) -> dict[str, Any]:
    return wait_for(f"{name}: both addresses of {NAME} Healthy", lambda: (  # type: ignore[no-any-return]
        _addresses(t := trunks.get(namespace, name)) == [(FIRST, "Healthy"),
                                                         (SECOND, "Healthy")]
        and condition(t, "Ready").get("status") == "True" and t), timeout=60)


def test_every_address_of_a_name_is_probed_and_a_call_fails_over_across_them(
        operator: OperatorProcess, kamailio: Kamailio, dns: DnsServer,
        peers: dict[str, SipPeer], trunks: Trunks, namespace: str, workdir: Path) -> None:
    dns.set_names(BOTH)
    trunks.create(namespace, _trunk("failover", peers))
    trunk = _ready_with_both_names(trunks, namespace, "failover")
    status = trunk["status"]
    set_id = status["dispatcher"]["setId"]
    first, second, backup = peers[FIRST], peers[SECOND], peers[BACKUP_ADDRESS]
    # One gateway per spec entry in the status; the name's addresses under it.
    [named, other] = status["gateways"]
    assert (named["gatewayAddress"], named["health"], named["uri"]) == (
        NAME, "Healthy", f"sip:{NAME}:{first.port}")
    assert [a["uri"] for a in named["addresses"]] == [
        f"sip:{FIRST}:{first.port}", f"sip:{SECOND}:{first.port}"]
    assert _addresses(trunk, 1) == [(BACKUP_ADDRESS, "Healthy")]
    assert other["health"] == "Healthy" and status["healthyGateways"] == "2/2"
    # Kamailio holds one destination per address, the name's first (failover within the
    # gateway's priority), each naming the gateway for TLS.
    targets = _set(kamailio, set_id)
    assert [t["URI"] for t in targets] == [
        f"sip:{FIRST}:{first.port}", f"sip:{SECOND}:{first.port}",
        f"sip:{BACKUP_ADDRESS}:{backup.port}"]
    assert all(f"host={NAME}" in t["ATTRS"]["BODY"] for t in targets[:2])
    assert all(t["FLAGS"] == "AP" for t in targets)

    calls = (first.invites_received(), second.invites_received(), backup.invites_received())
    assert place_call(kamailio.sip_port, set_id, workdir=workdir / "call-1") == 200
    assert first.invites_received() == calls[0] + 1
    first.stop()  # the gateway behind the name's first address goes away
    try:
        assert place_call(kamailio.sip_port, set_id, workdir=workdir / "call-2") == 200
        assert second.invites_received() == calls[1] + 1  # the name's second address
        assert backup.invites_received() == calls[2]  # not the next gateway
        trunk = wait_for("the first address Unhealthy under a Healthy gateway", lambda: (
            _addresses(t := trunks.get(namespace, "failover")) == [
                (FIRST, "Unhealthy"), (SECOND, "Healthy")] and t), timeout=30)
        assert trunk["status"]["gateways"][0]["health"] == "Healthy"
        assert trunk["status"]["healthyGateways"] == "2/2"
        healthy = condition(trunk, "GatewaysHealthy")
        assert healthy["reason"] == "AllHealthy"
        assert f"{NAME}: 1 of 2 addresses not answering ({FIRST})" in healthy["message"]
    finally:
        first.start()  # the same port on the same address
    _ready_with_both_names(trunks, namespace, "failover")


def test_a_name_that_stops_resolving_is_unhealthy_with_reason_dns_and_others_route(
        operator: OperatorProcess, kamailio: Kamailio, dns: DnsServer,
        peers: dict[str, SipPeer], trunks: Trunks, namespace: str, workdir: Path) -> None:
    dns.set_names(BOTH)
    trunks.create(namespace, _trunk("gone", peers))
    set_id = _ready_with_both_names(trunks, namespace, "gone")["status"]["dispatcher"][
        "setId"]
    backup = peers[BACKUP_ADDRESS]
    dns.set_names({BACKUP: [BACKUP_ADDRESS]})  # gw.edge.test: NXDOMAIN from now on
    try:
        trunk = wait_for("the named gateway Unhealthy, reason DNS", lambda: (
            (g := (t := trunks.get(namespace, "gone"))["status"]["gateways"][0])["health"]
            == "Unhealthy" and g.get("reason") == "DNS" and t), timeout=30)
        named = trunk["status"]["gateways"][0]
        assert named["addresses"] == []
        assert named["message"] == (
            f"spec.gateways[0].gatewayAddress: {NAME} does not resolve (NXDOMAIN): check "
            "the name in spec and the carrier's DNS")
        healthy = condition(trunk, "GatewaysHealthy")
        assert healthy["reason"] == "SomeUnhealthy"
        assert f"{NAME} does not resolve (NXDOMAIN)" in healthy["message"]
        assert condition(trunk, "Ready")["status"] == "True"  # the backup answers
        assert trunk["status"]["healthyGateways"] == "1/2"
        # Its lines left Kamailio; the other gateway's stayed, and a call gets through.
        wait_for("only the backup in the set", lambda: [t["URI"] for t in _set(
            kamailio, set_id)] == [f"sip:{BACKUP_ADDRESS}:{backup.port}"], timeout=30)
        before = backup.invites_received()
        assert place_call(kamailio.sip_port, set_id, workdir=workdir / "call-gone") == 200
        assert backup.invites_received() == before + 1
    finally:
        dns.set_names(BOTH)
    # The name resolves again: its addresses come back (asked again after the
    # negative TTL).
    _ready_with_both_names(trunks, namespace, "gone")
    assert "reason" not in trunks.get(namespace, "gone")["status"]["gateways"][0]


def test_a_changed_address_set_is_picked_up_after_the_ttl(
        operator: OperatorProcess, kamailio: Kamailio, dns: DnsServer,
        peers: dict[str, SipPeer], trunks: Trunks, namespace: str) -> None:
    dns.set_names(BOTH)
    trunks.create(namespace, _trunk("moved", peers))
    set_id = _ready_with_both_names(trunks, namespace, "moved")["status"]["dispatcher"][
        "setId"]
    port = peers[FIRST].port
    try:
        dns.set_names({NAME: [SECOND], BACKUP: [BACKUP_ADDRESS]})
        wait_for("Kamailio holds the name's one address", lambda: [
            t["URI"] for t in _set(kamailio, set_id)][:-1] == [f"sip:{SECOND}:{port}"],
            timeout=30)
        wait_for("the status shows it", lambda: _addresses(
            trunks.get(namespace, "moved")) == [(SECOND, "Healthy")], timeout=30)
    finally:
        dns.set_names(BOTH)
    wait_for("both addresses back in Kamailio", lambda: [
        t["URI"] for t in _set(kamailio, set_id)][:-1] == [
        f"sip:{FIRST}:{port}", f"sip:{SECOND}:{port}"], timeout=30)
    wait_condition(trunks, namespace, "moved", "Ready", "True", timeout=30)
