"""The chart as the tests see it: the real helm binary, and the manifests it renders.

Helm runs with its own cache, config and data directories (so a developer's repositories
and plugins play no part) and with no kubeconfig unless a test gives one, so nothing
but the test apiserver on 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from bolna_devenv.kamailio import find_kamailio
from bolna_devenv.processes import free_ports, tail, terminate

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "bolna-sip-operator"
VALUES_DIR = Path(__file__).resolve().parent / "values"

Manifest = dict[str, Any]

# Helm says so on stderr for each symlink it follows (the chart's CRD, kamailio.cfg and
# the Argo CD Lua are symlinks into the repository): expected, not a problem.
_SYMLINK_NOTE = "found symbolic link in path"


class HelmError(AssertionError):
    """A helm command failed; the message has its arguments and stderr."""


class Helm:
    """One helm binary with a private home, optionally pointed at a kubeconfig."""

    def __init__(self, binary: Path, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary = binary
        self.home = home
        self.kubeconfig = kubeconfig

    def with_kubeconfig(self, kubeconfig: Path) -> Helm:
        """The same helm, talking to the cluster of ``kubeconfig``."""
        return Helm(self.binary, self.home, kubeconfig)

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("HELM_") and key != "KUBECONFIG"}
        env.update(HELM_CACHE_HOME=str(self.home / "cache"),
                   HELM_CONFIG_HOME=str(self.home / "config"),
                   HELM_DATA_HOME=str(self.home / "data"))
        # No kubeconfig at all unless asked: `helm template` then cannot reach a cluster.
        env["KUBECONFIG"] = str(self.kubeconfig) if self.kubeconfig else os.devnull
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
        """Run helm; with ``check``, raise HelmError naming the command and its stderr."""
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                                env=self._env(), timeout=timeout, check=False)
        result.stderr = strip_symlink_notes(result.stderr)
        if check and result.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} exited {result.returncode}:\n"
                            f"{result.stderr}{result.stdout[-2000:]}")
        return result

    def template(self, *args: str, values: Mapping[str, Any] | None = None,
                 values_files: tuple[Path, ...] = (), release: str = "edge",
                 namespace: str = "telephony") -> Manifests:
        """``helm template`` of the chart, parsed."""
        return Manifests(parse(self.run(
            "template", release, str(CHART), "--namespace", namespace,
            *value_args(values, values_files), *args).stdout))


def strip_symlink_notes(stderr: str) -> str:
    """stderr without helm's notes about the chart's symlinks."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if _SYMLINK_NOTE not in line)


def value_args(values: Mapping[str, Any] | None, files: tuple[Path, ...] = ()) -> list[str]:
    """``-f FILE`` for each file, then the values as JSON (``--set-json`` per key)."""
    args: list[str] = []
    for path in files:
        args += ["-f", str(path)]
    for key, value in (values or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def parse(text: str) -> list[Manifest]:
    """Every non-empty YAML document of a rendered stream."""
    return [cast(Manifest, doc) for doc in yaml.safe_load_all(text) if doc]


class Manifests:
    """Rendered objects, looked up by kind, name and namespace."""

    def __init__(self, documents: list[Manifest]) -> None:
        self.documents = documents

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.documents)

    def of_kind(self, kind: str) -> list[Manifest]:
        """Every object of the kind."""
        return [doc for doc in self.documents if doc["kind"] == kind]

    def kinds(self) -> set[str]:
        """The kinds rendered."""
        return {doc["kind"] for doc in self.documents}

    def one(self, kind: str, name: str | None = None, namespace: str | None = None
            ) -> Manifest:
        """The single object matching; fail naming what was rendered instead."""
        found = [doc for doc in self.of_kind(kind)
                 if (name is None or doc["metadata"]["name"] == name)
                 and (namespace is None or doc["metadata"].get("namespace") == namespace)]
        if len(found) != 1:
            rendered = sorted(f"{d['kind']}/{d['metadata'].get('namespace', '-')}/"
                              f"{d['metadata']['name']}" for d in self.documents)
            raise AssertionError(f"expected one {kind} {name or ''} {namespace or ''}, "
                                 f"found {len(found)}; rendered: {rendered}")
        return found[0]

    def deployment(self, component: str) -> Manifest:
        """The Deployment of ``operator`` or ``kamailio``."""
        found = [d for d in self.of_kind("Deployment")
                 if d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
        assert len(found) == 1, f"expected one {component} Deployment, found {len(found)}"
        return found[0]


def container(deployment: Manifest) -> Manifest:
    """The Deployment's only container."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    return cast(Manifest, containers[0])


def flags(args: list[str]) -> dict[str, list[str]]:
    """``--name=value`` arguments by name (a flag given twice has two values)."""
    found: dict[str, list[str]] = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            found.setdefault(name, []).append(value)
    return found


def defines(args: list[str]) -> dict[str, str]:
    """Kamailio's ``-A NAME=value`` defines, by name."""
    found: dict[str, str] = {}
    for option, value in itertools.pairwise(args):
        if option == "-A":
            name, _, text = value.partition("=")
            found[name] = text
    return found


@dataclass(frozen=True)
class LocalKamailio:
    """The chart's Kamailio run on loopback: its SIP port and JSON-RPC."""

    sip_port: int
    rpc_port: int

    def rpc(self, method: str) -> dict[str, Any]:
        """One JSON-RPC call's answer."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "id": 1}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/RPC", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=2) as reply:
            return dict(json.loads(reply.read()))


@contextlib.contextmanager
def rendered_kamailio(helm: Helm, tmp_path: Path, values: Mapping[str, Any] | None = None,
                      *, dispatcher_list: str | None = None, fullname: str
                      ) -> Iterator[LocalKamailio]:
    """The Kamailio Deployment's command line, as the chart renders it, run by the real
    Kamailio on 127.0.0.1 with the pod's paths swapped for local ones; ready when its
    JSON-RPC answers. ``dispatcher_list`` replaces the mounted list's content."""
    sip_port, rpc_port = free_ports(2)
    manifests = helm.template(values={"kamailio.listenAddress": "127.0.0.1",
                                      "kamailio.sipPort": sip_port,
                                      "kamailio.rpcPort": rpc_port, **(values or {})})
    box = container(manifests.deployment("kamailio"))
    config = manifests.one("ConfigMap", f"{fullname}-kamailio-config")
    lists = manifests.one("ConfigMap", f"{fullname}-kamailio-lists")
    lists_dir, run_dir = tmp_path / "lists", tmp_path / "run"
    lists_dir.mkdir(parents=True)
    run_dir.mkdir(parents=True)
    (tmp_path / "kamailio.cfg").write_text(config["data"]["kamailio.cfg"], encoding="utf-8")
    for key, text in lists["data"].items():
        (lists_dir / key).write_text(text, encoding="utf-8")
    if dispatcher_list is not None:
        (lists_dir / "dispatcher.list").write_text(dispatcher_list, encoding="utf-8")
    swaps = {"/etc/kamailio/kamailio.cfg": str(tmp_path / "kamailio.cfg"),
             "/etc/kamailio/lists": str(lists_dir), "/run/kamailio": str(run_dir)}

    def local(arg: str) -> str:
        for pod_path, here in swaps.items():
            arg = arg.replace(pod_path, here)
        return arg

    argv = [str(find_kamailio()), *(local(arg) for arg in box["args"])]
    log = tmp_path / "kamailio.log"
    with log.open("wb") as out:
        # Its own session: on SIGTERM Kamailio signals its whole process group.
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    kamailio = LocalKamailio(sip_port, rpc_port)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"Kamailio exited {process.returncode}:\n{tail(log)}")
            try:
                kamailio.rpc("core.version")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Kamailio's JSON-RPC never answered:\n{tail(log)}")
                time.sleep(0.1)
        yield kamailio
    finally:
        terminate(process, 10)
        with contextlib.suppress(ProcessLookupError):  # workers left behind, if any
            os.killpg(process.pid, signal.SIGKILL)
