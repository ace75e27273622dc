"""What GitOps tools' own health engines say about objects, through ``gitops-judge``.

``gitops-judge`` (source in ``hack/tools/gitops-judge``, built by
``hack/install-gitops-judge.sh``, which ``hack/setup.sh`` runs) is a small Go program
linked against the real code of two engines:

* kstatus: ``status.Compute`` of ``sigs.k8s.io/cli-utils/pkg/kstatus/status``, the
  library Flux waits on (and kpt, cli-utils' appliers). Its statuses: ``InProgress``,
  ``Current``, ``Failed``, ``Terminating`` (``NotFound`` and ``Unknown`` come from its
  pollers, never from ``Compute``).
* Argo CD v2: ``health.GetResourceHealth`` of gitops-engine with
  ``lua.ResourceHealthOverrides`` of ``argo-cd/v2/util/lua``, the call Argo CD's
  application controller makes for each live resource, with the health Lua installed
  as a resource override for ``sip.bolna.ai/SipTrunk`` (as argocd-cm's
  ``resource.customizations.health.sip.bolna.ai_SipTrunk`` does). Its statuses:
  ``Healthy``, ``Progressing``, ``Degraded``, ``Suspended``, ``Missing``, ``Unknown``.

:func:`judge` sends a batch of objects to one run of the binary. The binary is looked
up in the build cache under a key made of its sources, so an edit of the Go code is
never judged by an older build; a missing binary fails the test (never skips it) with
the command that builds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

__all__ = ["CACHE_DIR_ENV", "GITOPS_JUDGE_BIN_ENV", "HEALTH_LUA", "SOURCES", "Judgement", "Verdict",
           "find_gitops_judge", "judge", "source_hash"]

REPO = Path(__file__).resolve().parents[1]
#: The Go module of ``gitops-judge``.
SOURCES = REPO / "hack" / "tools" / "gitops-judge"
#: The Argo CD health check that ``judge`` installs for SipTrunk by default.
HEALTH_LUA = REPO / "deploy" / "argocd" / "siptrunk-health.lua"
#: Environment variable naming a gitops-judge binary to use instead of the cached build.
GITOPS_JUDGE_BIN_ENV = "GITOPS_JUDGE_BIN"
#: The build cache shared by the hack/ scripts (``hack/go-install.sh`` and the others).
CACHE_DIR_ENV = "BOLNA_CACHE_DIR"
_SCRIPT = "hack/install-gitops-judge.sh"


class Verdict(NamedTuple):
    """One engine's answer for one object; compares equal to ``(status, message)``."""

    status: str
    message: str


@dataclass(frozen=True)
class Judgement:
    """Both engines' answers for one object.

    When kstatus' ``Compute`` returns an error (a malformed status, say) ``kstatus`` is
    ``Verdict("Error", <the error>)``: kstatus has no such status, its callers see the
    error. When the health Lua fails, Argo CD itself shows ``Unknown`` with the error as
    message, and so does ``argocd``. ``errors`` holds the raw error of either engine.
    """

    kstatus: Verdict
    argocd: Verdict
    errors: dict[str, str] = field(default_factory=dict)


def source_hash(sources: Path = SOURCES) -> str:
    """The cache key of ``hack/install-gitops-judge.sh`` for these sources.

    The script runs ``sha256sum`` on go.mod, go.sum and every ``*.go`` file (relative
    paths, in byte order) and takes the first 16 hex digits of that listing's sha256.
    """
    files = sorted((p.relative_to(sources).as_posix() for p in sources.rglob("*")
                    if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum"))),
                   key=lambda name: name.encode())
    listing = "".join(f"{hashlib.sha256((sources / name).read_bytes()).hexdigest()}  {name}\n"
                      for name in files)
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def find_gitops_judge() -> Path:
    """``$GITOPS_JUDGE_BIN`` when set, else where ``hack/install-gitops-judge.sh`` puts
    the build of the current sources (it may not exist)."""
    env_bin = os.environ.get(GITOPS_JUDGE_BIN_ENV)
    if env_bin:
        return Path(env_bin).expanduser()
    cache_env = os.environ.get(CACHE_DIR_ENV)
    cache = Path(cache_env) if cache_env else Path.home() / ".cache" / "bolna-sip-operator"
    return cache / f"gitops-judge-{source_hash()}" / "bin" / "gitops-judge"


def _require_binary() -> Path:
    binary = find_gitops_judge()
    if not os.access(binary, os.X_OK):
        source = f"${GITOPS_JUDGE_BIN_ENV}" if os.environ.get(GITOPS_JUDGE_BIN_ENV) else (
            "the build cache, keyed by the sources in hack/tools/gitops-judge")
        pytest.fail(f"gitops-judge (kstatus and Argo CD health) not found at {binary} "
                    f"({source}): run hack/setup.sh (or {_SCRIPT}) to build it "
                    f"(a few minutes the first time).", pytrace=False)
    return binary


def _verdict(raw: dict[str, Any], engine: str, errors: dict[str, str]) -> Verdict:
    if raw.get("error"):
        errors[engine] = str(raw["error"])
        if engine == "kstatus":
            return Verdict("Error", str(raw["error"]))
    return Verdict(str(raw["status"]), str(raw["message"]))


def judge(objects: list[dict[str, Any]], health_lua: Path = HEALTH_LUA,
          kind: str = "SipTrunk") -> list[Judgement]:
    """kstatus' and Argo CD's health of each object, in order, from one run of the binary.

    The health Lua is installed as the override of ``sip.bolna.ai/<kind>`` (argocd-cm's
    ``resource.customizations.health.sip.bolna.ai_<kind>``): objects of another kind get
    only Argo CD's built-in checks, as in Argo CD.
    """
    binary = _require_binary()
    result = subprocess.run(
        [str(binary), "-argocd-health-lua", str(health_lua), "-kind", kind],
        input=json.dumps(objects), capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        pytest.fail(f"gitops-judge exited {result.returncode}: {result.stderr.strip()}")
    raw = json.loads(result.stdout)
    if len(raw) != len(objects):
        pytest.fail(f"gitops-judge judged {len(raw)} of {len(objects)} objects")
    judgements = []
    for item in raw:
        errors: dict[str, str] = {}
        kstatus = _verdict(item["kstatus"], "kstatus", errors)
        argocd = _verdict(item["argocd"], "argocd", errors)
        judgements.append(Judgement(kstatus, argocd, errors))
    return judgements
