"""Fault harnesses R1, R2 and R3: the operator under lost answers, under SIGKILL, and
under a flaky, busy Bolna.

Everything real and local: kube-apiserver + etcd, the Bolna emulator, and
``bolna-sip-operator run`` (Bolna only; the SIP edge has its own harnesses). Each run
ends by comparing Bolna's stored state with the SipTrunks, exactly.

R1: the emulator commits 30% of creates and then drops the connection, so the operator
    never learns the trunk was made; 500 trunks. Must hold: 0 duplicate trunks in
    Bolna, all Ready.
R2: the operator is SIGKILLed 20 times at random moments while 300 trunks are created,
    100 of them changed and 100 deleted. Must hold: Bolna equals the desired state
    exactly (no duplicate, no orphan, no missing or extra number).
R3: new trunks under a flaky Bolna seen from a shared, busy API key (issue 24): 15% of
    requests answered 5xx, 5% held 4 s and closed unanswered (the operator's request
    timeout at 3 s), and a burst of 5 x 429 (Retry-After: 1) every 10 s for as long as
    the run lasts, from a seeded schedule (the seed is printed). The same trunks are
    first made with no fault, on a stack of their own, for the reference time. Then,
    faults still on, a hold: trunks in sync must stay Ready while drift checks fail.
    Targets: all Ready within the fault-free time + 60 s; Bolna requests at most 2 x the
    floor (one create per trunk); no trunk Ready more than 60 s after Bolna's last
    answer about it; 0 duplicates.

    .venv/bin/python bench/faults.py r1 --trunks 500 --record
    .venv/bin/python bench/faults.py r2 --trunks 300 --kills 20 --record
    .venv/bin/python bench/faults.py r3 --trunks 200 --seed 24 --record
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


FAULT_MIX: dict[str, object] = {
    "error_rate": 0.15, "timeout_rate": 0.05, "timeout_seconds": 4.0,
    "burst_429_every_seconds": 10.0, "burst_429_size": 5, "burst_retry_after_seconds": 1}
"""Issue 24's mix: a flaky Bolna behind a shared, busy API key."""
REQUEST_TIMEOUT = 3.0
"""The operator's --request-timeout in R3: shorter than a held request (4 s)."""


class Stack:
    """The control plane, the emulator and a restartable operator, with the CRD."""

    def __init__(self, workdir: Path, drop_rate: float = 0.0, *, seed: int = 7,
                 operator_args: tuple[str, ...] = (), record_bodies: bool = False) -> None:
        self.workdir = workdir
        self.plane = ControlPlane(workdir / "cp")
        self.bolna = EmulatorProcess(tokens=[TOKEN], drop_after_commit_rate=drop_rate,
                                     seed=seed, record_bodies=record_bodies)
        self.operator_args = operator_args

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
                               extra_args=("--namespace", NAMESPACE, *self.operator_args))

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


class ReadyPoll:
    """Polls the namespace's SipTrunks: when each was first seen Ready for its
    generation (wall clock, as the emulator's log; to the poll's period), and every
    Ready trunk later seen not Ready. Polling rather than a watch: a watch that broke
    under load would stop the count without a word."""

    def __init__(self, stack: Stack, period: float) -> None:
        self.stack = stack
        self.period = period
        self.first_ready: dict[str, float] = {}
        self.ready: set[str] = set()
        self.flips: list[tuple[str, str, float]] = []

    def poll(self) -> None:
        now = time.time()
        for trunk in self.stack.trunks():
            name = trunk["metadata"]["name"]
            status = trunk.get("status") or {}
            ready: dict[str, Any] = next((c for c in status.get("conditions") or ()
                                          if c["type"] == "Ready"), {})
            if (ready.get("status") == "True" and ready.get("observedGeneration")
                    == trunk["metadata"]["generation"]):
                self.ready.add(name)
                self.first_ready.setdefault(name, now)
            elif name in self.ready:
                self.ready.discard(name)
                self.flips.append((name, str(ready.get("reason")), now))

    def until(self, done: Any, timeout: float) -> None:
        """Poll until ``done()`` or ``timeout`` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            started = time.time()
            self.poll()
            if done():
                return
            time.sleep(max(0.0, self.period - (time.time() - started)))


def _epoch(iso: str) -> float:
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.UTC).timestamp()


def _longest_wait(requests: list[dict[str, Any]], first_ready: dict[str, float],
                  ids: dict[str, str]) -> tuple[float, str]:
    """The longest time from Bolna's last answer about a trunk to its first Ready: a
    call naming it (its create, by the name in the body), a call on its ID, or a list
    of the account (what the look for a trunk whose create lost its answer reads)."""
    names = {trunk_id: name for name, trunk_id in ids.items()}
    about: dict[str, list[float]] = {}
    lists: list[float] = []
    for entry in requests:
        if entry["status"] is None:
            continue  # no answer
        when = _epoch(entry["time"])
        if entry["route"] == "/sip-trunks/trunks" and entry["method"] == "GET":
            if entry["status"] == 200:
                lists.append(when)
            continue
        body = entry.get("body") or {}
        name = body.get("name") if entry["method"] == "POST" and isinstance(body, dict) \
            else None
        if name is None:
            parts = entry["path"].split("/")
            name = names.get(parts[3]) if len(parts) > 3 else None
        if name is not None:
            about.setdefault(name, []).append(when)
    longest, who = 0.0, ""
    for name, ready_at in first_ready.items():
        before = [t for t in about.get(name, []) + lists if t <= ready_at]
        if before and ready_at - max(before) > longest:
            longest, who = ready_at - max(before), name
    return round(longest, 1), who


def _r3_pass(trunks: int, workdir: Path, *, seed: int, faults: bool, hold: float
             ) -> dict[str, Any]:
    """One pass of R3: a stack of its own, ``trunks`` new SipTrunks, with the fault mix
    or none; then (with faults) a hold with the faults still on."""
    workdir.mkdir(parents=True, exist_ok=True)
    with Stack(workdir, seed=seed, record_bodies=True,
               operator_args=("--request-timeout", str(REQUEST_TIMEOUT))) as stack:
        stack.operator.start()
        watcher = ReadyPoll(stack, period=0.5 if trunks <= 200 else 1.0)
        since = stack.bolna.stats()["total"]
        if faults:
            stack.bolna.set_faults(**FAULT_MIX, seed=seed)
        begin = time.time()
        _create(stack, range(trunks))
        applied = time.time() - begin
        watcher.until(lambda: len(watcher.first_ready) == trunks, 1800)
        all_ready = max(watcher.first_ready.values(), default=begin) - begin
        converged = len(watcher.first_ready) == trunks
        requests = stack.bolna.requests(since)
        until_ready = [r for r in requests if _epoch(r["time"]) <= begin + all_ready]
        held: dict[str, Any] = {}
        if faults and hold > 0:
            at = time.time()
            seq = requests[-1]["seq"] if requests else since
            watcher.until(lambda: False, hold)
            during = stack.bolna.requests(seq)
            held = {"hold_seconds_faults_on": hold,
                    "ready_trunks_that_turned_not_ready_during_hold": sorted(
                        {name for name, _, when in watcher.flips if when >= at}),
                    "bolna_requests_during_hold": dict(Counter(
                        f"{r['method']} {r['route']} {r['status']}" for r in during))}
        if faults:  # the harness's own reads below must not meet them
            stack.bolna.set_faults(error_rate=0.0, timeout_rate=0.0,
                                   burst_429_every_seconds=0.0, burst_429=0)
        ids = {t["name"]: t["id"] for t in stack.bolna_trunks()}
        longest, who = _longest_wait(requests, watcher.first_ready, ids)
        events: Counter[str] = Counter()
        for event in client.CoreV1Api(stack.api).list_namespaced_event(NAMESPACE).items:
            events[f"{event.type} {event.reason}"] += event.count or 1
        faults_met = Counter(str(r["fault"]) for r in until_ready if r["fault"])
        result = stack.compare()
        stats = stack.bolna.faults()
    return {
        "faults": FAULT_MIX if faults else None, "seed": stats["seed"],
        "converged": converged,
        "seconds_to_apply_all": round(applied, 1),
        "seconds_to_all_ready": round(all_ready, 1),
        "bolna_requests_until_all_ready": len(until_ready),
        "requests_by_route_until_all_ready": dict(sorted(Counter(
            f"{r['method']} {r['route']} {r['status']}" for r in until_ready).items())),
        "faults_met_until_all_ready": dict(faults_met),
        "longest_seconds_from_bolnas_last_answer_to_ready": longest,
        "that_trunk": who,
        "ready_trunks_that_turned_not_ready": len(watcher.flips),
        "ready_polled_every_seconds": watcher.period,
        "event_counts": dict(sorted(events.items())),
        **held, "duplicates": result["duplicates"], "missing": result["missing"],
        "orphans": result["orphans"], "wrong_numbers": result["wrong_numbers"]}


def r3(trunks: int, seed: int, hold: float, workdir: Path) -> dict[str, Any]:
    """A flaky, busy Bolna: the fault-free pass, then the faulted one."""
    print(f"R3: {trunks} trunks, fault seed {seed}", file=sys.stderr)
    clean = _r3_pass(trunks, workdir / "clean", seed=seed, faults=False, hold=0.0)
    faulted = _r3_pass(trunks, workdir / "faulted", seed=seed, faults=True, hold=hold)
    floor = trunks  # one create per trunk
    budget = clean["seconds_to_all_ready"] + 60.0
    checks = {
        "time_within_fault_free_plus_60s": faulted["converged"]
        and faulted["seconds_to_all_ready"] <= budget,
        "requests_within_2x_floor": faulted["bolna_requests_until_all_ready"] <= 2 * floor,
        "no_trunk_waits_over_60s_after_bolnas_last_answer":
            faulted["longest_seconds_from_bolnas_last_answer_to_ready"] <= 60.0,
        "no_duplicates": not faulted["duplicates"]}
    return {"scenario": "R3", "trunks": trunks, "seed": seed,
            "operator_request_timeout_seconds": REQUEST_TIMEOUT,
            "drift_interval_seconds": 30,
            "floor_requests": floor,
            "fault_free_seconds_to_all_ready": clean["seconds_to_all_ready"],
            "faulted_seconds_to_all_ready": faulted["seconds_to_all_ready"],
            "faulted_minus_fault_free_seconds": round(
                faulted["seconds_to_all_ready"] - clean["seconds_to_all_ready"], 1),
            "fault_free_requests": clean["bolna_requests_until_all_ready"],
            "faulted_requests": faulted["bolna_requests_until_all_ready"],
            "faulted_requests_per_floor": round(
                faulted["bolna_requests_until_all_ready"] / floor, 2),
            "targets": checks, "fault_free": clean, "faulted": faulted,
            "holds": all(checks.values())}


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("r1", "r2", "r3"))
    parser.add_argument("--trunks", type=int)
    parser.add_argument("--kills", type=int, default=20, help="R2: SIGKILLs (default 20)")
    parser.add_argument("--window", type=float, default=150.0,
                        help="R2: seconds the workload and the kills are spread over")
    parser.add_argument("--seed", type=int, default=24,
                        help="R3: the emulator's fault seed (printed; default 24)")
    parser.add_argument("--hold", type=float, default=90.0,
                        help="R3: seconds the faults stay on after all are Ready")
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
        elif args.scenario == "r3":
            result = r3(args.trunks or 200, args.seed, args.hold, workdir)
        else:
            result = r2(args.trunks or 300, args.kills, args.window, workdir)
    result = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), **result}
    print(json.dumps(result, indent=2))
    if args.record:
        record("faults", result, str(result["scenario"]))
    return 0 if result["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
