"""Where rendered entries go before a reload. This one: files on a shared path.

Kamailio reads its list files anew on every reload, so a file must never be seen half
written: each is written to a temporary file in the same directory and renamed over the
old one (atomic on POSIX). A file whose content did not change is not touched, and the
caller learns which changed, so it reloads only the tables that need it (every reload
resets Kamailio's health state for that table).

In a cluster the lists go into ConfigMaps (``shards``), and reach each Kamailio pod one
of two ways:

- the edge agent, a sidecar in every Kamailio pod, follows them through the API, writes
  them into its pod and reloads its own Kamailio within a second (the chart's default);
  the operator then only verifies each replica;
- or the pods mount the one ConfigMap as a directory (not ``subPath``, which the kubelet
  never updates), and the kubelet swaps the files at its next sync, a minute or more
  after the write; the operator reloads each replica until it reads the new lists back.

Either way the sink is *eventual*: a replica shows a write only some time later.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .render import Rendered
from .shards import (
    ADDRESS_KEY,
    CONFIGMAP_LIMIT,
    DISPATCHER_KEY,
    MANIFEST_KEY,
    SHARD_CAPACITY,
    Manifest,
    TooLarge,
    shard_name,
    split,
)

__all__ = ["ADDRESS_KEY", "CONFIGMAP_LIMIT", "DISPATCHER_KEY", "Changed", "ConfigMapSink",
           "FileSink", "Sink", "TooLarge", "write_if_changed"]


@dataclass(frozen=True)
class Changed:
    """Which tables got new content."""

    dispatcher: bool
    addresses: bool


class Sink(Protocol):
    """Somewhere Kamailio replicas read their list files from."""

    eventual: bool
    """Whether replicas may see a write only some time later (a mounted ConfigMap)."""

    reloads_itself: bool
    """Whether something beside each Kamailio reloads it (the edge agent), so that the
    operator verifies only."""

    async def publish(self, rendered: Rendered) -> Changed:
        """Store the rendered tables; say which changed."""
        ...


class FileSink:
    """Two files on a path the Kamailio replicas read (same host, or a shared volume)."""

    eventual = False
    reloads_itself = False

    def __init__(self, dispatcher_file: Path, address_file: Path) -> None:
        self.dispatcher_file = dispatcher_file
        self.address_file = address_file

    async def publish(self, rendered: Rendered) -> Changed:
        """Write whichever file's content changed, atomically."""
        return Changed(dispatcher=write_if_changed(self.dispatcher_file,
                                                   rendered.dispatcher_text),
                       addresses=write_if_changed(self.address_file, rendered.address_text))


class ConfigMapStore(Protocol):
    """Reads and merge-patches a ConfigMap's data (``Kube`` does this)."""

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def put_configmap_data(self, namespace: str, name: str, data: dict[str, str],
                                 *, create: bool) -> None: ...


class ConfigMapSink:
    """The lists in ConfigMaps: one that the Kamailio pods mount, or shards that each
    pod's edge agent reads through the API (``shards``).

    ``agents``: an edge agent in every Kamailio pod writes the lists into its pod and
    reloads its own Kamailio, so the operator only verifies (``reloads_itself``).
    """

    eventual = True

    def __init__(self, store: ConfigMapStore, namespace: str, name: str, *,
                 max_shards: int = 1, agents: bool = False,
                 capacity: int = SHARD_CAPACITY) -> None:
        self.store = store
        self.capacity = capacity
        """List bytes per ConfigMap (tests make it small to get many shards)."""
        self.namespace = namespace
        self.name = name
        self.max_shards = max_shards
        self.reloads_itself = agents
        self._known: dict[str, dict[str, str] | None] = {}
        """Each shard's data as last read or written; None: the ConfigMap is missing."""

    async def publish(self, rendered: Rendered) -> Changed:
        """Write the shards whose data changed, shard 0 last; empty shards no longer used.

        A shard left over from larger lists is emptied only after shard 0 says how many
        there are now, so a reader never misses one it is told of.
        """
        shards = split(rendered.dispatcher_text, rendered.address_text,
                       capacity=self.capacity, max_shards=self.max_shards)
        old_first = await self._data(0)
        old_count = _count(old_first)
        for index in (*range(1, len(shards)), 0):
            await self._put(index, shards[index])
        for index in range(len(shards), old_count):
            # No longer named by shard 0: emptied, not deleted (the chart creates every
            # shard, so that the operator needs no create or delete on ConfigMaps).
            await self._put(index, {DISPATCHER_KEY: "", ADDRESS_KEY: ""})
        old = old_first or {}
        if old_count > 1 or len(shards) > 1:
            before = Manifest.load(old[MANIFEST_KEY]) if MANIFEST_KEY in old else None
            now = Manifest.load(shards[0][MANIFEST_KEY])
            return Changed(
                dispatcher=before is None or before.dispatcher_sha256 != now.dispatcher_sha256,
                addresses=before is None or before.address_sha256 != now.address_sha256)
        # Unchanged after a restart: no reload (it would reset gateway health); a replica
        # that holds something else is found by verification and reloaded then.
        return Changed(dispatcher=old.get(DISPATCHER_KEY) != shards[0][DISPATCHER_KEY],
                       addresses=old.get(ADDRESS_KEY) != shards[0][ADDRESS_KEY])

    async def _data(self, index: int) -> dict[str, str] | None:
        name = shard_name(self.name, index)
        if name not in self._known:
            self._known[name] = await self.store.configmap_data(self.namespace, name)
        return self._known[name]

    async def _put(self, index: int, wanted: dict[str, str]) -> None:
        name = shard_name(self.name, index)
        known = await self._data(index)
        changed = {key: value for key, value in wanted.items()
                   if (known or {}).get(key) != value}
        if changed:
            await self.store.put_configmap_data(self.namespace, name, changed,
                                                create=known is None)
            self._known[name] = {**(known or {}), **changed}


def _count(first: dict[str, str] | None) -> int:
    """How many shards shard 0's manifest names (1 without one)."""
    if not first or MANIFEST_KEY not in first:
        return 1
    try:
        return Manifest.load(first[MANIFEST_KEY]).shards
    except ValueError:
        return 1


def write_if_changed(path: Path, text: str) -> bool:
    """Replace the file's content atomically unless it is already ``text``."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
