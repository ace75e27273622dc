"""The SIP edge as it runs in a cluster: lists in a ConfigMap, replicas from EndpointSlices.

Real parts: the kube-apiserver (the ConfigMap the operator writes, the EndpointSlices it
reads), two Kamailio processes with the project's config, and the operator's own edge
writer, Kube client, ConfigMap sink and EndpointSlice discovery. Two things stand in for
a cluster that is not here:

* the kubelet: a task copies the ConfigMap's keys into each Kamailio's list files, the
  way a mounted ConfigMap volume is updated, and only some seconds after each write, so
  the first reload always reads the old lists and the propagation retry is exercised;
* pod IPs: the apiserver refuses loopback addresses in EndpointSlices, so the slices
  carry documentation addresses (192.0.2.0/24, never contacted) that the test maps to
  each Kamailio's loopback RPC port with the discovery's ``url_for``.

Status goes to an in-memory store, as in test_edge_sync_kamailio.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_sip_operator.edge import Edge
from bolna_sip_operator.kamailio.discovery import EndpointSliceReplicas
from bolna_sip_operator.kamailio.sink import ADDRESS_KEY, DISPATCHER_KEY, ConfigMapSink
from bolna_sip_operator.kube import Kube
from bolna_sip_operator.reconcile.objects import TrunkObject
from tests.corpus import IP_BASED_SPEC, USERPASS_SPEC
from tests.integration.apiserver import create_namespace
from tests.integration.helpers import MemoryStatuses

pytestmark = pytest.mark.integration

SERVICE = "kamailio"
CONFIGMAP = "kamailio-lists"
KUBELET_LAG = 3.0
"""Seconds between a ConfigMap write and the files changing in the "pods"."""
STATE: dict[str, str] = {}
"""The last DispatcherSynced seen per trunk, shown when a wait times out."""
ADDRESSES = ("192.0.2.10", "192.0.2.11")


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Kamailio]]:
    """Two Kamailio processes, each with list files of its own (its "mount")."""
    first = Kamailio(tmp_path / "a", reload_delta=1)
    second = Kamailio(tmp_path / "b", reload_delta=1)
    with first, second:
        yield [first, second]


def _slice(name: str, endpoints: list[tuple[str, int, bool]]) -> dict[str, Any]:
    """An EndpointSlice as the EndpointSlice controller writes one for the Service."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": "IPv4",
        "ports": [{"name": "sip-udp", "port": 5060, "protocol": "UDP"},
                  {"name": "rpc", "port": endpoints[0][1], "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": ready}}
                      for address, _, ready in endpoints],
    }


def _trunk(name: str, spec: dict[str, Any], port: int) -> TrunkObject:
    """A trunk whose one gateway is a closed loopback port (probes go nowhere else)."""
    spec = {**spec, "gateways": [{"gatewayAddress": "127.0.0.1", "port": port,
                                  "priority": 1}]}
    return TrunkObject(namespace="team", name=name, uid=f"uid-{name}", generation=1,
                       spec=spec, annotations={}, status={})


async def _kubelet(kube: Kube, namespace: str, replicas: list[Kamailio]) -> None:
    """Copy the ConfigMap's keys into every replica's files, ``KUBELET_LAG`` late."""
    seen: dict[str, str] = {}
    while True:
        data = await kube.configmap_data(namespace, CONFIGMAP) or {}
        if data != seen:
            seen = data
            await asyncio.sleep(KUBELET_LAG)
            for kamailio in replicas:
                if DISPATCHER_KEY in data:
                    kamailio.write_dispatcher(data[DISPATCHER_KEY])
                if ADDRESS_KEY in data:
                    kamailio.write_addresses(data[ADDRESS_KEY])
        await asyncio.sleep(0.3)


async def _until(what: str, check: Callable[[], Awaitable[bool] | bool],
                 alive: Callable[[], None], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        alive()
        answer = check()
        if answer if isinstance(answer, bool) else await answer:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {STATE}")
        await asyncio.sleep(0.3)


def _synced(statuses: MemoryStatuses) -> dict[str, str]:
    """Each trunk's DispatcherSynced as "Reason: message" (kept for failure messages)."""
    STATE.update(_synced_now(statuses))
    return _synced_now(statuses)


def _synced_now(statuses: MemoryStatuses) -> dict[str, str]:
    return {name: next((f"{c['reason']}: {c['message']}" for c in s.get("conditions", [])
                       if c["type"] == "DispatcherSynced"), "")
            for (_, name), s in statuses.by_name.items()}


def test_configmap_lists_reach_every_ready_endpoint(
        control_plane: ControlPlane, api_client: client.ApiClient,
        replicas: list[Kamailio]) -> None:
    namespace = create_namespace(api_client, "edge")
    discovery = client.DiscoveryV1Api(api_client)
    ports = {address: kamailio.rpc_port for address, kamailio in zip(ADDRESSES, replicas,
                                                                      strict=True)}
    # One slice per replica: the ports of a slice are shared by its endpoints, and the
    # two processes on one host need two RPC ports.
    for index, address in enumerate(ADDRESSES):
        manifest: Any = _slice(f"kamailio-{index}", [(address, ports[address], True)])
        discovery.create_namespaced_endpoint_slice(namespace, manifest)
    statuses = MemoryStatuses()

    async def scenario() -> None:
        kube = await Kube.connect(str(control_plane.kubeconfig))
        source = EndpointSliceReplicas(
            kube, namespace, SERVICE,
            url_for=lambda address, port: f"http://127.0.0.1:{port}/RPC")
        edge = Edge(ConfigMapSink(kube, namespace, CONFIGMAP), source, statuses.owner(),
                    lambda *_: None, reload_delta=1.0, debounce=0.2,
                    propagation_timeout=30.0)
        tasks = [asyncio.create_task(edge.run_sync()),
                 asyncio.create_task(edge.run_health(0.5)),
                 asyncio.create_task(_kubelet(kube, namespace, replicas))]
        def alive() -> None:
            for task in tasks:
                if task.done():
                    task.result()  # the task's own exception says what broke
                    raise AssertionError(f"{task} ended")

        try:
            edge.upsert(_trunk("twilio", USERPASS_SPEC, 9))
            edge.upsert(_trunk("plivo", IP_BASED_SPEC, 10))
            await _until("both trunks Loaded on 2 replicas", lambda: len(statuses.by_name) == 2
                         and all(v.startswith("Loaded") and "2 Kamailio" in v
                                 for v in _synced(statuses).values()), alive)
            # The operator wrote the ConfigMap (created it: none existed) ...
            data = await kube.configmap_data(namespace, CONFIGMAP)
            assert data is not None
            assert "trunk=team/twilio" in data[DISPATCHER_KEY]
            assert data[ADDRESS_KEY].strip()
            # ... and both Kamailio processes loaded it: the first reload came before
            # the "kubelet" copied the files, so the sets arrived by the retry.
            for kamailio in replicas:
                sets = {t["SET"] for t in kamailio.dispatcher_targets()}
                assert len(sets) == 2, kamailio.dispatcher_targets()
            assert edge.reloads["dispatcher.reload"] >= 4  # 2 replicas x (first + retry)

            # The second replica goes unready (a pod terminating): it is left alone.
            discovery.patch_namespaced_endpoint_slice(
                "kamailio-1", namespace,
                {"endpoints": [{"addresses": [ADDRESSES[1]], "conditions": {"ready": False}}]})
            await asyncio.sleep(1.5)  # the health loop notices the membership change
            edge.remove("uid-plivo")
            await _until("the remaining trunk Loaded on 1 replica",
                         lambda: "Loaded" in _synced(statuses).get("twilio", "")
                         and "on 1 Kamailio" in _synced(statuses)["twilio"], alive)
            await _until("the deleted trunk's set gone from the ready replica",
                         lambda: len({t["SET"] for t in replicas[0].dispatcher_targets()})
                         == 1, alive)
            # The unready replica was not reloaded: it still holds both sets, though
            # its files (the mount) already have the new lists.
            assert len({t["SET"] for t in replicas[1].dispatcher_targets()}) == 2

            # No ready endpoint at all: status says so instead of "verified on 0".
            for index in range(2):
                discovery.delete_namespaced_endpoint_slice(f"kamailio-{index}", namespace)
            edge.upsert(_trunk("twilio", {**USERPASS_SPEC, "active": False}, 9))
            await _until("NoReplicas", lambda: _synced(statuses)["twilio"]
                         .startswith("NoReplicas"), alive)
        finally:
            for task in tasks:
                task.cancel()
            await edge.aclose()
            await kube.close()

    asyncio.run(scenario())
