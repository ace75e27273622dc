"""The SIP edge's protection counters, read from every Kamailio replica, as Prometheus counters.

``kamailio.cfg`` counts what it drops and refuses in statistics of its own (group
``script``, see its "Protection" section); the health poller reads them from each
replica with ``stats.fetch`` on every poll and hands them here. They are exported as
``bolna_sip_edge_<name>_total{replica}``, a replica being its JSON-RPC URL as in the
reload metrics. A Kamailio restart starts its counters at 0 again, which ``rate()``
reads as a counter reset. A replica that is no longer one (its pod gone) loses its
series at the next poll; one that did not answer keeps its last values.

As with gateway health, only the acting operator replica polls: a standby keeps
exporting what it last read, unchanging, which ``rate()`` reads as nothing happening.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

#: Kamailio statistic -> (metric name without _total, help).
COUNTERS: dict[str, tuple[str, str]] = {
    "edge_flood_bans": (
        "bolna_sip_edge_flood_bans",
        "Sources the SIP edge banned for sending more than its flood rate"),
    "edge_flood_drops": (
        "bolna_sip_edge_flood_drops",
        "Requests the SIP edge dropped unanswered because their source is banned"),
    "edge_scanner_drops": (
        "bolna_sip_edge_scanner_drops",
        "Requests the SIP edge dropped unanswered for a SIP scanner's User-Agent"),
    "edge_call_limit_refusals": (
        "bolna_sip_edge_call_limit_refusals",
        "INVITEs the SIP edge refused (503) over their trunk's channel limit"),
    "edge_gateway_retry_after": (
        "bolna_sip_edge_gateway_retry_after",
        "Gateways the SIP edge took out of selection after a 503 with Retry-After"),
}


def parse_stats(result: object) -> dict[str, int]:
    """``stats.fetch script:``'s answer (``{"script.edge_flood_bans": "3", ...}``) as the
    known counters; anything else in it is ignored."""
    counters: dict[str, int] = {}
    if not isinstance(result, Mapping):
        return counters
    for key, value in result.items():
        name = str(key).removeprefix("script.")
        if name in COUNTERS:
            try:
                counters[name] = int(value)
            except (TypeError, ValueError):
                continue
    return counters


class EdgeCounters(Collector):
    """The last counters read from each replica; families made at each scrape."""

    def __init__(self) -> None:
        self._now: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def update(self, replicas: Iterable[str], read: Mapping[str, Mapping[str, int]]) -> None:
        """One poll: ``read`` holds the counters of the replicas that answered;
        replicas not in ``replicas`` any more are forgotten."""
        current = set(replicas)
        with self._lock:
            for url in [url for url in self._now if url not in current]:
                del self._now[url]
            for url, counters in read.items():
                if url in current:
                    self._now[url] = dict(counters)

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One family per counter, a sample per replica."""
        with self._lock:
            now = {url: dict(counters) for url, counters in self._now.items()}
        for stat, (name, documentation) in COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=("replica",))
            for url, counters in sorted(now.items()):
                if stat in counters:
                    family.add_metric((url,), float(counters[stat]))
            yield family


EDGE_COUNTERS = EdgeCounters()
REGISTRY.register(EDGE_COUNTERS)
