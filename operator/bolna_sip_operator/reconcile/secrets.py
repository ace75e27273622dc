"""The Secrets SipTrunks reference: marked for the watch, token Secrets kept while used.

The operator watches only Secrets labelled ``sip.bolna.ai/referenced`` (memory and
exposure stay with the Secrets trunks use, however many others the cluster has), so it
labels each Secret it reads for a trunk. A token Secret also gets the in-use finalizer:
deleting a trunk in Bolna needs the account's token, and ``kubectl delete -f`` of a file
holding both (or a namespace deletion) would otherwise delete the Secret first and leave
the trunk stuck or orphaned. The finalizer goes when the last trunk that references the
Secret has finished its own deletion, or when the Secret is deleted while no trunk
references it any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class SecretKube(Protocol):
    """The two writes this module makes (``Kube``, or a test's fake)."""

    async def mark_secret(self, namespace: str, name: str, *, protect: bool) -> bool: ...

    async def release_secret(self, namespace: str, name: str) -> None: ...


class SecretMarks:
    """Marks Secrets once per operator process; releases them when unused."""

    def __init__(self, kube: SecretKube, users: Callable[[str, str], set[str]]) -> None:
        self.kube = kube
        self._users = users
        """(namespace, Secret) -> the trunk objects that reference it (an index of
        ``TrunkObject.ref``)."""
        self._marked: set[tuple[str, str, bool]] = set()
        self._finished: set[tuple[str, str]] = set()
        """(namespace, trunk) whose deletion is done but whose object may still be indexed."""

    async def mark(self, namespace: str, name: str, *, protect: bool) -> None:
        """Label (and with ``protect``, hold) a Secret a trunk uses; failures are logged:
        without the label a rotation is noticed at the next drift check instead."""
        if (namespace, name, protect) in self._marked:
            return
        try:
            found = await self.kube.mark_secret(namespace, name, protect=protect)
        except Exception as error:
            log.warning("cannot mark Secret %s/%s as used by trunks (%s); its changes "
                        "reach Bolna at the next drift check", namespace, name,
                        type(error).__name__)
            return
        if found:  # a Secret yet to be created is marked when it is read again
            self._marked.add((namespace, name, protect))

    def trunk_seen(self, namespace: str, trunk: str) -> None:
        """A trunk of this name is live (again): it counts as a user."""
        self._finished.discard((namespace, trunk))

    async def release_if_unused(self, namespace: str, name: str, *,
                                leaving: str | None = None) -> bool:
        """Release the Secret if no live trunk references it; ``leaving``: the trunk
        whose deletion just finished (it is still indexed until its object is gone)."""
        if leaving is not None:
            self._finished.add((namespace, leaving))
        users = self._users(namespace, name)
        if any((namespace, user) not in self._finished for user in users):
            return False
        try:
            await self.kube.release_secret(namespace, name)
        except Exception as error:
            log.warning("cannot release Secret %s/%s (%s)", namespace, name,
                        type(error).__name__)
            return False
        self._marked = {m for m in self._marked if m[:2] != (namespace, name)}
        return True
