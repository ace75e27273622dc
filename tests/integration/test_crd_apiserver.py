"""The SipTrunk CRD as a real kube-apiserver enforces it, seen through kubectl and the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from bolna_sip_operator.model.manifest import validate_document
from tests.corpus import INVALID_CASES, VALID_SPECS, Case, manifest
from tests.integration.apiserver import Trunks, names_field, rejection
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))


def _trunks(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "SipTrunk"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_applied_by_kubectl_and_stored_with_the_validators_defaults(
        example: Path, kubectl: Kubectl, namespace: str,
        trunks: Trunks) -> None:
    kubectl.run("apply", "-n", namespace, "-f", str(example))
    for document in _trunks(example):
        stored = trunks.get(namespace, document["metadata"]["name"])
        expected = validate_document(document).defaulted
        assert expected is not None
        assert stored["spec"] == expected["spec"]


def test_defaults_land_as_bolna_documents_them(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    kubectl.run("apply", "-n", namespace, "-f",
                str(next(p for p in EXAMPLES if p.stem == "plivo-ip-based")))
    spec = trunks.get(namespace, "plivo-elastic")["spec"]
    assert spec["allow"] == "ulaw,alaw"
    assert spec["disallow"] == "all"
    assert spec["transport"] == "transport-udp"
    assert spec["mediaEncryption"] == "no"
    assert spec["mediaEncryptionOptimistic"] is False
    assert spec["qualifyFrequency"] == 60
    assert spec["active"] is True
    assert spec["inboundEnabled"] is True
    assert spec["outboundLeadingPlusEnabled"] is True
    assert spec["directMedia"] is False
    assert spec["rtpSymmetric"] is True
    assert spec["forceRport"] is True
    assert spec["deletionPolicy"] == "Delete"
    assert spec["gateways"] == [{"gatewayAddress": "21467306465797919.zt.plivo.com",
                                 "port": 5060, "priority": 1}]


def test_gateway_priority_defaults_and_port_stays_absent_for_the_transport_default(
        trunks: Trunks) -> None:
    verdict = trunks.dry_run_create(manifest(VALID_SPECS["tls-default-ports"]))
    assert verdict.accepted, str(verdict)
    assert verdict.stored is not None
    first, second = verdict.stored["spec"]["gateways"]
    assert first == {"gatewayAddress": "a.example.com", "priority": 1}
    assert second == {"gatewayAddress": "a.example.com", "port": 5060, "priority": 2}


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_by_the_apiserver_naming_the_field(
        case: Case, trunks: Trunks) -> None:
    verdict = trunks.dry_run_create(case.build())
    assert not verdict.accepted, f"{case.id} was accepted"
    assert names_field(verdict.paths, case.path), f"expected {case.path} in {verdict}"


def test_at_least_forty_invalid_manifests_are_in_the_corpus() -> None:
    assert len(INVALID_CASES) >= 40


def test_kubectl_reads_an_unquoted_no_as_false_and_the_apiserver_names_the_field(
        kubectl: Kubectl, namespace: str) -> None:
    text = """
apiVersion: sip.bolna.ai/v1alpha1
kind: SipTrunk
metadata: {name: yaml-trap}
spec:
  provider: plivo
  authType: ip-based
  ipIdentifiers: [{ipAddress: 203.0.113.0/24}]
  gateways: [{gatewayAddress: sip.example.com}]
  mediaEncryption: no
"""
    result = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=text, check=False)
    assert result.returncode != 0
    assert "spec.mediaEncryption" in result.stderr


@pytest.mark.parametrize("field", ["provider", "authType"])
def test_provider_and_auth_type_are_immutable(
        field: str, namespace: str, trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="immutable")
    trunks.create(namespace, document)
    change = {"provider": "telnyx"} if field == "provider" else {
        "authType": "ip-based", "ipIdentifiers": [{"ipAddress": "203.0.113.1"}]}
    with pytest.raises(ApiException) as raised:
        trunks.patch(namespace, "immutable", {"spec": change})
    verdict = rejection(raised.value)
    assert f"spec.{field}" in verdict.paths
    assert "cannot be changed" in verdict.messages[0]


def test_other_fields_can_change(namespace: str,
                                 trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="mutable")
    trunks.create(namespace, document)
    patched = trunks.patch(namespace, "mutable",
        {"spec": {"name": "Renamed", "transport": "transport-tcp", "active": False}})
    assert patched["spec"]["name"] == "Renamed"
    assert patched["metadata"]["generation"] == 2


def test_kubectl_explain_teaches_the_fields(kubectl: Kubectl) -> None:
    out = kubectl.run("explain", "siptrunk.spec.gateways").stdout
    assert "gatewayAddress" in out
    assert "Hostname or IP address of the carrier's SIP gateway" in out
    out = kubectl.run("explain", "sipt.spec.mediaEncryption").stdout
    assert "Quote" in out


def test_kubectl_get_wide_shows_the_columns_and_status(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="columns")
    trunks.create(namespace, document)
    status = {
        "trunkId": "01HQXYZ123ABC456DEF", "observedGeneration": 1, "healthyGateways": "1/1",
        "phoneNumberCount": 0, "dispatcher": {"setId": 7},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                        "message": "Bolna and Kamailio match spec",
                        "lastTransitionTime": "2026-11-26T00:00:00Z",
                        "observedGeneration": 1}],
    }
    trunks.patch_status(namespace, "columns", status)
    out = kubectl.run("get", "sipt", "-n", namespace, "-o", "wide").stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "TRUNK-ID", "TRANSPORT", "GATEWAYS", "READY", "REASON",
                              "AGE", "PROVIDER", "SET", "NUMBERS"]
    cells = row.split()
    assert cells[:6] == ["columns", "01HQXYZ123ABC456DEF", "transport-udp", "1/1", "True",
                         "Available"]
    assert cells[-3:] == ["twilio", "7", "0"]
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=5s",
                "siptrunk/columns")


def test_status_is_a_subresource_that_spec_writes_cannot_touch(
        namespace: str, trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="status-guard")
    document["status"] = {"trunkId": "forged"}
    created = trunks.create(namespace, document)
    assert "status" not in created or "trunkId" not in created.get("status", {})


def test_category_and_short_name_find_trunks(kubectl: Kubectl) -> None:
    resources = kubectl.run("api-resources", "--api-group", "sip.bolna.ai", "-o", "wide").stdout
    assert "sipt" in resources
    assert "bolna,telephony" in resources


def test_provider_is_a_selectable_field(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    for name, spec in (("a-twilio", VALID_SPECS["userpass-minimal"]),
                       ("a-plivo", VALID_SPECS["ip-based-minimal"])):
        trunks.create(namespace, manifest(spec, name=name))
    out = kubectl.run("get", "sipt", "-n", namespace, "--field-selector",
                      "spec.provider=plivo", "-o", "json").stdout
    assert [item["metadata"]["name"] for item in json.loads(out)["items"]] == ["a-plivo"]
