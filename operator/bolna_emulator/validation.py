"""Request bodies checked against Bolna's OpenAPI request schemas, refused as FastAPI would.

Bolna's API is a FastAPI service (its auth errors are FastAPI's ``{"detail": ...}``), so
a body that does not fit the request model is refused before any handler runs: HTTP 422
with ``{"detail": [{"type", "loc", "msg", "input"}, ...]}``, one entry per problem, each
``loc`` naming the field (``["body", "gateways", 0, "port"]``). The checks are the
schema's, strictly read as JSON Schema:

- ``type``: a string, integer (a float without a fractional part counts, as in JSON
  Schema), boolean, array or object; ``null`` is none of them, so ``null`` is refused
  wherever the schema gives a type (no request field of Bolna's is nullable).
- ``enum``: the exact strings (``false`` is not ``"no"``).
- ``required``: a missing field is ``missing`` ("Field required"), except the fields
  whose absence Bolna documents with its own 400 message (``name``, ``provider``,
  ``auth_type``, ``gateways`` on create): those are left to the handler, and so is
  every value of ``auth_type`` (Bolna's "auth_type must be 'userpass' or 'ip-based'").
- fields outside the schema: refused (``extra_forbidden``) or dropped, as asked
  (``unknown``); nested objects (gateways, IP identifiers, numbers) follow the same
  choice as the body.

Values are never coerced (``"60"`` is not an integer, ``"true"`` not a boolean), though
pydantic's lax mode would: a client that passes here sends the documented types.

``input`` in an entry is what was sent, as FastAPI echoes it, except that a password
never leaves: an ``auth_password`` value, at any depth, reads ``"REDACTED"``.

Everything here is pure: :func:`check_body` takes the parsed body and returns the body to
use (unknown fields dropped when ignored) and the problems.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .openapi import document

__all__ = [
    "CREATE_SCHEMA",
    "NUMBER_SCHEMA",
    "REDACTED",
    "SUPPORTED_KEYWORDS",
    "UPDATE_SCHEMA",
    "Checked",
    "UnknownFields",
    "check_body",
    "content_type_problem",
    "detail_text",
    "json_problem",
    "missing_body_problem",
    "redact",
]

UnknownFields = Literal["refuse", "ignore"]
UNKNOWN_FIELD_CHOICES: tuple[UnknownFields, ...] = ("refuse", "ignore")

CREATE_SCHEMA = "SIPTrunkCreateRequest"
UPDATE_SCHEMA = "SIPTrunkUpdateRequest"
NUMBER_SCHEMA = "SIPTrunkPhoneNumberRequest"

REDACTED = "REDACTED"
_SECRET_KEYS = frozenset({"auth_password"})

SUPPORTED_KEYWORDS = frozenset({
    "type", "properties", "required", "items", "enum", "$ref",
    # Annotations only: they constrain nothing.
    "description", "example", "examples", "default", "title",
})
"""The JSON Schema keywords this checker understands. A request schema using another
one (``minLength``, ``pattern``, ``nullable``...) makes :func:`check_body` raise, so a
newer copy of Bolna's document cannot silently weaken the checks."""

_MESSAGES = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("model_attributes_type",
               "Input should be a valid dictionary or object to extract fields from"),
}

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Checked:
    """What :func:`check_body` found.

    Attributes:
        body: the body to act on: as sent, less the unknown fields when they are ignored
            (and integral floats made integers).
        problems: FastAPI ``detail`` entries; empty when the body fits the schema.
    """

    body: Any
    problems: list[dict[str, Any]]


def redact(value: Any) -> Any:
    """``value`` with every ``auth_password`` (at any depth) replaced by ``REDACTED``."""
    if isinstance(value, Mapping):
        return {key: REDACTED if key in _SECRET_KEYS else redact(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _problem(kind: str, loc: Loc, msg: str, value: Any, *,
             ctx: Mapping[str, Any] | None = None) -> dict[str, Any]:
    shown = REDACTED if any(part in _SECRET_KEYS for part in loc) else redact(value)
    entry: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": msg, "input": shown}
    if ctx:
        entry["ctx"] = dict(ctx)
    return entry


def missing_body_problem() -> dict[str, Any]:
    """No body at all (or ``null``) where one is required."""
    return _problem("missing", ("body",), "Field required", None)


def json_problem(position: int, reason: str) -> dict[str, Any]:
    """A body that is not JSON: FastAPI's ``json_invalid`` at the character it failed."""
    return _problem("json_invalid", ("body", position), "JSON decode error", {},
                    ctx={"error": reason})


def content_type_problem() -> dict[str, Any]:
    """A body sent with a media type that is not JSON. FastAPI then validates the raw
    bytes against the model, which is not an object; the bytes are not echoed (they may
    hold a password)."""
    kind, msg = _MESSAGES["object"]
    return _problem(kind, ("body",), msg, REDACTED)


@functools.cache
def _components() -> Mapping[str, Any]:
    schemas: Mapping[str, Any] = document()["components"]["schemas"]
    return schemas


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        ref = str(schema["$ref"])
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise ValueError(f"unsupported $ref {ref!r}")
        schema = _components()[ref[len(prefix):]]
    unknown = set(schema) - SUPPORTED_KEYWORDS
    if unknown:
        raise ValueError(f"request schema keyword(s) not supported: {sorted(unknown)}")
    return schema


def _enum_text(choices: Iterable[Any]) -> str:
    shown = [f"'{choice}'" for choice in choices]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


class _Checker:
    def __init__(self, unknown: UnknownFields, absence: frozenset[str],
                 values: frozenset[str]) -> None:
        self.unknown = unknown
        self.absence = absence
        self.values = values
        self.problems: list[dict[str, Any]] = []

    def value(self, schema: Mapping[str, Any], value: Any, loc: Loc) -> Any:
        schema = _resolve(schema)
        kind = schema.get("type")
        if "enum" in schema:
            choices = list(schema["enum"])
            if not any(type(value) is type(choice) and value == choice for choice in choices):
                expected = _enum_text(choices)
                self.problems.append(_problem("enum", loc, f"Input should be {expected}",
                                              value, ctx={"expected": expected}))
                return value
        if kind == "object":
            return self.object(schema, value, loc)
        if kind == "array":
            if not isinstance(value, list):
                return self.wrong("array", value, loc)
            return [self.value(schema.get("items", {}), item, (*loc, index))
                    for index, item in enumerate(value)]
        if kind == "string":
            return value if isinstance(value, str) else self.wrong("string", value, loc)
        if kind == "boolean":
            return value if isinstance(value, bool) else self.wrong("boolean", value, loc)
        if kind == "integer":
            return self.integer(value, loc)
        if kind is None:
            return value
        raise ValueError(f"request schema type {kind!r} not supported")

    def wrong(self, kind: str, value: Any, loc: Loc) -> Any:
        name, msg = _MESSAGES[kind]
        self.problems.append(_problem(name, loc, msg, value))
        return value

    def integer(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, bool):
            return self.wrong("integer", value, loc)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            if value.is_integer():
                return int(value)
            self.problems.append(_problem(
                "int_from_float", loc,
                "Input should be a valid integer, got a number with a fractional part",
                value))
            return value
        return self.wrong("integer", value, loc)

    def object(self, schema: Mapping[str, Any], value: Any, loc: Loc) -> Any:
        if not isinstance(value, dict):
            return self.wrong("object", value, loc)
        properties: Mapping[str, Any] = schema.get("properties", {})
        top = loc == ("body",)
        kept: dict[str, Any] = {}
        for key, item in value.items():
            if key in properties:
                if top and key in self.values:
                    kept[key] = item
                else:
                    kept[key] = self.value(properties[key], item, (*loc, key))
            elif self.unknown == "refuse":
                self.problems.append(_problem("extra_forbidden", (*loc, key),
                                              "Extra inputs are not permitted", item))
        for key in schema.get("required", ()):
            if key not in value and not (top and key in self.absence):
                self.problems.append(_problem("missing", (*loc, key), "Field required",
                                              value))
        return kept


def check_body(schema_name: str, body: Any, *, unknown: UnknownFields,
               documented_absence: Iterable[str] = (),
               documented_values: Iterable[str] = ()) -> Checked:
    """Check ``body`` against ``components.schemas[schema_name]``.

    Args:
        schema_name: ``SIPTrunkCreateRequest``, ``SIPTrunkUpdateRequest`` or
            ``SIPTrunkPhoneNumberRequest``.
        body: the parsed JSON body; None when there was none.
        unknown: ``"refuse"``: a field outside the schema is a problem
            (``extra_forbidden``); ``"ignore"``: it is dropped from the returned body.
        documented_absence: required top-level fields whose absence Bolna answers with
            its own documented 400 message: left to the handler.
        documented_values: top-level fields whose every wrong value Bolna answers with
            its own documented 400 message (``auth_type``): left to the handler.

    Raises:
        ValueError: the schema uses a keyword this checker does not support.
    """
    if unknown not in UNKNOWN_FIELD_CHOICES:
        raise ValueError(f"unknown must be one of {UNKNOWN_FIELD_CHOICES}")
    if body is None:
        return Checked(None, [missing_body_problem()])
    checker = _Checker(unknown, frozenset(documented_absence), frozenset(documented_values))
    cleaned = checker.value(_components()[schema_name], body, ("body",))
    return Checked(cleaned, checker.problems)


def detail_text(problems: Iterable[Mapping[str, Any]]) -> str:
    """The problems as one line, ``loc: msg; ...`` (without ``body``), for logs and
    :class:`~bolna_emulator.store.ApiError` messages."""
    parts = []
    for problem in problems:
        where = ".".join(str(part) for part in problem["loc"][1:])
        parts.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return "; ".join(parts)
