"""The CRD rendered from the models: fresh, structural, documented and bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.model.crd import (
    UNOBSERVED_STATUS,
    custom_resource_definition,
    render_yaml,
)
from bolna_sip_operator.model.spec import OPERATOR_DEFAULT, SipTrunkSpec
from bolna_sip_operator.model.status import SipTrunkStatus

CHECKED_IN = Path(__file__).parents[2] / "crds" / "siptrunk.yaml"


def _schema() -> dict[str, Any]:
    version = custom_resource_definition()["spec"]["versions"][0]
    return version["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def test_checked_in_crd_is_what_the_models_render() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render_yaml(), (
        "crds/siptrunk.yaml is stale: run `bolna-sip-operator crd > crds/siptrunk.yaml`")


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema(), "root"):
        if path == "root.metadata":
            continue
        assert "type" in node, f"{path} has no type"
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "additionalProperties"):
            assert forbidden not in node, f"{path} has {forbidden}"


def test_every_spec_and_status_field_is_described() -> None:
    for part in ("spec", "status"):
        for path, node in _walk(_schema()["properties"][part], part):
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_every_spec_string_and_list_is_bounded() -> None:
    for path, node in _walk(_schema()["properties"]["spec"], "spec"):
        if node["type"] == "string":
            assert "maxLength" in node or "enum" in node, f"{path} has no maxLength"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} has no maxItems"


@pytest.mark.parametrize(("field", "default"), [
    ("allow", "ulaw,alaw"), ("disallow", "all"), ("inboundEnabled", False),
    ("outboundLeadingPlusEnabled", True), ("transport", "transport-udp"),
    ("mediaEncryption", "no"), ("mediaEncryptionOptimistic", False),
    ("directMedia", False), ("rtpSymmetric", True), ("forceRport", True),
    ("qualifyFrequency", 60), ("active", True), ("deletionPolicy", "Delete"),
])
def test_spec_defaults_are_bolnas(field: str, default: object) -> None:
    assert _schema()["properties"]["spec"]["properties"][field]["default"] == default


def test_gateway_defaults_and_bounds() -> None:
    gateway = _schema()["properties"]["spec"]["properties"]["gateways"]
    assert (gateway["minItems"], gateway["maxItems"]) == (1, 16)
    fields = gateway["items"]["properties"]
    assert "default" not in fields["port"], "the port default depends on transport"
    assert (fields["port"]["minimum"], fields["port"]["maximum"]) == (1, 65535)
    assert (fields["priority"]["minimum"], fields["priority"]["maximum"]) == (1, 1000)


def test_gateways_are_an_atomic_list_with_no_default_inside() -> None:
    """A default inside an atomic list makes server-side apply conflict between two
    managers applying the same manifest (see ``spec.Gateway``)."""
    gateways = _schema()["properties"]["spec"]["properties"]["gateways"]
    assert gateways.get("x-kubernetes-list-type", "atomic") == "atomic"
    for path, node in _walk(gateways, "spec.gateways"):
        assert "default" not in node, f"{path} is defaulted inside an atomic list"


def test_the_model_still_reads_an_absent_priority_as_one() -> None:
    """Objects stored before this CRD hold ``priority: 1``; new ones leave it out. The
    Bolna sync and the SIP edge read spec through ``SipTrunkSpec``, which sees one trunk."""
    absent = SipTrunkSpec.model_validate(
        {"provider": "plivo", "authType": "ip-based", "ipIdentifiers": [{"ipAddress": "1.2.3.4"}],
         "gateways": [{"gatewayAddress": "a.example.com"}]})
    given = SipTrunkSpec.model_validate(
        {"provider": "plivo", "authType": "ip-based", "ipIdentifiers": [{"ipAddress": "1.2.3.4"}],
         "gateways": [{"gatewayAddress": "a.example.com", "priority": 1}]})
    assert absent.gateways[0].priority == 1
    assert absent.model_dump() == given.model_dump(), (
        "the operator reads spec through the model: both must mean the same trunk")


def test_no_operator_marker_reaches_the_crd() -> None:
    assert OPERATOR_DEFAULT not in render_yaml()
    assert "x-bolna" not in render_yaml()


def test_status_defaults_only_observed_generation_zero() -> None:
    status = _schema()["properties"]["status"]
    assert status["default"] == UNOBSERVED_STATUS == {"observedGeneration": 0}
    assert status["properties"]["observedGeneration"]["default"] == 0
    defaulted = [path for path, node in _walk(status, "status") if "default" in node]
    assert defaulted == ["status", "status.observedGeneration"], (
        "the operator alone writes status: nothing but the unobserved marker is defaulted")


def test_the_unobserved_default_is_valid_under_the_status_model() -> None:
    assert SipTrunkStatus.model_validate(UNOBSERVED_STATUS).observedGeneration == 0


@pytest.mark.parametrize(("path", "facts"), [
    ("spec.gateways[].priority", "Default: 1 (applied by the operator; not written into the "
                                 "object). Range: 1 to 1000."),
    ("spec.gateways[].port", "Range: 1 to 65535."),
    ("spec.gateways", "Items: 1 to 16."),
    ("spec.qualifyFrequency", "Default: 60. Range: 0 to 3600."),
    ("spec.transport", 'One of: "transport-udp", "transport-tcp", "transport-tls". '
                       'Default: "transport-udp".'),
    ("spec.mediaEncryption", 'One of: "no", "sdes". Default: "no".'),
    ("spec.active", "Default: true."),
    ("spec.name", "Length: 1 to 100."),
    ("spec.description", "Length: at most 500."),
    ("spec.ipIdentifiers", "Items: at most 64."),
    ("status.observedGeneration", "Default: 0. Minimum: 0."),
])
def test_descriptions_end_with_the_schemas_facts(path: str, facts: str) -> None:
    nodes = dict(_walk(_schema(), "root"))
    assert nodes[f"root.{path}"]["description"].endswith(" " + facts)


def test_every_bounded_or_defaulted_field_states_it_in_its_description() -> None:
    """The facts are written from the schema itself, so they cannot go stale."""
    keys = {"minimum": "{}", "maximum": "{}", "minLength": "{}", "maxLength": "{}",
            "minItems": "{}", "maxItems": "{}"}
    for path, node in _walk(_schema(), "root"):
        description = node.get("description", "")
        for key, shown in keys.items():
            if key in node:
                assert shown.format(node[key]) in description, f"{path}: {key} not described"
        if "default" in node:
            assert f"Default: {json.dumps(node['default'])}" in description, path
        for value in node.get("enum", ()):
            assert json.dumps(value) in description, f"{path}: enum value {value} not described"


def test_a_models_docstring_beyond_its_first_paragraph_stays_out_of_the_crd() -> None:
    items = _schema()["properties"]["spec"]["properties"]["gateways"]["items"]
    assert items["description"] == ("One of the carrier's SIP gateways (one dispatcher "
                                    "destination in Kamailio).")


def test_names_columns_and_subresources() -> None:
    crd = custom_resource_definition()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "siptrunks.sip.bolna.ai"
    assert spec["names"]["shortNames"] == ["sipt"]
    assert spec["names"]["categories"] == ["bolna", "telephony"]
    assert spec["scope"] == "Namespaced"
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Trunk-ID", "Transport", "Gateways", "Ready", "Reason", "Gen",
                             "Observed", "Age", "Provider", "Set", "Numbers"]
    assert [n for n, c in columns.items() if c.get("priority") == 1] == [
        "Provider", "Set", "Numbers"]


def test_immutable_fields_have_transition_rules() -> None:
    fields = _schema()["properties"]["spec"]["properties"]
    for name in ("provider", "authType"):
        rules = [r["rule"] for r in fields[name]["x-kubernetes-validations"]]
        assert "self == oldSelf" in rules


def test_conditions_are_a_list_map_keyed_by_type() -> None:
    conditions = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {
        "type", "status", "lastTransitionTime", "reason", "message"}


def test_yaml_round_trips() -> None:
    assert yaml.safe_load(render_yaml()) == custom_resource_definition()
