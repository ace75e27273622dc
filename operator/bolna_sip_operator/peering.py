"""Several operator replicas, one acting: Kopf's peering, and the same rule for our loops.

Kopf pauses its handlers while a live peer with a higher priority shares the peering
object (and pauses every peer when two tie). The SIP edge's loops are ours, not Kopf's,
so they read the same peering object and follow the same rule: a standby replica never
writes Kamailio's lists, reloads a replica, or writes gateway health. Priorities are
random by default, so two replicas of one Deployment never tie.
"""

from __future__ import annotations

import datetime
import os
import random
import socket
import time
from collections.abc import Mapping
from typing import Any, Protocol

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"
CLUSTER_PLURAL = "clusterkopfpeerings"
NAMESPACED_PLURAL = "kopfpeerings"


def own_identity() -> str:
    """This replica's name among its peers: the pod name when there is one."""
    pod = os.environ.get("POD_ID") or os.environ.get("POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}/{os.getpid()}/{random.randrange(16**6):06x}"


def random_priority() -> int:
    """A priority no other replica is likely to draw (ties pause everyone)."""
    return random.randrange(1, 2**31)


def outranked(peers: Mapping[str, Any], identity: str, priority: int,
              now: datetime.datetime) -> bool:
    """Whether a live peer other than us has a priority at least ours.

    ``peers`` is a peering object's ``status``: identity -> {priority, lifetime,
    lastseen}. A peer whose ``lastseen + lifetime`` has passed is dead (it was killed
    without cleaning up), exactly as Kopf judges it.
    """
    for peer, info in peers.items():
        if peer == identity or not isinstance(info, Mapping):
            continue
        try:
            seen = datetime.datetime.fromisoformat(str(info["lastseen"]))
            lifetime = datetime.timedelta(seconds=int(info.get("lifetime", 60)))
            their = int(info.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=datetime.UTC)
        if seen + lifetime > now and their >= priority:
            return True
    return False


class PeeringReader(Protocol):
    """Reads peering objects (``Kube`` does this)."""

    async def get_cluster_object(self, group: str, version: str, plural: str, name: str
                                 ) -> dict[str, Any] | None: ...

    async def get_namespaced_object(self, group: str, version: str, namespace: str,
                                    plural: str, name: str) -> dict[str, Any] | None: ...


class PeeringGate:
    """Tells the SIP edge's loops whether this replica is the one acting."""

    def __init__(self, reader: PeeringReader, name: str, identity: str, priority: int, *,
                 namespaces: tuple[str, ...] = (), cache_seconds: float = 1.0) -> None:
        self.reader = reader
        self.name = name
        self.identity = identity
        self.priority = priority
        self.namespaces = namespaces  # spelled out: the settings refuse globs with peering
        self.cache_seconds = cache_seconds
        self._answer: tuple[float, bool] | None = None

    async def acting(self) -> bool:
        """True unless a live peer outranks us (re-read at most once a second)."""
        if self._answer is not None and time.monotonic() - self._answer[0] < self.cache_seconds:
            return self._answer[1]
        objects: list[dict[str, Any] | None]
        if self.namespaces:
            objects = [await self.reader.get_namespaced_object(
                PEERING_GROUP, PEERING_VERSION, ns, NAMESPACED_PLURAL, self.name)
                for ns in self.namespaces]
        else:
            objects = [await self.reader.get_cluster_object(
                PEERING_GROUP, PEERING_VERSION, CLUSTER_PLURAL, self.name)]
        now = datetime.datetime.now(datetime.UTC)
        answer = not any(outranked((obj or {}).get("status") or {}, self.identity,
                                   self.priority, now) for obj in objects)
        self._answer = (time.monotonic(), answer)
        return answer
