"""The SIP edge: one writer for Kamailio's tables, and one reader of gateway health.

``EdgeSync`` keeps every Kamailio replica loaded with one dispatcher set per SipTrunk
(and, for ip-based trunks, permissions address entries). Trunk reconciles only mark the
tables dirty; one debounced loop renders all trunks, publishes through the sink,
reloads each replica that needs it (a reload resets Kamailio's health state, and
concurrent reloads have crashed Kamailio, so: only on change, one at a time, spaced by
``reload_delta``), and then reads back what each replica holds, because Kamailio skips
a bad line and still answers "Ok". A burst of a thousand changes is one write and one
reload per replica.

Replicas come from a ``ReplicaSource``: a fixed list, or the ready endpoints of
Kamailio's Service. A sink may be *eventual* (a ConfigMap the pods mount shows a write
only after the kubelet's next sync): a replica that reads back old lists is reloaded
again, spaced by ``reload_delta``, until it matches or ``propagation_timeout`` passes.
With several operator replicas, only the one Kopf's peering lets act runs these loops.

The health loop polls ``dispatcher.list`` on each replica, maps destinations back to
trunks by set ID, and writes a trunk's status only when its gateways' health changed,
with a GatewayDown or GatewayUp Event for each transition. Steady state writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from ..kamailio.discovery import ReplicaSource, StaticReplicas
from ..kamailio.health import Health, gateway_health, healthy_count
from ..kamailio.render import Destination, Rendered, Renderer, TrunkRoute, allocate_set_id
from ..kamailio.rpc import KamailioRpc, ListedDestination, RpcError, Unreachable
from ..kamailio.sink import Sink, TooLarge
from ..kamailio.verify import address_differences, dispatcher_differences
from ..metrics import (
    GATEWAY_HEALTHY,
    RELOAD_FAILURES,
    RELOADS,
    VERIFICATION_FAILURES,
    track_replica,
)
from ..model.spec import SipTrunkSpec
from .conditions import Verdict, now_rfc3339
from .trunk import EventSink, TrunkObject

log = logging.getLogger(__name__)


class StatusStore(Protocol):
    """Where the edge reads set IDs and writes its findings: the trunk reconciler, which
    serialises every status write of a trunk (see ``TrunkReconciler.update_status``)."""

    async def update_status(self, obj: TrunkObject, changes: dict[str, Any],
                            verdicts: list[Verdict]) -> bool: ...

    def latest_status(self, obj: TrunkObject) -> dict[str, Any]: ...


@dataclass
class _Trunk:
    obj: TrunkObject
    spec: SipTrunkSpec


class EdgeSync:
    """The single writer of Kamailio's tables and the reader of gateway health."""

    def __init__(self, sink: Sink, replicas: Sequence[KamailioRpc] | ReplicaSource,
                 status: StatusStore, events: EventSink, *, reload_delta: float = 5.0,
                 debounce: float = 0.5, expected: Callable[[], set[str]] | None = None,
                 probe_settle: float = 30.0, propagation_timeout: float = 180.0,
                 acting: Callable[[], Awaitable[bool]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.source: ReplicaSource = (StaticReplicas(replicas)
                                      if isinstance(replicas, Sequence) else replicas)
        self.propagation_timeout = propagation_timeout
        self._acting = acting
        self._standby = False
        self._replica_urls: tuple[str, ...] | None = None
        self._owed: dict[str, set[str]] = {}
        """Reloads a replica still needs: its lists changed, or it read back old ones."""
        self._generation = 0
        self._loaded: dict[str, int] = {}
        """The list generation each replica was last reloaded with."""
        self._changed_at: float | None = None
        self._health_due = asyncio.Event()
        self.status = status
        self.events = events
        self.reload_delta = reload_delta
        self.debounce = debounce
        self._clock = clock
        self._trunks: dict[str, _Trunk] = {}
        self._dirty = asyncio.Event()
        self._last_reload: dict[str, float] = {}
        self._rendered = Rendered()
        self._renderer = Renderer()
        self._health: dict[str, list[Health]] = {}
        self._settled: dict[str, dict[str, Health]] = {}
        self._uids: dict[str, str] = {}
        self._expected = expected
        self.probe_settle = probe_settle
        """Seconds after a reload by which a dead gateway has failed its probes: an
        ``AP`` entry older than this is Healthy even without a latency sample."""
        self._reloaded_at: dict[str, float] = {}
        self._seen: set[str] = set()
        self.reloads: dict[str, int] = {}
        """Reloads sent per RPC method, all replicas counted, for tests and benchmarks."""

    # ---- inputs from the handlers ------------------------------------------------

    def upsert(self, obj: TrunkObject) -> None:
        """A trunk's spec as it is now; invalid specs are left out (status says why)."""
        self._seen.add(obj.uid)
        try:
            spec = SipTrunkSpec.model_validate(obj.spec)
        except ValidationError:
            self.remove(obj.uid)
            return
        known = self._trunks.get(obj.uid)
        if known is None or known.spec != spec or known.obj.name != obj.name:
            self._trunks[obj.uid] = _Trunk(obj, spec)
            self._dirty.set()
        else:
            known.obj = obj

    def remove(self, uid: str) -> None:
        """A trunk deleted (or no longer valid): its entries go at the next sync."""
        gone = self._trunks.get(uid)
        if gone is not None:
            for destination in self._rendered.destinations:
                if destination.attrs.endswith(f"trunk={gone.obj.namespace}/{gone.obj.name}"):
                    GATEWAY_HEALTHY.remove(gone.obj.namespace, gone.obj.name, destination.uri)
        if self._trunks.pop(uid, None) is not None:
            self._health.pop(uid, None)
            self._settled.pop(uid, None)
            self._dirty.set()

    async def aclose(self) -> None:
        """Close the replicas' connections."""
        await self.source.aclose()

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
            log.warning("cannot read the peering object (%s); the SIP edge waits", error)
            active = False
        if not active:
            if not self._standby:
                log.info("SIP edge: another operator replica acts; this one waits")
            self._standby = True
        elif self._standby:
            log.info("SIP edge: this operator replica acts now")
            self._standby = False
            self._dirty.set()
        return active

    async def _replicas(self) -> list[KamailioRpc]:
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

    # ---- the sync loop -------------------------------------------------------------

    async def run_sync(self, first_sync_timeout: float = 120.0) -> None:
        """Forever: wait for a change, let a burst settle, sync.

        The first write waits until every SipTrunk that exists has been seen (or the
        timeout passes): writing before that would take the missing trunks' sets out of
        Kamailio for the time an operator restart takes.
        """
        deadline = self._clock() + first_sync_timeout
        while self._expected is not None and self._clock() < deadline:
            missing = self._expected() - self._seen
            if not missing:
                break
            log.debug("SIP edge: waiting for %d SipTrunk(s) before the first write",
                      len(missing))
            await asyncio.sleep(0.5)
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            if not await self.acting():
                await asyncio.sleep(1.0)
                continue
            self._dirty.clear()
            try:
                await self.sync_once()
            except Exception:
                log.exception("syncing Kamailio failed; retrying")
                await asyncio.sleep(self.reload_delta)
                self._dirty.set()

    async def sync_once(self) -> None:
        """Render, publish, reload what changed, verify every replica, report per trunk."""
        routes = await self._routes()
        rendered = self._renderer.render(routes)
        try:
            changed = await self.sink.publish(rendered)
        except TooLarge as error:
            # Permanent until trunks change: say so on every trunk, do not retry.
            log.error("SIP edge: %s", error)
            await self._report(routes, rendered, {}, [], refused=str(error))
            return
        self._rendered = rendered
        if self._changed_at is None or changed.dispatcher or changed.addresses:
            self._changed_at = self._clock()
        if changed.dispatcher or changed.addresses:
            self._generation += 1
        fresh = {method for method, did in ((DISPATCHER_RELOAD, changed.dispatcher),
                                            (ADDRESS_RELOAD, changed.addresses)) if did}
        replicas = await self._replicas()
        outcomes: dict[str, list[str]] = {}
        unreachable: list[str] = []
        waiting: list[str] = []
        for replica in replicas:
            url = replica.url
            owed = self._owed.pop(url, set()) | fresh
            try:
                for method in (DISPATCHER_RELOAD, ADDRESS_RELOAD):
                    if method in owed:
                        await self._reload(replica, method)
                if owed:
                    self._loaded[url] = self._generation
                servers, addresses = await self._verify(replica, rendered)
            except (Unreachable, RpcError) as error:
                unreachable.append(f"{url}: {error}")
                self._owed[url] = owed
                continue
            outcomes[url] = servers + addresses
            if outcomes[url] and self._retry_worthwhile(url):
                self._owed[url] = ({DISPATCHER_RELOAD} if servers else set()) | (
                    {ADDRESS_RELOAD} if addresses else set())
                waiting.append(url)
        log.info("SIP edge: %d trunk(s), %d destination(s); rewrote dispatcher=%s "
                 "addresses=%s; %d replica(s) verified, %d unreachable, %d to reload again",
                 len(routes), len(rendered.destinations), changed.dispatcher,
                 changed.addresses, sum(1 for found in outcomes.values() if not found),
                 len(unreachable), len(waiting))
        await self._report(routes, rendered, outcomes, unreachable, waiting=waiting,
                           replicas=len(replicas))
        self._health_due.set()
        if unreachable or waiting:
            # Try again: a restarted replica must get its entries back, and a mounted
            # ConfigMap shows the new lists only after the kubelet's next sync.
            asyncio.get_running_loop().call_later(self.reload_delta, self._dirty.set)

    def _retry_worthwhile(self, url: str) -> bool:
        """Whether a replica that read back other lists should be reloaded again.

        Yes if it has not been reloaded with these lists (it kept older ones across an
        operator restart), or if the sink is eventual and the change is recent enough
        that the kubelet may not have swapped the files yet. Otherwise the difference
        is Kamailio refusing a line, which another reload would not change.
        """
        if self._loaded.get(url) != self._generation:
            return True
        return (self.sink.eventual and self._changed_at is not None
                and self._clock() - self._changed_at < self.propagation_timeout)

    async def _routes(self) -> list[TrunkRoute]:
        taken: dict[int, str] = {}
        routes = []
        pending = []
        for uid, trunk in sorted(self._trunks.items(), key=lambda item: item[0]):
            set_id = ((self.status.latest_status(trunk.obj).get("dispatcher") or {})
                      .get("setId"))
            self._uids[f"{trunk.obj.namespace}/{trunk.obj.name}"] = uid
            if isinstance(set_id, int) and set_id not in taken:
                taken[set_id] = uid
                routes.append(TrunkRoute(trunk.obj.namespace, trunk.obj.name, set_id,
                                         trunk.spec))
            else:
                pending.append(trunk)
        for trunk in pending:
            set_id = allocate_set_id(taken)
            taken[set_id] = trunk.obj.uid
            await self.status.update_status(trunk.obj, {"dispatcher": {"setId": set_id}}, [])
            routes.append(TrunkRoute(trunk.obj.namespace, trunk.obj.name, set_id, trunk.spec))
        return routes

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
        if method == "dispatcher.reload":
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

    async def _report(self, routes: list[TrunkRoute], rendered: Rendered,
                      outcomes: dict[str, list[str]], unreachable: list[str], *,
                      waiting: Sequence[str] = (), replicas: int = 0,
                      refused: str | None = None) -> None:
        count = replicas
        for route in routes:
            trunk = self._trunks.get(self._uids.get(route.key, ""))
            if trunk is None:
                continue
            mine = f"set {route.set_id} "
            problems = [f"{url}: {p}" for url, found in outcomes.items() for p in found
                        if p.startswith(mine) or f"group {route.set_id} " in p]
            if refused is not None:
                verdict = Verdict("DispatcherSynced", "False", "Pending",
                                  f"not written to Kamailio: {refused}")
            elif route.key in rendered.refused:
                verdict = Verdict("DispatcherSynced", "False", "Pending",
                                  f"not written to Kamailio: {rendered.refused[route.key]}")
            elif count == 0 and not unreachable:
                verdict = Verdict("DispatcherSynced", "False", "NoReplicas",
                                  f"no ready Kamailio replica to load set {route.set_id} "
                                  f"({self.source!r})")
            elif unreachable:
                verdict = Verdict("DispatcherSynced", "False", "Unreachable",
                                  "; ".join(unreachable))
            elif problems and any(url in waiting for url in outcomes):
                verdict = Verdict("DispatcherSynced", "False", "Pending",
                                  "waiting for Kamailio to load the new lists (a mounted "
                                  "ConfigMap changes after the kubelet's next sync); "
                                  + "; ".join(problems))
            elif problems:
                verdict = Verdict("DispatcherSynced", "False", "Pending", "; ".join(problems))
            else:
                verdict = Verdict("DispatcherSynced", "True", "Loaded",
                                  f"set {route.set_id} loaded and verified on {count} "
                                  f"Kamailio replica(s)")
            await self.status.update_status(trunk.obj, {}, [verdict])

    # ---- the health loop -----------------------------------------------------------

    async def run_health(self, interval: float) -> None:
        """Forever: read gateway health from Kamailio; write only what changed.

        A sync wakes the loop early: a trunk just loaded with probing off is Ready as
        soon as its set is verified, not up to one interval later.
        """
        while True:
            self._health_due.clear()
            try:
                await self.health_once()
            except Exception:
                log.exception("reading gateway health from Kamailio failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._health_due.wait(), timeout=interval)

    async def health_once(self) -> None:
        """One poll of every replica; a gateway counts as up if any replica reaches it."""
        if not await self.acting():
            return
        listed: list[tuple[ListedDestination, bool]] = []
        for replica in await self._replicas():
            settled = (self._clock() - self._reloaded_at.get(replica.url, -1e9)
                       >= self.probe_settle)
            try:
                listed.extend((d, settled) for d in await replica.dispatcher_list())
            except (Unreachable, RpcError) as error:
                log.debug("health: %s unreachable: %s", replica.url, error)
                self._dirty.set()  # when it is back, the sync loop verifies it again
        by_key: dict[tuple[int, str], list[tuple[ListedDestination, bool]]] = {}
        for destination, settled in listed:
            by_key.setdefault((destination.set_id, destination.uri), []).append(
                (destination, settled))
        written = {(d.set_id, d.uri): d for d in self._rendered.destinations}
        for uid, trunk in list(self._trunks.items()):
            set_id = (self.status.latest_status(trunk.obj).get("dispatcher") or {}).get("setId")
            mine = sorted((d for d in written.values() if d.set_id == set_id),
                          key=lambda d: (d.bolna_priority, -d.priority))
            if not mine:
                continue
            await self._write_health(uid, trunk, mine, by_key)

    async def _write_health(self, uid: str, trunk: _Trunk, mine: list[Destination],
                            by_key: dict[tuple[int, str], list[tuple[ListedDestination, bool]]]
                            ) -> None:
        previous = self._health.get(uid)
        healths: list[Health] = []
        gateways: list[dict[str, Any]] = []
        old = {(g.get("uri")): g for g in
               self.status.latest_status(trunk.obj).get("gateways") or ()}
        for destination in mine:
            found = by_key.get((destination.set_id, destination.uri), [])
            seen = [listed for listed, _ in found]
            health = _best([gateway_health(s.flags, s.sampled or settled)
                            for s, settled in found])
            healths.append(health)
            before = old.get(destination.uri) or {}
            latencies = [s.latency_avg for s in seen if s.latency_avg]
            gateways.append({
                "gatewayAddress": destination.gateway_address, "port": destination.port,
                "uri": destination.uri, "priority": destination.bolna_priority,
                "health": health, "flags": seen[0].flags if seen else None,
                "latencyMs": round(min(latencies), 2) if latencies else None,
                "lastTransitionTime": before.get("lastTransitionTime")
                if before.get("health") == health else now_rfc3339(),
            })
        if previous == healths and len(old) == len(gateways):
            return  # latency moves every poll; only health changes are worth a write
        self._health[uid] = healths
        for destination, health in zip(mine, healths, strict=True):
            GATEWAY_HEALTHY.labels(trunk.obj.namespace, trunk.obj.name,
                                   destination.uri).set(1 if health == "Healthy" else 0)
        settled = self._settled.setdefault(uid, {})
        for gateway, health in zip(gateways, healths, strict=True):
            # Probing (Kamailio's T: failing, still selected) sits between the two
            # states people care about; transitions are counted between those.
            was = settled.get(gateway["uri"])
            if health == "Unhealthy" and was not in (None, "Unhealthy"):
                self.events(trunk.obj.body, "Warning", "GatewayDown",
                            f"gateway {gateway['uri']} stopped answering OPTIONS")
            elif health == "Healthy" and was == "Unhealthy":
                self.events(trunk.obj.body, "Normal", "GatewayUp",
                            f"gateway {gateway['uri']} answers OPTIONS again")
            if health != "Probing":
                settled[gateway["uri"]] = health
        await self.status.update_status(
            trunk.obj, {"gateways": gateways, "healthyGateways": healthy_count(healths)},
            [_gateways_verdict(healths, trunk.spec)])


DISPATCHER_RELOAD = "dispatcher.reload"
ADDRESS_RELOAD = "permissions.addressReload"


def _best(healths: list[Health]) -> Health:
    order: list[Health] = ["Healthy", "NotProbed", "Disabled", "Probing", "Unhealthy",
                           "Unknown"]
    return min(healths, key=order.index) if healths else "Unknown"


def _gateways_verdict(healths: list[Health], spec: SipTrunkSpec) -> Verdict:
    total = len(healths)
    healthy = sum(1 for h in healths if h == "Healthy")
    if not spec.active or spec.qualifyFrequency == 0:
        return Verdict("GatewaysHealthy", "True", "ProbingDisabled",
                       "OPTIONS probing is off for this trunk" if spec.active
                       else "the trunk is inactive; its gateways are disabled")
    if healthy == total:
        return Verdict("GatewaysHealthy", "True", "AllHealthy",
                       f"{healthy}/{total} gateways answer OPTIONS")
    if "Unhealthy" in healths and healthy == 0:
        return Verdict("GatewaysHealthy", "False", "AllUnhealthy",
                       f"0/{total} gateways answer OPTIONS")
    if "Unhealthy" in healths:
        return Verdict("GatewaysHealthy", "False", "SomeUnhealthy",
                       f"{healthy}/{total} gateways answer OPTIONS")
    return Verdict("GatewaysHealthy", "Unknown", "Probing",
                   f"{healthy}/{total} gateways confirmed so far; probing")

