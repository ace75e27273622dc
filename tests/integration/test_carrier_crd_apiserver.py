"""The CarrierTrunk CRD as a real kube-apiserver enforces it, seen through kubectl and the
API: the corpus refused naming the field, the defaults, ``kubectl explain``, the
columns, the status subresource, and what kstatus and Argo CD read of a new object."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec
from bolna_sip_operator.model.crd import UNOBSERVED_STATUS
from bolna_sip_operator.model.manifest import validate_document
from tests.carrier_corpus import CARRIER_INVALID_CASES, CARRIER_VALID_SPECS, carrier_manifest
from tests.corpus import Case
from tests.gitops import judge
from tests.integration.apiserver import Trunks, names_field
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
CARRIER_EXAMPLES = Path(__file__).parents[2] / "examples" / "carriertrunk"


@pytest.mark.parametrize("case", CARRIER_INVALID_CASES, ids=lambda c: c.id)
def test_invalid_carrier_trunk_is_rejected_naming_the_field(
        case: Case, carrier_trunks: Trunks) -> None:
    verdict = carrier_trunks.dry_run_create(case.build())
    assert not verdict.accepted, f"{case.id} was accepted"
    assert names_field(verdict.paths, case.path), f"expected {case.path} in {verdict}"


def test_the_carrier_corpus_has_a_case_per_rule() -> None:
    assert len(CARRIER_INVALID_CASES) >= 60
    assert len({case.id for case in CARRIER_INVALID_CASES}) == len(CARRIER_INVALID_CASES)


def test_rule_messages_say_what_to_do(carrier_trunks: Trunks) -> None:
    """The apiserver prints the rule's message after the field, as ``validate`` does."""
    cases = {case.id: case for case in CARRIER_INVALID_CASES}
    for case_id, words in (("username-without-password", "put the carrier's SIP password"),
                           ("acls-duplicate-host-bits", "lists the same network twice"),
                           ("numbers-duplicate-effective-key", "set a distinct destinationKey"),
                           ("gateway-with-port", "put the port in 'port'"),
                           ("long-object-name-without-spec-name", "set spec.name")):
        verdict = carrier_trunks.dry_run_create(cases[case_id].build())
        assert words in verdict.messages[0], (case_id, verdict.messages)


def test_an_empty_spec_gets_the_crd_defaults_and_nothing_else(
        carrier_trunks: Trunks) -> None:
    verdict = carrier_trunks.dry_run_create(carrier_manifest({}))
    assert verdict.accepted, str(verdict)
    assert verdict.stored is not None
    assert verdict.stored["spec"] == {"isActive": True, "inboundEnabled": True,
                                      "outboundEnabled": True, "channels": 10,
                                      "deletionPolicy": "Delete"}


def test_gateway_port_and_priority_stay_absent_and_secret_keys_are_defaulted(
        carrier_trunks: Trunks) -> None:
    """Inside the atomic gateway list nothing is defaulted (the operator reads 5060 and
    1 through the model); outside any list, the Secret keys are written."""
    spec = {**CARRIER_VALID_SPECS["credentials-default-key"],
            "gateways": [{"host": "a.example.com"}, {"host": "b.example.com", "priority": 2}],
            "apiTokenSecretRef": {"name": "bolna-b"}}
    verdict = carrier_trunks.dry_run_create(carrier_manifest(spec))
    assert verdict.accepted, str(verdict)
    assert verdict.stored is not None
    stored = verdict.stored["spec"]
    assert stored["gateways"] == spec["gateways"]
    assert stored["authPasswordSecretRef"] == {"name": "twilio-termination", "key": "password"}
    assert stored["apiTokenSecretRef"] == {"name": "bolna-b", "key": "token"}
    parsed = CarrierTrunkSpec.model_validate(stored)
    assert [(g.effective_port(), g.priority) for g in parsed.gateways] == [(5060, 1), (5060, 2)]


def test_the_examples_are_stored_as_validate_says(
        kubectl: Kubectl, namespace: str, carrier_trunks: Trunks) -> None:
    kubectl.run("apply", "-n", namespace, "-f", str(CARRIER_EXAMPLES))
    names = set()
    for path in sorted(CARRIER_EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] != "CarrierTrunk":
                continue
            expected = validate_document(document).defaulted
            assert expected is not None
            stored = carrier_trunks.get(namespace, document["metadata"]["name"])
            assert stored["spec"] == expected["spec"]
            names.add(document["metadata"]["name"])
    assert names == {"telnyx-us", "twilio-production", "plivo-india"}


def _explained(kubectl: Kubectl, field: str) -> str:
    """``kubectl explain`` of a field on one line, retried while the apiserver publishes
    a new CRD's OpenAPI (a moment after it is Established)."""
    deadline = time.monotonic() + 30
    while True:
        result = kubectl.run("explain", field, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert result.returncode == 0, f"kubectl explain {field}: {result.stderr}"
    return " ".join(result.stdout.split())


def _spec_fields() -> dict[str, dict[str, Any]]:
    from bolna_sip_operator.model.crd import carrier_custom_resource_definition

    schema = carrier_custom_resource_definition()["spec"]["versions"][0]["schema"]
    return schema["openAPIV3Schema"]["properties"]["spec"]["properties"]  # type: ignore[no-any-return]


def test_kubectl_explain_shows_every_spec_field_with_its_description(
        kubectl: Kubectl, crd: None) -> None:
    """``kubectl explain carriertrunk.spec`` lists each field with the start of its
    description; each field's own page shows the whole description with its facts."""
    out = _explained(kubectl, "carriertrunk.spec")
    for name, field in _spec_fields().items():
        assert name in out, f"{name} missing from kubectl explain carriertrunk.spec"
        first_words = " ".join(field["description"].split()[:4])
        assert first_words in out, f"{name}: {first_words!r} not shown"
    for name, field in _spec_fields().items():
        assert " ".join(field["description"].split()) in _explained(
            kubectl, f"ctrunk.spec.{name}"), name


@pytest.mark.parametrize(("field", "facts"), [
    ("carriertrunk.spec.channels", ["Default: 10.", "Range: 1 to 1000."]),
    ("carriertrunk.spec.isActive", ["Default: true."]),
    ("carriertrunk.spec.preset", ['One of: "plivo", "telnyx", "twilio", "exotel", "vobiz", '
                                  '"vonage", "custom".']),
    ("carriertrunk.spec.transport", ['One of: "udp", "tcp".']),
    ("carriertrunk.spec.codecs", ["Items: 1 to 2."]),
    ("carriertrunk.spec.gateways", ["Items: at most 8.", "Default: [] (applied by the operator"]),
    ("carriertrunk.spec.gateways.port", ["Default: 5060 (applied by the operator",
                                         "Range: 1 to 65535."]),
    ("carriertrunk.spec.gateways.priority", ["Default: 1 (applied by the operator",
                                             "Range: 1 to 1000."]),
    ("carriertrunk.spec.ipAcls.cidr", ["A bare address means /32", "Length: 1 to 43."]),
    ("carriertrunk.spec.numbers", ["Items: at most 200."]),
    ("carriertrunk.spec.numbers.e164", ["Length: 8 to 16."]),
    ("carriertrunk.spec.numbers.destinationKey", ["the e164 without its +", "Length: 1 to 64."]),
    ("carriertrunk.spec.authPasswordSecretRef.key", ['Default: "password".']),
    ("carriertrunk.spec.deletionPolicy", ['One of: "Delete", "Orphan".', 'Default: "Delete".']),
    ("carriertrunk.status.observedGeneration", ["Default: 0.", "Minimum: 0."]),
    ("carriertrunk.status.bolna.health", ['"WaitingForCarrier"']),
])
def test_kubectl_explain_shows_defaults_and_ranges(
        field: str, facts: list[str], kubectl: Kubectl, crd: None) -> None:
    out = _explained(kubectl, field)
    for fact in facts:
        assert fact in out, f"{field}: {fact!r} not in {out!r}"


def test_kubectl_get_wide_shows_both_health_truths(
        kubectl: Kubectl, namespace: str, carrier_trunks: Trunks) -> None:
    carrier_trunks.create(namespace, carrier_manifest(CARRIER_VALID_SPECS["telnyx-ip"],
                                                      name="columns"))
    status = {
        "trunkId": "0b7c2f9e-7f63-4c1e-9d7f-2b8f7d1e4a10", "observedGeneration": 1,
        "healthyGateways": "2/2",
        "bolna": {"health": "WaitingForCarrier", "reportedHealth": "waiting_for_carrier",
                  "activeCalls": 0, "observedAt": "2026-11-29T00:00:00Z"},
        "carrierAllowlist": {"sipDomain": "trunk.bolna.ai", "port": 5060,
                             "transports": ["udp", "tcp"],
                             "signallingIps": ["15.252.21.46", "13.206.230.198"],
                             "rtpPorts": "30000-40000"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                        "message": "Bolna and Kamailio match spec",
                        "lastTransitionTime": "2026-11-29T00:00:00Z",
                        "observedGeneration": 1}],
    }
    patched = carrier_trunks.patch_status(namespace, "columns", status)
    assert patched["status"]["carrierAllowlist"] == status["carrierAllowlist"]
    out = kubectl.run("get", "ctrunk", "-n", namespace, "-o", "wide").stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "BOLNA", "GATEWAYS", "CALLS", "TRUNK-ID",
                              "GEN", "OBSERVED", "AGE"]
    cells = row.split()
    assert cells[:8] == ["columns", "True", "WaitingForCarrier", "2/2", "0",
                         "0b7c2f9e-7f63-4c1e-9d7f-2b8f7d1e4a10", "1", "1"]
    narrow = kubectl.run("get", "carriertrunks", "-n", namespace).stdout.splitlines()[0]
    assert "CALLS" not in narrow.split(), "Calls is a -o wide column"
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=5s",
                "carriertrunk/columns")


def test_status_is_a_subresource_that_spec_writes_cannot_touch(
        namespace: str, carrier_trunks: Trunks) -> None:
    document = carrier_manifest(CARRIER_VALID_SPECS["telnyx-ip"], name="status-guard")
    document["status"] = {"trunkId": "forged"}
    created = carrier_trunks.create(namespace, document)
    assert "trunkId" not in created.get("status", {})


def test_category_short_name_and_selectable_preset(
        kubectl: Kubectl, namespace: str, carrier_trunks: Trunks) -> None:
    resources = kubectl.run("api-resources", "--api-group", "sip.bolna.ai", "-o",
                            "wide").stdout
    line = next(x for x in resources.splitlines() if x.startswith("carriertrunks"))
    assert "ctrunk" in line.split() and "bolna,telephony" in line
    for name, preset in (("a-telnyx", "telnyx"), ("a-plivo", "plivo")):
        carrier_trunks.create(namespace, carrier_manifest({"preset": preset}, name=name))
    out = kubectl.run("get", "ctrunk", "-n", namespace, "--field-selector",
                      "spec.preset=plivo", "-o", "json").stdout
    assert [item["metadata"]["name"] for item in json.loads(out)["items"]] == ["a-plivo"]
    categorised = kubectl.run("get", "bolna", "-n", namespace, "-o", "name").stdout.split()
    assert "carriertrunk.sip.bolna.ai/a-telnyx" in categorised


def _apply(kubectl: Kubectl, namespace: str, manager: str, spec: dict[str, Any]
           ) -> subprocess.CompletedProcess[str]:
    document = carrier_manifest(spec, name="ssa")
    return kubectl.run("apply", "--server-side", f"--field-manager={manager}", "-n",
                       namespace, "-f", "-", stdin=yaml.safe_dump(document), check=False)


def test_server_side_apply_co_owns_identical_lists_and_conflicts_on_different_ones(
        kubectl: Kubectl, namespace: str, carrier_trunks: Trunks) -> None:
    """The gateway, carrier-IP and number lists are atomic with nothing defaulted inside,
    so a second manager's identical manifest co-owns them; a different list conflicts."""
    spec = CARRIER_VALID_SPECS["telnyx-ip"]
    for manager in ("gitops", "other"):
        result = _apply(kubectl, namespace, manager, spec)
        assert result.returncode == 0 and "conflict" not in result.stderr.lower(), result.stderr
    stored = carrier_trunks.get(namespace, "ssa")
    for field in ("gateways", "ipAcls", "numbers"):
        assert stored["spec"][field] == spec[field]
        owners = {entry["manager"] for entry in stored["metadata"]["managedFields"]
                  if f"f:{field}" in (entry.get("fieldsV1") or {}).get("f:spec", {})}
        assert owners == {"gitops", "other"}, field
    changed = {**spec, "gateways": [{"host": "sip.telnyx.com", "priority": 1}]}
    result = _apply(kubectl, namespace, "other", changed)
    assert result.returncode != 0
    assert 'conflict with "gitops"' in result.stderr and ".spec.gateways" in result.stderr


def test_a_carrier_trunk_no_operator_has_seen_reads_as_in_progress(
        kubectl: Kubectl, namespace: str, carrier_trunks: Trunks) -> None:
    text = yaml.safe_dump(carrier_manifest(CARRIER_VALID_SPECS["telnyx-ip"], name="unseen"))
    created = json.loads(kubectl.run("create", "-n", namespace, "-f", "-", "-o", "json",
                                     stdin=text).stdout)
    assert created["status"] == UNOBSERVED_STATUS
    fresh = json.loads(kubectl.run("get", "-n", namespace, "ctrunk", "unseen", "-o",
                                   "json").stdout)
    assert fresh["status"] == {"observedGeneration": 0}
    (verdict,) = judge([fresh], kind="CarrierTrunk")
    assert verdict.kstatus == (
        "InProgress", "CarrierTrunk generation is 1, but latest observed generation is 0")
    assert verdict.argocd == ("Progressing", "Waiting for the operator to observe generation 1")
    marked = carrier_trunks.patch_status(namespace, "unseen",
                                         {"createStartedAt": "2026-11-29T00:00:00Z"})
    assert marked["status"]["observedGeneration"] == 0
