"""The Bolna half of a trunk object: make Bolna's trunk equal to the spec.

One ``TrunkReconciler`` per kind, over that kind's ``backend.Backend`` (SipTrunk over
Bolna's legacy ``/sip-trunks`` API, CarrierTrunk over its ``/trunk`` API): the decisions
below are the same for both. ``reconcile`` reads the spec and its Secrets, observes
Bolna's trunk, creates or updates it, and reports one ``BolnaReport`` to the status
owner; deleting (or orphaning) is ``deletion.TrunkDeleter``. Both are safe to run any
number of times, from any state an earlier run or a killed operator left behind:

- A create is guarded. ``status.createStartedAt`` is written before the call, the trunk
  ID the moment Bolna answers. A run that finds the marker without an ID looks the
  trunk up by name first, so a lost answer never makes a second trunk.
- Failures go through one classifier (``outcomes.classify``): permanent ones stall the
  trunk until the spec or a referenced Secret changes (a refused token is also retried
  slowly, and woken when the token works again: ``refusals``), temporary ones are
  retried with backoff and shown as ``Reconciling`` with Bolna's error meanwhile.
- A difference found while the trunk was already in sync for this generation is drift
  (``DriftCorrected``); anything else is the user's change (``Updated``).
- A trunk's own answer says what Bolna holds: a create whose 201 carried the trunk, or
  a PATCH whose answer matched the request, is ``Synced`` at once. The account's list
  only confirms that later, for drift, and never holds Ready back: a drift check (or a
  restart's look) of a trunk in sync for its generation that cannot ask Bolna (the list
  failed, a 429, a timeout) leaves its status as it is, deferred to a later round;
  only a trunk that Bolna must still be changed for reports ``Retrying``. A Warning
  goes out for the first failure of each reason until the trunk is in sync again, not
  for every retry: a count per retry would be a storm of Events while Bolna is flaky.
- A drift check of a trunk whose Bolna record (and what status shows of its account) is
  exactly as the last full run found or left it stops there (``_Quiet``): nothing in
  Kubernetes changed either, or an event would have run a full reconcile since. That
  leaves a list of the account and a comparison per trunk of the record's JSON as
  listed, unparsed: the least a drift check can cost. After this operator's own write
  the first list is parsed once and compared with what the write left. A full check
  still runs now and then (``full_check_after``), as a net for a missed Secret event.
  The drift loop makes that comparison itself, without waiting (``quiet_now``): when
  the account's list is stale the trunk goes through its queue, whose run waits for the
  one list, and when that list is failing the check is left for a later round.
- A look for a trunk whose create lost its answer shares the account's list with every
  other such look (``find_by_name`` after the moment the answer was lost, or after the
  trunk's previous look).

Runs of one trunk never overlap: the handlers go through ``TrunkQueue``.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import SecretStr

from ..bolna import Conflict, PermanentError, TemporaryError
from ..bolna.errors import is_not_applied
from ..kube import SecretValue
from ..metrics import RECONCILES
from ..model import names
from ..model.spec import SecretKeyRef
from .accounts import Accounts
from .backend import Backend, External
from .claims import Claims, other_owner
from .conditions import now_rfc3339
from .objects import EventSink, TrunkObject
from .observations import BolnaReport
from .outcomes import CLASSIFIED, RetryLater, Stalled, classify
from .secrets import SecretFollower
from .snapshots import Unlisted
from .status_owner import StatusOwner

log = logging.getLogger(__name__)

JUST_SYNCED_SECONDS = 30.0
CREATE_PATIENCE = 30.0
"""Seconds after a create whose answer was lost during which the trunk is looked for by
name (Bolna's list may lag behind its own create) before another create is sent; less
once the account's lists were seen to keep up with creates (``create_patience``), and
never less than ``CREATE_LOOK_AGAIN``. "Name taken" is looked for as ours for twice
this whatever the patience."""
CREATE_LOOK_AGAIN = 5.0
FULL_CHECK_ROUNDS = 10
FULL_CHECK_SECONDS = 1800.0
"""A trunk confirmed by its Bolna record alone gets a full check (spec, Secrets, status)
again after at least this many drift intervals and seconds, whichever is longer: a net
for a Secret event the watch missed. At 10,000 trunks a full check costs about 0.8 ms,
so a net of ten 60-second intervals alone would cost 1.3% of a core."""


def full_check_after(uid: str, interval: float) -> float:
    """Seconds after a full run until the next full check: the net's period, stretched
    by up to half for each trunk by its UID, so trunks made or resumed together do not
    all come due in one round."""
    period = max(FULL_CHECK_ROUNDS * interval, FULL_CHECK_SECONDS)
    spread = int.from_bytes(hashlib.blake2b(uid.encode(), digest_size=2).digest(), "big")
    return period * (1.0 + spread / 65536 / 2)


class TrunkKube(Protocol):
    """What the Bolna half needs from Kubernetes (``Kube``, or a test's fake)."""

    async def secret_key(self, namespace: str, name: str, key: str, *,
                         max_age: float = 0.0) -> SecretValue: ...

    async def patch_annotations(self, namespace: str, name: str,
                                annotations: dict[str, str | None], *, plural: str
                                ) -> None: ...


@dataclass(frozen=True)
class _Quiet:
    """What a full drift check found equal to the spec, to compare the next ones with."""

    generation: int
    trunk_id: str
    trunks: External
    digest: bytes
    """Of the trunk's JSON as listed when that check looked (``_digest``); or, with
    ``listed`` False, of the trunk as that check left it (the answer to its own writes),
    which the first list to show the trunk is compared with once, parsed."""
    listed: bool
    until: float
    """Clock time after which a full check runs anyway."""


def _digest(record: bytes) -> bytes:
    """A listed record's fingerprint: 16 bytes held per trunk instead of its JSON."""
    return hashlib.blake2b(record, digest_size=16).digest()


class Quiet(enum.Enum):
    """What a quiet drift check found (``TrunkReconciler.quiet_now``)."""

    CONFIRMED = "confirmed"
    """Bolna's record is as the last full check left it: nothing to do."""
    CHANGED = "changed"
    """The record differs, or cannot stand for the trunk, or a full check is due."""
    STALE = "stale"
    """The account's list (or what else status shows of it) is older than asked: the
    check must wait for it, in the trunk's queue, never in the drift loop."""
    FAILING = "failing"
    """The account's list failed moments ago: Bolna cannot be asked now. The trunk, in
    sync, keeps its status; a later round checks it."""


@dataclass
class Resolved:
    """A trunk's spec with its Secrets and its account, ready to plan against."""

    spec: Any
    desired: Any
    trunks: External
    password: SecretValue | None
    wrote: bool = False
    """Whether this run has sent a write to Bolna: after one, a failure is not only a
    check that could not be made."""


class TrunkReconciler:
    """Keeps Bolna equal to the objects of one kind; one instance per kind."""

    def __init__(self, kube: TrunkKube, accounts: Accounts, owner: StatusOwner,
                 events: EventSink, clock: Callable[[], float] = time.monotonic, *,
                 secrets: SecretFollower | None = None, claims: Claims | None = None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 backend: Backend | None = None) -> None:
        if backend is None:
            from .sip_trunks_backend import SipTrunksBackend
            backend = SipTrunksBackend()
        self.backend = backend
        self.refresh_age = 300.0
        """Seconds an account-wide fact (Bolna's connection details) is used before it
        is read again; the operator sets its drift interval."""
        self.kube = kube
        self.secrets = secrets
        """Labels the Secrets trunks use (and holds token Secrets); None: no marking."""
        self.claims = claims
        """Who else names a Bolna trunk ID; None: no check (a single-tenant test)."""
        self._wall_clock = wall_clock
        self.accounts = accounts
        self.owner = owner
        self.events = events
        self._clock = clock
        self._synced_at: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._not_taken: dict[str, tuple[int, frozenset[str]]] = {}
        """Fields Bolna did not apply, per trunk, for the generation they were sent for."""
        self._quiet: dict[str, _Quiet] = {}
        self._started = clock()
        self._lost_at: dict[str, float] = {}
        """When a create of the trunk lost its answer (this process's clock): a list
        asked after it shows the trunk if Bolna made it."""
        self._looked_at: dict[str, float] = {}
        """When the trunk was last looked for by name: the next look needs a newer list."""
        self._warned: dict[str, tuple[int, set[str]]] = {}
        """Reasons of temporary failures already posted as a Warning, per trunk, for
        the generation they were met in (``_first_warning``)."""

    # ---- reconcile ---------------------------------------------------------------

    async def reconcile(self, obj: TrunkObject, *, drift_check: bool = False,
                        max_age: float = 0.0, list_age: float | None = None) -> None:
        """Make Bolna equal to the spec. Raises RetryLater on temporary trouble.

        With ``drift_check``, observation may come from a per-account list at most
        ``max_age`` seconds old, and a trunk stalled on this generation is left alone
        (only a change of its spec or Secrets retries it). ``list_age`` lets any run
        observe from such a list: an operator restart reads one list per account, not
        every trunk by ID.
        """
        if drift_check:
            list_age = max_age
        else:
            self._quiet.pop(obj.uid, None)  # a change (or a start): compare afresh
        self.owner.see(obj.identity)
        before = self.owner.reports(obj.uid).bolna
        if drift_check and before is not None and before.state == "Stalled" \
                and before.generation == obj.generation:
            return
        if drift_check:
            verdict = await self._unchanged(obj, before, max_age)
            if verdict is Quiet.CONFIRMED:
                RECONCILES.labels("success", "").inc()
                return
            if verdict is Quiet.FAILING:  # in sync, Bolna cannot be asked: later
                RECONCILES.labels("deferred", "ListFailing").inc()
                return
        in_sync = (before is not None and before.state == "Synced"
                   and before.generation == obj.generation)
        doing = "reconciling the trunk"
        resolved: Resolved | None = None
        try:
            # A drift check may reuse Secrets read within two intervals, and a restart's
            # resume within ``list_age`` (trunks sharing a Secret read it once): their
            # changes arrive as events, which drop the copy, so the age bounds a miss.
            resolved = await self._resolve(obj, secret_age=2 * max_age if drift_check
                                           else list_age or 0.0)
            if not drift_check and self._just_synced(obj, resolved):
                return
            trunk_id, digest, listed = await self._sync(obj, resolved, before,
                                                        list_age=list_age)
            # Bolna equals the spec now: the next drift checks compare with this.
            interval = max_age if drift_check else self.refresh_age
            self._quiet[obj.uid] = _Quiet(
                obj.generation, trunk_id, resolved.trunks, digest, listed,
                self._clock() + full_check_after(obj.uid, interval))
        except CLASSIFIED as error:
            if (in_sync and list_age is not None and isinstance(error, TemporaryError)
                    and resolved is not None and not resolved.wrote):
                # A look at a trunk in sync (a drift check, a restart's) that could not
                # ask Bolna: its status still says what Bolna last said. Looked at
                # again on a later round; the account's list failure is logged once.
                log.debug("drift check of %s/%s deferred: %s", obj.namespace, obj.name,
                          type(error).__name__)
                RECONCILES.labels("deferred", type(error).__name__).inc()
                return
            # What this process last synced no longer stands: a run with the same inputs
            # (a token rotated away and back) must look again.
            self._synced_at.pop(obj.uid, None)
            outcome = classify(error, doing=doing, token_retry=self.accounts.retries.note())
            RECONCILES.labels("stalled" if outcome.permanent else "retry",
                              outcome.reason).inc()
            if outcome.permanent or self._first_warning(obj, outcome.reason):
                self.events(obj.body, "Warning", outcome.reason, outcome.message)
            await self.owner.report(obj.uid, bolna=BolnaReport(
                obj.generation, "Stalled" if outcome.permanent else "Retrying",
                outcome.reason, outcome.message))
            if not outcome.permanent:
                raise RetryLater(outcome.reason, outcome.message, outcome.delay) from None
        else:
            RECONCILES.labels("success", "").inc()
            self._warned.pop(obj.uid, None)

    def _first_warning(self, obj: TrunkObject, reason: str) -> bool:
        """Whether a temporary failure for ``reason`` is the first of the trunk's
        generation since it was last in sync: only that one posts a Warning. The
        status's message says the latest; a count per retry while Bolna is flaky
        (a look every few seconds) would be a storm of Events saying nothing new."""
        warned = self._warned.get(obj.uid)
        if warned is None or warned[0] != obj.generation:
            warned = self._warned[obj.uid] = (obj.generation, set())
        if reason in warned[1]:
            return False
        warned[1].add(reason)
        return True

    def quiet_now(self, obj: TrunkObject, *, max_age: float) -> Quiet:
        """The quiet comparison (``_unchanged``) from what is held, never waiting for
        Bolna: what the drift loop runs for every trunk, every round.

        ``STALE``: the account's list is older than ``max_age``; the caller sends the
        trunk through its queue, whose run waits for the one list (a few hundred trunks
        per round of 10,000 do, those checked while the list is on its way).
        ``FAILING``: the list failed moments ago; the trunk, in sync, is left for a
        later round. Reads only, so it needs no queue: a run of the trunk in progress
        has dropped the quiet record (a full check replaces it), and that answers
        ``CHANGED``.
        """
        quiet = self._quiet_for(obj, self.owner.reports(obj.uid).bolna)
        if quiet is None:
            return Quiet.CHANGED
        record = quiet.trunks.record_now(quiet.trunk_id, max_age=max_age)
        if isinstance(record, Unlisted):
            return Quiet.FAILING if record is Unlisted.FAILING else Quiet.STALE
        if not self._same(obj.uid, quiet, record):
            return Quiet.CHANGED
        current = self.backend.account_facts_now(quiet.trunks, self.owner.facts(obj.uid),
                                                 max_age=self.refresh_age)
        if current is None:
            return Quiet.STALE
        if current:
            RECONCILES.labels("success", "").inc()
            return Quiet.CONFIRMED
        return Quiet.CHANGED

    async def confirm_quiet(self, obj: TrunkObject, *, max_age: float) -> bool:
        """``quiet_now``, waiting for the account's list if it is stale: True if the
        trunk is confirmed, else a full drift check must follow (or, with the list
        failing, the trunk waits for a later round)."""
        if await self._unchanged(obj, self.owner.reports(obj.uid).bolna, max_age) \
                is Quiet.CONFIRMED:
            RECONCILES.labels("success", "").inc()
            return True
        return False

    def _quiet_for(self, obj: TrunkObject, before: BolnaReport | None) -> _Quiet | None:
        """The quiet record a comparison may stand on: the trunk in sync for this
        generation and trunk ID, and no full check due. None otherwise."""
        quiet = self._quiet.get(obj.uid)
        if (quiet is None or before is None or before.state != "Synced"
                or before.generation != obj.generation or quiet.generation != obj.generation
                or obj.annotations.get(names.TRUNK_ID_ANNOTATION) != quiet.trunk_id
                or self._clock() >= quiet.until):
            return None
        return quiet

    def _same(self, uid: str, quiet: _Quiet, record: bytes | None) -> bool:
        """Whether the listed record is what the last full check found or left."""
        if record is None:
            return False
        digest = _digest(record)
        if digest == quiet.digest:
            return True
        if quiet.listed:
            return False
        try:
            if _digest(quiet.trunks.canonical(quiet.trunks.parse(record))) != quiet.digest:
                return False
        except CLASSIFIED:
            return False
        # The first list since this operator's own write shows the same trunk: from now
        # on its listed JSON is what the next checks compare.
        self._quiet[uid] = replace(quiet, digest=digest, listed=True)
        return True

    async def _unchanged(self, obj: TrunkObject, before: BolnaReport | None,
                         max_age: float) -> Quiet:
        """Whether Bolna's record of an in-sync trunk is as the last full check left it,
        waiting for the account's list if it is stale.

        ``CHANGED`` (a record that differs, a new generation or trunk ID, a full check
        due, a list Bolna refused) is decided by the full check that follows; ``FAILING``
        (the list could not be had, a passing fault) leaves the trunk in sync as it is.
        """
        quiet = self._quiet_for(obj, before)
        if quiet is None:
            return Quiet.CHANGED
        try:
            record = await quiet.trunks.record(quiet.trunk_id, max_age=max_age)
        except TemporaryError:
            return Quiet.FAILING
        except CLASSIFIED:
            return Quiet.CHANGED  # a refusal (a revoked token): the full run shows it
        if not self._same(obj.uid, quiet, record):
            return Quiet.CHANGED
        if await self.backend.account_facts_current(
                quiet.trunks, self.owner.facts(obj.uid), max_age=self.refresh_age):
            return Quiet.CONFIRMED
        return Quiet.CHANGED

    def _just_synced(self, obj: TrunkObject, r: Resolved) -> bool:
        """Whether this process made this trunk, as it is now, match Bolna moments ago.

        Kopf sometimes runs a create or update handler a second time when an event that
        predates its own bookkeeping patch arrives after the handler finished. Asking
        Bolna again would spend the account's rate budget on nothing. Anything that could
        make Bolna differ (a generation, a rotated Secret, another token, an adoption
        annotation) changes the fingerprint; drift checks never take this shortcut.
        """
        seen = self._synced_at.get(obj.uid)
        return (seen is not None and seen[0] == _fingerprint(obj, r)
                and self._clock() - seen[1] < JUST_SYNCED_SECONDS)

    async def _resolve(self, obj: TrunkObject, *, secret_age: float = 0.0) -> Resolved:
        backend = self.backend
        spec = backend.validate(obj)
        # Held before it is read: the finalizer changes the Secret's resourceVersion, and
        # the version read is what tells a rotated password from the one Bolna has (one
        # Secret may hold both the token and the password).
        token_ref = backend.token_ref(spec)
        if self.secrets is not None:
            self.secrets.trunk_seen(obj.namespace, obj.ref)
            if token_ref is not None:
                await self.secrets.hold(obj.namespace, token_ref.name)
        token = await self._token(obj, token_ref, secret_age)
        password = None
        ref = backend.password_ref(spec)
        if ref is not None:
            password = await self.kube.secret_key(obj.namespace, ref.name, ref.key,
                                                  max_age=secret_age)
        return Resolved(spec, backend.desired(spec, obj.name),
                        backend.external(self.accounts, token), password)

    async def _token(self, obj: TrunkObject, ref: SecretKeyRef | None, secret_age: float
                     ) -> SecretStr:
        if ref is not None:
            token = (await self.kube.secret_key(obj.namespace, ref.name, ref.key,
                                                max_age=secret_age)).value
        else:
            token = self.accounts.default_for(obj.namespace)
        self.accounts.used(obj.uid, token)
        return token

    async def _sync(self, obj: TrunkObject, r: Resolved, before: BolnaReport | None, *,
                    list_age: float | None) -> tuple[str, bytes, bool]:
        """Bolna made equal to the spec. Returns the trunk ID and what the next drift
        checks compare with (``_Quiet``): the digest of its JSON as listed when the
        trunk was found equal in the account's list (nothing created or written), else
        of the trunk as this run left it, with whether it is the listed one.

        The JSON is taken before the trunk is parsed from the same list: a list taken
        in between can only make the next quiet check look again, never hide a change.
        """
        facts = self.owner.facts(obj.uid)
        trunk_id = obj.annotations.get(names.TRUNK_ID_ANNOTATION) or facts.trunk_id
        observed: Any = None
        kind = obj.kind.kind
        owner = other_owner(self.claims, trunk_id, obj.uid) if trunk_id else None
        if owner is not None:
            raise Stalled("OwnedElsewhere", f"Bolna trunk {trunk_id} is managed by {kind} "
                          f"{owner.namespace}/{owner.name}; one Bolna trunk has one {kind}: "
                          f"remove the annotation {names.TRUNK_ID_ANNOTATION} here, or "
                          f"delete that {kind} with deletionPolicy: Orphan first")
        record = None
        if trunk_id:
            if list_age is not None:
                record = await r.trunks.record(trunk_id, max_age=list_age)
            observed = await r.trunks.observe(trunk_id, max_age=list_age)
            if observed is None and facts.trunk_id != trunk_id:
                raise Stalled("AdoptionFailed", f"Bolna has no trunk {trunk_id} to adopt "
                              f"(annotation {names.TRUNK_ID_ANNOTATION}): fix the ID, or "
                              "remove the annotation to create a new trunk")
            if observed is None:
                self.events(obj.body, "Warning", "DriftCorrected",
                            f"Bolna no longer has trunk {trunk_id}; creating it again")
                await self.owner.report(obj.uid, trunk_id=None, write=False)
        elif facts.create_started_at:
            observed = await r.trunks.find_by_name(r.desired.name,
                                                   asked_after=self._look_after(obj.uid))
            self._looked_at[obj.uid] = self._clock()
            if observed is not None:
                self.events(obj.body, "Normal", "Recovered",
                            f"found trunk {observed.id} from an earlier create whose "
                            "answer was lost; not creating another")
                await self._record_id(obj, observed.id)
            elif self._create_age(facts.create_started_at) < r.trunks.create_patience(
                    CREATE_PATIENCE, CREATE_LOOK_AGAIN):
                raise RetryLater("CreatePending", f"the answer to the create of "
                                 f"{r.desired.name!r} was lost and Bolna's list does not "
                                 "show the trunk yet; looking again before creating",
                                 CREATE_LOOK_AGAIN)
        if observed is None:
            observed = await self._create(obj, r)
            observed = await self._update(obj, r, observed, drift=False)
        else:
            mismatched = self.backend.mismatches(r.desired, observed)
            if mismatched:
                raise Stalled("Conflict", f"Bolna trunk {observed.id} has a different "
                              f"{' and '.join(mismatched)} than spec; Bolna cannot change "
                              "them: fix the spec or adopt another trunk")
            if obj.annotations.get(names.TRUNK_ID_ANNOTATION) != observed.id:
                await self._record_id(obj, observed.id)
            in_sync_before = (before is not None and before.state == "Synced"
                              and before.generation == obj.generation)
            found = observed
            observed = await self._update(obj, r, observed, drift=in_sync_before)
            if observed is not found:
                record = None
        await self._synced(obj, r, observed, max_age=self.refresh_age)
        self._synced_at[obj.uid] = (_fingerprint(obj, r), self._clock())
        if record is not None:
            return observed.id, _digest(record), True
        return observed.id, _digest(r.trunks.canonical(observed)), False

    def _look_after(self, uid: str) -> float:
        """The moment a list must have been asked after to answer a look for the trunk
        by name: after its create lost its answer (or this process started, when that
        was before it) and after its previous look, which found nothing."""
        return max(self._lost_at.get(uid, self._started),
                   self._looked_at.get(uid, float("-inf")))

    def _create_age(self, started: str) -> float:
        try:
            when = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return CREATE_PATIENCE  # unreadable: no reason to wait
        return (self._wall_clock() - when).total_seconds()

    async def _create(self, obj: TrunkObject, r: Resolved) -> Any:
        # The marker goes out before the call: a lost answer is then looked up by name.
        # It keeps the time of the first attempt, which the patience is counted from.
        earlier = self.owner.facts(obj.uid).create_started_at
        if earlier is None:
            await self.owner.report(obj.uid, create_started_at=now_rfc3339())
        r.wrote = True
        try:
            trunk = await r.trunks.create(r.desired, r.password)
        except Conflict as error:
            if earlier is not None and self._create_age(earlier) < 2 * CREATE_PATIENCE:
                # "Name taken" right after our own uncertain create: most likely ours,
                # not yet in the list. Look for it again rather than calling it a clash.
                raise RetryLater("CreatePending", f"Bolna says the name {r.desired.name!r} "
                                 "is taken, right after a create of ours whose answer was "
                                 "lost; looking for that trunk again", CREATE_LOOK_AGAIN
                                 ) from None
            # Refused: nothing was created, so there is nothing to look for by name.
            await self.owner.report(obj.uid, create_started_at=None, write=False)
            raise Stalled("Conflict", f"Bolna already has a trunk named {r.desired.name!r} "
                          f"({error.message}): choose another spec.name, or adopt that trunk "
                          f"with the annotation {names.TRUNK_ID_ANNOTATION}") from None
        except PermanentError:
            await self.owner.report(obj.uid, create_started_at=None, write=False)
            raise
        except TemporaryError as error:
            if earlier is None and is_not_applied(error):
                # Bolna surely made nothing (a 429, a connection never opened): nothing
                # to look for by name, so the next run creates at once.
                await self.owner.report(obj.uid, create_started_at=None, write=False)
            elif not is_not_applied(error):
                self._lost_at[obj.uid] = self._clock()
            raise
        # The ID goes out with the final status, or before the next Bolna write,
        # whichever comes first: one status write fewer per create.
        await self._record_id(obj, trunk.id, write=False)
        if r.password is not None and self.backend.create_sends_password:
            await self.owner.report(obj.uid, password_version=r.password.version, write=False)
        self.events(obj.body, "Normal", "Created", f"created Bolna trunk {trunk.id} with "
                    f"{len(r.desired.numbers)} number(s)")
        return trunk

    async def _record_id(self, obj: TrunkObject, trunk_id: str, *, write: bool = True
                         ) -> None:
        await self.owner.report(obj.uid, trunk_id=trunk_id, create_started_at=None,
                                write=write)
        self._lost_at.pop(obj.uid, None)
        self._looked_at.pop(obj.uid, None)
        if obj.annotations.get(names.TRUNK_ID_ANNOTATION) != trunk_id:
            await self.kube.patch_annotations(obj.namespace, obj.name,
                                              {names.TRUNK_ID_ANNOTATION: trunk_id},
                                              plural=obj.kind.plural)
            obj.annotations[names.TRUNK_ID_ANNOTATION] = trunk_id

    async def _update(self, obj: TrunkObject, r: Resolved, observed: Any, *,
                      drift: bool) -> Any:
        recorded = self.owner.facts(obj.uid).password_version
        password_changed = r.password is not None and recorded != r.password.version
        if (password_changed and r.password is not None and recorded is None
                and obj.annotations.get(names.PASSWORD_MATCHES_ANNOTATION) == "true"):
            # Adopted with the password Bolna holds (bolna-sip-operator import): trusted
            # once, so adoption writes nothing; a later rotation of the Secret is sent.
            await self.owner.report(obj.uid, password_version=r.password.version,
                                    write=False)
            password_changed = False
        refused = self._not_taken.get(obj.uid)
        skip = refused[1] if refused is not None and refused[0] == obj.generation else ()
        plan = self.backend.plan(r.desired, observed, password_changed=password_changed,
                                 skip=frozenset(skip),
                                 pending=r.trunks.pending_numbers(observed),
                                 first_look=not drift)
        updated = observed
        if not plan.empty:
            r.wrote = True
            await self.owner.flush(obj.uid)  # a trunk ID not yet written goes first
            updated = await r.trunks.update(observed.id, plan, r.password)
            if r.password is not None:
                await self.owner.report(obj.uid, password_version=r.password.version,
                                        write=False)
            if drift:
                self.events(obj.body, "Warning", "DriftCorrected", f"Bolna trunk "
                            f"{observed.id} had been changed outside the operator; "
                            f"restored {plan.summary()}")
            else:
                self.events(obj.body, "Normal", "Updated",
                            f"updated Bolna trunk {observed.id}: {plan.summary()}")
        ignored = self.backend.not_applied(plan, r.desired, updated, frozenset(skip))
        if ignored:
            # Sent once per generation: a drift check must never PATCH it forever.
            self._not_taken[obj.uid] = (obj.generation, frozenset(ignored))
            raise Stalled("NotApplied", f"Bolna did not apply {', '.join(ignored)} to trunk "
                          f"{observed.id} (its answer still differs from spec); not sent "
                          "again until the spec changes: check the value against Bolna's "
                          "dashboard, or change it there")
        return updated

    async def _synced(self, obj: TrunkObject, r: Resolved, observed: Any, *,
                      max_age: float) -> None:
        synced = await self.backend.synced(r.trunks, observed, self.owner.facts(obj.uid),
                                           max_age=max_age)
        for type_, reason, message in synced.events:
            self.events(obj.body, type_, reason, message)
        await self.owner.report(obj.uid, bolna=BolnaReport(
            obj.generation, "Synced", "Synced", synced.message),
            trunk_id=observed.id, create_started_at=None, **synced.facts)

    def forget(self, uid: str) -> None:
        """The trunk is gone: drop what this process remembers of it."""
        self._synced_at.pop(uid, None)
        self._not_taken.pop(uid, None)
        self._quiet.pop(uid, None)
        self._lost_at.pop(uid, None)
        self._looked_at.pop(uid, None)
        self._warned.pop(uid, None)


def _fingerprint(obj: TrunkObject, r: Resolved) -> tuple[Any, ...]:
    """What would make Bolna differ from the last sync: spec, Secrets, account, ID."""
    return (obj.generation, r.trunks.account, r.password.version if r.password else None,
            obj.annotations.get(names.TRUNK_ID_ANNOTATION))
