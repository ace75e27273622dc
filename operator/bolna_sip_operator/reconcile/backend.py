"""What the reconcile core needs from one of Bolna's trunk APIs: a backend.

``TrunkReconciler`` and ``TrunkDeleter`` hold the decisions that are the same for both
kinds (the guarded create, adoption, who owns a Bolna trunk, drift versus change, the
password's rotation, what to do with a field Bolna did not apply). A backend holds what
differs between Bolna's legacy ``/sip-trunks`` API (``SipTrunk``) and its newer
``/trunk`` API (``CarrierTrunk``): how a spec validates, what Bolna should hold, how to
compare, and the calls that change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from ..kube import SecretValue
from ..model.kinds import Kind
from ..model.spec import SecretKeyRef
from .objects import TrunkObject
from .snapshots import Unlisted
from .status_owner import TrunkFacts

if TYPE_CHECKING:
    from .accounts import Accounts


class Observed(Protocol):
    """A trunk as Bolna returned it: only its ID is read here."""

    @property
    def id(self) -> Any: ...


class Desired(Protocol):
    """What Bolna should hold: its name (unique per account) and its numbers."""

    @property
    def name(self) -> str: ...

    @property
    def numbers(self) -> Any: ...


class Plan(Protocol):
    """The calls that make Bolna equal to spec."""

    @property
    def empty(self) -> bool: ...

    @property
    def patch(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...


class External(Protocol):
    """One account's trunks in Bolna: a Crossplane-style external client."""

    @property
    def account(self) -> str: ...

    async def observe(self, trunk_id: str, *, max_age: float | None = None) -> Any: ...

    async def record(self, trunk_id: str, *, max_age: float) -> bytes | None: ...

    def record_now(self, trunk_id: str, *, max_age: float) -> bytes | Unlisted | None: ...

    def parse(self, record: bytes) -> Any: ...

    def canonical(self, trunk: Any) -> bytes: ...

    async def find_by_name(self, name: str, *, asked_after: float | None = None
                           ) -> Any: ...

    async def create(self, desired: Any, password: SecretValue | None) -> Any: ...

    async def update(self, trunk_id: str, plan: Any, password: SecretValue | None
                     ) -> Any: ...

    def create_patience(self, longest: float, shortest: float) -> float: ...

    def pending_numbers(self, trunk: Any) -> set[str]: ...

    async def delete(self, trunk_id: str) -> None: ...


@dataclass(frozen=True)
class SyncedFacts:
    """What a backend reports once Bolna matches spec: status facts and a message."""

    facts: dict[str, Any]
    message: str
    events: Sequence[tuple[str, str, str]] = field(default_factory=tuple)
    """(Normal|Warning, reason, message) to post, e.g. Bolna's health changing."""


class Backend(Protocol):
    """One kind's half of the core (see the module docstring)."""

    kind: Kind
    create_sends_password: bool
    """Whether ``External.create`` sends the password (else the first plan does)."""

    def validate(self, obj: TrunkObject) -> Any:
        """The spec, validated; ``Stalled`` otherwise."""

    def token_ref(self, spec: Any) -> SecretKeyRef | None:
        """The API token Secret, or None for the operator's default token."""

    def password_ref(self, spec: Any) -> SecretKeyRef | None:
        """The SIP password Secret, when the spec has credentials."""

    def desired(self, spec: Any, object_name: str) -> Any:
        """What Bolna should hold (no secrets)."""

    def external(self, accounts: Accounts, token: SecretStr) -> External:
        """The trunks of the account the token opens."""

    def mismatches(self, desired: Any, observed: Any) -> list[str]:
        """Fields Bolna cannot change that differ (a conflict only a person settles)."""

    def plan(self, desired: Any, observed: Any, *, password_changed: bool,
             skip: frozenset[str], pending: set[str], first_look: bool) -> Any:
        """The calls that make ``observed`` equal to ``desired``. ``first_look``: this
        generation has not been in sync yet (a field Bolna did not return may be sent
        once then; never by a drift check, which would send it every interval)."""

    def not_applied(self, plan: Any, desired: Any, answer: Any,
                    skip: frozenset[str]) -> list[str]:
        """What Bolna's answer shows it did not take."""

    async def synced(self, external: External, observed: Any, before: TrunkFacts,
                     *, max_age: float) -> SyncedFacts:
        """The facts and message of a trunk that matches spec."""

    async def account_facts_current(self, external: External, facts: TrunkFacts, *,
                                    max_age: float) -> bool:
        """Whether what status shows of the account, beyond the trunk's own record, is
        as ``facts`` recorded it (a drift check that finds the record unchanged asks)."""

    def account_facts_now(self, external: External, facts: TrunkFacts, *,
                          max_age: float) -> bool | None:
        """``account_facts_current`` from what is held, never asking Bolna (the drift
        loop): None when what is held is older than ``max_age``."""
