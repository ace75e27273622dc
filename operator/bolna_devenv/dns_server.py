"""A real DNS server on loopback for tests: Debian's dnsmasq serving names from a file.

The machine may have no resolver of its own, and tests must not depend on one: a test
that needs gateway names starts :class:`DnsServer` on a free port of 127.0.0.1 and points
the operator at it (``--dns-server 127.0.0.1:PORT``)::

    with DnsServer(tmp_path / "dns", {"gw.edge.test": ["127.0.0.2", "127.0.0.3"]},
                   ttl=2) as dns:
        dns.set_names({"gw.edge.test": ["127.0.0.3"]})   # rewritten, then SIGHUP
        dns.query("gw.edge.test")                         # what it answers now

dnsmasq (``hack/install-sip-stack.sh`` installs ``dnsmasq-base``) runs in the foreground
with no config file of its own, no upstream servers and no system hosts file: it answers
only the names of its hosts file, with ``ttl`` as their TTL, and NXDOMAIN for any other
name under ``domain`` (``--local``). :meth:`set_names` rewrites the file and sends SIGHUP,
which makes dnsmasq read it again and empty its cache; it returns once dnsmasq answers
the new addresses, so a test waits on that, not on a sleep.
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .processes import LOOPBACK, Managed, die_with_parent, tail, terminate

__all__ = ["DnsServer", "DnsServerError", "find_dnsmasq", "query"]

_INSTALL_HINT = "run hack/install-sip-stack.sh (installs Debian's dnsmasq-base)"


class DnsServerError(RuntimeError):
    """dnsmasq could not be started, or did not take a change."""


def find_dnsmasq() -> Path:
    """The ``dnsmasq`` binary (``$PATH``, then ``/usr/sbin``)."""
    found = shutil.which("dnsmasq")
    if found:
        return Path(found)
    for candidate in (Path("/usr/sbin/dnsmasq"), Path("/usr/local/sbin/dnsmasq")):
        if os.access(candidate, os.X_OK):
            return candidate
    raise DnsServerError(f"dnsmasq is not installed: {_INSTALL_HINT}")


def query(port: int, name: str, *, host: str = LOOPBACK, timeout: float = 1.0
          ) -> list[str] | None:
    """The A records a DNS server answers for ``name`` (sorted); [] for NXDOMAIN or no
    record; None when it does not answer. The standard library only: a hand-made query."""
    ident = os.getpid() & 0xFFFF
    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    packet = (ident.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
              + question + b"\x00\x00\x01\x00\x01")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(packet, (host, port))
            reply = sock.recvfrom(4096)[0]
    except OSError:
        return None
    answers = int.from_bytes(reply[6:8], "big")
    offset = 12 + len(question) + 1 + 4
    found = []
    for _ in range(answers):
        offset = _skip_name(reply, offset)
        kind = int.from_bytes(reply[offset:offset + 2], "big")
        length = int.from_bytes(reply[offset + 8:offset + 10], "big")
        data = reply[offset + 10:offset + 10 + length]
        if kind == 1 and length == 4:
            found.append(socket.inet_ntoa(data))
        offset += 10 + length
    return sorted(found, key=socket.inet_aton)


def _skip_name(packet: bytes, offset: int) -> int:
    while True:
        length = packet[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return offset + 2
        offset += length + 1


class DnsServer(Managed):
    """dnsmasq on a free UDP and TCP port of 127.0.0.1, answering from a hosts file.

    Attributes:
        workdir: the hosts file, dnsmasq's log and PID file live here.
        port: the DNS port on 127.0.0.1 (0 until started).
        hosts_file: the names it serves (rewritten by :meth:`set_names`).
        log_file: dnsmasq's log (every query, with ``log_queries``).
    """

    def __init__(self, workdir: Path, names: Mapping[str, Sequence[str]] | None = None, *,
                 ttl: int = 2, domain: str = "edge.test", log_queries: bool = True,
                 binary: Path | None = None, timeout: float = 10.0) -> None:
        """Prepare (but do not start) the server.

        Args:
            workdir: where its files go; created if missing.
            names: name -> addresses (IPv4 or IPv6) to serve at start.
            ttl: the TTL of every answer, seconds (dnsmasq's ``--local-ttl``).
            domain: names under it that the file lacks get NXDOMAIN (``--local``);
                dnsmasq answers REFUSED for any other name (it has no upstream).
            log_queries: log each query to :attr:`log_file`.
            binary: the dnsmasq binary; default :func:`find_dnsmasq`.
            timeout: seconds :meth:`start` and :meth:`set_names` wait for an answer.
        """
        self.workdir = Path(workdir).resolve()
        self.names = {name: list(addresses) for name, addresses in (names or {}).items()}
        self.ttl = ttl
        self.domain = domain
        self.log_queries = log_queries
        self.binary = Path(binary) if binary is not None else find_dnsmasq()
        self.timeout = timeout
        self.port = 0
        self.hosts_file = self.workdir / "hosts"
        self.log_file = self.workdir / "dnsmasq.log"
        self._pid_file = self.workdir / "dnsmasq.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> str:
        """``127.0.0.1:PORT``, as the operator's ``--dns-server`` takes it."""
        return f"{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        """The command line :meth:`start` runs."""
        return [
            str(self.binary),
            "--keep-in-foreground",
            "--conf-file=/dev/null",  # not /etc/dnsmasq.conf
            "--no-resolv", "--no-poll",  # no upstream servers
            "--no-hosts", f"--addn-hosts={self.hosts_file}",  # this file, not /etc/hosts
            f"--listen-address={LOOPBACK}", "--bind-interfaces",
            f"--port={self.port}",
            f"--local=/{self.domain}/",
            f"--local-ttl={self.ttl}",
            f"--pid-file={self._pid_file}",
            f"--log-facility={self.log_file}",
            # It re-reads the hosts file on SIGHUP as this user (a test's files are
            # private to it).
            f"--user={getpass.getuser()}",
            *(["--log-queries"] if self.log_queries else []),
        ]

    def start(self) -> None:
        """Start dnsmasq and wait until it answers a query."""
        if self._proc is not None:
            raise DnsServerError("dnsmasq already started; call stop() first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write()
        atexit.register(self.stop)
        for _attempt in range(3):
            self.port = _free_port()
            preexec: Callable[[], None] | None = None
            if sys.platform.startswith("linux"):
                preexec = die_with_parent(os.getpid(), signal.SIGTERM)
            with (self.workdir / "dnsmasq.out").open("ab") as out:
                self._proc = subprocess.Popen(
                    self.command(), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True,
                    preexec_fn=preexec)
            if self._answers(self.timeout):
                return
            self._stop_process()
        raise DnsServerError(f"dnsmasq did not answer on {self.server}\n"
                             f"{tail(self.workdir / 'dnsmasq.out')}\n{tail(self.log_file)}")

    def stop(self) -> None:
        """Stop dnsmasq by its PID; safe to call twice."""
        self._stop_process()
        atexit.unregister(self.stop)

    def set_names(self, names: Mapping[str, Sequence[str]]) -> None:
        """Serve these names from now on (others of ``domain``: NXDOMAIN): the file is
        rewritten, dnsmasq gets SIGHUP, and this returns once it answers accordingly."""
        self.names = {name: list(addresses) for name, addresses in names.items()}
        self._write()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise DnsServerError("dnsmasq is not running")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if all(query(self.port, name) == sorted(
                    (a for a in addresses if ":" not in a), key=socket.inet_aton)
                   for name, addresses in self.names.items()):
                return
            time.sleep(0.05)
        raise DnsServerError(f"dnsmasq did not take the new names {self.names}")

    def query(self, name: str) -> list[str] | None:
        """What it answers for ``name`` now (A records); see :func:`query`."""
        return query(self.port, name)

    def _write(self) -> None:
        lines = [f"{address} {name}\n" for name, addresses in self.names.items()
                 for address in addresses]
        temporary = self.hosts_file.with_name(".hosts.tmp")
        temporary.write_text("".join(lines), encoding="utf-8")
        temporary.replace(self.hosts_file)

    def _answers(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        probe = f"probe.{self.domain}"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if query(self.port, probe, timeout=0.2) is not None:
                return True
            time.sleep(0.05)
        return False

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, 3.0)


def _free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (dnsmasq binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise DnsServerError("found no port free for both UDP and TCP on 127.0.0.1")
