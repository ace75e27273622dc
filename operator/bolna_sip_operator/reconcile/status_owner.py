"""The one writer of trunk status (SipTrunk and CarrierTrunk alike).

The Bolna half, the SIP edge and the health poller each hand their observation to
``StatusOwner.report``; the owner keeps the latest one of each part per trunk, derives
every condition with ``derive.derive`` and writes the status only when it changed. It
also holds the facts the parts need from each other (Bolna's trunk ID, the dispatcher
set ID, the create-pending marker), so no part reads another's findings out of a status
it may have read before that other part wrote.

Writes of one trunk are serialised (one lock per trunk, held only for the write), and
the owner's record is the newest status there is: this operator is the only writer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from ..metrics import forget_trunk, record_conditions
from ..model.carrier_status import CarrierTrunkStatus
from ..model.kinds import CARRIER_TRUNK, SIP_TRUNK, Kind
from ..model.status import SipTrunkStatus
from .conditions import CONDITION_ORDER, ConditionDict, set_conditions
from .derive import derive, healthy_gateways
from .observations import (
    BolnaReport,
    DeletionReport,
    EdgeReport,
    HealthReport,
    Reports,
    reports_from_status,
)

log = logging.getLogger(__name__)

Status = TypeVar("Status", SipTrunkStatus, CarrierTrunkStatus)


class StatusWriter(Protocol):
    """Where status goes: the API server (``Kube.patch_status``), or a test's memory."""

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any], *,
                           plural: str) -> None: ...


@dataclass(frozen=True)
class PhoneNumberFact:
    """A number as Bolna holds it."""

    phone_number: str
    id: str


@dataclass(frozen=True)
class BolnaHealthFact:
    """A CarrierTrunk's health as Bolna reports it from call outcomes (not OPTIONS)."""

    health: str
    reported: str | None
    active_calls: int | None
    observed_at: str
    """When this operator first saw ``health`` take its value (RFC 3339): the drift
    check reads health every interval, and a time that moved with each read would cost
    a status write per trunk per interval."""


@dataclass(frozen=True)
class TrunkFacts:
    """What the parts share: Bolna's IDs, the create marker, the set ID; for a
    CarrierTrunk also Bolna's own health and what the carrier must allowlist."""

    trunk_id: str | None = None
    create_started_at: str | None = None
    password_version: str | None = None
    numbers: tuple[PhoneNumberFact, ...] | None = None
    set_id: int | None = None
    bolna_health: BolnaHealthFact | None = None
    allowlist: dict[str, Any] | None = None
    """``status.carrierAllowlist`` as written (from ``GET /trunk/pop``)."""


_UNSET: Any = object()


@dataclass
class _Record:
    namespace: str
    name: str
    generation: int
    facts: TrunkFacts
    reports: Reports
    written: dict[str, Any]
    kind: Kind = SIP_TRUNK
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class TrunkIdentity:
    """Which object a record is about."""

    namespace: str
    name: str
    uid: str
    generation: int
    status: dict[str, Any]
    kind: Kind = SIP_TRUNK


class StatusOwner:
    """Observations in, one status out, per trunk."""

    def __init__(self, writer: StatusWriter, *, edge_managed: bool) -> None:
        self.writer = writer
        self.edge_managed = edge_managed
        """With a SIP edge, Ready also needs Kamailio loaded and a gateway answering."""
        self._records: dict[str, _Record] = {}
        self._bolna_reasons: dict[str, str] = {}
        self._by_bolna_reason: dict[str, set[str]] = {}
        """Trunks by their Bolna report's reason: a loop looking for a few (those waiting
        for a Secret) then reads a set, not every trunk's record."""

    # ---- what the parts read ---------------------------------------------------------

    def see(self, trunk: TrunkIdentity) -> None:
        """A body of the trunk arrived: note its generation; the first one seeds.

        On first sight after an operator start, the status that the last operator wrote
        is the best knowledge there is: its facts and observations are taken over.
        """
        record = self._records.get(trunk.uid)
        if record is None:
            status: SipTrunkStatus | CarrierTrunkStatus = (
                _parse(trunk.status, CarrierTrunkStatus) if trunk.kind is CARRIER_TRUNK
                else _parse(trunk.status, SipTrunkStatus))
            facts = _facts_of(status)
            record = _Record(trunk.namespace, trunk.name, trunk.generation, facts,
                             reports_from_status(status), dict(trunk.status), trunk.kind)
            self._records[trunk.uid] = record
            self._index_bolna(trunk.uid, record.reports.bolna)
            return
        record.generation = max(record.generation, trunk.generation)

    def with_bolna_reason(self, reason: str) -> list[str]:
        """The UIDs whose latest Bolna report has this reason."""
        return list(self._by_bolna_reason.get(reason, ()))

    def _index_bolna(self, uid: str, report: BolnaReport | None) -> None:
        old = self._bolna_reasons.pop(uid, None)
        if old is not None:
            held = self._by_bolna_reason[old]
            held.discard(uid)
            if not held:
                del self._by_bolna_reason[old]
        if report is not None:
            self._bolna_reasons[uid] = report.reason
            self._by_bolna_reason.setdefault(report.reason, set()).add(uid)

    def known(self, uid: str) -> bool:
        """Whether the trunk has been seen (and not forgotten)."""
        return uid in self._records

    def facts(self, uid: str) -> TrunkFacts:
        """The shared facts of a trunk (empty when never seen)."""
        record = self._records.get(uid)
        return record.facts if record is not None else TrunkFacts()

    def reports(self, uid: str) -> Reports:
        """The latest observation of each part."""
        record = self._records.get(uid)
        return record.reports if record is not None else Reports()

    def generation(self, uid: str) -> int:
        """The newest generation seen."""
        record = self._records.get(uid)
        return record.generation if record is not None else 0

    def set_ids(self) -> dict[str, int]:
        """Every trunk's dispatcher set ID, by UID, as recorded."""
        return {uid: r.facts.set_id for uid, r in self._records.items()
                if r.facts.set_id is not None}

    def status(self, uid: str) -> dict[str, Any]:
        """The status as last written (or as found)."""
        record = self._records.get(uid)
        return dict(record.written) if record is not None else {}

    # ---- what the parts report -------------------------------------------------------

    async def report(self, uid: str, *, bolna: BolnaReport | None = _UNSET,
                     edge: EdgeReport | None = _UNSET, health: HealthReport | None = _UNSET,
                     deletion: DeletionReport | None = _UNSET, write: bool = True,
                     **facts: Any) -> bool:
        """Take observations and fact changes; write the status if it changed.

        ``write=False`` keeps the change for the next write (one write fewer when
        another report follows at once). Returns whether anything was written.
        """
        record = self._records.get(uid)
        if record is None:
            return False  # deleted while the part was looking
        parts = {key: value for key, value in (("bolna", bolna), ("edge", edge),
                                                ("health", health), ("deletion", deletion))
                 if value is not _UNSET}
        if parts:
            record.reports = record.reports.with_(**parts)
            if "bolna" in parts:
                self._index_bolna(uid, record.reports.bolna)
        if facts:
            record.facts = replace(record.facts, **facts)
        if not write:
            return False
        return await self._write(record)

    async def flush(self, uid: str) -> bool:
        """Write what ``report(write=False)`` kept, if anything differs."""
        record = self._records.get(uid)
        return await self._write(record) if record is not None else False

    def forget(self, uid: str) -> None:
        """The trunk is gone: drop its record and its metric series."""
        record = self._records.pop(uid, None)
        self._index_bolna(uid, None)
        if record is not None:
            forget_trunk(record.kind.kind, record.namespace, record.name, CONDITION_ORDER)

    # ---- the write -----------------------------------------------------------------

    async def _write(self, record: _Record) -> bool:
        async with record.lock:
            desired = self.compose(record)
            changes = _changes(record.written, desired)
            if changes:
                await self.writer.patch_status(record.namespace, record.name, changes,
                                               plural=record.kind.plural)
                record.written = desired
            record_conditions(record.kind.kind, record.namespace, record.name,
                              desired.get("conditions"), CONDITION_ORDER)
            return bool(changes)

    def compose(self, record: _Record) -> dict[str, Any]:
        """The whole status the record stands for, as the API stores it."""
        facts, reports = record.facts, record.reports
        verdicts = derive(record.generation, reports, edge_managed=self.edge_managed)
        current: list[ConditionDict] = list(record.written.get("conditions") or [])
        conditions = set_conditions(current, verdicts, record.generation)
        status: dict[str, Any] = {
            "observedGeneration": record.generation,
            "conditions": conditions,
        }
        if facts.trunk_id:
            status["trunkId"] = facts.trunk_id
        if facts.create_started_at and not facts.trunk_id:
            status["createStartedAt"] = facts.create_started_at
        if facts.password_version:
            status["passwordSecretVersion"] = facts.password_version
        if facts.numbers is not None and record.kind is CARRIER_TRUNK:
            status["numbers"] = [{"e164": n.phone_number, "id": n.id} for n in facts.numbers]
            status["numberCount"] = len(facts.numbers)
        elif facts.numbers is not None:
            status["phoneNumbers"] = [{"phoneNumber": n.phone_number, "id": n.id}
                                      for n in facts.numbers]
            status["phoneNumberCount"] = len(facts.numbers)
        if facts.bolna_health is not None:
            health = facts.bolna_health
            status["bolna"] = {key: value for key, value in (
                ("health", health.health), ("reportedHealth", health.reported),
                ("activeCalls", health.active_calls), ("observedAt", health.observed_at))
                if value not in (None, "")}
        if facts.allowlist:
            status["carrierAllowlist"] = facts.allowlist
        if self.edge_managed:
            if facts.set_id is not None:
                status["dispatcher"] = {"setId": facts.set_id}
            if reports.health is not None and reports.deletion is None:
                status["gateways"] = [g.to_status().model_dump(mode="json", exclude_none=True)
                                      for g in reports.health.gateways]
                status["healthyGateways"] = healthy_gateways(reports.health)
        return status


def _parse(status: dict[str, Any], model: type[Status]) -> Status:
    try:
        return model.model_validate(status)
    except ValidationError as error:
        # Written by another version, or by hand: start from what the operator can use.
        log.warning("ignoring a status the operator cannot read (%d error(s))",
                    error.error_count())
        kept = {k: status[k] for k in ("trunkId", "createStartedAt", "passwordSecretVersion")
                if isinstance(status.get(k), str)}
        return model.model_validate(kept)


def _facts_of(status: SipTrunkStatus | CarrierTrunkStatus) -> TrunkFacts:
    facts = TrunkFacts(
        trunk_id=status.trunkId,
        create_started_at=_rfc3339(status.createStartedAt),
        password_version=status.passwordSecretVersion,
        set_id=status.dispatcher.setId if status.dispatcher else None)
    if isinstance(status, SipTrunkStatus):
        return replace(facts, numbers=tuple(
            PhoneNumberFact(n.phoneNumber, n.id) for n in status.phoneNumbers)
            if status.phoneNumberCount is not None else None)
    bolna = status.bolna
    return replace(
        facts,
        numbers=tuple(PhoneNumberFact(n.e164, n.id) for n in status.numbers)
        if status.numberCount is not None else None,
        bolna_health=BolnaHealthFact(bolna.health, bolna.reportedHealth, bolna.activeCalls,
                                     _rfc3339(bolna.observedAt) or "")
        if bolna is not None else None,
        allowlist=status.carrierAllowlist.model_dump(mode="json", exclude_defaults=True)
        if status.carrierAllowlist is not None else None)


def _rfc3339(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def _changes(written: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """A merge patch from what is stored to what should be (None removes a key)."""
    changes = {key: value for key, value in desired.items() if written.get(key) != value}
    changes.update({key: None for key in written if key not in desired})
    return changes
