"""The real kubectl binary, for the integration and chart tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


class Kubectl:
    """kubectl pointed at the test control plane, as one identity (a kubeconfig)."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def as_user(self, kubeconfig: Path) -> Kubectl:
        """The same kubectl with another identity (a ServiceAccount's kubeconfig)."""
        return Kubectl(self.binary, kubeconfig)

    def run(self, *args: str, stdin: str | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with ``check``, fail the test showing its stderr."""
        result = subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result
