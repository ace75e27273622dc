"""Who the SIP edge relays for: real Kamailio with deploy/kamailio/kamailio.cfg, real sipp.

Issue 15, item 9: the edge used to relay any INVITE naming a set with ``X-Trunk-Set``,
whoever sent it. Now only the trusted side (``TRUSTED_NETWORKS``) may pick an outbound
set; a source that claims to be a carrier must be in the permissions address table the
operator renders from the ip-based trunks' ``ipIdentifiers``; everyone else gets 403.

Linux routes all of 127.0.0.0/8 to ``lo``, so the peers here are loopback addresses:
Kamailio trusts 127.0.0.1/32 only; 127.0.0.2 is a stranger; 127.0.0.3 is the carrier of
an ip-based trunk (its ``ipIdentifiers``). The dispatcher and address lists are what
the operator's own renderer makes of such a SipTrunk. Nothing leaves loopback.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bolna_devenv.kamailio import Kamailio, KamailioRpcError
from bolna_devenv.sip_peer import UAC_SCENARIO, SipPeer, Transport, options_ping, place_call
from bolna_sip_operator.edge.views import siptrunk_edge
from bolna_sip_operator.kamailio.render import Rendered, TrunkRoute, render
from bolna_sip_operator.model.spec import SipTrunkSpec
from tests.corpus import IP_BASED_SPEC

pytestmark = pytest.mark.integration

TRUSTED = "127.0.0.1"
STRANGER = "127.0.0.2"
CARRIER = "127.0.0.3"
SET_ID = 7
TAG = "telephony/carrier-ip"
RELOAD_DELTA = 1


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


# ---- the trusted side picks the set; nobody else does ----------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_strangers_invite_is_refused_and_never_reaches_the_gateway(
        loaded: Kamailio, gateway: SipPeer, tmp_path: Path, transport: Transport) -> None:
    """An INVITE naming set 7 from 127.0.0.2 gets 403 from the edge and the gateway sees
    nothing; the same INVITE from the trusted 127.0.0.1 reaches the gateway."""
    before = gateway.invites_received()
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=STRANGER,
                      transport=transport) == 403
    time.sleep(0.5)  # anything relayed would have arrived by now
    assert gateway.invites_received() == before
    assert f"refused INVITE naming set {SET_ID} from {STRANGER}:" in log_of(loaded)

    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=TRUSTED,
                      transport=transport) == 200
    assert gateway.invites_received() == before + 1


def test_a_carrier_may_not_pick_an_outbound_set(loaded: Kamailio, gateway: SipPeer,
                                                tmp_path: Path) -> None:
    """Being in the permissions table makes a carrier, not the trusted side: its INVITE
    with X-Trunk-Set is refused too, even naming its own trunk's set."""
    before = gateway.invites_received()
    assert place_call(loaded.sip_port, SET_ID, workdir=tmp_path, source=CARRIER) == 403
    time.sleep(0.5)
    assert gateway.invites_received() == before
    assert f"refused INVITE naming set {SET_ID} from {CARRIER}:" in log_of(loaded)


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
