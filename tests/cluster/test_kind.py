"""The chart's pods really serving, in a real kind cluster with the project's images.

The tests run in file order on one cluster and follow a user's day: the install, the
example trunk Ready everywhere, calls through the edge and a gateway failing, the
acting operator replica lost, a ``helm upgrade`` with the README's CRD step, and last
``helm uninstall``. Each asserts what a user sees: pods, SipTrunk status and Events,
what the Bolna emulator holds, what each Kamailio pod reports, which gateway a call
reached.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Any

import pytest
import yaml

from tests.cluster.kind import (
    APP_NS,
    EXAMPLE_CARRIER_TRUNK,
    EXAMPLE_TRUNK,
    KAMAILIO_DEPLOYMENT,
    KAMAILIO_SIP,
    LISTS_CONFIGMAP,
    OPERATOR_DEPLOYMENT,
    RELEASE,
    REPO,
    SYSTEM_NS,
    Cluster,
)
from tests.integration.helpers import condition, wait_for

# The first test also waits for the package's cluster fixture (kind-up: ~3-5 minutes).
pytestmark = pytest.mark.timeout(1800)

OPERATOR_PODS = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
KAMAILIO_PODS = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=kamailio"
CHART = REPO / "charts" / "bolna-sip-operator"
PEERING = f"{SYSTEM_NS}-{OPERATOR_DEPLOYMENT}"
EXAMPLE_MANIFEST = next(d for d in yaml.safe_load_all(
    (REPO / "examples" / "kind" / "siptrunk.yaml").read_text()) if d["kind"] == "SipTrunk")


def ready(pod: dict[str, Any]) -> bool:
    return condition(pod, "Ready").get("status") == "True"


def set_id(cluster: Cluster) -> int:
    return int(cluster.trunk()["status"]["dispatcher"]["setId"])


def gateway_health(cluster: Cluster) -> dict[str, str]:
    """Gateway address -> health, from the example trunk's status."""
    return {g["gatewayAddress"].split(".")[0]: g["health"]
            for g in cluster.trunk()["status"].get("gateways", [])}


def resolved_targets(status: dict[str, Any]) -> set[tuple[str, str]]:
    """(gateway name, destination URI) for every address the status shows under the two
    gateway Services' names (a ClusterIP each), each Healthy."""
    found = {(g["gatewayAddress"], a["uri"]) for g in status["gateways"]
             for a in g.get("addresses") or () if a["health"] == "Healthy"}
    assert {name for name, _ in found} == {
        f"sip-gw-{i}.telephony.svc.cluster.local" for i in (1, 2)}, status["gateways"]
    assert all(not uri.startswith("sip:sip-gw-") for _, uri in found), found
    return found


def held_targets(targets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(host from the attrs, URI) of a set's destinations in ``dispatcher.list``."""
    held = set()
    for target in targets:
        attrs = dict(item.partition("=")[::2]
                     for item in target["DEST"]["ATTRS"]["BODY"].split(";"))
        held.add((attrs.get("host", ""), target["DEST"]["URI"]))
    return held


def trunk_ready(cluster: Cluster) -> bool:
    trunk = cluster.trunk()
    return (condition(trunk, "Ready").get("status") == "True"
            and trunk["status"].get("observedGeneration") == trunk["metadata"]["generation"])


def posts_to_bolna(cluster: Cluster) -> int:
    """Create calls the emulator has answered (any account)."""
    return sum(r["count"] for r in cluster.emulator("stats")["routes"]
               if r["method"] == "POST" and r["route"] == "/sip-trunks/trunks")


def operator_logs(cluster: Cluster) -> str:
    return "\n".join(cluster.logs(f"pod/{p['metadata']['name']}", SYSTEM_NS)
                     for p in cluster.pods(OPERATOR_PODS))


def acting_operator(cluster: Cluster) -> str:
    """The operator pod that acts, as Kopf's peering decides it: every replica keeps a
    heartbeat (its pod name, its priority, a lifetime) in the ClusterKopfPeering's
    status, and only the live one with the highest priority acts; the others pause."""
    peering = json.loads(cluster.kubectl.run(
        "get", "clusterkopfpeering", PEERING, "-o", "json").stdout)
    running = {p["metadata"]["name"] for p in cluster.pods(OPERATOR_PODS) if ready(p)}
    heartbeats = peering.get("status", {})
    peers: dict[str, int] = {pod: info["priority"] for pod, info in heartbeats.items()
                             if pod in running}
    assert len(peers) == len(running) == 2, (heartbeats, running)
    return max(peers, key=peers.__getitem__)


# ---- the install --------------------------------------------------------------------

def test_chart_pods_ready_one_operator_acting(cluster: Cluster) -> None:
    """helm install: 2 operator pods (one acting) and 2 Kamailio pods Ready, under the
    restricted Pod Security Standard, with no Forbidden in the operator's log."""
    namespace = cluster.get("namespace", SYSTEM_NS, namespace=SYSTEM_NS)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    operators = cluster.pods(OPERATOR_PODS)
    kamailios = cluster.pods(KAMAILIO_PODS)
    assert len(operators) == 2 and all(map(ready, operators)), operators
    assert len(kamailios) == 2 and all(map(ready, kamailios)), kamailios
    images = {c["image"] for p in operators for c in p["spec"]["containers"]}
    assert images == {cluster.images.operator}
    images = {c["image"] for p in kamailios for c in p["spec"]["containers"]}
    assert images == {cluster.images.kamailio}
    acting_operator(cluster)
    logs = operator_logs(cluster)
    assert "Forbidden" not in logs and "forbidden" not in logs


def test_example_trunk_ready_in_bolna_and_every_kamailio(cluster: Cluster) -> None:
    """The example SipTrunk over two gateway pods: Ready with GATEWAYS 2/2; the emulator
    pod holds it; every Kamailio pod holds its set (through the real kubelet's volume)."""
    trunk = cluster.trunk()
    status = trunk["status"]
    assert condition(trunk, "Ready")["status"] == "True", status
    assert condition(trunk, "DispatcherSynced")["status"] == "True", status
    assert status["healthyGateways"] == "2/2"
    wide = cluster.kubectl.run("get", "siptrunk", EXAMPLE_TRUNK, "-n", APP_NS, "-o", "wide")
    assert "2/2" in wide.stdout and "True" in wide.stdout

    held = [t for t in cluster.bolna_trunks() if t["id"] == status["trunkId"]]
    assert len(held) == 1 and held[0]["name"] == trunk["spec"]["name"]
    assert sorted(g["gateway_address"] for g in held[0]["gateways"]) == [
        "sip-gw-1.telephony.svc.cluster.local", "sip-gw-2.telephony.svc.cluster.local"]
    assert [n["phone_number"] for n in held[0]["phone_numbers"]] == ["15550100101"]

    # The operator resolved each Service's name through CoreDNS (its ClusterIP): one
    # destination per address, naming the gateway's host for TLS.
    wanted = resolved_targets(status)
    for pod in cluster.pods(KAMAILIO_PODS):
        answer = cluster.kamailio_rpc(pod, "dispatcher.list")
        sets = {s["SET"]["ID"]: s["SET"]["TARGETS"]
                for s in answer["result"]["RECORDS"]}
        assert held_targets(sets[set_id(cluster)]) == wanted, (pod["metadata"]["name"],
                                                               answer)


def test_example_carrier_trunk_ready_beside_it_on_the_same_edge(cluster: Cluster) -> None:
    """The example CarrierTrunk over the same two gateway pods, on the chart's CRD and
    RBAC: Ready with GATEWAYS 2/2; Bolna's /trunk API (the emulator pod) holds it with
    its children; its status shows Bolna's own health and the carrier allowlist beside
    the edge's OPTIONS health; every Kamailio pod holds its set, apart from the
    SipTrunk's, and its carrier IPs as permissions entries of that set."""
    trunk = cluster.carrier_trunk()
    status = trunk["status"]
    assert condition(trunk, "Ready")["status"] == "True", status
    assert status["healthyGateways"] == "2/2"
    assert status["bolna"]["health"] == "WaitingForCarrier"
    assert status["carrierAllowlist"]["sipDomain"]
    wide = cluster.kubectl.run("get", "carriertrunk", EXAMPLE_CARRIER_TRUNK, "-n", APP_NS,
                               "-o", "wide")
    assert "2/2" in wide.stdout and "WaitingForCarrier" in wide.stdout

    [held] = [t for t in cluster.bolna_carrier_trunks() if t["id"] == status["trunkId"]]
    assert held["name"] == trunk["spec"]["name"]
    assert [(g["host"], g["priority"]) for g in held["gateways"]] == [
        ("sip-gw-1.telephony.svc.cluster.local", 1), ("sip-gw-2.telephony.svc.cluster.local", 2)]
    assert [a["cidr"] for a in held["ip_acls"]] == ["10.244.0.0/16"]
    assert [n["e164"] for n in held["numbers"]] == ["+15550100102"]

    carrier_set = int(status["dispatcher"]["setId"])
    assert carrier_set != set_id(cluster)
    wanted = resolved_targets(status)
    for pod in cluster.pods(KAMAILIO_PODS):
        answer = cluster.kamailio_rpc(pod, "dispatcher.list")
        sets = {s["SET"]["ID"]: s["SET"]["TARGETS"] for s in answer["result"]["RECORDS"]}
        assert held_targets(sets[carrier_set]) == wanted, answer
        subnets = cluster.kamailio_rpc(pod, "permissions.subnetDump")
        loaded = {(e["group"], e["item"]["ip"], e["item"]["mask"]) for e in subnets["result"]}
        assert (carrier_set, "10.244.0.0", 16) in loaded, subnets


def test_each_kamailio_pod_loads_the_lists_through_its_edge_agent(cluster: Cluster) -> None:
    """The edge agent sidecar (the chart's default): in every Kamailio pod it started
    before Kamailio, reloaded it, and reports on /readyz the very lists the operator
    wrote (the digests of the ConfigMap's manifest); the trunks' DispatcherSynced was
    set by reading each replica back, with no reload from the operator."""
    lists = cluster.get("configmap", LISTS_CONFIGMAP, namespace=SYSTEM_NS)["data"]
    manifest = json.loads(lists["lists.json"])
    assert manifest["shards"] == 1
    for pod in cluster.pods(KAMAILIO_PODS):
        name = pod["metadata"]["name"]
        (agent,) = pod["spec"]["initContainers"]
        assert agent["name"] == "edge-agent" and agent["restartPolicy"] == "Always"
        assert agent["image"] == cluster.images.operator
        (state,) = pod["status"]["initContainerStatuses"]
        assert state["started"] and state["ready"], state
        script = ("import urllib.request; print(urllib.request.urlopen("
                  "'http://127.0.0.1:8091/readyz', timeout=5).read().decode())")
        report = json.loads(cluster.kubectl.run(
            "exec", "-n", SYSTEM_NS, name, "-c", "edge-agent", "--", "python3", "-c",
            script).stdout)
        assert report["dispatcherSha256"] == manifest["dispatcherSha256"], report
        assert report["addressSha256"] == manifest["addressSha256"], report
        assert report["reloadsOwed"] == [] and report["lastError"] is None, report
        log = cluster.logs(f"pod/{name}", SYSTEM_NS)
        assert "Kamailio reloaded dispatcher" in log and "Traceback" not in log, log
    for pod in cluster.pods(OPERATOR_PODS):
        script = ("import urllib.request; print(urllib.request.urlopen("
                  "'http://127.0.0.1:9090/metrics', timeout=5).read().decode())")
        metrics = cluster.kubectl.run("exec", "-n", SYSTEM_NS, pod["metadata"]["name"],
                                      "--", "python3", "-c", script).stdout
        assert "# TYPE bolna_sip_kamailio_reloads_total counter" in metrics
        sent = [line for line in metrics.splitlines()
                if line.startswith("bolna_sip_kamailio_reloads_total{")]
        assert all(line.endswith(" 0.0") for line in sent), sent


# ---- calls through the edge ----------------------------------------------------------

def test_call_reaches_priority_one_then_fails_over(cluster: Cluster) -> None:
    """A call from a caller pod through Kamailio's Service with the trunk's set header
    reaches the priority-1 gateway pod. Stop that pod: the next call reaches priority 2,
    status marks gateway 1 Unhealthy and a GatewayDown Event says so."""
    before = {gw: cluster.invites(gw) for gw in ("sip-gw-1", "sip-gw-2")}
    assert cluster.place_call(set_id(cluster)) == 200
    assert cluster.invites("sip-gw-1") == before["sip-gw-1"] + 1
    assert cluster.invites("sip-gw-2") == before["sip-gw-2"]

    cluster.kubectl.run("scale", "deployment/sip-gw-1", "-n", APP_NS, "--replicas=0")
    wait_for("sip-gw-1's pod to be gone",
             lambda: not cluster.pods("app.kubernetes.io/instance=sip-gw-1", APP_NS), 120)
    before_gw2 = cluster.invites("sip-gw-2")
    assert cluster.place_call(set_id(cluster)) == 200
    assert cluster.invites("sip-gw-2") == before_gw2 + 1

    wait_for("gateway 1 Unhealthy in status",
             lambda: gateway_health(cluster).get("sip-gw-1") == "Unhealthy", 120)
    assert gateway_health(cluster)["sip-gw-2"] == "Healthy"
    assert cluster.trunk()["status"]["healthyGateways"] == "1/2"
    events = cluster.get("events", selector="", namespace=APP_NS)["items"]
    down = [e for e in events if e["reason"] == "GatewayDown"
            and e["involvedObject"]["name"] == EXAMPLE_TRUNK]
    assert down and "sip-gw-1" in down[-1]["message"], [e["message"] for e in down]

    cluster.kubectl.run("scale", "deployment/sip-gw-1", "-n", APP_NS, "--replicas=1")
    wait_for("gateway 1 Healthy again",
             lambda: gateway_health(cluster).get("sip-gw-1") == "Healthy", 180)
    wait_for("the trunk Ready again", lambda: trunk_ready(cluster), 120)


# ---- the acting operator lost ---------------------------------------------------------

def test_acting_operator_deleted_the_other_takes_over(cluster: Cluster) -> None:
    """Delete the acting operator pod: the other replica takes over, Bolna sees no second
    create, and status keeps following spec."""
    acting = acting_operator(cluster)
    creates = posts_to_bolna(cluster)
    trunk_id = cluster.trunk()["status"]["trunkId"]
    cluster.kubectl.run("delete", "pod", acting, "-n", SYSTEM_NS, "--wait=false")

    patch = {"spec": {"description": "changed after the acting replica was lost"}}
    cluster.kubectl.run("patch", "siptrunk", EXAMPLE_TRUNK, "-n", APP_NS, "--type=merge",
                        "-p", json.dumps(patch))
    wait_for("the change in Bolna", lambda: any(
        t["id"] == trunk_id and t.get("description") == patch["spec"]["description"]
        for t in cluster.bolna_trunks()), 180, interval=2)
    wait_for("the trunk Ready at its new generation", lambda: trunk_ready(cluster), 120)
    assert cluster.trunk()["status"]["trunkId"] == trunk_id
    assert posts_to_bolna(cluster) == creates
    wait_for("two operator pods Ready again", lambda: len(
        [p for p in cluster.pods(OPERATOR_PODS) if ready(p)]) == 2, 180)
    assert acting_operator(cluster) != acting


# ---- deletion order -----------------------------------------------------------------

def test_a_namespace_deletion_takes_its_trunks_out_of_bolna(cluster: Cluster) -> None:
    """The real namespace controller deletes a namespace's Secrets and SipTrunks at
    once. The chart watches all namespaces and holds token Secrets only in those
    ``tokenSecretNamespaces`` lists (none here), so the token Secret may go first: the
    trunk's deletion uses the token the operator last used for it, the Bolna trunk is
    deleted, then everything goes and the namespace with it."""
    namespace = "teardown"
    cluster.kubectl.run("create", "namespace", namespace)
    trunk = json.loads(json.dumps(EXAMPLE_MANIFEST))
    trunk["metadata"] = {"name": "doomed", "namespace": namespace}
    trunk["spec"]["name"] = "Doomed"
    trunk["spec"].pop("phoneNumbers", None)  # the example trunk holds its number
    trunk["spec"]["apiTokenSecretRef"] = {"name": "own-token", "key": "token"}
    documents = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "own-token", "namespace": namespace}, "stringData": {"token": "dev-token"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "kind-sip", "namespace": namespace},
         "stringData": {"password": "kind-placeholder"}},
        trunk]
    cluster.kubectl.run("apply", "-f", "-", stdin="\n---\n".join(
        json.dumps(d) for d in documents))
    synced = wait_for("the trunk synced with Bolna", lambda: (
        lambda t: t if condition(t, "Synced").get("status") == "True" else None)(
            cluster.get("siptrunk", "doomed", namespace=namespace)), 180)
    trunk_id = synced["status"]["trunkId"]
    assert trunk_id in [t["id"] for t in cluster.bolna_trunks()]
    cluster.kubectl.run("delete", "namespace", namespace, "--wait=false")
    wait_for("the namespace gone", lambda: cluster.kubectl.run(
        "get", "namespace", namespace, check=False).returncode != 0, 240)
    assert trunk_id not in [t["id"] for t in cluster.bolna_trunks()]


# ---- the flood ban through the Service (issue 28) ----------------------------------------

#: A stranger's SIP sender (Python in the operator image, sharing no code with the
#: project): ``probe`` sends one OPTIONS and prints the status of its answer or
#: ``silent`` after 3 s; ``flood N RATE`` sends N OPTIONS at RATE a second and prints how
#: many were answered. Every request is a new transaction (own branch and Call-ID), all
#: from one source port, so the Service's conntrack sends them all to one Kamailio pod.
STRANGER_SIP = r"""
import socket, sys, time, uuid
host, _, port = sys.argv[1].rpartition(":")
address = (socket.gethostbyname(host), int(port))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 15070))
sock.connect(address)
me = sock.getsockname()[0]

def options(seq):
    call = uuid.uuid4().hex
    sock.send((f"OPTIONS sip:{address[0]}:{address[1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {me}:15070;branch=z9hG4bK{call};rport\r\n"
               "Max-Forwards: 70\r\n"
               f"From: <sip:stranger@{me}>;tag={call[:8]}\r\n"
               f"To: <sip:{address[0]}>\r\nCall-ID: {call}\r\nCSeq: {seq} OPTIONS\r\n"
               "User-Agent: cluster-test-stranger\r\nContent-Length: 0\r\n\r\n").encode())
    return call

def answers(wait):
    sock.settimeout(wait)
    found = []
    while True:
        try:
            found.append(sock.recv(65535).decode(errors="replace"))
        except OSError:
            return found

if sys.argv[2] == "probe":
    call = options(1)
    mine = [a for a in answers(3.0) if call in a]
    print(mine[0].split(" ", 2)[1] if mine else "silent")
else:
    count, rate = int(sys.argv[3]), float(sys.argv[4])
    start, got = time.monotonic(), 0
    for seq in range(1, count + 1):
        options(seq)
        time.sleep(max(0.0, start + seq / rate - time.monotonic()))
        got += len(answers(0.0001))
    print(got + len(answers(2.0)))
"""


def edge_counter(cluster: Cluster, name: str) -> int:
    """A Kamailio statistic of the edge (``edge_flood_bans``, ...), summed over the
    Kamailio pods, read from each with ``stats.fetch``."""
    total = 0
    for pod in cluster.pods(KAMAILIO_PODS):
        stats = cluster.kamailio_rpc(pod, "stats.fetch", "script:")["result"]
        total += int(stats.get(f"script.{name}", 0))
    return total


def edge_metric(cluster: Cluster, metric: str) -> int:
    """An edge counter as the operator exports it on /metrics, summed over the Kamailio
    replicas: the most any operator pod shows (only the acting one polls the Kamailio
    pods; a standby shows what it last read)."""
    script = ("import urllib.request; print(urllib.request.urlopen("
              "'http://127.0.0.1:9090/metrics', timeout=5).read().decode())")
    shown = [0]
    for pod in cluster.pods(OPERATOR_PODS):
        metrics = cluster.kubectl.run("exec", "-n", SYSTEM_NS, pod["metadata"]["name"],
                                      "--", "python3", "-c", script).stdout
        shown.append(int(sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                             if line.startswith(f"{metric}{{"))))
    return max(shown)


def without(networks: list[str], address: str) -> list[str]:
    """The networks with one address cut out of them."""
    cut = ipaddress.ip_network(f"{address}/32")
    kept: list[str] = []
    for text in networks:
        network = ipaddress.ip_network(text)
        if network.version == cut.version and cut.subnet_of(network):  # type: ignore[arg-type]
            kept += sorted(str(n) for n in network.address_exclude(cut))  # type: ignore[arg-type]
        else:
            kept.append(text)
    return kept


def carrier_acls_loaded(cluster: Cluster, carrier_set: int, cidrs: list[str]) -> bool:
    """Every Kamailio pod holds exactly these carrier blocks for the carrier's set (a /32
    is an address, in another table)."""
    wanted = {(c.split("/")[0], int(c.split("/")[1])) for c in cidrs
              if not c.endswith("/32")}
    for pod in cluster.pods(KAMAILIO_PODS):
        subnets = cluster.kamailio_rpc(pod, "permissions.subnetDump")["result"]
        loaded = {(e["item"]["ip"], e["item"]["mask"]) for e in subnets
                  if e["group"] == carrier_set}
        if loaded != wanted:
            return False
    return True


def test_flooding_stranger_banned_through_the_service_trusted_caller_still_calls(
        cluster: Cluster) -> None:
    """A stranger pod, out of the trusted side and of every carrier's IPs, floods
    Kamailio's Service with OPTIONS: the edge answers it at first, then bans it (its
    requests are dropped unanswered, the edge's drop counter says so) and the acting
    operator's bolna_sip_edge_flood_bans_total rises; a caller pod on the trusted side
    still places a call through the Service. In kind every pod is in the private ranges
    the chart trusts and in the example CarrierTrunk's carrier IPs (the pod network), so
    the test cuts the stranger's address out of both (``helm upgrade`` with narrowed
    kamailio.trustedNetworks, a patch of the carrier's ipAcls) and puts both back (new
    Kamailio pods: no ban left)."""
    name = f"stranger-{secrets.token_hex(3)}"
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": APP_NS},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "stranger", "image": cluster.images.operator,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", "import time; time.sleep(3600)"],
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}}]}}
    cluster.kubectl.run("apply", "-f", "-", stdin=json.dumps(pod))
    carrier = cluster.carrier_trunk()
    carrier_set = int(carrier["status"]["dispatcher"]["setId"])
    old_acls = carrier["spec"]["ipAcls"]
    upgraded = False
    try:
        stranger = wait_for(f"pod {name} running", lambda: (
            lambda p: p["status"].get("podIP") if p["status"].get("phase") == "Running"
            else None)(cluster.get("pod", name)), 180)

        def sip(*args: str) -> str:
            return str(cluster.kubectl.run(
                "exec", "-n", APP_NS, name, "--", "python3", "-c", STRANGER_SIP,
                KAMAILIO_SIP, *args).stdout.strip())

        values = json.loads(cluster.helm("get", "values", RELEASE, "-n", SYSTEM_NS,
                                         "--all", "-o", "json"))
        old_trusted = values["kamailio"]["trustedNetworks"]
        trusted = without(old_trusted, stranger)
        assert not any(ipaddress.ip_address(stranger) in ipaddress.ip_network(n)
                       for n in trusted)
        upgraded = True
        cluster.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM_NS, "--reuse-values",
                     "--set-json", f"kamailio.trustedNetworks={json.dumps(trusted)}",
                     "--wait", "--timeout", "5m")
        cluster.kubectl.run("rollout", "status", f"deployment/{KAMAILIO_DEPLOYMENT}", "-n",
                            SYSTEM_NS, "--timeout=300s")
        acls = [{"cidr": c} for a in old_acls
                for c in without([a["cidr"]], stranger)]
        cluster.kubectl.run("patch", "carriertrunk", EXAMPLE_CARRIER_TRUNK, "-n", APP_NS,
                            "--type=merge", "-p", json.dumps({"spec": {"ipAcls": acls}}))
        wait_for("every Kamailio pod without the stranger in the carrier's IPs",
                 lambda: carrier_acls_loaded(cluster, carrier_set,
                                             [a["cidr"] for a in acls]), 240, interval=2)
        wait_for("the trunk Ready after the upgrade", lambda: trunk_ready(cluster), 180)

        # Not trusted and not a carrier, below the rate: answered (403: a stranger).
        assert sip("probe") == "403"
        bans, metric_bans = (edge_counter(cluster, "edge_flood_bans"),
                             edge_metric(cluster, "bolna_sip_edge_flood_bans_total"))
        answered = int(sip("flood", "300", "100"))
        assert 0 < answered < 300, answered
        assert edge_counter(cluster, "edge_flood_bans") == bans + 1
        wait_for("the acting operator's bolna_sip_edge_flood_bans_total to rise", lambda:
                 edge_metric(cluster, "bolna_sip_edge_flood_bans_total") > metric_bans,
                 120, interval=2)
        # Banned: the next request is dropped, which the drop counter shows.
        drops = edge_counter(cluster, "edge_flood_drops")
        assert sip("probe") == "silent"
        wait_for("the edge to count the stranger's dropped request",
                 lambda: edge_counter(cluster, "edge_flood_drops") > drops, 30, interval=1)
        logs = "\n".join(cluster.logs(f"pod/{p['metadata']['name']}", SYSTEM_NS)
                         for p in cluster.pods(KAMAILIO_PODS))
        assert f"banned {stranger} for" in logs

        # The trusted side is never banned: a call through the same Service still goes.
        before = cluster.invites("sip-gw-1")
        assert cluster.place_call(set_id(cluster)) == 200
        assert cluster.invites("sip-gw-1") == before + 1
    finally:
        cluster.kubectl.run("delete", "pod", name, "-n", APP_NS, "--wait=false")
        if upgraded:  # not helm rollback: it would put back the lists ConfigMap as the
            # old revision rendered it, without what the operator wrote since
            cluster.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM_NS, "--reuse-values",
                         "--set-json", f"kamailio.trustedNetworks={json.dumps(old_trusted)}",
                         "--wait", "--timeout", "5m")
        # After the upgrade, not during it: helm writes the lists ConfigMap as it read it
        # when rendering, over whatever the operator wrote meanwhile.
        cluster.kubectl.run("patch", "carriertrunk", EXAMPLE_CARRIER_TRUNK, "-n", APP_NS,
                            "--type=merge", "-p", json.dumps({"spec": {"ipAcls": old_acls}}))
    wait_for("every Kamailio pod with the carrier's IPs back",
             lambda: carrier_acls_loaded(cluster, carrier_set,
                                         [a["cidr"] for a in old_acls]), 240, interval=2)
    wait_for("the trunk Ready with the edge put back", lambda: trunk_ready(cluster), 180)


# ---- helm upgrade and uninstall --------------------------------------------------------

def test_helm_upgrade_rolls_pods_keeps_lists_and_trunks(cluster: Cluster) -> None:
    """The README's upgrade: CRDs applied server-side, then ``helm upgrade`` with changed
    values. The pods roll, the lists ConfigMap keeps what the operator wrote, the
    SipTrunk stays Ready."""
    lists = cluster.get("configmap", LISTS_CONFIGMAP, namespace=SYSTEM_NS)["data"]
    assert "sip-gw-1" in lists["dispatcher.list"]
    old_pods = {p["metadata"]["name"] for p in cluster.pods(
        f"app.kubernetes.io/instance={RELEASE}")}

    cluster.kubectl.run("apply", "--server-side", "-f", str(CHART / "crds"))
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM_NS, "--reuse-values",
                 "--set", "kamailio.pingInterval=5", "--set", "bolna.driftInterval=120",
                 "--wait", "--timeout", "5m")

    for deployment in (OPERATOR_DEPLOYMENT, KAMAILIO_DEPLOYMENT):
        cluster.kubectl.run("rollout", "status", f"deployment/{deployment}", "-n",
                            SYSTEM_NS, "--timeout=300s")
    new_pods = {p["metadata"]["name"] for p in cluster.pods(
        f"app.kubernetes.io/instance={RELEASE}")}
    assert new_pods and not new_pods & old_pods, (old_pods, new_pods)
    kept = cluster.get("configmap", LISTS_CONFIGMAP, namespace=SYSTEM_NS)["data"]
    assert kept["dispatcher.list"] == lists["dispatcher.list"]
    wait_for("the trunk Ready after the upgrade", lambda: trunk_ready(cluster), 180)
    assert cluster.trunk()["status"]["healthyGateways"] == "2/2"


def test_helm_uninstall_leaves_bolna_trunks_and_crd(cluster: Cluster) -> None:
    """``helm uninstall`` removes the operator and Kamailio, and leaves what the README
    says it leaves: the CRD, every SipTrunk, the lists ConfigMap and Bolna's trunks."""
    trunk_id = cluster.trunk()["status"]["trunkId"]
    cluster.helm("uninstall", RELEASE, "-n", SYSTEM_NS, "--wait", "--timeout", "5m")
    wait_for("the chart's pods to be gone", lambda: not cluster.pods(
        f"app.kubernetes.io/instance={RELEASE}"), 180)
    cluster.kubectl.run("get", "crd", "siptrunks.sip.bolna.ai")
    assert cluster.trunk()["status"]["trunkId"] == trunk_id
    cluster.get("configmap", LISTS_CONFIGMAP, namespace=SYSTEM_NS)
    assert [t["id"] for t in cluster.bolna_trunks()] == [trunk_id]
