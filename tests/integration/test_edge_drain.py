"""Draining a gateway at the SIP edge (``edge.drain``): real kube-apiserver, real
Kamailio, sipp gateways and callers, the Bolna emulator and the operator process.

While one of two gateways is drained, calls are placed one after another: every one is
answered, none reaches the drained gateway once Kamailio holds the drain, a call
answered by it before the drain ends normally (its BYE follows the dialog, not the
dispatcher), the status shows it ``Draining``, and Bolna's gateways are untouched.
Undraining puts it back in front.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_devenv.sip_peer import UAC_SCENARIO, SipPeer, place_call
from bolna_emulator.process import EmulatorProcess
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import condition, wait_condition, wait_for, warm_up

pytestmark = pytest.mark.integration
TOKEN = "drain-test-token"
METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for this module's processes."""
    return tmp_path_factory.mktemp("drain")


@pytest.fixture(scope="module")
def kamailio(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio probing every second."""
    with Kamailio(workdir / "kamailio", ping_interval=1, probing_threshold=2,
                  fr_timer_ms=1000, reload_delta=1) as edge:
        yield edge


@pytest.fixture(scope="module")
def gateways(workdir: Path) -> Iterator[tuple[SipPeer, SipPeer]]:
    """Two carrier gateways that answer OPTIONS and INVITE."""
    with SipPeer(workdir / "gw1", name="gw1") as first, \
            SipPeer(workdir / "gw2", name="gw2") as second:
        yield first, second


@pytest.fixture(scope="module")
def bolna() -> Iterator[EmulatorProcess]:
    """The Bolna emulator."""
    with EmulatorProcess(tokens=[TOKEN]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, kamailio: Kamailio, workdir: Path,
             gateways: tuple[SipPeer, SipPeer], bolna: EmulatorProcess
             ) -> Iterator[OperatorProcess]:
    """The operator with the SIP edge on, watching ``opd-*`` namespaces."""
    process = OperatorProcess(
        kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
        log_path=workdir / "operator.log", drift_interval=30,
        extra_args=("--namespace", "opd-*", "--kamailio-rpc", kamailio.rpc_url,
                    "--dispatcher-file", str(kamailio.dispatcher_file),
                    "--address-file", str(kamailio.address_file),
                    "--reload-delta", "1", "--health-interval", "1",
                    "--probe-settle", "4", "--metrics-port", str(METRICS_PORT)))
    process.start()
    try:
        first, second = gateways
        warm_up(control_plane, bolna, prefix="opd",
                spec=_spec(first, second, drain=False))
        yield process
    finally:
        process.stop()


def _spec(first: SipPeer, second: SipPeer, *, drain: bool) -> dict[str, Any]:
    return {**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": _gateways(first, second,
                                                                         drain=drain)}


def _gateways(first: SipPeer, second: SipPeer, *, drain: bool) -> list[dict[str, Any]]:
    return [{"gatewayAddress": "127.0.0.1", "port": first.port, "priority": 1,
             "edge": {"drain": drain}},
            {"gatewayAddress": "127.0.0.1", "port": second.port, "priority": 2}]


def _healths(trunk: dict[str, Any]) -> list[str]:
    return [g["health"] for g in (trunk.get("status") or {}).get("gateways") or ()]


def _draining(trunk: dict[str, Any]) -> dict[str, Any] | None:
    """The trunk once Kamailio holds the drain of its current generation."""
    loaded = (condition(trunk, "DispatcherSynced").get("observedGeneration")
              == trunk["metadata"]["generation"])
    return trunk if loaded and _healths(trunk) == ["Draining", "Healthy"] else None


def _gateway_healthy(namespace: str, uri: str) -> list[str]:
    """The ``bolna_sip_gateway_healthy`` samples of one gateway, as scraped."""
    text = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text
    return [line for line in text.splitlines()
            if line.startswith("bolna_sip_gateway_healthy{")
            and f'namespace="{namespace}"' in line and f'gateway="{uri}"' in line]


def _long_call_scenario(workdir: Path) -> Path:
    """The caller's scenario with the call held 8 s between ACK and BYE."""
    text = UAC_SCENARIO.read_text(encoding="utf-8")
    held = text.replace('<pause milliseconds="100"/>', '<pause milliseconds="8000"/>')
    assert held != text
    path = workdir / "uac-held.xml"
    path.write_text(held, encoding="utf-8")
    return path


def _bye_answered(call_dir: Path) -> bool:
    """Whether the caller's trace has a 200 to its BYE."""
    for trace in call_dir.glob("call-*.messages.log"):
        for block in re.split(r"-{20,}", trace.read_text(encoding="utf-8", errors="replace")):
            if ("message received" in block and "SIP/2.0 200" in block
                    and re.search(r"CSeq:\s*2 BYE", block)):
                return True
    return False


def test_a_drained_gateway_gets_no_new_call_and_none_fails(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, api_client: client.ApiClient, workdir: Path) -> None:
    first, second = gateways
    namespace = create_namespace(api_client, "opd")
    trunks.create(namespace, manifest(_spec(first, second, drain=False), name="drain"))
    trunk = wait_condition(trunks, namespace, "drain", "Ready", "True", timeout=60)
    set_id = trunk["status"]["dispatcher"]["setId"]
    assert _healths(trunk) == ["Healthy", "Healthy"]

    # A call answered by gateway 1 (priority 1), held across the drain.
    held_dir = workdir / "held"
    held: dict[str, int] = {}
    before_held = first.invites_received()
    held_call = threading.Thread(target=lambda: held.update(code=place_call(
        kamailio.sip_port, set_id, workdir=held_dir, scenario=_long_call_scenario(workdir),
        timeout=30)))
    held_call.start()
    wait_for("the held call at gateway 1", lambda: first.invites_received() > before_held,
             timeout=10)

    # Calls one after another, all through the drain.
    codes: list[int] = []
    stop = threading.Event()

    def caller() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            codes.append(place_call(kamailio.sip_port, set_id, workdir=workdir / f"loop{n}"))

    loop = threading.Thread(target=caller)
    loop.start()
    try:
        wait_for("calls before the drain", lambda: len(codes) >= 3, timeout=30)
        trunks.patch(namespace, "drain", {"spec": {"gateways": _gateways(
            first, second, drain=True)}})
        drained = wait_for("gateway 1 Draining", lambda: _draining(
            trunks.get(namespace, "drain")), timeout=30)
        calls_at_drain = len(codes)
        wait_for("calls after the drain", lambda: len(codes) >= calls_at_drain + 5,
                 timeout=60)
    finally:
        stop.set()
        loop.join(timeout=60)
    held_call.join(timeout=40)

    assert codes and all(code == 200 for code in codes), codes
    assert held.get("code") == 200
    assert _bye_answered(held_dir), "the call held across the drain did not end with 200"
    assert condition(drained, "DispatcherSynced")["reason"] == "Loaded"
    assert condition(drained, "GatewaysHealthy")["reason"] == "AllHealthy"
    assert condition(drained, "Ready")["status"] == "True"
    assert condition(drained, "Synced")["status"] == "True"
    listed = kamailio.rpc("dispatcher.list")
    [record] = [r["SET"] for r in listed["RECORDS"] if r["SET"]["ID"] == set_id]
    flags = {t["DEST"]["URI"]: t["DEST"]["FLAGS"] for t in record["TARGETS"]}
    assert flags[f"sip:127.0.0.1:{first.port}"].startswith("D")
    # Drained on purpose: no gateway series, so no BolnaSipGatewayDown for it.
    assert _gateway_healthy(namespace, f"sip:127.0.0.1:{first.port}") == []

    # Kamailio holds the drain: new calls go to gateway 2 only.
    at_first, at_second = first.invites_received(), second.invites_received()
    for n in range(5):
        assert place_call(kamailio.sip_port, set_id, workdir=workdir / f"after{n}") == 200
    assert (first.invites_received(), second.invites_received()) == (at_first, at_second + 5)

    # Undrained: gateway 1 is Healthy again and takes the next call.
    trunks.patch(namespace, "drain", {"spec": {"gateways": _gateways(
        first, second, drain=False)}})
    wait_for("gateway 1 Healthy again", lambda: _healths(
        trunks.get(namespace, "drain")) == ["Healthy", "Healthy"], timeout=30)
    wait_condition(trunks, namespace, "drain", "Ready", "True", timeout=30)
    [sample] = _gateway_healthy(namespace, f"sip:127.0.0.1:{first.port}")
    assert sample.endswith(" 1.0")
    at_first = first.invites_received()
    assert place_call(kamailio.sip_port, set_id, workdir=workdir / "undrained") == 200
    assert first.invites_received() == at_first + 1
