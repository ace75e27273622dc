"""CarrierTrunk over Bolna's ``/trunk`` API: the second backend.

What differs from SipTrunk: settings are a partial PATCH and the children are
sub-resources (``carrier_plan``); the password goes in that PATCH, never in the create
(``carrier_desired.CREATE_FIELDS``); and a synced trunk reports two more facts for its
status: Bolna's own call-outcome health with its active calls, and what the carrier must
allowlist (``GET /trunk/pop``, once per account per drift interval).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr, TypeAdapter

from ..bolna.trunk_wire import ConnectionDetails, TrunkRecord
from ..model.carrier_spec import CarrierTrunkSpec
from ..model.kinds import CARRIER_TRUNK
from ..model.spec import SecretKeyRef
from .accounts import account_label
from .backend import External, SyncedFacts
from .carrier_desired import DesiredCarrierTrunk, desired_carrier_trunk
from .carrier_external import CHILDREN, CarrierTrunks, ConnectionCache
from .carrier_plan import CarrierPlan, not_applied, plan_carrier_trunk
from .conditions import now_rfc3339
from .objects import TrunkObject
from .outcomes import CLASSIFIED
from .snapshots import ListSnapshots
from .status_owner import BolnaHealthFact, PhoneNumberFact, TrunkFacts
from .validation import validated_carrier_spec

if TYPE_CHECKING:
    from .accounts import Accounts

log = logging.getLogger(__name__)


class CarrierTrunksBackend:
    """The CarrierTrunk kind's half of the core."""

    kind = CARRIER_TRUNK
    create_sends_password = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.snapshots = ListSnapshots(TypeAdapter(TrunkRecord), "GET /trunk/trunks",
                                       needs=CHILDREN, clock=clock)
        self.connections = ConnectionCache(clock)

    def validate(self, obj: TrunkObject) -> CarrierTrunkSpec:
        """The spec as the model and cross-field rules accept it."""
        return validated_carrier_spec(obj)

    def token_ref(self, spec: CarrierTrunkSpec) -> SecretKeyRef | None:
        """``spec.apiTokenSecretRef``."""
        return spec.apiTokenSecretRef

    def password_ref(self, spec: CarrierTrunkSpec) -> SecretKeyRef | None:
        """The password Secret, when the carrier challenges Bolna's calls."""
        return spec.authPasswordSecretRef if spec.has_credentials else None

    def desired(self, spec: CarrierTrunkSpec, object_name: str) -> DesiredCarrierTrunk:
        """The spec in Bolna's ``/trunk`` fields."""
        return desired_carrier_trunk(spec, object_name)

    def external(self, accounts: Accounts, token: SecretStr) -> External:
        """The account's ``/trunk`` trunks."""
        return CarrierTrunks(accounts.client(token), account_label(token), self.snapshots,
                             self.connections)

    def mismatches(self, desired: DesiredCarrierTrunk, observed: TrunkRecord) -> list[str]:
        """None: every ``/trunk`` setting can be changed, every child replaced."""
        return []

    def plan(self, desired: DesiredCarrierTrunk, observed: TrunkRecord, *,
             password_changed: bool, skip: frozenset[str], pending: set[str],
             first_look: bool) -> CarrierPlan:
        """A partial PATCH and one call per differing child (``carrier_plan``)."""
        return plan_carrier_trunk(desired, observed, password_changed=password_changed,
                                  skip=skip, first_look=first_look)

    def not_applied(self, plan: CarrierPlan, desired: DesiredCarrierTrunk,
                    answer: TrunkRecord, skip: frozenset[str]) -> list[str]:
        """Settings Bolna's answer shows it did not take."""
        return not_applied(plan, desired, answer, skip)

    async def synced(self, external: External, observed: TrunkRecord, before: TrunkFacts,
                     *, max_age: float) -> SyncedFacts:
        """Numbers, Bolna's health (with an Event when it turns Degraded or recovers) and
        the carrier allowlist."""
        facts: dict[str, object] = {}
        numbers = observed.live_numbers()
        if numbers is not None:
            facts["numbers"] = tuple(PhoneNumberFact(n.e164 or "", str(n.id))
                                     for n in numbers)
        events: list[tuple[str, str, str]] = []
        if observed.health is not None or observed.active_calls is not None:
            health = health_fact(observed, before.bolna_health)
            facts["bolna_health"] = health
            events += health_events(str(observed.id), before.bolna_health, health)
        if isinstance(external, CarrierTrunks):
            facts["allowlist"] = await _allowlist(external, max_age, before.allowlist)
        count = len(numbers) if numbers is not None else len(before.numbers or ())
        return SyncedFacts(facts, (
            f"Bolna trunk {observed.id}, its {len(observed.gateways or ())} gateway(s), "
            f"{len(observed.ip_acls or ())} carrier IP(s) and {count} number(s) match "
            "spec"), events)

    async def account_facts_current(self, external: External, facts: TrunkFacts, *,
                                    max_age: float) -> bool:
        """The carrier allowlist is the account's, read apart from the trunk's record."""
        if not isinstance(external, CarrierTrunks):
            return True
        return await _allowlist(external, max_age, facts.allowlist) == facts.allowlist

    def account_facts_now(self, external: External, facts: TrunkFacts, *,
                          max_age: float) -> bool | None:
        """The allowlist as held (None when it is older than ``max_age``: the queued
        check reads it again)."""
        if not isinstance(external, CarrierTrunks):
            return True
        details = external.connection_details_now(max_age)
        return None if details is None else allowlist_status(details) == facts.allowlist


def health_fact(observed: TrunkRecord, before: BolnaHealthFact | None) -> BolnaHealthFact:
    """Bolna's health as the status shows it; ``observedAt`` moves only on a change."""
    state = observed.health.state if observed.health is not None else "Unknown"
    reported = observed.health.reported if observed.health is not None else None
    since = (before.observed_at if before is not None and before.health == state
             and before.observed_at else now_rfc3339())
    return BolnaHealthFact(state, reported, observed.active_calls, since)


def health_events(trunk_id: str, before: BolnaHealthFact | None, now: BolnaHealthFact
                  ) -> list[tuple[str, str, str]]:
    """An Event when Bolna's call-outcome health turns Degraded, or leaves Degraded."""
    was = before.health if before is not None else None
    if now.health == "Degraded" and was != "Degraded":
        return [("Warning", "CarrierDegraded", f"Bolna reports trunk {trunk_id} Degraded: "
                 "its last outbound calls failed at the carrier (Bolna's health, from call "
                 "outcomes; the SIP edge's OPTIONS health of each gateway is in "
                 "status.gateways). One answered call clears it")]
    if was == "Degraded" and now.health != "Degraded":
        return [("Normal", "CarrierRecovered", f"Bolna reports trunk {trunk_id} "
                 f"{now.health}: a call was answered again")]
    return []


def allowlist_status(details: ConnectionDetails) -> dict[str, object]:
    """``status.carrierAllowlist`` from Bolna's connection details (fields it gave)."""
    shown: dict[str, object] = {
        "sipDomain": details.sip_domain, "port": details.port,
        "transports": details.transports, "signallingIps": details.ips,
        "rtpPorts": details.rtp_ports}
    return {key: value for key, value in shown.items() if value not in (None, [])}


async def _allowlist(external: CarrierTrunks, max_age: float,
                     before: dict[str, object] | None) -> dict[str, object] | None:
    """The allowlist, or what the status had when Bolna cannot tell now: it is the same
    for every account and trunk, and a failed read must not fail the trunk's sync."""
    try:
        return allowlist_status(await external.connection_details(max_age))
    except CLASSIFIED as error:
        log.info("reading Bolna's connection details failed (%s); status keeps the "
                 "allowlist it had", type(error).__name__)
        return before
