"""The cluster tier: one real kind cluster for this package, made by ``hack/kind-up.sh``.

The cluster runs the project's own images (operator, Kamailio, sipp) on a node image
built on this machine, with the chart installed, the Bolna emulator standing in for
Bolna and the example SipTrunk Ready: exactly what a user gets from ``hack/kind-up.sh``.
It is deleted with ``hack/kind-down.sh`` when the package's tests end, so it does not
load the machine during the other tiers. No skips: if Docker, the node or the chart
cannot start, the tests fail with the tail of kind-up's output.

The cluster is named ``$BOLNA_TEST_KIND_CLUSTER`` (default ``bolna-sip-test``), never the
``bolna-sip`` a developer may be using, and its context goes to a kubeconfig of its own.
``BOLNA_TEST_KIND_KEEP=1`` (for working on these tests) reuses an existing cluster of that
name and keeps it afterwards; the tests end with ``helm uninstall``, which the next
kind-up installs again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bolna_devenv.control_plane import find_kubectl
from bolna_devenv.helm import HelmNotFoundError, find_helm
from tests.cluster.kind import REPO, Cluster, Images
from tests.kubectl import Kubectl

_KIND_UP_TIMEOUT = 1500


def _kind_env(name: str, kubeconfig: Path) -> dict[str, str]:
    return {**os.environ, "BOLNA_KIND_CLUSTER": name, "KUBECONFIG": str(kubeconfig),
            "BOLNA_KIND_KEEP_DOCKER": "1"}


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The kind cluster, up with every example SipTrunk Ready; deleted afterwards."""
    name = os.environ.get("BOLNA_TEST_KIND_CLUSTER", "bolna-sip-test")
    work = tmp_path_factory.mktemp("kind")
    kubeconfig = work / "kubeconfig"
    env = _kind_env(name, kubeconfig)
    down = [str(REPO / "hack" / "kind-down.sh")]
    keep = os.environ.get("BOLNA_TEST_KIND_KEEP") == "1"
    if not keep:  # a cluster left by a crashed run would carry its state into this one
        subprocess.run(down, env=env, capture_output=True, check=False, timeout=300)
    log = work / "kind-up.log"
    with log.open("w") as out:
        up = subprocess.run([str(REPO / "hack" / "kind-up.sh")], env=env, stdout=out,
                            stderr=subprocess.STDOUT, check=False, timeout=_KIND_UP_TIMEOUT)
    text = log.read_text(errors="replace")
    print(text)  # shown with -s, and in the report of a failing test
    try:
        if up.returncode != 0:
            pytest.fail(f"hack/kind-up.sh failed (exit {up.returncode}); its output ends:\n"
                        + "\n".join(text.splitlines()[-60:]))
        kubectl_bin = find_kubectl(None)
        if kubectl_bin is None:
            pytest.fail("kubectl is missing: run hack/setup.sh")
        try:
            helm = find_helm()
        except HelmNotFoundError as error:
            pytest.fail(str(error))
        yield Cluster(name, Kubectl(kubectl_bin, kubeconfig), helm, Images.built())
    finally:
        if not keep:
            subprocess.run(down, env=env, capture_output=True, check=False, timeout=300)
