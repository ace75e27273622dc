"""A trunk's spec as the operator's own model and rules accept it, else ``Stalled``.

The SIP edge renders only what passes here, so the Bolna half and the edge refuse the
same specs: an older or edited CRD can let through what the current one refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..model.carrier_spec import (
    CarrierTrunkSpec,
    carrier_spec_violations,
    object_name_violations,
)
from ..model.rules import Violation
from ..model.spec import SipTrunkSpec, spec_violations
from .objects import TrunkObject
from .outcomes import Stalled

M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], violations: Callable[[M], Sequence[Violation]],
               obj: TrunkObject) -> M:
    try:
        spec = model.model_validate(obj.spec)
    except ValidationError as error:
        first = error.errors()[0]
        where = "spec." + ".".join(map(str, first["loc"]))
        raise Stalled("Rejected", f"{where}: {first['msg']} ({error.error_count()} "
                      "error(s)); fix the spec") from None
    found = violations(spec)
    if found:
        raise Stalled("Rejected", "; ".join(str(v) for v in found))
    return spec


def validated_spec(obj: TrunkObject) -> SipTrunkSpec:
    """A SipTrunk's spec, validated."""
    return _validated(SipTrunkSpec, spec_violations, obj)


def validated_carrier_spec(obj: TrunkObject) -> CarrierTrunkSpec:
    """A CarrierTrunk's spec, validated; with the object's name too (Bolna's trunk
    name defaults to it, and Bolna takes at most 100 characters)."""
    return _validated(CarrierTrunkSpec, lambda spec: [
        *carrier_spec_violations(spec), *object_name_violations(spec, obj.name)], obj)
