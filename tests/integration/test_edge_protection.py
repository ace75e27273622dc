"""A carrier-facing edge that protects itself: real Kamailio with deploy/kamailio/kamailio.cfg,
real sipp at both ends, on loopback (issue 28).

- Failover codes: with two gateways in one set, which answers of the first make the
  edge try the second (timeout, 408 before ringing, 478, 5xx) and which go back to the
  caller as they are (486, 600, 603, 408 after ringing); a 503 with Retry-After takes
  the gateway out of selection for that long.
- Flood protection: a source over FLOOD_RATE requests a second is banned for FLOOD_BAN
  seconds (its requests dropped unanswered, counted); the trusted side, a carrier's
  permitted address and a gateway are never banned.
- Scanners: a request whose User-Agent is a known scanner's is dropped unanswered.
- Channel limits: a CarrierTrunk's ``channels`` caps the calls in progress through the
  edge; the next INVITE gets 503 Channel Limit Reached.

Addresses (Linux routes all of 127/8 to ``lo``): 127.0.0.1 is the trusted side (the
caller, and the answering second gateway); 127.0.0.4 is the first gateway, played by
sipp with tests/integration/sipp/gateway-answers.xml; 127.0.0.3 a carrier's permitted
address; 127.0.0.2, 127.0.0.5 and up strangers. Nothing leaves loopback.

"Nothing happened" is asserted only after a signal that the edge dealt with the
request: Kamailio's own counters (``stats.fetch``) or a log line it writes when it
drops, and the edge's log of where it sent each call (written before it relays).
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.kamailio import Kamailio, KamailioRpcError
from bolna_devenv.processes import LOOPBACK, tail
from bolna_devenv.sip_peer import SipPeer, find_sipp, place_call
from bolna_sip_operator.edge.views import carrier_edge, siptrunk_edge
from bolna_sip_operator.kamailio.render import TrunkRoute, render
from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec
from bolna_sip_operator.model.spec import SipTrunkSpec
from tests.corpus import IP_BASED_SPEC, USERPASS_SPEC
from tests.integration.test_edge_security import (
    SCENARIOS,
    Message,
    ScenarioGateway,
    load,
    log_of,
    wait_for_log_line,
    wait_until,
)

pytestmark = pytest.mark.integration

TRUSTED = "127.0.0.1"
STRANGER = "127.0.0.2"
CARRIER = "127.0.0.3"
#: Where ScenarioGateway listens: the first gateway of the failover set.
FIRST_GATEWAY = "127.0.0.4"
FAILOVER_SET = 8
CARRIER_SET = 7
LIMIT_SET = 9
CHANNELS = 2
#: A Retry-After long enough to place a second call inside it.
RETRY_AFTER = 6
FLOOD_RATE = 5
FLOOD_BAN = 8


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything this module starts writes here."""
    return tmp_path_factory.mktemp("edge-protection")


@pytest.fixture(scope="module")
def second(workdir: Path) -> Iterator[SipPeer]:
    """The second gateway of every set: answers every call (and logs each INVITE)."""
    with SipPeer(workdir / "peers", name="second") as peer:
        yield peer


@pytest.fixture(scope="module")
def edge(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio trusting 127.0.0.1 alone, with a low flood rate and a short ban."""
    with Kamailio(workdir / "kamailio", trusted_networks=f"{TRUSTED}/32,::1/128",
                  ping_interval=1, fr_timer_ms=1000, reload_delta=1,
                  extra_defines={"FLOOD_RATE": FLOOD_RATE, "FLOOD_BAN": FLOOD_BAN}) as kamailio:
        yield kamailio


# ---- helpers -------------------------------------------------------------------------


def load_sets(kamailio: Kamailio, first: ScenarioGateway | None, second: SipPeer) -> None:
    """The lists the operator renders for: a userpass SipTrunk (set 8) whose gateways are
    ``first`` (priority 1) and ``second`` (priority 2); an ip-based SipTrunk (set 7)
    whose carrier is 127.0.0.3; a CarrierTrunk with ``channels: 2`` (set 9) whose one
    gateway is ``second``."""
    gateways = [{"gatewayAddress": TRUSTED, "port": second.port, "priority": 2}]
    if first is not None:
        gateways.insert(0, {"gatewayAddress": FIRST_GATEWAY, "port": first.port,
                            "priority": 1})
    failover = SipTrunkSpec.model_validate({**USERPASS_SPEC, "gateways": gateways})
    ip_based = SipTrunkSpec.model_validate({
        **IP_BASED_SPEC, "gateways": [{"gatewayAddress": TRUSTED, "port": second.port}],
        "ipIdentifiers": [{"ipAddress": f"{CARRIER}/32"}]})
    limited = CarrierTrunkSpec.model_validate({
        "channels": CHANNELS, "gateways": [{"host": TRUSTED, "port": second.port}]})
    rendered = render([
        TrunkRoute("telephony", "carrier-ip", CARRIER_SET, siptrunk_edge(ip_based)),
        TrunkRoute("telephony", "failover", FAILOVER_SET, siptrunk_edge(failover)),
        TrunkRoute("telephony", "limited", LIMIT_SET, carrier_edge(limited),
                   tag="ctrunk:")])
    assert not rendered.refused
    load(kamailio, dispatcher=rendered.dispatcher_text, addresses=rendered.address_text)


def counters(kamailio: Kamailio) -> dict[str, int]:
    """The edge's protection counters, as the operator reads them (``stats.fetch``)."""
    fetched: dict[str, Any] = kamailio.rpc("stats.fetch", "script:")
    return {name.removeprefix("script."): int(value) for name, value in fetched.items()}


def wait_counter(kamailio: Kamailio, name: str, above: int, timeout: float = 10.0) -> int:
    """Wait until counter ``name`` exceeds ``above``; its value then."""
    deadline = time.monotonic() + timeout
    while (value := counters(kamailio)[name]) <= above:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed at {value} for {timeout:g}s\n"
                                 f"{kamailio.log_tail()}")
        time.sleep(0.05)
    return value


def held(kamailio: Kamailio, table: str, key: str) -> bool:
    """Whether ``key`` is in htable ``table`` and not expired (``htable.get`` checks the
    expiry as routing does; ``htable.dump`` lists expired items until the htable timer
    removes them)."""
    try:
        kamailio.rpc("htable.get", table, key)
    except KamailioRpcError as error:
        if "doesn't exist" in error.fault:
            return False
        raise
    return True


def flags_of(kamailio: Kamailio, uri: str) -> str:
    """The dispatcher flags of the destination ``uri`` (AP up, IP out)."""
    (target,) = [t for t in kamailio.dispatcher_targets() if t["URI"] == uri]
    return str(target["FLAGS"])


def edge_routes(kamailio: Kamailio, mark: int) -> list[str]:
    """The gateways the edge sent calls to since log position ``mark``, in order (its
    INFO line before the first relay and NOTICE line before each failover)."""
    routed = []
    for line in log_of(kamailio)[mark:].splitlines():
        if " via sip:" in line and ("set " in line or "failover after" in line):
            routed.append(line.rsplit(" via ", 1)[1].strip())
    return routed


class Datagrams:
    """One UDP socket on a loopback source: sends requests to the edge, keeps replies."""

    def __init__(self, source: str, edge_port: int) -> None:
        self.source = source
        self.edge = (TRUSTED, edge_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.port = int(self.sock.getsockname()[1])

    def __enter__(self) -> Datagrams:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, method: str = "OPTIONS", *, user_agent: str = "bolna-test",
             user: str | None = None, extra: str = "") -> None:
        """One request outside a dialog (a fresh Call-ID and branch each time)."""
        target = f"sip:{user + '@' if user else ''}{TRUSTED}:{self.edge[1]}"
        message = (
            f"{method} {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.source}:{self.port};branch=z9hG4bK-{secrets.token_hex(8)}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{self.source}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{self.source}\r\n"
            f"CSeq: 1 {method}\r\n"
            f"User-Agent: {user_agent}\r\n"
            f"{extra}"
            "Content-Length: 0\r\n\r\n").encode()
        self.sock.sendto(message, self.edge)

    def replies(self, wait: float = 0.0) -> list[int]:
        """Status codes of the replies received so far; ``wait`` > 0 waits that long for
        the first one (use it only where a reply is expected)."""
        codes: list[int] = []
        self.sock.settimeout(wait if wait > 0 else None)
        self.sock.setblocking(wait > 0)
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, TimeoutError):
                return codes
            text = data.decode("utf-8", "replace")
            if text.startswith("SIP/2.0 "):
                codes.append(int(text.split(" ", 2)[1]))
            self.sock.setblocking(False)

    def ask(self, method: str = "OPTIONS", **kwargs: Any) -> int | None:
        """One request and its first reply (None after 2 s without one)."""
        self.replies()
        self.send(method, **kwargs)
        codes = self.replies(wait=2.0)
        return codes[0] if codes else None


def flood(source: str, edge_port: int, count: int = 60) -> None:
    """``count`` OPTIONS from ``source`` as fast as the socket goes."""
    with Datagrams(source, edge_port) as sender:
        for _ in range(count):
            sender.send()


# ---- 1. failover codes -----------------------------------------------------------------


@pytest.mark.parametrize(("answer", "caller_gets"), [
    ("486", 486), ("600", 600), ("603", 603), ("ring-408", 408),
])
def test_the_callees_own_answers_are_final(edge: Kamailio, second: SipPeer, tmp_path: Path,
                                           answer: str, caller_gets: int) -> None:
    """486, 600, 603, and a 408 after the callee rang: the caller gets the first
    gateway's answer, and the second gateway never sees the call."""
    with ScenarioGateway(tmp_path, "gateway-answers.xml",
                         [("answer", answer), ("retry_after", "0")]) as first:
        load_sets(edge, first, second)
        before = second.invites_received()
        mark = len(log_of(edge))
        assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == caller_gets
        sent = [Message("S", "1 INVITE", "180")] if answer == "ring-408" else []
        first.wait_for([Message("R", "1 INVITE", "INVITE"), Message("S", "1 INVITE", "100"),
                        *sent, Message("S", "1 INVITE", str(caller_gets)),
                        Message("R", "1 ACK", "ACK")])
        wait_for_log_line(edge, f"final {caller_gets} from sip:{FIRST_GATEWAY}:{first.port}",
                          after=mark)
    # The edge logs each gateway it sends a call to before it relays: one, the first.
    assert edge_routes(edge, mark) == [f"sip:{FIRST_GATEWAY}:{first.port}"]
    assert second.invites_received() == before


@pytest.mark.parametrize("answer", ["478", "500", "502", "503", "408", "silent"])
def test_gateway_failures_go_on_to_the_next_gateway(edge: Kamailio, second: SipPeer,
                                                    tmp_path: Path, answer: str) -> None:
    """478, 5xx, a 408 before any ringing, and no answer at all (FR_TIMER): the same
    call goes on to the second gateway, which answers it (the caller gets 200)."""
    with ScenarioGateway(tmp_path, "gateway-answers.xml",
                         [("answer", answer), ("retry_after", "0")]) as first:
        load_sets(edge, first, second)
        before = second.invites_received()
        mark = len(log_of(edge))
        assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == 200
        assert second.invites_received() == before + 1
        if answer == "silent":
            first.wait_for([Message("R", "1 INVITE", "INVITE")])
            cause = "408"  # tm's own, after FR_TIMER
        else:
            first.wait_for([Message("R", "1 INVITE", "INVITE"),
                            Message("S", "1 INVITE", "100"),
                            Message("S", "1 INVITE", answer), Message("R", "1 ACK", "ACK")])
            cause = answer
    first_uri = f"sip:{FIRST_GATEWAY}:{first.port}"
    assert edge_routes(edge, mark) == [first_uri, f"sip:{TRUSTED}:{second.port}"]
    assert f"failover after {cause} from {first_uri}:" in log_of(edge)[mark:]
    # A plain failure does not take the gateway out: it stays active.
    assert flags_of(edge, first_uri) == "AP"


def test_a_503_with_retry_after_takes_the_gateway_out_for_that_long(
        edge: Kamailio, second: SipPeer, tmp_path: Path) -> None:
    """The first gateway answers 503 with Retry-After: 6. The call fails over; the edge
    marks the gateway inactive in the dispatcher (IP) and keeps it out of selection for
    6 s, though it answers OPTIONS all along: the next call goes straight to the second
    gateway. Once the time is over and probing has it active, calls reach it again."""
    with ScenarioGateway(tmp_path, "gateway-answers.xml",
                         [("answer", "503-retry"), ("retry_after", str(RETRY_AFTER))]) as first:
        load_sets(edge, first, second)
        first_uri, second_uri = f"sip:{FIRST_GATEWAY}:{first.port}", f"sip:{TRUSTED}:{second.port}"
        before = counters(edge)["edge_gateway_retry_after"]
        mark = len(log_of(edge))
        assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == 200
        assert edge_routes(edge, mark) == [first_uri, second_uri]
        line = wait_for_log_line(edge, f"gateway {first_uri} answered 503 with Retry-After",
                                 after=mark)
        assert line.endswith(f"out of selection for {RETRY_AFTER} s")
        # Marked inactive in the dispatcher, as a failed probe would (the event route
        # logs it), so the operator's health sees it out.
        wait_for_log_line(edge, f"gateway down: {first_uri}", after=mark)
        assert counters(edge)["edge_gateway_retry_after"] == before + 1
        assert held(edge, "gwout", first_uri)

        # Probing has it active again within a second or two (it answers OPTIONS), but
        # the Retry-After still holds: the next call goes straight to the second
        # gateway. (Still held after the call: so it was held all through it.)
        wait_until(lambda: flags_of(edge, first_uri) == "AP", "the gateway is not AP again")
        assert held(edge, "gwout", first_uri)
        mark = len(log_of(edge))
        assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == 200
        assert edge_routes(edge, mark) == [second_uri]
        assert held(edge, "gwout", first_uri)

        # After it: the first gateway gets calls again (and answers 503 again).
        wait_until(lambda: not held(edge, "gwout", first_uri),
                   "the gateway is still held out", timeout=RETRY_AFTER + 5)
        mark = len(log_of(edge))
        assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == 200
        assert edge_routes(edge, mark) == [first_uri, second_uri]
        # Exactly two INVITEs reached it (the first and third calls), none in between.
        first.wait_for([Message("R", "1 INVITE", "INVITE"), Message("S", "1 INVITE", "100"),
                        Message("S", "1 INVITE", "503"), Message("R", "1 ACK", "ACK")])
        invites = {line.split("\t")[4] for line in first.messages_file.read_text(
            encoding="utf-8").splitlines() if "\tR\t" in line and "\tINVITE " in line}
        assert len(invites) == 2, invites


# ---- 2. flood protection ---------------------------------------------------------------


def test_a_flooding_stranger_is_banned_and_dropped_silently(edge: Kamailio, second: SipPeer
                                                            ) -> None:
    """60 OPTIONS at once from 127.0.0.2 (over 5 a second): the edge bans it (a
    WARNING, a counter), then drops its requests without an answer (another counter)
    until the ban's 8 s are over; then it is answered again."""
    load_sets(edge, None, second)
    before = counters(edge)
    mark = len(log_of(edge))
    flood(STRANGER, edge.sip_port)
    line = wait_for_log_line(edge, f"banned {STRANGER} for {FLOOD_BAN} s", after=mark)
    assert " WARNING: " in line
    assert counters(edge)["edge_flood_bans"] == before["edge_flood_bans"] + 1

    with Datagrams(STRANGER, edge.sip_port) as stranger:
        drops = counters(edge)["edge_flood_drops"]
        stranger.send()
        stranger.send("INVITE", user="15550100", extra=f"X-Trunk-Set: {FAILOVER_SET}\r\n")
        # The edge counted both as dropped: it is done with them, and answered neither.
        wait_counter(edge, "edge_flood_drops", drops + 1)
        assert stranger.replies() == []
        assert held(edge, "ipban", STRANGER)

        wait_until(lambda: not held(edge, "ipban", STRANGER), "the ban is still in place",
                   timeout=FLOOD_BAN + 5)
        assert stranger.ask() == 200
    assert counters(edge)["edge_flood_bans"] == before["edge_flood_bans"] + 1


@pytest.mark.parametrize("source", [TRUSTED, CARRIER, FIRST_GATEWAY],
                         ids=["trusted", "carrier", "gateway"])
def test_the_trusted_side_carriers_and_gateways_are_never_banned(
        edge: Kamailio, second: SipPeer, tmp_path: Path, source: str) -> None:
    """The same flood from the trusted 127.0.0.1, from 127.0.0.3 (a carrier's permitted
    address) or from 127.0.0.4 (a gateway of set 8): no ban, and what they may do
    still works right after it (a call; a carrier's INVITE recognised; a keepalive)."""
    with ScenarioGateway(tmp_path, "gateway-answers.xml",
                         [("answer", "200"), ("retry_after", "0")]) as first:
        load_sets(edge, first, second)
        bans = counters(edge)["edge_flood_bans"]
        with Datagrams(source, edge.sip_port) as sender:
            for _ in range(60):
                sender.send()
            # Every one of the 60 is answered 200: none was dropped.
            deadline = time.monotonic() + 10
            answered: list[int] = []
            while len(answered) < 60 and time.monotonic() < deadline:
                answered += sender.replies(wait=0.5)
            assert answered == [200] * 60
            if source == CARRIER:
                assert sender.ask("INVITE", user="15550100") == 404  # No Inbound Route
        if source == TRUSTED:
            assert place_call(edge.sip_port, FAILOVER_SET, workdir=tmp_path) == 200
    assert counters(edge)["edge_flood_bans"] == bans
    assert not held(edge, "ipban", source)


# ---- 3. scanners -----------------------------------------------------------------------


@pytest.mark.parametrize(("source", "user_agent"), [
    ("127.0.0.5", "friendly-scanner"), ("127.0.0.6", "sipvicious 0.3.4"),
    ("127.0.0.7", "SIPCLI/v1.8"), ("127.0.0.8", "VaxSIPUserAgent/3.1"),
])
def test_a_scanners_requests_get_no_answer(edge: Kamailio, source: str, user_agent: str
                                           ) -> None:
    """A known scanner's User-Agent (any letter case): dropped with one NOTICE per
    source and minute and a counter, never answered; the same request with an ordinary
    User-Agent from the same source is answered."""
    with Datagrams(source, edge.sip_port) as scanner:
        mark = len(log_of(edge))
        drops = counters(edge)["edge_scanner_drops"]
        scanner.send(user_agent=user_agent)
        line = wait_for_log_line(edge, f"dropped OPTIONS from scanner {source}:", after=mark)
        assert " NOTICE: " in line and f'User-Agent "{user_agent}"' in line
        wait_counter(edge, "edge_scanner_drops", drops)
        scanner.send("INVITE", user="15550100", user_agent=user_agent.upper())
        wait_counter(edge, "edge_scanner_drops", drops + 1)
        assert scanner.replies() == []
        # One line per source and minute.
        assert log_of(edge)[mark:].count(f"from scanner {source}:") == 1

        assert scanner.ask(user_agent="Bolna/1.0 (friendly)") == 200


# ---- 4. channel limits -----------------------------------------------------------------


def test_calls_over_a_carrier_trunks_channels_are_refused(edge: Kamailio, second: SipPeer,
                                                          tmp_path: Path) -> None:
    """A CarrierTrunk with channels: 2. Two calls in progress through the edge; the
    third gets 503 Channel Limit Reached (Q.850 cause 34) and never reaches the
    gateway; once the two ended, a call passes again."""
    load_sets(edge, None, second)
    (line,) = [t for t in edge.dispatcher_targets() if t["SET"] == LIMIT_SET]
    assert f"maxcalls={CHANNELS};" in line["ATTRS"]["BODY"]
    refusals = counters(edge)["edge_call_limit_refusals"]
    before = second.invites_received()
    with (tmp_path / "held.sipp.log").open("wb") as out, subprocess.Popen(
            _held_calls(edge, CHANNELS, tmp_path), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, cwd=tmp_path) as held:
        try:
            wait_until(lambda: len(_confirmed(edge)) == CHANNELS,
                       f"{CHANNELS} calls up through the edge")
            mark = len(log_of(edge))
            trace = tmp_path / "over"
            assert place_call(edge.sip_port, LIMIT_SET, workdir=trace) == 503
            (reply,) = [block for block in _trace_text(trace).split("----")
                        if "SIP/2.0 503" in block]
            assert "SIP/2.0 503 Channel Limit Reached" in reply
            assert 'Reason: Q.850;cause=34;text="channel limit reached"' in reply
            assert "Retry-After" not in reply
            wait_for_log_line(edge, f"set {LIMIT_SET}: {CHANNELS} calls in progress, the "
                              f"channel limit is {CHANNELS}: refused", after=mark)
            assert counters(edge)["edge_call_limit_refusals"] == refusals + 1
            assert second.invites_received() == before + CHANNELS
        finally:
            assert held.wait(timeout=30) == 0, tail(tmp_path / "held.sipp.log")
    wait_until(lambda: not _confirmed(edge), "the held calls' dialogs are gone")
    assert place_call(edge.sip_port, LIMIT_SET, workdir=tmp_path) == 200
    assert second.invites_received() == before + CHANNELS + 1


def _held_calls(kamailio: Kamailio, calls: int, workdir: Path) -> list[str]:
    """sipp placing ``calls`` calls at once to the limited set, each held 4 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind((TRUSTED, 0))
        b.bind((LOOPBACK, 0))
        port, control = a.getsockname()[1], b.getsockname()[1]
    return [str(find_sipp()), f"{LOOPBACK}:{kamailio.sip_port}",
            "-sf", str(SCENARIOS / "caller-hold.xml"), "-key", "trunk_set", str(LIMIT_SET),
            "-s", "15550100", "-m", str(calls), "-l", str(calls), "-r", "50",
            "-d", "4000", "-t", "u1", "-i", TRUSTED, "-p", str(port),
            "-ci", LOOPBACK, "-cp", str(control), "-mi", TRUSTED, "-nostdin",
            "-timeout", "30s", "-timeout_error",
            "-trace_msg", "-message_file", str(workdir / "held.trace.log")]


def _confirmed(kamailio: Kamailio) -> list[dict[str, Any]]:
    """The edge's dialogs of answered calls (state 4, confirmed)."""
    return [d for d in kamailio.rpc("dlg.list") if d["state"] == 4]


def _trace_text(workdir: Path) -> str:
    """The message traces sipp wrote in ``workdir``."""
    return "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in workdir.glob("*.messages.log"))


# ---- the cfg's defaults ----------------------------------------------------------------


def test_protection_defaults_are_documented_and_on() -> None:
    """Flood bans and scanner drops are on by default, with the documented values."""
    cfg = (Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "kamailio.cfg"
           ).read_text(encoding="utf-8")
    for define, value in (("FLOOD_PROTECTION", "1"), ("FLOOD_RATE", "20"),
                          ("FLOOD_BAN", "300"), ("SCANNER_DROP", "1"),
                          ("RETRY_AFTER_MAX", "300")):
        assert f"#!define {define} {value}\n" in cfg
        assert f"#   {define} " in cfg, f"{define} is not in the Parameters block"
    assert '#!define SCANNER_USER_AGENTS "friendly-scanner|sipvicious|sipcli|' in cfg

