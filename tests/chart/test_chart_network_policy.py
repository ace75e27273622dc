"""Who may reach what the chart runs: the operator's NetworkPolicy (metrics and health)
and the edge's trusted side (``kamailio.trustedNetworks``, Kamailio's TRUSTED_NETWORKS).

``helm template`` with the pinned helm; the real apiserver validates the policies
(server-side dry run); the real Kamailio 5.6, started with the rendered command line on
loopback, refuses a call from outside the rendered trusted networks and routes one
from inside them. Issue 15, item 9.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_devenv.sip_peer import place_call
from tests.chart.chart import (
    CHART,
    REPO,
    VALUES_DIR,
    Helm,
    Manifest,
    Manifests,
    container,
    defines,
    rendered_kamailio,
    value_args,
)
from tests.kubectl import Kubectl

EVERYTHING = VALUES_DIR / "everything.yaml"
RELEASE, NAMESPACE = "edge", "telephony"
FULLNAME = "edge-bolna-sip-operator"
KAMAILIO = f"{FULLNAME}-kamailio"
#: The kind cluster's pod network (hack/kind/cluster.yaml): the cluster tests call from it.
KIND_POD_SUBNET = ipaddress.IPv4Network("10.244.0.0/16")


def labels_of(deployment: Manifest) -> dict[str, str]:
    """Labels of the Deployment's pods."""
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    """A matchLabels selector against a set of labels."""
    return all(labels.get(key) == value for key, value in match_labels.items())


def policies_by_component(manifests: Manifests) -> dict[str, Manifest]:
    """The NetworkPolicies by the component their pods are."""
    return {p["metadata"]["labels"]["app.kubernetes.io/component"]: p
            for p in manifests.of_kind("NetworkPolicy")}


def rules_by_port(policy: Manifest) -> dict[str | int, list[Any] | None]:
    """Each ingress rule's peers (None: any source), by the one port it opens."""
    found: dict[str | int, list[Any] | None] = {}
    for rule in policy["spec"]["ingress"]:
        assert len(rule["ports"]) == 1, rule
        [port] = rule["ports"]
        assert port["protocol"] == "TCP"
        found[port["port"]] = rule.get("from")
    return found


# ---- the operator's NetworkPolicy -----------------------------------------------------


def test_metrics_only_from_the_configured_peers_by_default(defaults: Manifests) -> None:
    """Default: the operator's pods take metrics scrapes from their own namespace and the
    namespace named "monitoring", and /healthz from nobody but their node (the kubelet,
    which a NetworkPolicy always lets through)."""
    policy = policies_by_component(defaults)["operator"]
    assert policy["metadata"]["name"] == FULLNAME
    assert policy["metadata"]["namespace"] == NAMESPACE
    operator, kamailio = defaults.deployment("operator"), defaults.deployment("kamailio")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"], "egress stays open: apiserver, Bolna, RPC"
    assert selects(spec["podSelector"]["matchLabels"], labels_of(operator))
    assert not selects(spec["podSelector"]["matchLabels"], labels_of(kamailio))

    assert rules_by_port(policy) == {"metrics": [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]}
    # The named ports are the operator container's: health and metrics, nothing else.
    ports = {p["name"]: p["containerPort"] for p in container(operator)["ports"]}
    assert set(ports) == {"health", "metrics"}


def test_policy_follows_the_values(helm: Helm) -> None:
    """everything.yaml: metrics and health each from their own peers."""
    manifests = helm.template(values_files=(EVERYTHING,))
    values = yaml.safe_load(EVERYTHING.read_text(encoding="utf-8"))["metrics"]["networkPolicy"]
    policy = policies_by_component(manifests)["operator"]
    assert rules_by_port(policy) == {"metrics": values["from"],
                                     "health": values["healthFrom"]}
    assert selects(policy["spec"]["podSelector"]["matchLabels"],
                   labels_of(manifests.deployment("operator")))


def test_no_peer_means_nobody_but_the_node(helm: Helm) -> None:
    """Metrics off (or no peer listed) and no health peers: ingress is an empty list, so
    the pods are isolated, not open."""
    cases: list[dict[str, Any]] = [{"metrics.enabled": False},
                                   {"metrics.networkPolicy.from": []}]
    for values in cases:
        policy = policies_by_component(helm.template(values=values))["operator"]
        assert policy["spec"]["ingress"] == [], values
    only_health = policies_by_component(helm.template(values={
        "metrics.enabled": False,
        "metrics.networkPolicy.healthFrom": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}))
    assert rules_by_port(only_health["operator"]) == {
        "health": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}


def test_policy_can_be_turned_off(helm: Helm) -> None:
    """metrics.networkPolicy.enabled false: no operator policy; the edge keeps its own."""
    found = policies_by_component(helm.template(values={
        "metrics.networkPolicy.enabled": False}))
    assert set(found) == {"kamailio"}
    assert found["kamailio"]["metadata"]["name"] == KAMAILIO


@pytest.mark.parametrize(("values", "path", "why"), [
    ({"metrics.networkPolicy.from": [{"namespaceSelecter": {}}]},
     "/metrics/networkPolicy/from/0", "additional properties 'namespaceSelecter'"),
    ({"metrics.networkPolicy.healthFrom": [{}]}, "/metrics/networkPolicy/healthFrom/0",
     "minProperties"),
    ({"metrics.networkPolicy.open": True}, "/metrics/networkPolicy",
     "additional properties 'open' not allowed"),
    ({"kamailio.trustedNetworks": []}, "/kamailio/trustedNetworks", "minItems"),
    ({"kamailio.trustedNetworks": ["10.0.0.1"]}, "/kamailio/trustedNetworks/0",
     "does not match pattern"),
    ({"kamailio.trustedNetworks": ["10.0.0.0/8,192.168.0.0/16"]},
     "/kamailio/trustedNetworks/0", "does not match pattern"),
    ({"kamailio.trustedNetworks": ['10.0.0.0/8" -A X']}, "/kamailio/trustedNetworks/0",
     "does not match pattern"),
], ids=["peer-typo", "empty-peer", "unknown-key", "nobody-trusted", "no-mask",
        "two-in-one", "quote"])
def test_schema_rejects_bad_values(helm: Helm, values: dict[str, Any], path: str,
                                   why: str) -> None:
    """Bad values fail ``helm template`` with a message naming the field."""
    result = helm.run("template", RELEASE, str(CHART), *value_args(values), check=False)
    assert result.returncode != 0, f"{values} was accepted"
    assert f"at '{path}'" in result.stderr or f"at {path}" in result.stderr, result.stderr
    assert why in result.stderr, result.stderr


def test_the_apiserver_accepts_every_policy(helm: Helm, kubectl: Kubectl) -> None:
    """Both NetworkPolicies, with the default values and with every option, pass the
    real apiserver's validation (a server-side dry run: named ports, peers, CIDRs)."""
    namespace = "np-check"
    if kubectl.run("get", "namespace", namespace, check=False).returncode != 0:
        kubectl.run("create", "namespace", namespace)
    for files in ((), (EVERYTHING,)):
        manifests = helm.template(values_files=files, namespace=namespace)
        policies = manifests.of_kind("NetworkPolicy")
        assert len(policies) == 2
        for policy in policies:
            out = kubectl.run("apply", "--dry-run=server", "-o", "json", "-f", "-",
                              stdin=json.dumps(policy)).stdout
            stored = json.loads(out)
            assert stored["spec"]["podSelector"] == policy["spec"]["podSelector"]
            assert len(stored["spec"].get("ingress") or []) == len(
                policy["spec"]["ingress"] or [])


# ---- Kamailio's trusted side ------------------------------------------------------------


def test_default_trusted_networks_hold_the_pod_network(defaults: Manifests) -> None:
    """The chart always passes TRUSTED_NETWORKS; its default (the private ranges) holds
    the kind cluster's pod network, where the cluster tests' caller pods call from,
    and no public address."""
    found = defines(container(defaults.deployment("kamailio"))["args"])
    assert found["TRUSTED_NETWORKS"].startswith('"') and found["TRUSTED_NETWORKS"].endswith('"')
    networks = [ipaddress.ip_network(item)
                for item in found["TRUSTED_NETWORKS"].strip('"').split(",")]
    assert any(isinstance(n, ipaddress.IPv4Network) and KIND_POD_SUBNET.subnet_of(n)
               for n in networks)
    assert all(n.is_private for n in networks)
    assert not any(ipaddress.ip_address("8.8.8.8") in n for n in networks)
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert found["TRUSTED_NETWORKS"] == '"' + ",".join(values["kamailio"]["trustedNetworks"]) + '"'
    assert (CHART / "files" / "kamailio.cfg").resolve() == (
        REPO / "deploy" / "kamailio" / "kamailio.cfg")


def test_a_changed_trusted_side_rolls_the_edge(defaults: Manifests, helm: Helm) -> None:
    """Kamailio reads TRUSTED_NETWORKS at start: changing it changes the pods' checksum."""
    narrowed = helm.template(values={"kamailio.trustedNetworks": ["10.244.0.0/16"]})

    def checksum(manifests: Manifests) -> str:
        return str(manifests.deployment("kamailio")["spec"]["template"]["metadata"][
            "annotations"]["checksum/config"])

    assert checksum(narrowed) != checksum(defaults)
    assert defines(container(narrowed.deployment("kamailio"))["args"])[
        "TRUSTED_NETWORKS"] == '"10.244.0.0/16"'


def test_the_rendered_edge_refuses_callers_outside_the_trusted_networks(
        helm: Helm, tmp_path: Path) -> None:
    """With trustedNetworks [127.0.0.1/32]: a call from 127.0.0.1 passes (503: the set
    has no gateway), the same call from 127.0.0.2 gets 403. With the chart's default
    (the private ranges), a loopback caller is a stranger too."""
    calls = tmp_path / "calls"
    narrow = {"kamailio.trustedNetworks": ["127.0.0.1/32", "::1/128"]}
    with rendered_kamailio(helm, tmp_path / "narrow", narrow, fullname=FULLNAME) as edge:
        assert place_call(edge.sip_port, 7, workdir=calls, source="127.0.0.1") == 503
        assert place_call(edge.sip_port, 7, workdir=calls, source="127.0.0.2") == 403
    with rendered_kamailio(helm, tmp_path / "default", fullname=FULLNAME) as edge:
        assert place_call(edge.sip_port, 7, workdir=calls, source="127.0.0.1") == 403
