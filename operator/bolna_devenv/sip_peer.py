"""Real SIP peers on loopback: gateways that answer, and a caller that places calls.

Both are sipp (Debian's ``sip-tester``, installed by ``hack/install-sip-stack.sh``),
with the scenarios in ``deploy/sipp/``:

* :class:`SipPeer` plays a carrier gateway: it answers OPTIONS probes with 200 and
  answers (or rejects with 503) INVITEs, logging each INVITE so a test can tell which
  gateway a call reached (:meth:`SipPeer.invites_received`). :meth:`SipPeer.pause`
  freezes it with SIGSTOP, which is how tests make a gateway go silent; the kernel
  keeps what arrives meanwhile, and :meth:`SipPeer.resume` lets it answer that late.
* :func:`place_call` sends one call through Kamailio with ``X-Trunk-Set: <set id>``,
  as Bolna does, and returns the final status code. ``source`` sends it from another
  address of 127/8 (Linux routes all of it to ``lo``), which is how tests play a
  stranger or a carrier of an ip-based trunk.
* :func:`options_ping` sends one OPTIONS from Python and returns the status code (or
  None), to check a peer directly.

What was found with sipp 3.6.1 and shaped this module:

* ``-aa`` is what makes sipp answer OPTIONS (the built-in ``uas`` aborts on them);
  each answered OPTIONS is also reported on stderr ("Automatic response mode ...").
* sipp binds its control socket and media ports on 0.0.0.0 unless told otherwise:
  ``-i``, ``-ci``/``-cp`` and ``-mi`` keep everything on 127.0.0.1. The media ports
  are found by sipp itself from 6000 upwards, on 127.0.0.1.
* The built-in ``uas`` does not echo Record-Route, so the ACK and BYE of an answered
  call would not come back through Kamailio; ``deploy/sipp/gateway-uas.xml`` does.
* A response code in a scenario must be literal: sipp checks it when loading, so a
  ``-key`` cannot choose it. The gateway's modes are "answer" (200) and "reject" (503).
* Without a terminal and with ``-nostdin`` sipp runs fine in the foreground; it prints
  its statistics screen to stdout only when it ends. SIGTERM ends it.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from .processes import LOOPBACK, Managed, die_with_parent, tail, terminate

__all__ = [
    "GATEWAY_SCENARIO",
    "UAC_SCENARIO",
    "CallError",
    "SipPeer",
    "SipPeerError",
    "SippNotFoundError",
    "final_invite_status",
    "final_invite_status_in",
    "find_sipp",
    "options_ping",
    "place_call",
]

_DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "sipp"
#: Scenario of a test gateway (answers or rejects INVITEs, logs each one).
GATEWAY_SCENARIO = _DEPLOY / "gateway-uas.xml"
#: Scenario of one call with ``X-Trunk-Set`` (sipp client mode).
UAC_SCENARIO = _DEPLOY / "uac-with-set.xml"

Transport = Literal["udp", "tcp"]
Mode = Literal["answer", "reject"]

_INSTALL_HINT = "run hack/install-sip-stack.sh (installs Debian's kamailio and sip-tester)"
_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.1
_LOG_TAIL_LINES = 30
_TRACE_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ", re.MULTILINE)
_CSEQ_INVITE = re.compile(r"^CSeq:\s*\d+\s+INVITE\s*$", re.MULTILINE | re.IGNORECASE)


class SipPeerError(RuntimeError):
    """sipp could not be started (the message includes its output)."""


class SippNotFoundError(SipPeerError):
    """The ``sipp`` binary is missing; run ``hack/install-sip-stack.sh``."""


class CallError(RuntimeError):
    """A call placed with :func:`place_call` got no final response."""


def find_sipp() -> Path:
    """Return the ``sipp`` binary.

    Raises:
        SippNotFoundError: with the command that installs it.
    """
    found = shutil.which("sipp")
    if found:
        return Path(found)
    raise SippNotFoundError(f"sipp is not installed: {_INSTALL_HINT}")


class SipPeer(Managed):
    """A SIP gateway on a loopback port: sipp with ``deploy/sipp/gateway-uas.xml``.

    The port is a free one picked at start, or a fixed one given as ``port`` (the local
    stack's example SipTrunks name their gateways' ports).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Attributes:
        workdir: sipp's output and the INVITE log live here.
        transport: "udp" or "tcp".
        mode: "answer" (200 OK, then ACK and BYE) or "reject" (503).
        port: the SIP port on 127.0.0.1 (0 until started).
        log_file: sipp's stdout and stderr.
        invite_log: one line "INVITE <Call-ID>" per INVITE received.
        message_log: sipp's short message trace: one line per SIP message received
            (R) or sent (S), tab-separated: date, time, epoch, R/S, Call-ID, CSeq,
            first line.
    """

    workdir: Path
    transport: Transport
    mode: Mode
    port: int
    log_file: Path
    invite_log: Path
    message_log: Path

    def __init__(
        self,
        workdir: Path,
        *,
        name: str = "gateway",
        port: int | None = None,
        host: str = LOOPBACK,
        transport: Transport = "udp",
        mode: Mode = "answer",
        scenario: Path | None = None,
        binary: Path | None = None,
        timeout: float = 10.0,
        stop_grace: float = 3.0,
        die_with_parent: bool = True,
    ) -> None:
        """Prepare (but do not start) a gateway.

        Args:
            workdir: where sipp's output goes; created if missing.
            name: names the files in ``workdir`` (several peers can share it).
            port: listen on this port of ``host``; default a free port picked at
                each start. A fixed port that is taken fails the start at once.
            host: the IPv4 loopback address to listen on (127.0.0.2 and 127.0.0.3 are
                two gateways behind one name on the same port).
            transport: "udp", or "tcp" (sipp ``-t t1``: listens on TCP only).
            mode: "answer" or "reject" (503), for INVITEs; OPTIONS are always 200.
            scenario: a sipp scenario; default ``deploy/sipp/gateway-uas.xml``.
            binary: the sipp binary; default :func:`find_sipp`.
            timeout: seconds :meth:`start` waits for the peer to answer OPTIONS.
            stop_grace: seconds :meth:`stop` waits after SIGTERM before SIGKILL.
            die_with_parent: on Linux, have sipp killed if the thread that started
                it dies, so a crashed test run leaves no sipp behind.

        Raises:
            SippNotFoundError: if ``binary`` is not given and sipp is not installed.
        """
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be 'udp' or 'tcp', got {transport!r}")
        if mode not in ("answer", "reject"):
            raise ValueError(f"mode must be 'answer' or 'reject', got {mode!r}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        _check_loopback(host)
        self.host = host
        self.workdir = Path(workdir).resolve()
        self.name = name
        self.transport = transport
        self.mode = mode
        self.scenario = Path(scenario).resolve() if scenario is not None else GATEWAY_SCENARIO
        self.binary = Path(binary) if binary is not None else find_sipp()
        self.timeout = timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent
        self.port = 0
        self._fixed_port = port
        self.log_file = self.workdir / f"{name}.sipp.log"
        self.invite_log = self.workdir / f"{name}.invites.log"
        self.message_log = self.workdir / f"{name}.messages.tsv"
        self._error_file = self.workdir / f"{name}.errors.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    # ---- public API ------------------------------------------------------

    @property
    def uri(self) -> str:
        """The peer's SIP URI, as a dispatcher list line names it."""
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.host}:{self.port}{suffix}"

    @property
    def pid(self) -> int | None:
        """PID of sipp; None before :meth:`start` and after :meth:`stop`."""
        return self._proc.pid if self._proc is not None else None

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    def start(self) -> None:
        """Start sipp and wait until it answers an OPTIONS.

        Raises:
            SipPeerError: if sipp exits or does not answer within ``timeout``; the
                message has its output. A half-started sipp is stopped.
        """
        if self._proc is not None:
            raise SipPeerError(f"peer {self.name} already started; call stop() first")
        if not os.access(self.binary, os.X_OK):
            raise SippNotFoundError(f"{self.binary} is missing: {_INSTALL_HINT}")
        if not self.scenario.is_file():
            raise SipPeerError(f"sipp scenario {self.scenario} does not exist")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.invite_log.write_text("")
        self.message_log.write_text("")
        atexit.register(self.stop)
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                try:
                    self._start_once()
                    return
                except _PortConflictError:
                    self._stop_process()
                    if attempt == _PORT_ATTEMPTS or self._fixed_port is not None:
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop sipp (resumed first if paused): SIGTERM, SIGKILL after ``stop_grace``.

        Safe to call more than once, and on a peer never started.
        """
        self._stop_process()
        atexit.unregister(self.stop)

    def pause(self) -> None:
        """Freeze the peer (SIGSTOP): it stops answering anything, OPTIONS included."""
        proc = self._require_running()
        proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a paused peer run again (SIGCONT); it then answers what queued meanwhile."""
        proc = self._require_running()
        proc.send_signal(signal.SIGCONT)
        self._paused = False

    def call_ids(self) -> list[str]:
        """Call-IDs of the INVITEs received so far, in order (retransmissions not counted)."""
        try:
            text = self.invite_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("INVITE ")]

    def invites_received(self) -> int:
        """How many calls (INVITEs with distinct Call-IDs) reached this peer."""
        return len(set(self.call_ids()))

    def options_received(self) -> int:
        """How many OPTIONS (distinct Call-IDs) reached this peer: Kamailio's probes.

        Counted from :attr:`message_log`, which sipp writes as messages come, so a
        test can see that probing happened, not only what Kamailio concluded.
        """
        call_ids = set()
        try:
            text = self.message_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) >= 7 and fields[3] == "R" and fields[6].startswith("OPTIONS "):
                call_ids.add(fields[4])
        return len(call_ids)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of sipp's output."""
        return tail(self.log_file, lines)

    # ---- internals -------------------------------------------------------

    def _start_once(self) -> None:
        self.port, control_port = _free_ports(self.transport, self.host)
        if self._fixed_port is not None:
            # Checked first: sipp exits on a taken port, but an OPTIONS sent meanwhile
            # would be answered by whoever holds it, and the start would look good.
            if not _port_free(self._fixed_port, self.transport, self.host):
                raise SipPeerError(f"sipp peer {self.name}: port {self._fixed_port} "
                                   f"({self.transport}) on {self.host} is taken")
            self.port = self._fixed_port
        argv = [
            str(self.binary),
            "-sf", str(self.scenario),
            "-key", "mode", self.mode,
            "-aa",  # answer OPTIONS (and INFO, NOTIFY, UPDATE) with 200
            "-t", "t1" if self.transport == "tcp" else "u1",
            "-i", self.host,
            "-p", str(self.port),
            "-ci", LOOPBACK,
            "-cp", str(control_port),
            "-mi", self.host,
            "-nostdin",
            "-trace_logs", "-log_file", str(self.invite_log),
            "-trace_err", "-error_file", str(self._error_file),
            "-trace_shortmsg", "-shortmessage_file", str(self.message_log),
        ]  # fmt: skip
        self._proc = _spawn(argv, self.log_file, self.workdir, self.die_with_parent)
        deadline = time.monotonic() + self.timeout
        wait = 0.05  # a UDP ping sent before sipp binds is lost: start short, back off
        while True:
            self._check_alive()
            if options_ping(self.port, host=self.host, transport=self.transport,
                            timeout=wait) is not None:
                return
            wait = min(wait * 2, 1.0)
            if time.monotonic() >= deadline:
                raise SipPeerError(
                    f"sipp peer {self.name} on {self.uri} did not answer OPTIONS within "
                    f"{self.timeout:g}s\n--- last lines of {self.log_file} ---\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _check_alive(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        tail = self.log_tail()
        message = (
            f"sipp peer {self.name} exited with code {proc.returncode} during start"
            f"\n--- last lines of {self.log_file} ---\n{tail}"
        )
        if "already in use" in tail.lower() or "bind" in tail.lower():
            raise _PortConflictError(message)
        raise SipPeerError(message)

    def _require_running(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise SipPeerError(f"peer {self.name} is not running")
        return proc

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._paused:
            # A stopped process does not act on SIGTERM until it is continued.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
            self._paused = False
        terminate(proc, self.stop_grace)


class _PortConflictError(SipPeerError):
    """sipp exited because a port picked as free was taken meanwhile."""


def place_call(
    kamailio_sip_port: int,
    set_id: int,
    *,
    workdir: Path | None = None,
    transport: Transport = "udp",
    callee: str = "15550100",
    timeout: float = 20.0,
    scenario: Path | None = None,
    binary: Path | None = None,
    source: str = LOOPBACK,
) -> int:
    """Place one call through Kamailio on 127.0.0.1 and return its final status code.

    The INVITE carries ``X-Trunk-Set: <set_id>``, which Kamailio's config routes to that
    dispatcher set. An answered call (200) is acknowledged and hung up at once.

    Args:
        kamailio_sip_port: Kamailio's SIP port on 127.0.0.1.
        set_id: the dispatcher set (one SIP trunk).
        workdir: where sipp's message trace and output are kept (for a failing test to
            read); a temporary directory, removed afterwards, when not given.
        transport: "udp" or "tcp".
        callee: user part of the request URI.
        timeout: seconds before sipp gives up (a call waits at most ``fr_timer`` per
            gateway tried, so make this longer than that times the gateways).
        scenario: default ``deploy/sipp/uac-with-set.xml``.
        binary: the sipp binary; default :func:`find_sipp`.
        source: the caller's address (sipp binds its SIP and media sockets there): an
            IPv4 loopback address such as 127.0.0.2, so Kamailio sees another peer.

    Raises:
        CallError: if no final response came (the message has sipp's output).
        SippNotFoundError: if sipp is not installed.
        ValueError: if ``source`` is not an IPv4 loopback address.
    """
    _check_loopback(source)
    sipp = Path(binary) if binary is not None else find_sipp()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="bolna-call-") as tmp:
            return _place_call(sipp, Path(tmp), kamailio_sip_port, set_id, transport,
                               callee, timeout, scenario, source)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return _place_call(sipp, Path(workdir), kamailio_sip_port, set_id, transport, callee,
                       timeout, scenario, source)


def _place_call(
    sipp: Path,
    workdir: Path,
    kamailio_sip_port: int,
    set_id: int,
    transport: Transport,
    callee: str,
    timeout: float,
    scenario: Path | None,
    source: str = LOOPBACK,
) -> int:
    tag = secrets.token_hex(4)
    trace = workdir / f"call-{tag}.messages.log"
    output = workdir / f"call-{tag}.sipp.log"
    errors = workdir / f"call-{tag}.errors.log"
    for _ in range(_PORT_ATTEMPTS):
        local_port, control_port = _free_ports(transport, source)
        argv = [
            str(sipp), f"{LOOPBACK}:{kamailio_sip_port}",
            "-sf", str(scenario or UAC_SCENARIO),
            "-key", "trunk_set", str(set_id),
            "-s", callee,
            "-m", "1",
            "-t", "t1" if transport == "tcp" else "u1",
            "-i", source,
            "-p", str(local_port),
            "-ci", LOOPBACK,
            "-cp", str(control_port),
            "-mi", source,
            "-nostdin",
            "-timeout", f"{max(1, round(timeout))}s",
            "-timeout_error",
            "-trace_msg", "-message_file", str(trace),
            "-trace_err", "-error_file", str(errors),
        ]  # fmt: skip
        with output.open("wb") as out:
            try:
                result = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=workdir, timeout=timeout + 10, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise CallError(
                    f"sipp did not end within {timeout + 10:g}s\n{tail(output)}"
                ) from exc
        status = final_invite_status(trace)
        if status is not None:
            return status
        if "already in use" not in tail(output).lower():
            raise CallError(
                f"no final response to the INVITE for set {set_id} from {source} via "
                f"127.0.0.1:{kamailio_sip_port} (sipp exit code {result.returncode})\n"
                f"--- last lines of {output} ---\n{tail(output)}"
            )
    raise CallError(f"no free local port for sipp after {_PORT_ATTEMPTS} attempts")


def final_invite_status(trace: Path) -> int | None:
    """The final status code of the INVITE in a sipp ``-trace_msg`` file, or None."""
    try:
        text = trace.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return final_invite_status_in(text)


def final_invite_status_in(text: str) -> int | None:
    """The final status code of the INVITE in a sipp message trace's text, or None
    (the trace of a caller pod comes from its log, not from a file)."""
    final: int | None = None
    for block in _TRACE_SEPARATOR.split(text):
        if "message received" not in block:
            continue
        status = _STATUS_LINE.search(block)
        if status and _CSEQ_INVITE.search(block) and int(status.group(1)) >= 200:
            final = int(status.group(1))
    return final


def options_ping(
    port: int, *, host: str = LOOPBACK, transport: Transport = "udp", timeout: float = 1.0,
    source: str | None = None,
) -> int | None:
    """Send one OPTIONS to ``host:port`` and return the reply's status code.

    ``source`` sends it from that local address (default: ``host`` itself), e.g.
    127.0.0.2 to ask as a stranger. Returns None when nothing answers within
    ``timeout`` (a paused or dead peer).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    target = f"[{host}]" if family == socket.AF_INET6 else host
    local = source or host
    via = f"[{local}]" if family == socket.AF_INET6 else local
    try:
        with socket.socket(family, kind) as sock:
            sock.settimeout(timeout)
            sock.bind((local, 0))
            if transport == "tcp":
                sock.connect((host, port))
            local_port = sock.getsockname()[1]
            branch = "z9hG4bK-" + secrets.token_hex(8)
            message = (
                f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport.upper()} {via}:{local_port};branch={branch}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@{via}>;tag={secrets.token_hex(4)}\r\n"
                f"To: <sip:{target}:{port}>\r\n"
                f"Call-ID: {secrets.token_hex(8)}@{via}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            if transport == "tcp":
                sock.sendall(message)
                reply = sock.recv(4096)
            else:
                sock.sendto(message, (host, port))
                reply = sock.recvfrom(4096)[0]
    except OSError:  # refused, reset, timed out
        return None
    match = _STATUS_LINE.match(reply.decode("utf-8", "replace"))
    return int(match.group(1)) if match else None


# ---- helpers -----------------------------------------------------------------


def _check_loopback(address: str) -> None:
    """Test traffic stays on loopback: refuse any source but an IPv4 loopback address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        parsed = None
    if not isinstance(parsed, ipaddress.IPv4Address) or not parsed.is_loopback:
        raise ValueError(f"source {address!r} is not an IPv4 loopback address (127.0.0.0/8)")


def _free_ports(transport: Transport, host: str = LOOPBACK) -> tuple[int, int]:
    """A port free on ``host`` for ``transport`` (SIP) and a free UDP port on 127.0.0.1
    (sipp control)."""
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with (
        socket.socket(socket.AF_INET, kind) as sip,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control,
    ):
        sip.bind((host, 0))
        control.bind((LOOPBACK, 0))
        return int(sip.getsockname()[1]), int(control.getsockname()[1])


def _port_free(port: int, transport: Transport, host: str = LOOPBACK) -> bool:
    """True if ``port`` can be bound on ``host`` for ``transport`` right now."""
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _spawn(argv: list[str], log: Path, cwd: Path, with_parent: bool) -> subprocess.Popen[bytes]:
    preexec: Callable[[], None] | None = None
    if with_parent and sys.platform.startswith("linux"):
        preexec = die_with_parent(os.getpid())
    with log.open("wb") as log_file:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,  # sets only the parent-death signal
        )


