"""The pure half of ``bolna-sip-operator import``: names and manifests from Bolna's trunks."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.bolna.wire import PhoneNumber, Trunk
from bolna_sip_operator.importer import ImportedTrunk, object_names, trunk_manifest
from bolna_sip_operator.model.manifest import validate_document

# RFC 1123 label: what Kubernetes accepts as a SipTrunk's (and a Secret's) name.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def test_names_are_dns_labels_made_distinct() -> None:
    assert object_names(["Twilio Production", "twilio production", "", "***",
                         "x" * 80, "x" * 80]) == [
        "twilio-production", "twilio-production-2", "trunk", "trunk-2",
        "x" * 63, "x" * 61 + "-2"]


@given(st.lists(st.text(max_size=90), max_size=12))
def test_any_names_give_distinct_valid_labels(trunk_names: list[str]) -> None:
    result = object_names(trunk_names)
    assert len(result) == len(set(result)) == len(trunk_names)
    assert all(DNS_LABEL.fullmatch(name) for name in result)


def test_a_field_bolna_did_not_send_is_left_to_the_default() -> None:
    trunk = Trunk(id="t1", name="Sparse", provider="custom", auth_type="ip-based",
                  gateways=[{"gateway_address": "gw.example.com"}],
                  ip_identifiers=[{"ip_address": "192.0.2.1"}])
    document = trunk_manifest(ImportedTrunk(trunk, []), "sparse")
    assert document["spec"] == {
        "name": "Sparse", "provider": "custom", "authType": "ip-based",
        "gateways": [{"gatewayAddress": "gw.example.com"}],
        "ipIdentifiers": [{"ipAddress": "192.0.2.1"}], "deletionPolicy": "Orphan"}
    assert document["metadata"] == {"name": "sparse",
                                    "annotations": {"sip.bolna.ai/trunk-id": "t1"}}
    assert validate_document(document).valid


def test_userpass_refers_to_a_placeholder_secret_and_deleted_numbers_stay_out() -> None:
    trunk = Trunk(id="t2", name="Twilio", provider="twilio", auth_type="userpass",
                  auth_username="user", media_encryption="no", is_active=False,
                  gateways=[{"gateway_address": "a.example.com", "port": 5061,
                             "priority": 2}])
    numbers = [PhoneNumber(id="n1", phone_number="+14155550100", name="Main"),
               PhoneNumber(id="n2", phone_number="+14155550101", deleted=True)]
    document = trunk_manifest(ImportedTrunk(trunk, numbers), "twilio", namespace="tel",
                              deletion_policy="Delete", token_secret="acct-b")
    spec = document["spec"]
    assert spec["authPasswordSecretRef"] == {"name": "twilio-sip", "key": "password"}
    assert spec["apiTokenSecretRef"] == {"name": "acct-b", "key": "token"}
    assert spec["phoneNumbers"] == [{"phoneNumber": "+14155550100", "name": "Main"}]
    assert spec["active"] is False and spec["mediaEncryption"] == "no"
    assert spec["gateways"] == [{"gatewayAddress": "a.example.com", "port": 5061,
                                 "priority": 2}]
    assert spec["deletionPolicy"] == "Delete"
    assert document["metadata"]["namespace"] == "tel"
    assert document["metadata"]["annotations"] == {
        "sip.bolna.ai/trunk-id": "t2", "sip.bolna.ai/password-matches-bolna": "true"}
    assert validate_document(document).valid
