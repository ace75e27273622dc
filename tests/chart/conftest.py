"""Fixtures of the chart tests: the pinned helm, and (for installs) a real apiserver.

No skips: a missing helm, control plane or Kamailio fails the tests with the command
that provides it (``hack/setup.sh`` installs all three).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bolna_sip_operator.devenv.control_plane import ControlPlane, find_kubectl
from bolna_sip_operator.devenv.helm import HelmNotFoundError, find_helm
from tests.chart.chart import Helm, Manifests


class Kubectl:
    """The real kubectl, with one kubeconfig (the admin's, or a ServiceAccount's)."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def as_user(self, kubeconfig: Path) -> Kubectl:
        """The same kubectl with another identity."""
        return Kubectl(self.binary, kubeconfig)

    def run(self, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with ``check``, fail the test showing its stderr."""
        result = subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result


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
    """etcd + kube-apiserver on free loopback ports, stopped by PID at the end."""
    with ControlPlane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """kubectl as the cluster admin."""
    binary = find_kubectl(control_plane.bin_dir)
    if binary is None:
        pytest.fail("kubectl is missing: run hack/setup.sh")
    return Kubectl(binary, control_plane.kubeconfig)
