"""Prometheus metrics: what the operator did, how Bolna answered, what Kamailio holds.

Labels stay bounded: Bolna calls by HTTP method and status (never by path, which holds
IDs); gateways by trunk and URI, and trunk conditions by trunk and one of the condition
types the operator writes, all removed when the trunk is. A trunk is its ``kind``
(SipTrunk or CarrierTrunk), namespace and name: a migration often runs a SipTrunk and a
CarrierTrunk of the same name side by side.

The chart's alerts and dashboard read these names (tests check them against a scrape of
the real operator). Two series exist for them in particular:

- ``bolna_sip_trunk_condition`` mirrors each trunk's conditions, one-hot over
  True/False/Unknown as kube-state-metrics does, so an alert can say "not Ready for 10
  minutes" per trunk without reading the Kubernetes API.
- ``bolna_sip_operator_acting`` says which replica acts under Kopf's peering. Only that
  replica writes status and gateway health; a standby keeps whatever it last exported,
  so alerts weigh per-trunk series by it, and alert when no replica acts at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONCILES = Counter("bolna_sip_reconciles", "Trunk reconciles by result",
                     ["result", "reason"])
BOLNA_REQUESTS = Counter("bolna_sip_bolna_requests", "HTTP attempts to Bolna's API",
                         ["method", "status"])
BOLNA_LATENCY = Histogram("bolna_sip_bolna_request_seconds", "Bolna API latency",
                          ["method"])
RELOADS = Counter("bolna_sip_kamailio_reloads", "Kamailio table reloads sent",
                  ["replica", "table"])
RELOAD_FAILURES = Counter("bolna_sip_kamailio_reload_failures",
                          "Kamailio table reloads that failed (unreachable or an RPC error)",
                          ["replica", "table"])
VERIFICATION_FAILURES = Counter(
    "bolna_sip_kamailio_verification_failures",
    "Replicas found not holding exactly what was written", ["replica"])
GATEWAY_HEALTHY = Gauge("bolna_sip_gateway_healthy",
                        "1 when the gateway answers OPTIONS, else 0",
                        ["kind", "namespace", "name", "gateway"])
KIND_SERVED = Gauge("bolna_sip_operator_kind_served",
                    "1 when the kind's CRD is installed and the operator serves it, 0 when "
                    "its CRD is absent (the log says how to install it)", ["kind"])
ACTING = Gauge("bolna_sip_operator_acting",
               "1 while this replica acts (Kopf peering), 0 while it stands by")

CONDITION_STATUSES = ("True", "False", "Unknown")
RELOAD_TABLES = ("dispatcher", "permissions")


def observe_bolna(method: str, status: str, seconds: float) -> None:
    """The Bolna client's observer."""
    BOLNA_REQUESTS.labels(method, status).inc()
    BOLNA_LATENCY.labels(method).observe(seconds)


class TrunkConditions(Collector):
    """``bolna_sip_trunk_condition``, made at each scrape from one small record per trunk.

    One Gauge child per series would be 18 objects per trunk (six condition types, three
    statuses): 148 MB at 10,000 trunks, measured. The series are the same either way.
    The metrics server's thread reads while the event loop writes, hence the lock.
    """

    NAME = "bolna_sip_trunk_condition"
    LABELS = ("kind", "namespace", "name", "condition", "status")

    def __init__(self) -> None:
        self._now: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}
        self._lock = threading.Lock()

    def set(self, trunk: tuple[str, str, str], statuses: tuple[tuple[str, str], ...]
            ) -> None:
        """A trunk's (condition type, status) pairs, as it has them now."""
        with self._lock:
            self._now[trunk] = statuses

    def forget(self, trunk: tuple[str, str, str]) -> None:
        """A deleted trunk's series go."""
        with self._lock:
            self._now.pop(trunk, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Every trunk's conditions, one-hot over True/False/Unknown."""
        family = GaugeMetricFamily(
            self.NAME, "1 for the status a trunk's condition has now, 0 for the others",
            labels=self.LABELS)
        with self._lock:
            now = list(self._now.items())
        for (kind, namespace, name), statuses in now:
            for condition, current in statuses:
                for status in CONDITION_STATUSES:
                    family.add_metric((kind, namespace, name, condition, status),
                                      1.0 if status == current else 0.0)
        yield family


TRUNK_CONDITIONS = TrunkConditions()
REGISTRY.register(TRUNK_CONDITIONS)


def record_conditions(kind: str, namespace: str, name: str, conditions: Any,
                      types: tuple[str, ...]) -> None:
    """Export a trunk's conditions as this process last knows them.

    Only ``types`` (the operator's own condition types) are exported, so a condition
    someone else adds to the status cannot grow the label set. A type the status does
    not carry yet is Unknown.
    """
    by_type = {c.get("type"): c.get("status") for c in conditions or ()
               if isinstance(c, dict)}
    statuses = []
    for condition in types:
        current = by_type.get(condition)
        statuses.append((condition, current if current in CONDITION_STATUSES else "Unknown"))
    TRUNK_CONDITIONS.set((kind, namespace, name), tuple(statuses))


def forget_trunk(kind: str, namespace: str, name: str, types: tuple[str, ...]) -> None:
    """Drop a deleted trunk's condition series (its gateways go with the SIP edge's)."""
    del types  # every type goes at once
    TRUNK_CONDITIONS.forget((kind, namespace, name))


def track_replica(url: str) -> None:
    """Start a Kamailio replica's counters at 0 when it is first seen.

    A counter that first appears at 1 shows no increase to ``rate()``, so the first
    failed reload or verification would go unnoticed by the alerts.
    """
    for table in RELOAD_TABLES:
        RELOADS.labels(url, table)
        RELOAD_FAILURES.labels(url, table)
    VERIFICATION_FAILURES.labels(url)


def serve(port: int, address: str) -> None:
    """Serve /metrics in a background thread."""
    start_http_server(port, addr=address)
