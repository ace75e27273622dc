"""``bolna-sip-operator import``: an account's trunks become SipTrunks that adopt them.

The real command (a process, as a user runs it) reads the Bolna emulator over HTTP; the
real kubectl applies what it wrote to the real apiserver; the real operator takes the
trunks over. Bolna must end exactly as it was: no trunk created or deleted, no field
changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import running_operator, wait_condition, wait_for
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration

TOKEN = "import-token-2f9e"
PASSWORD = "import-password-77aa"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tokens=[TOKEN]) as bolna:
        yield bolna


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=TOKEN, prefix="imp", drift_interval=3.0) as process:
        yield process


def _post(emulator: EmulatorProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{emulator.url}/sip-trunks{path}", json=body, timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    answer.raise_for_status()
    return dict(answer.json())


def _account(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    """The account's trunks and numbers as Bolna stores them, without timestamps."""
    def strip(item: dict[str, Any]) -> dict[str, Any]:
        return {k: strip(v) if isinstance(v, dict) else
                [strip(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list)
                else v for k, v in item.items() if k not in ("created_at", "updated_at")}
    state = emulator.state()["accounts"]
    return [strip(account) for account in state.values()]


def _import(emulator: EmulatorProcess, *args: str, token: str = TOKEN
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bolna_sip_operator.cli", "import", "--bolna-url",
         emulator.url, *args], env={**os.environ, "BOLNA_API_TOKEN": token},
        capture_output=True, text=True, timeout=60, check=False)


def _made_in_the_dashboard(emulator: EmulatorProcess) -> None:
    """Three trunks as a team would have them: two named alike, one userpass."""
    plivo = _post(emulator, "/trunks", {
        "name": "Plivo Elastic", "provider": "plivo", "auth_type": "ip-based",
        "gateways": [{"gateway_address": "21467306465797919.zt.plivo.com", "priority": 1}],
        "ip_identifiers": [{"ip_address": "15.207.90.192/31"}],
        "inbound_enabled": True, "qualify_frequency": 30})
    _post(emulator, f"/trunks/{plivo['id']}/numbers",
          {"phone_number": "918035735900", "name": "Bengaluru Support"})
    # is_active is not a create field in Bolna's API: paused after creation, as there.
    paused = _post(emulator, "/trunks", {
        "name": "plivo elastic!", "provider": "plivo", "auth_type": "ip-based",
        "gateways": [{"gateway_address": "10.1.2.3", "port": 5080}],
        "ip_identifiers": [{"ip_address": "10.1.2.3"}]})
    httpx.patch(f"{emulator.url}/sip-trunks/trunks/{paused['id']}", json={"is_active": False},
                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).raise_for_status()
    _post(emulator, "/trunks", {
        "name": "Twilio Production", "provider": "twilio", "auth_type": "userpass",
        "auth_username": "my-sip-user", "auth_password": PASSWORD,
        "gateways": [{"gateway_address": "your-trunk.pstn.twilio.com", "priority": 1},
                     {"gateway_address": "backup.pstn.twilio.com", "priority": 2}],
        "transport": "transport-tcp", "phone_numbers": [{"phone_number": "+14155550100"}]})


def test_import_apply_adopts_every_trunk_and_changes_nothing_in_bolna(
        operator: OperatorProcess, emulator: EmulatorProcess, control_plane: ControlPlane,
        kubectl: Kubectl, trunks: Trunks, api_client: client.ApiClient,
        tmp_path: Path) -> None:
    emulator.reset()
    _made_in_the_dashboard(emulator)
    before = _account(emulator)
    namespace = create_namespace(api_client, "imp")

    # By default it prints the stream and writes nothing.
    printed = _import(emulator, "-n", namespace)
    assert printed.returncode == 0, printed.stderr
    stream = [d for d in yaml.safe_load_all(printed.stdout) if d]
    assert sorted(d["metadata"]["name"] for d in stream) == [
        "plivo-elastic", "plivo-elastic-2", "twilio-production"]
    assert "3 trunk(s) imported" in printed.stderr
    assert "kubectl create secret generic twilio-production-sip" in printed.stderr
    assert PASSWORD not in printed.stdout + printed.stderr

    out = tmp_path / "trunks"
    written = _import(emulator, "-n", namespace, "--out", str(out))
    assert written.returncode == 0, written.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["plivo-elastic-2.yaml", "plivo-elastic.yaml", "twilio-production.yaml"]
    assert [yaml.safe_load((out / f).read_text()) for f in sorted(files)] == sorted(
        stream, key=lambda d: d["metadata"]["name"] + ".yaml")
    again = _import(emulator, "-n", namespace, "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr

    # The user creates the one password Secret, validates and applies.
    client.CoreV1Api(api_client).create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-production-sip"),
        string_data={"password": PASSWORD}))
    checked = subprocess.run([sys.executable, "-m", "bolna_sip_operator.cli", "validate",
                              str(out)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    seq = max((r["seq"] for r in emulator.requests()), default=0)
    kubectl.run("apply", "-f", str(out))
    for document in stream:
        name = document["metadata"]["name"]
        trunk = wait_condition(trunks, namespace, name, "Ready", "True", timeout=60)
        annotations = document["metadata"]["annotations"]
        assert trunk["status"]["trunkId"] == annotations["sip.bolna.ai/trunk-id"]

    calls = emulator.requests(since=seq)
    assert [(c["method"], c["path"]) for c in calls if c["method"] != "GET"] == []
    assert _account(emulator) == before

    # The adopted password is trusted once; a rotation of the Secret is sent as usual.
    client.CoreV1Api(api_client).patch_namespaced_secret(
        "twilio-production-sip", namespace, {"stringData": {"password": "rotated-pw-1"}})
    wait_for("the rotated password in Bolna", lambda: _account(emulator) != before)
    assert [c["method"] for c in emulator.requests(since=seq) if c["method"] != "GET"] == [
        "PATCH"]


def test_import_refuses_a_wrong_token_and_writes_nothing(
        emulator: EmulatorProcess, tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = _import(emulator, "--out", str(out), token="not-the-token")
    assert result.returncode == 2
    assert "Bolna refused the token (401)" in result.stderr
    assert "nothing was written" in result.stderr
    assert not out.exists() and result.stdout == ""
    assert "not-the-token" not in result.stderr
