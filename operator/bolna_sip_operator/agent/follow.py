"""Following the lists' ConfigMaps through the API: one watch on shard 0, reads of the rest.

Only shard 0 is watched (by name, so the agent's Role can name the ConfigMaps it may
read): the operator writes it last, with the manifest that says which shards make the
lists and their digests. Each change of shard 0 is completed by reading the other
shards; a set whose digests do not match is a write still under way and is skipped, as
the write's shard 0 follows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..kamailio.shards import MANIFEST_KEY, Manifest, digest, join, shard_name
from ..kube_api import ApiError, KubeApi

log = logging.getLogger(__name__)

INCOMPLETE_RETRIES = 3
"""Reads of the shards again, half a second apart, before waiting for shard 0 to change."""


@dataclass(frozen=True)
class Lists:
    """One complete write of the lists, as shard 0's version names it."""

    dispatcher: str
    addresses: str
    version: str
    """Shard 0's resourceVersion ("" when it does not exist)."""

    @property
    def dispatcher_sha256(self) -> str:
        """The dispatcher list's digest, as the manifest gives it."""
        return digest(self.dispatcher)

    @property
    def address_sha256(self) -> str:
        """The address list's digest."""
        return digest(self.addresses)


class Incomplete(Exception):  # noqa: N818 (a state: the operator is mid-write)
    """The shards do not add up to what shard 0 says."""


class ListsFollower:
    """Reads and follows the lists the operator writes under ``namespace/name``."""

    def __init__(self, api: KubeApi, namespace: str, name: str, *,
                 resync: float = 300.0) -> None:
        self.api = api
        self.path = f"/api/v1/namespaces/{namespace}/configmaps"
        self.namespace = namespace
        self.name = name
        self.resync = resync
        self._yielded = False

    async def read(self) -> Lists:
        """The lists now: shard 0 read, then its shards; Incomplete if mid-write."""
        first = await self._data(self.name)
        return await self.complete(first.get("data") if first else None,
                                   (first or {}).get("metadata", {}).get("resourceVersion", ""))

    async def complete(self, first: dict[str, str] | None, version: str) -> Lists:
        """The lists from shard 0's data, with the other shards read now.

        Shard 0 missing: empty lists (the chart creates it, the operator fills it).
        """
        if first is None:
            return Lists("", "", "")
        count = Manifest.load(first[MANIFEST_KEY]).shards if MANIFEST_KEY in first else 1
        rest = []
        for index in range(1, count):
            found = await self._data(shard_name(self.name, index))
            rest.append(None if found is None else dict(found.get("data") or {}))
        joined = join(first, rest)
        if joined is None:
            raise Incomplete(f"the {count} shard(s) of {self.namespace}/{self.name} do not "
                             "match its manifest yet")
        return Lists(joined[0], joined[1], version)

    async def follow(self) -> AsyncIterator[Lists]:
        """Each complete write, from the current one on; forever.

        The watch is begun anew after ``resync`` seconds or any error, with a fresh read,
        so a missed event costs at most one resync period.
        """
        backoff = 0.5
        selector = f"metadata.name={self.name}"
        while True:
            try:
                listed = await self.api.request("GET", self.path,
                                                 params={"fieldSelector": selector})
                version = listed["metadata"]["resourceVersion"]
                items = listed.get("items") or []
                current = await self._settled(items[0] if items else None)
                if current is not None:
                    self._yielded = True
                    yield current
                stream = self.api.watch(self.path, fieldSelector=selector,
                                        resource_version=version,
                                        timeout_seconds=int(self.resync))
                async for event in stream:
                    kind, raw = event["type"], event["object"]
                    if kind == "ERROR":  # 410 Gone among them: read again
                        log.info("the watch of %s/%s ended (%s); reading again",
                                 self.namespace, self.name, raw.get("message", raw))
                        break
                    found = await self._settled(None if kind == "DELETED" else raw)
                    if found is not None:
                        self._yielded = True
                        yield found
                backoff = 0.5
            except ApiError as error:
                if error.status == 410:  # the watch's version is too old: read again
                    continue
                log.warning("cannot read ConfigMap %s/%s: %s %s; again in %.1f s",
                            self.namespace, self.name, error.status, error.reason, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except (TimeoutError, OSError, aiohttp.ClientError) as error:
                log.warning("the API is unreachable (%s); again in %.1f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _settled(self, raw: dict[str, Any] | None) -> Lists | None:
        """Shard 0 completed, read again a few times while the operator is mid-write."""
        if raw is None and self._yielded:
            log.warning("ConfigMap %s/%s is gone; keeping the lists loaded now (the "
                        "operator writes it again at its next change or start)",
                        self.namespace, self.name)
            return None
        data = None if raw is None else dict(raw.get("data") or {})
        version = "" if raw is None else raw.get("metadata", {}).get("resourceVersion", "")
        for attempt in range(INCOMPLETE_RETRIES + 1):
            try:
                return await self.complete(data, version)
            except Incomplete as error:
                if attempt == INCOMPLETE_RETRIES:
                    log.info("%s; waiting for the operator's next write", error)
                    return None
            except ValueError as error:
                log.error("ConfigMap %s/%s: %s; keeping the lists loaded now",
                          self.namespace, self.name, error)
                return None
            await asyncio.sleep(0.5)
        return None

    async def _data(self, name: str) -> dict[str, Any] | None:
        """A ConfigMap as a dict, or None when it does not exist."""
        return await self.api.get(f"{self.path}/{name}")
