"""Kamailio's two lists split across ConfigMaps, and put back together: pure.

One ConfigMap holds at most 1 MiB, about 5,000 gateways with their address entries.
Larger lists are cut at line boundaries into shards: shard 0 is the ConfigMap the chart
names (``<name>``), shard ``i`` is ``<name>-<i>``. Shard 0 also carries the manifest
(``lists.json``): how many shards there are and the SHA-256 of each whole list.

The writer stores shards 1..n-1 first and shard 0 last, so a reader that follows shard
0 (the edge agent watches only that object) never takes a mix of two writes for the
lists: it joins the shards the manifest names and accepts them only if both digests
match, else it waits for the next write. Lists that fit in one ConfigMap are shard 0
alone, with the same keys a mounted ConfigMap volume shows Kamailio as files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

DISPATCHER_KEY = "dispatcher.list"
ADDRESS_KEY = "address.list"
MANIFEST_KEY = "lists.json"
CONFIGMAP_LIMIT = 1024 * 1024
"""The apiserver refuses a ConfigMap whose data (keys and values) exceeds 1 MiB."""
SHARD_CAPACITY = CONFIGMAP_LIMIT - 4096
"""List bytes per shard: the limit less room for the keys and the manifest."""


class TooLarge(Exception):  # noqa: N818 (a state the user must act on)
    """The lists do not fit where they must go; writing again will not help."""


@dataclass(frozen=True)
class Manifest:
    """What shard 0 says of the whole: the shard count and each list's digest."""

    shards: int
    dispatcher_sha256: str
    address_sha256: str

    def dump(self) -> str:
        """The manifest as stored under ``lists.json``."""
        return json.dumps({"shards": self.shards, "dispatcherSha256": self.dispatcher_sha256,
                           "addressSha256": self.address_sha256}, sort_keys=True)

    @classmethod
    def load(cls, text: str) -> Manifest:
        """Read a stored manifest; ValueError names what is wrong with it."""
        try:
            raw = json.loads(text)
            shards = raw["shards"]
            if not isinstance(shards, int) or shards < 1:
                raise ValueError(f"shards is {shards!r}, not a count of at least 1")
            return cls(shards, str(raw["dispatcherSha256"]), str(raw["addressSha256"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{MANIFEST_KEY} is not a lists manifest: {error}") from error


def digest(text: str) -> str:
    """The SHA-256 of a list's text, hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def shard_name(name: str, index: int) -> str:
    """The ConfigMap of shard ``index``: the chart's name for shard 0."""
    return name if index == 0 else f"{name}-{index}"


def split(dispatcher: str, addresses: str, *, capacity: int = SHARD_CAPACITY,
          max_shards: int = 1) -> list[dict[str, str]]:
    """The data of each shard, shard 0 first with the manifest.

    Lines are packed in order, the dispatcher list's first, so that concatenating each
    key's values over the shards gives the lists back. Raises TooLarge when more than
    ``max_shards`` shards would be needed.
    """
    shards: list[dict[str, str]] = [{DISPATCHER_KEY: "", ADDRESS_KEY: ""}]
    room = capacity
    for key, text in ((DISPATCHER_KEY, dispatcher), (ADDRESS_KEY, addresses)):
        parts: list[str] = []
        for line in _lines(text):
            size = len(line.encode())
            if size > room:
                shards[-1][key] += "".join(parts)
                parts = []
                shards.append({DISPATCHER_KEY: "", ADDRESS_KEY: ""})
                room = capacity
                if size > capacity:
                    raise TooLarge(f"a line of {key} takes {size} bytes, over the "
                                   f"{capacity} a ConfigMap shard holds")
            parts.append(line)
            room -= size
        shards[-1][key] += "".join(parts)
    if len(shards) > max_shards:
        total = len(dispatcher.encode()) + len(addresses.encode())
        raise TooLarge(
            f"the dispatcher and address lists take {total} bytes, {len(shards)} "
            f"ConfigMaps of 1 MiB, over the {max_shards} allowed; raise --list-shards "
            f"(the chart's kamailio.lists.maxShards), or split the trunks across operators "
            f"(--namespace)")
    manifest = Manifest(len(shards), digest(dispatcher), digest(addresses))
    shards[0][MANIFEST_KEY] = manifest.dump()
    return shards


def _lines(text: str) -> list[str]:
    """The lines with their newlines; only ``\\n`` ends one (``splitlines`` would also cut
    at characters such as U+0085 inside a line)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def join(first: dict[str, str], rest: list[dict[str, str] | None]) -> tuple[str, str] | None:
    """(dispatcher, addresses) from shard 0 and shards 1..n-1, or None if they are not
    one write's: a shard missing, or a digest that does not match (a write is under way).

    Shard 0 without a manifest is the lists as one ConfigMap (written before shards
    existed, or by hand) and is taken as it is.
    """
    if MANIFEST_KEY not in first:
        return first.get(DISPATCHER_KEY, ""), first.get(ADDRESS_KEY, "")
    manifest = Manifest.load(first[MANIFEST_KEY])
    if len(rest) != manifest.shards - 1 or any(shard is None for shard in rest):
        return None
    parts = [first, *(shard for shard in rest if shard is not None)]
    dispatcher = "".join(shard.get(DISPATCHER_KEY, "") for shard in parts)
    addresses = "".join(shard.get(ADDRESS_KEY, "") for shard in parts)
    if (digest(dispatcher), digest(addresses)) != (manifest.dispatcher_sha256,
                                                   manifest.address_sha256):
        return None
    return dispatcher, addresses
