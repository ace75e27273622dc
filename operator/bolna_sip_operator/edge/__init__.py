"""The SIP edge: Kamailio's tables and the health of the gateways in them.

``Edge`` wires three parts that each do one job and report to the status owner:

- ``set_ids``: a stable dispatcher set per trunk;
- ``hostnames.GatewayResolver``: gateway names to addresses, cached by TTL, looked up
  beside the sync loop (never in it, nor in a render);
- ``tables.TableSync``: render, publish, reload and verify the tables, one report per
  trunk for the generation it rendered;
- ``health.HealthPoller``: gateway health from ``dispatcher.list``, kept across reloads.

Only specs the operator's own validation accepts reach the edge: a trunk the Bolna half
refuses (an older CRD let it through) is not written into Kamailio either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from ..kamailio.discovery import ReplicaSource, StaticReplicas
from ..kamailio.rpc import KamailioRpc
from ..kamailio.sink import Sink
from ..kube_outage import is_unreachable
from ..metrics import GATEWAY_HEALTHY
from ..reconcile.objects import EventSink, TrunkObject
from ..reconcile.outcomes import Stalled
from ..reconcile.status_owner import StatusOwner
from .health import HealthPoller
from .hostnames import DnsSettings, GatewayResolver
from .tables import EdgeTrunk, TableSync
from .views import edge_spec

log = logging.getLogger(__name__)

__all__ = ["DnsSettings", "Edge", "EdgeTrunk", "GatewayResolver", "HealthPoller", "TableSync"]


class Edge:
    """The SIP edge of the operator: inputs from the handlers, two loops."""

    def __init__(self, sink: Sink, replicas: Sequence[KamailioRpc] | ReplicaSource,
                 owner: StatusOwner, events: EventSink, *, reload_delta: float = 5.0,
                 debounce: float = 0.5, probe_settle: float = 30.0,
                 propagation_timeout: float = 180.0,
                 acting: Callable[[], Awaitable[bool]] | None = None,
                 expected: Callable[[], set[str]] | None = None,
                 dns: DnsSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        source = StaticReplicas(replicas) if isinstance(replicas, Sequence) else replicas
        self.owner = owner
        self.tables = TableSync(sink, source, owner, reload_delta=reload_delta,
                                debounce=debounce, propagation_timeout=propagation_timeout,
                                resolver=GatewayResolver(dns), clock=clock)
        self.health = HealthPoller(self.tables, owner, events, probe_settle=probe_settle,
                                   clock=clock)
        self._acting = acting
        self._standby = False
        self._expected = expected
        self._seen: set[str] = set()
        self._health_due = asyncio.Event()

    @property
    def reloads(self) -> dict[str, int]:
        """Reloads sent per RPC method, all replicas counted."""
        return self.tables.reloads

    # ---- inputs from the handlers ------------------------------------------------

    def upsert(self, obj: TrunkObject) -> None:
        """A trunk as it is now; one the operator's validation refuses is taken off."""
        self._seen.add(obj.uid)
        self.owner.see(obj.identity)
        try:
            spec = edge_spec(obj)
        except Stalled:
            self.remove(obj.uid)
            return
        set_id = self.owner.facts(obj.uid).set_id
        if set_id is not None:
            self.health.seed(obj.uid, set_id)
        health = self.owner.reports(obj.uid).health
        for gateway in health.gateways if health is not None else ():
            if gateway.addresses:
                self.tables.resolver.seed(gateway.gateway_address,
                                          (a.address for a in gateway.addresses))
        self.tables.upsert(EdgeTrunk(obj.uid, obj.namespace, obj.name, obj.generation, spec,
                                     obj.kind))

    def remove(self, uid: str) -> None:
        """A trunk deleted (or no longer valid): its entries go at the next sync."""
        set_id = self.tables.set_id(uid)
        gone = self.tables.remove(uid)
        if gone is not None:
            for uri in self.health.uris(set_id):
                with contextlib.suppress(KeyError):
                    GATEWAY_HEALTHY.remove(gone.kind.kind, gone.namespace, gone.name, uri)
            self.health.forget(set_id)

    # ---- the loops ---------------------------------------------------------------

    async def acting(self) -> bool:
        """Whether this operator replica acts (always, unless peering says otherwise).

        A standby that becomes active syncs at once: while it waited, another replica
        wrote the lists, and the new one must verify them before it reports anything.
        """
        if self._acting is None:
            return True
        try:
            active = await self._acting()
        except Exception as error:
            if is_unreachable(error):  # the outage is logged once, by kube_outage
                log.debug("cannot read the peering object (%s); the SIP edge waits", error)
            else:
                log.warning("cannot read the peering object (%s); the SIP edge waits",
                            error)
            active = False
        if not active:
            if not self._standby:
                log.info("SIP edge: another operator replica acts; this one waits")
            self._standby = True
        elif self._standby:
            log.info("SIP edge: this operator replica acts now")
            self._standby = False
            self.tables.request_sync()
        return active

    def _all_seen(self) -> bool:
        return self._expected is None or not (self._expected() - self._seen)

    async def run_sync(self, first_sync_timeout: float = 120.0) -> None:
        """The table sync loop; each sync wakes the health loop."""
        await self.tables.run(self.acting, self._all_seen, first_sync_timeout,
                              on_synced=self._health_due.set)

    async def run_health(self, interval: float) -> None:
        """Forever: read gateway health; a sync wakes the loop early, so a trunk just
        loaded reports its health at once rather than up to one interval later."""
        while True:
            self._health_due.clear()
            try:
                await self.health_once()
            except Exception as error:
                if is_unreachable(error):  # reports wait for the API; logged once
                    log.debug("gateway health: the Kubernetes API: %s", error)
                else:
                    log.exception("reading gateway health from Kamailio failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._health_due.wait(), timeout=interval)

    async def sync_once(self) -> None:
        """One sync (tests and benchmarks)."""
        await self.tables.sync_once()

    async def health_once(self) -> None:
        """One health poll, if this replica acts."""
        if await self.acting():
            await self.health.poll_once()

    async def aclose(self) -> None:
        """Close the replicas' connections."""
        await self.tables.source.aclose()
