"""Render the SipTrunk and CarrierTrunk CRDs from the pydantic models.

The models in ``spec.py`` and ``status.py`` (SipTrunk) and ``carrier_spec.py`` and
``carrier_status.py`` (CarrierTrunk) are the API's single source of truth; this module
turns their JSON schema into a structural OpenAPI v3 schema as the apiserver wants it:
``$ref`` inlined, ``Optional[X]`` as plain X (absent is how Kubernetes says "not set";
the apiserver prunes nulls), no ``title`` or ``additionalProperties``, and keys in a
stable, readable order so the checked-in ``crds/siptrunk.yaml`` and
``crds/carriertrunk.yaml`` diff cleanly. Tests regenerate them and fail when a
checked-in file is stale. Both kinds go through the same functions, so they are
documented, defaulted and bounded alike.

Every field's description ends with what the schema says of it (allowed values,
default, range, length, item count), written here from the same schema the apiserver
enforces, so ``kubectl explain`` shows them and they cannot go stale.

The status schema gets one default of its own, ``status: {observedGeneration: 0}``
and ``observedGeneration: 0`` under it (see ``UNOBSERVED_STATUS``): a SipTrunk the
operator has never written reads as in progress to kstatus and Argo CD, not as current.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from . import names
from .carrier_spec import CARRIER_OBJECT_RULES, CarrierTrunkSpec
from .carrier_status import CarrierTrunkStatus
from .spec import OPERATOR_DEFAULT, SipTrunkSpec
from .status import SipTrunkStatus

Schema = dict[str, Any]

_KEY_ORDER = (
    "description", "type", "format", "enum", "default", "minimum", "maximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "items", "properties",
    "required", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
)
_DROPPED_KEYS = {"title", "additionalProperties", "$defs"}

_HEADER = (
    "# Generated from operator/bolna_sip_operator/model by `bolna-sip-operator crd`.\n"
    "# Do not edit by hand: change the models, then run\n"
    "#   bolna-sip-operator crd > crds/siptrunk.yaml\n"
)
_CARRIER_HEADER = (
    "# Generated from operator/bolna_sip_operator/model by `bolna-sip-operator crd`.\n"
    "# Do not edit by hand: change the models, then run\n"
    "#   bolna-sip-operator crd --kind CarrierTrunk > crds/carriertrunk.yaml\n"
)


UNOBSERVED_STATUS: Schema = {"observedGeneration": 0}
"""What the apiserver serves as ``status`` before the operator has written one.

kstatus (``sigs.k8s.io/cli-utils/pkg/kstatus/status``, which Flux's health checks use)
reads a resource whose ``status.observedGeneration`` differs from
``metadata.generation`` as InProgress, and one with no status at all as Current; Argo
CD's health Lua for SipTrunk reads ``observedGeneration < generation`` as Progressing.
Structural defaults are applied whenever an object is read from etcd (get, list,
watch, the response to a create), even though the status subresource drops ``status``
from a create. Two defaults: this object on ``status`` (absent status), and
``observedGeneration: 0`` on the property (a status written without one, or with it
removed). Nothing else is defaulted: the operator alone writes status.
"""

_DESCRIBED_DEFAULT_SUFFIX = " (applied by the operator; not written into the object)"


def structural_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> Schema:
    """The model's JSON schema as a Kubernetes structural schema.

    Not yet documented (see ``documented``): a field whose default only the model
    applies (``OPERATOR_DEFAULT``) still carries its default and marker here.
    """
    raw = model.model_json_schema(mode="validation")
    definitions: dict[str, Schema] = raw.get("$defs", {})
    return _structural(raw, definitions, keep_defaults)


def documented(node: Schema) -> Schema:
    """The schema with each field's description ending in what the schema says of it.

    Allowed values, default, range, length and item count are read from the schema
    itself, the same keys the apiserver enforces, and appended to the description
    (which ``kubectl explain`` prints). A default that only the model applies
    (``OPERATOR_DEFAULT``) is documented here and then left out of the schema.
    """
    result = dict(node)
    if "properties" in result:
        result["properties"] = {name: documented(child)
                                for name, child in result["properties"].items()}
    if "items" in result:
        result["items"] = documented(result["items"])
    operator_default = bool(result.pop(OPERATOR_DEFAULT, False))
    facts = _facts(result, operator_default)
    if operator_default:
        result.pop("default", None)
    text = _summary(result.get("description", ""))
    if facts:
        if text and not text.endswith((".", "!", "?", ")")):
            text += "."
        text = f"{text} {facts}".strip()
    if not text:
        return result
    if "description" in result:
        result["description"] = text
        return result
    return {"description": text, **result}


def _summary(description: str) -> str:
    """A description up to its first blank line, on one line.

    A model's docstring becomes its description; its first paragraph is for the user
    (``kubectl explain``), the rest for the developer reading the model.
    """
    return " ".join(description.split("\n\n", 1)[0].split())


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _span(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"exactly {low}" if low == high else f"{low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _facts(node: Schema, operator_default: bool) -> str:
    facts: list[str] = []
    if "enum" in node:
        facts.append("One of: " + ", ".join(_json(value) for value in node["enum"]) + ".")
    if "default" in node:
        suffix = _DESCRIBED_DEFAULT_SUFFIX if operator_default else ""
        facts.append(f"Default: {_json(node['default'])}{suffix}.")
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        facts.append(f"Range: {low} to {high}.")
    elif low is not None:
        facts.append(f"Minimum: {low}.")
    elif high is not None:
        facts.append(f"Maximum: {high}.")
    for low_key, high_key, label in (("minLength", "maxLength", "Length"),
                                     ("minItems", "maxItems", "Items")):
        if low_key in node or high_key in node:
            facts.append(f"{label}: {_span(node.get(low_key), node.get(high_key))}.")
    return " ".join(facts)


def _structural(node: Schema, definitions: dict[str, Schema], keep_defaults: bool) -> Schema:
    siblings = {k: v for k, v in node.items() if k not in ("$ref", "anyOf")}
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**_structural(target, definitions, keep_defaults)}
        merged.update(_structural(siblings, definitions, keep_defaults))
        return _ordered(merged)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        if len(branches) != 1:
            raise ValueError(f"a union other than Optional[X] has no structural form: {node}")
        merged = {**_structural(branches[0], definitions, keep_defaults)}
        merged.update(_structural(siblings, definitions, keep_defaults))
        return _ordered(merged)

    result: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and (value is None or not keep_defaults)):
            continue
        if key == "properties":
            value = {name: _structural(child, definitions, keep_defaults)
                     for name, child in value.items()}
        elif key == "items":
            value = _structural(value, definitions, keep_defaults)
        result[key] = value
    return _ordered(result)


def _ordered(schema: Schema) -> Schema:
    known = [key for key in _KEY_ORDER if key in schema]
    rest = sorted(key for key in schema if key not in _KEY_ORDER)
    return {key: schema[key] for key in known + rest}


def _default_unobserved(status: Schema) -> Schema:
    """The status schema with the defaults of ``UNOBSERVED_STATUS`` (see there)."""
    properties = dict(status["properties"])
    for name, value in UNOBSERVED_STATUS.items():
        field = properties[name]
        properties[name] = _ordered({
            **field, "default": value,
            "description": (field["description"].rstrip(".") + "; 0 until the operator "
                            "first writes it, so that kstatus and Argo CD read a trunk no "
                            "operator has seen as in progress."),
        })
    return _ordered({**status, "default": dict(UNOBSERVED_STATUS), "properties": properties})


def _condition_column(name: str, field: str, description: str) -> Schema:
    return {"name": name, "type": "string", "description": description,
            "jsonPath": f'.status.conditions[?(@.type=="Ready")].{field}'}


def printer_columns() -> list[Schema]:
    """What ``kubectl get siptrunks`` shows; ``priority: 1`` columns only with -o wide."""
    return [
        {"name": "Trunk-ID", "type": "string", "jsonPath": ".status.trunkId",
         "description": "Bolna's ID of the trunk."},
        {"name": "Transport", "type": "string", "jsonPath": ".spec.transport",
         "description": "SIP signalling transport."},
        {"name": "Gateways", "type": "string", "jsonPath": ".status.healthyGateways",
         "description": "Gateways answering OPTIONS, out of all."},
        _condition_column("Ready", "status", "Whether the trunk is ready for calls."),
        _condition_column("Reason", "reason", "Why the trunk is or is not ready."),
        {"name": "Gen", "type": "integer", "jsonPath": ".metadata.generation",
         "description": "The spec's generation."},
        {"name": "Observed", "type": "integer", "jsonPath": ".status.observedGeneration",
         "description": ("The generation the status describes; behind Gen: the operator "
                         "has not looked at the newest spec yet.")},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Provider", "type": "string", "jsonPath": ".spec.provider", "priority": 1,
         "description": "The carrier."},
        {"name": "Set", "type": "integer", "jsonPath": ".status.dispatcher.setId",
         "priority": 1, "description": "Kamailio dispatcher set ID."},
        {"name": "Numbers", "type": "integer", "jsonPath": ".status.phoneNumberCount",
         "priority": 1, "description": "Phone numbers Bolna holds for the trunk."},
    ]


def carrier_printer_columns() -> list[Schema]:
    """What ``kubectl get carriertrunks`` shows: Ready, then the two health truths side
    by side (Bolna's call-outcome health, the SIP edge's gateway probes), then as
    SipTrunk's. ``priority: 1`` columns only with -o wide."""
    return [
        _condition_column("Ready", "status", "Whether the trunk is ready for calls."),
        {"name": "Bolna", "type": "string", "jsonPath": ".status.bolna.health",
         "description": "Bolna's own call-outcome health of the trunk."},
        {"name": "Gateways", "type": "string", "jsonPath": ".status.healthyGateways",
         "description": "Gateways answering the SIP edge's OPTIONS, out of all."},
        {"name": "Calls", "type": "integer", "jsonPath": ".status.bolna.activeCalls",
         "priority": 1, "description": "Calls on the trunk now, as Bolna reports them."},
        {"name": "Trunk-ID", "type": "string", "jsonPath": ".status.trunkId",
         "description": "Bolna's ID of the trunk."},
        {"name": "Gen", "type": "integer", "jsonPath": ".metadata.generation",
         "description": "The spec's generation."},
        {"name": "Observed", "type": "integer", "jsonPath": ".status.observedGeneration",
         "description": ("The generation the status describes; behind Gen: the operator "
                         "has not looked at the newest spec yet.")},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def _definition(*, kind: str, plural: str, singular: str, short_names: tuple[str, ...],
                crd_name: str, root: Schema, columns: list[Schema],
                selectable: list[str]) -> Schema:
    """The CRD around a root schema: one shape for both kinds."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": names.GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(names.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [{
                "name": names.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "selectableFields": [{"jsonPath": path} for path in selectable],
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def _root(*, kind: str, description: str, spec_schema: Schema, status_schema: Schema
          ) -> Schema:
    """The object's schema: apiVersion, kind, metadata, spec and the defaulted status."""
    return {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": (
                f"The versioned schema of this object: {names.API_VERSION}.")},
            "kind": {"type": "string", "description": f"{kind}."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": _default_unobserved(status_schema),
        },
    }


def custom_resource_definition() -> Schema:
    """The SipTrunk CRD as a dict, ready for YAML or the apiextensions API."""
    spec_schema = structural_schema(SipTrunkSpec)
    spec_schema["description"] = (
        "The desired trunk: every field of Bolna's Create SIP Trunk API, plus the "
        "operator's own (secret references, deletionPolicy).")
    status_schema = structural_schema(SipTrunkStatus, keep_defaults=False)
    status_schema["description"] = (
        "What the operator observed in Bolna and on the SIP edge. Written by the "
        "operator only.")
    root = _root(
        kind=names.KIND,
        description=(
            "SipTrunk connects a carrier's SIP trunk (Twilio, Plivo, Telnyx, Vonage, ...) "
            "to Bolna. The operator keeps Bolna's trunk and phone numbers equal to spec, "
            "loads the gateways into every Kamailio replica as one dispatcher set, and "
            "reports gateway health and conditions in status."),
        spec_schema=spec_schema, status_schema=status_schema)
    return _definition(
        kind=names.KIND, plural=names.PLURAL, singular=names.SINGULAR,
        short_names=names.SHORT_NAMES, crd_name=names.CRD_NAME, root=documented(root),
        columns=printer_columns(), selectable=[".spec.provider", ".spec.authType"])


def carrier_custom_resource_definition() -> Schema:
    """The CarrierTrunk CRD as a dict, ready for YAML or the apiextensions API."""
    spec_schema = structural_schema(CarrierTrunkSpec)
    spec_schema["description"] = (
        "The desired trunk: every setting of Bolna's /trunk API, its gateways, carrier "
        "IPs and numbers, plus the operator's own (secret references, deletionPolicy).")
    status_schema = structural_schema(CarrierTrunkStatus, keep_defaults=False)
    status_schema["description"] = (
        "What the operator observed in Bolna and on the SIP edge. Written by the "
        "operator only.")
    root = _root(
        kind=names.CARRIER_KIND,
        description=(
            "CarrierTrunk connects one carrier (Telnyx, Twilio, Plivo, Exotel, Vobiz, "
            "Vonage, ...) to Bolna's SIP trunks (Bolna's /trunk API). The operator keeps "
            "Bolna's trunk, gateways, carrier IPs and numbers equal to spec, loads the "
            "gateways into every Kamailio replica as one dispatcher set, and reports "
            "Bolna's health, gateway health and conditions in status."),
        spec_schema=spec_schema, status_schema=status_schema)
    root["x-kubernetes-validations"] = [rule.to_schema() for rule in CARRIER_OBJECT_RULES]
    return _definition(
        kind=names.CARRIER_KIND, plural=names.CARRIER_PLURAL,
        singular=names.CARRIER_SINGULAR, short_names=names.CARRIER_SHORT_NAMES,
        crd_name=names.CARRIER_CRD_NAME, root=documented(root),
        columns=carrier_printer_columns(), selectable=[".spec.preset"])


def render_yaml() -> str:
    """The CRD as the YAML checked in at ``crds/siptrunk.yaml``."""
    return _HEADER + _dump(custom_resource_definition())


def render_carrier_yaml() -> str:
    """The CarrierTrunk CRD as the YAML checked in at ``crds/carriertrunk.yaml``."""
    return _CARRIER_HEADER + _dump(carrier_custom_resource_definition())


def _dump(crd: Schema) -> str:
    return yaml.safe_dump(crd, sort_keys=False, width=100, allow_unicode=True)
