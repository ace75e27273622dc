"""The operator process with its lists in a ConfigMap, as the Helm chart runs it.

``bolna-sip-operator run --lists-configmap`` against the real apiserver, the Bolna
emulator and two real Kamailio processes. A thread stands in for the kubelet: it copies
the ConfigMap's keys into each Kamailio's list files a few seconds after every write,
as a mounted ConfigMap volume changes. The replicas are given by URL here; discovery
from EndpointSlices is exercised in test_edge_in_cluster.py (the apiserver refuses the
loopback addresses these processes listen on).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess
from bolna_devenv.sip_peer import SipPeer
from bolna_emulator.process import EmulatorProcess
from bolna_sip_operator.kamailio.sink import ADDRESS_KEY, DISPATCHER_KEY
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import condition, wait_condition

pytestmark = pytest.mark.integration

TOKEN = "configmap-sink-token-a41c"
CONFIGMAP = "kamailio-lists"
KUBELET_LAG = 3.0


class Kubelet(threading.Thread):
    """Copies a ConfigMap's keys into the replicas' files, ``KUBELET_LAG`` late."""

    def __init__(self, api: client.ApiClient, namespace: str, replicas: list[Kamailio]
                 ) -> None:
        super().__init__(daemon=True)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.replicas = replicas
        self.stopping = threading.Event()
        self.copies = 0

    def run(self) -> None:
        seen: dict[str, str] = {}
        while not self.stopping.wait(0.3):
            try:
                data = self.core.read_namespaced_config_map(CONFIGMAP, self.namespace).data
            except client.ApiException:
                continue
            if (data or {}) != seen:
                seen = dict(data or {})
                time.sleep(KUBELET_LAG)
                for kamailio in self.replicas:
                    kamailio.write_dispatcher(seen.get(DISPATCHER_KEY, ""))
                    kamailio.write_addresses(seen.get(ADDRESS_KEY, ""))
                self.copies += 1


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Kamailio]]:
    """Two Kamailio processes probing every second."""
    with Kamailio(tmp_path / "a", ping_interval=1, reload_delta=1) as first, \
            Kamailio(tmp_path / "b", ping_interval=1, reload_delta=1) as second:
        yield [first, second]


def _trunk(gateway: SipPeer) -> dict[str, Any]:
    return manifest({**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
        {"gatewayAddress": "127.0.0.1", "port": gateway.port, "priority": 1}]},
        name="edge")


def test_the_lists_reach_both_replicas_through_the_configmap(
        control_plane: ControlPlane, crd: None, api_client: client.ApiClient,
        trunks: Trunks, replicas: list[Kamailio], tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "cms")
    kubelet = Kubelet(api_client, namespace, replicas)
    kubelet.start()
    with EmulatorProcess(tokens=[TOKEN]) as bolna, \
            SipPeer(tmp_path / "gw", name="gw") as gateway:
        operator = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=tmp_path / "operator.log", drift_interval=30, extra_args=(
                "--namespace", namespace, "--lists-configmap", f"{namespace}/{CONFIGMAP}",
                "--kamailio-rpc", replicas[0].rpc_url, "--kamailio-rpc", replicas[1].rpc_url,
                "--reload-delta", "1", "--health-interval", "1", "--probe-settle", "3"))
        try:
            operator.start()
            trunks.create(namespace, _trunk(gateway))
            trunk = wait_condition(trunks, namespace, "edge", "Ready", "True", timeout=60)
        finally:
            operator.stop()
            kubelet.stopping.set()
    synced = condition(trunk, "DispatcherSynced")
    assert synced["reason"] == "Loaded"
    assert "on 2 Kamailio replica(s)" in synced["message"]
    assert trunk["status"]["healthyGateways"] == "1/1"
    data = client.CoreV1Api(api_client).read_namespaced_config_map(CONFIGMAP, namespace).data
    assert data is not None
    assert f"trunk={namespace}/edge" in data[DISPATCHER_KEY]
    assert data[ADDRESS_KEY].strip()  # ip-based: the trunk's identifiers
    set_id = trunk["status"]["dispatcher"]["setId"]
    for kamailio in replicas:
        assert {t["SET"] for t in kamailio.dispatcher_targets()} == {set_id}
    assert kubelet.copies >= 1
    # The operator's first reload came before the "kubelet" copied the files; the set
    # arrived by the retry, which the log tells.
    assert re.search(r"verified, 0 unreachable, [12] to reload again", operator.log())
