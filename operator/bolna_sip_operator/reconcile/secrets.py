"""The Secrets trunks reference: followed whatever wrote them; token Secrets held while used.

Why no label. The operator used to label each Secret it read for a trunk and watch only
labelled Secrets, labelling each once per process. Every writer that does not merge
(``kubectl replace``, any PUT, delete-then-create) wrote the Secret without the label,
and from then on it was out of the watch: a rotated password was never sent, while the
trunk said Ready. Labelling also needed ``patch`` on every Secret in the cluster, which
can rewrite any Secret's data (issue 23).

Now the operator follows the *metadata* of Secrets (``secret_watch``: the apiserver
sends no data) and keeps, for each Secret some trunk references, what it last saw
(``SecretMeta``). A new version, whoever wrote it, re-reconciles the trunks that use the
Secret; so does its deletion and its return as a new object; and a relist after a broken
watch compares versions, so a missed event is a delayed event, not a lost one. The drift
loop compares the password Secret's version with the one last sent to Bolna
(``password_unsent``), a second net under the watch.

Token Secrets and the in-use finalizer. Deleting a trunk in Bolna needs its account's
token, and ``kubectl delete -f`` of a file holding both (or a namespace deletion) may
delete the Secret first. Where the operator may patch Secrets (the chart grants it per
namespace: RBAC has no verb for "metadata only", so a grant to patch is a grant to write
data, and it is never given cluster-wide), a token Secret in use carries the
``sip.bolna.ai/in-use`` finalizer, put back after any write that drops it. It holds the
Secret only for the deletion of its trunks: a token Secret deleted while no trunk of it
is being deleted (a rotation by delete-then-create, or a mistake) is let go after
``HOLD_GRACE_SECONDS`` (``kubectl delete -f`` and the namespace controller delete the
trunks within that), with a Warning on each trunk, and the trunks wait for it to come
back. Where the operator may not patch, or when the Secret went first anyway, a
deletion falls back on the token the operator last used for that trunk (in memory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Protocol

from ..kube import PatchForbidden, SecretMeta
from .objects import password_secret_name

log = logging.getLogger(__name__)

HOLD_GRACE_SECONDS = 5.0
"""How long a deleted token Secret is held for a deletion of its trunks to begin."""
DENIED_RETRY_SECONDS = 600.0
"""How long a namespace where the operator may not patch Secrets is left alone (a chart
upgrade may grant it later)."""


class Hold(Enum):
    """What the in-use finalizer of a token Secret needs now."""

    NOTHING = "nothing"
    HOLD = "hold"
    RELEASE = "release"
    RELEASE_AFTER_GRACE = "release after grace"


def hold_action(meta: SecretMeta, *, live_users: set[str], deleting_users: set[str]
                ) -> Hold:
    """The finalizer's next step for a token Secret, from what is known now (pure).

    ``live_users``: the trunks whose token it holds and whose deletion has not finished;
    ``deleting_users``: those among them being deleted.
    """
    if meta.deleting:
        if not meta.held or deleting_users:
            return Hold.NOTHING  # nothing to let go, or a deletion still needs it
        return Hold.RELEASE_AFTER_GRACE if live_users else Hold.RELEASE
    if live_users and not meta.held:
        return Hold.HOLD
    if not live_users and meta.held:
        return Hold.RELEASE
    return Hold.NOTHING


class SecretKube(Protocol):
    """The writes this module makes (``Kube``, or a test's fake): each answers the
    Secret's metadata as written, or None when there is no such Secret."""

    async def hold_secret(self, namespace: str, name: str) -> SecretMeta | None: ...

    async def release_secret(self, namespace: str, name: str) -> SecretMeta | None: ...

    def forget_secret(self, namespace: str, name: str) -> None: ...


Users = Callable[[str, str], set[str]]
"""(namespace, Secret) -> the trunks (``Kind.ref``) that reference it."""


class SecretFollower:
    """What the operator knows of the Secrets trunks reference, and what it does on
    each change of one: re-reconcile its trunks, hold or release a token Secret."""

    def __init__(self, kube: SecretKube, *, users: Users, token_users: Users,
                 deleting: Callable[[str, str], bool],
                 enqueue: Callable[[str, set[str]], None],
                 warn: Callable[[str, set[str], str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self._users = users
        self._token_users = token_users
        self._deleting = deleting
        """(namespace, trunk ref) -> whether that trunk is being deleted."""
        self._enqueue = enqueue
        """(namespace, trunk refs): reconcile these trunks soon."""
        self._warn = warn
        """(namespace, trunk refs, message): a Warning Event on each."""
        self._clock = clock
        self._meta: dict[tuple[str, str], SecretMeta] = {}
        self._finished: set[tuple[str, str]] = set()
        """(namespace, trunk) whose deletion is done but whose object may still be indexed."""
        self._denied: dict[str, float] = {}
        """namespace -> when a patch of a Secret there was forbidden."""
        self._graces: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.listed = False
        """The first list of Secrets is in (before it, nothing is known)."""

    # ---- what is known ------------------------------------------------------------

    def meta(self, namespace: str, name: str) -> SecretMeta | None:
        """The referenced Secret as last seen (None: not seen, or not referenced)."""
        return self._meta.get((namespace, name))

    def password_unsent(self, namespace: str, spec: Mapping[str, Any], sent: str | None
                        ) -> bool:
        """Whether the trunk's password Secret is at a version other than ``sent`` (the
        one its status says reached Bolna): the drift path's check of the watch."""
        name = password_secret_name(spec)
        if name is None:
            return False
        seen = self._meta.get((namespace, name))
        return seen is not None and not seen.deleting and seen.version != sent

    def _live(self, namespace: str, users: set[str]) -> set[str]:
        return {user for user in users if (namespace, user) not in self._finished}

    # ---- the watch's events -------------------------------------------------------

    async def seen(self, meta: SecretMeta, *, quiet: bool = False) -> None:
        """A Secret as it is now (a watch event, or an item of a list). ``quiet``: do not
        re-reconcile its trunks on a new version (the start-up list, which the trunks'
        resume covers)."""
        key = (meta.namespace, meta.name)
        users = self._users(*key)
        if not users:
            self._meta.pop(key, None)
            return
        before = self._meta.get(key)
        self._meta[key] = meta
        log.debug("Secret %s/%s at %s (was %s), used by %d trunk(s)", meta.namespace,
                  meta.name, meta.version, before.version if before else None, len(users))
        if before is None or before.version != meta.version:
            self.kube.forget_secret(*key)
            if not quiet:
                self._enqueue(meta.namespace, self._live(meta.namespace, users))
        await self._settle_hold(meta)

    async def gone(self, namespace: str, name: str) -> None:
        """The Secret was deleted: its trunks learn it (they wait for it, and say so)."""
        key = (namespace, name)
        self._meta.pop(key, None)
        self.kube.forget_secret(namespace, name)
        grace = self._graces.pop(key, None)
        if grace is not None:
            grace.cancel()
        users = self._live(namespace, self._users(namespace, name))
        if users:
            self._enqueue(namespace, users)

    async def relisted(self, present: set[tuple[str, str]], scope: Callable[[str], bool]
                       ) -> None:
        """After a list that followed a broken watch: the referenced Secrets of ``scope``
        (a namespace test) missing from it were deleted meanwhile."""
        for key in [k for k in self._meta if scope(k[0]) and k not in present]:
            await self.gone(*key)

    # ---- token Secrets: the in-use finalizer ---------------------------------------

    async def hold(self, namespace: str, name: str) -> None:
        """A reconcile is about to read this token Secret: make sure it is held, unless
        the last sighting shows it held already (one patch, not one per reconcile)."""
        seen = self._meta.get((namespace, name))
        if seen is not None and (seen.held or seen.deleting):
            return
        await self._write(namespace, name, hold=True)

    def trunk_seen(self, namespace: str, trunk: str) -> None:
        """A trunk of this name is live (again): it counts as a user."""
        self._finished.discard((namespace, trunk))

    async def release_if_unused(self, namespace: str, name: str, *,
                                leaving: str | None = None) -> bool:
        """Release the Secret if no live trunk references it; ``leaving``: the trunk
        whose deletion just finished (it is still indexed until its object is gone)."""
        if leaving is not None:
            self._finished.add((namespace, leaving))
        if self._live(namespace, self._users(namespace, name)):
            return False
        seen = self._meta.get((namespace, name))
        if seen is not None and not seen.held and not seen.labelled:
            return True
        return await self._write(namespace, name, hold=False)

    async def _settle_hold(self, meta: SecretMeta) -> None:
        """Hold, release, or let a deleted token Secret go after the grace."""
        token_users = self._token_users(meta.namespace, meta.name)
        if not token_users and not meta.held:
            return
        live = self._live(meta.namespace, token_users)
        deleting = {user for user in live if self._deleting(meta.namespace, user)}
        action = hold_action(meta, live_users=live, deleting_users=deleting)
        if action is Hold.HOLD:
            await self._write(meta.namespace, meta.name, hold=True)
        elif action is Hold.RELEASE:
            await self._write(meta.namespace, meta.name, hold=False)
        elif action is Hold.RELEASE_AFTER_GRACE:
            key = (meta.namespace, meta.name)
            if key not in self._graces:
                self._graces[key] = asyncio.create_task(self._after_grace(key))

    async def _after_grace(self, key: tuple[str, str]) -> None:
        """A token Secret was deleted while its trunks live: unless a deletion of one of
        them began meanwhile, let it go (a rotation by delete-then-create)."""
        try:
            await asyncio.sleep(HOLD_GRACE_SECONDS)
        finally:
            self._graces.pop(key, None)
        meta = self._meta.get(key)
        if meta is None:
            return
        live = self._live(key[0], self._token_users(*key))
        deleting = {user for user in live if self._deleting(key[0], user)}
        if hold_action(meta, live_users=live, deleting_users=deleting) not in (
                Hold.RELEASE, Hold.RELEASE_AFTER_GRACE):
            return
        if await self._write(*key, hold=False) and live and self._warn is not None:
            self._warn(key[0], live, (
                f"token Secret {key[1]} was deleted while this trunk uses it: the operator "
                "let it go (it holds a token Secret only for its trunks' deletion); the "
                "trunk waits until the Secret exists again"))

    async def _write(self, namespace: str, name: str, *, hold: bool) -> bool:
        """Put the finalizer on (``hold``) or take it off; False if not done."""
        denied_at = self._denied.get(namespace)
        if denied_at is not None and self._clock() - denied_at < DENIED_RETRY_SECONDS:
            return False
        try:
            write = self.kube.hold_secret if hold else self.kube.release_secret
            written = await write(namespace, name)
        except PatchForbidden:
            self._denied[namespace] = self._clock()
            log.warning(
                "the operator may not patch Secrets in namespace %s, so token Secret %s "
                "is not held by the in-use finalizer: deleting a trunk and its token "
                "Secret together relies on the token the operator remembers (grant it "
                "with the chart value tokenSecretNamespaces)", namespace, name)
            return False
        except Exception as error:  # the apiserver is away: the next sighting retries
            log.warning("cannot %s Secret %s/%s (%s); trying again at its next change",
                        "hold" if hold else "release", namespace, name,
                        type(error).__name__)
            return False
        if written is None:
            return False
        key = (namespace, name)
        if key in self._meta or self._users(namespace, name):
            # The operator's own write is no rotation: the event it causes is no news.
            self._meta[key] = written
        return True
