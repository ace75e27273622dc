"""The emulator's request-schema checker (``validation.py``) against Bolna's OpenAPI as
``jsonschema`` reads it (``tests/bolna_schemas.py``): the same verdicts, field by field,
on bodies made to be wrong in every way the schemas can tell."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import ValidationError

from bolna_emulator import openapi
from bolna_emulator.validation import (
    CREATE_SCHEMA,
    NUMBER_SCHEMA,
    SUPPORTED_KEYWORDS,
    UPDATE_SCHEMA,
    check_body,
)
from tests import bolna_schemas

REQUEST_SCHEMAS = (CREATE_SCHEMA, UPDATE_SCHEMA, NUMBER_SCHEMA)
COMPONENTS: Mapping[str, Any] = openapi.document()["components"]["schemas"]


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[str(schema["$ref"]).rsplit("/", 1)[1]]
    return schema


def _keywords(schema: Any, seen: set[str]) -> None:
    if isinstance(schema, Mapping):
        schema = _resolve(schema)
        seen.update(schema)
        for child in schema.get("properties", {}).values():
            _keywords(child, seen)
        if "items" in schema:
            _keywords(schema["items"], seen)


def test_the_embedded_document_is_bolnas() -> None:
    parsed = openapi.document()
    assert parsed["openapi"] == "3.1.0"
    assert set(parsed["paths"]) == {
        "/sip-trunks/trunks", "/sip-trunks/trunks/{trunk_id}",
        "/sip-trunks/trunks/{trunk_id}/numbers",
        "/sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}"}
    # The YAML 1.1 trap: "no" stays a string.
    assert COMPONENTS[CREATE_SCHEMA]["properties"]["media_encryption"]["enum"] == ["no", "sdes"]


def test_the_request_schemas_use_only_keywords_the_checker_knows() -> None:
    seen: set[str] = set()
    for name in REQUEST_SCHEMAS:
        _keywords(COMPONENTS[name], seen)
    assert seen <= SUPPORTED_KEYWORDS


def test_every_body_operation_is_one_of_the_three_schemas() -> None:
    bodies = {(op.method, op.template): op.schema_name
              for op in bolna_schemas._operations() if op.schema_name}
    assert bodies == {
        ("POST", "/sip-trunks/trunks"): CREATE_SCHEMA,
        ("PATCH", "/sip-trunks/trunks/{trunk_id}"): UPDATE_SCHEMA,
        ("POST", "/sip-trunks/trunks/{trunk_id}/numbers"): NUMBER_SCHEMA}


def test_messages_are_pydantics() -> None:
    problems = check_body(CREATE_SCHEMA, {
        "name": "n", "provider": "p", "auth_type": "userpass", "gateways": [
            {"gateway_address": "a", "port": 5060.0}], "transport": "udp",
        "media_encryption": False, "qualify_frequency": 1.5, "inbound_enabled": 1},
        unknown="refuse").problems
    assert {tuple(p["loc"]): (p["type"], p["msg"]) for p in problems} == {
        ("body", "transport"): (
            "enum", "Input should be 'transport-udp', 'transport-tcp' or 'transport-tls'"),
        ("body", "media_encryption"): ("enum", "Input should be 'no' or 'sdes'"),
        ("body", "qualify_frequency"): (
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part"),
        ("body", "inbound_enabled"): ("bool_type", "Input should be a valid boolean")}


def test_integral_floats_become_integers_and_ignored_fields_go() -> None:
    checked = check_body(UPDATE_SCHEMA, {"qualify_frequency": 30.0, "gateways": [
        {"gateway_address": "a", "port": 5061.0, "weight": 3}], "force_rport": False},
        unknown="ignore")
    assert checked.problems == []
    assert checked.body == {"qualify_frequency": 30, "gateways": [
        {"gateway_address": "a", "port": 5061}]}
    assert isinstance(checked.body["qualify_frequency"], int)


def test_a_password_is_never_echoed() -> None:
    problems = check_body(UPDATE_SCHEMA, {"auth_password": 12345678, "gateways": {
        "auth_password": "canary"}, "extra": {"auth_password": "canary"}}, unknown="refuse"
                          ).problems
    text = json.dumps(problems)
    assert "12345678" not in text and "canary" not in text
    assert text.count("REDACTED") == 3


def test_an_unsupported_keyword_is_an_error_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from bolna_emulator import validation

    patched = {**COMPONENTS, NUMBER_SCHEMA: {**COMPONENTS[NUMBER_SCHEMA], "minProperties": 1}}
    monkeypatch.setattr(validation, "_components", lambda: patched)
    with pytest.raises(ValueError, match="minProperties"):
        check_body(NUMBER_SCHEMA, {"phone_number": "1"}, unknown="refuse")


# ---- property: the emulator's checker and jsonschema agree on every body ---------------

_WRONG: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False,
                                                                allow_infinity=False),
    st.text(max_size=4), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _values(schema: Mapping[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    schema = _resolve(schema)
    kind = schema.get("type")
    valid: st.SearchStrategy[Any]
    if "enum" in schema:
        valid = st.sampled_from(list(schema["enum"]))
    elif kind == "string":
        valid = st.text(max_size=6)
    elif kind == "integer":
        valid = st.integers(-5, 70000) | st.integers(0, 100).map(float)
    elif kind == "boolean":
        valid = st.booleans()
    elif kind == "array":
        valid = st.lists(_values(schema["items"], depth + 1), max_size=2)
    else:
        valid = _objects(schema, depth + 1)
    return valid | _WRONG if depth < 3 else valid


def _objects(schema: Mapping[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    known = st.fixed_dictionaries(
        {key: _values(properties[key], depth) for key in properties if key in required},
        optional={key: _values(properties[key], depth)
                  for key in properties if key not in required})
    extra = st.dictionaries(st.sampled_from(["is_active", "direct_media", "extra", "id"]),
                            st.integers(), max_size=2)
    return st.builds(lambda fields, more: {**more, **fields}, known, extra)


def _bodies(name: str) -> st.SearchStrategy[Any]:
    body = _objects(COMPONENTS[name]).flatmap(
        lambda b: st.sets(st.sampled_from(sorted(b) or ["x"]), max_size=2).map(
            lambda drop: {k: v for k, v in b.items() if k not in drop}))
    return body | _WRONG


def _paths(error: ValidationError) -> set[tuple[str, ...]]:
    """The fields a jsonschema error is about, as the emulator names them (a missing or
    unexpected property is its own path)."""
    base = tuple(str(part) for part in error.absolute_path)
    instance: Any = error.instance
    if error.validator == "required":
        required: Any = error.validator_value
        return {(*base, key) for key in required if key not in instance}
    if error.validator == "additionalProperties":
        schema: Any = error.schema
        listed = set(schema.get("properties", {}))
        return {(*base, str(key)) for key in instance if key not in listed}
    return {base}


@pytest.mark.parametrize("name", REQUEST_SCHEMAS)
@pytest.mark.parametrize("unknown", ["refuse", "ignore"])
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_the_checker_and_jsonschema_agree(name: str, unknown: str, data: st.DataObject) -> None:
    body = data.draw(_bodies(name))
    closed = unknown == "refuse"
    ours = check_body(name, body, unknown="refuse" if closed else "ignore").problems
    theirs = bolna_schemas._validator(name, closed).iter_errors(body)
    expected: set[tuple[str, ...]] = set()
    for error in theirs:
        expected |= _paths(error)
    assert {tuple(str(part) for part in p["loc"][1:]) for p in ours} == expected
