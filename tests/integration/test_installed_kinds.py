"""The operator serves the kinds whose CRD is installed (issue 25, item 1).

On a control plane of its own, as a new user follows the README: first no CRD at all
(the operator exits at once, naming the CRDs and the command), then the SipTrunk CRD
alone (SipTrunks are served; CarrierTrunks are said to be off once, in the log and in
``bolna_sip_operator_kind_served``, and no 404 is retried), then the CarrierTrunk CRD
installed while the operator runs (served without a restart).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane, find_kubectl
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_emulator.process import EmulatorProcess
from tests.carrier_corpus import TELNYX_SPEC, carrier_manifest
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.conftest import CARRIER_CRD_FILE, CRD_FILE
from tests.integration.helpers import wait_condition, wait_for
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
TOKEN = "installed-kinds-token"
OFF = "CarrierTrunks are off: the CRD carriertrunks.sip.bolna.ai is not installed"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane with no CRD of the operator's: the session's has both."""
    with ControlPlane(tmp_path_factory.mktemp("kinds-plane")) as control_plane:
        yield control_plane


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tokens=[TOKEN]) as bolna:
        yield bolna


def _kubectl(plane: ControlPlane) -> Kubectl:
    binary = find_kubectl(plane.bin_dir)
    assert binary is not None, "kubectl is missing: run hack/setup.sh"
    return Kubectl(binary, plane.kubeconfig)


def _served(metrics_port: int) -> dict[str, float]:
    """``bolna_sip_operator_kind_served`` by kind, from the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as page:
        text = page.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("bolna_sip_operator_kind_served{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('kind="')[1].split('"')[0]] = float(value)
    return found


def test_no_crd_fails_fast_then_each_kind_is_served_once_its_crd_is_there(
        plane: ControlPlane, emulator: EmulatorProcess, tmp_path: Path) -> None:
    kubectl = _kubectl(plane)
    # No CRD at all: nothing to serve. The command exits 1 at once, saying what to do.
    argv = [sys.executable, "-m", "bolna_sip_operator.cli", "run", "--kubeconfig",
            str(plane.kubeconfig), "--bolna-url", emulator.url,
            "--health-port", str(free_port())]
    done = subprocess.run(argv, env={**os.environ, "BOLNA_API_TOKEN": TOKEN},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no trunk CRD is installed (siptrunks.sip.bolna.ai, "
                           "carriertrunks.sip.bolna.ai)"), last
    assert "kubectl apply --server-side -f crds/" in last

    # The SipTrunk CRD alone, as the README's first steps install it.
    kubectl.run("apply", "--server-side", "-f", str(CRD_FILE))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                "crd/siptrunks.sip.bolna.ai")
    metrics_port = free_port()
    operator = OperatorProcess(kubeconfig=plane.kubeconfig, bolna_url=emulator.url,
                               token=TOKEN, log_path=tmp_path / "operator.log",
                               extra_args=("--metrics-port", str(metrics_port)))
    operator.start()
    try:
        with admin_api_client(plane) as api:
            namespace = create_namespace(api, "kinds")
            trunks = Trunks(client.CustomObjectsApi(api))
            trunks.create(namespace, manifest({**IP_BASED_SPEC, "name": "kinds-sip"},
                                              name="legacy"))
            wait_condition(trunks, namespace, "legacy", "Ready", "True", timeout=60)
            assert _served(metrics_port) == {"SipTrunk": 1.0, "CarrierTrunk": 0.0}
            log = operator.log()
            assert log.count(OFF) == 1, log[-3000:]
            assert "kubectl apply --server-side -f crds/carriertrunk.yaml" in log
            assert "will try again" not in log and "Traceback" not in log, log[-3000:]

            # The CarrierTrunk CRD now, with the operator running: served, no restart.
            kubectl.run("apply", "--server-side", "-f", str(CARRIER_CRD_FILE))
            kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                        "crd/carriertrunks.sip.bolna.ai")
            carriers = Trunks(client.CustomObjectsApi(api), plural="carriertrunks")
            carriers.create(namespace, carrier_manifest({**TELNYX_SPEC, "name": "kinds-ct"},
                                                        name="current"))
            wait_condition(carriers, namespace, "current", "Ready", "True", timeout=90)
            wait_for("the metric saying CarrierTrunks are served", lambda: _served(
                metrics_port).get("CarrierTrunk") == 1.0, timeout=30)
            assert ("the CRD carriertrunks.sip.bolna.ai is installed: serving CarrierTrunks"
                    in operator.log())
            assert operator.pid is not None, "the same process throughout"
    finally:
        operator.stop()
    assert operator.log().count(OFF) == 1
