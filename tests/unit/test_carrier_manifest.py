"""Offline validation of CarrierTrunks, and the model's helpers the operator reads spec
through: the corpus, the defaults, messages a person can act on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bolna_sip_operator.model.carrier_spec import (
    CARRIER_OBJECT_RULES,
    CARRIER_SPEC_RULES,
    CarrierGateway,
    CarrierIpAcl,
    CarrierNumber,
    CarrierTrunkSpec,
    PasswordSecretRef,
    TokenSecretRef,
    carrier_spec_violations,
    network_of,
)
from bolna_sip_operator.model.manifest import check_carrier_spec, validate_document, validate_text
from bolna_sip_operator.model.rules import PropertyRules
from bolna_sip_operator.model.spec import SecretKeyRef
from tests.carrier_corpus import CARRIER_INVALID_CASES, CARRIER_VALID_SPECS, carrier_manifest
from tests.corpus import Case


@pytest.mark.parametrize("case", CARRIER_INVALID_CASES, ids=lambda c: c.id)
def test_invalid_carrier_trunk_is_rejected_naming_the_field(case: Case) -> None:
    report = validate_document(case.build())
    assert report.kind == "CarrierTrunk" and not report.skipped
    assert not report.valid
    assert case.path in [finding.path for finding in report.errors], [
        str(f) for f in report.errors]


@pytest.mark.parametrize("name", sorted(CARRIER_VALID_SPECS))
def test_valid_carrier_trunk_is_accepted(name: str) -> None:
    report = validate_document(carrier_manifest(CARRIER_VALID_SPECS[name]))
    assert report.errors == []
    assert report.defaulted is not None
    assert report.defaulted["kind"] == "CarrierTrunk"


def test_defaults_are_filled_in_as_the_crd_does_and_operator_defaults_left_out() -> None:
    report = validate_document(carrier_manifest(CARRIER_VALID_SPECS["credentials-default-key"]))
    assert report.defaulted is not None
    assert report.defaulted["spec"] == {
        "preset": "twilio", "isActive": True, "inboundEnabled": True, "outboundEnabled": True,
        "channels": 10, "authUsername": "bolna-outbound",
        "authPasswordSecretRef": {"name": "twilio-termination", "key": "password"},
        "gateways": [{"host": "acme.pstn.twilio.com", "port": 5060}],
        "deletionPolicy": "Delete"}


def test_an_empty_spec_is_a_trunk_named_after_its_object() -> None:
    report = validate_document(carrier_manifest({}, name="telnyx-us"))
    assert report.valid
    spec = CarrierTrunkSpec.model_validate({})
    assert spec.effective_name("telnyx-us") == "telnyx-us"
    assert (spec.gateways, spec.ipAcls, spec.numbers) == ([], [], [])
    assert spec.transport is None and spec.codecs is None and spec.preset is None


def test_a_long_object_name_needs_a_spec_name() -> None:
    long_name = "t" * 101
    assert not validate_document(carrier_manifest({}, name=long_name)).valid
    assert validate_document(carrier_manifest({"name": "Telnyx"}, name=long_name)).valid
    assert validate_document(carrier_manifest({}, name="t" * 100)).valid


def test_unquoted_e164_gets_a_hint_to_quote_it() -> None:
    text = """
apiVersion: sip.bolna.ai/v1alpha1
kind: CarrierTrunk
metadata: {name: unquoted}
spec:
  numbers:
    - e164: +13125550147
"""
    (report,) = validate_text(text)
    (finding,) = report.errors
    assert finding.path == "spec.numbers[0].e164"
    assert finding.hint is not None and 'e164: "+14155550123"' in finding.hint


def test_inline_password_is_refused_with_the_way_to_do_it() -> None:
    report = validate_document(carrier_manifest({"authUsername": "u", "authPassword": "x"}))
    (finding,) = [f for f in report.errors if f.path == "spec.authPassword"]
    assert finding.hint is not None and "authPasswordSecretRef: {name: <secret>}" in finding.hint


def test_unknown_field_points_at_kubectl_explain_carriertrunk() -> None:
    report = validate_document(carrier_manifest({"provider": "telnyx"}))
    assert "kubectl explain carriertrunk.spec" in report.errors[0].message


def test_pattern_errors_say_what_to_write() -> None:
    report = validate_document(carrier_manifest({"numbers": [{"e164": "13125550147"}]}))
    assert "a + then 7 to 15 digits" in report.errors[0].message
    report = validate_document(carrier_manifest(
        {"numbers": [{"e164": "+13125550147", "destinationKey": "+1"}]}))
    assert "without a leading +" in report.errors[0].message


def test_siptrunk_fields_in_a_carrier_trunk_are_unknown() -> None:
    """A SipTrunk spec pasted under kind: CarrierTrunk is refused field by field."""
    report = validate_document(carrier_manifest({
        "provider": "twilio", "authType": "userpass",
        "gateways": [{"gatewayAddress": "a.example.com"}]}))
    assert {f.path for f in report.errors} >= {
        "spec.provider", "spec.authType", "spec.gateways[0].gatewayAddress"}


def test_every_rule_has_a_python_twin() -> None:
    rules = list(CARRIER_SPEC_RULES)
    models: tuple[type[BaseModel], ...] = (CarrierTrunkSpec, CarrierGateway, CarrierIpAcl,
                                           CarrierNumber)
    for model in models:
        for info in model.model_fields.values():
            rules += [rule for meta in info.metadata if isinstance(meta, PropertyRules)
                      for rule in meta.rules]
    assert len(rules) >= 7
    assert all(rule.check is not None for rule in rules), "no transition rules on this kind"
    assert all(rule.check is None for rule in CARRIER_OBJECT_RULES), (
        "object rules are checked by object_name_violations")


# ---- the helpers the reconciler reads spec through --------------------------------------

def test_effective_name() -> None:
    assert CarrierTrunkSpec(name="Telnyx production").effective_name("telnyx-us") == (
        "Telnyx production")
    assert CarrierTrunkSpec().effective_name("telnyx-us") == "telnyx-us"


def test_gateway_defaults_identity_and_order() -> None:
    spec = CarrierTrunkSpec.model_validate({"gateways": [
        {"host": "C.example.com", "priority": 3}, {"host": "a.example.com", "priority": 2},
        {"host": "b.example.com", "priority": 2}, {"host": "d.example.com", "port": 5080}]})
    assert [g.effective_port() for g in spec.gateways] == [5060, 5060, 5060, 5080]
    assert spec.gateways[0].identity() == ("c.example.com", 5060)
    assert [g.host for g in spec.ordered_gateways()] == [
        "d.example.com", "a.example.com", "b.example.com", "C.example.com"], (
        "ascending priority, ties in list order")


def test_number_destination_key_defaults_to_the_digits() -> None:
    assert CarrierNumber(e164="+13125550147").effective_destination_key() == "13125550147"
    assert CarrierNumber(e164="+13125550147", destinationKey="0312").effective_destination_key(
    ) == "0312"


@pytest.mark.parametrize(("cidr", "network"), [
    ("192.76.120.10", "192.76.120.10/32"), ("10.1.2.3/8", "10.0.0.0/8"),
    ("FE80::1", "fe80::1/128"), ("2001:db8::1/32", "2001:db8::/32"),
    ("::1.2.3.4", "::102:304/128"), ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_ip_acl_network_is_what_bolna_stores(cidr: str, network: str) -> None:
    assert CarrierIpAcl(cidr=cidr).network() == network == network_of(cidr)


def test_network_of_refuses_what_the_rule_refuses() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        network_of("sip.telnyx.com")
    with pytest.raises(ValueError, match="not an IP address"):
        network_of("::ffff:10.0.0.1")


def test_codecs_text_is_the_wire_form() -> None:
    assert CarrierTrunkSpec(codecs=["PCMA", "PCMU"]).codecs_text() == "PCMA,PCMU"
    assert CarrierTrunkSpec().codecs_text() is None


def test_credentials_and_secret_refs() -> None:
    spec = CarrierTrunkSpec.model_validate(CARRIER_VALID_SPECS["credentials-default-key"])
    assert spec.has_credentials
    assert isinstance(spec.authPasswordSecretRef, PasswordSecretRef)
    assert isinstance(spec.authPasswordSecretRef, SecretKeyRef), "reads like SipTrunk's refs"
    assert spec.authPasswordSecretRef.key == "password"
    token = CarrierTrunkSpec.model_validate({"apiTokenSecretRef": {"name": "b"}})
    assert isinstance(token.apiTokenSecretRef, TokenSecretRef)
    assert token.apiTokenSecretRef.key == "token"
    assert not CarrierTrunkSpec().has_credentials


def test_carrier_spec_violations_is_the_operators_defence_in_depth() -> None:
    """A spec built without validation (as from an object stored under an older CRD)
    is held to the cross-field rules all the same."""
    unchecked = CarrierTrunkSpec.model_construct(
        authUsername="u", authPasswordSecretRef=None, gateways=[], ipAcls=[], numbers=[])
    (violation,) = carrier_spec_violations(unchecked)
    assert violation.path == "spec.authPasswordSecretRef"
    assert carrier_spec_violations(CarrierTrunkSpec()) == []


def test_check_carrier_spec_returns_the_parsed_spec_only_when_valid() -> None:
    findings, parsed = check_carrier_spec({"channels": 20})
    assert findings == [] and parsed is not None and parsed.channels == 20
    findings, parsed = check_carrier_spec({"authUsername": "u"})
    assert parsed is None and [f.path for f in findings] == ["spec.authPasswordSecretRef"]


def test_models_are_strict_like_the_apiserver() -> None:
    bad: dict[str, Any] = {"channels": "10"}
    findings, parsed = check_carrier_spec(bad)
    assert parsed is None and findings[0].path == "spec.channels"
    assert findings[0].hint == "remove the quotes: a number is written without them"
