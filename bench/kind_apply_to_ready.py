"""Benchmark P5c: ``kubectl apply`` of a SipTrunk -> DispatcherSynced and Ready, on the
kind cluster of ``hack/kind-up.sh``.

The same measure as ``bench/apply_to_ready.py``, on the path users have: the operator
and Kamailio as the chart's pods, the Bolna emulator as a pod, the lists reaching every
Kamailio replica the way the installed chart delivers them (``kamailio.lists.delivery``:
each pod's edge agent by default, or the ConfigMap volume the real kubelet refreshes;
the result says which). Trunks
over the two example gateway pods are applied one at a time, each once the previous
one is Ready; probing is off (``qualifyFrequency: 0``), so Ready means exactly "Bolna
synced and every Kamailio replica verified". A watch records when each condition first
turns True, measured from just before the create call.

    hack/kind-up.sh
    .venv/bin/python bench/kind_apply_to_ready.py --samples 5 --record

Uses the current kubeconfig's context ``kind-$BOLNA_KIND_CLUSTER`` (default bolna-sip).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from typing import Any

from kubernetes import client, config

from bolna_devenv.benchmarks import (
    GROUP,
    PLURAL,
    VERSION,
    ConditionStopwatch,
    percentile,
    record,
)

NAMESPACE = "p5-kind"
CONDITIONS = ("Synced", "DispatcherSynced", "Ready")
READY_TIMEOUT = 300.0


def _trunk(index: int) -> dict[str, Any]:
    gateways = [{"gatewayAddress": f"sip-gw-{n}.telephony.svc.cluster.local", "port": 5060,
                 "priority": n} for n in (1, 2)]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk",
        "metadata": {"name": f"trunk-{index:03d}"},
        "spec": {"provider": "custom", "authType": "ip-based", "qualifyFrequency": 0,
                 "ipIdentifiers": [{"ipAddress": f"10.99.{index // 250}.{index % 250 + 1}"}],
                 "gateways": gateways},
    }


def lists_delivery(apps: client.AppsV1Api) -> str:
    """How the installed chart delivers the lists, from the operator's own flags."""
    for deployment in apps.list_deployment_for_all_namespaces(
            label_selector="app.kubernetes.io/component=operator").items:
        pod = deployment.spec.template.spec if deployment.spec else None
        args = (pod.containers[0].args or []) if pod else []
        if "--edge-agents" in args:
            return "through each pod's edge agent (kamailio.lists.delivery agent)"
    return "through the ConfigMap volume (kamailio.lists.delivery volume)"


def run(samples: int, context: str) -> dict[str, Any]:
    """Measure; return the figures."""
    api = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    delivery = lists_delivery(client.AppsV1Api(api))
    custom = client.CustomObjectsApi(api)
    def exists() -> bool:
        return any(n.metadata and n.metadata.name == NAMESPACE
                   for n in core.list_namespace().items)

    if exists():  # left by an interrupted run
        core.delete_namespace(NAMESPACE)
        while exists():
            time.sleep(1)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    stopwatch = ConditionStopwatch(api, NAMESPACE)
    stopwatch.start()
    applied: dict[str, float] = {}
    try:
        for index in range(samples):
            document = _trunk(index)
            name = document["metadata"]["name"]
            started = time.monotonic()
            custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, document)
            applied[name] = started
            while (name, "Ready") not in stopwatch.seen:
                if time.monotonic() > started + READY_TIMEOUT:
                    raise RuntimeError(f"{name} not Ready within {READY_TIMEOUT:.0f} s")
                time.sleep(0.05)
            print(f"{name}: DispatcherSynced in "
                  f"{stopwatch.seen[(name, 'DispatcherSynced')] - started:.1f}s, Ready in "
                  f"{stopwatch.seen[(name, 'Ready')] - started:.1f}s", file=sys.stderr)
    finally:
        stopwatch.stream.stop()  # type: ignore[no-untyped-call]
        core.delete_namespace(NAMESPACE)
    figures: dict[str, Any] = {}
    for condition in CONDITIONS:
        values = [stopwatch.seen[(name, condition)] - at for name, at in applied.items()]
        figures[condition] = {"p50_s": round(statistics.median(values), 2),
                              "p99_s": round(percentile(values, 0.99), 2),
                              "max_s": round(max(values), 2)}
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "where": f"kind cluster ({context}): 2 operator and 2 Kamailio pods, lists "
                 f"{delivery}",
        "samples": samples,
        "target": {"id": "P5c", "Ready_p50_s": 2.0, "Ready_p99_s": 5.0},
        "apply_to_condition_true": figures,
    }


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--record", action="store_true",
                        help="append the result to bench/results/kind_apply_to_ready.md")
    args = parser.parse_args()
    context = f"kind-{os.environ.get('BOLNA_KIND_CLUSTER', 'bolna-sip')}"
    result = run(args.samples, context)
    print(json.dumps(result, indent=2))
    if args.record:
        record("kind_apply_to_ready", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
