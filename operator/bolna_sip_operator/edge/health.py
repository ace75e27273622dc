"""Gateway health, read from the Kamailio replicas that route the calls.

The poller asks each replica for ``dispatcher.list``, maps destinations back to trunks
by set ID, and reports a ``HealthReport`` for every trunk whose set is loaded, when its
gateways' health (or the generation it describes) changed. Steady state writes nothing.

A reload resets every destination in Kamailio to its file flags with counters and
latency zeroed: a dead gateway reads ``AP`` until its next probes fail, a live one until
its next probe is answered. So a gateway whose line did not change keeps the health it
had until Kamailio has probed it again (``next_health``); a reload for one trunk does
not make every other trunk's gateways Probing. Only gateways new to a set start from
Probing.

A gateway named by a hostname is one destination per address (``hostnames``): each
address gets its own health, the gateway the best of them (a call gets through while
one address answers). A name without addresses makes its gateway ``Unhealthy`` with
reason ``DNS`` and a message naming the spec field; one not looked up yet is
``Probing``.

A drained gateway (``edge.drain``) of an active trunk is written disabled; its ``D``
reads ``Draining`` (``drained``), never ``Disabled`` or ``Unhealthy``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..kamailio.health import Health, gateway_health
from ..kamailio.render import TRANSPORT_SUFFIX, EdgeGateway, TrunkRoute, is_hostname, sip_host
from ..kamailio.rpc import KamailioRpc, ListedDestination, RpcError, Unreachable, tls_failures
from ..metrics import GATEWAY_HEALTHY
from ..reconcile.conditions import now_rfc3339
from ..reconcile.objects import EventSink
from ..reconcile.observations import AddressReport, GatewayReport, HealthReport, Probing
from ..reconcile.status_owner import StatusOwner
from .counters import EDGE_COUNTERS, parse_stats
from .tables import EdgeTrunk, TableSync

log = logging.getLogger(__name__)

_PREFERENCE: tuple[Health, ...] = ("Healthy", "NotProbed", "Disabled", "Draining",
                                   "Probing", "Unhealthy", "Unknown")


def next_health(previous: Health | None, flags: str, sampled: bool) -> Health:
    """A gateway's health from Kamailio's flags, keeping the last verdict across a reset.

    ``sampled``: a probe was answered since the reload (or enough time passed that a
    dead gateway would have been marked). ``AP`` without a sample is what a reload
    leaves behind; it says nothing new, so the previous Healthy or Unhealthy stands.
    """
    fresh = gateway_health(flags, sampled)
    if fresh == "Probing" and flags[:1] == "A" and previous in ("Healthy", "Unhealthy"):
        return previous
    return fresh


def drained(health: Health, gateway: EdgeGateway, route: TrunkRoute) -> Health:
    """``Draining`` for a drained gateway's destination that Kamailio holds disabled (an
    inactive trunk's gateways stay ``Disabled``: the trunk, not the drain, stops them)."""
    if gateway.drain and route.spec.active and health == "Disabled":
        return "Draining"
    return health


def best(healths: list[Health]) -> Health:
    """Across replicas a gateway counts as up if any replica reaches it."""
    return min(healths, key=_PREFERENCE.index) if healths else "Unknown"


def probing_of(trunk: EdgeTrunk) -> Probing:
    """Whether Kamailio probes the trunk's gateways at all."""
    if not trunk.spec.active:
        return "Inactive"
    return "On" if trunk.spec.probing else "Off"


@dataclass(frozen=True)
class _Sample:
    listed: ListedDestination
    settled: bool


class HealthPoller:
    """Reads health from every replica; reports per trunk; posts GatewayDown/Up Events."""

    def __init__(self, tables: TableSync, owner: StatusOwner, events: EventSink, *,
                 probe_settle: float = 30.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.tables = tables
        self.owner = owner
        self.events = events
        self.probe_settle = probe_settle
        """Seconds after a reload by which a dead gateway has failed its probes: an
        ``AP`` entry older than this is Healthy even without a latency sample."""
        self._clock = clock
        self._last: dict[tuple[int, str], GatewayReport] = {}
        self._settled: dict[tuple[int, str], Health] = {}
        self._exported: dict[int, set[str]] = {}
        self._tls_failures: dict[str, str] = {}
        """TLS gateways' handshake failures (URI -> why) from every replica's tlsfail."""
        self._edge_tls = True
        """False when a replica answered without TLS (no tls.so)."""

    def forget(self, set_id: int | None) -> None:
        """A trunk left the edge: its gateways' memory and metric series go."""
        for key in [k for k in self._last if k[0] == set_id]:
            self._last.pop(key, None)
            self._settled.pop(key, None)
        self._exported.pop(set_id or 0, None)

    async def poll_once(self) -> None:
        """One poll of every replica, then one report per trunk whose health changed."""
        samples: dict[tuple[int, str], list[_Sample]] = {}
        replicas = await self.tables.replicas()
        counters: dict[str, dict[str, int]] = {}
        self._tls_failures, self._edge_tls = {}, True
        # Only with a transport-tls trunk on the edge: two RPCs more per replica.
        tls_trunks = any(t.spec.transport == "tls" for t in self.tables.trunks().values())
        for replica in replicas:
            settled = self._clock() - self.tables.reloaded_at(replica.url) >= self.probe_settle
            try:
                listed = await replica.dispatcher_list()
            except (Unreachable, RpcError) as error:
                log.debug("health: %s unreachable: %s", replica.url, error)
                self.tables.request_sync()  # when it is back, the sync verifies it again
                continue
            for destination in listed:
                samples.setdefault((destination.set_id, destination.uri), []).append(
                    _Sample(destination, settled))
            try:
                counters[replica.url] = parse_stats(await replica.edge_counters())
            except (Unreachable, RpcError) as error:
                # A Kamailio with a config of its own may not count (no kex, no stats).
                log.debug("health: no edge counters from %s: %s", replica.url, error)
            if tls_trunks:
                await self._read_tls(replica)
        EDGE_COUNTERS.update((replica.url for replica in replicas), counters)
        for uid, trunk in self.tables.trunks().items():
            edge = self.owner.reports(uid).edge
            route = self.tables.loaded_route(uid)
            if edge is None or edge.state != "Loaded" or route is None:
                continue
            await self._report(uid, trunk, edge.generation, route, samples)

    # ----- TLS towards carriers (agent/tls.py, kamailio.cfg "TLS towards carriers") -----

    async def _read_tls(self, replica: KamailioRpc) -> None:
        """A replica's TLS verdicts (htable tlsfail, written by its edge agent), and
        whether it speaks TLS at all (tls.info answers only with tls.so loaded)."""
        failures = await tls_failures(replica)
        self._tls_failures.update(failures or {})
        try:
            await replica.call("tls.info")
        except RpcError:
            self._edge_tls = False
        except Unreachable:
            pass

    def _tls_reason(self, route: TrunkRoute, uri: str, field: str) -> str | None:
        """Why a TLS gateway's line fails TLS, as the status message; None if it does not
        (or the trunk is not transport-tls)."""
        if route.spec.transport != "tls":
            return None
        if not self._edge_tls:
            return (f"{field}: the SIP edge speaks no TLS (Kamailio without WITH_TLS): "
                    "set kamailio.tls in the chart")
        found = self._tls_failures.get(uri)
        return f"{field}: {found}" if found else None

    def _one(self, key: tuple[int, str], found: list[_Sample]
             ) -> tuple[Health, str | None, float | None, str]:
        """(health, flags, latency, since) of one destination from every replica."""
        before = self._last.get(key)
        health = best([next_health(before.health if before else None, s.listed.flags,
                                   s.listed.sampled or s.settled) for s in found])
        latencies = [s.listed.latency_avg for s in found if s.listed.latency_avg]
        since = (before.since if before is not None and before.health == health
                 and before.since else now_rfc3339())
        return (health, found[0].listed.flags if found else None,
                round(min(latencies), 2) if latencies else None, since)

    def _gateway(self, route: TrunkRoute, gateway: EdgeGateway,
                 samples: dict[tuple[int, str], list[_Sample]]
                 ) -> tuple[GatewayReport, list[tuple[tuple[int, str], GatewayReport]]]:
        """One gateway's report, and what to remember per destination key."""
        suffix = TRANSPORT_SUFFIX[route.spec.transport]
        set_id, port = route.set_id, gateway.port
        if not is_hostname(gateway.address):
            uri = f"sip:{sip_host(gateway.address)}:{port}{suffix}"
            key = (set_id, uri)
            state, flags, latency, since = self._one(key, samples.get(key, []))
            state = drained(state, gateway, route)
            tls = self._tls_reason(route, uri, gateway.field)
            if tls is not None and state not in ("Disabled", "Draining", "NotProbed"):
                state = "Unhealthy"
            single = GatewayReport(gateway.address, port, uri, gateway.priority, state,
                                   flags, latency, since, None, "TLS" if tls else None,
                                   tls[:1000] if tls else None)
            return single, [(key, single)]
        name_uri = f"sip:{gateway.address}:{port}{suffix}"
        name_key = (set_id, name_uri)
        answer = route.resolved.get(gateway.address)
        remember: list[tuple[tuple[int, str], GatewayReport]] = []
        addresses = []
        tls_messages: list[str] = []
        for address in answer.addresses if answer is not None else ():
            uri = f"sip:{sip_host(address)}:{port}{suffix}"
            key = (set_id, uri)
            state, flags, latency, since = self._one(key, samples.get(key, []))
            state = drained(state, gateway, route)
            tls = self._tls_reason(route, uri, gateway.field)
            if tls is not None and state not in ("Disabled", "Draining", "NotProbed"):
                state = "Unhealthy"
                tls_messages.append(tls)
            addresses.append(AddressReport(address, uri, state, flags, latency, since))
            remember.append((key, GatewayReport(gateway.address, port, uri,
                                                gateway.priority, state, flags, latency,
                                                since)))
        reason = message = None
        if answer is None:
            health: Health = "Probing"
            message = f"{gateway.field}: looking up {gateway.address}"
        elif not addresses:
            health, reason = "Unhealthy", "DNS"
            message = (f"{gateway.field}: {gateway.address} {answer.error}: check the name "
                       "in spec and the carrier's DNS")
        else:
            health = best([a.health for a in addresses])
            if answer.error:
                reason, message = "DNS", f"{gateway.field}: {gateway.address} {answer.error}"
            elif tls_messages:
                reason, message = "TLS", tls_messages[0]
        latencies = [a.latency_ms for a in addresses
                     if a.latency_ms is not None and a.health == "Healthy"]
        before = self._last.get(name_key)
        since = (before.since if before is not None and before.health == health
                 and before.since else now_rfc3339())
        report = GatewayReport(gateway.address, port, name_uri, gateway.priority, health,
                               None, min(latencies) if latencies else None, since,
                               tuple(addresses), reason, message[:1000] if message else None)
        return report, [*remember, (name_key, report)]

    async def _report(self, uid: str, trunk: EdgeTrunk, generation: int, route: TrunkRoute,
                      samples: dict[tuple[int, str], list[_Sample]]) -> None:
        gateways: list[GatewayReport] = []
        remember: list[tuple[tuple[int, str], GatewayReport]] = []
        for _, spec_gateway in sorted(enumerate(route.spec.gateways),
                                      key=lambda item: (item[1].priority, item[0])):
            one, keys = self._gateway(route, spec_gateway, samples)
            gateways.append(one)
            remember += keys
        report = HealthReport(generation, tuple(gateways), probing_of(trunk))
        previous = self.owner.reports(uid).health
        if previous is not None and _same_health(previous, report):
            return  # latency moves every poll; only health changes are worth a write
        for key, kept in remember:
            self._last[key] = kept
        exported = self._exported.setdefault(route.set_id, set())
        for gateway in gateways:
            self._transition(trunk, (route.set_id, gateway.uri), gateway)
            labels = (trunk.kind.kind, trunk.namespace, trunk.name, gateway.uri)
            if gateway.health == "Draining":
                # Drained on purpose: no series, so no GatewayDown alert for it.
                exported.discard(gateway.uri)
                with contextlib.suppress(KeyError):
                    GATEWAY_HEALTHY.remove(*labels)
                continue
            exported.add(gateway.uri)
            GATEWAY_HEALTHY.labels(*labels).set(1 if gateway.health == "Healthy" else 0)
        await self.owner.report(uid, health=report)

    def uris(self, set_id: int | None) -> list[str]:
        """The gateway URIs the poller exported for a set (metric series to remove)."""
        return sorted(self._exported.get(set_id or 0, ()))

    def _transition(self, trunk: EdgeTrunk, key: tuple[int, str], gateway: GatewayReport
                    ) -> None:
        # Probing sits between the two states people care about; Events count
        # transitions between those.
        was = self._settled.get(key)
        if gateway.health == "Unhealthy" and was not in (None, "Unhealthy"):
            self.events(trunk.body, "Warning", "GatewayDown",
                        f"gateway {gateway.uri}: {gateway.message}" if gateway.reason
                        else f"gateway {gateway.uri} stopped answering OPTIONS")
        elif gateway.health == "Healthy" and was == "Unhealthy":
            self.events(trunk.body, "Normal", "GatewayUp",
                        f"gateway {gateway.uri} answers OPTIONS again")
        if gateway.health != "Probing":
            self._settled[key] = gateway.health

    def seed(self, uid: str, set_id: int) -> None:
        """After a restart: the health the last operator reported is the previous one."""
        health = self.owner.reports(uid).health
        if health is None:
            return
        for gateway in health.gateways:
            key = (set_id, gateway.uri)
            self._last.setdefault(key, gateway)
            if gateway.health in ("Healthy", "Unhealthy"):
                self._settled.setdefault(key, gateway.health)
            for address in gateway.addresses or ():
                self._last.setdefault((set_id, address.uri), GatewayReport(
                    gateway.gateway_address, gateway.port, address.uri, gateway.priority,
                    address.health, address.flags, address.latency_ms, address.since))


def _same_health(a: HealthReport, b: HealthReport) -> bool:
    return (a.generation == b.generation and a.probing == b.probing
            and [_shape(g) for g in a.gateways] == [_shape(g) for g in b.gateways])


def _shape(gateway: GatewayReport) -> tuple[object, ...]:
    """What of a gateway's report is worth a status write (not latency)."""
    return (gateway.uri, gateway.health, gateway.priority, gateway.reason, gateway.message,
            None if gateway.addresses is None
            else tuple((a.uri, a.health) for a in gateway.addresses))
