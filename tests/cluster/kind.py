"""What the cluster tests use to reach a real kind cluster the way a user does.

Everything goes through the real clients: ``hack/kind-up.sh`` and ``hack/kind-down.sh``,
kubectl (its ``port-forward`` to reach the Bolna emulator and each Kamailio pod's
JSON-RPC from this machine), helm, and sipp pods inside the cluster for calls. Nothing
here talks to an address outside loopback and the cluster's own networks.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bolna_devenv.sip_peer import final_invite_status_in
from tests.integration.helpers import wait_for
from tests.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
#: Where hack/kind-up.sh installs the chart and the emulator.
SYSTEM_NS = "bolna-sip"
#: Where the example gateways and SipTrunks live.
APP_NS = "telephony"
RELEASE = "sip"
OPERATOR_DEPLOYMENT = "sip-bolna-sip-operator"
KAMAILIO_DEPLOYMENT = "sip-bolna-sip-operator-kamailio"
#: The Kamailio Service, its SIP port: where Bolna's calls enter the edge.
KAMAILIO_SIP = f"{KAMAILIO_DEPLOYMENT}.{SYSTEM_NS}.svc.cluster.local:5060"
LISTS_CONFIGMAP = "sip-bolna-sip-operator-kamailio-lists"
KAMAILIO_RPC_PORT = 5090
EXAMPLE_TRUNK = "kind-userpass"
EXAMPLE_CARRIER_TRUNK = "kind-carrier"

@dataclass(frozen=True)
class Images:
    """The project's images hack/build-images.sh built and hack/kind-up.sh loaded."""

    operator: str
    kamailio: str
    sipp: str

    @classmethod
    def built(cls) -> Images:
        """Ask hack/build-images.sh (cached: it answers at once once built)."""
        out = subprocess.run([str(REPO / "hack" / "build-images.sh")], capture_output=True,
                             text=True, check=False, timeout=1800)
        if out.returncode != 0:
            pytest.fail(f"hack/build-images.sh failed:\n{out.stderr[-3000:]}")
        found = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        return cls(found["operator"], found["kamailio"], found["sipp"])


class Cluster:
    """The kind cluster of the test run: kubectl and helm pointed at its context."""

    def __init__(self, name: str, kubectl: Kubectl, helm: Path, images: Images) -> None:
        self.name = name
        self.kubectl = kubectl
        self.helm_binary = helm
        self.images = images

    # ---- kubectl -------------------------------------------------------------------

    def get(self, kind: str, name: str = "", namespace: str = APP_NS,
            selector: str = "") -> Any:
        """``kubectl get -o json`` as Python data."""
        args = ["get", kind, *([name] if name else []), "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl.run(*args).stdout)

    def pods(self, selector: str, namespace: str = SYSTEM_NS) -> list[dict[str, Any]]:
        """Pods matching a label selector, without those being deleted."""
        items = self.get("pods", namespace=namespace, selector=selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def logs(self, target: str, namespace: str, *, since: str = "") -> str:
        args = ["logs", target, "-n", namespace, "--all-containers"]
        if since:
            args.append(f"--since-time={since}")
        return self.kubectl.run(*args).stdout

    def helm(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [str(self.helm_binary), "--kubeconfig", str(self.kubectl.kubeconfig), *args],
            capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def trunk(self, name: str = EXAMPLE_TRUNK) -> dict[str, Any]:
        trunk: dict[str, Any] = self.get("siptrunk", name)
        return trunk

    def carrier_trunk(self, name: str = EXAMPLE_CARRIER_TRUNK) -> dict[str, Any]:
        trunk: dict[str, Any] = self.get("carriertrunk", name)
        return trunk

    # ---- through kubectl port-forward ----------------------------------------------

    @contextlib.contextmanager
    def port_forward(self, target: str, port: int | str,
                     namespace: str = SYSTEM_NS) -> Iterator[int]:
        """``kubectl port-forward TARGET :PORT``: yields the local port on 127.0.0.1."""
        proc = subprocess.Popen(
            [str(self.kubectl.binary), "--kubeconfig", str(self.kubectl.kubeconfig),
             "-n", namespace, "port-forward", "--address", "127.0.0.1", target, f":{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"127\.0\.0\.1:(\d+) ->", line)
            if not match:
                err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
                pytest.fail(f"kubectl port-forward {target} :{port} said {line!r} {err}")
            yield int(match.group(1))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def emulator(self, path: str) -> Any:
        """GET the Bolna emulator's admin API (``/_emulator/state``, ``requests``, ...)."""
        with self.port_forward("svc/bolna-emulator", 8055) as port:
            response = httpx.get(f"http://127.0.0.1:{port}/_emulator/{path}", timeout=10)
            response.raise_for_status()
            return response.json()

    def bolna_trunks(self) -> list[dict[str, Any]]:
        """Every trunk the emulator holds, across its accounts."""
        state = self.emulator("state")
        return [t for account in state["accounts"].values() for t in account["trunks"]]

    def bolna_carrier_trunks(self) -> list[dict[str, Any]]:
        """Every trunk the emulator holds under Bolna's ``/trunk`` API, across accounts."""
        state = self.emulator("state")
        return [t for account in state["trunk"]["accounts"].values()
                for t in account["trunks"]]

    def kamailio_rpc(self, pod: dict[str, Any], method: str, *params: str) -> Any:
        """One JSON-RPC call to one Kamailio pod, from inside the cluster.

        Kamailio's RPC listens on the pod IP only (not on the pod's loopback, where
        ``kubectl port-forward`` connects), and its NetworkPolicy admits the operator's
        pods: so the call is made from an operator pod with the Python in its image,
        a plain HTTP POST that shares no code with the operator's own client."""
        url = f"http://{pod['status']['podIP']}:{KAMAILIO_RPC_PORT}/RPC"
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           **({"params": list(params)} if params else {})})
        script = ("import sys, urllib.request; r = urllib.request.urlopen(urllib.request."
                  "Request(sys.argv[1], sys.argv[2].encode(), {'Content-Type': "
                  "'application/json'}), timeout=10); sys.stdout.write(r.read().decode())")
        out = self.kubectl.run("exec", "-n", SYSTEM_NS, f"deploy/{OPERATOR_DEPLOYMENT}",
                               "--", "python3", "-c", script, url, body)
        return json.loads(out.stdout)

    # ---- SIP inside the cluster -----------------------------------------------------

    def place_call(self, set_id: int, timeout: float = 120) -> int | None:
        """One call from a sipp caller pod to Kamailio's Service, as Bolna places it
        (``X-Trunk-Set: <set_id>``); returns the final status of the INVITE."""
        name = f"caller-{secrets.token_hex(3)}"
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": APP_NS,
                         "labels": {"app.kubernetes.io/name": "sip-caller"}},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "sipp", "image": self.images.sipp,
                    "imagePullPolicy": "IfNotPresent", "workingDir": "/tmp",
                    "args": [KAMAILIO_SIP, "-sf", "/usr/share/bolna-sipp/uac-with-set.xml",
                             "-key", "trunk_set", str(set_id), "-s", "15550100101",
                             "-m", "1", "-nostdin", "-timeout", "30s",
                             "-trace_msg", "-message_file", "/dev/stdout"],
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                "volumes": [{"name": "tmp", "emptyDir": {}}]}}
        self.kubectl.run("apply", "-f", "-", stdin=json.dumps(pod))
        try:
            wait_for(f"caller pod {name} to finish", lambda: self.get("pod", name)[
                "status"].get("phase") in ("Succeeded", "Failed"), timeout)
            trace = self.logs(f"pod/{name}", APP_NS)
        finally:
            self.kubectl.run("delete", "pod", name, "-n", APP_NS, "--wait=false")
        return final_invite_status_in(trace)

    def invites(self, gateway: str) -> int:
        """INVITEs a gateway pod has logged (deploy/sipp/gateway-uas.xml logs each)."""
        pods = self.pods(f"app.kubernetes.io/instance={gateway}", APP_NS)
        return sum(self.logs(f"pod/{p['metadata']['name']}", APP_NS).count("INVITE ")
                   for p in pods)
