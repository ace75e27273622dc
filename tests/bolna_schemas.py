"""Is a request body one that Bolna documents? Bolna's OpenAPI request schemas, for tests.

An independent reading of the contract: the schemas come from Bolna's published OpenAPI
(``bolna_emulator.openapi``, the document as published), checked with ``jsonschema``
(JSON Schema 2020-12, OpenAPI 3.1's dialect), not with the emulator's own checker. So a
test can hold the operator to the document itself, and the emulator's checker to the
same verdicts.

::

    from tests.bolna_schemas import request_problems, logged_request_problems

    assert request_problems("PATCH", "/sip-trunks/trunks/01HQ...", {"direct_media": True}) \\
        == ["PATCH /sip-trunks/trunks/01HQ...: body: Additional properties are not allowed "
            "('direct_media' was unexpected)"]

    # every body the operator sent, from an emulator started with record_bodies=True
    assert logged_request_problems(emulator.request_bodies()) == []

By default the schemas are read *closed*: a field a schema does not list is a problem
(Bolna's document sets no ``additionalProperties``, but a field it does not list is one
Bolna may ignore, as its PATCH does, or refuse, as the emulator's create does: either
way a client must not rely on it). ``closed=False`` reads them as JSON Schema does.
``null`` is a problem wherever the schema gives a type: no request field is nullable.

Messages never show an ``auth_password`` value.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bolna_emulator.openapi import document

__all__ = ["Operation", "logged_request_problems", "operation", "request_problems",
           "request_schema"]

_SECRET = "auth_password"
_JSON_MEDIA_TYPE = re.compile(r"^application/(json|[^;]*\+json)\s*(;.*)?$", re.IGNORECASE)


class Operation:
    """One operation of the OpenAPI: its method, path template and request body schema
    name (None when it takes no body)."""

    def __init__(self, method: str, template: str, schema_name: str | None,
                 body_required: bool) -> None:
        self.method = method
        self.template = template
        self.schema_name = schema_name
        self.body_required = body_required
        segments = ("[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
                    for part in template.split("/"))
        self.pattern = re.compile("^" + "/".join(segments) + "$")

    def __repr__(self) -> str:
        return f"Operation({self.method} {self.template} -> {self.schema_name})"


@functools.cache
def _operations() -> tuple[Operation, ...]:
    found = []
    for template, item in document()["paths"].items():
        for method, spec in item.items():
            if method.startswith("x-") or not isinstance(spec, dict):
                continue
            body = spec.get("requestBody")
            name = None
            if body is not None:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                name = str(ref).rsplit("/", 1)[1]
            found.append(Operation(method.upper(), template, name,
                                   bool(body and body.get("required"))))
    return tuple(found)


def operation(method: str, path: str) -> Operation | None:
    """The documented operation a request is (the path without its query), or None."""
    path = path.split("?", 1)[0]
    for candidate in _operations():
        if candidate.method == method.upper() and candidate.pattern.match(path):
            return candidate
    return None


def _close(schema: Any) -> Any:
    """A copy in which every object schema refuses properties it does not list."""
    if isinstance(schema, dict):
        closed = {key: _close(value) for key, value in schema.items()}
        if closed.get("type") == "object" and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_close(item) for item in schema]
    return schema


@functools.cache
def _validator(schema_name: str, closed: bool) -> Draft202012Validator:
    components = copy.deepcopy(document()["components"])
    if closed:
        components = _close(components)
    root = {"components": components}
    registry: Registry[Any] = Registry().with_resource(
        "urn:bolna-openapi", Resource.from_contents(root, default_specification=DRAFT202012))
    schema = {"$ref": f"urn:bolna-openapi#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def request_schema(schema_name: str, *, closed: bool = True) -> dict[str, Any]:
    """``components.schemas[schema_name]`` as checked (closed by default)."""
    schema = copy.deepcopy(document()["components"]["schemas"][schema_name])
    return dict(_close(schema)) if closed else dict(schema)


def _where(error: ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "body"


def _message(error: ValidationError) -> str:
    if _SECRET in (str(part) for part in error.absolute_path):
        return f"{error.validator} {error.validator_value!r} failed (value not shown)"
    return error.message


def _body_problems(schema_name: str, body: Any, closed: bool) -> list[str]:
    errors = sorted(_validator(schema_name, closed).iter_errors(body),
                    key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)))
    return [f"{_where(error)}: {_message(error)}" for error in errors]


def request_problems(method: str, path: str, body: Any, *, closed: bool = True,
                     content_type: str | None = "application/json") -> list[str]:
    """What is wrong with sending ``body`` as ``method path`` to Bolna, by its OpenAPI:
    an empty list when nothing is. Each problem names the request and the field.

    Args:
        body: the parsed JSON body; None for no body.
        closed: a field a schema does not list is a problem (see the module docstring).
        content_type: the request's Content-Type when it has a body; a body must be
            sent as JSON (``application/json`` or ``application/*+json``).
    """
    where = f"{method.upper()} {path}"
    found = operation(method, path)
    if found is None:
        return [f"{where}: not an operation of Bolna's OpenAPI"]
    if found.schema_name is None:
        return [] if body is None else [f"{where}: sends a body; the operation takes none"]
    if body is None:
        return [f"{where}: sends no body; {found.schema_name} is required"] if (
            found.body_required) else []
    problems = []
    if content_type is None or not _JSON_MEDIA_TYPE.match(content_type.strip()):
        problems.append(f"{where}: the body is sent as {content_type!r}, not as JSON")
    problems += [f"{where}: {problem}"
                 for problem in _body_problems(found.schema_name, body, closed)]
    return problems


def logged_request_problems(entries: Iterable[Mapping[str, Any]], *,
                            closed: bool = True) -> list[str]:
    """:func:`request_problems` of every request of an emulator's request log that
    kept its body (``EmulatorProcess.request_bodies()``, with ``record_bodies`` on).
    A body that was not JSON is a problem of its own."""
    problems = []
    for entry in entries:
        where = f"{entry['method']} {entry['path']}"
        if entry.get("body_error"):
            problems.append(f"{where}: the body is {entry['body_error']}")
            continue
        problems += request_problems(str(entry["method"]), str(entry["path"]),
                                     entry.get("body"), closed=closed,
                                     content_type=entry.get("content_type"))
    return problems
