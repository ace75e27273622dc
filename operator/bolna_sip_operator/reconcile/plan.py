"""The fewest Bolna calls that make an observed trunk equal to the desired one.

Pure functions over plain dicts in Bolna's field names (the observed trunk is the JSON
Bolna returned), so every decision here has a fast unit test and no I/O.

Two rules keep the plan from looping:
- A field Bolna did not return cannot be compared, so it is never patched on a guess
  (the guide's own example responses omit fields). Otherwise each drift check would
  write again.
- ``description`` and ``auth_username`` left out of spec are left alone in Bolna,
  rather than cleared: absent in a manifest means "not managed here".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .desired import IMMUTABLE_FIELDS, MANAGED_FIELDS, DesiredNumber, DesiredTrunk, phone_key


@dataclass(frozen=True)
class NumberToRemove:
    """A number Bolna holds that spec does not list."""

    id: str
    phone_number: str


@dataclass
class TrunkPlan:
    """What to change on an existing trunk: a partial PATCH and number calls."""

    patch: dict[str, Any] = field(default_factory=dict)
    add_numbers: list[DesiredNumber] = field(default_factory=list)
    remove_numbers: list[NumberToRemove] = field(default_factory=list)
    send_password: bool = False

    @property
    def empty(self) -> bool:
        """True when Bolna already matches."""
        return not (self.patch or self.add_numbers or self.remove_numbers or self.send_password)

    @property
    def calls(self) -> int:
        """How many Bolna calls running this plan takes."""
        patch_call = 1 if self.patch or self.send_password else 0
        return patch_call + len(self.add_numbers) + len(self.remove_numbers)

    def summary(self) -> str:
        """A sentence for Events: which fields and numbers change (never values)."""
        parts = []
        if self.patch:
            parts.append("fields " + ", ".join(sorted(self.patch)))
        if self.send_password:
            parts.append("the password")
        if self.add_numbers:
            parts.append(f"{len(self.add_numbers)} number(s) added")
        if self.remove_numbers:
            parts.append(f"{len(self.remove_numbers)} number(s) removed")
        return "; ".join(parts) or "nothing"


def immutable_mismatches(desired: DesiredTrunk, observed: dict[str, Any]) -> list[str]:
    """Fields Bolna cannot change that differ, e.g. an adopted trunk of another provider."""
    return [name for name in IMMUTABLE_FIELDS
            if observed.get(name) is not None and observed[name] != desired.fields[name]]


def differing(desired: DesiredTrunk, observed: dict[str, Any],
              names: Iterable[str] = MANAGED_FIELDS) -> list[str]:
    """The fields among ``names`` whose value Bolna returned and that differ from spec."""
    found = []
    for name in names:
        wanted = desired.fields.get(name)
        seen = observed.get(name)
        if wanted is not None and seen is not None and (
                _normalised(name, wanted) != _normalised(name, seen)):
            found.append(name)
    return found


def not_taken(patch: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """Fields of a PATCH that Bolna's answer shows unchanged (or otherwise changed).

    A field the answer leaves out is unknown, not refused: sparse answers are allowed.
    """
    return sorted(name for name, wanted in patch.items()
                  if answer.get(name) is not None
                  and _normalised(name, wanted) != _normalised(name, answer[name]))


def plan_trunk(desired: DesiredTrunk, observed: dict[str, Any], *,
               password_changed: bool = False, skip: Iterable[str] = (),
               pending: Iterable[str] = ()) -> TrunkPlan:
    """Compare field by field; numbers as a set keyed by digits. Fields in ``skip``
    (Bolna did not take them for this generation) are not sent again; numbers in
    ``pending`` (added moments ago, not listed yet) are not added again."""
    plan = TrunkPlan(send_password=password_changed and desired.fields["auth_type"] == "userpass")
    skipped = set(skip)
    for name in differing(desired, observed):
        if name not in skipped:
            plan.patch[name] = desired.fields[name]
    observed_numbers = observed.get("phone_numbers")
    if observed_numbers is not None:
        held = {phone_key(str(n["phone_number"])): n for n in observed_numbers
                if not n.get("deleted")}
        waiting = set(pending)
        plan.add_numbers = [n for key, n in desired.numbers.items()
                            if key not in held and key not in waiting]
        plan.remove_numbers = [NumberToRemove(str(n["id"]), str(n["phone_number"]))
                               for key, n in held.items() if key not in desired.numbers]
    return plan


def _normalised(name: str, value: Any) -> Any:
    if name == "gateways":
        return sorted((str(g.get("gateway_address", "")).lower(), g.get("port", 5060),
                       g.get("priority", 1)) for g in value)
    if name == "ip_identifiers":
        return sorted(str(i.get("ip_address", "")) for i in value)
    return value
