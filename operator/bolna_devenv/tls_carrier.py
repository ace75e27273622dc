"""A carrier's TLS gateway (a second Kamailio), and a TLS caller, on loopback.

Debian's sipp has no TLS transport, so:

* :class:`TlsCarrier` runs Kamailio (with Debian's ``kamailio-tls-modules``) with
  ``tests/integration/tls/carrier.cfg``: it accepts TLS with the certificate it is given,
  optionally requires a client certificate signed by a given CA, answers OPTIONS and
  INVITE (200) and BYE, and logs what reached it (:meth:`TlsCarrier.invites`: the SNI,
  the transport, and the offer's body, a=crypto lines among it).
* :func:`tls_call` places one call over TLS from Python, as Bolna's SIP layer would over
  a TLS connection to the edge: INVITE with ``X-Trunk-Set`` and an SDP (with a=crypto
  lines when given), ACK and BYE along the recorded route on the same connection.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .kamailio import find_kamailio
from .processes import LOOPBACK, Managed, die_with_parent, free_ports, tail, terminate

__all__ = ["CARRIER_CONFIG", "Invite", "TlsCarrier", "tls_call", "write_edge_tls_config"]

#: The carrier's Kamailio config.
CARRIER_CONFIG = (Path(__file__).resolve().parents[2] / "tests" / "integration" / "tls"
                  / "carrier.cfg")

_INVITE = re.compile(r"INVITE received: sni=(?P<sni>\S+) proto=(?P<proto>\S+) "
                     r"peer_verified=(?P<verified>\S+)\n----- body -----\n(?P<body>.*?)"
                     r"----- end -----", re.S)


@dataclass(frozen=True)
class Invite:
    """One INVITE as it reached the carrier."""

    sni: str | None
    proto: str
    peer_verified: bool
    body: str

    @property
    def crypto(self) -> list[str]:
        """The offer's a=crypto lines, as they arrived."""
        return [line.strip() for line in self.body.splitlines()
                if line.startswith("a=crypto:")]


class TlsCarrier(Managed):
    """A TLS SIP gateway on 127.0.0.1 with a certificate of the test's choosing."""

    def __init__(self, workdir: Path, *, certificate: Path, key: Path,
                 client_ca: Path | None = None, stop_grace: float = 5.0) -> None:
        """``client_ca``: require a client certificate signed by it (mutual TLS)."""
        self.workdir = Path(workdir).resolve()
        self.certificate, self.key, self.client_ca = certificate, key, client_ca
        self.port = 0
        self.log_file = self.workdir / "carrier.log"
        self.tls_config = self.workdir / "tls.cfg"
        self.stop_grace = stop_grace
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The main process's PID while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start it and wait until it accepts TLS connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        run = self.workdir / "run"
        run.mkdir(exist_ok=True)
        verify = (f"verify_client = on\nca_list = {self.client_ca}\n" if self.client_ca
                  else "verify_client = off\n")
        self.tls_config.write_text(
            "[server:default]\nmethod = TLSv1.2+\n"
            f"certificate = {self.certificate}\nprivate_key = {self.key}\n{verify}\n"
            "[client:default]\nverify_certificate = no\n")
        self.port = free_ports(1)[0]
        argv = [str(find_kamailio()), "-DD", "-E", "-f", str(CARRIER_CONFIG), "-Y", str(run),
                "-P", str(run / "kamailio.pid"), "-m", "32", "-M", "8",
                "-A", f"TLS_PORT={self.port}", "-A", f'TLS_CONFIG="{self.tls_config}"']
        preexec = (die_with_parent(os.getpid(), signal.SIGTERM)
                   if sys.platform.startswith("linux") else None)
        atexit.register(self.stop)
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=self.workdir,
                                          start_new_session=True, preexec_fn=preexec)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the TLS carrier exited ({self._proc.returncode}):\n"
                                   f"{tail(self.log_file)}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the TLS carrier did not listen in 20 s:\n{tail(self.log_file)}")

    def stop(self) -> None:
        """Stop it by PID (its workers with it: its own session)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, self.stop_grace)
        atexit.unregister(self.stop)

    def log(self) -> str:
        """Everything it logged."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def invites(self) -> list[Invite]:
        """Every INVITE that reached it, in order."""
        return [Invite(None if m["sni"] == "<null>" else m["sni"], m["proto"],
                       m["verified"] == "1", m["body"].replace("\r", ""))
                for m in _INVITE.finditer(self.log())]

    def options_received(self) -> int:
        """How many OPTIONS (the edge's probes) reached it."""
        return self.log().count("OPTIONS received:")


def write_edge_tls_config(path: Path, *, ca: Path, certificate: Path | None,
                          key: Path | None) -> Path:
    """The edge's tls.cfg, in the shape the Helm chart renders it (``kamailio.tls``):
    the edge's certificate for both profiles, gateways verified against ``ca``."""
    own = (f"certificate = {certificate}\nprivate_key = {key}\n" if certificate else "")
    path.write_text(
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        f"require_certificate = no\n{own}\n"
        "[client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\n"
        f"require_certificate = yes\nca_list = {ca}\n{own}")
    return path


def _read_message(sock: ssl.SSLSocket, buffer: bytearray, deadline: float) -> str:
    """One SIP message (head and Content-Length body) from a stream."""
    while True:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode(errors="replace")
            found = re.search(r"(?im)^(?:Content-Length|l)\s*:\s*(\d+)", head)
            total = head_end + 4 + (int(found.group(1)) if found else 0)
            if len(buffer) >= total:
                message = buffer[:total].decode(errors="replace")
                del buffer[:total]
                return message
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete SIP message in time")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the edge closed the TLS connection")
        buffer += chunk


def tls_call(edge_port: int, set_id: int, *, ca: Path, crypto: tuple[str, ...] = (),
             callee: str = "15550100", timeout: float = 15.0) -> tuple[int, str]:
    """One call over TLS to the edge at 127.0.0.1:``edge_port``: (final status, reply).

    The edge's certificate is verified against ``ca`` (no name check: it is an address).
    ``crypto``: a=crypto lines for the offer (the m= line is then RTP/SAVP). An answered
    call is ACKed and hung up along the recorded route, on the same connection.
    """
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    tag, call_id = secrets.token_hex(4), f"{secrets.token_hex(8)}@{LOOPBACK}"
    deadline = time.monotonic() + timeout
    with socket.create_connection((LOOPBACK, edge_port), timeout=timeout) as raw, \
            context.wrap_socket(raw) as sock:
        local_port = sock.getsockname()[1]
        via = f"SIP/2.0/TLS {LOOPBACK}:{local_port};rport;branch=z9hG4bK{secrets.token_hex(6)}"
        profile = "RTP/SAVP" if crypto else "RTP/AVP"
        sdp = ("v=0\r\no=bolna 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio 40100 {profile} 0\r\n" + "".join(f"{line}\r\n" for line in crypto)
               + "a=rtpmap:0 PCMU/8000\r\n")
        contact = f"<sip:bolna@{LOOPBACK}:{local_port};transport=tls>"
        sock.sendall((
            f"INVITE sip:{callee}@{LOOPBACK}:{edge_port};transport=tls SIP/2.0\r\n"
            f"Via: {via}\r\nFrom: <sip:bolna@{LOOPBACK}>;tag={tag}\r\n"
            f"To: <sip:{callee}@{LOOPBACK}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: {contact}\r\nMax-Forwards: 70\r\nX-Trunk-Set: {set_id}\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        ).encode())
        buffer = bytearray()
        while True:
            reply = _read_message(sock, buffer, deadline)
            status = int(reply.split(" ", 2)[1])
            if status >= 200:
                break
        to = re.search(r"(?im)^To:\s*(.+)$", reply)
        to_header = to.group(1).strip() if to else f"<sip:{callee}@{LOOPBACK}>"
        if status >= 300:  # hop by hop ACK for a failure
            sock.sendall((
                f"ACK sip:{callee}@{LOOPBACK}:{edge_port};transport=tls SIP/2.0\r\n"
                f"Via: {via}\r\nFrom: <sip:bolna@{LOOPBACK}>;tag={tag}\r\nTo: {to_header}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n").encode())
            return status, reply
        routes = [r.strip() for line in re.findall(r"(?im)^Record-Route:\s*(.+)$", reply)
                  for r in line.split(",")][::-1]
        contact_found = re.search(r"(?im)^(?:Contact|m):\s*<([^>]+)>", reply)
        target = contact_found.group(1) if contact_found else f"sip:{callee}@{LOOPBACK}"
        route = "".join(f"Route: {r}\r\n" for r in routes)
        for cseq, method in ((1, "ACK"), (2, "BYE")):
            branch = f"z9hG4bK{secrets.token_hex(6)}"
            sock.sendall((
                f"{method} {target} SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS {LOOPBACK}:{local_port};rport;branch={branch}\r\n{route}"
                f"From: <sip:bolna@{LOOPBACK}>;tag={tag}\r\nTo: {to_header}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: {contact}\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
        while True:
            bye_reply = _read_message(sock, buffer, deadline)
            if "CSeq: 2 BYE" in bye_reply and bye_reply.startswith("SIP/2.0"):
                break
        return status, reply
