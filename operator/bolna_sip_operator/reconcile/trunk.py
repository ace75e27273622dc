"""The one reconcile of a SipTrunk: read desired and observed, run the plan, write status.

Create, update, resume, the drift timer and a Secret change all call ``reconcile``;
deletion calls ``finalize``. Both are safe to call any number of times and from any
state an earlier run (or a killed operator) left behind:

- A create is guarded. ``status.createStartedAt`` is written before the call; the trunk
  ID is written the moment Bolna answers. A run that finds the marker without an ID
  looks the trunk up by name first, so a lost answer never makes a second trunk.
- Bolna's answer to a spec it rejects (4xx) is permanent: ``Stalled``, an Event, and no
  retry until the spec or a referenced Secret changes. 429, 5xx and timeouts are
  temporary: ``Reconciling`` and a retry with backoff.
- Status is written only when it changed, so a quiet cluster sees no writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr, ValidationError

from ..bolna import (
    BolnaClient,
    Conflict,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
    Unauthorized,
    UncertainOutcome,
)
from ..bolna.wire import NumberCreate, TrunkCreate, TrunkUpdate
from ..kube import Kube, SecretUnavailable, SecretValue
from ..metrics import RECONCILES, forget_trunk, record_conditions
from ..model import names
from ..model.spec import SipTrunkSpec, spec_violations
from .conditions import (
    CONDITION_ORDER,
    Verdict,
    derive_ready,
    now_rfc3339,
    set_conditions,
)
from .desired import DesiredTrunk, desired_trunk
from .plan import immutable_mismatches, plan_trunk
from .snapshots import AccountSnapshots

log = logging.getLogger(__name__)

JUST_SYNCED_SECONDS = 30.0

EventSink = Callable[[dict[str, Any], str, str, str], None]
"""(body, type Normal|Warning, reason, message): posts a Kubernetes Event."""


class RetryLater(Exception):  # noqa: N818
    """Temporary trouble: the caller (Kopf) retries after ``delay`` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class Stalled(Exception):  # noqa: N818
    """Permanent trouble: nothing changes until the spec or a referenced Secret does."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class TrunkObject:
    """The parts of a SipTrunk object a reconcile reads."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    annotations: dict[str, str]
    status: dict[str, Any]
    deleting: bool = False

    @classmethod
    def from_body(cls, body: Any) -> TrunkObject:
        """From a Kopf body or an API dict."""
        metadata = body["metadata"]
        return cls(
            namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"],
            generation=int(metadata.get("generation") or 0),
            spec=dict(body.get("spec") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            status=dict(body.get("status") or {}),
            deleting=bool(metadata.get("deletionTimestamp")))

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object for an Event's involvedObject."""
        return {"apiVersion": names.API_VERSION, "kind": names.KIND,
                "metadata": {"namespace": self.namespace, "name": self.name,
                             "uid": self.uid}}


@dataclass
class Accounts:
    """Bolna clients by account: the default token's and each apiTokenSecretRef's."""

    factory: Callable[[SecretStr], BolnaClient]
    default_token: SecretStr | None
    _clients: dict[str, BolnaClient] = field(default_factory=dict)

    def client(self, token: SecretStr) -> BolnaClient:
        """One client (and so one rate limiter and connection pool) per token."""
        key = _account_label(token)
        if key not in self._clients:
            self._clients[key] = self.factory(token)
        return self._clients[key]

    async def close(self) -> None:
        """Close every client."""
        for bolna in self._clients.values():
            await bolna.aclose()
        self._clients.clear()


@dataclass
class Resolved:
    """A trunk's spec with its Secrets and Bolna client, ready to plan against."""

    spec: SipTrunkSpec
    desired: DesiredTrunk
    bolna: BolnaClient
    account: str
    password: SecretValue | None


class TrunkReconciler:
    """Keeps Bolna equal to SipTrunks; one instance per operator."""

    def __init__(self, kube: Kube, accounts: Accounts, events: EventSink,
                 snapshots: AccountSnapshots | None = None, *,
                 kamailio_configured: bool = False) -> None:
        self.kube = kube
        self.accounts = accounts
        self.events = events
        self.snapshots = snapshots or AccountSnapshots()
        self.kamailio_configured = kamailio_configured
        """With a SIP edge, Ready also needs Kamailio loaded and a gateway answering."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._written: dict[str, tuple[dict[str, Any], str | None]] = {}
        self._synced_at: dict[str, tuple[tuple[Any, ...], float]] = {}

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    def _catch_up(self, obj: TrunkObject) -> None:
        """Replace a stale body's status with what this operator last wrote.

        Two causes can queue a reconcile of one trunk at once (its own event and a
        Secret's); the second one waits for the lock holding a body read before the
        first one created the trunk. Without this it would not see the new trunk ID and
        would create again. This operator is the only writer of status, so what it wrote
        last is the newest status there is.
        """
        written = self._written.get(obj.uid)
        if written is not None:
            obj.status = dict(written[0])
            if written[1]:
                obj.annotations.setdefault(names.TRUNK_ID_ANNOTATION, written[1])

    def _remember(self, obj: TrunkObject) -> None:
        """Keep the status just written, and export its conditions as metrics.

        Every reconcile and every write of the SIP edge ends here, with the newest
        status this process knows of (written now or found unchanged), so the
        ``bolna_sip_trunk_condition`` series follow status without an API read, and
        exist for every trunk after a restart's first reconcile.
        """
        self._written[obj.uid] = (dict(obj.status),
                                  obj.annotations.get(names.TRUNK_ID_ANNOTATION))
        record_conditions(obj.namespace, obj.name, obj.status.get("conditions"),
                          CONDITION_ORDER)

    # ---- reconcile ---------------------------------------------------------------

    async def reconcile(self, obj: TrunkObject, *, drift_check: bool = False,
                        max_age: float = 0.0) -> None:
        """Make Bolna equal to the spec. Raises RetryLater on temporary trouble.

        With ``drift_check``, observation may come from a per-account list at most
        ``max_age`` seconds old (one list call per account per drift interval) and a
        Stalled trunk whose spec and Secrets have not changed is left alone.
        """
        async with self._lock(obj.uid):
            self._catch_up(obj)
            try:
                await self._reconcile_locked(obj, drift_check=drift_check, max_age=max_age)
            finally:
                self._remember(obj)

    async def _reconcile_locked(self, obj: TrunkObject, *, drift_check: bool,
                                max_age: float) -> None:
        if drift_check and self._stalled_on_this_generation(obj):
            return
        status = _Status(obj, derive_ready=self.kamailio_configured)
        try:
            # A drift check may reuse Secrets read within two intervals: their changes
            # arrive as events, which drop the copy, so the age only bounds a miss.
            resolved = await self._resolve(obj, secret_age=2 * max_age if drift_check else 0.0)
            await self._sync(obj, resolved, status, drift_check=drift_check,
                             max_age=max_age)
        except Stalled as stalled:
            RECONCILES.labels("stalled", stalled.reason).inc()
            self._stalled(obj, status, stalled)
        except RetryLater as retry:
            RECONCILES.labels("retry", "ReconcileError").inc()
            self._retrying(obj, status, str(retry), "ReconcileError")
            await status.flush(self.kube)
            raise
        except RateLimited as error:
            RECONCILES.labels("retry", "RateLimited").inc()
            message = f"Bolna is rate limiting this account: {error}"
            self._retrying(obj, status, message, "RateLimited")
            await status.flush(self.kube)
            raise RetryLater(message, _delay(error.retry_after)) from None
        except TemporaryError as error:
            RECONCILES.labels("retry", "ReconcileError").inc()
            message = f"Bolna could not be reached or failed: {error}"
            self._retrying(obj, status, message, "ReconcileError")
            await status.flush(self.kube)
            raise RetryLater(message, _delay(None)) from None
        else:
            RECONCILES.labels("success", "").inc()
        await status.flush(self.kube)

    def _stalled_on_this_generation(self, obj: TrunkObject) -> bool:
        for condition in obj.status.get("conditions") or ():
            if condition.get("type") == "Stalled" and condition.get("status") == "True":
                return bool(condition.get("observedGeneration") == obj.generation)
        return False

    async def _resolve(self, obj: TrunkObject, *, secret_age: float = 0.0) -> Resolved:
        try:
            spec = SipTrunkSpec.model_validate(obj.spec)
        except ValidationError as error:
            raise Stalled("Rejected", f"spec is invalid: {error.error_count()} error(s), "
                          "first at " + ".".join(map(str, error.errors()[0]["loc"]))) from None
        violations = spec_violations(spec)
        if violations:
            raise Stalled("Rejected", "; ".join(str(v) for v in violations))
        try:
            token = await self._token(obj, spec, secret_age)
            password = None
            if spec.authType == "userpass" and spec.authPasswordSecretRef is not None:
                ref = spec.authPasswordSecretRef
                password = await self.kube.secret_key(obj.namespace, ref.name, ref.key,
                                                      max_age=secret_age)
        except SecretUnavailable as missing:
            raise Stalled("SecretNotFound", f"{missing}: create it, or fix the reference; "
                          "the trunk is reconciled as soon as the Secret changes") from None
        account = _account_label(token)
        return Resolved(spec, desired_trunk(spec, obj.name), self.accounts.client(token),
                        account, password)

    async def _token(self, obj: TrunkObject, spec: SipTrunkSpec, secret_age: float
                     ) -> SecretStr:
        if spec.apiTokenSecretRef is not None:
            ref = spec.apiTokenSecretRef
            return (await self.kube.secret_key(obj.namespace, ref.name, ref.key,
                                               max_age=secret_age)).value
        if self.accounts.default_token is None:
            raise Stalled("NoToken", "no Bolna API token: set spec.apiTokenSecretRef, or give "
                          "the operator a default token")
        return self.accounts.default_token

    async def _sync(self, obj: TrunkObject, r: Resolved, status: _Status, *,
                    drift_check: bool, max_age: float) -> None:
        if not drift_check and self._just_synced(obj.uid, _fingerprint(obj, r)):
            return
        if not status.has_conditions:
            status.conditions([
                Verdict("Ready", "Unknown", "Creating" if not status.trunk_id else "Updating",
                        "Reconciling with Bolna"),
                Verdict("Synced", "Unknown", "Reconciling", "Reconciling with Bolna"),
                Verdict("Reconciling", "True", "Reconciling", "Reconciling with Bolna"),
                Verdict("Stalled", "False", "Reconciling", "Not stalled"),
            ])
        trunk_id = obj.annotations.get(names.TRUNK_ID_ANNOTATION) or status.trunk_id
        observed: dict[str, Any] | None = None
        if trunk_id:
            observed = await self._observe(r, trunk_id, drift_check=drift_check,
                                           max_age=max_age)
            if observed is None and not status.trunk_id:
                raise Stalled("AdoptionFailed", f"Bolna has no trunk {trunk_id} to adopt "
                              f"(annotation {names.TRUNK_ID_ANNOTATION}): fix the ID, or "
                              "remove the annotation to create a new trunk")
            if observed is None:
                self.events(obj.body, "Warning", "DriftCorrected",
                            f"Bolna no longer has trunk {trunk_id}; creating it again")
                status.set(trunkId=None)
                trunk_id = None
        elif status.create_started:
            observed = await self._find_by_name(r)
            if observed is not None:
                trunk_id = str(observed["id"])
                self.events(obj.body, "Normal", "Recovered",
                            f"found trunk {trunk_id} from an earlier create whose answer "
                            "was lost; not creating another")
                await self._record_id(obj, status, trunk_id)
        if observed is None:
            observed = await self._create(obj, r, status)
            trunk_id = str(observed["id"])
            observed = await self._update(obj, r, status, trunk_id, observed,
                                          drift_check=False)
        else:
            mismatched = immutable_mismatches(r.desired, observed)
            if mismatched:
                raise Stalled("Conflict", f"Bolna trunk {trunk_id} has a different "
                              f"{' and '.join(mismatched)} than spec; Bolna cannot change "
                              "them: fix the spec or adopt another trunk")
            if obj.annotations.get(names.TRUNK_ID_ANNOTATION) != trunk_id:
                await self._record_id(obj, status, str(trunk_id))
            observed = await self._update(obj, r, status, str(trunk_id), observed,
                                          drift_check=drift_check)
        self._synced(obj, status, observed)
        self._synced_at[obj.uid] = (_fingerprint(obj, r), time.monotonic())

    def _just_synced(self, uid: str, fingerprint: tuple[Any, ...]) -> bool:
        """Whether this process made this trunk, as it is now, match Bolna moments ago.

        Kopf sometimes runs a create or update handler a second time when an event that
        predates its own bookkeeping patch arrives after the handler finished (seen for
        one trunk in five while creating a thousand). Asking Bolna again would spend the
        account's rate budget on nothing. Anything that could make Bolna differ (a new
        generation, a rotated Secret, another token, a new adoption annotation) changes
        the fingerprint; drift checks never take this shortcut.
        """
        seen = self._synced_at.get(uid)
        return (seen is not None and seen[0] == fingerprint
                and time.monotonic() - seen[1] < JUST_SYNCED_SECONDS)

    async def _observe(self, r: Resolved, trunk_id: str, *, drift_check: bool,
                       max_age: float) -> dict[str, Any] | None:
        if drift_check:
            listed = await self.snapshots.trunk(r.account, r.bolna, trunk_id, max_age)
            if listed is not None:
                return listed
            # Absent from the list is not proof of deletion: a trunk created while the
            # list was being served is missing from it. Ask for it by ID before
            # concluding it was deleted (and creating it again).
        try:
            trunk = await r.bolna.get_trunk(trunk_id)
        except NotFound:
            return None
        observed = trunk.model_dump(mode="json")
        self.snapshots.remember(r.account, observed)
        return observed

    async def _find_by_name(self, r: Resolved) -> dict[str, Any] | None:
        trunk = await r.bolna.find_trunk(r.desired.name)
        return None if trunk is None else trunk.model_dump(mode="json")

    async def _create(self, obj: TrunkObject, r: Resolved, status: _Status) -> dict[str, Any]:
        status.set(createStartedAt=now_rfc3339())
        await status.flush(self.kube)
        body = r.desired.create_body()
        if r.password is not None:
            body["auth_password"] = r.password.value
        try:
            trunk = await r.bolna.create_trunk(TrunkCreate.model_validate(body))
        except Conflict as error:
            raise Stalled("Conflict", f"Bolna already has a trunk named {r.desired.name!r} "
                          f"({error.message}): choose another spec.name, or adopt that trunk "
                          f"with the annotation {names.TRUNK_ID_ANNOTATION}") from None
        except UncertainOutcome as error:
            raise RetryLater(f"the answer to the create was lost ({error}); the trunk is "
                             "looked up by name before any new create", 1.0) from None
        except PermanentError as error:
            raise Stalled(_permanent_reason(error), f"Bolna rejected the trunk: "
                          f"{error.message}") from None
        observed = trunk.model_dump(mode="json")
        self.snapshots.remember(r.account, observed)
        # The ID is flushed with the final status, or before the next Bolna call,
        # whichever comes first: one status write fewer per create.
        await self._record_id(obj, status, str(observed["id"]), flush=False)
        if r.password is not None:
            status.set(passwordSecretVersion=r.password.version)
        self.events(obj.body, "Normal", "Created",
                    f"created Bolna trunk {observed['id']} with "
                    f"{len(r.desired.numbers)} number(s)")
        return observed

    async def _record_id(self, obj: TrunkObject, status: _Status, trunk_id: str, *,
                         flush: bool = True) -> None:
        status.set(trunkId=trunk_id, createStartedAt=None)
        if flush:
            await status.flush(self.kube)
        if obj.annotations.get(names.TRUNK_ID_ANNOTATION) != trunk_id:
            await self.kube.patch_annotations(obj.namespace, obj.name,
                                              {names.TRUNK_ID_ANNOTATION: trunk_id})
            obj.annotations[names.TRUNK_ID_ANNOTATION] = trunk_id

    async def _update(self, obj: TrunkObject, r: Resolved, status: _Status, trunk_id: str,
                      observed: dict[str, Any], *, drift_check: bool) -> dict[str, Any]:
        password_changed = (r.password is not None
                            and status.get("passwordSecretVersion") != r.password.version)
        if (password_changed and r.password is not None
                and status.get("passwordSecretVersion") is None
                and obj.annotations.get(names.PASSWORD_MATCHES_ANNOTATION) == "true"):
            # Adopted with the password Bolna holds (bolna-sip-operator import): trusted
            # once, so adoption writes nothing; a later rotation of the Secret is sent.
            status.set(passwordSecretVersion=r.password.version)
            password_changed = False
        plan = plan_trunk(r.desired, observed, password_changed=password_changed)
        if plan.empty:
            return observed
        await status.flush(self.kube)  # a trunk ID not yet written goes first
        try:
            if plan.patch or plan.send_password:
                body = dict(plan.patch)
                if plan.send_password and r.password is not None:
                    body["auth_password"] = r.password.value
                trunk = await r.bolna.update_trunk(trunk_id, TrunkUpdate.model_validate(body))
                observed = trunk.model_dump(mode="json")
            for number in plan.remove_numbers:
                with contextlib.suppress(NotFound):  # already gone is what we wanted
                    await r.bolna.delete_number(trunk_id, number.id)
            for wanted in plan.add_numbers:
                await r.bolna.add_number(trunk_id, NumberCreate(
                    phone_number=wanted.phone_number, name=wanted.name))
            if plan.add_numbers or plan.remove_numbers:
                observed = (await r.bolna.get_trunk(trunk_id)).model_dump(mode="json")
        except NotFound:
            raise RetryLater(f"trunk {trunk_id} vanished from Bolna during the update", 1.0
                             ) from None
        except PermanentError as error:
            raise Stalled(_permanent_reason(error), f"Bolna rejected the change: "
                          f"{error.message}") from None
        self.snapshots.remember(r.account, observed)
        if r.password is not None:
            status.set(passwordSecretVersion=r.password.version)
        if drift_check:
            self.events(obj.body, "Warning", "DriftCorrected", f"Bolna trunk {trunk_id} had "
                        f"been changed outside the operator; restored {plan.summary()}")
        else:
            self.events(obj.body, "Normal", "Updated",
                        f"updated Bolna trunk {trunk_id}: {plan.summary()}")
        return observed

    # ---- status ------------------------------------------------------------------

    def _synced(self, obj: TrunkObject, status: _Status, observed: dict[str, Any]) -> None:
        numbers = [{"phoneNumber": str(n["phone_number"]), "id": str(n["id"])}
                   for n in observed.get("phone_numbers") or () if not n.get("deleted")]
        status.set(trunkId=str(observed["id"]), phoneNumbers=numbers,
                   phoneNumberCount=len(numbers), observedGeneration=obj.generation,
                   createStartedAt=None)
        message = (f"Bolna trunk {observed['id']} and its {len(numbers)} number(s) match "
                   "spec")
        verdicts = [
            Verdict("Synced", "True", "ReconcileSuccess", message),
            Verdict("Reconciling", "False", "ReconcileSuccess", "Up to date"),
            Verdict("Stalled", "False", "ReconcileSuccess", "Not stalled"),
        ]
        if not self.kamailio_configured:
            verdicts.append(Verdict("Ready", "True", "Available", message))
        status.conditions(verdicts)

    def _stalled(self, obj: TrunkObject, status: _Status, stalled: Stalled) -> None:
        self.events(obj.body, "Warning", stalled.reason, stalled.message)
        status.set(observedGeneration=obj.generation)
        status.conditions([
            Verdict("Ready", "False", "Error", stalled.message),
            Verdict("Synced", "False", stalled.reason, stalled.message),
            Verdict("Reconciling", "False", stalled.reason, "Waiting for a change to the spec "
                    "or a referenced Secret"),
            Verdict("Stalled", "True", stalled.reason, stalled.message),
        ])

    def _retrying(self, obj: TrunkObject, status: _Status, message: str, reason: str) -> None:
        self.events(obj.body, "Warning", reason, message)
        ready_reason = "Creating" if not status.trunk_id else "Error"
        status.conditions([
            Verdict("Ready", "False", ready_reason, message),
            Verdict("Synced", "False", reason, message),
            Verdict("Reconciling", "True", reason, "Retrying with backoff"),
            Verdict("Stalled", "False", reason, "Not stalled: retrying"),
        ])

    # ---- status written by the SIP edge loops --------------------------------------

    async def update_status(self, obj: TrunkObject, changes: dict[str, Any],
                            verdicts: list[Verdict]) -> bool:
        """Merge the edge's findings into a trunk's status, under the trunk's lock.

        The Bolna reconcile and the Kamailio loops both write one status; going through
        one lock and one record of the latest status keeps their writes from replacing
        each other's conditions. Returns whether anything was written.
        """
        async with self._lock(obj.uid):
            self._catch_up(obj)
            status = _Status(obj, derive_ready=self.kamailio_configured)
            status.set(**changes)
            if verdicts:
                status.conditions(verdicts)
            wrote = status.pending
            await status.flush(self.kube)
            self._remember(obj)
            return wrote

    def latest_status(self, obj: TrunkObject) -> dict[str, Any]:
        """The newest status of the trunk this process knows of."""
        written = self._written.get(obj.uid)
        return dict(written[0]) if written is not None else dict(obj.status)

    # ---- deletion ----------------------------------------------------------------

    async def finalize(self, obj: TrunkObject) -> None:
        """Delete from Bolna per deletionPolicy. Raises RetryLater while Bolna is down."""
        async with self._lock(obj.uid):
            self._catch_up(obj)
            await self._finalize_locked(obj)
        self._written.pop(obj.uid, None)
        self._synced_at.pop(obj.uid, None)
        self._locks.pop(obj.uid, None)
        forget_trunk(obj.namespace, obj.name, CONDITION_ORDER)

    async def _finalize_locked(self, obj: TrunkObject) -> None:
        policy = obj.spec.get("deletionPolicy", "Delete")
        trunk_id = obj.annotations.get(names.TRUNK_ID_ANNOTATION) or obj.status.get(
            "trunkId")
        if policy == "Orphan":
            self.events(obj.body, "Normal", "Orphaned", f"left Bolna trunk {trunk_id} "
                        "in place (deletionPolicy: Orphan)")
            return
        status = _Status(obj, derive_ready=self.kamailio_configured)
        try:
            r = await self._resolve(obj)
            if not trunk_id and status.create_started:
                found = await self._find_by_name(r)
                trunk_id = str(found["id"]) if found else None
            if trunk_id:
                await self._delete_in_bolna(r, trunk_id)
                self.snapshots.forget(r.account, trunk_id)
                self.events(obj.body, "Normal", "Deleted", f"deleted Bolna trunk "
                            f"{trunk_id} and its numbers")
        except Stalled as stalled:
            if stalled.reason != "Rejected" or not trunk_id:
                # Without a token or a trunk there is nothing the operator can delete.
                self.events(obj.body, "Warning", stalled.reason, "not deleting in Bolna: "
                            f"{stalled.message}")
                if stalled.reason in ("SecretNotFound", "NoToken") and trunk_id:
                    status.conditions([Verdict("Ready", "False", "Deleting",
                                               stalled.message)])
                    await status.flush(self.kube)
                    raise RetryLater(stalled.message, 30.0) from None
        except (TemporaryError, RetryLater) as error:
            message = f"waiting to delete trunk {trunk_id} in Bolna: {error}"
            status.conditions([
                Verdict("Ready", "False", "Deleting", message),
                Verdict("Synced", "False", "ReconcileError", message)])
            await status.flush(self.kube)
            delay = error.delay if isinstance(error, RetryLater) else _delay(
                error.retry_after if isinstance(error, RateLimited) else None)
            raise RetryLater(message, delay) from None

    async def _delete_in_bolna(self, r: Resolved, trunk_id: str) -> None:
        try:
            await r.bolna.delete_trunk(trunk_id)
        except NotFound:
            return


class _Status:
    """The status as read, the changes made, and one write if anything changed."""

    def __init__(self, obj: TrunkObject, *, derive_ready: bool = False) -> None:
        self._obj = obj
        self._derive_ready = derive_ready
        self._current = dict(obj.status)
        self._changes: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self._changes.get(key, self._current.get(key))

    @property
    def trunk_id(self) -> str | None:
        value = self.get("trunkId")
        return str(value) if value else None

    @property
    def create_started(self) -> bool:
        return bool(self.get("createStartedAt"))

    @property
    def has_conditions(self) -> bool:
        return bool(self.get("conditions"))

    def set(self, **fields: Any) -> None:
        for key, value in fields.items():
            if self._current.get(key) != value:
                self._changes[key] = value
            else:
                self._changes.pop(key, None)

    def conditions(self, verdicts: list[Verdict]) -> None:
        current = self.get("conditions") or []
        updated = set_conditions(current, verdicts, self._obj.generation)
        ready = derive_ready(updated) if self._derive_ready else None
        if ready is not None:
            updated = set_conditions(updated, [ready], self._obj.generation)
        if _without_times(updated) != _without_times(self._current.get("conditions") or []):
            self._changes["conditions"] = updated
        else:
            self._changes.pop("conditions", None)

    @property
    def pending(self) -> bool:
        return bool(self._changes)

    async def flush(self, kube: Kube) -> None:
        if not self._changes:
            return
        await kube.patch_status(self._obj.namespace, self._obj.name, self._changes)
        self._current.update(self._changes)
        self._current = {k: v for k, v in self._current.items() if v is not None}
        self._obj.status = dict(self._current)
        self._changes = {}


def _fingerprint(obj: TrunkObject, r: Resolved) -> tuple[Any, ...]:
    """What would make Bolna differ from the last sync: spec, Secrets, account, ID."""
    return (obj.generation, r.account, r.password.version if r.password else None,
            obj.annotations.get(names.TRUNK_ID_ANNOTATION))


def _without_times(conditions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c.get("type"), c.get("status"), c.get("reason"), c.get("message"),
             c.get("observedGeneration")) for c in conditions]


def _account_label(token: SecretStr) -> str:
    import hashlib

    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:12]


def _permanent_reason(error: PermanentError) -> str:
    if isinstance(error, Unauthorized):
        return "Unauthorized"
    if isinstance(error, Conflict):
        return "Conflict"
    return "Rejected"


def _delay(retry_after: float | None) -> float:
    """Kopf's retry delay: Bolna's Retry-After when given, else a jittered few seconds."""
    if retry_after is not None:
        return max(1.0, retry_after)
    return 2.0 + random.uniform(0, 3.0)

