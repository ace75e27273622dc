"""The CarrierTrunk CRD rendered from the models: fresh, structural, documented, bounded,
with the contract's names, defaults and columns; and the SipTrunk CRD untouched by it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.model import names
from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec
from bolna_sip_operator.model.carrier_status import CarrierTrunkStatus
from bolna_sip_operator.model.crd import (
    UNOBSERVED_STATUS,
    carrier_custom_resource_definition,
    render_carrier_yaml,
    render_yaml,
)
from bolna_sip_operator.model.spec import OPERATOR_DEFAULT

REPO = Path(__file__).parents[2]
CHECKED_IN = REPO / "crds" / "carriertrunk.yaml"
IN_CHART = REPO / "charts" / "bolna-sip-operator" / "crds" / "carriertrunk.yaml"


def _version() -> dict[str, Any]:
    return carrier_custom_resource_definition()["spec"]["versions"][0]  # type: ignore[no-any-return]


def _schema() -> dict[str, Any]:
    return _version()["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _spec() -> dict[str, Any]:
    return _schema()["properties"]["spec"]["properties"]  # type: ignore[no-any-return]


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def test_checked_in_crd_is_what_the_models_render() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render_carrier_yaml(), (
        "crds/carriertrunk.yaml is stale: run "
        "`bolna-sip-operator crd --kind CarrierTrunk > crds/carriertrunk.yaml`")


def test_the_chart_carries_the_checked_in_crd() -> None:
    assert IN_CHART.is_symlink() and not Path(IN_CHART.readlink()).is_absolute()
    assert IN_CHART.resolve() == CHECKED_IN.resolve()


def test_the_siptrunk_crd_is_unchanged_by_the_second_kind() -> None:
    """The shared renderer was refactored for two kinds; SipTrunk's bytes stay as they
    were checked in before CarrierTrunk existed."""
    assert (REPO / "crds" / "siptrunk.yaml").read_text(encoding="utf-8") == render_yaml()
    assert "CarrierTrunk" not in render_yaml() and "SipTrunk" not in render_carrier_yaml()


def test_names_as_the_contract_says() -> None:
    crd = carrier_custom_resource_definition()
    assert crd["metadata"]["name"] == names.CARRIER_CRD_NAME == "carriertrunks.sip.bolna.ai"
    assert crd["spec"]["group"] == "sip.bolna.ai"
    assert crd["spec"]["names"] == {
        "kind": "CarrierTrunk", "listKind": "CarrierTrunkList", "plural": "carriertrunks",
        "singular": "carriertrunk", "shortNames": ["ctrunk"],
        "categories": ["bolna", "telephony"]}
    assert crd["spec"]["scope"] == "Namespaced"
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert version["selectableFields"] == [{"jsonPath": ".spec.preset"}]


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in _version()["additionalPrinterColumns"]}
    assert list(columns) == ["Ready", "Bolna", "Gateways", "Calls", "Trunk-ID", "Gen",
                             "Observed", "Age"]
    assert [n for n, c in columns.items() if c.get("priority") == 1] == ["Calls"]
    paths = {n: c["jsonPath"] for n, c in columns.items()}
    assert paths == {
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Bolna": ".status.bolna.health", "Gateways": ".status.healthyGateways",
        "Calls": ".status.bolna.activeCalls", "Trunk-ID": ".status.trunkId",
        "Gen": ".metadata.generation", "Observed": ".status.observedGeneration",
        "Age": ".metadata.creationTimestamp"}


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema(), "root"):
        if path == "root.metadata":
            continue
        assert "type" in node, f"{path} has no type"
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "additionalProperties"):
            assert forbidden not in node, f"{path} has {forbidden}"


def test_every_field_is_described_and_every_spec_string_and_list_bounded() -> None:
    for part in ("spec", "status"):
        for path, node in _walk(_schema()["properties"][part], part):
            assert node.get("description"), f"{path} has no description for kubectl explain"
    for path, node in _walk(_schema()["properties"]["spec"], "spec"):
        if node["type"] == "string":
            assert "maxLength" in node or "enum" in node, f"{path} has no maxLength"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} has no maxItems"


def test_every_bounded_or_defaulted_field_states_it_in_its_description() -> None:
    for path, node in _walk(_schema(), "root"):
        description = node.get("description", "")
        for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
            if key in node:
                assert str(node[key]) in description, f"{path}: {key} not described"
        if "default" in node:
            assert f"Default: {json.dumps(node['default'])}" in description, path
        for value in node.get("enum", ()):
            assert json.dumps(value) in description, f"{path}: enum value {value} not described"


@pytest.mark.parametrize(("field", "default"), [
    ("isActive", True), ("inboundEnabled", True), ("outboundEnabled", True),
    ("channels", 10), ("deletionPolicy", "Delete"),
])
def test_crd_defaults_are_the_contracts(field: str, default: object) -> None:
    assert _spec()[field]["default"] == default


@pytest.mark.parametrize("field", [
    "name", "description", "preset", "defaultInboundAgentId", "authUsername",
    "authPasswordSecretRef", "transport", "codecs", "outboundLeadingPlusEnabled",
    "gateways", "ipAcls", "numbers", "apiTokenSecretRef"])
def test_fields_without_a_crd_default_stay_absent(field: str) -> None:
    """Absent means "not managed" (or an operator default): the apiserver writes nothing."""
    assert "default" not in _spec()[field]


def test_secret_ref_keys_default_to_password_and_token() -> None:
    assert _spec()["authPasswordSecretRef"]["properties"]["key"]["default"] == "password"
    assert _spec()["apiTokenSecretRef"]["properties"]["key"]["default"] == "token"
    assert _spec()["authPasswordSecretRef"]["required"] == ["name"]


def test_lists_are_atomic_bounded_and_defaulted_by_nobody_inside() -> None:
    for field, bound in (("gateways", 8), ("ipAcls", 64), ("numbers", 200)):
        node = _spec()[field]
        assert node.get("x-kubernetes-list-type", "atomic") == "atomic", field
        assert node["maxItems"] == bound
        for path, inner in _walk(node, f"spec.{field}"):
            assert "default" not in inner, f"{path} is defaulted (server-side apply conflicts)"
    gateway = _spec()["gateways"]["items"]["properties"]
    assert (gateway["port"]["minimum"], gateway["port"]["maximum"]) == (1, 65535)
    assert (gateway["priority"]["minimum"], gateway["priority"]["maximum"]) == (1, 1000)


def test_codecs_are_an_ordered_list_of_g711_names() -> None:
    codecs = _spec()["codecs"]
    assert (codecs["minItems"], codecs["maxItems"]) == (1, 2)
    assert codecs["items"]["enum"] == ["PCMU", "PCMA"]
    assert "x-kubernetes-list-type" not in codecs, "atomic: order is preference"


def test_number_and_key_patterns() -> None:
    number = _spec()["numbers"]["items"]["properties"]
    assert number["e164"]["pattern"] == r"^[+][1-9][0-9]{6,14}$"
    assert number["e164"]["maxLength"] == 16
    assert (number["destinationKey"]["minLength"], number["destinationKey"]["maxLength"]) == (
        1, 64)
    assert number["agentId"]["maxLength"] == 128


def test_every_cross_field_rule_is_in_the_crd() -> None:
    rules = {r["rule"] for r in _schema()["properties"]["spec"]["x-kubernetes-validations"]}
    assert rules == {"!has(self.authUsername) || has(self.authPasswordSecretRef)",
                     "!has(self.authPasswordSecretRef) || has(self.authUsername)"}
    for field, count in (("gateways", 1), ("ipAcls", 1), ("numbers", 2), ("codecs", 1)):
        assert len(_spec()[field]["x-kubernetes-validations"]) == count, field
    (root_rule,) = _schema()["x-kubernetes-validations"]
    assert root_rule["fieldPath"] == ".spec.name"
    assert "self.metadata.name" in root_rule["rule"]


def test_no_operator_marker_reaches_the_crd() -> None:
    assert OPERATOR_DEFAULT not in render_carrier_yaml()
    assert "x-bolna" not in render_carrier_yaml()


def test_status_defaults_only_observed_generation_zero() -> None:
    status = _schema()["properties"]["status"]
    assert status["default"] == UNOBSERVED_STATUS
    defaulted = [path for path, node in _walk(status, "status") if "default" in node]
    assert defaulted == ["status", "status.observedGeneration"]
    assert CarrierTrunkStatus.model_validate(UNOBSERVED_STATUS).observedGeneration == 0


def test_status_has_the_contracts_fields() -> None:
    status = _schema()["properties"]["status"]["properties"]
    assert set(status) == {
        "trunkId", "observedGeneration", "conditions", "createStartedAt",
        "passwordSecretVersion", "numbers", "numberCount", "dispatcher", "gateways",
        "healthyGateways", "bolna", "carrierAllowlist"}
    assert status["bolna"]["properties"]["health"]["enum"] == [
        "WaitingForCarrier", "Healthy", "Degraded", "Disabled", "Unknown"]
    assert set(status["carrierAllowlist"]["properties"]) == {
        "sipDomain", "port", "transports", "signallingIps", "rtpPorts"}
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_the_model_reads_what_the_crd_leaves_absent() -> None:
    """The operator reads spec through ``CarrierTrunkSpec``: an absent port, priority or
    list means the same trunk as one written out."""
    absent = CarrierTrunkSpec.model_validate({"gateways": [{"host": "a.example.com"}]})
    given = CarrierTrunkSpec.model_validate(
        {"gateways": [{"host": "a.example.com", "port": 5060, "priority": 1}],
         "ipAcls": [], "numbers": []})
    assert absent.model_dump() == given.model_dump()


def test_yaml_round_trips() -> None:
    assert yaml.safe_load(render_carrier_yaml()) == carrier_custom_resource_definition()
