"""SipTrunk over Bolna's legacy ``/sip-trunks`` API: the first backend.

Wraps what was written for it alone: ``desired`` (the spec in Bolna's fields), ``plan``
(one PATCH and a call per number) and ``external`` (the four calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..bolna.wire import Trunk
from ..model.kinds import SIP_TRUNK
from ..model.spec import SecretKeyRef, SipTrunkSpec
from .backend import External, SyncedFacts
from .desired import DesiredTrunk, desired_trunk
from .objects import TrunkObject
from .plan import TrunkPlan, differing, immutable_mismatches, not_taken, plan_trunk
from .status_owner import PhoneNumberFact, TrunkFacts
from .validation import validated_spec

if TYPE_CHECKING:
    from .accounts import Accounts


class SipTrunksBackend:
    """The SipTrunk kind's half of the core."""

    kind = SIP_TRUNK
    create_sends_password = True

    def validate(self, obj: TrunkObject) -> SipTrunkSpec:
        """The spec as the model and cross-field rules accept it."""
        return validated_spec(obj)

    def token_ref(self, spec: SipTrunkSpec) -> SecretKeyRef | None:
        """``spec.apiTokenSecretRef``."""
        return spec.apiTokenSecretRef

    def password_ref(self, spec: SipTrunkSpec) -> SecretKeyRef | None:
        """The password Secret of a userpass trunk (an ip-based one has none)."""
        return spec.authPasswordSecretRef if spec.authType == "userpass" else None

    def desired(self, spec: SipTrunkSpec, object_name: str) -> DesiredTrunk:
        """The spec in Bolna's legacy fields."""
        return desired_trunk(spec, object_name)

    def external(self, accounts: Accounts, token: SecretStr) -> External:
        """The account's legacy trunks."""
        return accounts.trunks(token)

    def mismatches(self, desired: DesiredTrunk, observed: Trunk) -> list[str]:
        """provider, auth_type and the create-only fields, which Bolna cannot change."""
        return immutable_mismatches(desired, observed.model_dump(mode="json"))

    def plan(self, desired: DesiredTrunk, observed: Trunk, *, password_changed: bool,
             skip: frozenset[str], pending: set[str], first_look: bool) -> TrunkPlan:
        """One PATCH of the differing fields Bolna returned, a call per number.

        ``first_look`` changes nothing here: the legacy answers carry every field the
        spec manages, and one it leaves out is never sent on a guess.
        """
        return plan_trunk(desired, observed.model_dump(mode="json"),
                          password_changed=password_changed, skip=skip, pending=pending)

    def not_applied(self, plan: TrunkPlan, desired: DesiredTrunk, answer: Trunk,
                    skip: frozenset[str]) -> list[str]:
        """Fields the answer shows unchanged, or still different from spec."""
        seen = answer.model_dump(mode="json")
        return sorted(set(not_taken(plan.patch, seen)) | set(differing(desired, seen, skip)))

    async def synced(self, external: External, observed: Trunk, before: TrunkFacts, *,
                     max_age: float) -> SyncedFacts:
        """The numbers as Bolna holds them."""
        facts: dict[str, Any] = {}
        if observed.phone_numbers is not None:
            facts["numbers"] = tuple(PhoneNumberFact(n.phone_number, n.id)
                                     for n in observed.phone_numbers if not n.deleted)
        count = len(facts.get("numbers") or before.numbers or ())
        return SyncedFacts(facts, f"Bolna trunk {observed.id} and its {count} number(s) "
                           "match spec")

    async def account_facts_current(self, external: External, facts: TrunkFacts, *,
                                    max_age: float) -> bool:
        """Everything a SipTrunk's status shows of Bolna is in its trunk's record."""
        return True

    def account_facts_now(self, external: External, facts: TrunkFacts, *,
                          max_age: float) -> bool | None:
        """As ``account_facts_current``: nothing beyond the record."""
        return True


