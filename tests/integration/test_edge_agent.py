"""The edge agent: lists from ConfigMaps into a real Kamailio, through a real apiserver.

Real parts: the kube-apiserver holding the lists' ConfigMaps, the operator's own
``ConfigMapSink`` writing them (as ``run --lists-configmap --edge-agents`` does), the
``bolna-sip-operator edge-agent`` command as a process, and a Kamailio with the project's
config whose list files are the agent's directory. What is checked is what Kamailio
holds (``dispatcher.list``, the permissions dumps) and what the agent reports on /readyz.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.edge_agent_process import EdgeAgentProcess
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_devenv.sip_peer import SipPeer
from bolna_emulator.process import EmulatorProcess
from bolna_sip_operator.kamailio.render import (
    EdgeGateway,
    EdgeSource,
    EdgeSpec,
    Rendered,
    TrunkRoute,
    render,
)
from bolna_sip_operator.kamailio.rpc import KamailioRpc
from bolna_sip_operator.kamailio.shards import MANIFEST_KEY, TooLarge, digest
from bolna_sip_operator.kamailio.sink import ConfigMapSink
from bolna_sip_operator.kamailio.verify import address_differences
from bolna_sip_operator.kube import Kube
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import condition, wait_condition

pytestmark = pytest.mark.integration

LISTS = "kamailio-lists"
TOKEN = "edge-agent-token-5d1e"


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    """One Kamailio whose list files are in ``tmp_path/lists`` (the agent's directory)."""
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "dispatcher.list").write_text("")
    (lists / "address.list").write_text("")
    # Probing every 30 s: thousands of loopback gateways that never answer would each
    # hold a transaction (and shared memory) for the OPTIONS timeout, every round.
    with Kamailio(tmp_path / "kamailio", dispatcher_file=lists / "dispatcher.list",
                  address_file=lists / "address.list", reload_delta=1,
                  ping_interval=30) as running:
        yield running


def _routes(count: int, gateways: int = 1, *, second: int = 10,
            name: str = "trunk") -> list[TrunkRoute]:
    """``count`` ip-based trunks, each with ``gateways`` gateways, all on loopback
    addresses (Kamailio probes them: the OPTIONS stay on this machine)."""
    routes = []
    for index in range(count):
        spec = EdgeSpec(
            gateways=tuple(EdgeGateway(f"127.{second}.{index // 250}.{index % 250 + 1}",
                                       5060 + g, g + 1, f"spec.gateways[{g}].gatewayAddress")
                           for g in range(gateways)),
            transport="udp", active=True, probing=False,
            sources=(EdgeSource(f"127.{second + 100}.{index // 250}.{index % 250 + 1}",
                                "spec.inboundIps[0]"),))
        routes.append(TrunkRoute("team", f"{name}-{index}", index + 1, spec))
    return routes


def _agent(control_plane: ControlPlane, namespace: str, kamailio: Kamailio,
           tmp_path: Path) -> EdgeAgentProcess:
    """The edge agent beside ``kamailio``, following the namespace's lists."""
    return EdgeAgentProcess(
        kubeconfig=control_plane.kubeconfig, lists_configmap=f"{namespace}/{LISTS}",
        directory=kamailio.dispatcher_file.parent, kamailio_rpc=kamailio.rpc_url,
        log_path=tmp_path / "agent.log")


def _wait(what: str, check: Callable[[], bool], agent: EdgeAgentProcess,
          timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if agent.returncode is not None or time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{agent.log()[-3000:]}")
        time.sleep(0.1)


def _holds(kamailio: Kamailio, rendered: Rendered) -> Callable[[], bool]:
    """Whether Kamailio's dispatcher holds exactly the rendered destinations."""
    wanted = sorted((d.set_id, d.uri) for d in rendered.destinations)

    def check() -> bool:
        held = sorted((t["SET"], t["URI"]) for t in kamailio.dispatcher_targets())
        return held == wanted
    return check


def _addresses(kamailio: Kamailio, rendered: Rendered) -> Callable[[], bool]:
    """Whether Kamailio's permissions hold exactly the rendered address entries."""
    async def entries() -> list[tuple[int, str, int]]:
        rpc = KamailioRpc(kamailio.rpc_url)
        try:
            return await rpc.address_entries()
        finally:
            await rpc.aclose()

    def check() -> bool:
        held = asyncio.run(entries())
        return len(held) == len(rendered.addresses) and not address_differences(
            rendered.addresses, held)
    return check


def _publish(control_plane: ControlPlane, namespace: str, rendered: Rendered,
             **sink: Any) -> None:
    async def write() -> None:
        kube = await Kube.connect(str(control_plane.kubeconfig))
        try:
            await ConfigMapSink(kube, namespace, LISTS, agents=True, **sink).publish(rendered)
        finally:
            await kube.close()
    asyncio.run(write())


def _shards(core: client.CoreV1Api, namespace: str) -> list[str]:
    names = (str(item.metadata and item.metadata.name)
             for item in core.list_namespaced_config_map(namespace).items)
    return sorted(name for name in names if name.startswith(LISTS))


def test_sharded_lists_reach_kamailio_and_shrink_again(
        control_plane: ControlPlane, api_client: client.ApiClient, kamailio: Kamailio,
        tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "agent")
    core = client.CoreV1Api(api_client)
    agent = _agent(control_plane, namespace, kamailio, tmp_path)
    with agent:
        # Before the operator's first write there is no ConfigMap: empty lists, ready.
        _wait("the agent's first write", lambda: agent.readyz()[0] == 200, agent)
        assert agent.readyz()[1]["destinations"] == 0

        # 120 trunks of 2 gateways in shards of 4 KiB: many ConfigMaps, one load.
        many = render(_routes(120, gateways=2))
        _publish(control_plane, namespace, many, max_shards=64, capacity=4096)
        shards = _shards(core, namespace)
        assert len(shards) >= 5
        _wait("all 240 destinations in Kamailio", _holds(kamailio, many), agent)
        status, report = agent.readyz()
        assert status == 200
        assert report["dispatcherSha256"] == digest(many.dispatcher_text)
        assert report["addressSha256"] == digest(many.address_text)
        assert report["destinations"] == 240
        assert report["reloadsOwed"] == []
        assert kamailio.dispatcher_file.read_text() == many.dispatcher_text
        assert kamailio.address_file.read_text() == many.address_text
        assert _addresses(kamailio, many)()

        # Fewer trunks: fewer shards; the ones no longer named are emptied.
        few = render(_routes(3))
        _publish(control_plane, namespace, few, max_shards=64, capacity=4096)
        _wait("3 destinations in Kamailio", _holds(kamailio, few), agent)
        assert _shards(core, namespace) == shards
        for name in shards[1:]:
            assert set((core.read_namespaced_config_map(name, namespace).data or {}
                        ).values()) == {""}
        _wait("3 address entries in Kamailio", _addresses(kamailio, few), agent)
    assert "Traceback" not in agent.log()


def test_a_write_under_way_is_not_loaded(
        control_plane: ControlPlane, api_client: client.ApiClient, kamailio: Kamailio,
        tmp_path: Path) -> None:
    """Shard 0 naming shards that hold another write's lines: Kamailio keeps what it has
    until the shards and the manifest agree."""
    namespace = create_namespace(api_client, "agent")
    core = client.CoreV1Api(api_client)
    first = render(_routes(40))
    _publish(control_plane, namespace, first, max_shards=64, capacity=2048)
    agent = _agent(control_plane, namespace, kamailio, tmp_path)
    with agent:
        _wait("the first lists", _holds(kamailio, first), agent)
        # Another write's shard 1 lands, its shard 0 not yet (an operator stopped between).
        second = render(_routes(40, second=11))
        core.patch_namespaced_config_map(f"{LISTS}-1", namespace, {"data": {
            "dispatcher.list": second.dispatcher_text.splitlines(keepends=True)[0]}})
        # The agent reads shard 0 again only when it changes: touch it (a label).
        core.patch_namespaced_config_map(LISTS, namespace,
                                         {"metadata": {"labels": {"touched": "yes"}}})
        _wait("the agent to see the mismatch", lambda: "do not match" in agent.log(), agent)
        assert _holds(kamailio, first)()
        # The write completes: the second lists load.
        _publish(control_plane, namespace, second, max_shards=64, capacity=2048)
        _wait("the second lists", _holds(kamailio, second), agent)


def test_lists_over_one_mebibyte_take_two_real_configmaps(
        control_plane: ControlPlane, api_client: client.ApiClient, kamailio: Kamailio,
        tmp_path: Path) -> None:
    """At the real shard size the apiserver takes every shard (it refuses a ConfigMap
    over 1 MiB), and Kamailio loads them through the agent. Long trunk names (names may
    take 253 characters) make 1 MiB about 5,000 destinations."""
    namespace = create_namespace(api_client, "agent")
    core = client.CoreV1Api(api_client)
    large = render(_routes(2500, gateways=2, name="carrier-" + "x" * 150))
    assert len(large.dispatcher_text) + len(large.address_text) > 1024 * 1024
    with pytest.raises(TooLarge, match="--list-shards"):
        _publish(control_plane, namespace, large, max_shards=1)
    _publish(control_plane, namespace, large, max_shards=8)
    assert len(_shards(core, namespace)) >= 2
    manifest = (core.read_namespaced_config_map(LISTS, namespace).data or {})[MANIFEST_KEY]
    assert '"shards": ' in manifest
    agent = _agent(control_plane, namespace, kamailio, tmp_path)
    with agent:
        _wait("5,000 destinations in Kamailio", _holds(kamailio, large), agent, timeout=60)
        assert agent.readyz()[1]["destinations"] == 5000


def test_once_writes_the_lists_and_exits(
        control_plane: ControlPlane, api_client: client.ApiClient, tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "agent")
    rendered = render(_routes(5))
    _publish(control_plane, namespace, rendered, max_shards=4, capacity=300)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "bolna_sip_operator.cli", "edge-agent", "--once",
         "--kubeconfig", str(control_plane.kubeconfig),
         "--lists-configmap", f"{namespace}/{LISTS}", "--directory", str(out)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert (out / "dispatcher.list").read_text() == rendered.dispatcher_text
    assert (out / "address.list").read_text() == rendered.address_text
    assert '"destinations": 5' in done.stdout


def test_the_operator_with_edge_agents_only_verifies(
        control_plane: ControlPlane, crd: None, api_client: client.ApiClient,
        trunks: Trunks, kamailio: Kamailio, tmp_path: Path) -> None:
    """``run --edge-agents``: the operator writes the ConfigMap, the agent reloads its
    Kamailio, the operator reads the set back and the trunk is Ready; the operator sends
    no reload of its own."""
    namespace = create_namespace(api_client, "agentop")
    metrics_port = free_port()
    agent = _agent(control_plane, namespace, kamailio, tmp_path)
    with EmulatorProcess(tokens=[TOKEN]) as bolna, \
            SipPeer(tmp_path / "gw", name="gw") as gateway, agent:
        operator = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=tmp_path / "operator.log", drift_interval=30, extra_args=(
                "--namespace", namespace, "--lists-configmap", f"{namespace}/{LISTS}",
                "--edge-agents", "--list-shards", "4", "--kamailio-rpc", kamailio.rpc_url,
                "--reload-delta", "1", "--health-interval", "1", "--probe-settle", "3",
                "--metrics-port", str(metrics_port)))
        try:
            operator.start()
            trunks.create(namespace, manifest(
                {**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
                    {"gatewayAddress": "127.0.0.1", "port": gateway.port, "priority": 1}]},
                name="edge"))
            trunk = wait_condition(trunks, namespace, "edge", "Ready", "True", timeout=60)
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=5) as answer:
                metrics = answer.read().decode()
        finally:
            operator.stop()
    synced = condition(trunk, "DispatcherSynced")
    assert synced["reason"] == "Loaded", synced
    assert trunk["status"]["healthyGateways"] == "1/1"
    set_id = trunk["status"]["dispatcher"]["setId"]
    assert {t["SET"] for t in kamailio.dispatcher_targets()} == {set_id}
    assert "Kamailio reloaded dispatcher" in agent.log()
    assert "# TYPE bolna_sip_kamailio_reloads_total counter" in metrics
    sent = [line for line in metrics.splitlines()
            if line.startswith("bolna_sip_kamailio_reloads_total{")]
    assert all(line.endswith(" 0.0") for line in sent), sent


def test_a_deleted_configmap_leaves_kamailio_as_it_is(
        control_plane: ControlPlane, api_client: client.ApiClient, kamailio: Kamailio,
        tmp_path: Path) -> None:
    """Someone deletes the lists' ConfigMap: the agent keeps what Kamailio holds (the
    operator writes it again at its next change) rather than emptying the edge."""
    namespace = create_namespace(api_client, "agent")
    core = client.CoreV1Api(api_client)
    lists = render(_routes(4))
    _publish(control_plane, namespace, lists)
    agent = _agent(control_plane, namespace, kamailio, tmp_path)
    with agent:
        _wait("the lists", _holds(kamailio, lists), agent)
        core.delete_namespaced_config_map(LISTS, namespace)
        _wait("the agent to see the deletion", lambda: "is gone" in agent.log(), agent)
        assert _holds(kamailio, lists)()
        assert kamailio.dispatcher_file.read_text() == lists.dispatcher_text
        assert agent.readyz()[1]["destinations"] == 4
