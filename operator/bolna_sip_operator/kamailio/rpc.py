"""Kamailio's JSON-RPC over HTTP: reload and read the dispatcher and address tables.

Facts this client is built on (Kamailio 5.6, see the design notes): a fault comes back
with its code as the HTTP status; ``dispatcher.reload`` within ``reload_delta`` of the
last one answers 500 "Ongoing reload" (``permissions.addressReload`` the same, in
lower case), so reloads are retried after the delta rather than treated as failures;
``dispatcher.list`` on an empty table is a 500 "No Destination Sets", which means an
empty list, not an error; custom attrs come back only inside ``ATTRS.BODY``.
``dispatcher.add``/``remove`` are not used: they change memory only, a reload undoes
them, and they have crash reports under load.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import httpx


class RpcError(Exception):
    """Kamailio answered the call with a fault."""

    def __init__(self, method: str, status: int, message: str) -> None:
        super().__init__(f"{method}: {status} {message}")
        self.method, self.status, self.message = method, status, message


class OngoingReload(RpcError):  # noqa: N818 (Kamailio's own name for the state)
    """A reload came within ``reload_delta`` of the previous one."""


class Unreachable(Exception):  # noqa: N818
    """The replica did not answer (down, restarting, or not ready)."""


@dataclass(frozen=True)
class ListedDestination:
    """One destination as ``dispatcher.list`` reports it."""

    set_id: int
    uri: str
    flags: str
    priority: int
    attrs: str
    latency_avg: float | None
    latency_max: float | None = None

    @property
    def sampled(self) -> bool:
        """Whether a probe has been answered since the last reload.

        Latency is kept in whole milliseconds, so a gateway on a fast path can answer
        and still read 0; the sync loop also counts time since the reload.
        """
        return bool(self.latency_avg) or bool(self.latency_max)


class KamailioRpc:
    """One Kamailio replica's RPC endpoint."""

    def __init__(self, url: str, *, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"KamailioRpc({self.url!r})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; RpcError on a fault, Unreachable when nobody answers."""
        body = {"jsonrpc": "2.0", "method": method, "params": list(params),
                "id": next(self._ids)}
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.HTTPError as error:
            raise Unreachable(f"{self.url}: {type(error).__name__}: {error}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        fault = answer.get("error") if isinstance(answer, dict) else None
        if response.status_code >= 400 or fault:
            message = str((fault or {}).get("message") or response.reason_phrase)
            status = int((fault or {}).get("code") or response.status_code)
            kind = OngoingReload if "ongoing reload" in message.lower() else RpcError
            raise kind(method, status, message)
        return answer.get("result")

    async def reload(self, method: str, *, reload_delta: float, attempts: int = 5) -> None:
        """A reload, retried while Kamailio says the previous one is too recent."""
        for attempt in range(attempts):
            try:
                await self.call(method)
                return
            except OngoingReload:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(reload_delta + 0.2)

    async def dispatcher_list(self) -> list[ListedDestination]:
        """Every destination of every set; [] when the table is empty."""
        try:
            result = await self.call("dispatcher.list")
        except RpcError as error:
            if "no destination sets" in error.message.lower():
                return []
            raise
        return parse_dispatcher_list(result)

    async def edge_counters(self) -> Any:
        """``stats.fetch script:``: the edge's own counters (``edge/counters.py`` reads
        them), as Kamailio answers."""
        return await self.call("stats.fetch", "script:")

    async def address_entries(self) -> list[tuple[int, str, int]]:
        """(group, ip, mask) of every permissions entry, single hosts and subnets."""
        entries: list[tuple[int, str, int]] = []
        for method in ("permissions.addressDump", "permissions.subnetDump"):
            try:
                result = await self.call(method)
            except RpcError as error:
                if "empty" in error.message.lower():
                    continue
                raise
            entries.extend(parse_address_dump(result))
        return entries


def parse_dispatcher_list(result: Any) -> list[ListedDestination]:
    """``{"NRSETS": n, "RECORDS": [{"SET": {"ID": .., "TARGETS": [{"DEST": ..}]}}]}``."""
    listed = []
    for record in (result or {}).get("RECORDS") or ():
        dispatcher_set = record.get("SET") or {}
        set_id = int(dispatcher_set.get("ID", 0))
        for target in dispatcher_set.get("TARGETS") or ():
            dest = target.get("DEST") or {}
            attrs = dest.get("ATTRS") or {}
            latency = dest.get("LATENCY") or {}
            avg, peak = latency.get("AVG"), latency.get("MAX")
            listed.append(ListedDestination(
                set_id=set_id, uri=str(dest.get("URI", "")), flags=str(dest.get("FLAGS", "")),
                priority=int(dest.get("PRIORITY", 0)),
                attrs=str(attrs.get("BODY", "")) if isinstance(attrs, dict) else "",
                latency_avg=float(avg) if avg is not None else None,
                latency_max=float(peak) if peak is not None else None))
    return listed


async def tls_failures(rpc: KamailioRpc) -> dict[str, str] | None:
    """The edge agent's TLS verdicts held by a replica (URI -> reason): ``htable.dump
    tlsfail`` (``agent/tls.py``). None from a Kamailio without that table (a config of
    its own)."""
    try:
        result = await rpc.call("htable.dump", "tlsfail")
    except RpcError:
        return None
    return parse_tls_failures(result)


def parse_tls_failures(result: Any) -> dict[str, str]:
    """``htable.dump``'s ``[{"entry": n, "size": k, "slot": [{"name": .., "value": ..}]}]``
    as name -> value."""
    found: dict[str, str] = {}
    for entry in result if isinstance(result, list) else ():
        for item in (entry.get("slot") or ()) if isinstance(entry, dict) else ():
            if isinstance(item, dict) and item.get("name") is not None:
                found[str(item["name"])] = str(item.get("value", ""))
    return found


def parse_address_dump(result: Any) -> list[tuple[int, str, int]]:
    """Entries of ``permissions.addressDump`` and ``subnetDump`` as (group, ip, mask).

    Kamailio 5.6 answers ``[{"group": 4, "item": {"ip": "10.0.0.0", "mask": 8, ...}}]``;
    ``addressDump`` holds single hosts and gives no mask (a full-length prefix).
    """
    entries = []
    for entry in result if isinstance(result, list) else ():
        if not isinstance(entry, dict) or entry.get("group") is None:
            continue
        nested = entry.get("item")
        item: dict[str, Any] = nested if isinstance(nested, dict) else entry
        ip = item.get("ip")
        if ip is None:
            continue
        mask = item.get("mask")
        if mask is None:
            mask = 128 if ":" in str(ip) else 32
        entries.append((int(entry["group"]), str(ip), int(mask)))
    return entries
