"""The watch of Secrets' metadata that feeds ``SecretFollower``: I/O only.

The apiserver sends each Secret as ``PartialObjectMetadata`` (``kube_api.METADATA_ONLY``):
no data ever reaches the operator this way, whatever the Secret is, and the operator
keeps only what it needs of the Secrets trunks reference. One list, then a watch from
its version with bookmarks (so that a quiet watch stays resumable); a watch that ends
is resumed, one that fails (410 Gone, an error, the apiserver away) is replaced by a
fresh list, compared with what was known, so a missed event is never a lost change.

The scope is the operator's: every namespace, or each namespace it serves (the chart's
Roles grant list and watch there only); a glob among them watches every namespace and
keeps the matching ones, as Kopf does.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable

import aiohttp

from .kube import SecretMeta
from .kube_api import METADATA_LIST, METADATA_ONLY, ApiError, KubeApi
from .kube_outage import describe, is_unreachable
from .reconcile.secrets import SecretFollower

log = logging.getLogger(__name__)

WATCH_SECONDS = 300
"""Each watch call's own length; it is resumed from its last version after."""
MAX_BACKOFF = 30.0


def _path(namespace: str | None) -> str:
    return "/api/v1/secrets" if namespace is None else f"/api/v1/namespaces/{namespace}/secrets"


def scopes(namespaces: tuple[str, ...]) -> list[tuple[str | None, Callable[[str], bool]]]:
    """(namespace to list, or None for all; which namespaces' Secrets count)."""
    if not namespaces:
        return [(None, lambda _: True)]
    if any(c in ns for ns in namespaces for c in "*?["):
        return [(None, lambda ns: any(fnmatch.fnmatchcase(ns, p) for p in namespaces))]
    return [(ns, _only(ns)) for ns in namespaces]


def _only(namespace: str) -> Callable[[str], bool]:
    return lambda seen: seen == namespace


class SecretWatch:
    """Lists and watches Secrets' metadata in the operator's scope, for ``follower``."""

    def __init__(self, api: KubeApi, follower: SecretFollower,
                 namespaces: tuple[str, ...] = ()) -> None:
        self.api = api
        self.follower = follower
        self.namespaces = namespaces
        self._away = False
        self.lists = 0
        """Lists made (the first of each scope, and one after each broken watch)."""

    async def run(self) -> None:
        """Forever: one follower loop per scope."""
        await asyncio.gather(*(self._follow(namespace, counts)
                               for namespace, counts in scopes(self.namespaces)))

    async def _follow(self, namespace: str | None, counts: Callable[[str], bool]) -> None:
        first, backoff = True, 0.5
        while True:
            try:
                version = await self._list(namespace, counts, first=first)
                first, backoff = False, 0.5
                self._back()
                while version:
                    version = await self._watch(namespace, counts, version)
            except ApiError as error:
                if error.status != 410:
                    self._lost(error)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
            except (TimeoutError, OSError, aiohttp.ClientError) as error:
                self._lost(error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _list(self, namespace: str | None, counts: Callable[[str], bool], *,
                    first: bool) -> str:
        """Every Secret's metadata now; returns the version to watch from."""
        items, version = await self.api.list_pages(_path(namespace), accept=METADATA_LIST)
        self.lists += 1
        present: set[tuple[str, str]] = set()
        for item in items:
            meta = SecretMeta.from_metadata(item.get("metadata") or {})
            if meta is None or not counts(meta.namespace):
                continue
            present.add((meta.namespace, meta.name))
            await self.follower.seen(meta, quiet=first)
        if not first:
            await self.follower.relisted(present, counts)
        self.follower.listed = True
        return version

    async def _watch(self, namespace: str | None, counts: Callable[[str], bool],
                     version: str) -> str:
        """One watch call; the version to resume from, or "" to list again."""
        async for event in self.api.watch(_path(namespace), resource_version=version,
                                          timeout_seconds=WATCH_SECONDS,
                                          accept=METADATA_ONLY, bookmarks=True):
            kind, raw = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # 410 Gone among them: list again
                log.info("the watch of Secrets ended (%s); listing again",
                         raw.get("reason") or raw.get("code"))
                return ""
            meta_raw = raw.get("metadata") or {}
            version = str(meta_raw.get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            meta = SecretMeta.from_metadata(meta_raw)
            if meta is None or not counts(meta.namespace):
                continue
            if kind == "DELETED":
                await self.follower.gone(meta.namespace, meta.name)
            else:
                await self.follower.seen(meta)
        return version

    def _lost(self, error: BaseException) -> None:
        """One line when the watch is lost, not one per attempt; none of its own for an
        unreachable API, which ``kube_outage`` says once for every caller."""
        if not self._away:
            self._away = True
            log.log(logging.DEBUG if is_unreachable(error) else logging.WARNING,
                    "cannot follow Secrets (%s); retrying, and comparing every Secret "
                    "once the watch is back", describe(error))

    def _back(self) -> None:
        if self._away:
            self._away = False
            log.info("following Secrets again")
