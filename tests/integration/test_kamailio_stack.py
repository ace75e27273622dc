"""The SIP stack itself: real Kamailio with deploy/kamailio/kamailio.cfg, real sipp gateways.

Nothing is mocked. Kamailio and sipp run on free loopback ports and are stopped by PID.
When either is not installed the fixtures raise (run ``hack/install-sip-stack.sh``): these
tests fail, they never skip.

Timing: ping interval 1 s, ``fr_timer`` 1 s, probing threshold 2, so a silent gateway is
inactive (IP) about 2-3 s after it stops answering, and a call fails over after 1 s.
The waits below allow several times that; no test asserts a duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.kamailio import Kamailio, KamailioRpcError
from bolna_devenv.sip_peer import SipPeer, options_ping, place_call

pytestmark = pytest.mark.integration

PING_INTERVAL = 1
FR_TIMER_MS = 1000
RELOAD_DELTA = 1
#: A gateway state change must show within this many seconds (several ping rounds).
STATE_WAIT = 12.0

#: The trunk whose two gateways most tests use, and a trunk whose first gateway rejects.
SET_ID = 7
REJECT_SET_ID = 8


# ---- fixtures (module scope: one Kamailio and one set of gateways for the module) ----


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything this module starts writes here."""
    return tmp_path_factory.mktemp("sip-stack")


@pytest.fixture(scope="module")
def kamailio(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio with the project's config, fast probing and a short reload_delta."""
    with Kamailio(
        workdir / "kamailio",
        ping_interval=PING_INTERVAL,
        fr_timer_ms=FR_TIMER_MS,
        probing_threshold=2,
        reload_delta=RELOAD_DELTA,
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def primary(workdir: Path) -> Iterator[SipPeer]:
    """The trunk's preferred gateway (Bolna priority 1)."""
    with SipPeer(workdir / "peers", name="primary") as peer:
        yield peer


@pytest.fixture(scope="module")
def backup(workdir: Path) -> Iterator[SipPeer]:
    """The trunk's second gateway (Bolna priority 2)."""
    with SipPeer(workdir / "peers", name="backup") as peer:
        yield peer


@pytest.fixture(scope="module")
def rejecting(workdir: Path) -> Iterator[SipPeer]:
    """A gateway that answers OPTIONS but rejects every INVITE with 503."""
    with SipPeer(workdir / "peers", name="rejecting", mode="reject") as peer:
        yield peer


@pytest.fixture(scope="module")
def tcp_gateway(workdir: Path) -> Iterator[SipPeer]:
    """A gateway reached over TCP."""
    with SipPeer(workdir / "peers", name="tcp", transport="tcp") as peer:
        yield peer


@pytest.fixture
def dispatcher_list(
    primary: SipPeer, backup: SipPeer, rejecting: SipPeer, tcp_gateway: SipPeer
) -> str:
    """The list the operator would render for two trunks.

    Bolna's priority 1 is preferred, Kamailio's highest number is: the operator inverts.
    Flag 8: probe. The attrs carry the operator's own tags next to ``duid``.
    """
    return (
        "# set uri flags priority attrs\n"
        f"{SET_ID} {primary.uri} 8 20 duid=gw-primary;trunk=sip/acme\n"
        f"{SET_ID} {backup.uri} 8 10 duid=gw-backup;trunk=sip/acme\n"
        f"{REJECT_SET_ID} {rejecting.uri} 8 20 duid=gw-rejecting;trunk=sip/other\n"
        f"{REJECT_SET_ID} {tcp_gateway.uri} 8 10 duid=gw-tcp;trunk=sip/other\n"
    )


# ---- helpers -------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], timeout: float = STATE_WAIT) -> float:
    """Poll ``check`` until it is true; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def reload_dispatcher(kamailio: Kamailio) -> None:
    """``dispatcher.reload``, retried while an earlier reload is within reload_delta."""
    deadline = time.monotonic() + RELOAD_DELTA + 5
    while True:
        try:
            assert kamailio.rpc("dispatcher.reload") == "Ok. Dispatcher successfully reloaded."
            return
        except KamailioRpcError as exc:
            if exc.fault != "Ongoing reload" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def load(kamailio: Kamailio, text: str) -> None:
    """Write the dispatcher list atomically and reload it."""
    kamailio.write_dispatcher(text)
    reload_dispatcher(kamailio)


def flags_of(kamailio: Kamailio, uri: str) -> str:
    """FLAGS of one destination as ``dispatcher.list`` reports it ("" if absent)."""
    return next((t["FLAGS"] for t in kamailio.dispatcher_targets() if t["URI"] == uri), "")


def by_uri(targets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index ``dispatcher.list`` destinations by URI."""
    return {target["URI"]: target for target in targets}


def wait_probed_and_up(kamailio: Kamailio, *peers: SipPeer) -> None:
    """Wait until each peer got a new OPTIONS probe and its entry is AP.

    A reload resets every entry to its file flags (AP here), so AP right after a
    reload proves nothing; a probe answered after it does.
    """
    seen = {peer.name: peer.options_received() for peer in peers}
    for peer in peers:
        wait_for(f"a probe of {peer.name}", partial(probed_since, peer, seen[peer.name]))
        wait_for(f"{peer.name} AP", partial(has_flags, kamailio, peer.uri, "AP"))


def probed_since(peer: SipPeer, before: int) -> bool:
    """True once ``peer`` has received more OPTIONS than ``before``."""
    return peer.options_received() > before


def has_flags(kamailio: Kamailio, uri: str, flags: str) -> bool:
    """True when ``dispatcher.list`` shows ``flags`` for ``uri``."""
    return flags_of(kamailio, uri) == flags


# ---- tests -----------------------------------------------------------------------


def test_starts_empty_and_answers_rpc(tmp_path: Path) -> None:
    """No destinations: Kamailio starts and serves JSON-RPC; dispatcher.list faults.

    Kamailio 5.6 answers ``dispatcher.list`` with 500 "No Destination Sets" for an
    empty list rather than an empty result; ``dispatcher_targets`` maps that to [].
    """
    with Kamailio(tmp_path / "empty", ping_interval=PING_INTERVAL) as empty:
        assert empty.running
        assert empty.rpc_url == f"http://127.0.0.1:{empty.rpc_port}/RPC"
        assert empty.rpc("core.version").startswith("kamailio 5.")
        assert "#" in empty.dispatcher_file.read_text()  # comment-only, but it exists

        with pytest.raises(KamailioRpcError, match="No Destination Sets") as fault:
            empty.rpc("dispatcher.list")
        assert fault.value.status == 500
        assert empty.dispatcher_targets() == []

        # An empty address table is a plain empty list.
        assert empty.rpc("permissions.addressDump") == []
        assert empty.rpc("permissions.subnetDump") == []

        # The edge answers OPTIONS to itself, and a call for an unknown set gets 503.
        assert options_ping(empty.sip_port) == 200
        assert options_ping(empty.sip_port, transport="tcp") == 200
        assert place_call(empty.sip_port, SET_ID, workdir=tmp_path / "calls") == 503
    assert empty.pid is None


def test_reload_loads_destinations_with_attrs(
    kamailio: Kamailio,
    primary: SipPeer,
    backup: SipPeer,
    rejecting: SipPeer,
    tcp_gateway: SipPeer,
    dispatcher_list: str,
) -> None:
    """A written list, once reloaded, is what dispatcher.list reports; probes keep it AP."""
    load(kamailio, dispatcher_list)

    targets = kamailio.dispatcher_targets()
    assert {(t["SET"], t["URI"], t["PRIORITY"]) for t in targets} == {
        (SET_ID, primary.uri, 20),
        (SET_ID, backup.uri, 10),
        (REJECT_SET_ID, rejecting.uri, 20),
        (REJECT_SET_ID, tcp_gateway.uri, 10),
    }
    primary_entry = by_uri(targets)[primary.uri]
    # The operator's own tag survives only inside the attrs body; duid is also parsed.
    assert primary_entry["ATTRS"]["BODY"] == "duid=gw-primary;trunk=sip/acme"
    assert primary_entry["ATTRS"]["DUID"] == "gw-primary"
    assert "TRUNK" not in primary_entry["ATTRS"]
    assert "trunk" not in primary_entry["ATTRS"]
    assert set(primary_entry["LATENCY"]) >= {"AVG", "STD", "EST", "MAX", "TIMEOUT"}

    # UDP and TCP gateways alike are probed and stay up.
    wait_probed_and_up(kamailio, primary, backup, rejecting, tcp_gateway)


def test_silent_gateway_goes_inactive_and_comes_back(
    kamailio: Kamailio, primary: SipPeer, backup: SipPeer, dispatcher_list: str
) -> None:
    """A paused gateway goes IP within a few ping intervals, and AP once it answers again."""
    load(kamailio, dispatcher_list)
    wait_probed_and_up(kamailio, primary)

    primary.pause()
    try:
        assert options_ping(primary.port, timeout=0.3) is None  # it really is silent
        wait_for("primary IP", lambda: flags_of(kamailio, primary.uri) == "IP")
        assert flags_of(kamailio, backup.uri) == "AP"
    finally:
        primary.resume()
    wait_for("primary AP again", lambda: flags_of(kamailio, primary.uri) == "AP")
    assert options_ping(primary.port) == 200


def test_call_reaches_priority_gateway_then_fails_over(
    kamailio: Kamailio, primary: SipPeer, backup: SipPeer, dispatcher_list: str, tmp_path: Path
) -> None:
    """X-Trunk-Set routes to the preferred gateway; a silent one fails over on timeout."""
    load(kamailio, dispatcher_list)
    wait_probed_and_up(kamailio, primary, backup)
    calls = tmp_path / "calls"

    primary_before, backup_before = primary.invites_received(), backup.invites_received()
    assert place_call(kamailio.sip_port, SET_ID, workdir=calls) == 200
    assert primary.invites_received() == primary_before + 1
    assert backup.invites_received() == backup_before

    # Paused just before the call: Kamailio still holds it active (a probe has not yet
    # had time to fail), sends the INVITE there, gets no answer within fr_timer and
    # fails over to the next gateway of the set.
    primary.pause()
    try:
        assert place_call(kamailio.sip_port, SET_ID, workdir=calls) == 200
        assert backup.invites_received() == backup_before + 1
        assert primary.invites_received() == primary_before + 1
    finally:
        primary.resume()
    # Once resumed, the primary reads the INVITE that waited for it: the same call,
    # which proves it was tried first.
    wait_for(
        "the primary to log the failed-over INVITE",
        lambda: primary.invites_received() == primary_before + 2,
    )
    assert primary.call_ids()[-1] == backup.call_ids()[-1]
    wait_for("primary AP again", lambda: flags_of(kamailio, primary.uri) == "AP")


def test_call_fails_over_on_5xx_and_over_tcp(
    kamailio: Kamailio,
    rejecting: SipPeer,
    tcp_gateway: SipPeer,
    dispatcher_list: str,
    tmp_path: Path,
) -> None:
    """A 503 from the first gateway moves the call to the next one (here over TCP)."""
    load(kamailio, dispatcher_list)
    wait_probed_and_up(kamailio, rejecting, tcp_gateway)
    rejected_before, tcp_before = rejecting.invites_received(), tcp_gateway.invites_received()

    assert place_call(kamailio.sip_port, REJECT_SET_ID, workdir=tmp_path / "calls") == 200
    assert rejecting.invites_received() == rejected_before + 1
    assert tcp_gateway.invites_received() == tcp_before + 1
    assert rejecting.call_ids()[-1] == tcp_gateway.call_ids()[-1]

    # A set with no destinations at all: 503 from the edge itself.
    assert place_call(kamailio.sip_port, 999, workdir=tmp_path / "calls") == 503


def test_permissions_address_file(kamailio: Kamailio) -> None:
    """Address entries load from the file; hosts and subnets are dumped by different RPCs.

    ``permissions.addressDump`` shows full-length entries (IPv4 /32, IPv6 /128);
    ``permissions.subnetDump`` shows every shorter prefix, such as a /24.
    """
    kamailio.write_addresses(
        "# grp address mask port tag\n"
        "1 192.0.2.0 24 0 trunk=sip/acme\n"
        "1 [2001:db8::10] 128 5060 trunk=sip/acme\n"
    )
    deadline = time.monotonic() + RELOAD_DELTA + 5
    while True:
        try:
            assert kamailio.rpc("permissions.addressReload") == "Reload OK"
            break
        except KamailioRpcError as exc:  # lowercase here, unlike the dispatcher's
            if exc.fault != "ongoing reload" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    hosts = kamailio.rpc("permissions.addressDump")
    subnets = kamailio.rpc("permissions.subnetDump")
    assert [(h["group"], h["item"]["ip"], h["item"]["port"], h["item"]["tag"]) for h in hosts] == [
        (1, "2001:db8::10", 5060, "trunk=sip/acme")
    ]
    assert [
        (s["group"], s["item"]["ip"], s["item"]["mask"], s["item"]["port"], s["item"]["tag"])
        for s in subnets
    ] == [(1, "192.0.2.0", 24, 0, "trunk=sip/acme")]


def test_second_quick_reload_is_refused(kamailio: Kamailio, dispatcher_list: str) -> None:
    """Two reloads within reload_delta: the second gets 500 "Ongoing reload", said clearly."""
    kamailio.write_dispatcher(dispatcher_list)
    reload_dispatcher(kamailio)  # waits out any earlier reload
    with pytest.raises(KamailioRpcError) as refused:
        kamailio.rpc("dispatcher.reload")
    assert refused.value.status == 500
    assert refused.value.fault == "Ongoing reload"
    assert "dispatcher.reload" in str(refused.value)
    assert "HTTP 500" in str(refused.value)
    assert "Ongoing reload" in str(refused.value)

    time.sleep(RELOAD_DELTA + 0.2)
    reload_dispatcher(kamailio)  # after the delta it works again


def test_entries_come_back_after_a_crash(
    tmp_path: Path, primary: SipPeer, backup: SipPeer
) -> None:
    """Killed (SIGKILL) and restarted, Kamailio reloads the entries from the file."""
    listing = (
        f"{SET_ID} {primary.uri} 8 20 duid=gw-primary;trunk=sip/acme\n"
        f"{SET_ID} {backup.uri} 8 10 duid=gw-backup;trunk=sip/acme\n"
    )
    with Kamailio(
        tmp_path / "crash", ping_interval=PING_INTERVAL, fr_timer_ms=FR_TIMER_MS
    ) as edge:
        edge.write_dispatcher(listing)
        reload_dispatcher(edge)
        assert {t["URI"] for t in edge.dispatcher_targets()} == {primary.uri, backup.uri}
        rpc_url, sip_port, old_pid = edge.rpc_url, edge.sip_port, edge.pid

        edge.kill()
        assert not edge.running
        with pytest.raises(KamailioRpcError, match="no HTTP answer"):
            edge.rpc("core.version")
        assert options_ping(sip_port, timeout=0.3) is None  # no worker survived

        edge.restart()
        assert edge.pid != old_pid
        assert (edge.rpc_url, edge.sip_port) == (rpc_url, sip_port)
        assert {t["URI"] for t in edge.dispatcher_targets()} == {primary.uri, backup.uri}
        wait_probed_and_up(edge, primary, backup)
        assert place_call(edge.sip_port, SET_ID, workdir=tmp_path / "calls") == 200
