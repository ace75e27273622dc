"""The operator's Kubernetes transport against the real kube-apiserver: what a missing
object, a refused write and a rotated credential look like to the code above it."""

from __future__ import annotations

import asyncio
import dataclasses

import kopf
import pytest

from bolna_devenv.control_plane import ControlPlane
from bolna_sip_operator.kube import USER_AGENT
from bolna_sip_operator.kube_api import ApiError, KubeApi, login

pytestmark = pytest.mark.integration


def test_a_missing_object_is_none_and_a_refused_write_names_the_field(
        control_plane: ControlPlane, namespace: str) -> None:
    async def scenario() -> tuple[object, ApiError]:
        api = KubeApi.connect(str(control_plane.kubeconfig), user_agent=USER_AGENT)
        try:
            missing = await api.get(f"/api/v1/namespaces/{namespace}/secrets/nothing-here")
            with pytest.raises(ApiError) as refused:
                await api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                  body={"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "Not_A_Name"}})
            return missing, refused.value
        finally:
            await api.close()

    missing, refused = asyncio.run(scenario())
    assert missing is None
    assert refused.status == 422 and refused.reason == "Invalid"
    assert "metadata.name" in refused.message and "Not_A_Name" in str(refused)


def test_a_refused_credential_logs_in_again_and_the_call_goes_through(
        control_plane: ControlPlane, namespace: str) -> None:
    good = login(str(control_plane.kubeconfig))
    assert good is not None
    stale = dataclasses.replace(good, scheme="Bearer", token="rotated-away",
                                username=None, password=None,
                                certificate_path=None, certificate_data=None,
                                private_key_path=None, private_key_data=None)
    logins: list[kopf.ConnectionInfo] = []

    def rotating() -> kopf.ConnectionInfo:
        logins.append(stale if not logins else good)
        return logins[-1]

    async def scenario() -> str:
        api = KubeApi(rotating, user_agent=USER_AGENT)
        try:
            found = await api.request("GET", f"/api/v1/namespaces/{namespace}")
            return str(found["metadata"]["name"])
        finally:
            await api.close()

    assert asyncio.run(scenario()) == namespace
    assert logins == [stale, good]
