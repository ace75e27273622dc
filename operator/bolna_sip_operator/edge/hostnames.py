"""Gateway hostnames to addresses: the operator resolves, Kamailio never does.

A carrier's gateway is usually a name (``your-trunk.pstn.twilio.com``) that resolves to
several addresses. Kamailio's dispatcher resolves a name once, when it loads the list,
keeps one address and skips a name it cannot resolve without a word in the reload's
answer. So the operator resolves every gateway name itself and writes one dispatcher
line per address (``kamailio/render.py``): each address is probed, and a call fails over
across them within the gateway's priority; the status shows each address's health.

Why the operator and not each Kamailio replica (or its edge agent):

- every replica then holds the same lines, so verification stays an exact comparison
  of what was written with what each replica holds, and a replica's health maps back to
  one written line;
- the operator can tell a name that does not resolve (NXDOMAIN, no A/AAAA record) from
  a DNS outage, and say so in the trunk's status (reason ``DNS``), where a replica's own
  resolver leaves only a log line;
- in a cluster the operator and the Kamailio pods ask the same DNS (CoreDNS): the
  answer is the one a replica would have got;
- there is one lookup per name for all replicas, not one per replica, and the lists
  work the same with files, a mounted ConfigMap or edge agents.

What a lookup does: the hosts file first (``/etc/hosts``, as the system's resolver does;
in a pod that includes ``hostAliases``), then A and AAAA queries at once, through the
system's DNS servers and search domains (``/etc/resolv.conf``) or ``--dns-server``. No
SRV or NAPTR: every gateway has a port (its own, or 5060/5061 by transport), and RFC
3263 looks up SRV only for a name without one. Each lookup is bounded
(``timeout``), at most ``concurrency`` run at once, and none runs in the reconcile
loop or in a render: the table sync reads cached answers.

Answers are kept for their TTL (between ``min_ttl`` and ``max_ttl``) and looked up again
when it runs out; a name that changed its addresses asks the table sync for a new write.
A definite "no" (NXDOMAIN, or neither A nor AAAA) empties the gateway: its lines go,
and its status says ``Unhealthy``, reason ``DNS``, until the name resolves again (asked
again every ``negative_ttl`` at most). A lookup that gets no answer at all (a timeout,
every server failing) keeps the addresses the name had (a DNS outage must not take
carriers off the edge) and is tried again sooner, doubling from ``min_ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ..kamailio.render import Answer

log = logging.getLogger(__name__)

Family = Literal["ipv4", "ipv6"]
HOSTS_TTL = 60.0
"""Seconds a hosts-file answer is kept (the file is read again when it changed)."""


@dataclass(frozen=True)
class DnsSettings:
    """How gateway names are looked up (the operator's ``--dns-*`` flags)."""

    servers: tuple[str, ...] = ()
    """``ADDR`` or ``ADDR:PORT`` (``[V6]:PORT``); empty: the system's resolv.conf."""
    timeout: float = 2.0
    min_ttl: float = 5.0
    max_ttl: float = 300.0
    negative_ttl: float = 30.0
    families: tuple[Family, ...] = ("ipv4", "ipv6")
    hosts_file: Path | None = Path("/etc/hosts")
    max_addresses: int = 8
    """Addresses kept per name (the lowest, in sort order); more are left out, logged."""
    concurrency: int = 16


class _Found(NamedTuple):
    addresses: tuple[str, ...]
    ttl: float


class _Gone(NamedTuple):
    reason: str
    ttl: float


class _Failed(NamedTuple):
    reason: str


_Outcome = _Found | _Gone | _Failed


@dataclass
class _Name:
    answer: Answer | None = None
    due: float = 0.0
    failures: int = 0
    task: asyncio.Task[None] | None = None
    first: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first lookup has ended."""


def _sort_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)


def _usable(address: str) -> bool:
    """An address the edge can send SIP to (not 0.0.0.0, ::, multicast or broadcast)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (parsed.is_unspecified or parsed.is_multicast
                or parsed == ipaddress.IPv4Address("255.255.255.255"))


def _server(text: str) -> dns.nameserver.Do53Nameserver:
    """``ADDR``, ``ADDR:PORT`` or ``[V6ADDR]:PORT`` as a plain DNS server."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = int(number)
    ipaddress.ip_address(host)  # ValueError for a name: a server is an address
    return dns.nameserver.Do53Nameserver(host, port)


def parse_servers(servers: Iterable[str]) -> list[dns.nameserver.Do53Nameserver]:
    """The ``--dns-server`` values; ValueError naming a bad one."""
    parsed = []
    for text in servers:
        try:
            parsed.append(_server(text))
        except ValueError:
            raise ValueError(f"--dns-server {text!r} is not ADDR, ADDR:PORT or "
                             "[IPV6]:PORT") from None
    return parsed


class HostsFile:
    """``/etc/hosts`` as the system's resolver reads it, read again when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._names: dict[str, list[str]] = {}

    def lookup(self, name: str) -> list[str]:
        """The file's addresses for the name (any letter case), in file order."""
        if self.path is None:
            return []
        try:
            stat = os.stat(self.path)
        except OSError:
            self._stamp, self._names = None, {}
            return []
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            self._names = self._read(self.path)
            self._stamp = stamp
        return list(self._names.get(name.lower().rstrip("."), ()))

    @staticmethod
    def _read(path: Path) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return names
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            address = fields[0].split("%", 1)[0]  # fe80::1%eth0: the zone is not ours
            try:
                ipaddress.ip_address(address)
            except ValueError:
                continue
            for alias in fields[1:]:
                known = names.setdefault(alias.lower().rstrip("."), [])
                if address not in known:
                    known.append(address)
        return names


class GatewayResolver:
    """Gateway names to addresses: cached, refreshed as TTLs run out, never blocking.

    ``retain`` says which names the trunks use now (a new name is looked up at once, in
    the background; a name no trunk uses is forgotten); ``answer`` is the cached answer
    (None until the first lookup ended); ``settle`` waits, bounded, for first lookups,
    so a new trunk is written with its addresses rather than without them and again a
    moment later; ``run`` looks names up again when their time comes, and calls
    ``on_change`` when an answer changed.
    """

    def __init__(self, settings: DnsSettings | None = None, *,
                 on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or DnsSettings()
        self.on_change = on_change
        self._clock = clock
        self._names: dict[str, _Name] = {}
        self._hosts = HostsFile(self.settings.hosts_file)
        self._resolver = self._make_resolver()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._wake = asyncio.Event()
        self.lookups = 0
        """Lookups made (hosts file or DNS), for tests."""

    def _make_resolver(self) -> dns.asyncresolver.Resolver:
        servers = parse_servers(self.settings.servers)
        try:
            resolver = dns.asyncresolver.Resolver(configure=True)
        except (dns.resolver.NoResolverConfiguration, OSError):
            resolver = dns.asyncresolver.Resolver(configure=False)
        if servers:
            resolver.nameservers = servers
        resolver.cache = None  # answers are kept here, by their TTLs
        return resolver

    # ---- what the table sync asks -----------------------------------------------------

    def retain(self, names: Iterable[str]) -> None:
        """The names in use now: new ones are looked up; unused ones are forgotten."""
        wanted = set(names)
        for name in [n for n in self._names if n not in wanted]:
            gone = self._names.pop(name)
            if gone.task is not None:
                gone.task.cancel()
        for name in wanted:
            if name not in self._names:
                entry = self._names[name] = _Name()
                entry.task = asyncio.get_running_loop().create_task(self._refresh(name))

    def seed(self, name: str, addresses: Iterable[str]) -> None:
        """After an operator restart: the addresses the last operator wrote for a name
        (from the trunk's status) stand until the name's first lookup answers, so a
        restart during a DNS outage does not take the name's lines out of Kamailio. A
        name already known is left as it is."""
        known = tuple(addresses)
        if name in self._names or not known:
            return
        entry = self._names[name] = _Name(answer=Answer(known), due=0.0)
        entry.first.set()  # nothing to wait for: the refresh loop looks it up at once
        self._wake.set()

    def answer(self, name: str) -> Answer | None:
        """The cached answer; None while the name's first lookup runs."""
        entry = self._names.get(name)
        return entry.answer if entry is not None else None

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until every retained name has had its first lookup, at most ``timeout``
        (default: one lookup's own bound, plus a second)."""
        waiting = [e.first.wait() for e in self._names.values() if not e.first.is_set()]
        if not waiting:
            return
        bound = self.settings.timeout + 1.0 if timeout is None else timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waiting), timeout=bound)

    # ---- the refresh loop -------------------------------------------------------------

    async def run(self) -> None:
        """Forever: look each name up again when its time comes."""
        while True:
            now = self._clock()
            for name, entry in list(self._names.items()):
                if entry.due <= now and (entry.task is None or entry.task.done()):
                    entry.task = asyncio.get_running_loop().create_task(self._refresh(name))
            pending = [e.due for e in self._names.values()
                       if e.task is None or e.task.done()]
            wait = max(0.05, min(pending) - now) if pending else 3600.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 60.0))

    async def _refresh(self, name: str) -> None:
        try:
            async with self._slots:
                outcome = await self.lookup(name)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a resolver bug must not stop the edge
            log.exception("looking up gateway %s failed", name)
            outcome = _Failed(type(error).__name__)
        entry = self._names.get(name)
        if entry is None:
            return  # forgotten meanwhile
        before = entry.answer
        entry.answer, entry.due = self._apply(name, entry, outcome)
        entry.first.set()
        self._wake.set()
        if entry.answer != before:
            self._log_change(name, before, entry.answer)
            self.on_change()

    def _apply(self, name: str, entry: _Name, outcome: _Outcome) -> tuple[Answer, float]:
        settings, now = self.settings, self._clock()
        if isinstance(outcome, _Found):
            entry.failures = 0
            ttl = min(max(outcome.ttl, settings.min_ttl), settings.max_ttl)
            return Answer(outcome.addresses), now + ttl
        if isinstance(outcome, _Gone):
            entry.failures = 0
            ttl = min(max(outcome.ttl, settings.min_ttl), settings.negative_ttl)
            return Answer((), f"does not resolve ({outcome.reason})"), now + ttl
        entry.failures += 1
        retry = min(settings.min_ttl * 2 ** (entry.failures - 1), settings.negative_ttl)
        kept = entry.answer.addresses if entry.answer is not None else ()
        if kept:
            return Answer(kept, f"cannot be looked up ({outcome.reason}); the addresses "
                                "it had are kept"), now + retry
        return Answer((), f"cannot be looked up ({outcome.reason})"), now + retry

    @staticmethod
    def _log_change(name: str, before: Answer | None, after: Answer) -> None:
        if after.addresses and not after.error:
            log.info("gateway %s resolves to %s", name, ", ".join(after.addresses))
        elif after.addresses:
            log.warning("gateway %s %s", name, after.error)
        elif before is not None or after.error:
            log.warning("gateway %s %s: its gateway gets no calls", name, after.error)

    # ---- one lookup -------------------------------------------------------------------

    async def lookup(self, name: str) -> _Outcome:
        """One lookup of a name: the hosts file, else A and AAAA at once."""
        self.lookups += 1
        families = self.settings.families
        listed = [a for a in self._hosts.lookup(name)
                  if ("ipv6" if ":" in a else "ipv4") in families]
        if listed:
            return self._found(name, listed, HOSTS_TTL)
        types = [t for t, family in (("A", "ipv4"), ("AAAA", "ipv6")) if family in families]
        results = await asyncio.gather(*(self._query(name, t) for t in types),
                                       return_exceptions=True)
        addresses: list[str] = []
        ttls: list[float] = []
        failed: list[str] = []
        gone: str | None = None
        for result in results:
            if isinstance(result, dns.resolver.NXDOMAIN):
                gone = "NXDOMAIN"
            elif isinstance(result, dns.exception.Timeout):
                failed.append(f"no answer within {self.settings.timeout:g} s")
            elif isinstance(result, dns.resolver.NoNameservers):
                failed.append("every DNS server failed or refused the query")
            elif isinstance(result, BaseException):
                failed.append(f"{type(result).__name__}: {result}")
            else:
                found, ttl = result
                addresses += found
                ttls.append(ttl)
        if addresses:
            return self._found(name, addresses, min(ttls))
        if gone is not None:
            return _Gone(gone, self.settings.negative_ttl)
        if failed:
            return _Failed(failed[0])
        return _Gone(f"no {' or '.join(types)} record", min(ttls, default=0.0))

    async def _query(self, name: str, rdtype: str) -> tuple[list[str], float]:
        answer = await asyncio.wait_for(
            self._resolver.resolve(name, rdtype, search=True, raise_on_no_answer=False,
                                   lifetime=self.settings.timeout),
            timeout=self.settings.timeout + 0.5)
        found = [item.to_text() for item in answer.rrset] if answer.rrset is not None else []
        return found, max(0.0, answer.expiration - time.time())

    def _found(self, name: str, addresses: Iterable[str], ttl: float) -> _Outcome:
        unique = sorted(set(addresses), key=_sort_key)
        usable = [a for a in unique if _usable(a)]
        if not usable:
            return _Gone(f"only addresses no SIP can go to: {', '.join(unique)}", ttl)
        limit = self.settings.max_addresses
        if len(usable) > limit:
            log.info("gateway %s has %d addresses; the first %d are used", name,
                     len(usable), limit)
        return _Found(tuple(usable[:limit]), ttl)
