"""Writing the lists into the pod and reloading this pod's Kamailio.

Each list file is replaced atomically and only when its content changed; a changed file
owes its table a reload. Reloads are owed until Kamailio takes them: it may not run
yet (the agent starts first, and Kamailio then reads the files at its own start), or it
may refuse a reload sooner than its ``reload_delta`` after the last one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..edge.tables import ADDRESS_RELOAD, DISPATCHER_RELOAD
from ..kamailio.rpc import KamailioRpc, RpcError, Unreachable
from ..kamailio.shards import ADDRESS_KEY, DISPATCHER_KEY
from ..kamailio.sink import write_if_changed
from .follow import Lists

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What the agent has loaded: served on /readyz and logged."""

    version: str | None = None
    dispatcher_sha256: str | None = None
    address_sha256: str | None = None
    destinations: int = 0
    addresses: int = 0
    written_at: float | None = None
    reloaded_at: dict[str, float] = field(default_factory=dict)
    owed: list[str] = field(default_factory=list)
    last_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (wall-clock times in seconds since the epoch)."""
        return {"configMapVersion": self.version, "dispatcherSha256": self.dispatcher_sha256,
                "addressSha256": self.address_sha256, "destinations": self.destinations,
                "addressEntries": self.addresses, "writtenAt": self.written_at,
                "reloadedAt": dict(self.reloaded_at), "reloadsOwed": list(self.owed),
                "lastError": self.last_error}


def _entries(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


class Loader:
    """The pod's list files and its Kamailio."""

    def __init__(self, directory: Path, rpc: KamailioRpc | None, *,
                 reload_delta: float = 5.0) -> None:
        self.dispatcher_file = directory / DISPATCHER_KEY
        self.address_file = directory / ADDRESS_KEY
        self.rpc = rpc
        self.reload_delta = reload_delta
        self.owed: set[str] = set()
        self.report = Report()
        self._answered = False

    def write(self, lists: Lists) -> bool:
        """Write whichever list changed; True if one did (its reload is then owed)."""
        changed = False
        if write_if_changed(self.dispatcher_file, lists.dispatcher):
            self.owed.add(DISPATCHER_RELOAD)
            changed = True
        if write_if_changed(self.address_file, lists.addresses):
            self.owed.add(ADDRESS_RELOAD)
            changed = True
        report = self.report
        report.version = lists.version
        report.dispatcher_sha256 = lists.dispatcher_sha256
        report.address_sha256 = lists.address_sha256
        report.destinations = _entries(lists.dispatcher)
        report.addresses = _entries(lists.addresses)
        report.written_at = time.time()
        report.owed = sorted(self.owed)
        if changed:
            log.info("wrote the lists of ConfigMap version %s: %d destination(s), %d "
                     "address entr(ies)", lists.version or "(none)", report.destinations,
                     report.addresses)
        return changed

    async def reload_owed(self) -> bool:
        """Send the owed reloads, dispatcher first; True when none is owed any more."""
        if self.rpc is None:
            return not self.owed
        for method in (DISPATCHER_RELOAD, ADDRESS_RELOAD):
            if method not in self.owed:
                continue
            self.owed.discard(method)
            try:
                await self.rpc.reload(method, reload_delta=self.reload_delta)
            except (Unreachable, RpcError) as error:
                self.owed.add(method)
                self.report.last_error = f"{method}: {error}"
                self.report.owed = sorted(self.owed)
                # Unreachable before Kamailio ever answered: it is starting (and reads
                # the files the agent wrote as it starts); not worth a line a second.
                quiet = isinstance(error, Unreachable) and not self._answered
                log.log(logging.DEBUG if quiet else logging.INFO,
                        "Kamailio did not take %s (%s); sent again shortly", method, error)
                return False
            self._answered = True
            self.report.reloaded_at[method] = time.time()
            log.info("Kamailio reloaded %s", method.split(".")[0])
        self.report.owed = sorted(self.owed)
        self.report.last_error = None
        return not self.owed
