"""The SipTrunk CRD as a real kube-apiserver enforces it, seen through kubectl and the API."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from bolna_sip_operator.model.crd import UNOBSERVED_STATUS
from bolna_sip_operator.model.manifest import validate_document
from bolna_sip_operator.model.spec import SipTrunkSpec
from tests.corpus import INVALID_CASES, VALID_SPECS, Case, manifest
from tests.gitops import judge
from tests.integration.apiserver import Trunks, names_field, rejection
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))


def _trunks(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text())
            if d and d["kind"] in ("SipTrunk", "CarrierTrunk")]


@pytest.mark.parametrize("example", EXAMPLES,
                         ids=lambda p: f"{p.parent.name}-{p.stem}" if p.parent.name in (
                             "carriertrunk", "local", "kind") else p.stem)
def test_example_is_applied_by_kubectl_and_stored_with_the_validators_defaults(
        example: Path, kubectl: Kubectl, namespace: str,
        trunks: Trunks, carrier_trunks: Trunks) -> None:
    """Every example, SipTrunks and CarrierTrunks (examples/carriertrunk/) alike."""
    kubectl.run("apply", "-n", namespace, "-f", str(example))
    documents = _trunks(example)
    assert documents, f"{example} holds no trunk"
    for document in documents:
        api = carrier_trunks if document["kind"] == "CarrierTrunk" else trunks
        stored = api.get(namespace, document["metadata"]["name"])
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


def test_gateway_priority_and_port_stay_absent_when_not_given(trunks: Trunks) -> None:
    """Absent means 1 (priority) and the transport's default (port), as the operator's
    model reads them; the apiserver writes neither (see ``spec.Gateway``)."""
    verdict = trunks.dry_run_create(manifest(VALID_SPECS["tls-default-ports"]))
    assert verdict.accepted, str(verdict)
    assert verdict.stored is not None
    first, second = verdict.stored["spec"]["gateways"]
    assert first == {"gatewayAddress": "a.example.com"}
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


@pytest.mark.parametrize(("field", "value"), [
    ("directMedia", True), ("rtpSymmetric", False), ("forceRport", False)])
def test_fields_bolna_cannot_patch_are_immutable(
        field: str, value: bool, namespace: str, trunks: Trunks) -> None:
    """In Bolna's create schema, not its update schema: refused after creation, with a
    message that says why and what to do; given on create, they are taken."""
    document = manifest(VALID_SPECS["userpass-minimal"], name="create-only")
    document["spec"][field] = value
    created = trunks.create(namespace, document)
    assert created["spec"][field] is value
    with pytest.raises(ApiException) as raised:
        trunks.patch(namespace, "create-only", {"spec": {field: not value}})
    verdict = rejection(raised.value)
    assert f"spec.{field}" in verdict.paths
    assert "update API (PATCH) does not take" in verdict.messages[0]
    assert "create a new SipTrunk" in verdict.messages[0]


def test_other_fields_can_change(namespace: str,
                                 trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="mutable")
    trunks.create(namespace, document)
    patched = trunks.patch(namespace, "mutable",
        {"spec": {"name": "Renamed", "transport": "transport-tcp", "active": False}})
    assert patched["spec"]["name"] == "Renamed"
    assert patched["metadata"]["generation"] == 2


def _explained(kubectl: Kubectl, field: str) -> str:
    """``kubectl explain`` of a field, on one line (it wraps at 80 columns).

    The apiserver publishes a new CRD's OpenAPI a moment after it is Established, so
    the first call may find no schema yet: it is retried for up to 30 s.
    """
    deadline = time.monotonic() + 30
    while True:
        result = kubectl.run("explain", field, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert result.returncode == 0, f"kubectl explain {field}: {result.stderr}"
    return " ".join(result.stdout.split())


def test_kubectl_explain_teaches_the_fields(kubectl: Kubectl, crd: None) -> None:
    out = _explained(kubectl, "siptrunk.spec.gateways")
    assert "gatewayAddress" in out
    assert "Hostname or IP address of the carrier's SIP gateway" in out
    out = _explained(kubectl, "sipt.spec.mediaEncryption")
    assert "Quote" in out


@pytest.mark.parametrize(("field", "facts"), [
    ("siptrunk.spec.gateways.priority", ["Default: 1", "Range: 1 to 1000."]),
    ("siptrunk.spec.gateways.port", ["Range: 1 to 65535."]),
    ("siptrunk.spec.gateways", ["Items: 1 to 16."]),
    ("siptrunk.spec.qualifyFrequency", ["Default: 60.", "Range: 0 to 3600."]),
    ("siptrunk.spec.mediaEncryption", ['One of: "no", "sdes".', 'Default: "no".']),
    ("siptrunk.spec.phoneNumbers.phoneNumber", ["Length: 6 to 16."]),
    ("siptrunk.status.observedGeneration", ["Default: 0.", "Minimum: 0."]),
])
def test_kubectl_explain_shows_defaults_and_ranges(
        field: str, facts: list[str], kubectl: Kubectl, crd: None) -> None:
    out = _explained(kubectl, field)
    for fact in facts:
        assert fact in out, f"{field}: {fact!r} not in {out!r}"


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
                              "GEN", "OBSERVED", "AGE", "PROVIDER", "SET", "NUMBERS"]
    cells = row.split()
    assert cells[:8] == ["columns", "01HQXYZ123ABC456DEF", "transport-udp", "1/1", "True",
                         "Available", "1", "1"]
    assert cells[-3:] == ["twilio", "7", "0"]
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=5s",
                "siptrunk/columns")


def test_status_is_a_subresource_that_spec_writes_cannot_touch(
        namespace: str, trunks: Trunks) -> None:
    document = manifest(VALID_SPECS["userpass-minimal"], name="status-guard")
    document["status"] = {"trunkId": "forged"}
    created = trunks.create(namespace, document)
    assert "status" not in created or "trunkId" not in created.get("status", {})


def test_category_and_short_name_find_trunks(kubectl: Kubectl, crd: None) -> None:
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


# ---- server-side apply on spec.gateways (an atomic list with no default inside) -------

SSA_SPEC: dict[str, Any] = {
    "provider": "plivo", "authType": "ip-based", "inboundEnabled": True,
    "ipIdentifiers": [{"ipAddress": "203.0.113.0/24"}],
    "gateways": [{"gatewayAddress": "a.example.com"},
                 {"gatewayAddress": "b.example.com", "priority": 2}],
}


def _apply(kubectl: Kubectl, namespace: str, manager: str, spec: dict[str, Any]
           ) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --server-side`` of a SipTrunk ``ssa`` as the given field manager."""
    document = {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk",
                "metadata": {"name": "ssa"}, "spec": spec}
    return kubectl.run("apply", "--server-side", f"--field-manager={manager}", "-n",
                       namespace, "-f", "-", stdin=yaml.safe_dump(document), check=False)


def _applied(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "conflict" not in result.stderr.lower(), result.stderr


def _owners(stored: dict[str, Any], field: str) -> set[str]:
    """The managers that own ``spec.<field>``."""
    return {entry["manager"] for entry in stored["metadata"]["managedFields"]
            if f"f:{field}" in (entry.get("fieldsV1") or {}).get("f:spec", {})}


def test_server_side_apply_a_second_manager_applying_the_same_gateways_co_owns_them(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))
    _applied(_apply(kubectl, namespace, "other", SSA_SPEC))
    stored = trunks.get(namespace, "ssa")
    assert stored["spec"]["gateways"] == SSA_SPEC["gateways"]
    assert _owners(stored, "gateways") == {"gitops", "other"}
    assert [g.priority for g in SipTrunkSpec.model_validate(stored["spec"]).gateways] == [1, 2]
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))


def test_server_side_apply_a_manager_of_other_fields_does_not_conflict(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))
    _applied(_apply(kubectl, namespace, "tuner",
                    {"qualifyFrequency": 30, "description": "probe every 30 s"}))
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))
    stored = trunks.get(namespace, "ssa")
    assert stored["spec"]["qualifyFrequency"] == 30
    assert stored["spec"]["description"] == "probe every 30 s"
    assert stored["spec"]["gateways"] == SSA_SPEC["gateways"]
    assert _owners(stored, "gateways") == {"gitops"}
    assert _owners(stored, "qualifyFrequency") == {"tuner"}


@pytest.mark.parametrize("gateways", [
    [{"gatewayAddress": "c.example.com"}],
    [{"gatewayAddress": "a.example.com", "port": 5080},
     {"gatewayAddress": "b.example.com", "priority": 2}],
    [{"gatewayAddress": "a.example.com", "priority": 3},
     {"gatewayAddress": "b.example.com", "priority": 2}],
    [{"gatewayAddress": "a.example.com", "priority": 1},
     {"gatewayAddress": "b.example.com", "priority": 2}],
], ids=["another-gateway", "another-port", "another-priority", "priority-written-out"])
def test_server_side_apply_a_different_gateway_list_conflicts_naming_the_owner(
        gateways: list[dict[str, Any]], kubectl: Kubectl, namespace: str,
        trunks: Trunks) -> None:
    """Each manager owning a different gateway is not a merge: the list is one failover
    decision, so a different list conflicts (``priority: 1`` written out where the owner
    left it absent is a different list too, byte for byte)."""
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))
    result = _apply(kubectl, namespace, "other", {**SSA_SPEC, "gateways": gateways})
    assert result.returncode != 0
    assert 'conflict with "gitops"' in result.stderr and ".spec.gateways" in result.stderr
    assert trunks.get(namespace, "ssa")["spec"]["gateways"] == SSA_SPEC["gateways"]


def test_server_side_apply_two_managers_setting_a_field_differently_conflict(
        kubectl: Kubectl, namespace: str) -> None:
    _applied(_apply(kubectl, namespace, "gitops", SSA_SPEC))
    result = _apply(kubectl, namespace, "other", {**SSA_SPEC, "inboundEnabled": False})
    assert result.returncode != 0
    assert 'conflict with "gitops"' in result.stderr
    assert ".spec.inboundEnabled" in result.stderr
    assert ".spec.gateways" not in result.stderr


# ---- a trunk no operator has seen reads as in progress ---------------------------------

def _get_json(kubectl: Kubectl, namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(kubectl.run("get", "-n", namespace, *what, "-o", "json").stdout)  # type: ignore[no-any-return]


def test_a_trunk_no_operator_has_seen_reads_observed_generation_zero(
        kubectl: Kubectl, namespace: str, trunks: Trunks) -> None:
    text = yaml.safe_dump(manifest(VALID_SPECS["ip-based-minimal"], name="unseen"))
    created = json.loads(kubectl.run("create", "-n", namespace, "-f", "-", "-o", "json",
                                     stdin=text).stdout)
    assert created["status"] == UNOBSERVED_STATUS == {"observedGeneration": 0}

    fresh = _get_json(kubectl, namespace, "siptrunk", "unseen")
    assert fresh["metadata"]["generation"] == 1
    assert fresh["status"] == {"observedGeneration": 0}
    [listed] = _get_json(kubectl, namespace, "siptrunks")["items"]
    assert listed["status"] == {"observedGeneration": 0}

    trunks.patch(namespace, "unseen", {"spec": {"description": "changed before any operator"}})
    updated = _get_json(kubectl, namespace, "siptrunk", "unseen")
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {"observedGeneration": 0}

    without_default = {k: v for k, v in fresh.items() if k != "status"}
    on_create, on_update, before = judge([fresh, updated, without_default])
    assert on_create.kstatus == (
        "InProgress", "SipTrunk generation is 1, but latest observed generation is 0")
    assert on_create.argocd == ("Progressing", "Waiting for the operator to observe generation 1")
    assert on_update.kstatus == (
        "InProgress", "SipTrunk generation is 2, but latest observed generation is 0")
    assert on_update.argocd == ("Progressing", "Waiting for the operator to observe generation 2")
    assert before.kstatus.status == "Current", "what the object read as without the default"


def test_a_status_written_without_observed_generation_still_reads_zero_until_it_is_set(
        namespace: str, trunks: Trunks) -> None:
    trunks.create(namespace, manifest(VALID_SPECS["ip-based-minimal"], name="first-write"))
    marked = trunks.patch_status(namespace, "first-write",
                                 {"createStartedAt": "2026-11-26T00:00:00Z"})
    assert marked["status"]["observedGeneration"] == 0
    observed = trunks.patch_status(namespace, "first-write", {"observedGeneration": 1})
    assert observed["status"]["observedGeneration"] == 1
    cleared = trunks.patch_status(namespace, "first-write", {"observedGeneration": None})
    assert cleared["status"]["observedGeneration"] == 0
    marked_verdict, observed_verdict = judge([marked, observed])
    assert marked_verdict.kstatus.status == "InProgress"
    assert marked_verdict.argocd.status == "Progressing"
    assert observed_verdict.kstatus == ("Current", "Resource is current")
