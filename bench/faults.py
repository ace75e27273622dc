"""Fault harnesses R1 and R2: the operator under lost answers and under SIGKILL.

Everything real and local: kube-apiserver + etcd, the Bolna emulator, and
``bolna-sip-operator run`` (Bolna only; the SIP edge has its own harnesses). Each run
ends by comparing Bolna's stored state with the SipTrunks, exactly.

R1: the emulator commits 30% of creates and then drops the connection, so the operator
    never learns the trunk was made; 500 trunks. Must hold: 0 duplicate trunks in
    Bolna, all Ready.
R2: the operator is SIGKILLed 20 times at random moments while 300 trunks are created,
    100 of them changed and 100 deleted. Must hold: Bolna equals the desired state
    exactly (no duplicate, no orphan, no missing or extra number).

    .venv/bin/python bench/faults.py r1 --trunks 500 --record
    .venv/bin/python bench/faults.py r2 --trunks 300 --kills 20 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from bolna_devenv.benchmarks import install_crd, record
from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess

GROUP, VERSION, PLURAL = "sip.bolna.ai", "v1alpha1", "siptrunks"
NAMESPACE = "faults"
TOKEN = "faults-bench-token"


def _trunk(index: int, *, changed: bool = False) -> dict[str, Any]:
    numbers = [f"+1415{index:04d}001", f"+1415{index:04d}00{3 if changed else 2}"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk",
        "metadata": {"name": f"trunk-{index:04d}"},
        "spec": {"name": f"trunk-{index:04d}", "provider": "custom",
                 "authType": "ip-based", "ipIdentifiers": [{"ipAddress": "127.0.0.1"}],
                 "description": "changed" if changed else "original",
                 "gateways": [{"gatewayAddress": f"gw{index}.example.com"}],
                 "phoneNumbers": [{"phoneNumber": n} for n in numbers]},
    }


class Stack:
    """The control plane, the emulator and a restartable operator, with the CRD."""

    def __init__(self, workdir: Path, drop_rate: float = 0.0) -> None:
        self.workdir = workdir
        self.plane = ControlPlane(workdir / "cp")
        self.bolna = EmulatorProcess(tokens=[TOKEN], drop_after_commit_rate=drop_rate,
                                     seed=7)

    def __enter__(self) -> Stack:
        self.plane.start()
        self.bolna.start()
        install_crd(self.plane)
        self.api = admin_api_client(self.plane, pool_size=8)
        self.custom = client.CustomObjectsApi(self.api)
        client.CoreV1Api(self.api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        self.operator = self.new_operator()
        return self

    def new_operator(self) -> OperatorProcess:
        """An operator process (not started), logging to the work dir."""
        return OperatorProcess(kubeconfig=self.plane.kubeconfig, bolna_url=self.bolna.url,
                               token=TOKEN, log_path=self.workdir / "operator.log",
                               drift_interval=30, debug=bool(os.environ.get("FAULTS_DEBUG")),
                               extra_args=("--namespace", NAMESPACE))

    def __exit__(self, *_: object) -> None:
        self.operator.stop()
        self.api.close()  # type: ignore[no-untyped-call]
        self.bolna.stop()
        self.plane.stop()

    def trunks(self) -> list[dict[str, Any]]:
        """Every SipTrunk in the namespace."""
        listed: Any = self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                                PLURAL)
        return list(listed["items"])

    def bolna_trunks(self) -> list[dict[str, Any]]:
        """Every trunk Bolna holds, as its API lists them (numbers included)."""
        answer = httpx.get(f"{self.bolna.url}/sip-trunks/trunks", timeout=30,
                           headers={"Authorization": f"Bearer {TOKEN}"})
        answer.raise_for_status()
        return list(answer.json())

    def converged(self) -> tuple[list[str], str]:
        """SipTrunks not yet Ready for their current generation, or Terminating."""
        items = self.trunks()
        waiting = []
        for item in items:
            status = item.get("status") or {}
            ready: dict[str, Any] = next((c for c in status.get("conditions") or ()
                                          if c["type"] == "Ready"), {})
            if (item["metadata"].get("deletionTimestamp") or ready.get("status") != "True"
                    or status.get("observedGeneration") != item["metadata"]["generation"]):
                waiting.append(item["metadata"]["name"])
        return waiting, f"{len(items) - len(waiting)}/{len(items)} converged"

    def wait_converged(self, timeout: float) -> float:
        """Seconds until converged; RuntimeError after ``timeout``."""
        started = time.monotonic()
        while True:
            waiting, progress = self.converged()
            if not waiting:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"not converged after {timeout:.0f}s: {progress}")
            print(f"  {progress}; waiting: {', '.join(waiting[:3])}", file=sys.stderr)
            time.sleep(3)

    def compare(self) -> dict[str, Any]:
        """Bolna's state against the SipTrunks: what differs, by kind."""
        wanted = {item["spec"]["name"]: item["spec"] for item in self.trunks()}
        held = self.bolna_trunks()
        names = Counter(t["name"] for t in held)
        by_name = {t["name"]: t for t in held}
        wrong_numbers = []
        wrong_fields = []
        for name, spec in wanted.items():
            trunk = by_name.get(name)
            if trunk is None:
                continue
            want = sorted(n["phoneNumber"] for n in spec.get("phoneNumbers") or ())
            have = sorted(n["phone_number"] for n in trunk.get("phone_numbers") or ())
            if want != have:
                wrong_numbers.append(f"{name}: want {want}, Bolna has {have}")
            if trunk.get("description") != spec.get("description"):
                wrong_fields.append(f"{name}: description {trunk.get('description')!r}")
        return {
            "siptrunks": len(wanted), "bolna_trunks": len(held),
            "duplicates": sorted(n for n, count in names.items() if count > 1),
            "orphans": sorted(set(names) - set(wanted)),
            "missing": sorted(set(wanted) - set(names)),
            "wrong_numbers": wrong_numbers, "wrong_fields": wrong_fields,
        }


def _create(stack: Stack, indexes: range) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: stack.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, _trunk(i)), indexes))


def r1(trunks: int, workdir: Path) -> dict[str, Any]:
    """Lost create answers."""
    with Stack(workdir, drop_rate=0.3) as stack:
        stack.operator.start()
        _create(stack, range(trunks))
        seconds = stack.wait_converged(20 * 60)
        result = stack.compare()
        requests = stack.bolna.requests()
    creates = [r for r in requests if r["method"] == "POST" and r["route"] == "/sip-trunks/trunks"]
    return {"scenario": "R1", "trunks": trunks, "drop_after_commit_rate": 0.3,
            "seconds_to_all_ready_after_applying": round(seconds, 1),
            "create_calls": len(creates),
            "create_calls_answered": sum(1 for r in creates if r["status"] == 201),
            "bolna_calls": len(requests), **result,
            "holds": not (result["duplicates"] or result["orphans"] or result["missing"]
                          or result["wrong_numbers"] or result["wrong_fields"])}


def r2(trunks: int, kills: int, window: float, workdir: Path) -> dict[str, Any]:
    """SIGKILLs while trunks are created, changed and deleted."""
    rng = random.Random(20261126)
    moments = sorted(rng.uniform(0, window) for _ in range(kills))
    third = trunks // 3
    with Stack(workdir) as stack:
        stack.operator.start()
        killed: list[float] = []
        kills_done, finished = threading.Event(), threading.Event()

        def killer(start: float) -> None:
            # This thread starts the replacement operators, and a child started with
            # die_with_parent dies with the thread that started it: the thread lives
            # until the run is over.
            try:
                for moment in moments:
                    time.sleep(max(0.0, start + moment - time.monotonic()))
                    stack.operator.kill()
                    killed.append(round(time.monotonic() - start, 1))
                    stack.operator = stack.new_operator()
                    stack.operator.start(timeout=120)
            finally:
                kills_done.set()
            finished.wait()

        begin = time.monotonic()
        thread = threading.Thread(target=killer, args=(begin,), daemon=True)
        thread.start()
        # Creates over the first 40% of the window, changes and deletes after.
        for index in range(trunks):
            stack.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                         _trunk(index))
            time.sleep(0.4 * window / trunks)
        for index in range(third):
            stack.custom.patch_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, f"trunk-{index:04d}",
                {"spec": _trunk(index, changed=True)["spec"]})
            time.sleep(0.25 * window / third)
        for index in range(trunks - third, trunks):
            stack.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                         f"trunk-{index:04d}")
            time.sleep(0.25 * window / third)
        kills_done.wait()
        workload = time.monotonic() - begin
        try:
            seconds = stack.wait_converged(20 * 60)
            result = stack.compare()
        finally:
            stack.operator.stop()
            finished.set()
    return {"scenario": "R2", "trunks": trunks, "changed": third, "deleted": third,
            "kills": len(killed), "killed_at_seconds": killed,
            "workload_seconds": round(workload, 1),
            "seconds_to_converge_after": round(seconds, 1), **result,
            "holds": not (result["duplicates"] or result["orphans"] or result["missing"]
                          or result["wrong_numbers"] or result["wrong_fields"])}


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("r1", "r2"))
    parser.add_argument("--trunks", type=int)
    parser.add_argument("--kills", type=int, default=20, help="R2: SIGKILLs (default 20)")
    parser.add_argument("--window", type=float, default=150.0,
                        help="R2: seconds the workload and the kills are spread over")
    parser.add_argument("--workdir", type=Path,
                        help="keep logs and state here (default: a temporary directory)")
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/faults.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bolna-faults-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.scenario == "r1":
            result = r1(args.trunks or 500, workdir)
        else:
            result = r2(args.trunks or 300, args.kills, args.window, workdir)
    result = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), **result}
    print(json.dumps(result, indent=2))
    if args.record:
        record("faults", result, str(result["scenario"]))
    return 0 if result["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
