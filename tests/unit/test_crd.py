"""The CRD rendered from the models: fresh, structural, documented and bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.model.crd import custom_resource_definition, render_yaml

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
    assert fields["priority"]["default"] == 1
    assert "default" not in fields["port"], "the port default depends on transport"
    assert (fields["port"]["minimum"], fields["port"]["maximum"]) == (1, 65535)


def test_status_has_no_defaults() -> None:
    for path, node in _walk(_schema()["properties"]["status"], "status"):
        assert "default" not in node, f"{path}: the operator alone writes status"


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
    assert list(columns) == ["Trunk-ID", "Transport", "Gateways", "Ready", "Reason", "Age",
                             "Provider", "Set", "Numbers"]
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
