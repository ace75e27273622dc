"""Every ``<!-- docs: run -->`` block of the README, run as written (issue 25, item 2).

A control plane of its own with no CRD installed, the Bolna emulator standing in for
Bolna, kubectl (the one built with the control plane) and ``bolna-sip-operator`` on the
PATH: what a new user has after the README's first steps. The blocks marked ``run first``
(install the CRDs, run the operator) go first, then the others in the order of the
README. Only placeholders are filled (``tests.docs.PLACEHOLDERS``); the files a block
names as the user's own (``acme-carriertrunk.yaml``, written in the steps before it) are
made here. A command that runs until stopped (``bolna-sip-operator run``, ``emulator``)
is started in the background and must come up; a later ``run`` replaces the earlier one,
as a user stops one before starting another. Sample outputs the README shows beside a
block are compared with what the block printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bolna_devenv.control_plane import ControlPlane, find_kubectl
from bolna_devenv.operator_process import free_port
from bolna_emulator.process import EmulatorProcess
from tests.carrier_corpus import TELNYX_SPEC, carrier_manifest
from tests.corpus import IP_BASED_SPEC, manifest
from tests.docs import REPO, Block, all_blocks
from tests.integration.helpers import wait_for

TOKEN = "docs-commands-token"
LONG_RUNNING = re.compile(r"^(?:\S+=\S+ )*bolna-sip-operator (?:run|emulator)\b")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """Nothing installed: the README's first block installs the CRDs."""
    with ControlPlane(tmp_path_factory.mktemp("docs-plane")) as control_plane:
        yield control_plane


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """Bolna, holding one trunk the account had before the operator: the README's
    import example (a userpass trunk, so import names its password Secret)."""
    with EmulatorProcess(tokens=[TOKEN]) as bolna:
        answer = httpx.post(f"{bolna.url}/sip-trunks/trunks", timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"}, json={
                                "name": "Twilio Production", "provider": "twilio",
                                "auth_type": "userpass", "auth_username": "prod-user",
                                "auth_password": "prod-password",
                                "gateways": [{"gateway_address": "prod.pstn.twilio.com"}]})
        answer.raise_for_status()
        yield bolna


class Shell:
    """Runs blocks as a user's shell would, in a folder of the user's own."""

    def __init__(self, plane: ControlPlane, emulator: EmulatorProcess, work: Path) -> None:
        kubectl = find_kubectl(plane.bin_dir)
        assert kubectl is not None, "kubectl is missing: run hack/setup.sh"
        self.work = work
        for name in ("crds", "examples"):
            (work / name).symlink_to(REPO / name)
        self.logs = work / "logs"
        self.logs.mkdir()
        self.pids = work / "pids"
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(kubectl).parent), str(REPO / ".venv" / "bin"),
                                     os.environ.get("PATH", "")]),
            "KUBECONFIG": str(plane.kubeconfig),
            "DOCS_TOKEN": TOKEN,
            "BOLNA_SIP_BOLNA_URL": emulator.url,
            "BOLNA_SIP_HEALTH_PORT": str(free_port()),
            "BOLNA_SIP_DRIFT_INTERVAL": "10",
        }
        self.started = 0

    def script(self, block: Block) -> str:
        """The block as a bash script: long-running commands in the background, each
        waited for until it is up (an earlier operator stopped first)."""
        lines = []
        for line in block.filled().splitlines():
            command = line.split("  #", 1)[0].strip()
            if not LONG_RUNNING.match(command):
                lines.append(line)
                continue
            self.started += 1
            log = self.logs / f"background-{self.started}.log"
            operator = " run" in command
            if operator:
                lines.append('for pid in $(cat "$DOCS_OPERATORS" 2>/dev/null); do '
                             'kill "$pid" 2>/dev/null || true; done; : > "$DOCS_OPERATORS"')
            lines.append(f'{command} > "{log}" 2>&1 &')
            lines.append(f'echo $! >> "{self.pids}"')
            if operator:
                lines.append('echo $! >> "$DOCS_OPERATORS"')
                url = "http://127.0.0.1:$BOLNA_SIP_HEALTH_PORT/healthz"
            else:
                url = "http://127.0.0.1:" + command.split("--port ", 1)[1].split()[0] + "/"
            lines.append(f'docs_up "{url}" "{log}"')
        return textwrap.dedent('''\
            docs_up() {  # URL LOG: wait until the background command answers there
              for _ in $(seq 1 150); do
                python3 -c "import urllib.request,sys
            try: urllib.request.urlopen(sys.argv[1], timeout=1)
            except urllib.error.HTTPError: pass" "$1" 2>/dev/null && return 0
                sleep 0.2
              done
              echo "not up at $1:"; tail -n 30 "$2"; return 1
            }
            ''') + "\n".join(lines) + "\n"

    def run(self, block: Block) -> str:
        """Run the block; its output. Fails with the output when a command fails."""
        env = {**self.env, "DOCS_OPERATORS": str(self.work / "operators")}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", self.script(block)],
                              cwd=self.work, env=env, capture_output=True, text=True,
                              timeout=240, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0, (
            f"{block.where} failed (exit {done.returncode}):\n{block.text}\n{output[-4000:]}")
        return output

    def stop(self) -> None:
        """Every command this shell left running."""
        if self.pids.exists():
            for pid in self.pids.read_text().split():
                subprocess.run(["kill", pid], check=False, capture_output=True)

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(["kubectl", *args], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout


def _prepare(block: Block, shell: Shell) -> None:
    """What the steps before a block left the user with, where the README leaves that
    to them: for the migration, the SipTrunk ``acme`` and the CarrierTrunk file."""
    if "acme-carriertrunk.yaml" in block.text:
        sip = manifest({**IP_BASED_SPEC, "name": "acme"}, name="acme")
        carrier = carrier_manifest({**TELNYX_SPEC, "name": "acme", "numbers": []},
                                   name="acme")
        (shell.work / "acme-siptrunk.yaml").write_text(yaml.safe_dump(sip))
        (shell.work / "acme-carriertrunk.yaml").write_text(yaml.safe_dump(carrier))
        shell.kubectl("apply", "-f", "acme-siptrunk.yaml")
        shell.kubectl("wait", "--for=condition=Ready", "sipt/acme", "--timeout=60s")


def _sample_after(block: Block) -> list[str]:
    """The ```text block that follows ``block`` in its document, if any, as lines."""
    lines = (REPO / block.doc).read_text(encoding="utf-8").splitlines()
    index = block.line  # the line after the opening fence
    while index < len(lines) and lines[index].strip() != "```":
        index += 1
    for later in range(index + 1, len(lines)):
        text = lines[later].strip()
        if text.startswith("```sh") or text.startswith("## "):
            return []
        if text == "```text":
            end = later + 1
            while lines[end].strip() != "```":
                end += 1
            return lines[later + 1:end]
    return []


def _shape(line: str) -> str:
    """A sample line with what varies from run to run generalized (numbers, URLs)."""
    return re.sub(r"\d+", "N", re.sub(r"https?://\S+", "URL", line.strip()))


def test_every_runnable_readme_block_runs_as_written(
        plane: ControlPlane, emulator: EmulatorProcess, tmp_path: Path) -> None:
    runnable = [b for b in all_blocks() if b.runs]
    assert len(runnable) >= 7, [b.where for b in runnable]
    ordered = [b for b in runnable if b.first] + [b for b in runnable if not b.first]
    shell = Shell(plane, emulator, tmp_path)
    outputs: dict[str, str] = {}
    try:
        for block in ordered:
            _prepare(block, shell)
            outputs[block.where] = output = shell.run(block)
            sample = _sample_after(block)
            if "bolna-sip-operator import" in block.text:
                printed = {_shape(line) for line in output.splitlines()}
                missing = [line for line in sample if _shape(line) not in printed
                           and not line.strip().startswith("kubectl create secret")]
                assert not missing, f"{block.where}: the README's sample shows {missing}, " \
                                    f"the command printed:\n{output}"
                # What was imported is adopted: nothing created, the trunk Ready.
                trunk = wait_for("the imported trunk Ready", lambda: (
                    lambda t: t if any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in t.get("status", {}).get("conditions", []))
                    else None)(json.loads(shell.kubectl(
                        "get", "sipt", "twilio-production", "-n", "telephony", "-o",
                        "json"))), timeout=60)
                assert trunk["metadata"]["annotations"]["sip.bolna.ai/trunk-id"] \
                    == trunk["status"]["trunkId"]
        assert "plivo-elastic" in shell.kubectl("get", "sipt", "-o", "wide")
    finally:
        shell.stop()
        for log in sorted((tmp_path / "logs").glob("*.log")):
            shutil.copy(log, tmp_path / f"kept-{log.name}")
    # No block's output holds the token or a password it was given.
    for where, output in outputs.items():
        assert TOKEN not in output and "docs-password" not in output, where
