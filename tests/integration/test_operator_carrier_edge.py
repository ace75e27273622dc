"""The SIP edge for CarrierTrunks: the operator process, two real Kamailio replicas with
``deploy/kamailio/kamailio.cfg``, real SIP gateways (sipp), the Bolna emulator and a
real kube-apiserver.

A CarrierTrunk reaches the edge through ``edge/views.py:carrier_edge`` and is rendered by
the same code as a SipTrunk, under the tag ``ctrunk:<namespace>/<name>``. What is
asserted here is what a person would look at: each replica's ``dispatcher.list`` and
permissions dumps (over JSON-RPC), which gateway a call placed through Kamailio reached,
the CarrierTrunk's status and Events, the operator's ``/metrics``, and Bolna's state.

Two health truths sit side by side in a CarrierTrunk's status, and the tests keep them
apart: ``status.gateways`` / ``status.healthyGateways`` are the SIP edge's own OPTIONS
probes of each gateway (read from Kamailio); ``status.bolna`` is Bolna's call-outcome
health of the trunk (read from Bolna's ``/trunk`` API).

The replicas trust 127.0.0.1 alone (``TRUSTED_NETWORKS``), so other loopback addresses
play the carrier (127.0.0.3, in ``spec.ipAcls``) and a stranger (127.0.0.2). Both
replicas read the same two list files, as the chart's pods read one ConfigMap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_devenv.sip_peer import UAC_SCENARIO, SipPeer, place_call
from bolna_emulator.process import EmulatorProcess
from tests.carrier_corpus import carrier_manifest
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import GROUP, VERSION, Trunks
from tests.integration.apiserver import create_namespace as new_namespace
from tests.integration.helpers import condition, exists, wait_condition, wait_for, warm_up

pytestmark = pytest.mark.integration

TOKEN = "carrier-edge-token"
PREFIX = "opce"
CARRIER = "127.0.0.3"
STRANGER = "127.0.0.2"
READY_TIMEOUT = 60.0


# ---- the stack ---------------------------------------------------------------------


@dataclass
class Edge:
    """What the module's tests talk to."""

    operator: OperatorProcess
    bolna: EmulatorProcess
    replicas: tuple[Kamailio, Kamailio]
    gw1: SipPeer
    gw2: SipPeer
    tcp_gw: SipPeer
    metrics_port: int
    workdir: Path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every process of this module writes here."""
    return tmp_path_factory.mktemp("carrier-edge")


@pytest.fixture(scope="module")
def replicas(workdir: Path) -> Iterator[tuple[Kamailio, Kamailio]]:
    """Two Kamailio replicas over one pair of list files, probing every second, a
    gateway down after two lost probes, trusting 127.0.0.1 only."""
    lists = workdir / "lists"
    lists.mkdir()
    options: dict[str, Any] = {
        "dispatcher_file": lists / "dispatcher.list", "address_file": lists / "address.list",
        "trusted_networks": "127.0.0.1/32,::1/128", "ping_interval": 1,
        "probing_threshold": 2, "fr_timer_ms": 1000, "reload_delta": 1}
    with Kamailio(workdir / "kamailio-a", **options) as first, \
            Kamailio(workdir / "kamailio-b", **options) as second:
        yield first, second


@pytest.fixture(scope="module")
def edge(control_plane: ControlPlane, crd: None, workdir: Path,
         replicas: tuple[Kamailio, Kamailio]) -> Iterator[Edge]:
    """The operator with the SIP edge on both replicas, watching ``opce-*``; two UDP
    gateways and one TCP gateway answering OPTIONS and INVITE."""
    first, second = replicas
    metrics_port = free_port()
    peers = workdir / "peers"
    with SipPeer(peers, name="gw1") as gw1, SipPeer(peers, name="gw2") as gw2, \
            SipPeer(peers, name="gw-tcp", transport="tcp") as tcp_gw, \
            EmulatorProcess(tokens=[TOKEN], log_file=workdir / "emulator.log") as bolna:
        operator = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=workdir / "operator.log", drift_interval=3,
            extra_args=("--namespace", f"{PREFIX}-*",
                        "--kamailio-rpc", first.rpc_url, "--kamailio-rpc", second.rpc_url,
                        "--dispatcher-file", str(first.dispatcher_file),
                        "--address-file", str(first.address_file),
                        "--reload-delta", "1", "--health-interval", "1",
                        "--probe-settle", "4", "--metrics-port", str(metrics_port)))
        operator.start()
        try:
            warm_up(control_plane, bolna, prefix=PREFIX, spec={
                **IP_BASED_SPEC, "qualifyFrequency": 1,
                "gateways": [{"gatewayAddress": "127.0.0.1", "port": gw1.port}]})
            yield Edge(operator, bolna, replicas, gw1, gw2, tcp_gw, metrics_port, workdir)
        finally:
            operator.stop()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> str:
    """A fresh namespace the operator watches."""
    return new_namespace(api_client, PREFIX)


@pytest.fixture
def inbound_scenario(tmp_path: Path) -> Path:
    """The caller's scenario less its ``X-Trunk-Set`` header: an INVITE as a carrier
    sends it towards Bolna (the edge routes none, and says whose carrier it was)."""
    lines = UAC_SCENARIO.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.strip().startswith("X-Trunk-Set: [")]
    assert len(kept) == len(lines) - 1, "the scenario names the set in one header line"
    scenario = tmp_path / "inbound-invite.xml"
    scenario.write_text("".join(kept), encoding="utf-8")
    return scenario


# ---- helpers -----------------------------------------------------------------------


def _gateway(peer: SipPeer, priority: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": peer.port, "priority": priority}


def carrier(name: str, edge: Edge, **spec: Any) -> dict[str, Any]:
    """A CarrierTrunk over gw1 (priority 1) and gw2 (priority 2), listed gw2 first so the
    order Kamailio tries comes from the priorities, not from the list."""
    base: dict[str, Any] = {"preset": "custom",
                            "gateways": [_gateway(edge.gw2, 2), _gateway(edge.gw1, 1)]}
    return carrier_manifest({**base, **spec}, name=name)


def sip_trunk(name: str, edge: Edge, **spec: Any) -> dict[str, Any]:
    """An ip-based SipTrunk over the same two gateways, probed every second."""
    return manifest({**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
        {"gatewayAddress": "127.0.0.1", "port": edge.gw1.port, "priority": 1},
        {"gatewayAddress": "127.0.0.1", "port": edge.gw2.port, "priority": 2}], **spec},
        name=name)


def targets(replica: Kamailio, set_id: int) -> dict[str, dict[str, Any]]:
    """The set's destinations on one replica, by URI."""
    return {t["URI"]: t for t in replica.dispatcher_targets() if t["SET"] == set_id}


def addresses(replica: Kamailio) -> set[tuple[int, str, int, str]]:
    """Every permissions entry on one replica as (group, ip, mask, tag)."""
    entries = set()
    for method in ("permissions.addressDump", "permissions.subnetDump"):
        for entry in replica.rpc(method) or ():
            item = entry["item"]
            entries.add((int(entry["group"]), item["ip"], int(item.get("mask", 32)),
                         item["tag"]))
    return entries


def on_every_replica(edge: Edge, check: Callable[[Kamailio], bool]) -> bool:
    return all(check(replica) for replica in edge.replicas)


def gateway_healths(trunk: dict[str, Any]) -> list[tuple[int, str]]:
    """``status.gateways`` as (port, health), in the order the status lists them."""
    return [(g["port"], g["health"]) for g in (trunk.get("status") or {}).get("gateways")
            or ()]


def events(api: client.ApiClient, namespace: str, reason: str) -> list[Any]:
    return [e for e in client.CoreV1Api(api).list_namespaced_event(namespace).items
            if e.reason == reason]


def bolna_trunk(edge: Edge, trunk_id: str) -> httpx.Response:
    """``GET /trunk/trunks/{id}`` as the operator's account."""
    with edge.bolna.client(TOKEN) as api:
        return api.get(f"/trunk/trunks/{trunk_id}")


def metric_samples(edge: Edge) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of the operator's /metrics: (name, labels, value)."""
    text = httpx.get(f"http://127.0.0.1:{edge.metrics_port}/metrics", timeout=10).text
    return [(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def delete(trunks: Trunks, namespace: str, name: str) -> None:
    trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace, trunks.plural,
                                               name)
    wait_for(f"{trunks.plural} {namespace}/{name} to go",
             lambda: not exists(trunks, namespace, name), timeout=READY_TIMEOUT)


class ReadyWatch:
    """Samples one object's Ready condition every 100 ms in a thread until stopped."""

    def __init__(self, trunks: Trunks, namespace: str, name: str) -> None:
        self.samples: list[tuple[int, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(trunks, namespace, name),
                                        daemon=True)
        self._thread.start()

    def _run(self, trunks: Trunks, namespace: str, name: str) -> None:
        while not self._stop.is_set():
            trunk = trunks.get(namespace, name)
            ready = condition(trunk, "Ready")
            self.samples.append((trunk["metadata"]["generation"], ready.get("status", ""),
                                 ready.get("reason", "")))
            time.sleep(0.1)

    def stop(self) -> list[tuple[int, str, str]]:
        self._stop.set()
        self._thread.join()
        return self.samples


# ---- one dispatcher set, and calls through it ----------------------------------------


def test_gateways_are_one_set_on_every_replica_and_calls_fail_over(
        edge: Edge, carrier_trunks: Trunks, namespace: str) -> None:
    """The CarrierTrunk's two gateways are one dispatcher set on both replicas, ordered
    by priority (Bolna's 1 first is Kamailio's highest), probed (flag P), over UDP when
    spec gives no transport, tagged ``ctrunk:<namespace>/<name>``. A call placed through
    Kamailio with the set reaches the priority-1 gateway; with it down, the next."""
    carrier_trunks.create(namespace, carrier("edge", edge))
    trunk = wait_condition(carrier_trunks, namespace, "edge", "Ready", "True",
                           timeout=READY_TIMEOUT)
    set_id = trunk["status"]["dispatcher"]["setId"]
    assert condition(trunk, "DispatcherSynced")["reason"] == "Loaded"
    assert "2 Kamailio replica(s)" in condition(trunk, "DispatcherSynced")["message"]

    first_uri, second_uri = (f"sip:127.0.0.1:{edge.gw1.port}",
                             f"sip:127.0.0.1:{edge.gw2.port}")
    for replica in edge.replicas:
        loaded = targets(replica, set_id)
        assert set(loaded) == {first_uri, second_uri}, replica.rpc_url
        assert loaded[first_uri]["PRIORITY"] > loaded[second_uri]["PRIORITY"]
        for target in loaded.values():
            assert target["FLAGS"][1:2] == "P", target  # probed with OPTIONS
            assert f"trunk=ctrunk:{namespace}/edge" in target["ATTRS"]["BODY"]

    before = (edge.gw1.invites_received(), edge.gw2.invites_received())
    caller = edge.replicas[0].sip_port
    assert place_call(caller, set_id, workdir=edge.workdir / "calls") == 200
    assert (edge.gw1.invites_received(), edge.gw2.invites_received()) == (
        before[0] + 1, before[1])
    edge.gw1.pause()
    try:
        assert place_call(caller, set_id, workdir=edge.workdir / "calls") == 200
        assert edge.gw2.invites_received() == before[1] + 1
    finally:
        edge.gw1.resume()
    # The second replica routes the set the same way.
    assert place_call(edge.replicas[1].sip_port, set_id,
                      workdir=edge.workdir / "calls") == 200
    assert edge.gw1.invites_received() >= before[0] + 2


def test_transport_comes_from_spec(edge: Edge, carrier_trunks: Trunks,
                                   namespace: str) -> None:
    """``transport: tcp`` puts the set's gateways on TCP: the URI says so, Kamailio probes
    the gateway over TCP (it is Healthy, and it listens on TCP only) and relays calls
    over TCP."""
    carrier_trunks.create(namespace, carrier_manifest({
        "preset": "custom", "transport": "tcp",
        "gateways": [{"host": "127.0.0.1", "port": edge.tcp_gw.port}]}, name="tcp"))
    trunk = wait_condition(carrier_trunks, namespace, "tcp", "Ready", "True",
                           timeout=READY_TIMEOUT)
    set_id = trunk["status"]["dispatcher"]["setId"]
    uri = f"sip:127.0.0.1:{edge.tcp_gw.port};transport=tcp"
    assert on_every_replica(edge, lambda r: set(targets(r, set_id)) == {uri})
    assert gateway_healths(trunk) == [(edge.tcp_gw.port, "Healthy")]
    assert trunk["status"]["gateways"][0]["uri"] == uri
    before = edge.tcp_gw.invites_received()
    assert place_call(edge.replicas[0].sip_port, set_id,
                      workdir=edge.workdir / "calls") == 200
    assert edge.tcp_gw.invites_received() == before + 1


# ---- health: the edge's OPTIONS beside Bolna's call outcomes ------------------------------


def test_status_shows_each_gateways_options_health_beside_bolnas_own_health(
        edge: Edge, carrier_trunks: Trunks, api_client: client.ApiClient,
        namespace: str) -> None:
    """``status.gateways``/``healthyGateways`` follow Kamailio's OPTIONS probes (a
    gateway that stops answering is Unhealthy, with a GatewayDown Event on the
    CarrierTrunk); ``status.bolna`` follows Bolna's call outcomes. Neither moves the
    other: a dead gateway leaves Bolna's health as it was, and failed calls in Bolna
    leave every gateway Healthy."""
    carrier_trunks.create(namespace, carrier("health", edge))
    trunk = wait_condition(carrier_trunks, namespace, "health", "Ready", "True",
                           timeout=READY_TIMEOUT)
    status = trunk["status"]
    # The SIP edge's view: both gateways answer OPTIONS, priority 1 first.
    assert gateway_healths(trunk) == [(edge.gw1.port, "Healthy"), (edge.gw2.port, "Healthy")]
    assert [g["priority"] for g in status["gateways"]] == [1, 2]
    assert status["healthyGateways"] == "2/2"
    assert condition(trunk, "GatewaysHealthy")["reason"] == "AllHealthy"
    # Bolna's view: no call has crossed the trunk yet.
    assert status["bolna"]["health"] == "WaitingForCarrier"
    trunk_id = status["trunkId"]

    edge.gw1.pause()
    try:
        trunk = wait_for("gw1 Unhealthy in status.gateways", lambda: (
            t if gateway_healths(t := carrier_trunks.get(namespace, "health")) == [
                (edge.gw1.port, "Unhealthy"), (edge.gw2.port, "Healthy")] else None),
            timeout=30)
        assert trunk["status"]["healthyGateways"] == "1/2"
        assert condition(trunk, "GatewaysHealthy")["reason"] == "SomeUnhealthy"
        assert condition(trunk, "Ready")["status"] == "True"  # one gateway still answers
        assert trunk["status"]["bolna"]["health"] == "WaitingForCarrier"  # Bolna's own
        [down] = wait_for("a GatewayDown Event", lambda: events(
            api_client, namespace, "GatewayDown"))
        assert (down.involved_object.kind, down.involved_object.name) == (
            "CarrierTrunk", "health")
        assert down.type == "Warning"
        assert f"sip:127.0.0.1:{edge.gw1.port}" in down.message
    finally:
        edge.gw1.resume()
    wait_for("gw1 Healthy again", lambda: carrier_trunks.get(namespace, "health")[
        "status"].get("healthyGateways") == "2/2", timeout=30)
    [up] = wait_for("a GatewayUp Event", lambda: events(api_client, namespace, "GatewayUp"))
    assert up.involved_object.kind == "CarrierTrunk"

    # Bolna sees three outbound calls fail at the carrier: its health turns Degraded,
    # and the edge still reports every gateway answering OPTIONS.
    for _ in range(3):
        edge.bolna.record_call(trunk_id, "outbound", False, sip_code=503)
    trunk = wait_for("status.bolna.health Degraded", lambda: (
        t if (t := carrier_trunks.get(namespace, "health"))["status"].get("bolna", {}).get(
            "health") == "Degraded" else None), timeout=30)
    assert trunk["status"]["bolna"]["reportedHealth"] == "degraded"
    assert trunk["status"]["healthyGateways"] == "2/2"
    assert gateway_healths(trunk) == [(edge.gw1.port, "Healthy"), (edge.gw2.port, "Healthy")]
    assert condition(trunk, "GatewaysHealthy")["reason"] == "AllHealthy"


# ---- carrier IPs, and the master switch ------------------------------------------------


def test_ip_acls_are_permissions_entries_of_the_trunks_group(
        edge: Edge, carrier_trunks: Trunks, namespace: str, inbound_scenario: Path) -> None:
    """Each ``ipAcls`` entry is a permissions entry on both replicas, in the group of the
    trunk's set ID, tagged with the CarrierTrunk. Kamailio then knows an INVITE from
    that address as this trunk's carrier (404 No Inbound Route: the edge routes no
    inbound call), and refuses it (403) once the entry is gone from spec."""
    carrier_trunks.create(namespace, carrier("acl", edge, ipAcls=[
        {"cidr": CARRIER}, {"cidr": "198.51.100.7/28"}]))
    trunk = wait_condition(carrier_trunks, namespace, "acl", "Ready", "True",
                           timeout=READY_TIMEOUT)
    set_id = trunk["status"]["dispatcher"]["setId"]
    tag = f"ctrunk:{namespace}/acl"
    for replica in edge.replicas:
        mine = {e for e in addresses(replica) if e[3] == tag}
        assert mine == {(set_id, CARRIER, 32, tag), (set_id, "198.51.100.0", 28, tag)}

    def invite_from(source: str) -> int:
        return place_call(edge.replicas[0].sip_port, set_id, source=source,
                          scenario=inbound_scenario, workdir=edge.workdir / "inbound")

    assert invite_from(CARRIER) == 404
    assert (f"a carrier address of set {set_id} ({tag})"
            in edge.replicas[0].log_file.read_text(encoding="utf-8", errors="replace"))
    assert invite_from(STRANGER) == 403

    carrier_trunks.patch(namespace, "acl", {"spec": {"ipAcls": [
        {"cidr": "198.51.100.7/28"}]}})
    wait_condition(carrier_trunks, namespace, "acl", "Ready", "True", timeout=READY_TIMEOUT)
    for replica in edge.replicas:
        assert {e for e in addresses(replica) if e[3] == tag} == {
            (set_id, "198.51.100.0", 28, tag)}
    assert invite_from(CARRIER) == 403


def test_is_active_false_disables_the_set(edge: Edge, carrier_trunks: Trunks,
                                         namespace: str) -> None:
    """``isActive: false`` keeps the set on every replica with each gateway
    admin-disabled, so a call through it reaches no gateway; ``true`` again restores
    it. Bolna's own health says Disabled meanwhile."""
    carrier_trunks.create(namespace, carrier("switch", edge))
    trunk = wait_condition(carrier_trunks, namespace, "switch", "Ready", "True",
                           timeout=READY_TIMEOUT)
    set_id = trunk["status"]["dispatcher"]["setId"]
    carrier_trunks.patch(namespace, "switch", {"spec": {"isActive": False}})
    trunk = wait_condition(carrier_trunks, namespace, "switch", "Ready", "True",
                           timeout=READY_TIMEOUT)
    for replica in edge.replicas:
        loaded = targets(replica, set_id)
        assert len(loaded) == 2 and all(t["FLAGS"].startswith("D") for t in loaded.values())
    assert condition(trunk, "GatewaysHealthy")["reason"] == "TrunkInactive"
    wait_for("Bolna's own health Disabled", lambda: carrier_trunks.get(namespace, "switch")[
        "status"].get("bolna", {}).get("health") == "Disabled", timeout=30)
    assert bolna_trunk(edge, trunk["status"]["trunkId"]).json()["is_active"] is False

    before = (edge.gw1.invites_received(), edge.gw2.invites_received())
    # 503: every destination of the set is disabled (kamailio.cfg's answer).
    assert place_call(edge.replicas[0].sip_port, set_id,
                      workdir=edge.workdir / "calls") == 503
    assert (edge.gw1.invites_received(), edge.gw2.invites_received()) == before

    carrier_trunks.patch(namespace, "switch", {"spec": {"isActive": True}})
    wait_condition(carrier_trunks, namespace, "switch", "Ready", "True",
                   timeout=READY_TIMEOUT)
    assert on_every_replica(edge, lambda r: all(
        t["FLAGS"][:1] in ("A", "T", "I") for t in targets(r, set_id).values()))
    assert place_call(edge.replicas[0].sip_port, set_id,
                      workdir=edge.workdir / "calls") == 200


# ---- a SipTrunk and a CarrierTrunk of the same name ----------------------------------------


def test_a_siptrunk_and_a_carriertrunk_of_the_same_name_coexist(
        edge: Edge, trunks: Trunks, carrier_trunks: Trunks, namespace: str) -> None:
    """As in a migration: ``acme`` of both kinds in one namespace, over the same gateways
    and the same carrier address. Each has its own set, tag and permissions entry, calls
    to each set are routed by its own priorities, and changing or deleting one leaves
    the other's entries and Ready untouched."""
    trunks.create(namespace, sip_trunk("acme", edge, ipIdentifiers=[{"ipAddress": CARRIER}]))
    carrier_trunks.create(namespace, carrier("acme", edge, ipAcls=[{"cidr": CARRIER}]))
    legacy = wait_condition(trunks, namespace, "acme", "Ready", "True", timeout=READY_TIMEOUT)
    new = wait_condition(carrier_trunks, namespace, "acme", "Ready", "True",
                         timeout=READY_TIMEOUT)
    legacy_set = legacy["status"]["dispatcher"]["setId"]
    new_set = new["status"]["dispatcher"]["setId"]
    assert legacy_set != new_set
    assert legacy["status"]["trunkId"] != new["status"]["trunkId"]
    first_uri = f"sip:127.0.0.1:{edge.gw1.port}"
    second_uri = f"sip:127.0.0.1:{edge.gw2.port}"
    for replica in edge.replicas:
        for set_id, tag in ((legacy_set, f"{namespace}/acme"),
                            (new_set, f"ctrunk:{namespace}/acme")):
            loaded = targets(replica, set_id)
            assert set(loaded) == {first_uri, second_uri}
            assert all(t["ATTRS"]["BODY"].endswith(f";trunk={tag}") for t in loaded.values())
        assert {(legacy_set, CARRIER, 32, f"{namespace}/acme"),
                (new_set, CARRIER, 32, f"ctrunk:{namespace}/acme")} <= addresses(replica)
        for set_id in (legacy_set, new_set):
            assert (targets(replica, set_id)[first_uri]["PRIORITY"]
                    > targets(replica, set_id)[second_uri]["PRIORITY"])

    # The CarrierTrunk turns its priorities round; the SipTrunk does not notice.
    watch = ReadyWatch(trunks, namespace, "acme")
    carrier_trunks.patch(namespace, "acme", {"spec": {"gateways": [
        _gateway(edge.gw1, 2), _gateway(edge.gw2, 1)]}})
    wait_condition(carrier_trunks, namespace, "acme", "Ready", "True", timeout=READY_TIMEOUT)
    time.sleep(2)  # observe a few health polls after the reload, not a wait
    samples = watch.stop()
    assert samples and all(s[1] == "True" for s in samples), [
        s for s in samples if s[1] != "True"]
    for replica in edge.replicas:
        assert (targets(replica, legacy_set)[first_uri]["PRIORITY"]
                > targets(replica, legacy_set)[second_uri]["PRIORITY"])
        assert (targets(replica, new_set)[second_uri]["PRIORITY"]
                > targets(replica, new_set)[first_uri]["PRIORITY"])
    before = (edge.gw1.invites_received(), edge.gw2.invites_received())
    caller = edge.replicas[0].sip_port
    assert place_call(caller, legacy_set, workdir=edge.workdir / "calls") == 200
    assert place_call(caller, new_set, workdir=edge.workdir / "calls") == 200
    assert (edge.gw1.invites_received(), edge.gw2.invites_received()) == (
        before[0] + 1, before[1] + 1)

    # The SipTrunk is paused; the CarrierTrunk keeps its active set and Ready.
    watch = ReadyWatch(carrier_trunks, namespace, "acme")
    trunks.patch(namespace, "acme", {"spec": {"active": False}})
    wait_condition(trunks, namespace, "acme", "Ready", "True", timeout=READY_TIMEOUT)
    assert on_every_replica(edge, lambda r: all(
        t["FLAGS"].startswith("D") for t in targets(r, legacy_set).values()))
    time.sleep(2)  # observe a few health polls more
    samples = watch.stop()
    assert samples and all(s[1] == "True" for s in samples), samples
    assert on_every_replica(edge, lambda r: all(
        t["FLAGS"][:1] in ("A", "T", "I") for t in targets(r, new_set).values()))

    # The CarrierTrunk goes; the SipTrunk's set, entry and Ready stay.
    watch = ReadyWatch(trunks, namespace, "acme")
    delete(carrier_trunks, namespace, "acme")
    wait_for("the CarrierTrunk's set to leave both replicas", lambda: on_every_replica(
        edge, lambda r: not targets(r, new_set)), timeout=30)
    time.sleep(2)  # observe a few health polls more
    samples = watch.stop()
    assert samples and all(s[1] == "True" for s in samples), samples
    for replica in edge.replicas:
        assert set(targets(replica, legacy_set)) == {first_uri, second_uri}
        entries = addresses(replica)
        assert (legacy_set, CARRIER, 32, f"{namespace}/acme") in entries
        assert not [e for e in entries if e[3] == f"ctrunk:{namespace}/acme"]
    assert condition(trunks.get(namespace, "acme"), "DispatcherSynced")["reason"] == "Loaded"


# ---- metrics and deletion ---------------------------------------------------------------


def test_metrics_carry_the_kind(edge: Edge, trunks: Trunks, carrier_trunks: Trunks,
                                namespace: str) -> None:
    """``bolna_sip_trunk_condition`` and ``bolna_sip_gateway_healthy`` name the kind, so a
    SipTrunk and a CarrierTrunk of one name are two series each; deleting the
    CarrierTrunk takes its series and leaves the SipTrunk's."""
    trunks.create(namespace, sip_trunk("metered", edge))
    carrier_trunks.create(namespace, carrier("metered", edge))
    wait_condition(trunks, namespace, "metered", "Ready", "True", timeout=READY_TIMEOUT)
    wait_condition(carrier_trunks, namespace, "metered", "Ready", "True",
                   timeout=READY_TIMEOUT)
    gateway = f"sip:127.0.0.1:{edge.gw1.port}"

    def mine(samples: list[tuple[str, dict[str, str], float]], metric: str
             ) -> dict[tuple[str, ...], float]:
        return {tuple(labels[k] for k in sorted(labels) if k not in ("namespace", "name")):
                value for name, labels, value in samples if name == metric
                and labels.get("namespace") == namespace and labels.get("name") == "metered"}

    def both_ready() -> list[tuple[str, dict[str, str], float]] | None:
        samples = metric_samples(edge)
        conditions = mine(samples, "bolna_sip_trunk_condition")
        ready = all(conditions.get(("Ready", kind, "True")) == 1.0
                    for kind in ("SipTrunk", "CarrierTrunk"))
        return samples if ready else None

    samples = wait_for("both kinds' Ready=True in /metrics", both_ready)
    label_sets = {frozenset(labels) for name, labels, _ in samples
                  if name in ("bolna_sip_trunk_condition", "bolna_sip_gateway_healthy")
                  and labels.get("namespace") == namespace}
    assert label_sets == {frozenset({"kind", "namespace", "name", "condition", "status"}),
                          frozenset({"kind", "namespace", "name", "gateway"})}
    healthy = mine(samples, "bolna_sip_gateway_healthy")
    assert healthy[(gateway, "CarrierTrunk")] == 1.0
    assert healthy[(gateway, "SipTrunk")] == 1.0
    conditions = mine(samples, "bolna_sip_trunk_condition")
    for kind in ("SipTrunk", "CarrierTrunk"):
        assert conditions[("Ready", kind, "False")] == 0.0
        assert conditions[("DispatcherSynced", kind, "True")] == 1.0

    delete(carrier_trunks, namespace, "metered")

    def carrier_series_gone() -> list[tuple[str, dict[str, str], float]] | None:
        samples = metric_samples(edge)
        kinds = {labels["kind"] for name, labels, _ in samples
                 if name in ("bolna_sip_trunk_condition", "bolna_sip_gateway_healthy")
                 and labels.get("namespace") == namespace}
        return samples if kinds == {"SipTrunk"} else None

    samples = wait_for("the CarrierTrunk's series to go", carrier_series_gone, timeout=30)
    assert mine(samples, "bolna_sip_gateway_healthy")[(gateway, "SipTrunk")] == 1.0
    assert mine(samples, "bolna_sip_trunk_condition")[("Ready", "SipTrunk", "True")] == 1.0


def test_deleting_the_carriertrunk_takes_its_set_off_every_replica(
        edge: Edge, carrier_trunks: Trunks, namespace: str) -> None:
    """Deleted: its set and its permissions entries leave both replicas, and its trunk
    leaves Bolna (``deletionPolicy: Delete``, the default)."""
    carrier_trunks.create(namespace, carrier("leaving", edge, ipAcls=[
        {"cidr": "203.0.113.9"}]))
    trunk = wait_condition(carrier_trunks, namespace, "leaving", "Ready", "True",
                           timeout=READY_TIMEOUT)
    set_id, trunk_id = trunk["status"]["dispatcher"]["setId"], trunk["status"]["trunkId"]
    tag = f"ctrunk:{namespace}/leaving"
    assert on_every_replica(edge, lambda r: len(targets(r, set_id)) == 2)
    assert on_every_replica(edge, lambda r: (set_id, "203.0.113.9", 32, tag) in addresses(r))
    assert bolna_trunk(edge, trunk_id).status_code == 200

    delete(carrier_trunks, namespace, "leaving")
    wait_for("its set to leave both replicas", lambda: on_every_replica(
        edge, lambda r: not targets(r, set_id)), timeout=30)
    assert on_every_replica(edge, lambda r: not [e for e in addresses(r) if e[3] == tag])
    assert bolna_trunk(edge, trunk_id).status_code == 404
    assert f"trunk={tag}" not in edge.replicas[0].dispatcher_file.read_text(encoding="utf-8")



def test_a_carriertrunk_without_gateways_has_carrier_ips_and_no_set(
        edge: Edge, carrier_trunks: Trunks, namespace: str) -> None:
    """An inbound-only CarrierTrunk (Bolna's API allows a trunk without gateways): its
    carrier IPs are on both replicas, no destination is, and it is Ready with nothing to
    probe."""
    carrier_trunks.create(namespace, carrier_manifest({
        "preset": "custom", "ipAcls": [{"cidr": "192.0.2.44"}]}, name="inbound"))
    trunk = wait_condition(carrier_trunks, namespace, "inbound", "Ready", "True",
                           timeout=READY_TIMEOUT)
    status = trunk["status"]
    set_id = status["dispatcher"]["setId"]
    tag = f"ctrunk:{namespace}/inbound"
    assert (status["gateways"], status["healthyGateways"]) == ([], "0/0")
    assert condition(trunk, "DispatcherSynced")["reason"] == "Loaded"
    assert on_every_replica(edge, lambda r: not targets(r, set_id))
    assert on_every_replica(edge, lambda r: (set_id, "192.0.2.44", 32, tag) in addresses(r))

    # Gateways added later make it a set like any other.
    carrier_trunks.patch(namespace, "inbound", {"spec": {"gateways": [_gateway(edge.gw1, 1)]}})
    trunk = wait_condition(carrier_trunks, namespace, "inbound", "Ready", "True",
                           timeout=READY_TIMEOUT)
    assert trunk["status"]["dispatcher"]["setId"] == set_id
    assert gateway_healths(trunk) == [(edge.gw1.port, "Healthy")]
    assert on_every_replica(edge, lambda r: set(targets(r, set_id)) == {
        f"sip:127.0.0.1:{edge.gw1.port}"})


# ---- last: the operator restarts ------------------------------------------------------


def test_an_operator_restart_keeps_both_kinds_sets_in_place(
        edge: Edge, trunks: Trunks, carrier_trunks: Trunks, namespace: str) -> None:
    """The operator stops and starts again: a SipTrunk's and a CarrierTrunk's sets (of
    one name) keep their IDs, never leave Kamailio meanwhile (the first write after a
    start waits until every object of both kinds has been seen), and both stay Ready."""
    trunks.create(namespace, sip_trunk("steady", edge))
    carrier_trunks.create(namespace, carrier("steady", edge))
    legacy = wait_condition(trunks, namespace, "steady", "Ready", "True",
                            timeout=READY_TIMEOUT)
    new = wait_condition(carrier_trunks, namespace, "steady", "Ready", "True",
                         timeout=READY_TIMEOUT)
    sets = {legacy["status"]["dispatcher"]["setId"], new["status"]["dispatcher"]["setId"]}
    replica = edge.replicas[0]
    samples: list[set[int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append({t["SET"] for t in replica.dispatcher_targets()} & sets)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    watches = [ReadyWatch(trunks, namespace, "steady"),
               ReadyWatch(carrier_trunks, namespace, "steady")]
    offset = len(edge.operator.log())
    try:
        edge.operator.stop()
        edge.operator.start()
        wait_for("the restarted operator to verify Kamailio", lambda: (
            "replica(s) verified" in edge.operator.log()[offset:]), timeout=READY_TIMEOUT)
        time.sleep(3)  # observe a few health polls after the first sync
    finally:
        stop.set()
        sampler.join()
        readiness = [watch.stop() for watch in watches]
    assert samples and all(seen == sets for seen in samples), [
        s for s in samples if s != sets]
    for watched in readiness:
        assert watched and all(s[1] == "True" for s in watched), [
            s for s in watched if s[1] != "True"]
    for kind in (trunks, carrier_trunks):
        trunk = wait_condition(kind, namespace, "steady", "Ready", "True",
                               timeout=READY_TIMEOUT)
        assert trunk["status"]["dispatcher"]["setId"] in sets
    assert {trunks.get(namespace, "steady")["status"]["dispatcher"]["setId"],
            carrier_trunks.get(namespace, "steady")["status"]["dispatcher"]["setId"]} == sets
