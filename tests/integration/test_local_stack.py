"""``hack/up.sh`` and ``hack/down.sh`` as a user runs them: the whole local stack comes up
with every example SipTrunk Ready, and goes away leaving no process and no port behind.

The stack gets its own state dir and free gateway ports, so it cannot meet the control
plane, Kamailio or sipp of the other integration tests, nor a stack a developer runs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_devenv.stack import GATEWAY_PORT_ENVS

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
LOCAL_EXAMPLES = REPO / "examples" / "local"


def _free_udp_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _run(script: str, env: dict[str, str], timeout: float = 240
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "hack" / script)], env=env, cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                          check=False)


def _expected_trunks() -> dict[str, int]:
    """Each local example SipTrunk and how many gateways it has."""
    trunks = {}
    for path in sorted(LOCAL_EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == "SipTrunk":
                trunks[document["metadata"]["name"]] = len(document["spec"]["gateways"])
    return trunks


def _table(output: str) -> dict[str, dict[str, str]]:
    """The rows of the printed ``kubectl get siptrunks -A -o wide``, by trunk name.

    Cut at the header's column offsets, as kubectl aligns them, so an empty cell does not
    shift the others.
    """
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NAMESPACE "))
    words = list(re.finditer(r"\S+", lines[start]))
    names = [word.group() for word in words]
    offsets: list[int | None] = [word.start() for word in words] + [None]
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        row = {name: line[offsets[i]:offsets[i + 1]].strip() for i, name in enumerate(names)}
        rows[row["NAME"]] = row
    return rows


def _gone(pid: int, started: int) -> bool:
    """No such process, another one with the PID, or a zombie (it holds nothing)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = text.rsplit(")", 1)[1].split()
    return fields[0] == "Z" or int(fields[19]) != started


def _listening(port: int, kind: int) -> bool:
    """True if something still holds ``port`` on 127.0.0.1 (TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who set the state dir and moved the gateways."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOLNA_STACK_",
                                                                        "BOLNA_SIP_"))}
    env["BOLNA_STACK_DIR"] = str(tmp_path / "stack")
    for name, port in zip(GATEWAY_PORT_ENVS, _free_udp_ports(2), strict=True):
        env[name] = str(port)
    env["BOLNA_STACK_READY_TIMEOUT"] = "60"
    return env


def _readme_sample() -> list[str]:
    """The README's sample of ``hack/up.sh``'s output (the text block of "The local
    stack")."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("### The local stack")
    first = lines.index("```text", start) + 1
    return lines[first:lines.index("```", first)]


def _shape(line: str) -> str:
    """What of a line is the same in every run: numbers, IDs and ages generalized, the
    columns' spacing too."""
    line = re.sub(r"\b[0-9A-Z]{26}\b", "ID", line)
    return " ".join(re.sub(r"\d+", "N", line).split())


def test_up_brings_every_example_to_ready_and_down_leaves_nothing(
        stack_env: dict[str, str]) -> None:
    state_dir = Path(stack_env["BOLNA_STACK_DIR"])
    try:
        up = _run("up.sh", stack_env)
        assert up.returncode == 0, up.stdout
        # The README shows this very output (progress lines vary: which trunk waits).
        printed = {_shape(line) for line in up.stdout.splitlines()}
        stale = [line for line in _readme_sample() if line.strip()
                 and not line.startswith("    ") and _shape(line) not in printed]
        assert not stale, f"the README's sample of hack/up.sh differs: {stale}\n{up.stdout}"
        for step in ("==> starting the control plane", "==> starting the Bolna emulator",
                     "==> starting Kamailio", "==> starting the operator",
                     "==> waiting until every SipTrunk is Ready", "==> the local stack is up"):
            assert step in up.stdout, up.stdout
        rows = _table(up.stdout)
        for name, gateways in _expected_trunks().items():
            assert rows[name]["READY"] == "True", up.stdout
            assert rows[name]["GATEWAYS"] == f"{gateways}/{gateways}", up.stdout
            assert rows[name]["TRUNK-ID"], up.stdout
        assert f"export KUBECONFIG={state_dir / 'kubeconfig'}" in up.stdout
        assert "hack/down.sh" in up.stdout

        state: dict[str, Any] = json.loads((state_dir / "stack.json").read_text())
        assert up.stdout.count(state["emulator_url"]) >= 1
        for secret in ((state_dir / "bolna-token").read_text().strip(),
                       "local-stack-placeholder"):
            assert secret not in up.stdout
            for log in (state_dir / "logs").glob("*.log"):
                assert secret not in log.read_text(errors="replace"), log
        processes = [state["supervisor"], *state["children"]]
        assert {p["name"] for p in processes} >= {
            "supervisor", "etcd", "kube-apiserver", "bolna-emulator", "sip-gateway-1",
            "sip-gateway-2", "kamailio", "operator"}
        ports: dict[str, int] = state["ports"]
        assert [ports["gateway1"], ports["gateway2"]] == [
            int(stack_env[name]) for name in GATEWAY_PORT_ENVS]

        again = _run("up.sh", stack_env)
        assert again.returncode == 0, again.stdout
        assert "already up" in again.stdout
        assert set(_table(again.stdout)) == set(rows)
    finally:
        down = _run("down.sh", stack_env, timeout=120)
    assert down.returncode == 0, down.stdout
    assert "the local stack is down" in down.stdout

    left = [p for p in processes if not _gone(p["pid"], p["start"])]
    assert left == [], left
    udp = [ports[name] for name in ("gateway1", "gateway2", "kamailio_sip")]
    tcp = [ports[name] for name in ("apiserver", "etcd", "emulator", "kamailio_sip",
                                    "kamailio_rpc", "operator_health", "metrics")]
    assert [p for p in udp if _listening(p, socket.SOCK_DGRAM)] == []
    assert [p for p in tcp if _listening(p, socket.SOCK_STREAM)] == []
    assert sorted(p.name for p in state_dir.iterdir()) == ["logs"]
    assert {"operator.log", "kamailio.log", "kube-apiserver.log", "stack.log"} <= {
        p.name for p in (state_dir / "logs").iterdir()}

    twice = _run("down.sh", stack_env, timeout=60)
    assert twice.returncode == 0, twice.stdout
    assert "not up" in twice.stdout


def test_a_taken_gateway_port_stops_up_at_once_naming_the_variable(
        stack_env: dict[str, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        stack_env[GATEWAY_PORT_ENVS[1]] = str(taken)
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "-m", "bolna_devenv.stack",
             "up"], env=stack_env, cwd=REPO, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60, check=False)
    assert result.returncode == 1, result.stdout
    assert f"UDP port {taken}" in result.stdout
    assert f"{GATEWAY_PORT_ENVS[1]}=<port>" in result.stdout
    assert not (Path(stack_env["BOLNA_STACK_DIR"]) / "stack.json").exists()
