"""Render the SipTrunk CRD from the pydantic models.

The models in ``spec.py`` and ``status.py`` are the API's single source of truth; this
module turns their JSON schema into a structural OpenAPI v3 schema as the apiserver wants
it: ``$ref`` inlined, ``Optional[X]`` as plain X (absent is how Kubernetes says "not
set"; the apiserver prunes nulls), no ``title`` or ``additionalProperties``, and keys in
a stable, readable order so the checked-in ``crds/siptrunk.yaml`` diffs cleanly.
A test regenerates it and fails when the checked-in file is stale.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from . import names
from .spec import SipTrunkSpec
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


def structural_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> Schema:
    """The model's JSON schema as a Kubernetes structural schema."""
    raw = model.model_json_schema(mode="validation")
    definitions: dict[str, Schema] = raw.get("$defs", {})
    return _structural(raw, definitions, keep_defaults)


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
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Provider", "type": "string", "jsonPath": ".spec.provider", "priority": 1,
         "description": "The carrier."},
        {"name": "Set", "type": "integer", "jsonPath": ".status.dispatcher.setId",
         "priority": 1, "description": "Kamailio dispatcher set ID."},
        {"name": "Numbers", "type": "integer", "jsonPath": ".status.phoneNumberCount",
         "priority": 1, "description": "Phone numbers Bolna holds for the trunk."},
    ]


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
    root: Schema = {
        "description": (
            "SipTrunk connects a carrier's SIP trunk (Twilio, Plivo, Telnyx, Vonage, ...) "
            "to Bolna. The operator keeps Bolna's trunk and phone numbers equal to spec, "
            "loads the gateways into every Kamailio replica as one dispatcher set, and "
            "reports gateway health and conditions in status."),
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": (
                "The versioned schema of this object: sip.bolna.ai/v1alpha1.")},
            "kind": {"type": "string", "description": "SipTrunk."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": names.CRD_NAME},
        "spec": {
            "group": names.GROUP,
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
                "categories": list(names.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [{
                "name": names.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": printer_columns(),
                "selectableFields": [{"jsonPath": ".spec.provider"},
                                     {"jsonPath": ".spec.authType"}],
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def render_yaml() -> str:
    """The CRD as the YAML checked in at ``crds/siptrunk.yaml``."""
    body = yaml.safe_dump(custom_resource_definition(), sort_keys=False, width=100,
                          allow_unicode=True)
    return _HEADER + body
