"""Benchmark P7: a gateway stops answering OPTIONS -> the SipTrunk's status and an Event
say so; it answers again -> the same on recovery.

Everything real: kube-apiserver + etcd, the Bolna emulator, Kamailio (ping interval 2 s,
probing threshold 2, OPTIONS timeout 2 s), two sipp gateways, and the operator reading
health every second. Target: within threshold x interval + timeout + one poll (7 s).

    .venv/bin/python bench/gateway_outage.py --rounds 3 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from bolna_devenv.benchmarks import install_crd, record
from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess
from bolna_devenv.sip_peer import SipPeer
from bolna_emulator.process import EmulatorProcess

GROUP, VERSION, PLURAL = "sip.bolna.ai", "v1alpha1", "siptrunks"
PING, THRESHOLD, TIMEOUT_MS, POLL = 2, 2, 2000, 1.0


def _wait(what: str, check: Any, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic()


def run(rounds: int, workdir: Path) -> dict[str, Any]:
    """Measure; return the figures."""
    token = "outage-bench"
    with ControlPlane(workdir / "cp") as plane, EmulatorProcess(tokens=[token]) as bolna, \
            Kamailio(workdir / "kamailio", ping_interval=PING, probing_threshold=THRESHOLD,
                     fr_timer_ms=TIMEOUT_MS) as kamailio, \
            SipPeer(workdir / "gw1", name="gw1") as first, \
            SipPeer(workdir / "gw2", name="gw2") as second:
        install_crd(plane)
        operator = OperatorProcess(
            kubeconfig=plane.kubeconfig, bolna_url=bolna.url, token=token,
            log_path=workdir / "operator.log", drift_interval=300, debug=False,
            extra_args=("--kamailio-rpc", kamailio.rpc_url,
                        "--dispatcher-file", str(kamailio.dispatcher_file),
                        "--address-file", str(kamailio.address_file),
                        "--health-interval", str(POLL),
                        "--probe-settle", str(THRESHOLD * PING + TIMEOUT_MS / 1000)))
        with admin_api_client(plane) as api:
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="p7")))
            operator.start()
            try:
                custom.create_namespaced_custom_object(GROUP, VERSION, "p7", PLURAL, {
                    "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk",
                    "metadata": {"name": "carrier"},
                    "spec": {"provider": "custom", "authType": "ip-based",
                             "ipIdentifiers": [{"ipAddress": "127.0.0.1"}],
                             "qualifyFrequency": PING, "gateways": [
                                 {"gatewayAddress": "127.0.0.1", "port": first.port},
                                 {"gatewayAddress": "127.0.0.1", "port": second.port,
                                  "priority": 2}]}})

                def health() -> list[str]:
                    trunk: Any = custom.get_namespaced_custom_object(
                        GROUP, VERSION, "p7", PLURAL, "carrier")
                    return [g["health"] for g in (trunk.get("status") or {}).get(
                        "gateways") or ()]

                def events(reason: str) -> int:
                    return sum(1 for e in core.list_namespaced_event("p7").items
                               if e.reason == reason)

                _wait("both gateways Healthy", lambda: health() == ["Healthy", "Healthy"], 90)
                down_status, down_event, up_status, up_event = [], [], [], []
                for round_ in range(rounds):
                    downs, ups = events("GatewayDown"), events("GatewayUp")
                    paused = time.monotonic()
                    first.pause()
                    down_status.append(_wait("Unhealthy", lambda: health()[:1] == [
                        "Unhealthy"]) - paused)
                    down_event.append(_wait("GatewayDown", lambda before=downs: events(
                        "GatewayDown") > before) - paused)
                    resumed = time.monotonic()
                    first.resume()
                    up_status.append(_wait("Healthy", lambda: health()[:1] == [
                        "Healthy"]) - resumed)
                    up_event.append(_wait("GatewayUp", lambda before=ups: events(
                        "GatewayUp") > before) - resumed)
                    print(f"round {round_ + 1}: down {down_status[-1]:.1f}s, "
                          f"up {up_status[-1]:.1f}s", file=sys.stderr)
                    time.sleep(PING)
            finally:
                operator.stop()
    target = THRESHOLD * PING + TIMEOUT_MS / 1000 + POLL

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_s": round(statistics.median(values), 2),
                "max_s": round(max(values), 2)}

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {"ping_interval_s": PING, "probing_threshold": THRESHOLD,
                     "options_timeout_s": TIMEOUT_MS / 1000, "health_poll_s": POLL},
        "target_s": target, "rounds": rounds,
        "outage_to_status": summary(down_status), "outage_to_event": summary(down_event),
        "recovery_to_status": summary(up_status), "recovery_to_event": summary(up_event),
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/gateway_outage.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bolna-p7-") as tmp:
        result = run(args.rounds, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.record:
        record("gateway_outage", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
