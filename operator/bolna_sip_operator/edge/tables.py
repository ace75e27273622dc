"""Kamailio's tables: one writer that renders, publishes, reloads and verifies.

Every Kamailio replica holds one dispatcher set per SipTrunk (and, for ip-based trunks,
permissions address entries). Trunk changes only mark the tables dirty; one debounced
loop renders all trunks, publishes through the sink, reloads each replica that needs it
(a reload resets Kamailio's health state, and concurrent reloads have crashed Kamailio,
so: only on change, one at a time, spaced by ``reload_delta``), and reads back what each
replica holds, because Kamailio skips a bad line and still answers "Ok". A burst of a
thousand changes is one write and one reload per replica.

Each sync ends with an ``EdgeReport`` per trunk, for the generation that was rendered:
Loaded only when every replica holds exactly that trunk's lines. A trunk whose lines did
not change still gets a report for its new generation (after a verification), so a
change that does not touch the edge (a phone number) is Ready in a moment.

Gateway names are resolved by ``hostnames.GatewayResolver`` beside this loop, never in
it: a sync reads the cached answers (waiting, bounded, only for names never looked up
yet), and a name whose addresses changed asks for a sync.

Replicas come from a ``ReplicaSource``. A sink may be *eventual* (a ConfigMap the pods
mount shows a write only after the kubelet's next sync): a replica that reads back old
lists is reloaded again, spaced by ``reload_delta``, until it matches or
``propagation_timeout`` passes. A sink that ``reloads_itself`` (an edge agent in each
pod loads every write) is never reloaded from here: a replica is read back, soon and then
less often, until it holds the new lists. With several operator replicas, only the one
Kopf's peering lets act runs these loops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..kamailio.discovery import ReplicaSource
from ..kamailio.render import (
    NO_NAMES,
    Answer,
    Destination,
    EdgeSpec,
    Rendered,
    Renderer,
    TrunkRoute,
)
from ..kamailio.rpc import KamailioRpc, RpcError, Unreachable
from ..kamailio.sink import Sink, TooLarge
from ..kamailio.verify import address_differences, dispatcher_differences
from ..kube_outage import is_unreachable
from ..metrics import RELOAD_FAILURES, RELOADS, VERIFICATION_FAILURES, track_replica
from ..model.kinds import SIP_TRUNK, Kind
from ..reconcile.objects import involved
from ..reconcile.observations import EdgeReport
from ..reconcile.status_owner import StatusOwner
from .hostnames import GatewayResolver
from .set_ids import assign_set_ids

log = logging.getLogger(__name__)

DISPATCHER_RELOAD = "dispatcher.reload"
ADDRESS_RELOAD = "permissions.addressReload"


@dataclass(frozen=True)
class EdgeTrunk:
    """A trunk as the edge needs it: identity, the generation and what to render."""

    uid: str
    namespace: str
    name: str
    generation: int
    spec: EdgeSpec
    kind: Kind = SIP_TRUNK

    @property
    def key(self) -> str:
        """``[tag]namespace/name``: the trunk's tag in Kamailio's attrs and address tags."""
        return self.kind.key(self.namespace, self.name)

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object for an Event's involvedObject."""
        return involved(self.namespace, self.name, self.uid, self.kind)


@dataclass
class _Outcome:
    """What one sync found, for the per-trunk reports."""

    rendered: Rendered
    replicas: int
    differences: dict[str, list[str]]
    unreachable: list[str]
    waiting: list[str]
    refused: str | None = None
    agents: bool = False
    """Edge agents load the lists (else the kubelet's ConfigMap volume, or files)."""


class TableSync:
    """The single writer of Kamailio's tables."""

    def __init__(self, sink: Sink, source: ReplicaSource, owner: StatusOwner, *,
                 reload_delta: float = 5.0, debounce: float = 0.5,
                 propagation_timeout: float = 180.0, verify_interval: float = 0.25,
                 resolver: GatewayResolver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.resolver = resolver or GatewayResolver()
        self.resolver.on_change = self.request_sync
        self.verify_interval = verify_interval
        self.source = source
        self.owner = owner
        self.reload_delta = reload_delta
        self.debounce = debounce
        self.propagation_timeout = propagation_timeout
        self._clock = clock
        self._trunks: dict[str, EdgeTrunk] = {}
        self._dirty = asyncio.Event()
        self._again = False
        self._synced = asyncio.Event()
        self._renderer = Renderer()
        self._rendered = Rendered()
        self._by_set: dict[int, list[Destination]] = {}
        self._set_of: dict[str, int] = {}
        self._routes: dict[str, TrunkRoute] = {}
        self._replica_urls: tuple[str, ...] | None = None
        self._owed: dict[str, set[str]] = {}
        """Reloads a replica still needs: its lists changed, or it read back old ones."""
        self._list_generation = 0
        self._loaded: dict[str, int] = {}
        """The list generation each replica was last reloaded with."""
        self._changed_at: float | None = None
        self._last_reload: dict[str, float] = {}
        self._reloaded_at: dict[str, float] = {}
        self.reloads: dict[str, int] = {}
        """Reloads sent per RPC method, all replicas counted, for tests and benchmarks."""

    # ---- inputs ----------------------------------------------------------------------

    def upsert(self, trunk: EdgeTrunk) -> None:
        """The trunk as it is now; the next sync renders it and reports its generation."""
        self._trunks[trunk.uid] = trunk
        self._dirty.set()

    def remove(self, uid: str) -> EdgeTrunk | None:
        """The trunk leaves the edge at the next sync."""
        gone = self._trunks.pop(uid, None)
        if gone is not None:
            self._dirty.set()
        return gone

    def request_sync(self) -> None:
        """Sync soon (a replica came back, or membership changed)."""
        self._dirty.set()

    # ---- what the health poller reads ---------------------------------------------

    def trunks(self) -> dict[str, EdgeTrunk]:
        """The trunks on the edge, by UID."""
        return dict(self._trunks)

    def set_id(self, uid: str) -> int | None:
        """The set ID the last sync used for the trunk."""
        return self._set_of.get(uid)

    def loaded_route(self, uid: str) -> TrunkRoute | None:
        """The trunk's route as last written: its set, spec and gateway addresses."""
        return self._routes.get(uid)

    def loaded_destinations(self, uid: str) -> list[Destination] | None:
        """The trunk's lines as last written; None before its first sync."""
        set_id = self._set_of.get(uid)
        return None if set_id is None else self._by_set.get(set_id, [])

    def reloaded_at(self, url: str) -> float:
        """When the replica last reloaded its dispatcher list (monotonic seconds)."""
        return self._reloaded_at.get(url, -1e9)

    async def replicas(self) -> list[KamailioRpc]:
        """The replicas now; a change in membership means a sync to verify newcomers."""
        replicas = await self.source.current()
        urls = tuple(r.url for r in replicas)
        for url in urls:
            track_replica(url)
        if self._replica_urls is not None and urls != self._replica_urls:
            log.info("SIP edge: Kamailio replicas now %s", ", ".join(urls) or "none")
            self._dirty.set()
        self._replica_urls = urls
        return replicas

    # ---- the loop ------------------------------------------------------------------

    async def run(self, acting: Callable[[], Awaitable[bool]],
                  ready: Callable[[], bool] = lambda: True,
                  first_sync_timeout: float = 120.0,
                  on_synced: Callable[[], None] = lambda: None) -> None:
        """Forever: wait for a change, let a burst settle, sync.

        The first write waits until ``ready`` (every SipTrunk that exists has been
        seen) or the timeout: writing before that would take the missing trunks' sets
        out of Kamailio for the time an operator restart takes.
        """
        refresh = asyncio.create_task(self.resolver.run(), name="gateway-names")
        try:
            await self._run(acting, ready, first_sync_timeout, on_synced)
        finally:
            refresh.cancel()

    async def _run(self, acting: Callable[[], Awaitable[bool]], ready: Callable[[], bool],
                   first_sync_timeout: float, on_synced: Callable[[], None]) -> None:
        deadline = self._clock() + first_sync_timeout
        while not ready() and self._clock() < deadline:
            await asyncio.sleep(0.5)
        while True:
            await self._dirty.wait()
            if not self._again:
                await asyncio.sleep(self.debounce)
            self._again = False
            if not await acting():
                await asyncio.sleep(1.0)
                continue
            self._dirty.clear()
            try:
                await self.sync_once()
            except Exception as error:
                if is_unreachable(error):  # the outage is logged once, by kube_outage
                    log.debug("syncing Kamailio: the Kubernetes API: %s; retrying", error)
                else:
                    log.exception("syncing Kamailio failed; retrying")
                await asyncio.sleep(self.reload_delta)
                self._dirty.set()
            on_synced()

    async def sync_once(self) -> None:
        """Render, publish, reload what changed, verify every replica, report per trunk."""
        trunks = dict(self._trunks)
        set_ids = assign_set_ids(trunks, self.owner.set_ids())
        answers = await self._gateway_addresses(trunks)
        routes = {uid: TrunkRoute(t.namespace, t.name, set_ids[uid], t.spec, t.kind.edge_tag,
                                  {n: answers[n] for n in t.spec.hostnames}
                                  if t.spec.hostnames else NO_NAMES)
                  for uid, t in trunks.items()}
        for uid, set_id in set_ids.items():
            if self.owner.facts(uid).set_id != set_id:
                await self.owner.report(uid, set_id=set_id, write=False)
        rendered = self._renderer.render(routes.values())
        try:
            changed = await self.sink.publish(rendered)
        except TooLarge as error:
            # Permanent until trunks change: say so on every trunk, do not retry.
            log.error("SIP edge: %s", error)
            await self._report(trunks, routes, _Outcome(rendered, 0, {}, [], [],
                                                        refused=str(error)))
            return
        self._rendered = rendered
        self._set_of = set_ids
        self._routes = routes
        self._by_set = {}
        for destination in rendered.destinations:
            self._by_set.setdefault(destination.set_id, []).append(destination)
        outcome = await self._reload_and_verify(rendered, changed.dispatcher,
                                                changed.addresses)
        log.info("SIP edge: %d trunk(s), %d destination(s); rewrote dispatcher=%s "
                 "addresses=%s; %d replica(s) verified, %d unreachable, %d to reload again",
                 len(routes), len(rendered.destinations), changed.dispatcher,
                 changed.addresses,
                 sum(1 for found in outcome.differences.values() if not found),
                 len(outcome.unreachable), len(outcome.waiting))
        await self._report(trunks, routes, outcome)
        if outcome.unreachable or outcome.waiting:
            # Try again: a restarted replica must get its entries back, and a mounted
            # ConfigMap shows the new lists only after the kubelet's next sync. An edge
            # agent loads them within a second: read back again soon, not one reload
            # spacing later.
            again = self._next_read_back() if self.sink.reloads_itself else self.reload_delta
            asyncio.get_running_loop().call_later(again, self._read_back_again)

    async def _gateway_addresses(self, trunks: dict[str, EdgeTrunk]
                                 ) -> dict[str, Answer | None]:
        """Every gateway name's cached addresses; names new to the edge are looked up
        first (bounded by the lookup timeout), so a new trunk is written whole."""
        names = {name for trunk in trunks.values() for name in trunk.spec.hostnames}
        self.resolver.retain(names)
        await self.resolver.settle()
        return {name: self.resolver.answer(name) for name in names}

    def _next_read_back(self) -> float:
        """Seconds to the next read-back while waiting for edge agents: ``verify_interval``
        right after a change, doubling up to ``reload_delta`` + 1 s, so that large lists
        are not read back from every replica several times a second for long."""
        since = 0.0 if self._changed_at is None else self._clock() - self._changed_at
        return min(max(self.verify_interval, since / 2), self.reload_delta + 1.0)

    def _read_back_again(self) -> None:
        """The retry of a sync: no debounce, no trunk change is settling."""
        self._again = True
        self._dirty.set()

    async def _reload_and_verify(self, rendered: Rendered, dispatcher_changed: bool,
                                 addresses_changed: bool) -> _Outcome:
        if self._changed_at is None or dispatcher_changed or addresses_changed:
            self._changed_at = self._clock()
        if dispatcher_changed or addresses_changed:
            self._list_generation += 1
        fresh = {method for method, did in ((DISPATCHER_RELOAD, dispatcher_changed),
                                            (ADDRESS_RELOAD, addresses_changed)) if did}
        replicas = await self.replicas()
        outcome = _Outcome(rendered, len(replicas), {}, [], [],
                           agents=self.sink.reloads_itself)
        for replica in replicas:
            url = replica.url
            owed = self._owed.pop(url, set()) | fresh
            if self.sink.reloads_itself:
                # The replica's edge agent reloads it; reloading here as well would reset
                # its gateway health a second time. The operator verifies only.
                owed = set()
                self._loaded[url] = self._list_generation
            try:
                for method in (DISPATCHER_RELOAD, ADDRESS_RELOAD):
                    if method in owed:
                        await self._reload(replica, method)
                if owed:
                    self._loaded[url] = self._list_generation
                servers, addresses = await self._verify(replica, rendered)
            except (Unreachable, RpcError) as error:
                outcome.unreachable.append(f"{url}: {error}")
                self._owed[url] = owed
                continue
            outcome.differences[url] = servers + addresses
            if outcome.differences[url] and self._retry_worthwhile(url):
                self._owed[url] = ({DISPATCHER_RELOAD} if servers else set()) | (
                    {ADDRESS_RELOAD} if addresses else set())
                outcome.waiting.append(url)
        return outcome

    def _retry_worthwhile(self, url: str) -> bool:
        """Whether a replica that read back other lists should be reloaded again.

        Yes if it has not been reloaded with these lists (it kept older ones across an
        operator restart), or if the sink is eventual and the change is recent enough
        that the kubelet may not have swapped the files yet. Otherwise the difference
        is Kamailio refusing a line, which another reload would not change.
        """
        if self._loaded.get(url) != self._list_generation:
            return True
        return (self.sink.eventual and self._changed_at is not None
                and self._clock() - self._changed_at < self.propagation_timeout)

    async def _reload(self, replica: KamailioRpc, method: str) -> None:
        key = f"{replica.url} {method}"
        wait = self._last_reload.get(key, -1e9) + self.reload_delta - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await replica.reload(method, reload_delta=self.reload_delta)
        except (Unreachable, RpcError):
            RELOAD_FAILURES.labels(replica.url, method.split(".")[0]).inc()
            raise
        self._last_reload[key] = self._clock()
        if method == DISPATCHER_RELOAD:
            self._reloaded_at[replica.url] = self._clock()
        self.reloads[method] = self.reloads.get(method, 0) + 1
        RELOADS.labels(replica.url, method.split(".")[0]).inc()

    async def _verify(self, replica: KamailioRpc, rendered: Rendered
                      ) -> tuple[list[str], list[str]]:
        """What the replica holds that differs: (dispatcher problems, address problems)."""
        servers = dispatcher_differences(rendered.destinations,
                                         await replica.dispatcher_list())
        addresses = address_differences(rendered.addresses, await replica.address_entries())
        if servers or addresses:
            VERIFICATION_FAILURES.labels(replica.url).inc()
        return servers, addresses

    async def _report(self, trunks: dict[str, EdgeTrunk], routes: dict[str, TrunkRoute],
                      outcome: _Outcome) -> None:
        for uid, trunk in trunks.items():
            route = routes[uid]
            await self.owner.report(uid, edge=EdgeReport(
                trunk.generation, *edge_verdict(route, outcome, repr(self.source))))


def edge_verdict(route: TrunkRoute, outcome: _Outcome, source: str
                 ) -> tuple[Any, str]:
    """(state, message) of one trunk after a sync: pure."""
    mine = f"set {route.set_id} "
    group = f"group {route.set_id} "
    problems = [f"{url}: {p}" for url, found in outcome.differences.items() for p in found
                if p.startswith(mine) or group in p]
    if outcome.refused is not None:
        return "Refused", f"not written to Kamailio: {outcome.refused}"
    if route.key in outcome.rendered.refused:
        return "Refused", f"not written to Kamailio: {outcome.rendered.refused[route.key]}"
    if outcome.replicas == 0 and not outcome.unreachable:
        return "NoReplicas", (f"no ready Kamailio replica to load set {route.set_id} "
                              f"({source})")
    if outcome.unreachable:
        return "Unreachable", "; ".join(outcome.unreachable)
    waiting = [url for url in outcome.waiting
               if any(p.startswith(f"{url}: ") for p in problems)]
    if problems and waiting:
        how = ("each pod's edge agent loads them; read back until it has" if outcome.agents
               else "a mounted ConfigMap changes after the kubelet's next sync; reloaded "
                    "again until it does")
        return "Pending", (f"waiting for {len(waiting)} Kamailio replica(s) to load the "
                           f"new lists for set {route.set_id} ({how})")
    if problems:
        return "Pending", "; ".join(problems)
    if not route.spec.gateways:
        return "Loaded", (f"no gateways to load (inbound only); the trunk's carrier "
                          f"addresses, group {route.set_id}, verified on "
                          f"{outcome.replicas} Kamailio replica(s)")
    return "Loaded", (f"set {route.set_id} loaded and verified on {outcome.replicas} "
                      "Kamailio replica(s)")

