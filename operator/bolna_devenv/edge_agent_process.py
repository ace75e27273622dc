"""The edge agent as the chart runs it: ``bolna-sip-operator edge-agent`` in a process.

Beside a local Kamailio, against a real apiserver: tests and the benchmarks read what it
reports on /readyz and what Kamailio holds, never its internals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .processes import Managed, die_with_parent, free_ports, terminate


class EdgeAgentProcess(Managed):
    """One edge agent following ``lists_configmap`` into ``directory``."""

    def __init__(self, *, kubeconfig: Path, lists_configmap: str, directory: Path,
                 kamailio_rpc: str, log_path: Path, reload_delta: float = 1.0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.lists_configmap = lists_configmap
        self.directory = directory
        self.kamailio_rpc = kamailio_rpc
        self.log_path = log_path
        self.reload_delta = reload_delta
        self.extra_args = extra_args
        self.health_port = free_ports(1)[0]
        self._process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        """The command line, as the chart's sidecar has it (with a kubeconfig)."""
        return [sys.executable, "-m", "bolna_sip_operator.cli", "edge-agent",
                "--kubeconfig", str(self.kubeconfig),
                "--lists-configmap", self.lists_configmap,
                "--directory", str(self.directory), "--kamailio-rpc", self.kamailio_rpc,
                "--reload-delta", str(self.reload_delta),
                "--health-host", "127.0.0.1", "--health-port", str(self.health_port),
                *self.extra_args]

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until /healthz answers."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
                preexec_fn=die_with_parent(os.getpid()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the edge agent exited ({self._process.returncode}):\n"
                                   + self.log()[-4000:])
            try:
                with urllib.request.urlopen(self._url("/healthz"), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the edge agent did not serve /healthz:\n" + self.log()[-4000:])

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, report) of /readyz."""
        try:
            with urllib.request.urlopen(self._url("/readyz"), timeout=2) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; safe to call twice."""
        if self._process is not None:
            terminate(self._process, grace=10)

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited."""
        return None if self._process is None else self._process.poll()

    def log(self) -> str:
        """Everything the agent has logged."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.health_port}{path}"
