"""TLS towards carriers, and SDES, with real parts.

The edge is Kamailio with ``deploy/kamailio/kamailio.cfg`` and WITH_TLS (Debian's
kamailio-tls-modules); each carrier gateway is a second Kamailio speaking TLS
(``tests/integration/tls/carrier.cfg``, ``bolna_devenv.tls_carrier``) with a certificate
this test makes: one signed by the CA the edge trusts, one by another CA, one for the
wrong name. Bolna's side calls over TLS from Python (Debian's sipp has no TLS) and over
UDP with sipp. The edge agent's TLS work runs as the agent runs it: its ``TlsProber``
in-process, and the ``edge-agent`` command as a process for rotation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.edge_agent_process import EdgeAgentProcess
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.sip_peer import place_call
from bolna_devenv.tls_carrier import TlsCarrier, tls_call, write_edge_tls_config
from bolna_devenv.tls_certs import CertificateAuthority, Issued
from bolna_sip_operator.agent.tls import TLSFAIL_TABLE, TlsProber
from bolna_sip_operator.kamailio.rpc import KamailioRpc, parse_tls_failures
from tests.integration.apiserver import create_namespace

pytestmark = pytest.mark.integration

NAME = "gw.example.test"
CRYPTO = ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
          "inline:Qm9sbmEncyBrZXkgZm9yIHRoZSB0ZXN0IGNhbGwxMjM0",
          "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "
          "inline:U2Vjb25kIGtleSBmb3IgdGhlIHRlc3QgY2FsbDU2Nzg=")
SDES_OVER_UDP = Path(__file__).parent / "sipp" / "caller-sdes.xml"


class Pki:
    """The test's certificates: ``trusted`` signs what the edge and the good gateway
    hold; ``wrong`` is a CA nobody here trusts."""

    def __init__(self, directory: Path) -> None:
        self.trusted = CertificateAuthority(directory, "trusted")
        self.wrong = CertificateAuthority(directory, "wrong")
        self.gateway = self.trusted.issue("gw", NAME, dns=(NAME,), ips=("127.0.0.1",))
        self.gateway_wrong_ca = self.wrong.issue("gw-wrong-ca", NAME, dns=(NAME,),
                                                 ips=("127.0.0.1",))
        self.gateway_other_name = self.trusted.issue("gw-other-name", "other.example.test",
                                                     dns=("other.example.test",))
        self.edge = self.trusted.issue("edge", "edge.example.test",
                                       dns=("edge.example.test",), client=True)
        self.edge_untrusted = self.wrong.issue("edge-untrusted", "edge.example.test",
                                               dns=("edge.example.test",), client=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Fresh keys for this module."""
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def carriers(tmp_path: Path) -> Iterator[Callable[..., TlsCarrier]]:
    """Start TLS carriers; every one is stopped by PID afterwards."""
    started: list[TlsCarrier] = []

    def start(name: str, issued: Issued, client_ca: Path | None = None) -> TlsCarrier:
        carrier = TlsCarrier(tmp_path / name, certificate=issued.certificate,
                             key=issued.key, client_ca=client_ca)
        carrier.start()
        started.append(carrier)
        return carrier

    yield start
    for carrier in started:
        carrier.stop()


def _edge(tmp_path: Path, pki: Pki, *, own: Issued | None = None, ping_interval: int = 1,
          **defines: str | int) -> Kamailio:
    own = own or pki.edge
    tls_cfg = write_edge_tls_config(tmp_path / "edge-tls.cfg", ca=pki.trusted.certificate,
                                    certificate=own.certificate, key=own.key)
    return Kamailio(tmp_path / "edge", tls_config=tls_cfg, ping_interval=ping_interval,
                    fr_timer_ms=1500, extra_defines=defines)


def _line(set_id: int, carrier: TlsCarrier, priority: int, index: int, *,
          name: str | None = NAME) -> str:
    host = f";host={name}" if name else ""
    return (f"{set_id} sip:127.0.0.1:{carrier.port};transport=tls 8 {priority} "
            f"duid={set_id}-{index};trunk=t/tls{host}\n")


def _flags(edge: Kamailio) -> dict[str, tuple[str, float]]:
    return {t["URI"]: (t["FLAGS"], float(t["LATENCY"]["MAX"] or 0))
            for t in edge.dispatcher_targets()}


def _wait(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _uri(carrier: TlsCarrier) -> str:
    return f"sip:127.0.0.1:{carrier.port};transport=tls"


def _probe(edge: Kamailio) -> dict[str, str]:
    """One round of the edge agent's handshakes, as the agent makes them."""
    async def run() -> dict[str, str]:
        rpc = KamailioRpc(edge.rpc_url)
        try:
            assert edge.tls_config is not None
            return await TlsProber(edge.tls_config, rpc, timeout=3).probe_all()
        finally:
            await rpc.aclose()
    return asyncio.run(run())


def test_tls_call_reaches_the_gateway_with_its_sdes_keys_intact(
        tmp_path: Path, pki: Pki, carriers: Callable[..., TlsCarrier]) -> None:
    """A transport-tls trunk: probed over TLS; Bolna's INVITE over TLS with a=crypto
    reaches the gateway over TLS with the same a=crypto lines; the same INVITE over
    UDP is refused with 488 and never relayed; a plain-RTP call over UDP goes through."""
    carrier = carriers("carrier", pki.gateway)
    with _edge(tmp_path, pki) as edge:
        edge.write_dispatcher(_line(7, carrier, 10, 0))
        edge.rpc("dispatcher.reload")
        _wait("the TLS gateway answering probes",
              lambda: _flags(edge)[_uri(carrier)][0] == "AP"
              and carrier.options_received() > 0)
        assert "OPTIONS received: sni=<null> proto=tls" in carrier.log()

        status, _ = tls_call(edge.tls_port, 7, ca=pki.trusted.certificate, crypto=CRYPTO)
        assert status == 200
        invite = carrier.invites()[-1]
        assert invite.proto == "tls"
        assert invite.crypto == list(CRYPTO)
        assert "m=audio 40100 RTP/SAVP 0" in invite.body

        before = len(carrier.invites())
        assert place_call(edge.sip_port, 7, workdir=tmp_path / "udp-sdes",
                          scenario=SDES_OVER_UDP) == 488
        log = edge.log_tail(200)
        assert "its SDP carries SDES keys (a=crypto) over udp" in log
        assert len(carrier.invites()) == before, "the keys were relayed"
        trace = "".join(p.read_text() for p in (tmp_path / "udp-sdes").glob("*messages*"))
        assert "SIP/2.0 488 SDES Needs TLS" in trace
        assert 'Warning: 399 bolna-sip-edge "SDES keys (a=crypto) over udp refused' in trace

        assert place_call(edge.sip_port, 7, workdir=tmp_path / "udp-plain") == 200
        plain = carrier.invites()[-1]
        assert plain.proto == "tls" and plain.crypto == []


def test_sdes_over_udp_is_relayed_only_when_the_setting_allows_it(
        tmp_path: Path, pki: Pki, carriers: Callable[..., TlsCarrier]) -> None:
    """SDES_OVER_PLAIN 1: the UDP INVITE with a=crypto goes on to the TLS gateway; an
    SDES INVITE for a gateway without TLS is refused whatever the setting."""
    carrier = carriers("carrier", pki.gateway)
    with _edge(tmp_path, pki, SDES_OVER_PLAIN=1) as edge:
        edge.write_dispatcher(_line(7, carrier, 10, 0)
                              + "8 sip:127.0.0.1:9;transport=tcp 0 10 duid=8-0;trunk=t/tcp\n")
        edge.rpc("dispatcher.reload")
        _wait("the TLS gateway answering probes",
              lambda: _flags(edge)[_uri(carrier)][0] == "AP")
        assert place_call(edge.sip_port, 7, workdir=tmp_path / "allowed",
                          scenario=SDES_OVER_UDP) == 200
        assert carrier.invites()[-1].crypto == list(CRYPTO)
        status, reply = tls_call(edge.tls_port, 8, ca=pki.trusted.certificate, crypto=CRYPTO)
        assert status == 488
        assert "towards a gateway without TLS refused" in reply


def test_a_call_opens_its_tls_connection_with_the_gateway_name_as_sni(
        tmp_path: Path, pki: Pki, carriers: Callable[..., TlsCarrier]) -> None:
    """The line's host= attr (the operator writes a name's addresses as lines) is the
    SNI of the connection a call opens. (No probe first: Kamailio 5.6 sends no SNI on
    its probes' connections, and a call reuses an open connection.)"""
    carrier = carriers("carrier", pki.gateway)
    with _edge(tmp_path, pki, PING_INTERVAL=3600) as edge:
        edge.write_dispatcher(_line(7, carrier, 10, 0))
        edge.rpc("dispatcher.reload")
        status, _ = tls_call(edge.tls_port, 7, ca=pki.trusted.certificate)
        assert status == 200
        assert carrier.invites()[-1].sni == NAME


def test_a_gateway_whose_certificate_fails_verification_is_down_and_says_why(
        tmp_path: Path, pki: Pki, carriers: Callable[..., TlsCarrier]) -> None:
    """Wrong CA: Kamailio never completes a handshake (the gateway goes IP), calls fail
    over to the good gateway, and the agent's handshake writes the reason into tlsfail,
    where the operator reads it. A certificate of the right CA for another name passes
    Kamailio 5.6 (it checks no names) but not the agent: calls skip it too."""
    good = carriers("good", pki.gateway)
    wrong_ca = carriers("wrong-ca", pki.gateway_wrong_ca)
    other_name = carriers("other-name", pki.gateway_other_name)
    with _edge(tmp_path, pki) as edge:
        edge.write_dispatcher(_line(7, wrong_ca, 30, 0) + _line(7, other_name, 20, 1)
                              + _line(7, good, 10, 2))
        edge.rpc("dispatcher.reload")
        _wait("the wrong-CA gateway down, the others up", lambda: (
            _flags(edge)[_uri(wrong_ca)][0] == "IP"
            and _flags(edge)[_uri(good)][0] == "AP"
            and _flags(edge)[_uri(other_name)][0] == "AP"))
        assert wrong_ca.options_received() == 0
        assert "certificate verify failed" in edge.log_tail(400)

        failures = _probe(edge)
        assert set(failures) == {_uri(wrong_ca), _uri(other_name)}
        assert failures[_uri(wrong_ca)].startswith(
            f"TLS: the certificate of {NAME}:{wrong_ca.port} (127.0.0.1) fails "
            "verification: unable to get local issuer certificate")
        assert "Hostname mismatch" in failures[_uri(other_name)]
        # What the operator reads: Kamailio's own answer, parsed.
        assert parse_tls_failures(edge.rpc("htable.dump", TLSFAIL_TABLE)) == failures

        status, _ = tls_call(edge.tls_port, 7, ca=pki.trusted.certificate)
        assert status == 200
        assert len(good.invites()) == 1 and other_name.invites() == []

        # The name's certificate is replaced by a good one: the next round clears it.
        other_name.stop()
        fixed = carriers("fixed", pki.gateway)
        edge.write_dispatcher(_line(7, wrong_ca, 30, 0) + _line(7, fixed, 20, 1)
                              + _line(7, good, 10, 2))
        edge.rpc("dispatcher.reload")
        assert set(_probe(edge)) == {_uri(wrong_ca)}


def test_a_rotated_client_certificate_is_used_without_a_restart(
        tmp_path: Path, pki: Pki, carriers: Callable[..., TlsCarrier],
        control_plane: ControlPlane) -> None:
    """Mutual TLS: the carrier accepts client certificates of the trusted CA only. The
    edge starts with one of the wrong CA: the gateway is down and the agent says the
    carrier refused it. The Secret's files are replaced (as a Secret volume swaps
    them): the edge agent sees it, calls tls.reload, and the same Kamailio (same PID)
    reaches the gateway and places a call with the new certificate."""
    carrier = carriers("carrier", pki.gateway, client_ca=pki.trusted.certificate)
    mounted = tmp_path / "secret"
    mounted.mkdir()
    certificate, key = mounted / "tls.crt", mounted / "tls.key"
    certificate.write_bytes(pki.edge_untrusted.certificate.read_bytes())
    key.write_bytes(pki.edge_untrusted.key.read_bytes())
    edge = _edge(tmp_path, pki, own=Issued(certificate, key))
    namespace = create_namespace_for(control_plane)
    with edge:
        edge.write_dispatcher(_line(7, carrier, 10, 0))
        edge.rpc("dispatcher.reload")
        pid = edge.pid
        agent = EdgeAgentProcess(
            kubeconfig=control_plane.kubeconfig, lists_configmap=f"{namespace}/none",
            directory=tmp_path / "agent-lists", kamailio_rpc=edge.rpc_url,
            log_path=tmp_path / "agent.log",
            extra_args=("--tls-config", str(edge.tls_config), "--tls-watch-interval", "0.5",
                        "--tls-probe-interval", "2"))
        with agent:
            _wait("the gateway down (client certificate refused)",
                  lambda: _flags(edge)[_uri(carrier)][0] == "IP")
            refused = _wait("the agent's reason", lambda: parse_tls_failures(
                edge.rpc("htable.dump", TLSFAIL_TABLE)).get(_uri(carrier)))
            assert "refused the edge's client certificate" in refused
            assert carrier.invites() == []

            # The renewed Secret: new files swapped in, as the kubelet does.
            for target, source in ((certificate, pki.edge.certificate), (key, pki.edge.key)):
                staged = target.with_name(target.name + ".new")
                staged.write_bytes(source.read_bytes())
                staged.replace(target)
            _wait("the agent's tls.reload", lambda: "Kamailio reloaded them (tls.reload)"
                  in agent.log())
            _wait("the gateway up with the new certificate",
                  lambda: _flags(edge)[_uri(carrier)][0] == "AP", timeout=30)
            _wait("the reason gone", lambda: parse_tls_failures(
                edge.rpc("htable.dump", TLSFAIL_TABLE)) == {})
            status, _ = tls_call(edge.tls_port, 7, ca=pki.trusted.certificate)
            assert status == 200
            assert carrier.invites()[-1].proto == "tls"
            assert edge.pid == pid and edge.running


def create_namespace_for(control_plane: ControlPlane) -> str:
    """A fresh namespace (the agent follows a ConfigMap there that does not exist: empty
    lists, into a directory Kamailio does not read)."""
    from bolna_devenv.kube_client import admin_api_client

    with admin_api_client(control_plane) as api:
        return create_namespace(api, "tls")
