"""A Bolna account's ``/trunk`` trunks as an external resource (CarrierTrunk's half).

The same four calls as the legacy ``external.ExternalTrunks`` (observe, create, update,
delete) over ``bolna.trunk_api.TrunkApi``, plus Bolna's connection details, read once
per account and again after ``max_age``. A plan's sub-resource calls are made one at a
time (each waits for the account's rate limiter); the trunk they leave behind is the
observed one with those calls applied, so a list Bolna serves a moment later, before
its own children caught up, cannot undo them (this operator's writes are remembered in
the account's snapshot, as for the legacy API). A plan that fails part way leaves the
children unknown (a lost answer may hide an add that was made): the trunk is then read
by ID before anything is planned for it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bolna import BolnaClient, Conflict, NotFound
from ..bolna.trunk_api import TrunkApi
from ..bolna.trunk_wire import (
    ConnectionDetails,
    GatewayRecord,
    IpAclRecord,
    NumberRecord,
    TrunkRecord,
)
from ..kube import SecretValue
from .carrier_desired import DesiredCarrierTrunk
from .carrier_plan import (
    AddCarrierIp,
    AddGateway,
    AddNumber,
    AssignAgent,
    CarrierPlan,
    RemoveCarrierIp,
    RemoveGateway,
    RemoveNumber,
)
from .outcomes import number_taken
from .snapshots import ListSnapshots, Unlisted

log = logging.getLogger(__name__)


@dataclass
class ConnectionCache:
    """``GET /trunk/pop`` per account: the same for every trunk of it."""

    clock: Callable[[], float] = time.monotonic
    _held: dict[str, tuple[float, ConnectionDetails]] = field(default_factory=dict)

    def get(self, account: str, max_age: float) -> ConnectionDetails | None:
        """The account's details if read within ``max_age`` seconds."""
        held = self._held.get(account)
        if held is None or self.clock() - held[0] > max_age:
            return None
        return held[1]

    def put(self, account: str, details: ConnectionDetails) -> None:
        """Keep what Bolna just said."""
        self._held[account] = (self.clock(), details)


@dataclass
class CarrierTrunks:
    """One account's trunks in Bolna's ``/trunk`` API."""

    client: BolnaClient
    account: str
    snapshots: ListSnapshots[TrunkRecord]
    connections: ConnectionCache

    @property
    def api(self) -> TrunkApi:
        """The account's ``/trunk`` calls, over its client (retries, rate limit)."""
        return TrunkApi(self.client)

    async def observe(self, trunk_id: str, *, max_age: float | None = None
                      ) -> TrunkRecord | None:
        """The trunk as Bolna holds it, or None if Bolna has no such trunk.

        With ``max_age``, the account's list at most that old answers; a trunk absent
        from it (or listed without its children) is asked for by ID.
        """
        if max_age is not None:
            listed = await self.snapshots.trunk(self.account, self.api, trunk_id, max_age)
            if listed is not None and _complete(listed):
                return listed
        try:
            trunk = await self.api.get_trunk(trunk_id)
        except NotFound:
            return None
        self.snapshots.remember(self.account, trunk)
        return trunk

    async def record(self, trunk_id: str, *, max_age: float) -> bytes | None:
        """The trunk's JSON in the account's list at most ``max_age`` seconds old, if it
        is listed with its children: equal JSON is an equal trunk (a quiet drift
        check compares it, unparsed)."""
        return await self.snapshots.record(self.account, self.api, trunk_id, max_age)

    def record_now(self, trunk_id: str, *, max_age: float) -> bytes | Unlisted | None:
        """``record`` from the list as it is, never waiting for Bolna (the drift loop):
        ``Unlisted`` when that list is stale or failing."""
        return self.snapshots.record_now(self.account, trunk_id, max_age)

    def parse(self, record: bytes) -> TrunkRecord:
        """A record ``record`` returned, parsed."""
        return self.snapshots.parse(record)

    def canonical(self, trunk: TrunkRecord) -> bytes:
        """The trunk's JSON as this operator writes it: equal trunks, equal bytes."""
        return self.snapshots.canonical(trunk)

    async def find_by_name(self, name: str, *, asked_after: float | None = None
                           ) -> TrunkRecord | None:
        """The trunk with that name, after a create whose answer was lost, in a list
        asked for after ``asked_after`` (default: now) that every such look of the
        account shares."""
        return await self.snapshots.find_by_name(self.account, self.api, name,
                                                 asked_after=asked_after)

    async def create(self, desired: DesiredCarrierTrunk, password: SecretValue | None
                     ) -> TrunkRecord:
        """Create the trunk with its settings; the password and the children follow in
        the plan that runs right after (see ``carrier_desired.CREATE_FIELDS``)."""
        trunk = await self.api.create_trunk(desired.create_body())
        # A new trunk has no children: an answer that leaves them out means none.
        trunk = trunk.model_copy(update={
            key: [] for key in ("gateways", "ip_acls", "numbers")
            if getattr(trunk, key) is None})
        self.snapshots.remember(self.account, trunk, created=True)
        return trunk

    async def update(self, trunk_id: str, plan: CarrierPlan, password: SecretValue | None
                     ) -> TrunkRecord:
        """Run a plan: one PATCH for settings (and credentials), then each step."""
        trunk = plan.base
        if plan.patch or plan.send_password:
            body = dict(plan.patch)
            secret = password.value if plan.send_password and password is not None else None
            if secret is None:
                body.pop("auth_username", None)  # Bolna takes it only with the password
            answer = await self.api.update_trunk(trunk_id, body, secret)
            trunk = answer.model_copy(update={
                "gateways": trunk.gateways, "ip_acls": trunk.ip_acls,
                "numbers": trunk.numbers})
        gateways = list(trunk.gateways or ())
        acls = list(trunk.ip_acls or ())
        numbers = list(trunk.live_numbers() or ())
        try:
            for step in plan.steps:
                await self._run(trunk_id, step, gateways, acls, numbers)
        except BaseException:
            # The failed step may have been applied (an add whose answer was lost): the
            # trunk's children are unknown until Bolna is asked. Remembered without
            # them, so the next look at this trunk, a drift check's included, reads it
            # by ID rather than trusting a list taken before that step, and never adds
            # again what was added (a second gateway, or a 409 on a number or carrier IP).
            self.snapshots.remember(self.account, trunk.model_copy(update={
                "gateways": None, "ip_acls": None, "numbers": None}))
            raise
        trunk = trunk.model_copy(update={
            "gateways": gateways if trunk.gateways is not None else None,
            "ip_acls": acls if trunk.ip_acls is not None else None,
            "numbers": numbers if trunk.numbers is not None else None})
        self.snapshots.remember(self.account, trunk)
        return trunk

    async def _run(self, trunk_id: str, step: Any, gateways: list[GatewayRecord],
                   acls: list[IpAclRecord], numbers: list[NumberRecord]) -> None:
        api = self.api
        match step:
            case AddGateway(gateway=g):
                gateways.append(await api.add_gateway(trunk_id, g.host, g.port, g.priority))
            case RemoveGateway(id=gateway_id):
                await api.remove_gateway(trunk_id, gateway_id)
                gateways[:] = [g for g in gateways if g.id != gateway_id]
            case AddCarrierIp(cidr=cidr):
                acls.append(await api.add_ip_acl(trunk_id, cidr))
            case RemoveCarrierIp(id=acl_id):
                await api.remove_ip_acl(trunk_id, acl_id)
                acls[:] = [a for a in acls if a.id != acl_id]
            case AddNumber(number=n):
                try:
                    numbers.append(await api.add_number(trunk_id, n.e164,
                                                        n.destination_key, n.agent_id))
                except Conflict as error:
                    raise number_taken(n.e164, error) from None
            case RemoveNumber(id=number_id):
                await api.remove_number(trunk_id, number_id)
                numbers[:] = [n for n in numbers if n.id != number_id]
            case AssignAgent(id=number_id, agent_id=agent_id):
                assigned = await api.assign_agent(number_id, agent_id)
                numbers[:] = [assigned if n.id == number_id else n for n in numbers]

    def create_patience(self, longest: float, shortest: float) -> float:
        """How long a create whose answer was lost is looked for by name before it is
        sent again: as long as the account's lists were seen to lag behind creates
        (``snapshots.create_patience``)."""
        return self.snapshots.create_patience(self.account, longest, shortest)

    def pending_numbers(self, trunk: TrunkRecord) -> set[str]:
        """None: a number this API added is in the trunk this operator remembers."""
        return set()

    async def delete(self, trunk_id: str) -> None:
        """Delete the trunk (Bolna cascades); a trunk already gone counts as deleted."""
        await self.api.delete_trunk(trunk_id)
        self.snapshots.forget(self.account, trunk_id)

    def connection_details_now(self, max_age: float) -> ConnectionDetails | None:
        """The details if read within ``max_age`` seconds, without asking Bolna."""
        return self.connections.get(self.account, max_age)

    async def connection_details(self, max_age: float) -> ConnectionDetails:
        """Bolna's SIP edge for this account, read at most once per ``max_age``."""
        held = self.connections.get(self.account, max_age)
        if held is not None:
            return held
        details = await self.api.connection_details()
        self.connections.put(self.account, details)
        return details


CHILDREN = ("gateways", "ip_acls", "numbers")
"""The sub-resources a listed trunk may leave out (it is then read by ID)."""


def _complete(trunk: TrunkRecord) -> bool:
    """Whether a listed trunk carries its children (else it is read by ID)."""
    return all(getattr(trunk, child) is not None for child in CHILDREN)
