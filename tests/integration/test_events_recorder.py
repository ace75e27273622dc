"""The operator's own Events and field manager, on the real kube-apiserver.

What a user sees: ``kubectl describe`` shows one warning "x30 over ..." from
``bolna-sip-operator`` instead of thirty from ``kopf``; ``managedFields`` names
``bolna-sip-operator`` for every write the operator makes, not ``OpenAPI-Generator``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kube_client import admin_api_client
from bolna_sip_operator.events import EventRecorder, ObjectRef
from bolna_sip_operator.kube import FIELD_MANAGER, USER_AGENT, Kube
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration

POD = "bolna-sip-operator-5c7d9-x2k4q"


def _trunk(trunks: Trunks, namespace: str, name: str = "plivo") -> ObjectRef:
    stored = trunks.create(namespace, manifest(IP_BASED_SPEC, name))
    return ObjectRef.from_body(stored)


def _events(api_client: client.ApiClient, ref: ObjectRef) -> list[Any]:
    listed = client.CoreV1Api(api_client).list_namespaced_event(
        ref.namespace, field_selector=f"involvedObject.uid={ref.uid}")
    return list(listed.items)


def _managers(managed_fields: list[Any] | None) -> set[tuple[str, str | None]]:
    return {(entry.manager, entry.subresource or None) for entry in managed_fields or ()}


def _owners(managed_fields: list[dict[str, Any]]
            ) -> dict[tuple[str, ...], tuple[str, str | None]]:
    """Each owned field path (leaves and sets) -> (manager, subresource)."""
    owners: dict[tuple[str, ...], tuple[str, str | None]] = {}

    def walk(fields: dict[str, Any], path: tuple[str, ...], owner: tuple[str, str | None]
             ) -> None:
        for key, inner in fields.items():
            if key == ".":
                continue
            owners[(*path, key)] = owner
            walk(inner, (*path, key), owner)

    for entry in managed_fields:
        walk(entry.get("fieldsV1") or {}, (), (entry["manager"], entry.get("subresource")))
    return owners


def test_thirty_identical_warnings_are_one_event_from_the_operator(
        control_plane: ControlPlane, api_client: client.ApiClient, trunks: Trunks,
        namespace: str, kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", POD)
    ref = _trunk(trunks, namespace)

    async def scenario() -> tuple[int, float]:
        kube = await Kube.connect(str(control_plane.kubeconfig))
        recorder = EventRecorder(kube, min_interval=0.5)
        started = time.monotonic()
        try:
            for index in range(30):  # as a retrying reconcile would, only faster
                recorder.post(ref, "Warning", "ReconcileError", "Bolna answered 503")
                await asyncio.sleep(0.05 if index % 10 == 9 else 0.01)
            elapsed = time.monotonic() - started
        finally:
            await recorder.aclose()
            await kube.close()
        return recorder.calls, elapsed

    calls, elapsed = asyncio.run(scenario())
    # A create, at most a patch per half second, the final flush: not one per post.
    assert 2 <= calls <= 2 + elapsed / 0.5

    (event,) = _events(api_client, ref)
    assert event.count == 30
    assert event.type == "Warning"
    assert event.reason == "ReconcileError"
    assert event.message == "Bolna answered 503"
    assert event.source.component == "bolna-sip-operator"
    assert event.reporting_component == "bolna-sip-operator"
    assert event.reporting_instance == POD
    assert event.metadata.name.startswith("plivo.")
    int(event.metadata.name.removeprefix("plivo."), 16)
    assert event.involved_object.kind == "SipTrunk"
    assert event.involved_object.api_version == "sip.bolna.ai/v1alpha1"
    assert event.involved_object.name == "plivo"
    assert event.last_timestamp >= event.first_timestamp
    assert _managers(event.metadata.managed_fields) == {(FIELD_MANAGER, None)}

    described = kubectl.run("describe", "siptrunk", "plivo", "-n", namespace).stdout
    assert "(x30 over" in described
    assert "bolna-sip-operator" in described.split("Events:")[1]


def test_two_messages_are_two_events(
        control_plane: ControlPlane, api_client: client.ApiClient, trunks: Trunks,
        namespace: str) -> None:
    ref = _trunk(trunks, namespace)

    async def scenario() -> None:
        kube = await Kube.connect(str(control_plane.kubeconfig))
        recorder = EventRecorder(kube, instance="test")
        try:
            for message in ("Bolna answered 503", "Bolna answered 500",
                            "Bolna answered 503", "x" * 3000):
                recorder.post(ref, "Warning", "ReconcileError", message)
        finally:
            await recorder.aclose()
            await kube.close()

    asyncio.run(scenario())
    events = _events(api_client, ref)
    assert sorted((e.message[:18], e.count) for e in events) == [
        ("Bolna answered 500", 1), ("Bolna answered 503", 2), ("x" * 18, 1)]
    assert max(len(e.message) for e in events) == 1024


def test_every_write_through_kube_is_managed_by_the_operator(
        control_plane: ControlPlane, api_client: client.ApiClient, trunks: Trunks,
        namespace: str) -> None:
    ref = _trunk(trunks, namespace)

    async def scenario() -> None:
        kube = await Kube.connect(str(control_plane.kubeconfig))
        try:
            await kube.patch_status(namespace, ref.name, {"trunkId": "trunk-1"})
            await kube.patch_annotations(namespace, ref.name, {"example.com/a": "b"})
            await kube.put_configmap_data(namespace, "lists", {"a": "1"}, create=True)
            await kube.put_configmap_data(namespace, "lists", {"b": "2"}, create=True)
        finally:
            await kube.close()

    asyncio.run(scenario())
    trunk = trunks.get(namespace, ref.name)
    owners = _owners(trunk["metadata"]["managedFields"])
    assert owners[("f:status", "f:trunkId")] == (FIELD_MANAGER, "status")
    assert owners[("f:metadata", "f:annotations", "f:example.com/a")] == (FIELD_MANAGER, None)
    # The test's own client created the trunk; every other entry is the operator's.
    assert {manager for manager, _ in owners.values()} == {"OpenAPI-Generator",
                                                          FIELD_MANAGER}
    assert owners[("f:spec", "f:provider")] == ("OpenAPI-Generator", None)
    configmap = client.CoreV1Api(api_client).read_namespaced_config_map("lists", namespace)
    assert configmap.data == {"a": "1", "b": "2"}
    assert configmap.metadata is not None
    assert _managers(configmap.metadata.managed_fields) == {(FIELD_MANAGER, None)}


def test_without_a_field_manager_the_user_agent_names_the_manager(
        control_plane: ControlPlane, trunks: Trunks, namespace: str) -> None:
    """The fact the advice for Kopf's own patches rests on: Kopf sends no fieldManager,
    so its writes are attributed to its User-Agent's first word."""
    ref = _trunk(trunks, namespace)
    with admin_api_client(control_plane) as api:
        api.user_agent = USER_AGENT
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "sip.bolna.ai", "v1alpha1", namespace, "siptrunks", ref.name,
            {"metadata": {"finalizers": ["sip.bolna.ai/finalizer"]}})
    trunk = trunks.get(namespace, ref.name)
    owners = _owners(trunk["metadata"]["managedFields"])
    assert owners[("f:metadata", "f:finalizers")] == (FIELD_MANAGER, None)
    trunks.patch(namespace, ref.name, {"metadata": {"finalizers": None}})
