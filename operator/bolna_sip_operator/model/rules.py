"""Rules that span more than a field's type: one definition, two evaluators.

The apiserver enforces a SipTrunk's rules as CEL ``x-kubernetes-validations`` in the CRD;
``bolna-sip-operator validate`` and the operator itself (defence in depth, for objects
stored before a CRD upgrade) enforce the same rules in Python. Writing each rule once, as
a ``Rule`` that carries both its CEL text and its Python twin, keeps the two side by
side; the differential test against a real apiserver keeps them equal.

A ``Rule`` is attached either to one property (``Annotated[str, PropertyRules(...)]``,
checked by pydantic while the field is parsed) or to a whole object (checked after
parsing, see ``spec.spec_violations``). A rule whose ``check`` is None is a transition
rule (``self == oldSelf``) that only the apiserver can evaluate, since it needs the old
object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

Reason = Literal["FieldValueRequired", "FieldValueInvalid", "FieldValueForbidden"]
"""``FieldValueDuplicate`` is left out on purpose: the apiserver prints it as a bare
"Duplicate value" and drops the rule's message."""


@dataclass(frozen=True)
class Violation:
    """One broken rule, at the apiserver's field path (``spec.gateways[0].port``)."""

    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Rule:
    """One validation rule: CEL for the apiserver, ``check`` for Python.

    ``message`` must name the field and say how to fix it; the apiserver prints it after
    the field path, and so does the offline validator. ``field_path`` (relative, e.g.
    ``.authUsername``) points the error at the field the user must change rather than at
    the object that holds the rule.
    """

    cel: str
    message: str
    check: Callable[[Any], bool] | None
    field_path: str | None = None
    reason: Reason | None = None

    def to_schema(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry for this rule."""
        entry = {"rule": self.cel, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        if self.reason:
            entry["reason"] = self.reason
        return entry

    @property
    def is_transition(self) -> bool:
        """True for rules that compare with the old object, which only the apiserver has."""
        return self.check is None


@dataclass(frozen=True)
class PropertyRules:
    """``Annotated`` metadata that attaches rules to one property.

    In the JSON schema it adds ``x-kubernetes-validations``; in pydantic it runs each
    rule's ``check`` after the field's own constraints (pattern, length) have passed,
    which is also the order in which the apiserver's messages make sense.
    """

    rules: tuple[Rule, ...]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        checked = [rule for rule in self.rules if rule.check is not None]

        def validate(value: Any) -> Any:
            for rule in checked:
                assert rule.check is not None
                if not rule.check(value):
                    raise PydanticCustomError("rule", rule.message.replace("{", "(").replace(
                        "}", ")"))
            return value

        return core_schema.no_info_after_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("x-kubernetes-validations", []).extend(
            rule.to_schema() for rule in self.rules
        )
        return json_schema


def immutable(why: str) -> PropertyRules:
    """A transition rule that keeps a property from changing after creation."""
    return PropertyRules((Rule(
        cel="self == oldSelf",
        message=f"cannot be changed: {why}; to change it, create a new SipTrunk",
        check=None,
    ),))
