"""Prometheus metrics: what the operator did, how Bolna answered, what Kamailio holds.

Labels stay bounded: Bolna calls by HTTP method and status (never by path, which holds
IDs); gateways by trunk and URI, removed when the trunk is.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter("bolna_sip_reconciles", "Trunk reconciles by result",
                     ["result", "reason"])
BOLNA_REQUESTS = Counter("bolna_sip_bolna_requests", "HTTP attempts to Bolna's API",
                         ["method", "status"])
BOLNA_LATENCY = Histogram("bolna_sip_bolna_request_seconds", "Bolna API latency",
                          ["method"])
RELOADS = Counter("bolna_sip_kamailio_reloads", "Kamailio table reloads sent",
                  ["replica", "table"])
VERIFICATION_FAILURES = Counter(
    "bolna_sip_kamailio_verification_failures",
    "Replicas found not holding exactly what was written", ["replica"])
GATEWAY_HEALTHY = Gauge("bolna_sip_gateway_healthy",
                        "1 when the gateway answers OPTIONS, else 0",
                        ["namespace", "name", "gateway"])


def observe_bolna(method: str, status: str, seconds: float) -> None:
    """The Bolna client's observer."""
    BOLNA_REQUESTS.labels(method, status).inc()
    BOLNA_LATENCY.labels(method).observe(seconds)


def serve(port: int, address: str) -> None:
    """Serve /metrics in a background thread."""
    start_http_server(port, addr=address)
