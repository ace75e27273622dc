"""What the benchmarks under ``bench/`` share: the CRD installed, and a run recorded.

Each run is appended to ``bench/results/<name>.md`` with the command that reproduces it,
so the figures in the results files are always next to the way to get them again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .control_plane import ControlPlane, find_kubectl

REPO = Path(__file__).resolve().parents[3]
RESULTS = REPO / "bench" / "results"


def install_crd(plane: ControlPlane) -> None:
    """Apply ``crds/siptrunk.yaml`` and wait until the apiserver serves SipTrunks."""
    kubectl = str(find_kubectl(plane.bin_dir))
    for argv in (["apply", "-f", str(REPO / "crds" / "siptrunk.yaml")],
                 ["wait", "--for=condition=Established", "crd/siptrunks.sip.bolna.ai"]):
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
