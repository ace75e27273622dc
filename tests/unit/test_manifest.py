"""Offline validation: the corpus, the examples, and messages a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bolna_sip_operator.model.manifest import validate_document, validate_paths, validate_text
from tests.corpus import INVALID_CASES, VALID_SPECS, Case, manifest

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_the_corpus_covers_at_least_sixty_invalid_manifests() -> None:
    assert len(INVALID_CASES) >= 60
    assert len({case.id for case in INVALID_CASES}) == len(INVALID_CASES)


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_naming_the_field(case: Case) -> None:
    report = validate_document(case.build())
    assert not report.valid
    assert case.path in [finding.path for finding in report.errors], [
        str(f) for f in report.errors]


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_valid_manifest_is_accepted(name: str) -> None:
    report = validate_document(manifest(VALID_SPECS[name]))
    assert report.errors == []
    assert report.defaulted is not None


def test_every_example_is_a_valid_trunk_with_its_secrets_skipped() -> None:
    reports = validate_paths([str(EXAMPLES)])
    trunks = [r for r in reports if not r.skipped]
    # SipTrunks: four for real carriers, two in examples/local/, one in kind/;
    # CarrierTrunks: three in examples/carriertrunk/, one in kind/
    assert [r.kind for r in trunks].count("SipTrunk") == 7
    assert [r.kind for r in trunks].count("CarrierTrunk") == 4
    assert all(r.valid for r in trunks), [str(e) for r in trunks for e in r.errors]
    assert {r.kind for r in reports if r.skipped} == {"Secret"}


def test_defaults_are_filled_in_as_bolna_documents_them() -> None:
    report = validate_document(manifest(VALID_SPECS["ip-based-minimal"]))
    assert report.defaulted is not None
    spec = report.defaulted["spec"]
    assert spec["allow"] == "ulaw,alaw"
    assert spec["disallow"] == "all"
    assert spec["transport"] == "transport-udp"
    assert spec["mediaEncryption"] == "no"
    assert spec["qualifyFrequency"] == 60
    assert spec["active"] is True
    assert spec["inboundEnabled"] is False
    assert spec["outboundLeadingPlusEnabled"] is True
    assert spec["rtpSymmetric"] is True and spec["forceRport"] is True
    assert spec["directMedia"] is False and spec["mediaEncryptionOptimistic"] is False
    assert spec["deletionPolicy"] == "Delete"
    assert spec["gateways"] == [{"gatewayAddress": "21467306465797919.zt.plivo.com"}], (
        "priority is defaulted by the model, not the CRD: the apiserver stores it absent")
    assert "phoneNumbers" not in spec and "name" not in spec


def test_a_given_priority_is_kept_even_when_it_equals_the_default() -> None:
    document = manifest({**VALID_SPECS["ip-based-minimal"], "gateways": [
        {"gatewayAddress": "a.example.com", "priority": 1},
        {"gatewayAddress": "b.example.com"}]})
    report = validate_document(document)
    assert report.defaulted is not None
    assert report.defaulted["spec"]["gateways"] == [
        {"gatewayAddress": "a.example.com", "priority": 1}, {"gatewayAddress": "b.example.com"}]


def test_unquoted_no_gets_a_plain_words_hint() -> None:
    text = """
apiVersion: sip.bolna.ai/v1alpha1
kind: SipTrunk
metadata: {name: tls}
spec:
  provider: twilio
  authType: ip-based
  ipIdentifiers: [{ipAddress: 203.0.113.0/24}]
  gateways: [{gatewayAddress: sip.example.com}]
  mediaEncryption: no
"""
    [report] = validate_text(text)
    [finding] = report.errors
    assert finding.path == "spec.mediaEncryption"
    assert "got false" in finding.message
    assert finding.hint is not None and 'mediaEncryption: "no"' in finding.hint


def test_unquoted_phone_number_gets_a_hint_to_quote_it() -> None:
    document = manifest({**VALID_SPECS["userpass-minimal"],
                         "phoneNumbers": [{"phoneNumber": 919876543210}]})
    [finding] = validate_document(document).errors
    assert finding.path == "spec.phoneNumbers[0].phoneNumber"
    assert finding.hint is not None and "quotes" in finding.hint


def test_inline_password_is_refused_with_the_way_to_do_it() -> None:
    document = manifest({**VALID_SPECS["userpass-minimal"], "authPassword": "canary-pw-1"})
    [finding] = validate_document(document).errors
    assert finding.path == "spec.authPassword"
    assert finding.hint is not None and "authPasswordSecretRef" in finding.hint
    assert "canary-pw-1" not in str(finding)


def test_sdes_without_tls_says_how_to_fix_it() -> None:
    document = manifest({**VALID_SPECS["userpass-minimal"], "mediaEncryption": "sdes"})
    [finding] = validate_document(document).errors
    assert finding.path == "spec.mediaEncryption"
    assert "transport-tls" in finding.message and '"no"' in finding.message


def test_nulls_are_treated_as_absent_like_the_apiserver_does() -> None:
    document = manifest({**VALID_SPECS["userpass-minimal"], "description": None,
                         "active": None})
    report = validate_document(document)
    assert report.errors == []
    assert report.defaulted is not None and report.defaulted["spec"]["active"] is True


def test_broken_yaml_is_reported_not_raised() -> None:
    [report] = validate_text("spec: [unclosed", source="broken.yaml")
    assert not report.valid
    assert "not valid YAML" in report.errors[0].message


def test_wrong_api_version_is_named() -> None:
    document = manifest(VALID_SPECS["userpass-minimal"])
    document["apiVersion"] = "sip.bolna.ai/v1"
    report = validate_document(document)
    assert [f.path for f in report.errors] == ["apiVersion"]


def test_a_key_given_twice_is_a_warning_not_an_error() -> None:
    text = """
apiVersion: sip.bolna.ai/v1alpha1
kind: SipTrunk
metadata: {name: twice}
spec:
  provider: plivo
  authType: ip-based
  ipIdentifiers: [{ipAddress: 203.0.113.0/24}]
  gateways: [{gatewayAddress: sip.example.com}]
  transport: transport-tcp
  transport: transport-udp
"""
    [report] = validate_text(text)
    assert report.valid
    [warning] = report.warnings
    assert warning.path == "(line 11)"
    assert "'transport' is given twice" in warning.message
