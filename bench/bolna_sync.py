"""Benchmark: N SipTrunks created against Bolna's real rate limit, then a quiet spell.

Measures the targets P1 (Bolna calls per create), P3 (time until all are Ready, against
the rate-limit floor of N calls at 1000 a minute), P2 (calls and apiserver writes
while nothing changes) and P6 (the operator's resident memory with N trunks, and its
CPU while nothing changes; read from /proc): over the quiet spell right after the last
trunk is Ready, which still holds the wave's tail (the last trunks' first drift checks,
the collector's full passes over what the wave left), and over a second spell as long
right after it, settled. Then, if asked: P6s (the operator's RSS
growth from Secrets no trunk references, ``--unrelated-secrets``, 50 of them about
900 KB like Helm's release Secrets) and P8 (an operator restart with every trunk
Ready, ``--restart``: Bolna calls and writes in the two minutes after, and the time
until the new process has reconciled every trunk, read from its /metrics).
Everything is real and local: kube-apiserver + etcd, the Bolna emulator (1000 requests
a minute, answered 429 beyond), and ``bolna-sip-operator run``.

    .venv/bin/python bench/bolna_sync.py --trunks 1000 --quiet-seconds 120 \
        --unrelated-secrets 2000 --restart

Prints a JSON summary and, with --record, appends it with the command to
bench/results/bolna_sync.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client

from bolna_devenv.benchmarks import install_crd, record
from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_emulator.process import EmulatorProcess

TOKEN = "bench-token-" + uuid.uuid4().hex[:8]
GROUP, VERSION, PLURAL = "sip.bolna.ai", "v1alpha1", "siptrunks"
RATE_LIMIT = 1000


def _trunk(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk",
        "metadata": {"name": f"trunk-{index:05d}"},
        "spec": {
            "provider": "twilio", "authType": "userpass", "authUsername": f"user{index}",
            "authPasswordSecretRef": {"name": "sip", "key": "password"},
            "gateways": [{"gatewayAddress": f"gw{index}-a.example.com", "priority": 1},
                         {"gatewayAddress": f"gw{index}-b.example.com", "priority": 2}],
            "phoneNumbers": [{"phoneNumber": f"91{index:08d}1"},
                             {"phoneNumber": f"91{index:08d}2"}],
        },
    }


def _ready(custom: client.CustomObjectsApi, namespace: str) -> tuple[int, dict[str, str]]:
    listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    ready = 0
    versions = {}
    for item in listed["items"]:
        versions[item["metadata"]["name"]] = item["metadata"]["resourceVersion"]
        for condition in (item.get("status") or {}).get("conditions") or ():
            if condition["type"] == "Ready" and condition["status"] == "True":
                ready += 1
    return ready, versions


def _warm_up(custom: client.CustomObjectsApi, namespace: str) -> None:
    """One trunk to Ready before the clock starts: Kopf reports live before its watches
    are established, and start-up is not what P3 measures."""
    body = _trunk(99999)
    body["metadata"]["name"] = "warm-up"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    deadline = time.monotonic() + 120
    while _ready(custom, namespace)[0] < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the operator made no trunk Ready in 120 s")
        time.sleep(0.5)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "warm-up")
    while "warm-up" in _ready(custom, namespace)[1]:
        time.sleep(0.5)


def _calls(requests: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in requests:
        if not str(request["path"]).startswith("/sip-trunks"):
            continue
        key = f"{request['method']} {request['route']} {request['status']}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _footprint(pid: int) -> tuple[float, float, float]:
    """The process's (RSS MB, peak RSS MB, CPU seconds used so far), from /proc."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024,
            cpu)


LARGE_SECRETS = 50
LARGE_SECRET_BYTES = 900 * 1024
RESTART_WATCH_SECONDS = 120.0
_RECONCILED = re.compile(r'^bolna_sip_reconciles_total\{reason="",result="success"\} (\S+)$',
                         re.MULTILINE)


def _reconciled(metrics_port: int) -> float:
    """Successful reconciles this operator process made, from its /metrics (that series
    alone: the whole exposition of 10,000 trunks costs the operator seconds of CPU)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics"
                                "?name[]=bolna_sip_reconciles_total", timeout=5) as answer:
        found = _RECONCILED.search(answer.read().decode())
    return float(found.group(1)) if found else 0.0


def _unrelated_secrets(core: client.CoreV1Api, namespace: str, count: int,
                       pid: int) -> dict[str, Any]:
    """P6s: create ``count`` Secrets no trunk references (the first 50 about 900 KB);
    the operator's RSS before and 30 s after."""
    before, _, _ = _footprint(pid)
    print(f"creating {count} unrelated Secrets", file=sys.stderr)
    large = "x" * LARGE_SECRET_BYTES

    def create(index: int) -> None:
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"unrelated-{index:05d}"),
            string_data={"blob": large if index < LARGE_SECRETS else f"value-{index}"}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    time.sleep(30.0)
    after, peak, _ = _footprint(pid)
    return {"P6s_unrelated_secrets": count,
            "P6s_large_secrets": min(count, LARGE_SECRETS),
            "P6s_rss_before_mb": round(before, 1), "P6s_rss_after_mb": round(after, 1),
            "P6s_rss_growth_mb": round(after - before, 1),
            "P6s_peak_rss_mb": round(peak, 1)}


def _restart(operator: OperatorProcess, bolna: EmulatorProcess,
             custom: client.CustomObjectsApi, namespace: str, trunks: int,
             metrics_port: int) -> dict[str, Any]:
    """P8: stop the operator, start it again; what it asks of Bolna in the next two
    minutes, and when it has reconciled every trunk again."""
    operator.stop()
    seq = max((r["seq"] for r in bolna.requests()), default=0)
    started = time.monotonic()
    operator.start()
    live = time.monotonic() - started
    reconciled_at = None
    until_reconciled: list[dict[str, Any]] = []
    while time.monotonic() - started < RESTART_WATCH_SECONDS:
        if reconciled_at is None and _reconciled(metrics_port) >= trunks:
            reconciled_at = time.monotonic() - started
            until_reconciled = bolna.requests(since=seq)
        time.sleep(0.5)
    calls = bolna.requests(since=seq)
    ready, _ = _ready(custom, namespace)
    return {
        "P8_trunks": trunks,
        "P8_seconds_until_live": round(live, 1),
        "P8_seconds_until_every_trunk_reconciled": (
            round(reconciled_at, 1) if reconciled_at is not None else None),
        "P8_bolna_calls_until_every_trunk_reconciled": _calls(until_reconciled),
        "P8_bolna_calls_in_2_minutes": _calls(calls),
        "P8_bolna_writes": sum(1 for r in calls if r["method"] != "GET"),
        "P8_ready_after": ready,
    }


def run(trunks: int, quiet_seconds: float, drift_interval: float, workdir: Path, *,
        unrelated_secrets: int = 0, restart: bool = False,
        rate_limit: int = RATE_LIMIT) -> dict[str, Any]:
    """Run the benchmark; return the measurements."""
    print(f"starting control plane, emulator and operator in {workdir}", file=sys.stderr)
    with ControlPlane(workdir / "control-plane") as plane, EmulatorProcess(
            tokens=[TOKEN], rate_limit=rate_limit) as bolna:
        install_crd(plane)
        metrics_port = free_port()
        operator = OperatorProcess(kubeconfig=plane.kubeconfig, bolna_url=bolna.url,
                                   token=TOKEN, log_path=workdir / "operator.log",
                                   drift_interval=drift_interval, debug=False,
                                   extra_args=("--metrics-port", str(metrics_port),
                                               *(("--rate-limit", str(rate_limit * 95 // 100))
                                                 if rate_limit != RATE_LIMIT else ())))
        extra: dict[str, Any] = {}
        namespace = "bench"
        with admin_api_client(plane, pool_size=16) as api:
            core = client.CoreV1Api(api)
            custom = client.CustomObjectsApi(api)
            core.create_namespace(client.V1Namespace(
                metadata=client.V1ObjectMeta(name=namespace)))
            core.create_namespaced_secret(namespace, client.V1Secret(
                metadata=client.V1ObjectMeta(name="sip"),
                string_data={"password": "bench-password"}))
            operator.start()
            try:
                warm_up = time.monotonic()
                _warm_up(custom, namespace)
                startup = time.monotonic() - warm_up
                bolna.reset()
                print(f"creating {trunks} SipTrunks", file=sys.stderr)
                started = time.monotonic()
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda i: custom.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, _trunk(i)), range(trunks)))
                applied = time.monotonic() - started
                ready = 0
                # A list of every trunk loads the apiserver (and this process) too: at
                # 10,000 trunks it is read every 5 s, not every 2.
                poll = max(2.0, trunks / 2000)
                give_up = max(20 * 60, 3 * trunks / rate_limit * 60)
                while ready < trunks:
                    time.sleep(poll)
                    ready, _ = _ready(custom, namespace)
                    elapsed = time.monotonic() - started
                    print(f"  {elapsed:6.1f}s  {ready}/{trunks} Ready", file=sys.stderr)
                    if elapsed > give_up:
                        raise RuntimeError(f"not all Ready after {give_up:.0f} s")
                all_ready = time.monotonic() - started
                create_requests = bolna.requests()
                time.sleep(2.0)  # let the last status writes land
                _, versions_before = _ready(custom, namespace)
                seq = max((r["seq"] for r in bolna.requests()), default=0)
                assert operator.pid is not None
                _, _, cpu_before = _footprint(operator.pid)
                print(f"quiet for {quiet_seconds:.0f}s", file=sys.stderr)
                time.sleep(quiet_seconds)
                rss, peak, cpu_after = _footprint(operator.pid)
                quiet_requests = bolna.requests(since=seq)
                _, versions_after = _ready(custom, namespace)
                print(f"settled for {quiet_seconds:.0f}s more", file=sys.stderr)
                time.sleep(quiet_seconds)
                settled_rss, _, cpu_settled = _footprint(operator.pid)
                if unrelated_secrets:
                    extra |= _unrelated_secrets(core, namespace, unrelated_secrets,
                                                operator.pid)
                if restart:
                    extra |= _restart(operator, bolna, custom, namespace, trunks,
                                      metrics_port)
            finally:
                operator.stop()
    creates = [r for r in create_requests if r["method"] == "POST"
               and r["route"] == "/sip-trunks/trunks"]
    floor = trunks / rate_limit * 60
    changed = sum(1 for name, v in versions_after.items() if versions_before.get(name) != v)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {subprocess.getoutput('nproc')} cores",
        "trunks": trunks,
        **({"bolna_rate_limit_per_minute": rate_limit} if rate_limit != RATE_LIMIT else {}),
        "operator_start_to_first_ready_seconds": round(startup, 1),
        "P1_create_calls_per_trunk": round(len(creates) / trunks, 3),
        "P1_bolna_calls_per_trunk_until_ready": round(len(
            [r for r in create_requests if str(r["path"]).startswith("/sip-trunks")])
            / trunks, 3),
        "P3_seconds_to_apply_all": round(applied, 1),
        "P3_seconds_to_all_ready": round(all_ready, 1),
        "P3_rate_limit_floor_seconds": round(floor, 1),
        "P3_ratio_to_floor": round(all_ready / floor, 3),
        "P3_answers_429": sum(1 for r in create_requests if r["status"] == 429),
        "calls_until_ready": _calls(create_requests),
        "P2_quiet_seconds": quiet_seconds,
        "P2_drift_interval_seconds": drift_interval,
        "P2_bolna_calls": _calls(quiet_requests),
        "P2_bolna_writes": sum(1 for r in quiet_requests if r["method"] != "GET"),
        "P2_siptrunks_written_by_operator": changed,
        "P6_operator_rss_mb": round(rss, 1),
        "P6_operator_peak_rss_mb": round(peak, 1),
        "P6_idle_cpu_percent_of_a_core": round(
            100 * (cpu_after - cpu_before) / quiet_seconds, 2),
        "P6_settled_rss_mb": round(settled_rss, 1),
        "P6_settled_idle_cpu_percent_of_a_core": round(
            100 * (cpu_settled - cpu_after) / quiet_seconds, 2),
        **extra,
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trunks", type=int, default=1000)
    parser.add_argument("--quiet-seconds", type=float, default=120.0)
    parser.add_argument("--drift-interval", type=float, default=60.0)
    parser.add_argument("--unrelated-secrets", type=int, default=0,
                        help="then create this many Secrets no trunk uses (P6s)")
    parser.add_argument("--restart", action="store_true",
                        help="then restart the operator and watch it for 2 minutes (P8)")
    parser.add_argument("--workdir", type=Path,
                        help="keep logs and state here (default: a temporary directory)")
    parser.add_argument("--rate-limit", type=int, default=RATE_LIMIT,
                        help="Bolna's limit per minute (the emulator's, and 95%% of it the "
                             "operator's); raise it to reach the quiet spell and the restart "
                             "of many trunks sooner (P3 is measured at Bolna's 1000)")
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/bolna_sync.md")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args.trunks, args.quiet_seconds, args.drift_interval, args.workdir,
                     unrelated_secrets=args.unrelated_secrets, restart=args.restart,
                     rate_limit=args.rate_limit)
    else:
        with tempfile.TemporaryDirectory(prefix="bolna-bench-") as tmp:
            result = run(args.trunks, args.quiet_seconds, args.drift_interval, Path(tmp),
                         unrelated_secrets=args.unrelated_secrets, restart=args.restart,
                         rate_limit=args.rate_limit)
    print(json.dumps(result, indent=2))
    if args.record:
        record("bolna_sync", result, f"{args.trunks} trunks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
