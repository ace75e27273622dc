"""Deleting a trunk object (either kind): its Bolna trunk goes (or stays, per
deletionPolicy), then the finalizer.

Deletion needs only the trunk's ID and the account's token: not the SIP password, and
not a spec that still validates (an older CRD may have let an invalid one in). Both of
Bolna's APIs delete a trunk with its children in one call. The
token Secret is held by the in-use finalizer until the trunks that use it are gone; the
token this process last used covers a Secret removed by hand.

Only a trunk this object recorded in its status is deleted: an adoption annotation
that never took (a wrong ID, another object's trunk, no token) names a trunk that is
not this object's to delete, and neither is a trunk another object owns.

Failures go through the same classifier as reconcile: the object stays Terminating,
``Ready=False`` with reason ``Deleting``, and the error says why; a refusal (a revoked
token) is Stalled and retried every few minutes, never in a tight loop.
"""

from __future__ import annotations

from pydantic import SecretStr

from ..model import names
from .accounts import Accounts
from .backend import Backend
from .claims import Claims, other_owner
from .objects import EventSink, TrunkObject, secret_names
from .observations import DeletionReport
from .outcomes import CLASSIFIED, RetryLater, Stalled, classify
from .secrets import SecretFollower
from .status_owner import StatusOwner
from .trunk import TrunkKube

BLOCKED_DELETE_RETRY = 120.0
"""Seconds between attempts of a deletion Bolna refused (a revoked token, say): the
finalizer must not go while the trunk exists, and a tight loop would help no one."""


class TrunkDeleter:
    """Runs ``finalize`` for the operator's finalizer; one instance per kind."""

    def __init__(self, kube: TrunkKube, accounts: Accounts, owner: StatusOwner,
                 events: EventSink, *, secrets: SecretFollower | None = None,
                 claims: Claims | None = None, backend: Backend | None = None) -> None:
        if backend is None:
            from .sip_trunks_backend import SipTrunksBackend
            backend = SipTrunksBackend()
        self.backend = backend
        self.kube = kube
        self.accounts = accounts
        self.owner = owner
        self.events = events
        self.secrets = secrets
        self.claims = claims

    async def finalize(self, obj: TrunkObject) -> None:
        """Delete in Bolna per deletionPolicy. Raises RetryLater until that is done."""
        self.owner.see(obj.identity)
        facts = self.owner.facts(obj.uid)
        trunk_id = facts.trunk_id
        claimed = obj.annotations.get(names.TRUNK_ID_ANNOTATION)
        if trunk_id is None and claimed and not facts.create_started_at:
            await self._done(obj, "Orphaned", f"left Bolna trunk {claimed} in "
                             f"place: this {obj.kind.kind} never adopted it")
            return
        if obj.spec.get("deletionPolicy", "Delete") == "Orphan":
            await self._done(obj, "Orphaned", f"left Bolna trunk {trunk_id} in "
                             "place (deletionPolicy: Orphan)")
            return
        owner = other_owner(self.claims, trunk_id, obj.uid) if trunk_id else None
        if owner is not None:
            await self._done(obj, "Orphaned", f"left Bolna trunk {trunk_id} in place: it "
                             f"is managed by {obj.kind.kind} {owner.namespace}/{owner.name}")
            return
        try:
            trunks = self.backend.external(self.accounts, await self._token(obj))
            if not trunk_id and facts.create_started_at:
                found = await trunks.find_by_name(str(obj.spec.get("name") or obj.name))
                trunk_id = found.id if found is not None else None
            if trunk_id:
                await trunks.delete(trunk_id)
        except CLASSIFIED as error:
            outcome = classify(error, doing=f"deleting Bolna trunk {trunk_id}",
                               token_retry=f"retried every {BLOCKED_DELETE_RETRY:g} s")
            message = f"not deleted in Bolna yet: {outcome.message}"
            self.events(obj.body, "Warning", outcome.reason, message)
            await self.owner.report(obj.uid, deletion=DeletionReport(
                "Blocked" if outcome.permanent else "Retrying", outcome.reason, message))
            raise RetryLater(outcome.reason, message, BLOCKED_DELETE_RETRY
                             if outcome.permanent else outcome.delay) from None
        if trunk_id:
            await self._done(obj, "Deleted", f"deleted Bolna trunk {trunk_id} and its "
                             "numbers")
        else:
            await self._done(obj, None, "")

    async def _token(self, obj: TrunkObject) -> SecretStr:
        """The account's token, read leniently from a spec that may not validate."""
        ref = obj.spec.get("apiTokenSecretRef")
        if (isinstance(ref, dict) and isinstance(ref.get("name"), str)
                and isinstance(ref.get("key"), str)):
            try:
                return (await self.kube.secret_key(obj.namespace, ref["name"],
                                                   ref["key"])).value
            except CLASSIFIED:
                remembered = self.accounts.last_used(obj.uid)
                if remembered is not None:
                    return remembered
                raise
        if ref is not None:
            raise Stalled("Rejected", "spec.apiTokenSecretRef is not a {name, key} "
                          "reference; fix it so the trunk can be deleted in Bolna")
        return self.accounts.default_for(obj.namespace, deleting=True)

    async def _done(self, obj: TrunkObject, reason: str | None, message: str) -> None:
        """Deletion is over: say so, forget the trunk, release Secrets no one uses."""
        if reason is not None:
            self.events(obj.body, "Normal", reason, message)
        self.accounts.forget(obj.uid)
        self.owner.forget(obj.uid)
        if self.secrets is None:
            return
        for secret in secret_names(obj.spec):
            await self.secrets.release_if_unused(obj.namespace, secret, leaving=obj.ref)
