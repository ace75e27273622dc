"""Offline validation of SipTrunk and CarrierTrunk manifests: the apiserver's verdict,
before applying.

``bolna-sip-operator validate`` runs this. It reads YAML the way kubectl does (YAML 1.1,
so an unquoted ``no`` is a boolean), checks each SipTrunk or CarrierTrunk document (by
its ``kind``) against the same models and the same rules that its CRD is rendered from,
and fills in the same defaults. Errors name the field by the apiserver's path
(``spec.gateways[0].port``) and say what to write instead; YAML traps get a hint in
plain words.

Documents of other kinds (the Secrets that examples carry along) are reported as skipped.
Rules that compare with the stored object (SipTrunk's immutable ``provider`` and
``authType``) need the apiserver and are not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from . import names
from .carrier_spec import (
    DESTINATION_KEY,
    E164,
    CarrierTrunkSpec,
    carrier_spec_violations,
    object_name_violations,
)
from .rules import Violation
from .spec import (
    CODEC_LIST,
    DNS_SUBDOMAIN,
    GATEWAY_ADDRESS_CHARACTERS,
    IP_IDENTIFIER_CHARACTERS,
    NO_CONTROL_CHARACTERS,
    OPERATOR_DEFAULT,
    PHONE_NUMBER,
    PROVIDER,
    SECRET_KEY,
    SIP_USERNAME,
    SipTrunkSpec,
    spec_violations,
)

_PATTERN_MEANINGS = {
    PHONE_NUMBER: "digits with an optional leading +, 6 to 15 digits, e.g. \"919876543210\"",
    PROVIDER: "a lowercase token such as twilio, plivo, telnyx, vonage or custom",
    GATEWAY_ADDRESS_CHARACTERS: ("a hostname or IP address only (letters, digits, '.', "
                                 "'-', ':'), without scheme, port, path or spaces"),
    IP_IDENTIFIER_CHARACTERS: "an IP address or CIDR block such as 203.0.113.0/24",
    CODEC_LIST: "lowercase codec names separated by commas, without spaces, e.g. ulaw,alaw",
    NO_CONTROL_CHARACTERS: "text without control characters (no newlines or tabs)",
    SIP_USERNAME: "a SIP username without spaces, ':' or '@'",
    DNS_SUBDOMAIN: "a Kubernetes object name: lowercase letters, digits, '-' and '.'",
    SECRET_KEY: "a Secret key: letters, digits, '-', '_' and '.'",
    E164: "an E.164 number: a + then 7 to 15 digits, e.g. \"+14155550123\"",
    DESTINATION_KEY: ("the called number as the carrier sends it, without a leading +, "
                      "spaces or control characters, e.g. \"14155550123\""),
}
_YAML_BOOLEAN_HINT = (
    "YAML reads unquoted yes/no/on/off/true/false as booleans: put the value in quotes, "
    "e.g. mediaEncryption: \"no\"")
_YAML_NUMBER_HINT = (
    "YAML reads unquoted digits as a number (a leading + or 0 is lost): put the value "
    "in quotes, e.g. phoneNumber: \"919876543210\"")
_CARRIER_BOOLEAN_HINT = (
    "YAML reads unquoted yes/no/on/off/true/false as booleans: put the value in quotes, "
    "e.g. name: \"on\"")
_CARRIER_NUMBER_HINT = (
    "YAML reads unquoted digits as a number (a leading + or 0 is lost): put the value "
    "in quotes, e.g. e164: \"+14155550123\"")
_DNS_SUBDOMAIN_MAX = 253
_TOP_LEVEL_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}


@dataclass
class DocumentReport:
    """The verdict on one YAML document."""

    source: str
    index: int
    kind: str | None = None
    name: str | None = None
    errors: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    """Legal but probably unintended, e.g. a key given twice in one YAML mapping."""
    skipped: bool = False
    defaulted: dict[str, Any] | None = None
    """The trunk as the apiserver would store it (defaults filled in), when valid."""

    @property
    def valid(self) -> bool:
        """True for a trunk with no errors (a skipped document is neither)."""
        return not self.skipped and not self.errors

    @property
    def label(self) -> str:
        """``file#2 SipTrunk name`` for messages."""
        where = f"{self.source}#{self.index + 1}"
        return f"{where} {self.kind or 'document'} {self.name or '(unnamed)'}"


def validate_paths(paths: Iterable[str]) -> list[DocumentReport]:
    """Validate every YAML document in the given files and directories ('-': stdin)."""
    import sys

    reports: list[DocumentReport] = []
    for path in _expand(paths):
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        reports.extend(validate_text(text, source="<stdin>" if path == "-" else path))
    return reports


def _expand(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        candidate = Path(path)
        if path != "-" and candidate.is_dir():
            yield from sorted(str(p) for p in candidate.rglob("*")
                              if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path == "-" or candidate.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A YAML 1.1 safe loader, as kubectl's, that also notes keys given twice.

    kubectl accepts a mapping with a repeated key and silently uses one of the values;
    the validator warns, since one of the two was surely meant.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False
                          ) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicates.append((key_node.value, key_node.start_mark.line + 1))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def validate_text(text: str, source: str = "<text>") -> list[DocumentReport]:
    """Validate each document of a YAML stream."""
    reports: list[DocumentReport] = []
    loader = _DuplicateKeyLoader(text)
    try:
        index = 0
        while loader.check_data():  # type: ignore[no-untyped-call]
            noted = len(loader.duplicates)
            document = loader.get_data()
            if document is not None:
                report = validate_document(document, source=source, index=index)
                report.warnings.extend(
                    Violation(f"(line {line})", f"key '{key}' is given twice in one mapping: "
                              "only one of the values is used; remove the other")
                    for key, line in loader.duplicates[noted:])
                reports.append(report)
            index += 1
    except yaml.YAMLError as error:
        report = DocumentReport(source=source, index=index)
        report.errors.append(Violation("(yaml)", f"not valid YAML: {error}"))
        reports.append(report)
    finally:
        loader.dispose()
    return reports


def validate_document(document: Any, source: str = "<object>", index: int = 0
                      ) -> DocumentReport:
    """Validate one decoded document (a dict, as from YAML or JSON)."""
    report = DocumentReport(source=source, index=index)
    if not isinstance(document, dict):
        report.errors.append(Violation("(document)", "must be a mapping with apiVersion, kind, "
                                     "metadata and spec"))
        return report
    report.kind = document.get("kind") if isinstance(document.get("kind"), str) else None
    metadata = document.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        report.name = metadata["name"]
    kind = _KINDS.get(report.kind or "")
    if kind is None:
        report.skipped = True
        return report
    if document.get("apiVersion") != names.API_VERSION:
        report.errors.append(Violation(
            "apiVersion", f"must be {names.API_VERSION} (got {_show(document.get('apiVersion'))})"))
    for unknown in sorted(set(document) - _TOP_LEVEL_FIELDS, key=str):
        report.errors.append(Violation(str(unknown), "unknown field"))
    report.errors.extend(_metadata_findings(metadata))
    spec = _without_nulls(document.get("spec"))
    if spec is None:
        report.errors.append(Violation("spec", f"Required value: a {kind.kind} needs a spec"))
        return report
    spec_findings, parsed = kind.check(spec)
    report.errors.extend(spec_findings)
    if parsed is not None:
        object_name = report.name if isinstance(metadata, dict) else None
        report.errors.extend(kind.object_findings(parsed, object_name))
    if parsed is not None and not report.errors:
        report.defaulted = {
            "apiVersion": names.API_VERSION,
            "kind": kind.kind,
            "metadata": metadata,
            "spec": as_stored(parsed),
        }
    return report


def as_stored(model: BaseModel) -> dict[str, Any]:
    """A parsed model as the apiserver stores it: the CRD's defaults filled in, absent
    optional fields left out, and so are defaults only the model applies
    (``OPERATOR_DEFAULT``) where the manifest did not give the field."""
    stored: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        extra = info.json_schema_extra
        if (isinstance(extra, dict) and extra.get(OPERATOR_DEFAULT)
                and name not in model.model_fields_set):
            continue
        value = _stored_value(getattr(model, name))
        if value is not None:
            stored[name] = value
    return stored


def _stored_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return as_stored(value)
    if isinstance(value, list | tuple):
        return [_stored_value(item) for item in value]
    return value


def check_spec(spec: Any) -> tuple[list[Violation], SipTrunkSpec | None]:
    """Parse a SipTrunk spec and check its cross-field rules; the findings, and the spec
    if valid."""
    try:
        parsed = SipTrunkSpec.model_validate(spec)
    except ValidationError as error:
        return [_finding(detail, _SIP_TRUNK) for detail in error.errors()], None
    findings = spec_violations(parsed)
    return findings, (parsed if not findings else None)


def check_carrier_spec(spec: Any) -> tuple[list[Violation], CarrierTrunkSpec | None]:
    """Parse a CarrierTrunk spec and check its cross-field rules; the findings, and the
    spec if valid. Rules on the whole object (see ``carrier_spec.CARRIER_OBJECT_RULES``)
    need its metadata and are checked by ``validate_document``."""
    try:
        parsed = CarrierTrunkSpec.model_validate(spec)
    except ValidationError as error:
        return [_finding(detail, _CARRIER_TRUNK) for detail in error.errors()], None
    findings = carrier_spec_violations(parsed)
    return findings, (parsed if not findings else None)


@dataclass(frozen=True)
class _Kind:
    """What differs between the kinds when validating: the checks and the words."""

    kind: str
    singular: str
    check: Callable[[Any], tuple[list[Violation], BaseModel | None]]
    object_findings: Callable[[Any, str | None], list[Violation]]
    """Rules on the whole object: the parsed spec against the object's name."""
    boolean_hint: str
    number_hint: str
    password_ref_example: str


def _no_object_rules(spec: Any, object_name: str | None) -> list[Violation]:
    return []


_SIP_TRUNK = _Kind(
    kind=names.KIND, singular=names.SINGULAR, check=check_spec,
    object_findings=_no_object_rules, boolean_hint=_YAML_BOOLEAN_HINT,
    number_hint=_YAML_NUMBER_HINT,
    password_ref_example="authPasswordSecretRef: {name: <secret>, key: <key>}")
_CARRIER_TRUNK = _Kind(
    kind=names.CARRIER_KIND, singular=names.CARRIER_SINGULAR, check=check_carrier_spec,
    object_findings=object_name_violations, boolean_hint=_CARRIER_BOOLEAN_HINT,
    number_hint=_CARRIER_NUMBER_HINT,
    password_ref_example="authPasswordSecretRef: {name: <secret>} (key: password by default)")
_KINDS = {kind.kind: kind for kind in (_SIP_TRUNK, _CARRIER_TRUNK)}
KINDS = tuple(_KINDS)
"""The kinds ``validate`` checks; documents of any other kind are skipped."""


def _metadata_findings(metadata: Any) -> Iterator[Violation]:
    if metadata is None:
        yield Violation("metadata.name", "Required value: name or generateName is required")
        return
    if not isinstance(metadata, dict):
        yield Violation("metadata", f"must be a mapping (got {_type_name(metadata)})")
        return
    name = metadata.get("name")
    if name is None and metadata.get("generateName") is None:
        yield Violation("metadata.name", "Required value: name or generateName is required")
    elif name is not None and (not isinstance(name, str) or len(name) > _DNS_SUBDOMAIN_MAX
                               or not re.fullmatch(DNS_SUBDOMAIN[1:-1], name)):
        yield Violation("metadata.name", "must be a lowercase RFC 1123 subdomain: lowercase "
                      "letters, digits, '-' and '.', starting and ending with a letter or "
                      f"digit, at most 253 characters (got {_show(name)})")
    annotations = metadata.get("annotations") or {}
    trunk_id = annotations.get(names.TRUNK_ID_ANNOTATION) if isinstance(annotations, dict) else None
    if trunk_id is not None and (not isinstance(trunk_id, str) or not trunk_id.strip()):
        yield Violation(f"metadata.annotations[{names.TRUNK_ID_ANNOTATION}]",
                      "must be the ID of an existing Bolna trunk, e.g. 01HQXYZ123ABC456DEF")


def _without_nulls(value: Any) -> Any:
    """Drop null fields, as the apiserver prunes nulls of non-nullable fields."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _finding(detail: ErrorDetails, kind: _Kind) -> Violation:
    """Turn a pydantic error into the message a user can act on."""
    path = _field_path(tuple(detail["loc"]))
    value = detail.get("input")
    error = detail["type"]
    field_name = str(detail["loc"][-1]) if detail["loc"] else "spec"
    if error == "missing":
        return Violation(path, "Required value")
    if error == "extra_forbidden":
        if field_name == "authPassword":
            return Violation(path, "unknown field", hint=(
                "a password is never written inline: store it in a Secret and set "
                f"{kind.password_ref_example}"))
        return Violation(path, "unknown field (check the spelling; `kubectl explain "
                       f"{kind.singular}.spec` lists the fields)")
    if error == "string_type":
        hint = kind.boolean_hint if isinstance(value, bool) else (
            kind.number_hint if isinstance(value, int | float) else None)
        return Violation(path, f"must be a string (got {_type_name(value)} {_show(value)})", hint)
    if error in ("int_type", "int_from_float"):
        hint = "remove the quotes: a number is written without them" if isinstance(
            value, str) else None
        return Violation(path, f"must be an integer (got {_type_name(value)} {_show(value)})", hint)
    if error == "bool_type":
        hint = "write true or false, without quotes" if isinstance(value, str) else None
        return Violation(path, f"must be true or false (got {_type_name(value)} {_show(value)})",
                       hint)
    if error in ("list_type", "model_type", "dict_type", "model_attributes_type"):
        expected = "a list" if error == "list_type" else "a mapping"
        return Violation(path, f"must be {expected} (got {_type_name(value)})")
    if error == "literal_error":
        expected = detail.get("ctx", {}).get("expected", "")
        hint = kind.boolean_hint if isinstance(value, bool) else None
        return Violation(path, f"must be one of {expected} (got {_show(value)})", hint)
    if error == "string_pattern_mismatch":
        pattern = str(detail.get("ctx", {}).get("pattern", ""))
        meaning = _PATTERN_MEANINGS.get(pattern, f"match {pattern}")
        return Violation(path, f"must be {meaning} (got {_show(value)})")
    if error == "rule":
        return Violation(path, f"{detail['msg']} (got {_show(value)})")
    message = detail["msg"].replace("Input should be", "must be").replace(
        "String should", "must").replace("List should", "must").replace(
        " after validation", "")
    return Violation(path, f"{message} (got {_show(value)})")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(
        value, bool) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
