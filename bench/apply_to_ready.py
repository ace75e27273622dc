"""Benchmark P5: ``kubectl apply`` of a SipTrunk -> Ready (Bolna synced, Kamailio loaded).

Everything real and local: kube-apiserver + etcd, the Bolna emulator answering every call
50 ms late, one Kamailio, and ``bolna-sip-operator run`` with the SIP edge on. Trunks
are applied one at a time, each after the previous one's reload window, as people and
Argo CD apply them; probing is off (``qualifyFrequency: 0``), so Ready means exactly
"Bolna synced and dispatcher loaded". A watch records, per trunk, when Synced,
DispatcherSynced and Ready first turn True, measured from just before the create call.
Target: p50 under 1 s, p99 under 3 s.

    .venv/bin/python bench/apply_to_ready.py --samples 40 --record
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

from bolna_devenv.benchmarks import (
    GROUP,
    PLURAL,
    VERSION,
    ConditionStopwatch,
    install_crd,
    percentile,
    record,
)
from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess

NAMESPACE = "p5"
CONDITIONS = ("Synced", "DispatcherSynced", "Ready")


def _trunk(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk",
        "metadata": {"name": f"trunk-{index:03d}"},
        "spec": {"provider": "custom", "authType": "ip-based", "qualifyFrequency": 0,
                 "ipIdentifiers": [{"ipAddress": "127.0.0.1"}],
                 "gateways": [{"gatewayAddress": "127.0.0.1", "port": 20000 + index}],
                 "phoneNumbers": [{"phoneNumber": f"+1415555{index:04d}"}]},
    }


def run(samples: int, reload_delta: int, latency_ms: float, workdir: Path
        ) -> dict[str, Any]:
    """Measure; return the figures."""
    token = "p5-bench"
    with ControlPlane(workdir / "cp") as plane, \
            EmulatorProcess(tokens=[token], latency_ms=latency_ms) as bolna, \
            Kamailio(workdir / "kamailio", reload_delta=reload_delta) as kamailio:
        install_crd(plane)
        operator = OperatorProcess(
            kubeconfig=plane.kubeconfig, bolna_url=bolna.url, token=token,
            log_path=workdir / "operator.log", drift_interval=300, debug=False,
            extra_args=("--namespace", NAMESPACE, "--kamailio-rpc", kamailio.rpc_url,
                        "--dispatcher-file", str(kamailio.dispatcher_file),
                        "--address-file", str(kamailio.address_file),
                        "--reload-delta", str(reload_delta)))
        with admin_api_client(plane) as api:
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
            custom = client.CustomObjectsApi(api)
            stopwatch = ConditionStopwatch(api, NAMESPACE)
            stopwatch.start()
            operator.start()
            try:
                applied: dict[str, float] = {}
                for index in range(samples + 1):  # the first one warms up, not counted
                    document = _trunk(index)
                    if index == 0:
                        document["metadata"]["name"] = "warm-up"
                    name = document["metadata"]["name"]
                    started = time.monotonic()
                    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                           PLURAL, document)
                    applied[name] = started
                    deadline = started + 60
                    while (name, "Ready") not in stopwatch.seen:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"{name} not Ready within 60 s")
                        time.sleep(0.01)
                    # The next apply comes after this trunk's reload window, as separate
                    # applies do; a burst is P4's business.
                    time.sleep(max(0.0, started + reload_delta + 0.2 - time.monotonic()))
                    print(f"{name}: Ready in "
                          f"{stopwatch.seen[(name, 'Ready')] - started:.2f}s", file=sys.stderr)
            finally:
                operator.stop()
                stopwatch.stream.stop()  # type: ignore[no-untyped-call]
    figures: dict[str, Any] = {}
    for condition in CONDITIONS:
        values = [stopwatch.seen[(name, condition)] - at for name, at in applied.items()
                  if name != "warm-up"]
        figures[condition] = {"p50_s": round(statistics.median(values), 3),
                              "p99_s": round(percentile(values, 0.99), 3),
                              "max_s": round(max(values), 3)}
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "samples": samples, "bolna_latency_ms": latency_ms,
        "kamailio_reload_delta_s": reload_delta,
        "target": {"Ready_p50_s": 1.0, "Ready_p99_s": 3.0},
        "apply_to_condition_true": figures,
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--reload-delta", type=int, default=1,
                        help="Kamailio's reload_delta, seconds (default 1)")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="the emulator's answer delay (default 50)")
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/apply_to_ready.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bolna-p5-") as tmp:
        result = run(args.samples, args.reload_delta, args.latency_ms, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.record:
        record("apply_to_ready", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
