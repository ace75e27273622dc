"""What the benchmarks under ``bench/`` share: the CRD installed, a watch that notes when
conditions turn True, percentiles, and a run recorded.

Each run is appended to ``bench/results/<name>.md`` with the command that reproduces it,
so the figures in the results files are always next to the way to get them again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from .control_plane import ControlPlane, find_kubectl

GROUP, VERSION, PLURAL = "sip.bolna.ai", "v1alpha1", "siptrunks"

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


def install_crd(plane: ControlPlane) -> None:
    """Apply both CRDs (the operator serves both kinds) and wait until the apiserver
    serves them."""
    kubectl = str(find_kubectl(plane.bin_dir))
    for argv in (["apply", "-f", str(REPO / "crds" / "siptrunk.yaml"),
                  "-f", str(REPO / "crds" / "carriertrunk.yaml")],
                 ["wait", "--for=condition=Established", "crd/siptrunks.sip.bolna.ai",
                  "crd/carriertrunks.sip.bolna.ai"]):
        subprocess.run([kubectl, "--kubeconfig", str(plane.kubeconfig), *argv],
                       check=True, capture_output=True)


def record(name: str, result: Mapping[str, Any], heading: str = "") -> Path:
    """Append ``result`` to ``bench/results/<name>.md`` under its date (and ``heading``),
    with the command line this process was started with."""
    path = RESULTS / f"{name}.md"
    if not path.exists():
        path.write_text(f"# {name}\n")
    command = " ".join(["python", f"bench/{name}.py", *sys.argv[1:]])
    title = f"{result['date']}: {heading}" if heading else str(result["date"])
    with path.open("a") as out:
        out.write(f"\n## {title}\n\nCommand: `{command}`\n\n"
                  f"```json\n{json.dumps(result, indent=2)}\n```\n")
    return path


class ConditionStopwatch(threading.Thread):
    """Watches one namespace's SipTrunks; notes, per (trunk, condition type), the
    monotonic time the condition was first seen True. A watch, not polling, so the
    figure is the moment the apiserver told its clients."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        super().__init__(daemon=True)
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.seen: dict[tuple[str, str], float] = {}
        self.stream = watch.Watch()  # type: ignore[no-untyped-call]

    def run(self) -> None:
        try:
            self._watch()
        except Exception:  # the cluster stopped under the watch: the run is over
            return

    def _watch(self) -> None:
        for event in self.stream.stream(self.custom.list_namespaced_custom_object, GROUP,  # type: ignore[no-untyped-call]
                                        VERSION, self.namespace, PLURAL, timeout_seconds=3600):
            now = time.monotonic()
            trunk = event["object"]
            for item in (trunk.get("status") or {}).get("conditions") or ():
                key = (trunk["metadata"]["name"], item["type"])
                if item["status"] == "True" and key not in self.seen:
                    self.seen[key] = now


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
