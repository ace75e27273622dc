"""Bolna's trunk as an external resource: observe, create, update, delete.

The shape of a Crossplane external client: four calls over a typed observed trunk
(``bolna.wire.Trunk``), and nothing about Kubernetes. Observing may use the account's
shared list (the drift check) or ask for the one trunk; whatever this operator writes
is remembered in that list, so a list already in flight cannot make a trunk look gone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ..bolna import BolnaClient, Conflict, NotFound
from ..bolna.wire import NumberCreate, Trunk, TrunkCreate, TrunkUpdate
from ..kube import SecretValue
from .desired import DesiredTrunk
from .outcomes import number_taken
from .plan import TrunkPlan
from .snapshots import AccountSnapshots, Unlisted


@dataclass
class ExternalTrunks:
    """One account's trunks in Bolna."""

    bolna: BolnaClient
    account: str
    snapshots: AccountSnapshots

    async def observe(self, trunk_id: str, *, max_age: float | None = None) -> Trunk | None:
        """The trunk as Bolna holds it, or None if Bolna has no such trunk.

        With ``max_age``, the account's list at most that old answers; a trunk absent
        from it is asked for by ID before it counts as gone, since a trunk created
        while the list was served is missing from it.
        """
        if max_age is not None:
            listed = await self.snapshots.trunk(self.account, self.bolna, trunk_id, max_age)
            if listed is not None:
                return await self.with_numbers(listed)
        try:
            trunk = await self.bolna.get_trunk(trunk_id)
        except NotFound:
            return None
        self.snapshots.remember(self.account, trunk)
        return await self.with_numbers(trunk)

    async def record(self, trunk_id: str, *, max_age: float) -> bytes | None:
        """The trunk's JSON in the account's list at most ``max_age`` seconds old, if it
        is listed with its numbers and none this operator added is still awaited:
        equal JSON is then an equal trunk (a quiet drift check compares it, unparsed)."""
        if self.snapshots.holds_numbers(self.account, trunk_id):
            return None
        return await self.snapshots.record(self.account, self.bolna, trunk_id, max_age)

    def record_now(self, trunk_id: str, *, max_age: float) -> bytes | Unlisted | None:
        """``record`` from the list as it is, never waiting for Bolna (the drift loop):
        ``Unlisted`` when that list is stale or failing."""
        if self.snapshots.holds_numbers(self.account, trunk_id):
            return None
        return self.snapshots.record_now(self.account, trunk_id, max_age)

    async def with_numbers(self, trunk: Trunk) -> Trunk:
        """The trunk with its numbers known.

        Bolna's OpenAPI marks no answer field as required and its guide's examples leave
        ``phone_numbers`` out: a trunk answer without them is asked for its numbers
        (``GET .../numbers``), never taken as "no numbers". Numbers this operator added
        moments ago and Bolna does not show yet are put back, so none is added twice.
        """
        if trunk.phone_numbers is None:
            numbers = await self.bolna.list_numbers(trunk.id)
            trunk = trunk.model_copy(update={"phone_numbers": numbers})
        return self.snapshots.with_recent_numbers(self.account, trunk)

    def parse(self, record: bytes) -> Trunk:
        """A record ``record`` returned, parsed."""
        return self.snapshots.parse(record)

    def canonical(self, trunk: Trunk) -> bytes:
        """The trunk's JSON as this operator writes it: equal trunks, equal bytes."""
        return self.snapshots.canonical(trunk)

    async def find_by_name(self, name: str, *, asked_after: float | None = None
                           ) -> Trunk | None:
        """The trunk with that name (unique per account), after a create's lost answer,
        in a list asked for after ``asked_after`` (default: now) that every such look
        of the account shares (``snapshots.ListSnapshots.find_by_name``)."""
        trunk = await self.snapshots.find_by_name(self.account, self.bolna, name,
                                                  asked_after=asked_after)
        return None if trunk is None else await self.with_numbers(trunk)

    async def create(self, desired: DesiredTrunk, password: SecretValue | None) -> Trunk:
        """Create the trunk with its numbers, in one call."""
        body = desired.create_body()
        if password is not None:
            body["auth_password"] = password.value
        trunk = await self.bolna.create_trunk(TrunkCreate.model_validate(body))
        self.snapshots.remember(self.account, trunk, created=True)
        # Created with the trunk: present, though Bolna may list them only later.
        self.snapshots.remember_numbers(
            self.account, trunk.id, [n.phone_number for n in desired.numbers.values()])
        if trunk.phone_numbers is None and not desired.numbers:
            return trunk.model_copy(update={"phone_numbers": []})
        return await self.with_numbers(trunk)

    async def update(self, trunk_id: str, plan: TrunkPlan, password: SecretValue | None
                     ) -> Trunk:
        """Run a plan: one PATCH for fields (and the password), one call per number."""
        trunk: Trunk | None = None
        if plan.patch or plan.send_password:
            body = dict(plan.patch)
            if plan.send_password and password is not None:
                body["auth_password"] = password.value
            trunk = await self.bolna.update_trunk(trunk_id, TrunkUpdate.model_validate(body))
        for number in plan.remove_numbers:
            with contextlib.suppress(NotFound):  # already gone is what we wanted
                await self.bolna.delete_number(trunk_id, number.id)
        added = []
        try:
            for wanted in plan.add_numbers:
                added.append(await self.bolna.add_number(trunk_id, NumberCreate(
                    phone_number=wanted.phone_number, name=wanted.name)))
        except Conflict as error:
            raise number_taken(wanted.phone_number, error) from None
        finally:
            self.snapshots.remember_numbers(self.account, trunk_id, list(added))
        if trunk is None or plan.add_numbers or plan.remove_numbers:
            trunk = await self.bolna.get_trunk(trunk_id)
        self.snapshots.remember(self.account, trunk)
        return await self.with_numbers(trunk)

    def create_patience(self, longest: float, shortest: float) -> float:
        """How long a create whose answer was lost is looked for by name before it is
        sent again: as long as the account's lists were seen to lag behind creates
        (``snapshots.create_patience``)."""
        return self.snapshots.create_patience(self.account, longest, shortest)

    def pending_numbers(self, trunk: Trunk) -> set[str]:
        """Numbers this operator added moments ago that the trunk does not show yet."""
        return self.snapshots.pending_numbers(self.account, trunk)

    async def delete(self, trunk_id: str) -> None:
        """Delete the trunk; a trunk already gone counts as deleted."""
        with contextlib.suppress(NotFound):
            await self.bolna.delete_trunk(trunk_id)
        self.snapshots.forget(self.account, trunk_id)
