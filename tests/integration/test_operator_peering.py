"""Two operator replicas: one acts, the other waits, and takes over when the first stops.

Both run ``bolna-sip-operator run --peering`` against the real apiserver, the Bolna
emulator and one Kamailio, watching one namespace that holds a KopfPeering object (the
chart's peering CRDs are applied, as ``helm install`` would). Priorities are given, so
the test knows which replica must act; in the chart they are random.
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_emulator.process import EmulatorProcess
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.conftest import REPO
from tests.integration.helpers import condition, wait_condition, wait_for
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration

TOKEN = "peering-token-5e1d"
PEERING = "bolna-sip-operator"
CHART_CRDS = REPO / "charts" / "bolna-sip-operator" / "crds"


@pytest.fixture(scope="module")
def peering_crds(kubectl: Kubectl) -> None:
    """Kopf's peering CRDs, from the Helm chart."""
    files = [path for path in sorted(CHART_CRDS.glob("*.yaml"))
             if "KopfPeering" in path.read_text(encoding="utf-8")]
    assert files, f"no KopfPeering CRD in {CHART_CRDS}"
    for path in files:
        kubectl.run("apply", "-f", str(path))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                "crd/kopfpeerings.kopf.dev", "crd/clusterkopfpeerings.kopf.dev")


@contextlib.contextmanager
def _running(process: OperatorProcess) -> Iterator[OperatorProcess]:
    """Start an operator; stop it on the way out, even when it failed to start."""
    try:
        process.start()
        yield process
    finally:
        process.stop()


def _metric(port: int, name: str) -> float:
    """The sum of a counter's samples on an operator's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def _posts(bolna: EmulatorProcess) -> int:
    return sum(1 for r in bolna.requests()
               if r.get("method") == "POST" and r.get("path", "").endswith("/trunks"))


def _trunk(name: str, port: int) -> dict[str, Any]:
    return manifest({**IP_BASED_SPEC, "name": name, "gateways": [
        {"gatewayAddress": "127.0.0.1", "port": port, "priority": 1}]}, name=name)


def test_one_replica_acts_and_the_other_takes_over(
        control_plane: ControlPlane, crd: None, peering_crds: None,
        api_client: client.ApiClient, trunks: Trunks, tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "peer")
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}})
    with EmulatorProcess(tokens=[TOKEN]) as bolna, \
            Kamailio(tmp_path / "kamailio", reload_delta=1) as kamailio:
        replicas: dict[str, tuple[OperatorProcess, int]] = {}
        for name, priority in (("high", 200), ("low", 100)):
            metrics = free_port()
            replicas[name] = (OperatorProcess(
                kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
                log_path=tmp_path / f"{name}.log", drift_interval=30, extra_args=(
                    "--namespace", namespace, "--peering", PEERING,
                    "--priority", str(priority), "--metrics-port", str(metrics),
                    "--kamailio-rpc", kamailio.rpc_url,
                    "--dispatcher-file", str(kamailio.dispatcher_file),
                    "--address-file", str(kamailio.address_file), "--reload-delta", "1",
                    "--health-interval", "1", "--probe-settle", "2")), metrics)
        high, high_metrics = replicas["high"]
        low, low_metrics = replicas["low"]
        with _running(high), _running(low):
            trunks.create(namespace, _trunk("first", 9))
            wait_condition(trunks, namespace, "first", "Synced", "True", timeout=60)
            first = wait_condition(trunks, namespace, "first", "DispatcherSynced", "True")
            assert _posts(bolna) == 1
            # The standby made no Bolna call and never touched Kamailio.
            assert _metric(low_metrics, "bolna_sip_bolna_requests_total") == 0
            assert _metric(low_metrics, "bolna_sip_kamailio_reloads_total") == 0
            assert _metric(high_metrics, "bolna_sip_kamailio_reloads_total") >= 1
            # Kopf starts every replica paused and leaves the standby so, silently.
            assert "Resuming operations" not in low.log()
            # What the "no replica acting" alert reads: 1 on the acting one, 0 on the other.
            wait_for("acting=1 on high, 0 on low", lambda: (
                _metric(high_metrics, "bolna_sip_operator_acting"),
                _metric(low_metrics, "bolna_sip_operator_acting")) == (1, 0), timeout=20)

            high.stop()  # a rollout: the acting replica goes; its peering entry with it
            trunks.create(namespace, _trunk("second", 10))
            wait_condition(trunks, namespace, "second", "Synced", "True", timeout=60)
            second = wait_condition(trunks, namespace, "second", "DispatcherSynced", "True")
            assert _posts(bolna) == 2  # no duplicate of the first trunk either
            assert _metric(low_metrics, "bolna_sip_kamailio_reloads_total") >= 1
            set_ids = {t["SET"] for t in kamailio.dispatcher_targets()}
            assert set_ids == {first["status"]["dispatcher"]["setId"],
                               second["status"]["dispatcher"]["setId"]}
            assert condition(trunks.get(namespace, "first"), "Synced")["status"] == "True"
            assert "Resuming operations after the pause" in low.log()
            wait_for("acting=1 on low", lambda: _metric(
                low_metrics, "bolna_sip_operator_acting") == 1, timeout=20)
