"""The chart installed into a real kube-apiserver, and the operator run on its RBAC.

There are no nodes, so no pod ever runs: the tests check what the apiserver stores
(``helm install`` and ``helm upgrade`` against real admission and validation, in
namespaces that enforce the "restricted" Pod Security Standard), then run
``bolna-sip-operator run`` here, with the arguments of the Deployment the chart made and
a token of the ServiceAccount the chart made, against the Bolna emulator. A SipTrunk
becoming Synced, with the edge's ConfigMap and the peering written and no Forbidden
answer in the log, shows the chart's RBAC is enough; ``kubectl auth can-i`` shows what
lies outside it is refused.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_devenv.processes import free_ports
from bolna_emulator.process import EmulatorProcess
from tests.chart.chart import CHART, Helm, flags, parse, value_args
from tests.corpus import USERPASS_SPEC, manifest
from tests.kubectl import Kubectl

TOKEN = "canary-token-chart-5e1d07"
DECOY_TOKEN = "canary-token-chart-decoy-2b9f"
PASSWORD = "canary-password-chart-77aa1c"
SECRETS = (TOKEN, DECOY_TOKEN, PASSWORD)
# How a refusal shows in Kopf's and the Kubernetes client's messages (not a bare "403",
# which a resourceVersion can be).
REFUSED = re.compile(r"Forbidden|forbidden|Not enough permissions|status=403|'code': 403|\(403\)")


@dataclass
class Release:
    """An installed release and the names the chart gave its objects."""

    name: str
    namespace: str
    install_output: str
    install_warnings: str

    @property
    def fullname(self) -> str:
        """The chart's full name for this release."""
        return f"{self.name}-bolna-sip-operator"

    @property
    def cluster_name(self) -> str:
        """Name of its cluster-scoped objects (and of its peering)."""
        return f"{self.namespace}-{self.fullname}"

    @property
    def user(self) -> str:
        """Its ServiceAccount as an RBAC user."""
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"


def fresh(prefix: str) -> str:
    """A namespace name nobody has used (namespaces never finish terminating here)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    """``kubectl get ... -o json``, parsed."""
    return dict(json.loads(kubectl.run("get", *args, "-o", "json").stdout))


def install(helm: Helm, kubectl: Kubectl, name: str, namespace: str,
            values: dict[str, Any]) -> Release:
    """Create the namespace, enforcing the "restricted" Pod Security Standard, and
    ``helm install`` the chart into it."""
    kubectl.run("create", "namespace", namespace)
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                "pod-security.kubernetes.io/warn=restricted")
    result = helm.run("install", name, str(CHART), "--namespace", namespace,
                      *value_args(values))
    return Release(name, namespace, result.stdout, result.stderr)


def service_account_kubeconfig(kubectl: Kubectl, plane: ControlPlane, release: Release,
                               path: Path) -> Path:
    """A kubeconfig holding a TokenRequest token of the release's ServiceAccount."""
    token = kubectl.run("create", "token", release.fullname, "-n", release.namespace,
                        "--duration", "1h").stdout.strip()
    document = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": plane.server,
                                                  "certificate-authority": str(plane.ca_file)}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": "operator"}}],
        "current-context": "operator"}
    path.touch(mode=0o600)
    path.write_text(json.dumps(document), encoding="utf-8")  # JSON is YAML
    return path


def can(kubectl: Kubectl, release: Release, *args: str) -> bool:
    """``kubectl auth can-i`` for the release's ServiceAccount."""
    result = kubectl.run("auth", "can-i", *args, "--as", release.user, check=False)
    return result.stdout.strip() == "yes"


def test_the_edge_agent_may_read_the_lists_and_nothing_else(kubectl: Kubectl,
                                                           release: Release) -> None:
    """``kubectl auth can-i`` as the Kamailio pods' ServiceAccount (the edge agent's)."""
    ns, lists = release.namespace, f"{release.fullname}-kamailio-lists"
    agent = f"system:serviceaccount:{ns}:{release.fullname}-edge-agent"

    def agent_can(*args: str) -> bool:
        result = kubectl.run("auth", "can-i", *args, "--as", agent, check=False)
        return result.stdout.strip() == "yes"

    allowed: list[tuple[str, ...]] = [
        ("get", f"configmaps/{lists}", "-n", ns), ("watch", f"configmaps/{lists}", "-n", ns),
        ("list", f"configmaps/{lists}", "-n", ns), ("get", f"configmaps/{lists}-7", "-n", ns)]
    refused = [("list", "configmaps", "-n", ns), ("get", "configmaps/other", "-n", ns),
               ("patch", f"configmaps/{lists}", "-n", ns),
               ("get", f"configmaps/{lists}-8", "-n", ns),
               ("get", "secrets", "-n", ns), ("list", "siptrunks.sip.bolna.ai", "-A"),
               ("list", "endpointslices.discovery.k8s.io", "-n", ns), ("*", "*")]
    wrong = [args for args in allowed if not agent_can(*args)]
    wrong += [args for args in refused if agent_can(*args)]
    assert not wrong, f"can-i answered wrongly for {wrong}"


def deployment_args(kubectl: Kubectl, release: Release) -> list[str]:
    """The operator container's arguments, as the apiserver stored them."""
    deployment = get(kubectl, "deployment", release.fullname, "-n", release.namespace)
    (box,) = deployment["spec"]["template"]["spec"]["containers"]
    return list(box["args"])


def local_args(args: list[str], token_file: Path) -> tuple[str, ...]:
    """The Deployment's arguments for a process on this machine: the token file here
    instead of the mounted Secret; OperatorProcess chooses the liveness port on
    127.0.0.1; metrics on a free loopback port."""
    local: list[str] = []
    for arg in args[1:]:  # args[0] is the subcommand, "run"
        name = arg.partition("=")[0]
        if name in ("--health-host", "--health-port"):
            continue
        if name == "--token-file":
            arg = f"--token-file={token_file}"
        elif name == "--metrics-port":
            arg = f"--metrics-port={free_ports(1)[0]}"
        local.append(arg)
    return tuple(local)


def condition(trunk: dict[str, Any], kind: str) -> dict[str, Any]:
    """One condition of a SipTrunk, or {}."""
    for item in (trunk.get("status") or {}).get("conditions") or ():
        if item.get("type") == kind:
            return dict(item)
    return {}


def wait_for(what: str, check: Any, timeout: float = 45) -> Any:
    """Poll until ``check()`` is truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def apply_trunk(kubectl: Kubectl, namespace: str, name: str, **spec: Any) -> None:
    """A userpass SipTrunk (with ``spec`` changes) and its password Secret, applied as
    the admin."""
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "twilio-sip"}, "stringData": {"password": PASSWORD}}
    trunk = manifest({**USERPASS_SPEC, "name": f"{namespace} {name}", **spec}, name=name)
    kubectl.run("apply", "-n", namespace, "-f", "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                  "items": [secret, trunk]}))


def trunk_when(kubectl: Kubectl, namespace: str, name: str, kind: str) -> dict[str, Any]:
    """The SipTrunk once condition ``kind`` is True for its current generation."""
    def check() -> dict[str, Any] | None:
        trunk = get(kubectl, "siptrunk", name, "-n", namespace)
        found = condition(trunk, kind)
        current = found.get("observedGeneration") == trunk["metadata"]["generation"]
        return trunk if found.get("status") == "True" and current else None
    return dict(wait_for(f"SipTrunk {namespace}/{name} {kind}", check))


def in_bolna(emulator: EmulatorProcess, trunk_id: str) -> dict[str, Any]:
    """The trunk as Bolna (the emulator) returns it."""
    answer = httpx.get(f"{emulator.url}/sip-trunks/trunks/{trunk_id}",
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def assert_clean_log(operator: OperatorProcess) -> None:
    """No refused request, and no secret, anywhere in the operator's log."""
    log = operator.log()
    refused = [line for line in log.splitlines() if REFUSED.search(line)]
    assert not refused, "the operator was refused:\n" + "\n".join(refused[:20])
    for secret in SECRETS:
        assert secret not in log, "a secret reached the operator's log"


def run_operator(kubectl: Kubectl, plane: ControlPlane, release: Release, workdir: Path
                 ) -> OperatorProcess:
    """The operator with the Deployment's arguments and the ServiceAccount's token.

    The default Bolna token comes from --token-file, as in the pod; the environment
    holds a decoy, so a trunk synced with the right account proves the file was read.
    """
    token_file = workdir / "token"
    token_file.touch(mode=0o600)
    token_file.write_text(TOKEN, encoding="utf-8")
    process = OperatorProcess(
        kubeconfig=service_account_kubeconfig(kubectl, plane, release,
                                              workdir / "kubeconfig"),
        bolna_url="http://127.0.0.1:1", token=DECOY_TOKEN, log_path=workdir / "operator.log",
        extra_args=local_args(deployment_args(kubectl, release), token_file))
    process.start()
    return process


# ---- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """Bolna, with one account: the chart's default token."""
    with EmulatorProcess(tokens=[TOKEN],
                         state_file=tmp_path_factory.mktemp("bolna") / "state.json") as bolna:
        yield bolna


@pytest.fixture(scope="module")
def admin_helm(helm: Helm, control_plane: ControlPlane) -> Helm:
    """helm as the cluster admin."""
    return helm.with_kubeconfig(control_plane.kubeconfig)


@pytest.fixture(scope="module")
def release(admin_helm: Helm, kubectl: Kubectl, emulator: EmulatorProcess) -> Release:
    """The chart with its defaults (all namespaces, the Kamailio edge), Bolna at the
    emulator."""
    return install(admin_helm, kubectl, "edge", fresh("sip"), {"bolna.url": emulator.url})


# ---- tests ---------------------------------------------------------------------------

def test_install_creates_every_object(admin_helm: Helm, kubectl: Kubectl,
                                      release: Release) -> None:
    """Every object of the release is stored (the apiserver validated each one), the
    four CRDs are Established, and the notes say how to check it works."""
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                "crd/siptrunks.sip.bolna.ai", "crd/carriertrunks.sip.bolna.ai",
                "crd/clusterkopfpeerings.kopf.dev",
                "crd/kopfpeerings.kopf.dev")
    objects = parse(admin_helm.run("get", "manifest", release.name,
                                   "--namespace", release.namespace).stdout)
    found = set()
    for doc in objects:
        meta = doc["metadata"]
        scope = ["-n", meta["namespace"]] if "namespace" in meta else []
        stored = get(kubectl, f"{doc['kind']}.{doc['apiVersion'].split('/')[0]}"
                     if "/" in doc["apiVersion"] else doc["kind"], meta["name"], *scope)
        assert stored["metadata"]["name"] == meta["name"]
        found.add((doc["kind"], meta["name"]))
    fullname, cluster = release.fullname, release.cluster_name
    assert {
        ("Deployment", fullname), ("ServiceAccount", fullname), ("ClusterRole", cluster),
        ("ClusterRoleBinding", cluster), ("Role", f"{fullname}-edge"),
        ("RoleBinding", f"{fullname}-edge"), ("PodDisruptionBudget", fullname),
        ("ClusterKopfPeering", cluster), ("Deployment", f"{fullname}-kamailio"),
        ("Service", f"{fullname}-kamailio"), ("ConfigMap", f"{fullname}-kamailio-lists"),
        ("ConfigMap", f"{fullname}-kamailio-config"), ("NetworkPolicy", f"{fullname}-kamailio"),
        ("PodDisruptionBudget", f"{fullname}-kamailio"), ("Service", f"{fullname}-metrics"),
    } <= found
    assert "kubectl get siptrunks -A -o wide" in release.install_output
    assert "kubectl get carriertrunks -A -o wide" in release.install_output
    # Pod Security admission checks the Deployments' pod templates against "restricted"
    # (no pod runs here, so it warns rather than refuses).
    assert "PodSecurity" not in release.install_warnings, release.install_warnings
    status = admin_helm.run("status", release.name, "--namespace", release.namespace).stdout
    assert "STATUS: deployed" in status


def test_service_account_may_do_its_job_and_nothing_else(kubectl: Kubectl,
                                                        release: Release) -> None:
    """``kubectl auth can-i`` as the chart's ServiceAccount."""
    ns, lists = release.namespace, f"{release.fullname}-kamailio-lists"
    allowed = [
        ("list", "siptrunks.sip.bolna.ai", "-A"), ("watch", "siptrunks.sip.bolna.ai", "-A"),
        ("patch", "siptrunks.sip.bolna.ai", "-n", "anywhere"),
        ("patch", "siptrunks.sip.bolna.ai", "--subresource=status", "-n", "anywhere"),
        ("list", "carriertrunks.sip.bolna.ai", "-A"),
        ("watch", "carriertrunks.sip.bolna.ai", "-A"),
        ("get", "carriertrunks.sip.bolna.ai", "-n", "anywhere"),
        ("patch", "carriertrunks.sip.bolna.ai", "-n", "anywhere"),
        ("patch", "carriertrunks.sip.bolna.ai", "--subresource=status", "-n", "anywhere"),
        ("get", "secrets", "-n", "anywhere"), ("watch", "secrets", "-A"),
        ("list", "secrets", "-A"),
        ("create", "events", "-n", "anywhere"),
        ("create", "events.events.k8s.io", "-n", "anywhere"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("watch", "clusterkopfpeerings.kopf.dev"),
        ("patch", f"clusterkopfpeerings.kopf.dev/{release.cluster_name}"),
        ("list", "endpointslices.discovery.k8s.io", "-n", ns),
        ("patch", f"configmaps/{lists}", "-n", ns), ("get", f"configmaps/{lists}", "-n", ns),
        # The lists' shards (edge agents, the default), by name.
        ("patch", f"configmaps/{lists}-7", "-n", ns), ("get", f"configmaps/{lists}-1", "-n", ns),
    ]
    refused = [
        ("create", "secrets", "-n", ns), ("update", "secrets", "-n", "anywhere"),
        ("delete", "secrets", "-n", ns),
        # Issue 23: no write to any Secret's data. A patch could rewrite data, so none
        # is granted cluster-wide: not where no trunk lives, not in kube-system.
        ("patch", "secrets", "-n", "anywhere"), ("patch", "secrets", "-n", "kube-system"),
        ("update", "secrets", "-n", "kube-system"), ("create", "secrets", "-n", "kube-system"),
        ("delete", "secrets", "-n", "kube-system"), ("patch", "secrets", "-n", ns),
        ("list", "pods", "-n", ns), ("list", "pods", "-A"),
        ("create", "pods", "-n", ns), ("create", "pods/exec", "-n", ns),
        ("delete", "siptrunks.sip.bolna.ai", "-n", "anywhere"),
        ("create", "siptrunks.sip.bolna.ai", "-n", "anywhere"),
        ("update", "siptrunks.sip.bolna.ai", "-n", "anywhere"),
        ("delete", "carriertrunks.sip.bolna.ai", "-n", "anywhere"),
        ("create", "carriertrunks.sip.bolna.ai", "-n", "anywhere"),
        ("update", "carriertrunks.sip.bolna.ai", "-n", "anywhere"),
        ("update", "carriertrunks.sip.bolna.ai", "--subresource=status", "-n", "anywhere"),
        ("list", "configmaps", "-n", ns), ("create", "configmaps", "-n", ns),
        ("delete", f"configmaps/{lists}-1", "-n", ns),
        ("patch", "configmaps/other", "-n", ns), ("get", "configmaps/kube-root-ca.crt", "-n", ns),
        ("delete", "configmaps/other", "-n", ns), ("patch", f"configmaps/{lists}-8", "-n", ns),
        ("list", "endpointslices.discovery.k8s.io", "-n", "default"),
        ("patch", "clusterkopfpeerings.kopf.dev/someone-else"),
        ("list", "namespaces"), ("create", "serviceaccounts/token", "-n", ns),
        ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("*", "*"),
    ]
    wrong = [args for args in allowed if not can(kubectl, release, *args)]
    wrong += [args for args in refused if can(kubectl, release, *args)]
    assert not wrong, f"can-i answered wrongly for {wrong}"


def test_upgrade_changes_values_and_keeps_the_lists(
        admin_helm: Helm, kubectl: Kubectl, control_plane: ControlPlane, release: Release,
        tmp_path: Path) -> None:
    """The operator's lists survive ``helm upgrade``; the changed values arrive."""
    lists = f"{release.fullname}-kamailio-lists"
    written = {"dispatcher.list": "# sets\n7 sip:192.0.2.10:5060 8 10 duid=gw-a\n",
               "address.list": "7 192.0.2.0 24 0 trunk\n"}
    # Written as the operator would: with its ServiceAccount, a merge patch.
    operator = kubectl.as_user(service_account_kubeconfig(
        kubectl, control_plane, release, tmp_path / "kubeconfig"))
    operator.run("patch", "configmap", lists, "-n", release.namespace, "--type", "merge",
                 "-p", json.dumps({"data": written}))
    admin_helm.run("upgrade", release.name, str(CHART), "--namespace", release.namespace,
                   "--reuse-values", *value_args({"replicaCount": 3, "bolna.driftInterval": 45}))
    deployment = get(kubectl, "deployment", release.fullname, "-n", release.namespace)
    assert deployment["spec"]["replicas"] == 3
    assert flags(deployment_args(kubectl, release))["--drift-interval"] == ["45"]
    stored = get(kubectl, "configmap", lists, "-n", release.namespace)
    assert stored["data"] == written
    history = admin_helm.run("history", release.name, "--namespace", release.namespace,
                             "-o", "json").stdout
    assert [entry["status"] for entry in json.loads(history)] == ["superseded", "deployed"]


def test_operator_works_on_the_charts_rbac(kubectl: Kubectl, control_plane: ControlPlane,
                                           emulator: EmulatorProcess, release: Release,
                                           tmp_path: Path) -> None:
    """All namespaces: the operator, as the chart's ServiceAccount with the chart's
    arguments (peering, the in-cluster edge), syncs a SipTrunk to Bolna, writes the
    lists ConfigMap and its peering heartbeat, and is never refused."""
    operator = run_operator(kubectl, control_plane, release, tmp_path)
    try:
        namespace = fresh("trunks")
        kubectl.run("create", "namespace", namespace)
        # A gateway by address: the operator resolves names itself, and this machine has
        # no resolver (a name would be Unhealthy, reason DNS, and write no line).
        apply_trunk(kubectl, namespace, "twilio",
                    gateways=[{"gatewayAddress": "192.0.2.10", "port": 5060}])
        # Synced, not Ready: Ready also needs a Kamailio replica holding the trunk, and
        # no pod runs here.
        trunk = trunk_when(kubectl, namespace, "twilio", "Synced")
        stored = in_bolna(emulator, trunk["status"]["trunkId"])
        assert stored["name"] == f"{namespace} twilio"

        lists = f"{release.fullname}-kamailio-lists"
        wait_for("the trunk's gateway in the lists ConfigMap", lambda: "sip:192.0.2.10:5060"
                 in get(kubectl, "configmap", lists, "-n", release.namespace)["data"].get(
                     "dispatcher.list", ""))
        peering = wait_for("a heartbeat in the peering object", lambda: get(
            kubectl, "clusterkopfpeering", release.cluster_name).get("status"))
        assert len(peering) == 1, peering
    finally:
        operator.stop()
    assert_clean_log(operator)


def test_operator_works_on_the_charts_rbac_in_listed_namespaces(
        admin_helm: Helm, kubectl: Kubectl, control_plane: ControlPlane,
        emulator: EmulatorProcess, tmp_path: Path) -> None:
    """Listed namespaces, no Kamailio: Roles and KopfPeerings in each watched namespace
    are enough for the operator to make a SipTrunk there Ready; elsewhere it may read
    no Secret."""
    watched = [fresh("team"), fresh("team")]
    for namespace in watched:
        kubectl.run("create", "namespace", namespace)
    release = install(admin_helm, kubectl, "teams", fresh("sip"),
                      {"bolna.url": emulator.url, "watchNamespaces": watched,
                       "kamailio.enabled": False})
    for namespace in watched:
        get(kubectl, "role", release.fullname, "-n", namespace)
        get(kubectl, "kopfpeering", release.cluster_name, "-n", namespace)
    assert can(kubectl, release, "get", "secrets", "-n", watched[0])
    assert not can(kubectl, release, "get", "secrets", "-n", release.namespace)
    # The in-use finalizer on token Secrets: patch where trunks live, nowhere else.
    assert can(kubectl, release, "patch", "secrets", "-n", watched[0])
    for elsewhere in (release.namespace, "kube-system", "default"):
        for verb in ("patch", "update", "list", "create"):
            assert not can(kubectl, release, verb, "secrets", "-n", elsewhere), (verb, elsewhere)
    assert not can(kubectl, release, "list", "siptrunks.sip.bolna.ai", "-A")
    assert not can(kubectl, release, "list", "carriertrunks.sip.bolna.ai", "-A")
    assert can(kubectl, release, "list", "carriertrunks.sip.bolna.ai", "-n", watched[0])

    operator = run_operator(kubectl, control_plane, release, tmp_path)
    try:
        apply_trunk(kubectl, watched[1], "twilio")
        trunk = trunk_when(kubectl, watched[1], "twilio", "Ready")  # no edge to wait for
        assert in_bolna(emulator, trunk["status"]["trunkId"])["name"] == f"{watched[1]} twilio"
        wait_for("a heartbeat in the namespace's peering object", lambda: get(
            kubectl, "kopfpeering", release.cluster_name, "-n", watched[1]).get("status"))
    finally:
        operator.stop()
    assert_clean_log(operator)


def test_token_secrets_may_be_held_only_in_the_namespaces_listed(
        admin_helm: Helm, kubectl: Kubectl, control_plane: ControlPlane,
        emulator: EmulatorProcess, tmp_path: Path) -> None:
    """Issue 23 item 3, all namespaces watched: ``tokenSecretNamespaces`` grants patch on
    Secrets (the in-use finalizer) in the namespaces it lists and nowhere else. With that
    RBAC the operator holds a token Secret there; in a namespace not listed it cannot,
    says so once, and the trunk is Ready all the same, and its deletion still finishes
    with the token the operator remembers after its Secret went first."""
    held, unheld = fresh("held"), fresh("unheld")
    for namespace in (held, unheld):
        kubectl.run("create", "namespace", namespace)
    release = install(admin_helm, kubectl, "holds", fresh("sip"),
                      {"bolna.url": emulator.url, "kamailio.enabled": False,
                       "tokenSecretNamespaces": [held]})
    assert can(kubectl, release, "patch", "secrets", "-n", held)
    for elsewhere in (unheld, release.namespace, "kube-system"):
        assert not can(kubectl, release, "patch", "secrets", "-n", elsewhere), elsewhere
        assert not can(kubectl, release, "update", "secrets", "-n", elsewhere), elsewhere
    assert can(kubectl, release, "list", "secrets", "-A")  # metadata is what it asks for

    operator = run_operator(kubectl, control_plane, release, tmp_path)
    try:
        for namespace in (held, unheld):
            kubectl.run("create", "secret", "generic", "own-token", "-n", namespace,
                        f"--from-literal=token={TOKEN}")
            apply_trunk(kubectl, namespace, "own", apiTokenSecretRef={
                "name": "own-token", "key": "token"})
        for namespace in (held, unheld):
            trunk_when(kubectl, namespace, "own", "Ready")
        finalizers = get(kubectl, "secret", "own-token", "-n", held)["metadata"].get(
            "finalizers", [])
        assert finalizers == ["sip.bolna.ai/in-use"]
        assert not get(kubectl, "secret", "own-token", "-n", unheld)["metadata"].get(
            "finalizers")
        wait_for("the operator saying it may not hold the token Secret", lambda:
                 f"may not patch Secrets in namespace {unheld}" in operator.log())
        # The Secret first, then the trunk (kubectl delete -f order): the trunk's
        # deletion uses the token the operator last used for it.
        trunk_id = get(kubectl, "siptrunk", "own", "-n", unheld)["status"]["trunkId"]
        kubectl.run("delete", "secret", "own-token", "-n", unheld)
        kubectl.run("delete", "siptrunk", "own", "-n", unheld, "--timeout=60s")
        assert trunk_id not in json.dumps(emulator.state())
    finally:
        operator.stop()
    assert operator.log().count(f"may not patch Secrets in namespace {unheld}") == 1
