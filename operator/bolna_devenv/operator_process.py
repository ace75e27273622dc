"""The operator as users run it: ``bolna-sip-operator run`` in its own process.

Tests and benchmarks talk to it only through what a user sees: the SipTrunks' status
and Events, and Bolna's (the emulator's) stored state. Its log goes to a file, so tests
can check that no secret ever appears in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .processes import die_with_parent, free_ports


def free_port() -> int:
    """A free TCP port on loopback."""
    return free_ports(1)[0]


class OperatorProcess:
    """Start, stop and read the log of one operator process."""

    def __init__(self, *, kubeconfig: Path, bolna_url: str, token: str, log_path: Path,
                 drift_interval: float = 3.0, extra_args: tuple[str, ...] = (),
                 debug: bool = True) -> None:
        self.kubeconfig = kubeconfig
        self.bolna_url = bolna_url
        self.token = token
        self.log_path = log_path
        self.drift_interval = drift_interval
        self.extra_args = extra_args
        self.debug = debug
        self.health_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the operator while it runs (the local stack records it for its stop)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until Kopf's liveness endpoint answers."""
        env = {**os.environ, "BOLNA_API_TOKEN": self.token}
        argv = [sys.executable, "-m", "bolna_sip_operator.cli", "run",
                "--kubeconfig", str(self.kubeconfig), "--bolna-url", self.bolna_url,
                "--drift-interval", str(self.drift_interval),
                "--health-port", str(self.health_port), *self.extra_args]
        if self.debug:
            argv.append("--debug")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=die_with_parent(os.getpid()))  # no orphan if the caller dies
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the operator exited ({self._process.returncode}):\n"
                                   + self.log()[-4000:])
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the operator did not become live:\n" + self.log()[-4000:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; safe to call twice."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash or an evicted pod would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log(self) -> str:
        """Everything the operator has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")
