"""Request bodies of Bolna's ``/trunk`` API, checked strictly as its FastAPI service would.

``validation.py`` checks ``/sip-trunks`` bodies against Bolna's published OpenAPI. For
``/trunk`` no whole document could be read (``bolna-trunk-openapi.yml`` is stitched
from page excerpts, most cut before their schemas), so the request models are written
out here, field by field, from what the pages show (``bolna-trunk-api.md``) and the
project's contract (``carriertrunk-contract.md``, "The wire"). What a pydantic model
checks declaratively is refused as FastAPI refuses it: HTTP 422 with
``{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}``, one entry per problem,
pydantic v2's types and messages:

- a field outside the model: ``extra_forbidden`` (the models forbid extras, so an inline
  ``gateways`` list on create, or ``is_active`` on create, is refused, not dropped);
- a missing required field: ``missing``;
- types without coercion: ``string_type``, ``int_type`` (an integral float such as
  ``10.0`` counts as an integer, JSON Schema's rule, as ``validation.py`` has it;
  ``10.5`` is ``int_from_float``), ``bool_type``; ``"10"`` is not an integer and
  ``"true"`` not a boolean, though pydantic's lax mode would take both;
- ``null`` only where the page shows ``string|null`` (PATCH's ``description``,
  ``preset``, ``default_inbound_agent_id``, ``auth_username``, ``auth_password``; a
  number's ``agent_id``), else the field's type error;
- ``enum``, ``string_too_short``, ``string_too_long``, ``string_pattern_mismatch``,
  ``greater_than_equal``, ``less_than_equal`` for the documented enums, lengths, the
  ``e164`` pattern and ranges;
- path ids: the pages declare every id ``string``/``uuid``, which FastAPI parses as a
  ``UUID``: a malformed id is a 422 ``uuid_parsing`` at ``["path", name]``, reported
  with the body's problems in one list, as FastAPI collects them.

Rules that are not a single field's type or bounds (codecs as a subset of PCMU/PCMA,
credentials sent as a pair, a host that is no hostname, a carrier IP that is no address,
agents, the gateway limit, conflicts) are ``trunk_store.py``'s, answered
``{"detail": "<message>"}``.

An ``auth_password`` value is never echoed: its ``input`` reads ``"REDACTED"``.
Everything here is pure.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .validation import REDACTED, missing_body_problem, redact

__all__ = [
    "ASSIGN_AGENT",
    "E164_PATTERN",
    "GATEWAY_CREATE",
    "IP_ACL_CREATE",
    "NUMBER_CREATE",
    "PRESETS",
    "TRANSPORTS",
    "TRUNK_CREATE",
    "TRUNK_UPDATE",
    "BodySchema",
    "FieldSpec",
    "canonical_id",
    "check_fields",
    "enum_problem",
    "path_id_problem",
]

Kind = Literal["string", "integer", "boolean"]
Loc = tuple[str | int, ...]

PRESETS = ("plivo", "telnyx", "twilio", "exotel", "vobiz", "vonage", "custom")
TRANSPORTS = ("udp", "tcp")
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
_SECRET_KEYS = frozenset({"auth_password"})


@dataclass(frozen=True)
class FieldSpec:
    """One request field as a pydantic model would declare it.

    Attributes:
        kind: the JSON type.
        required: absent is ``missing``.
        nullable: ``null`` is a value (``X | None``); otherwise it is a type error.
        enum: the allowed strings, when the field is an enum.
        min_length, max_length: string length bounds, in characters.
        pattern: a regular expression the string must match.
        ge, le: integer bounds.
    """

    kind: Kind
    required: bool = False
    nullable: bool = False
    enum: tuple[str, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None


BodySchema = Mapping[str, FieldSpec]

_AGENT_ID = FieldSpec("string", min_length=1)

TRUNK_CREATE: BodySchema = {
    # Seen on the create page: name .. auth_username.
    "name": FieldSpec("string", required=True, min_length=1, max_length=100),
    "description": FieldSpec("string", max_length=500),
    "preset": FieldSpec("string", enum=PRESETS),
    "inbound_enabled": FieldSpec("boolean"),
    "outbound_enabled": FieldSpec("boolean"),
    "channels": FieldSpec("integer", ge=1, le=1000),
    "default_inbound_agent_id": _AGENT_ID,
    "auth_username": FieldSpec("string", min_length=1),
    # Cut off the page; accepted as the update page types them (the contract's choice).
    "auth_password": FieldSpec("string", min_length=1),
    "transport": FieldSpec("string", enum=TRANSPORTS),
    "codecs": FieldSpec("string"),
    "outbound_leading_plus_enabled": FieldSpec("boolean"),
}
"""``POST /trunk/trunks``. No ``is_active`` (not on the page), no inline children."""

TRUNK_UPDATE: BodySchema = {
    "name": FieldSpec("string", min_length=1, max_length=100),
    "description": FieldSpec("string", nullable=True, max_length=500),
    "preset": FieldSpec("string", nullable=True, enum=PRESETS),
    "is_active": FieldSpec("boolean"),
    "inbound_enabled": FieldSpec("boolean"),
    "outbound_enabled": FieldSpec("boolean"),
    "channels": FieldSpec("integer", ge=1, le=1000),
    "default_inbound_agent_id": FieldSpec("string", nullable=True, min_length=1),
    "auth_username": FieldSpec("string", nullable=True, min_length=1),
    "auth_password": FieldSpec("string", nullable=True, min_length=1),
    "transport": FieldSpec("string", enum=TRANSPORTS),
    "outbound_leading_plus_enabled": FieldSpec("boolean"),
    "codecs": FieldSpec("string"),
}
"""``PATCH /trunk/trunks/{id}``: the update page's list, complete as rendered."""

GATEWAY_CREATE: BodySchema = {
    "host": FieldSpec("string", required=True, min_length=1, max_length=253),
    "port": FieldSpec("integer", ge=1, le=65535),
    "priority": FieldSpec("integer", ge=0),
}
"""``POST .../gateways``: the example body's three fields."""

IP_ACL_CREATE: BodySchema = {
    "cidr": FieldSpec("string", required=True, min_length=1),
}
"""``POST .../ip-acls``: the example body's one field."""

NUMBER_CREATE: BodySchema = {
    "e164": FieldSpec("string", required=True, pattern=E164_PATTERN),
    "destination_key": FieldSpec("string", required=True, min_length=1),
    "agent_id": FieldSpec("string", nullable=True, min_length=1),
}
"""``POST .../numbers``: complete as rendered."""

ASSIGN_AGENT: BodySchema = {
    "agent_id": FieldSpec("string", nullable=True, min_length=1),
}
"""``PATCH /trunk/numbers/{id}``: complete as rendered; an empty body clears."""


def _problem(kind: str, loc: Loc, msg: str, value: Any, *,
             ctx: Mapping[str, Any] | None = None) -> dict[str, Any]:
    shown = REDACTED if any(part in _SECRET_KEYS for part in loc) else redact(value)
    entry: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": msg, "input": shown}
    if ctx:
        entry["ctx"] = dict(ctx)
    return entry


def _choices(values: Iterable[str]) -> str:
    shown = [f"'{value}'" for value in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def enum_problem(loc: Loc, value: Any, choices: Iterable[str]) -> dict[str, Any]:
    """pydantic's ``enum`` entry (also for a query parameter, ``("query", name)``)."""
    expected = _choices(choices)
    return _problem("enum", loc, f"Input should be {expected}", value,
                    ctx={"expected": expected})


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _check_value(spec: FieldSpec, value: Any, loc: Loc,
                 problems: list[dict[str, Any]]) -> Any:
    """One field's value after its check (an integral float made an int); problems are
    appended, as pydantic reports the first failing constraint of a field."""
    if value is None:
        if not spec.nullable:
            problems.append(_type_problem(spec.kind, loc, value))
        return value
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            problems.append(_type_problem("boolean", loc, value))
        return value
    if spec.kind == "integer":
        return _check_integer(spec, value, loc, problems)
    if not isinstance(value, str):
        problems.append(_type_problem("string", loc, value))
        return value
    if spec.enum:
        if value not in spec.enum:
            problems.append(enum_problem(loc, value, spec.enum))
    elif spec.min_length is not None and len(value) < spec.min_length:
        problems.append(_problem(
            "string_too_short", loc,
            f"String should have at least {_plural(spec.min_length, 'character')}", value,
            ctx={"min_length": spec.min_length}))
    elif spec.max_length is not None and len(value) > spec.max_length:
        problems.append(_problem(
            "string_too_long", loc,
            f"String should have at most {_plural(spec.max_length, 'character')}", value,
            ctx={"max_length": spec.max_length}))
    elif spec.pattern is not None and not _compiled(spec.pattern).search(value):
        problems.append(_problem("string_pattern_mismatch", loc,
                                 f"String should match pattern '{spec.pattern}'", value,
                                 ctx={"pattern": spec.pattern}))
    return value


def _check_integer(spec: FieldSpec, value: Any, loc: Loc,
                   problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        problems.append(_problem(
            "int_from_float", loc,
            "Input should be a valid integer, got a number with a fractional part", value))
        return value
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(_type_problem("integer", loc, value))
        return value
    if spec.ge is not None and value < spec.ge:
        problems.append(_problem("greater_than_equal", loc,
                                 f"Input should be greater than or equal to {spec.ge}",
                                 value, ctx={"ge": spec.ge}))
    elif spec.le is not None and value > spec.le:
        problems.append(_problem("less_than_equal", loc,
                                 f"Input should be less than or equal to {spec.le}",
                                 value, ctx={"le": spec.le}))
    return value


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with ``$`` meaning the very end, as in pydantic's Rust
    regex (Python's ``$`` also matches before a final newline, which would let an
    ``e164`` with a trailing line break by), and ``\\d`` meaning ASCII digits only:
    stricter than pydantic's Unicode ``\\d``, so no client passes here on digits a
    carrier would not route."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


_TYPE_MESSAGES = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
}


def _type_problem(kind: Kind, loc: Loc, value: Any) -> dict[str, Any]:
    name, msg = _TYPE_MESSAGES[kind]
    return _problem(name, loc, msg, value)


def check_fields(schema: BodySchema, body: object, *, body_required: bool = True
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check a parsed JSON body (None: no body) against ``schema``.

    Returns the fields sent, as they are to be used, and FastAPI's ``detail`` entries
    (empty when the body fits). ``body_required=False`` reads no body as ``{}`` (assign
    agent: "an empty body clears the assignment").
    """
    if body is None:
        return ({}, []) if not body_required else ({}, [missing_body_problem()])
    if not isinstance(body, dict):
        return {}, [_problem("model_attributes_type", ("body",),
                             "Input should be a valid dictionary or object to extract "
                             "fields from", body)]
    problems: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for key, value in body.items():
        spec = schema.get(key)
        if spec is None:
            problems.append(_problem("extra_forbidden", ("body", key),
                                     "Extra inputs are not permitted", value))
            continue
        fields[key] = _check_value(spec, value, ("body", key), problems)
    for key, spec in schema.items():
        if spec.required and key not in body:
            problems.append(_problem("missing", ("body", key), "Field required", body))
    return fields, problems


def canonical_id(text: str) -> str | None:
    """A path id as FastAPI's ``UUID`` parameter reads it (hyphens optional, any case,
    braces and a ``urn:uuid:`` prefix allowed), in the canonical lowercase hyphenated
    form every id is stored in; None when it is no UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def path_id_problem(name: str, value: str) -> dict[str, Any]:
    """pydantic's ``uuid_parsing`` entry for a malformed path id."""
    return _problem("uuid_parsing", ("path", name), "Input should be a valid UUID", value,
                    ctx={"error": "invalid UUID"})
