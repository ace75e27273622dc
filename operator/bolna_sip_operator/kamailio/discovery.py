"""Which Kamailio replicas there are: a fixed list, or a Service's ready endpoints.

In a cluster, Kamailio pods come and go (rollouts, rescheduling, scaling), so the
replicas to reload and verify are read from the EndpointSlices of Kamailio's Service,
the same source kube-proxy uses. Only ready endpoints count: a pod that is starting or
terminating is not routing calls, and a reload it cannot answer would only mark every
trunk Unreachable. A pod that becomes ready is picked up at the next poll and verified;
it mounted the current lists when it started.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from .rpc import KamailioRpc

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label the EndpointSlice controller puts on every slice of a Service."""


class ReplicaSource(Protocol):
    """Where the sync and health loops learn the replicas they talk to."""

    async def current(self) -> list[KamailioRpc]:
        """The replicas as of now (the same client object for the same URL)."""
        ...

    async def aclose(self) -> None:
        """Close every client's connection pool."""
        ...


class StaticReplicas:
    """A fixed list: ``--kamailio-rpc`` URLs on one host or in a lab."""

    def __init__(self, replicas: Sequence[KamailioRpc]) -> None:
        self._replicas = list(replicas)

    async def current(self) -> list[KamailioRpc]:
        """Always the same list."""
        return list(self._replicas)

    async def aclose(self) -> None:
        """Close every client."""
        for replica in self._replicas:
            await replica.aclose()


class SliceReader(Protocol):
    """Reads a Service's EndpointSlices (``Kube.endpoint_slices``)."""

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]: ...


def rpc_url(address: str, port: int) -> str:
    """Kamailio's JSON-RPC URL on one endpoint (IPv6 in brackets)."""
    try:
        host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        host = address  # an FQDN endpoint
    return f"http://{host}:{port}/RPC"


def ready_endpoints(slices: Iterable[Mapping[str, Any]], port_name: str
                    ) -> list[tuple[str, int]]:
    """(address, port) of every ready endpoint that serves ``port_name``, sorted, unique.

    ``ready`` absent means unknown, which the EndpointSlice API says to treat as ready.
    An endpoint's addresses are interchangeable; the first is used, as kube-proxy does.
    """
    found: set[tuple[str, int]] = set()
    for piece in slices:
        ports = [p.get("port") for p in piece.get("ports") or ()
                 if p.get("name", "") == port_name and p.get("port")]
        if not ports:
            continue
        for endpoint in piece.get("endpoints") or ():
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False or not endpoint.get("addresses"):
                continue
            found.add((str(endpoint["addresses"][0]), int(ports[0])))
    return sorted(found)


class EndpointSliceReplicas:
    """The ready endpoints of Kamailio's Service, read at each use."""

    def __init__(self, reader: SliceReader, namespace: str, service: str, *,
                 port_name: str = "rpc", timeout: float = 5.0,
                 url_for: Callable[[str, int], str] = rpc_url) -> None:
        self.reader = reader
        self.namespace = namespace
        self.service = service
        self.port_name = port_name
        self.timeout = timeout
        self.url_for = url_for
        """Turns an endpoint into the URL to call; tests map addresses to loopback."""
        self._clients: dict[str, KamailioRpc] = {}

    def __repr__(self) -> str:
        return f"EndpointSliceReplicas({self.namespace}/{self.service}:{self.port_name})"

    async def current(self) -> list[KamailioRpc]:
        """Ready endpoints now; clients of endpoints that left are closed."""
        slices = await self.reader.endpoint_slices(self.namespace, self.service)
        urls = [self.url_for(address, port)
                for address, port in ready_endpoints(slices, self.port_name)]
        for gone in set(self._clients) - set(urls):
            await self._clients.pop(gone).aclose()
        for url in urls:
            if url not in self._clients:
                self._clients[url] = KamailioRpc(url, timeout=self.timeout)
        return [self._clients[url] for url in urls]

    async def aclose(self) -> None:
        """Close every client."""
        for replica in self._clients.values():
            await replica.aclose()
        self._clients.clear()
