"""Fixtures of the chart tests: the pinned helm, and (for installs) a real apiserver.

No skips: a missing helm, control plane or Kamailio fails the tests with the command
that provides it (``hack/setup.sh`` installs all three).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bolna_devenv.control_plane import ControlPlane, find_kubectl
from bolna_devenv.helm import HelmNotFoundError, find_helm
from tests.chart.chart import Helm, Manifests
from tests.kubectl import Kubectl


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The helm ``hack/install-helm.sh`` builds (or ``$HELM_BIN``), with a private home."""
    try:
        binary = find_helm()
    except HelmNotFoundError as error:
        pytest.fail(str(error))
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def defaults(helm: Helm) -> Manifests:
    """The chart rendered with its default values (release ``edge`` in ``telephony``)."""
    return helm.template()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver on free loopback ports, stopped by PID at the end.

    Not the integration tests' apiserver: the chart's operator runs cluster-wide here,
    and would take up every SipTrunk those tests leave behind.
    """
    with ControlPlane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """kubectl as the cluster admin."""
    binary = find_kubectl(control_plane.bin_dir)
    if binary is None:
        pytest.fail("kubectl is missing: run hack/setup.sh")
    return Kubectl(binary, control_plane.kubeconfig)
