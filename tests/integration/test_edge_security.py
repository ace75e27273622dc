"""Who the SIP edge relays for: real Kamailio with deploy/kamailio/kamailio.cfg, real sipp.

Issue 15, item 9: the edge used to relay any INVITE naming a set with ``X-Trunk-Set``,
whoever sent it. Now only the trusted side (``TRUSTED_NETWORKS``) may pick an outbound
set; a source that claims to be a carrier must be in the permissions address table the
operator renders from the ip-based trunks' ``ipIdentifiers``; everyone else gets 403.

Issue 23, item 1: a request with a To tag used to be relayed along any Route naming the
edge, so a stranger could preload ``Route: <sip:EDGE;lr>`` into an INVITE with a To tag
and reach a carrier's gateway. Now the edge tracks the calls it relays (the dialog
module) and relays an in-dialog request only inside such a dialog; whole calls (ACK,
re-INVITEs and BYE from either end, CANCEL) still work, with the carrier's gateway at an
address the edge knows nothing about (127.0.0.4, a userpass trunk's gateway).

Linux routes all of 127.0.0.0/8 to ``lo``, so the peers here are loopback addresses:
Kamailio trusts 127.0.0.1/32 only; 127.0.0.2 is a stranger; 127.0.0.3 is the carrier of
an ip-based trunk (its ``ipIdentifiers``); 127.0.0.4 is the gateway of a userpass trunk.
The dispatcher and address lists are what the operator's own renderer makes of such
SipTrunks. Nothing leaves loopback.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.kamailio import Kamailio, KamailioRpcError
from bolna_devenv.processes import LOOPBACK, die_with_parent, tail, terminate
from bolna_devenv.sip_peer import (
    UAC_SCENARIO,
    SipPeer,
    Transport,
    find_sipp,
    options_ping,
    place_call,
)
from bolna_sip_operator.edge.views import siptrunk_edge
from bolna_sip_operator.kamailio.render import Rendered, TrunkRoute, render
from bolna_sip_operator.model.spec import SipTrunkSpec
from tests.corpus import IP_BASED_SPEC, USERPASS_SPEC

pytestmark = pytest.mark.integration

TRUSTED = "127.0.0.1"
STRANGER = "127.0.0.2"
CARRIER = "127.0.0.3"
#: The gateway of a userpass trunk: neither trusted nor in the permissions table.
USERPASS_GATEWAY = "127.0.0.4"
SET_ID = 7
USERPASS_SET_ID = 8
TAG = "telephony/carrier-ip"
USERPASS_TAG = "telephony/carrier-userpass"
RELOAD_DELTA = 1
#: The sipp scenarios of the calls below (caller and gateway of each).
SCENARIOS = Path(__file__).resolve().parent / "sipp"
#: The edge's WARNING for an in-dialog request outside its dialogs.
REFUSED_IN_DIALOG = "refused in-dialog {method} from {source}:"


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything this module starts writes here."""
    return tmp_path_factory.mktemp("edge-security")


@pytest.fixture(scope="module")
def gateway(workdir: Path) -> Iterator[SipPeer]:
    """The carrier's gateway: it logs every INVITE that reaches it."""
    with SipPeer(workdir / "peers", name="gateway") as peer:
        yield peer


@pytest.fixture(scope="module")
def kamailio(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio trusting 127.0.0.1 alone."""
    with Kamailio(workdir / "kamailio", trusted_networks=f"{TRUSTED}/32,::1/128",
                  ping_interval=1, fr_timer_ms=1000, reload_delta=RELOAD_DELTA) as edge:
        yield edge


@pytest.fixture
def loaded(kamailio: Kamailio, gateway: SipPeer) -> Kamailio:
    """Kamailio holding what the operator renders for one ip-based SipTrunk: its gateway
    as set 7, and its carrier's address 127.0.0.3 in group 7 of the address table."""
    load(kamailio, dispatcher=_rendered(gateway).dispatcher_text,
         addresses=_rendered(gateway).address_text)
    return kamailio


@pytest.fixture
def no_header_scenario(tmp_path: Path) -> Path:
    """The caller's scenario without its ``X-Trunk-Set`` line: an INVITE as a carrier
    sends it towards Bolna."""
    text = UAC_SCENARIO.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True)
             if line.strip() != "X-Trunk-Set: [trunk_set]"]
    assert len(lines) == len(text.splitlines()) - 1
    scenario = tmp_path / "uac-without-set.xml"
    scenario.write_text("".join(lines), encoding="utf-8")
    return scenario


# ---- helpers -------------------------------------------------------------------------


def _rendered(gateway: SipPeer) -> Rendered:
    spec = SipTrunkSpec.model_validate({
        **IP_BASED_SPEC,
        "gateways": [{"gatewayAddress": "127.0.0.1", "port": gateway.port}],
        "ipIdentifiers": [{"ipAddress": f"{CARRIER}/32"}]})
    namespace, name = TAG.split("/")
    rendered = render([TrunkRoute(namespace, name, SET_ID, siptrunk_edge(spec))])
    assert not rendered.refused
    return rendered


def load(kamailio: Kamailio, *, dispatcher: str | None = None,
         addresses: str | None = None) -> None:
    """Write the lists and reload them, waiting out reload_delta."""
    for text, write, method, ok in (
            (dispatcher, kamailio.write_dispatcher, "dispatcher.reload",
             "Ok. Dispatcher successfully reloaded."),
            (addresses, kamailio.write_addresses, "permissions.addressReload", "Reload OK")):
        if text is None:
            continue
        write(text)
        deadline = time.monotonic() + RELOAD_DELTA + 5
        while True:
            try:
                assert kamailio.rpc(method) == ok
                break
            except KamailioRpcError as exc:
                if "ongoing reload" not in exc.fault.lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def request(port: int, method: str, *, source: str, user: str | None = None,
            to_tag: bool = False) -> int | None:
    """One request outside (or, with ``to_tag``, seemingly inside) a dialog over UDP
    from ``source``; the status code of the reply, None if none came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.bind((source, 0))
        local_port = sock.getsockname()[1]
        target = f"sip:{user + '@' if user else ''}{TRUSTED}:{port}"
        to = f"<{target}>" + (f";tag={secrets.token_hex(4)}" if to_tag else "")
        message = (
            f"{method} {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source}:{local_port};branch=z9hG4bK-{secrets.token_hex(8)}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:test@{source}>;tag={secrets.token_hex(4)}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{source}\r\n"
            f"CSeq: 1 {method}\r\n"
            "Content-Length: 0\r\n\r\n").encode()
        sock.sendto(message, (TRUSTED, port))
        try:
            reply = sock.recvfrom(65535)[0].decode("utf-8", "replace")
        except TimeoutError:
            return None
    return int(reply.split(" ", 2)[1]) if reply.startswith("SIP/2.0 ") else None


def log_of(kamailio: Kamailio) -> str:
    """Kamailio's whole log so far."""
    return kamailio.log_file.read_text(encoding="utf-8", errors="replace")


def wait_for_log_line(kamailio: Kamailio, text: str, *, after: int = 0,
                      timeout: float = 10.0) -> str:
    """The first line of Kamailio's log past character ``after`` that holds ``text``,
    waiting for it to be written."""
    deadline = time.monotonic() + timeout
    while True:
        for line in log_of(kamailio)[after:].splitlines():
            if text in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line with {text!r} within {timeout:g}s\n"
                                 f"{kamailio.log_tail()}")
        time.sleep(0.05)


def forged_in_dialog_invite(edge_port: int, gateway_port: int, *, source: str,
                            transport: Transport, route_params: str = "",
                            call_id: str | None = None, from_tag: str | None = None,
                            to_tag: str | None = None) -> int | None:
    """The attack of issue 23: an INVITE that claims to be inside a dialog (a To tag),
    with a Route preloaded to the edge, X-Trunk-Set, and the request URI at a carrier's
    gateway, sent from ``source``. Returns the status of the edge's final reply (None
    if none came within 3 s)."""
    edge = f"{TRUSTED}:{edge_port}"
    call_id = call_id or f"{secrets.token_hex(8)}@{source}"
    from_tag = from_tag or secrets.token_hex(4)
    to_tag = to_tag or secrets.token_hex(4)
    body = (f"v=0\r\no=attacker 1 1 IN IP4 {source}\r\ns=-\r\nc=IN IP4 {source}\r\n"
            "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(3.0)
        sock.bind((source, 0))
        if transport == "tcp":
            sock.connect((TRUSTED, edge_port))
        local_port = sock.getsockname()[1]
        message = (
            f"INVITE sip:15550100@{LOOPBACK}:{gateway_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} {source}:{local_port}"
            f";branch=z9hG4bK-{secrets.token_hex(8)}\r\n"
            f"Route: <sip:{edge};lr{route_params}>\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:attacker@{source}>;tag={from_tag}\r\n"
            f"To: <sip:15550100@{LOOPBACK}:{gateway_port}>;tag={to_tag}\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 2 INVITE\r\n"
            f"Contact: <sip:attacker@{source}:{local_port}>\r\n"
            f"X-Trunk-Set: {SET_ID}\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
        if transport == "tcp":
            sock.sendall(message)
        else:
            sock.sendto(message, (TRUSTED, edge_port))
        received = ""
        while True:  # a 100 Trying may come first
            try:
                chunk = sock.recv(65535)
            except TimeoutError:
                return None
            if not chunk:
                return None
            received += chunk.decode("utf-8", "replace")
            final = [int(code) for code in _STATUS.findall(received) if int(code) >= 200]
            if final:
                return final[0]


_STATUS = re.compile(r"^SIP/2\.0 (\d{3}) ", re.MULTILINE)


# ---- calls through the edge, with sipp at both ends ------------------------------------


@dataclass(frozen=True)
class Message:
    """One line of sipp's short message trace: received (R) or sent (S)."""

    direction: str
    cseq: str
    #: the method of a request, the status code of a reply
    what: str


class ScenarioGateway:
    """A userpass trunk's gateway on 127.0.0.4: sipp in server mode playing one of the
    gateway scenarios in :data:`SCENARIOS`, answering OPTIONS probes itself (-aa).

    Its short message trace tells what reached it and what it answered."""

    def __init__(self, workdir: Path, scenario: str,
                 keys: Sequence[tuple[str, str]] = ()) -> None:
        self.workdir = workdir
        self.scenario = SCENARIOS / scenario
        self.keys = keys
        self.name = f"gw-{secrets.token_hex(3)}"
        self.messages_file = workdir / f"{self.name}.messages.tsv"
        self.trace_file = workdir / f"{self.name}.trace.log"
        self.output = workdir / f"{self.name}.sipp.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ScenarioGateway:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_udp_port(USERPASS_GATEWAY)
        argv = [str(find_sipp()), "-sf", str(self.scenario), "-aa", "-t", "u1",
                "-i", USERPASS_GATEWAY, "-p", str(self.port),
                "-ci", LOOPBACK, "-cp", str(_free_udp_port(LOOPBACK)),
                "-mi", USERPASS_GATEWAY, "-nostdin",
                "-trace_shortmsg", "-shortmessage_file", str(self.messages_file),
                "-trace_msg", "-message_file", str(self.trace_file),
                "-trace_err", "-error_file", str(self.workdir / f"{self.name}.errors.log")]
        for key, value in self.keys:
            argv += ["-key", key, value]
        with self.output.open("wb") as out:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
                preexec_fn=die_with_parent(os.getpid()))
        deadline = time.monotonic() + 10
        while options_ping(self.port, host=USERPASS_GATEWAY, timeout=0.2) is None:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise AssertionError(f"the sipp gateway did not start\n{tail(self.output)}")
        return self

    def __exit__(self, *_: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, 3.0)

    def messages(self) -> list[Message]:
        """What the gateway received and sent so far (OPTIONS probes left out)."""
        try:
            text = self.messages_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) >= 7 and "OPTIONS" not in fields[5]:
                first = fields[6].split()
                what = first[1] if first[0] == "SIP/2.0" else first[0]
                cseq = fields[5].strip().removeprefix("CSeq:")  # "CSeq:1 INVITE"
                found.append(Message(fields[3], " ".join(cseq.split()), what))
        return found

    def wait_for(self, expected: Sequence[Message], timeout: float = 10.0) -> None:
        """Wait until the gateway's messages are ``expected`` (retransmissions aside)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = list(dict.fromkeys(self.messages()))
            if seen == list(expected):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    "the gateway's messages differ:\n" + "\n".join(map(str, seen))
                    + f"\n--- its trace ---\n{tail(self.trace_file, 80)}")
            time.sleep(0.05)


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def load_with_userpass_gateway(kamailio: Kamailio, gateway: SipPeer,
                               userpass_gateway: ScenarioGateway) -> None:
    """The ip-based trunk of set 7 and a userpass trunk of set 8 whose one gateway is
    ``userpass_gateway``, as the operator renders them."""
    ip_based = SipTrunkSpec.model_validate({
        **IP_BASED_SPEC,
        "gateways": [{"gatewayAddress": "127.0.0.1", "port": gateway.port}],
        "ipIdentifiers": [{"ipAddress": f"{CARRIER}/32"}]})
    userpass = SipTrunkSpec.model_validate({
        **USERPASS_SPEC,
        "gateways": [{"gatewayAddress": USERPASS_GATEWAY, "port": userpass_gateway.port}]})
    (namespace, ip_name), (_, userpass_name) = TAG.split("/"), USERPASS_TAG.split("/")
    rendered = render([
        TrunkRoute(namespace, ip_name, SET_ID, siptrunk_edge(ip_based)),
        TrunkRoute(namespace, userpass_name, USERPASS_SET_ID, siptrunk_edge(userpass))])
    assert not rendered.refused
    load(kamailio, dispatcher=rendered.dispatcher_text, addresses=rendered.address_text)


def run_caller(kamailio: Kamailio, workdir: Path, scenario: str,
               keys: Sequence[tuple[str, str]] = ()) -> None:
    """One call from the trusted side (127.0.0.1) with a caller scenario of
    :data:`SCENARIOS` for set 8; fails unless sipp ends it successfully."""
    name = f"caller-{secrets.token_hex(3)}"
    trace = workdir / f"{name}.trace.log"
    argv = [str(find_sipp()), f"{LOOPBACK}:{kamailio.sip_port}",
            "-sf", str(SCENARIOS / scenario), "-key", "trunk_set", str(USERPASS_SET_ID),
            "-s", "15550100", "-m", "1", "-t", "u1",
            "-i", TRUSTED, "-p", str(_free_udp_port(TRUSTED)),
            "-ci", LOOPBACK, "-cp", str(_free_udp_port(LOOPBACK)), "-mi", TRUSTED,
            "-nostdin", "-timeout", "30s", "-timeout_error",
            "-trace_msg", "-message_file", str(trace),
            "-trace_err", "-error_file", str(workdir / f"{name}.errors.log")]
    for key, value in keys:
        argv += ["-key", key, value]
    output = workdir / f"{name}.sipp.log"
    with output.open("wb") as out:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=workdir, timeout=45,
                                check=False)
    assert result.returncode == 0, (
        f"the caller's call failed (sipp exit code {result.returncode})\n"
        f"--- its trace ---\n{tail(trace, 120)}\n--- Kamailio ---\n{kamailio.log_tail()}")


#: What the gateway of gateway-dialog.xml sees of a call up to the end of both
#: re-INVITEs (sent S, received R; retransmissions aside).
CALL_UP = [
    Message("R", "1 INVITE", "INVITE"), Message("S", "1 INVITE", "100"),
    Message("S", "1 INVITE", "200"), Message("R", "1 ACK", "ACK"),
    Message("R", "2 INVITE", "INVITE"), Message("S", "2 INVITE", "200"),
    Message("R", "2 ACK", "ACK"),
    Message("S", "101 INVITE", "INVITE"), Message("R", "101 INVITE", "100"),
    Message("R", "101 INVITE", "200"), Message("S", "101 ACK", "ACK"),
]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout:g}s")
        time.sleep(0.05)


def active_dialogs(kamailio: Kamailio) -> list[dict[str, Any]]:
    """The dialogs the edge holds, but for ended ones (state 5) that only wait for their
    last transaction to be freed."""
    return [dialog for dialog in kamailio.rpc("dlg.list") if dialog["state"] != 5]


# ---- the trusted side picks the set; nobody else does ----------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_strangers_invite_is_refused_and_never_reaches_the_gateway(
        loaded: Kamailio, gateway: SipPeer, tmp_path: Path, transport: Transport) -> None:
    """An INVITE naming set 7 from 127.0.0.2 gets 403 from the edge and the gateway sees
    nothing; the same INVITE from the trusted 127.0.0.1 reaches the gateway."""
    before = gateway.invites_received()
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=STRANGER,
                      transport=transport) == 403
    assert f"refused INVITE naming set {SET_ID} from {STRANGER}:" in log_of(loaded)

    # The trusted call is the marker: it reaches the gateway after anything the edge
    # could have relayed before its 403, so one INVITE more means the stranger's never.
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=TRUSTED,
                      transport=transport) == 200
    assert gateway.invites_received() == before + 1


def test_a_carrier_may_not_pick_an_outbound_set(loaded: Kamailio, gateway: SipPeer,
                                                tmp_path: Path) -> None:
    """Being in the permissions table makes a carrier, not the trusted side: its INVITE
    with X-Trunk-Set is refused too, even naming its own trunk's set."""
    before = gateway.invites_received()
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=CARRIER) == 403
    assert f"refused INVITE naming set {SET_ID} from {CARRIER}:" in log_of(loaded)
    # The trusted call after it as the marker (see above): one INVITE more, not two.
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=TRUSTED) == 200
    assert gateway.invites_received() == before + 1


# ---- the permissions table is enforced for who claims to be a carrier -----------------


def test_only_addresses_in_the_permissions_table_pass_as_carriers(
        loaded: Kamailio, gateway: SipPeer, no_header_scenario: Path, tmp_path: Path) -> None:
    """An INVITE without X-Trunk-Set (a call towards Bolna): from the carrier's address
    in the table it is recognised (404 No Inbound Route: the edge routes no inbound call,
    and says whose address it was); from a stranger, 403. Once the operator's table no
    longer holds the carrier's address, the carrier is a stranger too."""
    def call_from(source: str) -> int:
        return place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=source,
                          scenario=no_header_scenario)

    before = gateway.invites_received()
    assert call_from(CARRIER) == 404
    assert (f"INVITE from {CARRIER}:" in log_of(loaded)
            and f"a carrier address of set {SET_ID} ({TAG})" in log_of(loaded))
    assert call_from(STRANGER) == 403
    assert (f"refused INVITE from {STRANGER}:" in log_of(loaded)
            and "neither a trusted source nor a carrier address" in log_of(loaded))

    load(loaded, addresses="# no ip-based trunk any more\n")
    assert loaded.rpc("permissions.subnetDump") == []
    assert loaded.rpc("permissions.addressDump") == []
    assert call_from(CARRIER) == 403
    assert gateway.invites_received() == before


# ---- what everyone may still do --------------------------------------------------------


def test_keepalives_and_other_requests(loaded: Kamailio) -> None:
    """OPTIONS to the edge itself is answered whoever asks; any other request outside a
    dialog is 403 for a stranger and, as before, 405 for the trusted side."""
    port = loaded.sip_port
    assert options_ping(port, source=STRANGER) == 200
    assert options_ping(port, source=STRANGER, transport="tcp") == 200
    assert options_ping(port, source=TRUSTED) == 200
    assert request(port, "OPTIONS", source=STRANGER) == 200

    for method, user in (("MESSAGE", "15550100"), ("REGISTER", None),
                         ("OPTIONS", "15550100"), ("SUBSCRIBE", "15550100")):
        assert request(port, method, source=STRANGER, user=user) == 403, method
        assert request(port, method, source=TRUSTED, user=user) == 405, method
    # The carrier of an ip-based trunk is known, not trusted: nothing but INVITE.
    assert request(port, "MESSAGE", source=CARRIER, user="15550100") == 405


def test_in_dialog_requests_go_only_along_recorded_routes(loaded: Kamailio,
                                                           gateway: SipPeer) -> None:
    """A request that claims to be inside a dialog (a To tag) but carries no Route the
    edge recorded is not relayed, whoever sends it; an ACK is never answered."""
    before = gateway.invites_received()
    for source in (STRANGER, TRUSTED):
        assert request(loaded.sip_port, "BYE", source=source, user="15550100",
                       to_tag=True) == 404
        assert request(loaded.sip_port, "INVITE", source=source, user="15550100",
                       to_tag=True) == 404
        assert request(loaded.sip_port, "ACK", source=source, user="15550100") is None
    assert gateway.invites_received() == before


# ---- in-dialog requests: only inside a dialog the edge created (issue 23) --------------


@pytest.mark.parametrize("route_params", ["", ";did=1.1"], ids=["no-cookie", "guessed-cookie"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_preloaded_route_into_no_dialog_never_reaches_the_gateway(
        loaded: Kamailio, gateway: SipPeer, transport: Transport, route_params: str) -> None:
    """The attack of issue 23: from the stranger 127.0.0.2, an INVITE with a To tag, a
    Route preloaded to the edge (with no dialog cookie, or a guessed one), X-Trunk-Set,
    and the gateway as request URI. The edge answers 404 and logs a WARNING naming the
    source; the gateway never sees it."""
    mark = len(log_of(loaded))
    before = gateway.invites_received()
    assert forged_in_dialog_invite(loaded.sip_port, gateway.port, source=STRANGER,
                                   transport=transport, route_params=route_params) == 404
    line = wait_for_log_line(
        loaded, REFUSED_IN_DIALOG.format(method="INVITE", source=STRANGER), after=mark)
    assert " WARNING: " in line and line.endswith(": no dialog of this edge")
    # The edge answered and logged its verdict: whatever it relays goes before that.
    assert gateway.invites_received() == before


@pytest.mark.parametrize("who_hangs_up", ["caller", "gateway"])
def test_a_whole_call_passes_the_edge_both_ways(kamailio: Kamailio, gateway: SipPeer,
                                                tmp_path: Path, who_hangs_up: str) -> None:
    """A call from the trusted side to a userpass trunk's gateway at 127.0.0.4, an
    address the edge has in no table: the ACK, a re-INVITE from the caller, one from
    the gateway, and the BYE from either end all pass the edge and are answered 200
    (the caller's sipp checks its side of every exchange, the gateway's trace its
    own); the edge then holds no dialog."""
    with ScenarioGateway(tmp_path, "gateway-dialog.xml",
                         [("bye", who_hangs_up), ("hold", "0")]) as gw:
        load_with_userpass_gateway(kamailio, gateway, gw)
        run_caller(kamailio, tmp_path, "caller-dialog.xml", [("bye", who_hangs_up)])
        bye = ([Message("R", "3 BYE", "BYE"), Message("S", "3 BYE", "200")]
               if who_hangs_up == "caller" else
               [Message("S", "102 BYE", "BYE"), Message("R", "102 BYE", "200")])
        gw.wait_for([*CALL_UP, *bye])
    wait_until(lambda: not active_dialogs(kamailio), "the edge still holds the dialog")


def test_a_ringing_call_is_cancelled_through_the_edge(kamailio: Kamailio, gateway: SipPeer,
                                                      tmp_path: Path) -> None:
    """The caller cancels a call while the gateway rings: the CANCEL reaches the gateway
    (200), its 487 reaches the caller, whose ACK for it the edge absorbs (tm), and the
    edge ACKs the 487 to the gateway itself."""
    with ScenarioGateway(tmp_path, "gateway-ringing.xml") as gw:
        load_with_userpass_gateway(kamailio, gateway, gw)
        run_caller(kamailio, tmp_path, "caller-cancel.xml")
        gw.wait_for([
            Message("R", "1 INVITE", "INVITE"), Message("S", "1 INVITE", "100"),
            Message("S", "1 INVITE", "180"), Message("R", "1 CANCEL", "CANCEL"),
            Message("S", "1 CANCEL", "200"), Message("S", "1 INVITE", "487"),
            Message("R", "1 ACK", "ACK")])
    wait_until(lambda: not active_dialogs(kamailio), "the edge still holds the dialog")


def test_a_live_dialog_needs_its_cookie_and_its_call_id_and_tags(
        kamailio: Kamailio, gateway: SipPeer, tmp_path: Path) -> None:
    """While a call is up, a stranger who knows its dialog cookie but not its Call-ID
    and tags, or its Call-ID and tags but not the cookie, still gets 404: the edge
    matches a dialog on both (DID_ONLY). The call itself goes on and ends normally."""
    with ScenarioGateway(tmp_path, "gateway-dialog.xml",
                         [("bye", "gateway"), ("hold", "5000")]) as gw:
        load_with_userpass_gateway(kamailio, gateway, gw)
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(run_caller, kamailio, tmp_path, "caller-dialog.xml",
                                 [("bye", "gateway")])
            # The gateway holds the call once it ACKed its own re-INVITE.
            gw.wait_for(CALL_UP)
            (dialog,) = active_dialogs(kamailio)
            # The cookie as the edge wrote it into its Record-Route.
            cookie = re.search(r"^Record-Route: <[^>]*(;did=[0-9a-f]+\.[0-9a-f]+)",
                               gw.trace_file.read_text(encoding="utf-8"), re.MULTILINE)
            assert cookie, "no dialog cookie in the Record-Route the gateway received"
            mark = len(log_of(kamailio))
            before = gateway.invites_received()
            assert forged_in_dialog_invite(kamailio.sip_port, gateway.port, source=STRANGER,
                                           transport="udp", route_params=cookie.group(1)) == 404
            assert forged_in_dialog_invite(
                kamailio.sip_port, gateway.port, source=STRANGER, transport="udp",
                call_id=dialog["call-id"], from_tag=dialog["caller"]["tag"],
                to_tag=dialog["callee"]["tag"]) == 404
            refused = REFUSED_IN_DIALOG.format(method="INVITE", source=STRANGER)
            wait_until(lambda: log_of(kamailio)[mark:].count(refused) == 2,
                       "two refusals in the log")
            # The cookie did name the call: the dialog module found it, then refused
            # the request on its Call-ID and tags.
            assert "tight matching failed for INVITE" in log_of(kamailio)[mark:]
            assert gateway.invites_received() == before
            # Still the same call: the refusals came while the edge held it.
            assert [d["h_id"] for d in active_dialogs(kamailio)] == [dialog["h_id"]]
            caller.result(timeout=60)
        gw.wait_for([*CALL_UP, Message("S", "102 BYE", "BYE"), Message("R", "102 BYE", "200")])
    wait_until(lambda: not active_dialogs(kamailio), "the edge still holds the dialog")


def test_a_call_past_the_dialog_timeout_is_ended_at_both_ends(gateway: SipPeer,
                                                               tmp_path: Path) -> None:
    """DIALOG_TIMEOUT seconds without an in-dialog request end the call: the edge sends
    a BYE to both ends (the gateway holds the call for 20 s, so the BYE the caller gets
    within that is the edge's) and forgets the dialog."""
    with Kamailio(tmp_path / "kamailio", trusted_networks=f"{TRUSTED}/32,::1/128",
                  reload_delta=RELOAD_DELTA, extra_defines={"DIALOG_TIMEOUT": 2}) as edge, \
            ScenarioGateway(tmp_path, "gateway-dialog.xml",
                            [("bye", "gateway"), ("hold", "20000")]) as gw:
        load_with_userpass_gateway(edge, gateway, gw)
        started = time.monotonic()
        run_caller(edge, tmp_path, "caller-dialog.xml", [("bye", "gateway")])
        assert time.monotonic() - started < 15
        # The edge's BYE to the gateway continues the caller's CSeq.
        gw.wait_for([*CALL_UP, Message("R", "3 BYE", "BYE"), Message("S", "3 BYE", "200")])
        wait_until(lambda: not active_dialogs(edge), "the edge still holds the dialog")


# ---- the defaults and the harness ------------------------------------------------------


def test_the_configs_default_trusts_loopback_only(tmp_path: Path, gateway: SipPeer) -> None:
    """Without TRUSTED_NETWORKS the config trusts 127.0.0.0/8 and ::1: any local caller
    places calls (the local stack, the other tests), nobody else."""
    with Kamailio(tmp_path / "kamailio", reload_delta=RELOAD_DELTA) as edge:
        assert "TRUSTED_NETWORKS" not in " ".join(edge.command())
        load(edge, dispatcher=_rendered(gateway).dispatcher_text)
        before = gateway.invites_received()
        assert place_call(edge.sip_port, SET_ID, workdir=tmp_path, source=STRANGER) == 200
        assert gateway.invites_received() == before + 1
    cfg = (Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "kamailio.cfg"
           ).read_text(encoding="utf-8")
    assert '#!define TRUSTED_NETWORKS "127.0.0.0/8,::1/128"' in cfg


@pytest.mark.parametrize("networks", ["10.0.0.0/8, 127.0.0.1/32", "127.0.0.1", "",
                                      'x"/8', "10.0.0.0/33"])
def test_trusted_networks_must_be_cidrs(tmp_path: Path, networks: str) -> None:
    """What is_in_subnet would not read is refused before Kamailio starts."""
    with pytest.raises(ValueError, match="not a CIDR"):
        Kamailio(tmp_path, trusted_networks=networks)


def test_calls_leave_only_from_loopback(tmp_path: Path) -> None:
    """The harness sends test traffic from loopback addresses only."""
    for source in ("192.0.2.1", "::1", "localhost"):
        with pytest.raises(ValueError, match="loopback"):
            place_call(5060, SET_ID, workdir=tmp_path, source=source)
