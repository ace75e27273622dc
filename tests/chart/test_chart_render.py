"""The chart as a user and a security reviewer read it: lint, schema, rendered manifests.

No cluster here: ``helm lint`` and ``helm template`` with the pinned helm, the real
``bolna-sip-operator run --help`` for the flags the Deployment passes, and the real
Kamailio 5.6 for the arguments the Kamailio Deployment passes.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_devenv.helm import HELM_VERSION
from bolna_devenv.kamailio import rpc_call
from bolna_devenv.processes import free_ports
from bolna_devenv.promtool import PROMTOOL_VERSION
from tests.chart.chart import (
    CHART,
    REPO,
    VALUES_DIR,
    Helm,
    Manifest,
    Manifests,
    container,
    defines,
    flags,
    rendered_kamailio,
    value_args,
)

EVERYTHING = VALUES_DIR / "everything.yaml"
RELEASE, NAMESPACE = "edge", "telephony"
FULLNAME = "edge-bolna-sip-operator"
CLUSTER_NAME = f"{NAMESPACE}-{FULLNAME}"
LISTS = f"{FULLNAME}-kamailio-lists"
KAMAILIO = f"{FULLNAME}-kamailio"
LUA = (REPO / "deploy" / "argocd" / "siptrunk-health.lua").read_text(encoding="utf-8")
HEALTH_KEY = "resource.customizations.health.sip.bolna.ai_SipTrunk"
CARRIER_HEALTH_KEY = "resource.customizations.health.sip.bolna.ai_CarrierTrunk"

# ---- what the operator's ServiceAccount may do, as (group, resource, verb, name) -----

Grant = tuple[str, str, str, str]


def _grants(group: str, resource: str, verbs: str, name: str = "") -> set[Grant]:
    return {(group, resource, verb, name) for verb in verbs.split()}


TRUNKS = (_grants("sip.bolna.ai", "siptrunks", "get list watch patch")
          | _grants("sip.bolna.ai", "siptrunks/status", "patch")
          | _grants("sip.bolna.ai", "carriertrunks", "get list watch patch")
          | _grants("sip.bolna.ai", "carriertrunks/status", "patch")
          | _grants("", "secrets", "get list watch")
          | _grants("", "events", "create patch")
          | _grants("events.k8s.io", "events", "create patch"))
TOKEN_SECRETS = _grants("", "secrets", "patch")
"""The in-use finalizer of token Secrets: only by a Role in a namespace (issue 23)."""
CRDS = _grants("apiextensions.k8s.io", "customresourcedefinitions", "list watch")
NAMESPACES = _grants("", "namespaces", "list watch")


def peering(resource: str, name: str) -> set[Grant]:
    """Watch every peering object; read and write only the release's own."""
    return (_grants("kopf.dev", resource, "list watch")
            | _grants("kopf.dev", resource, "get patch", name))


def edge(configmap: str, shards: int = 1) -> set[Grant]:
    """Kamailio's EndpointSlices, and the lists' ConfigMaps by name."""
    names = [configmap] + [f"{configmap}-{index}" for index in range(1, shards)]
    return (_grants("discovery.k8s.io", "endpointslices", "get list watch")
            | {grant for name in names for grant in
               _grants("", "configmaps", "get patch update", name)})


def granted(manifests: Manifests, service_account: str, namespace: str = NAMESPACE
            ) -> dict[str, set[Grant]]:
    """What the bindings give the ServiceAccount, by namespace ("*" for cluster-wide)."""
    roles = {(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc
             for doc in manifests if doc["kind"] in ("Role", "ClusterRole")}
    scopes: dict[str, set[Grant]] = {}
    for binding in manifests:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        (subject,) = binding["subjects"]
        assert subject["kind"] == "ServiceAccount" and subject["namespace"] == namespace
        if subject["name"] != service_account:
            continue
        bound_ns = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], bound_ns if ref["kind"] == "Role" else None, ref["name"])]
        scope = bound_ns if binding["kind"] == "RoleBinding" else "*"
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [""]:
                            scopes.setdefault(scope, set()).add((group, resource, verb, name))
    return scopes


def assert_no_broad_rules(manifests: Manifests) -> None:
    """No wildcard, no Secret writes, ConfigMaps only by name, nothing about Pods."""
    for role in manifests:
        if role["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in role["rules"]:
            text = json.dumps(rule)
            assert "*" not in text, f"wildcard in {role['metadata']['name']}: {rule}"
            assert "nonResourceURLs" not in rule
            if "secrets" in rule["resources"]:
                # patch: the in-use finalizer, by a Role in a namespace, never a
                # ClusterRole; never create, update, delete
                assert set(rule["verbs"]) <= {"get", "list", "watch", "patch"}, rule
                assert role["kind"] == "Role" or "patch" not in rule["verbs"], rule
            if "configmaps" in rule["resources"]:
                assert rule.get("resourceNames"), f"ConfigMaps not by name: {rule}"
            assert not {"pods", "pods/exec", "serviceaccounts/token"} & set(rule["resources"])
            assert not {"escalate", "bind", "impersonate", "delete",
                        "deletecollection"} & set(rule["verbs"]), rule


# ---- helpers -------------------------------------------------------------------------

def pod_spec(deployment: Manifest) -> Manifest:
    """The Deployment's pod spec."""
    return dict(deployment["spec"]["template"]["spec"])


def pod_labels(deployment: Manifest) -> dict[str, str]:
    """Labels of the Deployment's pods."""
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    """A matchLabels selector against a set of labels."""
    return all(labels.get(key) == value for key, value in match_labels.items())


def operator_flags() -> set[str]:
    """Every flag ``bolna-sip-operator run`` accepts, from its own --help."""
    result = subprocess.run([sys.executable, "-m", "bolna_sip_operator.cli", "run", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    return set(re.findall(r"(--[a-z][a-z-]+)", result.stdout))


def assert_locked_down(deployment: Manifest) -> None:
    """Non-root, read-only root filesystem, no capabilities, no privilege escalation."""
    spec = pod_spec(deployment)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key)
    box = container(deployment)["securityContext"]
    assert box["runAsNonRoot"] is True
    assert box["runAsUser"] == 10001
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box.get("privileged") is False
    assert box["capabilities"] == {"drop": ["ALL"]}, "drops ALL, adds nothing"
    assert box["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container(deployment)["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


# ---- lint and schema -----------------------------------------------------------------

@pytest.mark.parametrize("values", [(), (EVERYTHING,)], ids=["defaults", "everything"])
def test_lint_strict_passes(helm: Helm, values: tuple[Path, ...]) -> None:
    """``helm lint --strict`` with the default values and with every option set."""
    args = [arg for path in values for arg in ("-f", str(path))]
    result = helm.run("lint", "--strict", str(CHART), *args)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_everything_values_cover_every_value() -> None:
    """The lint file sets every key of values.yaml, so lint sees every branch."""
    def keys(tree: Any, prefix: str = "") -> set[str]:
        if isinstance(tree, dict) and tree:
            return set().union(*(keys(value, f"{prefix}{key}.") for key, value in tree.items()))
        return {prefix.rstrip(".")}

    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    everything = yaml.safe_load(EVERYTHING.read_text(encoding="utf-8"))
    covered = keys(everything)
    missing = {key for key in keys(defaults)
               if not any(c == key or c.startswith(key + ".") for c in covered)}
    assert missing == set()


def test_schema_describes_every_value() -> None:
    """values.schema.json has a property for every key in values.yaml, and the
    objects are closed (so an unknown key is an error, not ignored)."""
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return dict(schema["definitions"][node["$ref"].split("/")[-1]])
        return node

    def walk(values: dict[str, Any], node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        assert node.get("type") == "object", f"{path} is not an object in the schema"
        for key, value in values.items():
            assert key in node.get("properties", {}), f"{path}{key} is not in the schema"
            child = resolve(node["properties"][key])
            if isinstance(value, dict) and child.get("additionalProperties") is False:
                walk(value, child, f"{path}{key}.")

    walk(yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")), schema, "")


@pytest.mark.parametrize(("values", "path", "why"), [
    ({"kamailio.replicas": 1}, "/kamailio/replicas", "minimum: got 1, want 2"),
    ({"colour": "blue"}, "''", "additional properties 'colour' not allowed"),
    ({"replicaCount": "two"}, "/replicaCount", "got string, want integer"),
    ({"kamailio.replica": 3}, "/kamailio", "additional properties 'replica' not allowed"),
    ({"bolna.driftInterval": "5m"}, "/bolna/driftInterval", "got string, want number"),
    ({"watchNamespaces": ["team-*"]}, "/watchNamespaces/0", "does not match pattern"),
    ({"kamailio.pingReplyCodes": "class=2;code=408"}, "/kamailio/pingReplyCodes", "not"),
    ({"image.digest": "latest"}, "/image/digest", "does not match pattern"),
    ({"kamailio.externalService.type": "Public"}, "/kamailio/externalService/type",
     "value must be one of"),
    ({"metrics.port": 8080}, "/metrics/port", "not"),
    ({"kamailio.flood.rate": 0}, "/kamailio/flood/rate", "minimum: got 0, want 1"),
    ({"kamailio.flood.banSeconds": -60}, "/kamailio/flood/banSeconds",
     "minimum: got -60, want 1"),
    ({"kamailio.scanners.userAgents": ["sip(vicious"]}, "/kamailio/scanners/userAgents/0",
     "does not match pattern"),
    ({"kamailio.scanners.userAgents": ['sipcli" -A X=1']}, "/kamailio/scanners/userAgents/0",
     "does not match pattern"),
    ({"kamailio.scanners.userAgents": []}, "/kamailio/scanners/userAgents",
     "minItems: got 0, want 1"),
    ({"kamailio.scanners.userAgents": "sipvicious"}, "/kamailio/scanners/userAgents",
     "got string, want array"),
    ({"kamailio.retryAfterMax": 0}, "/kamailio/retryAfterMax", "minimum: got 0, want 1"),
    ({"kamailio.tls.enabled": True}, "/kamailio/tls/certificateSecret",
     "minLength: got 0, want 1"),
    ({"kamailio.tls.certificateSecret": "Edge TLS"}, "/kamailio/tls/certificateSecret",
     "does not match pattern"),
    ({"kamailio.tls.caBundleSecret.key": "../ca"}, "/kamailio/tls/caBundleSecret/key",
     "does not match pattern"),
], ids=["kamailio-replicas-1", "unknown-top-level-key", "wrong-type", "nested-typo",
        "interval-as-text", "namespace-glob", "ping-408", "digest", "service-type",
        "metrics-on-health-port", "flood-rate-0", "negative-ban", "scanner-regex",
        "scanner-quote", "no-scanners", "scanners-as-text", "retry-after-max-0",
        "tls-without-certificate", "tls-secret-name", "tls-ca-key"])
def test_schema_rejects_bad_values(helm: Helm, values: dict[str, Any], path: str,
                                   why: str) -> None:
    """Bad values fail ``helm template`` with a message naming the field."""
    result = helm.run("template", RELEASE, str(CHART), *value_args(values), check=False)
    assert result.returncode != 0, f"{values} was accepted"
    assert f"at '{path}'" in result.stderr or f"at {path}" in result.stderr, result.stderr
    assert why in result.stderr, result.stderr


def test_template_fails_on_contradictions(helm: Helm) -> None:
    """What the schema cannot say, the templates refuse with a sentence."""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bolna.token": "t", "bolna.tokenSecret.name": ""}, "bolna.token needs"),
        ({"kamailio.enabled": False, "kamailio.external.service": "edge/kamailio"},
         "kamailio.external.listsConfigMap"),
        ({"kamailio.enabled": False, "kamailio.external.service": "a/kamailio",
          "kamailio.external.listsConfigMap": "b/lists"}, "same namespace"),
        ({"metrics.enabled": False, "metrics.serviceMonitor.enabled": True},
         "needs metrics.enabled"),
        ({"metrics.enabled": False, "metrics.prometheusRule.enabled": True},
         "metrics.prometheusRule.enabled needs metrics.enabled"),
        ({"metrics.enabled": False, "metrics.grafanaDashboard.enabled": True},
         "metrics.grafanaDashboard.enabled needs metrics.enabled"),
        ({"serviceAccount.create": False}, "serviceAccount.name is required"),
    ]
    for values, message in cases:
        result = helm.run("template", RELEASE, str(CHART), *value_args(values), check=False)
        assert result.returncode != 0 and message in result.stderr, (values, result.stderr)


# ---- what is rendered ----------------------------------------------------------------

def test_defaults_render_the_operator_and_the_edge(defaults: Manifests) -> None:
    """Default values: the operator (2 replicas, a PDB, cluster-wide RBAC, a
    ClusterKopfPeering) and a Kamailio edge; no Secret, no ServiceMonitor, no argocd-cm."""
    assert defaults.kinds() == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "ClusterKopfPeering", "Deployment", "PodDisruptionBudget", "Service", "ConfigMap",
        "NetworkPolicy"}
    assert defaults.one("Deployment", FULLNAME)["spec"]["replicas"] == 2
    assert {d["metadata"]["name"] for d in defaults.of_kind("PodDisruptionBudget")} == {
        FULLNAME, KAMAILIO}
    for pdb in defaults.of_kind("PodDisruptionBudget"):
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    assert {d["metadata"]["name"] for d in defaults.of_kind("ConfigMap")} == {
        LISTS, f"{FULLNAME}-kamailio-config", *(f"{LISTS}-{index}" for index in range(1, 8))}
    for doc in defaults:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"):
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]


def test_operator_container_is_locked_down(defaults: Manifests, helm: Helm) -> None:
    """Non-root, read-only root filesystem, no capabilities, probes, resources; the
    only writable path is an emptyDir at /tmp."""
    for manifests in (defaults, helm.template(values_files=(EVERYTHING,))):
        deployment = manifests.deployment("operator")
        assert_locked_down(deployment)
        box = container(deployment)
        assert pod_spec(deployment)["securityContext"]["fsGroup"] == 10001
        ports = {port["name"]: port["containerPort"] for port in box["ports"]}
        args = flags(box["args"])
        assert args["--health-host"] == ["0.0.0.0"]
        assert ports["health"] == 8080 and args["--health-port"] == ["8080"]
        assert args["--metrics-port"] == [str(ports["metrics"])]
        for probe in ("livenessProbe", "readinessProbe"):
            assert box[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
            assert box[probe]["periodSeconds"] >= 10
        # Kopf reports live a little before its watches have listed everything.
        assert box["readinessProbe"]["initialDelaySeconds"] >= 10
        mounts = {mount["mountPath"]: mount["name"] for mount in box["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        writable = [m for m in box["volumeMounts"] if not m.get("readOnly")]
        assert [m["mountPath"] for m in writable] == ["/tmp"]


def test_operator_arguments_are_flags_the_operator_has(defaults: Manifests,
                                                       helm: Helm) -> None:
    """Every flag the Deployment passes exists in ``bolna-sip-operator run --help``."""
    known = operator_flags()
    for manifests in (defaults, helm.template(values_files=(EVERYTHING,))):
        box = container(manifests.deployment("operator"))
        assert box["command"] == ["bolna-sip-operator"] and box["args"][0] == "run"
        assert set(flags(box["args"])) <= known, set(flags(box["args"])) - known


def test_default_token_comes_from_a_secret_file(defaults: Manifests) -> None:
    """The token Secret is mounted as a file (--token-file); it is not in the pod spec,
    the environment, or a Secret the chart makes, unless bolna.token asks for that."""
    deployment = defaults.deployment("operator")
    box = container(deployment)
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "bolna-token")
    assert volume["secret"]["secretName"] == "bolna-api-token"
    assert volume["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert volume["secret"]["defaultMode"] == 0o440
    mount = next(m for m in box["volumeMounts"] if m["name"] == "bolna-token")
    assert mount["readOnly"] is True
    assert flags(box["args"])["--token-file"] == [f"{mount['mountPath']}/token"]
    assert box["env"] == [{"name": "POD_NAME",
                           "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert "envFrom" not in box
    assert not defaults.of_kind("Secret")


def test_token_secret_only_when_asked(helm: Helm) -> None:
    """bolna.token (not for production) makes the chart create the Secret it mounts;
    an empty tokenSecret.name means no default token at all."""
    made = helm.template(values={"bolna.token": "placeholder-token"})
    secret = made.one("Secret", "bolna-api-token", NAMESPACE)
    assert base64.b64decode(secret["data"]["token"]) == b"placeholder-token"
    none = helm.template(values={"bolna.tokenSecret.name": ""})
    box = container(none.deployment("operator"))
    assert "--token-file" not in flags(box["args"])
    assert all(v["name"] != "bolna-token" for v in pod_spec(none.deployment("operator"))["volumes"])


def test_images_follow_the_values(defaults: Manifests, helm: Helm) -> None:
    """The operator's and Kamailio's images, both built from this repository:
    repository:appVersion by default, repository:tag when set, repository@digest when
    pinned."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert container(defaults.deployment("operator"))["image"] == (
        f"bolna-sip-operator:{chart['appVersion']}")
    assert container(defaults.deployment("kamailio"))["image"] == (
        f"bolna-sip-kamailio:{chart['appVersion']}")
    pinned = helm.template(values={"kamailio.image.digest": "sha256:" + "ab" * 32})
    assert container(pinned.deployment("kamailio"))["image"] == (
        f"bolna-sip-kamailio@sha256:{'ab' * 32}")
    everything = helm.template(values_files=(EVERYTHING,))
    values = yaml.safe_load(EVERYTHING.read_text(encoding="utf-8"))
    assert container(everything.deployment("operator"))["image"] == (
        f"{values['image']['repository']}@{values['image']['digest']}")
    assert container(everything.deployment("kamailio"))["image"] == (
        f"{values['kamailio']['image']['repository']}:{values['kamailio']['image']['tag']}")
    assert pod_spec(everything.deployment("operator"))["imagePullSecrets"] == [
        {"name": "regcred"}]


def test_chart_versions() -> None:
    """appVersion is the operator's package version; the helm the tests use is the one
    hack/install-helm.sh builds."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2"
    assert chart["version"] == "0.1.0"
    assert chart["appVersion"] == project["project"]["version"]
    script = (REPO / "hack" / "install-helm.sh").read_text(encoding="utf-8")
    assert f'HELM_VERSION="{HELM_VERSION}"' in script
    promtool = (REPO / "hack" / "install-promtool.sh").read_text(encoding="utf-8")
    assert f'PROMTOOL_VERSION="{PROMTOOL_VERSION}"' in promtool
    assert "hack/install-promtool.sh" in (REPO / "hack" / "setup.sh").read_text(
        encoding="utf-8")


# ---- RBAC ------------------------------------------------------------------------------

def test_rbac_all_namespaces(defaults: Manifests) -> None:
    """Watching all namespaces: one ClusterRole with exactly the SipTrunk rules and the
    cluster peering; a Role for the edge in the release namespace. Nothing else."""
    assert granted(defaults, FULLNAME) == {
        "*": TRUNKS | peering("clusterkopfpeerings", CLUSTER_NAME) | CRDS,
        NAMESPACE: edge(LISTS, shards=8),
    }
    # The Kamailio pods' edge agents read the lists, by name, and nothing else.
    assert granted(defaults, f"{FULLNAME}-edge-agent") == {NAMESPACE: {
        grant for index in range(8) for grant in _grants(
            "", "configmaps", "get list watch", LISTS + (f"-{index}" if index else ""))}}
    assert_no_broad_rules(defaults)


def test_rbac_listed_namespaces(helm: Helm) -> None:
    """Listed namespaces: the SipTrunk rules as a Role in each; cluster-wide only what
    Kopf needs to see (CRDs, namespaces)."""
    manifests = helm.template(values={"watchNamespaces": ["team-a", "team-b"]})
    trunk_role = TRUNKS | TOKEN_SECRETS | peering("kopfpeerings", CLUSTER_NAME)
    assert granted(manifests, FULLNAME) == {
        "*": CRDS | NAMESPACES, "team-a": trunk_role, "team-b": trunk_role,
        NAMESPACE: edge(LISTS, shards=8)}
    assert_no_broad_rules(manifests)


def test_rbac_token_secret_namespaces(helm: Helm) -> None:
    """All namespaces watched: patch on Secrets (the in-use finalizer) by a Role in each
    namespace tokenSecretNamespaces lists, and nowhere else; a listed namespace that is
    also watched has it in its trunk Role already."""
    manifests = helm.template(values={"tokenSecretNamespaces": ["team-a", "team-b"]})
    assert granted(manifests, FULLNAME) == {
        "*": TRUNKS | peering("clusterkopfpeerings", CLUSTER_NAME) | CRDS,
        "team-a": TOKEN_SECRETS, "team-b": TOKEN_SECRETS, NAMESPACE: edge(LISTS, shards=8)}
    both = helm.template(values={"watchNamespaces": ["team-a"],
                                 "tokenSecretNamespaces": ["team-a", "team-b"]})
    granted_both = granted(both, FULLNAME)
    assert granted_both["team-a"] >= TOKEN_SECRETS and granted_both["team-b"] == TOKEN_SECRETS
    assert_no_broad_rules(manifests)
    assert_no_broad_rules(both)


def test_rbac_without_the_edge_and_with_an_external_one(helm: Helm) -> None:
    """No Kamailio: no edge Role. A Kamailio of one's own: the Role in its namespace,
    for its ConfigMap only."""
    bolna_only = helm.template(values={"kamailio.enabled": False})
    assert granted(bolna_only, FULLNAME) == {
        "*": TRUNKS | peering("clusterkopfpeerings", CLUSTER_NAME) | CRDS}
    external = helm.template(values={"kamailio.enabled": False,
                                     "kamailio.external.service": "sip-edge/kamailio",
                                     "kamailio.external.listsConfigMap": "sip-edge/lists",
                                     "kamailio.external.rpcPortName": "jsonrpc"})
    assert granted(external, FULLNAME)["sip-edge"] == edge("lists")
    args = flags(container(external.deployment("operator"))["args"])
    assert args["--kamailio-service"] == ["sip-edge/kamailio"]
    assert args["--lists-configmap"] == ["sip-edge/lists"]
    assert args["--kamailio-rpc-port"] == ["jsonrpc"]
    assert "kamailio" not in {d["metadata"]["labels"].get("app.kubernetes.io/component")
                              for d in external}
    assert_no_broad_rules(external)


def test_rbac_everything(helm: Helm) -> None:
    """Every option on: still exactly the same kinds of grants."""
    manifests = helm.template(values_files=(EVERYTHING,))
    name = f"{NAMESPACE}-edge-sip"
    trunk_role = TRUNKS | TOKEN_SECRETS | peering("kopfpeerings", name)
    assert granted(manifests, "sip-operator") == {
        "*": CRDS | NAMESPACES, "support": trunk_role, "billing": TOKEN_SECRETS,
        NAMESPACE: trunk_role | edge("edge-sip-kamailio-lists", shards=4)}
    assert_no_broad_rules(manifests)


def test_peering_objects_match_the_flag(defaults: Manifests, helm: Helm) -> None:
    """The operator's --peering names the peering object(s) the chart creates: one
    ClusterKopfPeering, or a KopfPeering in each watched namespace."""
    args = flags(container(defaults.deployment("operator"))["args"])
    assert defaults.one("ClusterKopfPeering")["metadata"]["name"] == args["--peering"][0]
    assert "--namespace" not in args
    listed = helm.template(values={"watchNamespaces": ["team-a", "team-b"]})
    args = flags(container(listed.deployment("operator"))["args"])
    assert args["--namespace"] == ["team-a", "team-b"]
    assert not listed.of_kind("ClusterKopfPeering")
    assert {(p["metadata"]["namespace"], p["metadata"]["name"])
            for p in listed.of_kind("KopfPeering")} == {
        ("team-a", args["--peering"][0]), ("team-b", args["--peering"][0])}


def test_pdb_only_with_more_than_one_replica(helm: Helm) -> None:
    """A single replica gets no PodDisruptionBudget (it could never be evicted)."""
    single = helm.template(values={"replicaCount": 1})
    assert {d["metadata"]["name"] for d in single.of_kind("PodDisruptionBudget")} == {KAMAILIO}


# ---- Kamailio ------------------------------------------------------------------------

def test_kamailio_edge(defaults: Manifests) -> None:
    """Two replicas at least, locked down, the lists where DS_LIST_FILE and ADDRESS_FILE
    point (the edge agent's directory), and a Service whose rpc port the operator is
    pointed at."""
    deployment = defaults.deployment("kamailio")
    assert deployment["spec"]["replicas"] >= 2
    assert_locked_down(deployment)
    assert "sysctls" not in pod_spec(deployment)["securityContext"]
    assert pod_spec(deployment)["automountServiceAccountToken"] is False
    box = container(deployment)
    args, found = box["args"], defines(box["args"])
    assert box["command"] == ["kamailio"]
    assert args[:4] == ["-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg"]

    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    lists_mount = next(m for m in box["volumeMounts"] if m["name"] == "lists")
    assert "emptyDir" in volumes["lists"] and lists_mount["readOnly"] is True
    for define, key in (("DS_LIST_FILE", "dispatcher.list"), ("ADDRESS_FILE", "address.list")):
        assert found[define] == f'"{lists_mount["mountPath"]}/{key}"'
    assert not any("serviceaccount" in m["mountPath"] for m in box["volumeMounts"])
    config_mount = next(m for m in box["volumeMounts"] if m["mountPath"] ==
                        "/etc/kamailio/kamailio.cfg")
    assert volumes[config_mount["name"]]["configMap"]["name"] == f"{FULLNAME}-kamailio-config"

    assert found["SIP_ADDR"] == found["RPC_ADDR"] == "$(POD_IP)"
    assert box["env"] == [{"name": "POD_IP", "valueFrom": {
        "fieldRef": {"fieldPath": "status.podIP"}}}]
    ports = {p["name"]: (p["containerPort"], p["protocol"]) for p in box["ports"]}
    assert ports == {"sip-udp": (5060, "UDP"), "sip-tcp": (5060, "TCP"),
                     "rpc": (int(found["RPC_PORT"]), "TCP")}
    assert box["readinessProbe"]["tcpSocket"] == {"port": "rpc"}

    service = defaults.one("Service", KAMAILIO)
    assert service["spec"]["type"] == "ClusterIP"
    assert {(p["name"], p["protocol"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("sip-udp", "UDP", "sip-udp"), ("sip-tcp", "TCP", "sip-tcp"), ("rpc", "TCP", "rpc")}
    assert selects(service["spec"]["selector"], pod_labels(deployment))
    assert not selects(service["spec"]["selector"], pod_labels(defaults.deployment("operator")))

    operator = flags(container(defaults.deployment("operator"))["args"])
    assert operator["--kamailio-service"] == [f"{NAMESPACE}/{KAMAILIO}"]
    assert operator["--kamailio-rpc-port"] == ["rpc"]
    assert operator["--lists-configmap"] == [f"{NAMESPACE}/{LISTS}"]
    assert operator["--reload-delta"] == [found["RELOAD_DELTA"]]


def test_edge_protection_values_become_the_cfgs_defines(defaults: Manifests, helm: Helm
                                                       ) -> None:
    """Flood, scanner and Retry-After values reach Kamailio as its defines: by default
    exactly the config's own defaults; otherwise as given."""
    cfg = (REPO / "deploy" / "kamailio" / "kamailio.cfg").read_text(encoding="utf-8")
    names = ("FLOOD_PROTECTION", "FLOOD_RATE", "FLOOD_BAN", "SCANNER_DROP",
             "SCANNER_USER_AGENTS", "RETRY_AFTER_MAX")
    found = defines(container(defaults.deployment("kamailio"))["args"])
    for name in names:
        assert f"#!define {name} {found[name]}\n" in cfg, name

    everything = helm.template(values_files=(EVERYTHING,))
    found = defines(container(everything.deployment("kamailio"))["args"])
    assert {name: found[name] for name in names} == {
        "FLOOD_PROTECTION": "0", "FLOOD_RATE": "50", "FLOOD_BAN": "60", "SCANNER_DROP": "1",
        "SCANNER_USER_AGENTS": '"friendly-scanner|sipvicious|Mr Scanner_2"',
        "RETRY_AFTER_MAX": "120"}


def test_tls_towards_carriers(defaults: Manifests, helm: Helm) -> None:
    """kamailio.tls: off by default (no TLS define, SDES_OVER_PLAIN the cfg's own 0).
    On: WITH_TLS with the port and tls.cfg; the tls.cfg ConfigMap names the edge's
    kubernetes.io/tls Secret's files and the CA bundle's; Kamailio and the edge agent
    mount both Secrets (only the keys named, so a Secret without them stops the pod with
    an Event naming it) under paths that name the Secret; the agent watches tls.cfg; the
    TLS port is on the pod, both Services and the NetworkPolicy."""
    cfg = (REPO / "deploy" / "kamailio" / "kamailio.cfg").read_text(encoding="utf-8")
    kamailio = container(defaults.deployment("kamailio"))
    found = defines(kamailio["args"])
    assert "WITH_TLS" not in found and "TLS_CONFIG" not in found
    assert f"#!define SDES_OVER_PLAIN {found['SDES_OVER_PLAIN']}\n" in cfg
    assert not any(d["metadata"]["name"].endswith("-tls") for d in defaults.of_kind("ConfigMap"))

    everything = helm.template(values_files=(EVERYTHING,))
    deployment = everything.deployment("kamailio")
    pod = deployment["spec"]["template"]["spec"]
    kamailio = container(deployment)
    found = defines(kamailio["args"])
    config = "/etc/kamailio/tls/config/tls.cfg"
    assert {k: found[k] for k in ("WITH_TLS", "SIP_TLS_PORT", "TLS_CONFIG",
                                  "SDES_OVER_PLAIN")} == {
        "WITH_TLS": "1", "SIP_TLS_PORT": "5062", "TLS_CONFIG": f'"{config}"',
        "SDES_OVER_PLAIN": "1"}
    edge_name = deployment["metadata"]["name"]  # everything.yaml overrides the names
    tls_cfg = everything.one("ConfigMap", f"{edge_name}-config-tls")["data"]["tls.cfg"]
    cert_dir = "/etc/kamailio/tls/secret-sip-edge-tls"
    for line in (f"certificate = {cert_dir}/tls.crt", f"private_key = {cert_dir}/tls.key",
                 "ca_list = /etc/kamailio/tls/ca-secret-carrier-cas/bundle.pem",
                 "verify_certificate = yes", "[client:default]", "[server:default]"):
        assert line in tls_cfg, line
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls-certificate"]["secret"] == {
        "secretName": "sip-edge-tls",
        "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}
    assert volumes["tls-ca"]["secret"] == {
        "secretName": "carrier-cas", "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}
    assert volumes["tls-config"]["configMap"]["name"] == f"{edge_name}-config-tls"
    (agent,) = [c for c in pod["initContainers"] if c["name"] == "edge-agent"]
    for each in (kamailio, agent):
        mounts = {m["name"]: m for m in each["volumeMounts"]}
        assert mounts["tls-certificate"]["mountPath"] == cert_dir
        assert mounts["tls-ca"]["mountPath"] == "/etc/kamailio/tls/ca-secret-carrier-cas"
        assert mounts["tls-config"]["mountPath"] == "/etc/kamailio/tls/config"
        assert all(mounts[n]["readOnly"] for n in ("tls-certificate", "tls-ca", "tls-config"))
    assert flags(agent["args"])["--tls-config"] == [config]
    assert flags(agent["args"])["--tls-probe-interval"] == ["30"]
    assert {"name": "sip-tls", "containerPort": 5062, "protocol": "TCP"} in kamailio["ports"]
    for service in everything.of_kind("Service"):
        if service["metadata"]["labels"].get("app.kubernetes.io/component") == "kamailio":
            assert {"name": "sip-tls", "port": 5062, "targetPort": "sip-tls",
                    "protocol": "TCP"} in service["spec"]["ports"]
    policy = everything.one("NetworkPolicy", edge_name)
    ports = [p for rule in policy["spec"]["ingress"] for p in rule.get("ports", ())]
    assert {"port": 5062, "protocol": "TCP"} in ports

    # The system CA bundle when no CA Secret is named.
    system = helm.template(values={"kamailio.tls.enabled": True,
                                   "kamailio.tls.certificateSecret": "sip-edge-tls"})
    tls_cfg = system.one("ConfigMap", f"{FULLNAME}-kamailio-config-tls")["data"]["tls.cfg"]
    assert "ca_list = /etc/ssl/certs/ca-certificates.crt" in tls_cfg
    pod = system.deployment("kamailio")["spec"]["template"]["spec"]
    assert "tls-ca" not in {v["name"] for v in pod["volumes"]}


def test_real_kamailio_drops_the_charts_scanners(helm: Helm, tmp_path: Path) -> None:
    """The chart's scanner list, run by the real Kamailio (here with flood bans off): a
    request whose User-Agent holds one of its words (any case) is dropped and counted,
    never answered; an ordinary one is answered."""
    with rendered_kamailio(helm, tmp_path, fullname=FULLNAME, values={
            "kamailio.scanners.userAgents": ["Mr Scanner_2", "sipvicious"],
            "kamailio.flood.enabled": False}) as edge:
        url = f"http://127.0.0.1:{edge.rpc_port}/RPC"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            via = f"127.0.0.1:{sock.getsockname()[1]}"
            for user_agent in ("MR SCANNER_2 v1", "bolna-test"):
                sock.sendto((
                    f"OPTIONS sip:127.0.0.1:{edge.sip_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {via};branch=z9hG4bK-{user_agent[:2]}{time.time_ns()}\r\n"
                    f"From: <sip:probe@{via}>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
                    f"Call-ID: {time.time_ns()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
                    f"User-Agent: {user_agent}\r\nContent-Length: 0\r\n\r\n").encode(),
                    ("127.0.0.1", edge.sip_port))
                if user_agent != "bolna-test":
                    deadline = time.monotonic() + 10
                    while rpc_call(url, "stats.fetch", "script:")[
                            "script.edge_scanner_drops"] != "1":
                        assert time.monotonic() < deadline, "the scanner was not dropped"
                        time.sleep(0.05)
            sock.settimeout(5)
            # The only answer is the ordinary request's: the scanner's was dropped first.
            reply = sock.recv(65535).decode()
            assert reply.startswith("SIP/2.0 200 ") and "CSeq: 1 OPTIONS" in reply
            assert "branch=z9hG4bK-bo" in reply


def test_the_edge_agent_sidecar(defaults: Manifests) -> None:
    """A native sidecar from the operator image: it follows the lists' ConfigMap into the
    directory Kamailio reads, reloads Kamailio at the pod's own RPC address, holds the
    only API token of the pod, and its startup probe keeps Kamailio from starting before
    the lists are written."""
    deployment = defaults.deployment("kamailio")
    spec = pod_spec(deployment)
    (agent,) = spec["initContainers"]
    assert agent["restartPolicy"] == "Always"
    assert agent["image"] == container(defaults.deployment("operator"))["image"]
    assert agent["command"] == ["bolna-sip-operator"] and agent["args"][0] == "edge-agent"
    given = flags(agent["args"][1:])
    lists_mount = next(m for m in container(deployment)["volumeMounts"]
                       if m["name"] == "lists")
    assert given["--lists-configmap"] == [f"{NAMESPACE}/{LISTS}"]
    assert given["--directory"] == [lists_mount["mountPath"]]
    assert given["--kamailio-rpc"] == ["http://$(POD_IP):5090/RPC"]
    assert given["--reload-delta"] == [defines(container(deployment)["args"])["RELOAD_DELTA"]]
    assert agent["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert agent["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    assert not mounts["lists"].get("readOnly")
    assert mounts["edge-agent-token"]["mountPath"] == (
        "/var/run/secrets/kubernetes.io/serviceaccount")
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["edge-agent-token"]["projected"]["sources"][0]["serviceAccountToken"]
    assert spec["serviceAccountName"] == f"{FULLNAME}-edge-agent"
    assert defaults.one("ServiceAccount", f"{FULLNAME}-edge-agent")[
        "automountServiceAccountToken"] is False
    operator = flags(container(defaults.deployment("operator"))["args"])
    assert "--edge-agents" in operator and operator["--list-shards"] == ["8"]
    for index in range(1, 8):
        shard = defaults.one("ConfigMap", f"{LISTS}-{index}")
        assert shard["data"] == {"dispatcher.list": "", "address.list": ""}
        assert shard["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_lists_through_the_mounted_configmap(helm: Helm) -> None:
    """lists.delivery volume: the ConfigMap mounted as a directory (not subPath), no
    sidecar, no token, no shards; the operator reloads the replicas itself."""
    manifests = helm.template(values={"kamailio.lists.delivery": "volume"})
    deployment = manifests.deployment("kamailio")
    spec = pod_spec(deployment)
    assert "initContainers" not in spec and "serviceAccountName" not in spec
    box = container(deployment)
    found = defines(box["args"])
    volumes = {v["name"]: v for v in spec["volumes"]}
    lists_mount = next(m for m in box["volumeMounts"]
                       if volumes[m["name"]].get("configMap", {}).get("name") == LISTS)
    assert "subPath" not in lists_mount, "a subPath mount never sees ConfigMap updates"
    lists = manifests.one("ConfigMap", LISTS)
    for define, key in (("DS_LIST_FILE", "dispatcher.list"), ("ADDRESS_FILE", "address.list")):
        assert found[define] == f'"{lists_mount["mountPath"]}/{key}"'
        assert key in lists["data"]
    assert {d["metadata"]["name"] for d in manifests.of_kind("ConfigMap")} == {
        LISTS, f"{FULLNAME}-kamailio-config"}
    operator = flags(container(manifests.deployment("operator"))["args"])
    assert "--edge-agents" not in operator and "--list-shards" not in operator
    assert granted(manifests, FULLNAME)[NAMESPACE] == edge(LISTS)
    assert f"{FULLNAME}-edge-agent" not in {
        d["metadata"]["name"] for d in manifests.of_kind("ServiceAccount")}


def test_lists_configmap_survives_upgrades_and_uninstall(defaults: Manifests) -> None:
    """Both lists start empty; `helm uninstall` keeps the ConfigMap (the data the
    operator wrote). That an upgrade keeps the data is tested against an apiserver."""
    lists = defaults.one("ConfigMap", LISTS)
    assert lists["data"] == {"dispatcher.list": "", "address.list": ""}
    assert lists["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_kamailio_ports_and_external_service(helm: Helm) -> None:
    """A SIP port below 1024 is bound through the safe sysctl, not a capability; the
    Service for outside traffic never carries the RPC port."""
    low = helm.template(values={"kamailio.sipPort": 80,
                                "kamailio.externalService.enabled": True})
    deployment = low.deployment("kamailio")
    assert pod_spec(deployment)["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]
    assert container(deployment)["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    outside = low.one("Service", f"{FULLNAME}-kamailio-sip")
    assert outside["spec"]["type"] == "LoadBalancer"
    assert {p["name"] for p in outside["spec"]["ports"]} == {"sip-udp", "sip-tcp"}


def test_kamailio_can_be_left_out(helm: Helm) -> None:
    """kamailio.enabled false: no Kamailio objects, and the operator manages Bolna only."""
    manifests = helm.template(values={"kamailio.enabled": False})
    assert all(d["metadata"]["labels"].get("app.kubernetes.io/component") != "kamailio"
               for d in manifests)
    args = flags(container(manifests.deployment("operator"))["args"])
    assert not {"--kamailio-service", "--lists-configmap", "--kamailio-rpc-port"} & set(args)


def test_network_policy_lets_only_the_operator_reach_rpc(defaults: Manifests,
                                                        helm: Helm) -> None:
    """Ingress to Kamailio's RPC port from the operator's pods only; SIP open (or to
    sipFrom)."""
    for manifests in (defaults, helm.template(values_files=(EVERYTHING,))):
        kamailio = manifests.deployment("kamailio")
        operator = manifests.deployment("operator")
        rpc = int(defines(container(kamailio)["args"])["RPC_PORT"])
        sip = int(defines(container(kamailio)["args"])["SIP_PORT"])
        policy = manifests.one("NetworkPolicy", kamailio["metadata"]["name"])["spec"]
        assert policy["policyTypes"] == ["Ingress"]
        assert selects(policy["podSelector"]["matchLabels"], pod_labels(kamailio))
        rpc_rules = [rule for rule in policy["ingress"]
                     if any(p["port"] == rpc for p in rule.get("ports", []))]
        assert len(rpc_rules) == 1
        assert rpc_rules[0]["ports"] == [{"port": rpc, "protocol": "TCP"}]
        peers = rpc_rules[0]["from"]
        assert len(peers) == 1 and set(peers[0]) == {"podSelector"}, peers
        selector = peers[0]["podSelector"]["matchLabels"]
        assert selects(selector, pod_labels(operator))
        assert not selects(selector, pod_labels(kamailio))
        others = [rule for rule in policy["ingress"] if rule is not rpc_rules[0]]
        found = defines(container(kamailio)["args"])
        tls = [(int(found["SIP_TLS_PORT"]), "TCP")] if "WITH_TLS" in found else []
        assert [sorted((p["port"], p["protocol"]) for p in rule["ports"]) for rule in others
                ] == [sorted([(sip, "TCP"), (sip, "UDP"), *tls])]
        values = yaml.safe_load(EVERYTHING.read_text(encoding="utf-8"))
        expected_from = (None if manifests is defaults
                         else values["kamailio"]["networkPolicy"]["sipFrom"])
        assert others[0].get("from") == expected_from


def test_real_kamailio_starts_with_the_rendered_arguments(helm: Helm, tmp_path: Path
                                                          ) -> None:
    """The Kamailio Deployment's command line, run by the real Kamailio 5.6 on
    loopback: it starts, answers JSON-RPC, and loads a dispatcher line from the mounted
    lists directory (paths and the pod IP swapped for local ones)."""
    line = f"7 sip:127.0.0.1:{free_ports(1)[0]} 8 10 duid=gw-a\n"
    with rendered_kamailio(helm, tmp_path, dispatcher_list=line, fullname=FULLNAME) as edge:
        answer = edge.rpc("dispatcher.list")
    targets = answer["result"]["RECORDS"][0]["SET"]
    assert targets["ID"] == 7, answer


# ---- files the chart shares with the repository -------------------------------------

def test_chart_files_are_the_repository_files(helm: Helm, defaults: Manifests,
                                              tmp_path: Path) -> None:
    """The CRD, kamailio.cfg and the Argo CD Lua in the chart are relative symlinks to
    the repository's files; helm template and helm package carry their exact bytes."""
    links = {"crds/siptrunk.yaml": REPO / "crds" / "siptrunk.yaml",
             "crds/carriertrunk.yaml": REPO / "crds" / "carriertrunk.yaml",
             "files/kamailio.cfg": REPO / "deploy" / "kamailio" / "kamailio.cfg",
             "files/siptrunk-health.lua": REPO / "deploy" / "argocd" / "siptrunk-health.lua"}
    for inside, target in links.items():
        link = CHART / inside
        assert link.is_symlink() and not Path(link.readlink()).is_absolute(), inside
        assert link.resolve() == target.resolve()

    with_crds = helm.template("--include-crds")
    for crd_file in ("siptrunk.yaml", "carriertrunk.yaml"):
        crd_text = (REPO / "crds" / crd_file).read_text(encoding="utf-8")
        assert yaml.safe_load(crd_text) in with_crds.of_kind("CustomResourceDefinition")
    cfg = (REPO / "deploy" / "kamailio" / "kamailio.cfg").read_text(encoding="utf-8")
    config = defaults.one("ConfigMap", f"{FULLNAME}-kamailio-config")
    assert config["data"]["kamailio.cfg"] == cfg

    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("bolna-sip-operator-*.tgz")
    with tarfile.open(package) as archive:
        for inside, target in links.items():
            member = archive.extractfile(f"bolna-sip-operator/{inside}")
            assert member is not None and member.read() == target.read_bytes(), inside


def test_kopf_peering_crds() -> None:
    """ClusterKopfPeering (cluster) and KopfPeering (namespaced), kopf.dev/v1, with a
    free-form status (Kopf owns its shape)."""
    docs = list(yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text(
        encoding="utf-8")))
    scopes = {doc["spec"]["names"]["kind"]: doc["spec"]["scope"] for doc in docs}
    assert scopes == {"ClusterKopfPeering": "Cluster", "KopfPeering": "Namespaced"}
    for doc in docs:
        assert doc["metadata"]["name"] == f"{doc['spec']['names']['plural']}.kopf.dev"
        (version,) = doc["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_argocd_health_check(defaults: Manifests, helm: Helm) -> None:
    """The argocd-cm the chart renders (only when asked) and the patch file for
    those who manage argocd-cm themselves carry the repository's Lua, unchanged."""
    assert not any(d["metadata"]["name"] == "argocd-cm" for d in defaults.of_kind("ConfigMap"))
    rendered = helm.template(values={"argocd.configMap.enabled": True})
    argocd_cm = rendered.one("ConfigMap", "argocd-cm", "argocd")
    assert argocd_cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert argocd_cm["data"] == {HEALTH_KEY: LUA, CARRIER_HEALTH_KEY: LUA}, (
        "one Lua for both kinds: they carry the same conditions")
    patch = yaml.safe_load((REPO / "deploy" / "argocd" / "argocd-cm-patch.yaml").read_text(
        encoding="utf-8"))
    assert patch["data"] == {HEALTH_KEY: LUA, CARRIER_HEALTH_KEY: LUA}
    without = helm.template(values={"argocd.configMap.enabled": True,
                                    "argocd.healthCheck.enabled": False})
    assert not without.one("ConfigMap", "argocd-cm", "argocd").get("data")


def test_readme_and_chart_yaml_name_both_kinds() -> None:
    """Where the chart's documents list the kinds, CarrierTrunk is there too."""
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    for text in ("`CarrierTrunk` CRD", "crds/carriertrunk.yaml", "`carriertrunks/status`",
                 CARRIER_HEALTH_KEY):
        assert text in readme, text
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    crds = yaml.safe_load(chart["annotations"]["artifacthub.io/crds"])
    assert [c["name"] for c in crds] == ["siptrunks.sip.bolna.ai", "carriertrunks.sip.bolna.ai"]


def test_argocd_application_example() -> None:
    """deploy/argocd/application.yaml syncs a directory of this repository that exists
    (examples/) into a namespace."""
    app = yaml.safe_load((REPO / "deploy" / "argocd" / "application.yaml").read_text(
        encoding="utf-8"))
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert (REPO / app["spec"]["source"]["path"]).is_dir()
    assert app["spec"]["destination"]["namespace"]
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]


def test_service_monitor_scrapes_the_metrics_service(helm: Helm) -> None:
    """With serviceMonitor on, it selects the metrics Service and its "metrics" port."""
    manifests = helm.template(values_files=(EVERYTHING,))
    monitor = manifests.one("ServiceMonitor")
    service = manifests.one("Service", "edge-sip-metrics")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert [e["honorLabels"] for e in monitor["spec"]["endpoints"]] == [True], (
        "the operator's namespace label (a SipTrunk's) must not become exported_namespace")
    assert selects(service["spec"]["selector"], pod_labels(manifests.deployment("operator")))


def test_readme_documents_the_crd_upgrade_path() -> None:
    """The chart README says how CRDs are upgraded (Helm never does it)."""
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert "kubectl apply --server-side -f charts/bolna-sip-operator/crds/" in readme


# ---- alerts and dashboard (their queries are checked against a real scrape in
# tests/integration/test_operator_kamailio.py) ------------------------------------------

PER_TRUNK = {"BolnaSipTrunkNotReady", "BolnaSipTrunkStalled", "BolnaSipGatewayDown",
             "BolnaSipTrunkAllGatewaysDown"}


def test_alerts_and_dashboard_are_off_by_default(defaults: Manifests) -> None:
    """No PrometheusRule and no dashboard ConfigMap unless asked."""
    assert "PrometheusRule" not in defaults.kinds()
    assert not [c for c in defaults.of_kind("ConfigMap")
                if c["metadata"]["name"].endswith("-dashboard")]


def test_prometheus_rule_has_the_alerts_an_on_call_needs(helm: Helm) -> None:
    """With the rule on: its labels, this release's selector in every expression, a
    summary, a description naming the trunk, a severity and a runbook anchor per alert,
    and the additional rules."""
    rule = helm.template(values_files=(EVERYTHING,)).one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["metadata"]["namespace"] == NAMESPACE
    (group,) = rule["spec"]["groups"]
    by_name = {r.get("alert") or r["record"]: r for r in group["rules"]}
    alerts = {name: r for name, r in by_name.items() if "alert" in r}
    assert set(alerts) == PER_TRUNK | {
        "BolnaSipBolnaRateLimited", "BolnaSipBolnaErrors", "BolnaSipKamailioReloadFailing",
        "BolnaSipKamailioVerificationFailing", "BolnaSipOperatorNotActing",
        "BolnaSipEdgeFlooded", "BolnaSipEdgeCallLimitReached"}
    assert "bolna_sip:trunks_not_ready:count" in by_name, "additionalRules are appended"
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    base = ("https://git.example.com/telephony/bolna-sip-operator/-/blob/main/charts/"
            "bolna-sip-operator/README.md")
    for name, alert in alerts.items():
        selectors = re.findall(r"bolna_sip_\w+\{([^}]*)\}", alert["expr"])
        assert selectors and all(s.startswith('job="edge-sip-metrics"') for s in selectors), name
        assert alert["labels"]["severity"] in ("warning", "critical"), name
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], name
        assert alert["annotations"]["runbook_url"] == f"{base}#{name.lower()}"
        assert f"\n### {name}\n" in readme, f"the README's Runbook has no section {name}"
        if name in PER_TRUNK:
            assert "{{ $labels.namespace }}/{{ $labels.name }}" in alert[
                "annotations"]["description"], name
    assert "__SELECTOR__" not in str(rule) and "__RUNBOOK__" not in str(rule)


def test_prometheus_rule_defaults_select_the_release_job(helm: Helm) -> None:
    """Without a selector, the alerts read the job a ServiceMonitor gives this release."""
    rule = helm.template(values={"metrics.prometheusRule.enabled": True}).one(
        "PrometheusRule")
    exprs = " ".join(r["expr"] for r in rule["spec"]["groups"][0]["rules"])
    assert exprs.count('job="edge-bolna-sip-operator-metrics"') >= 9
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def test_grafana_dashboard_configmap(helm: Helm) -> None:
    """With the dashboard on: a ConfigMap with the sidecar's label (and any others), in
    the namespace asked for, holding the dashboard as valid JSON with its panels."""
    default = helm.template(values={"metrics.grafanaDashboard.enabled": True}).one(
        "ConfigMap", f"{FULLNAME}-dashboard", NAMESPACE)
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1"
    configmap = helm.template(values_files=(EVERYTHING,)).one(
        "ConfigMap", "edge-sip-dashboard", "monitoring")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["labels"]["team"] == "telephony"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Telephony"}
    (text,) = configmap["data"].values()
    dashboard = json.loads(text)
    assert dashboard == json.loads((CHART / "files" / "grafana-dashboard.json").read_text(
        encoding="utf-8"))
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Trunks by condition", "Gateway health", "Bolna calls by status",
            "Bolna latency", "Kamailio reloads", "Kamailio verification failures"} <= titles
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_default_token_namespaces_reach_the_flag(defaults: Manifests, helm: Helm) -> None:
    """bolna.defaultTokenNamespaces: one --default-token-namespaces per entry; none by
    default (every watched namespace may use the default token)."""
    assert "--default-token-namespaces" not in flags(
        container(defaults.deployment("operator"))["args"])
    limited = helm.template(values={"bolna.defaultTokenNamespaces": ["shared", "team-*"]})
    args = flags(container(limited.deployment("operator"))["args"])
    assert args["--default-token-namespaces"] == ["shared", "team-*"]
