"""A real kube-apiserver and etcd for the whole session, with the SipTrunk and
CarrierTrunk CRDs installed.

No skips: when the control plane cannot start (binaries missing, a port taken, a crash)
the tests error, and so does the suite. ``hack/setup.sh`` builds the binaries once per
machine; ``hack/test.sh`` runs it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane, find_kubectl
from bolna_devenv.kube_client import admin_api_client
from tests.integration.apiserver import CARRIER_PLURAL, Trunks, create_namespace
from tests.kubectl import Kubectl

REPO = Path(__file__).parents[2]
CRD_FILE = REPO / "crds" / "siptrunk.yaml"
CARRIER_CRD_FILE = REPO / "crds" / "carriertrunk.yaml"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver on free loopback ports, stopped by PID at the end."""
    with ControlPlane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """kubectl with the admin kubeconfig."""
    binary = find_kubectl(control_plane.bin_dir)
    assert binary is not None, "kubectl is missing: run hack/setup.sh"
    return Kubectl(binary, control_plane.kubeconfig)


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    """The checked-in CRDs (SipTrunk and CarrierTrunk), applied and Established."""
    kubectl.run("apply", "-f", str(CRD_FILE), "-f", str(CARRIER_CRD_FILE))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                "crd/siptrunks.sip.bolna.ai", "crd/carriertrunks.sip.bolna.ai")


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane, crd: None) -> Iterator[client.ApiClient]:
    """The official Kubernetes client, as the admin user, after the CRD is installed."""
    with admin_api_client(control_plane) as api:
        yield api


@pytest.fixture(scope="session")
def trunks(api_client: client.ApiClient) -> Trunks:
    """SipTrunk calls on the test apiserver."""
    return Trunks(client.CustomObjectsApi(api_client))


@pytest.fixture(scope="session")
def carrier_trunks(api_client: client.ApiClient) -> Trunks:
    """CarrierTrunk calls on the test apiserver."""
    return Trunks(client.CustomObjectsApi(api_client), plural=CARRIER_PLURAL)


@pytest.fixture
def namespace(api_client: client.ApiClient) -> str:
    """A fresh namespace per test."""
    return create_namespace(api_client, "t")


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    """CoreV1Api on the test apiserver."""
    return client.CoreV1Api(api_client)
