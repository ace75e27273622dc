"""Passing outages heal without a touch (issue 23, items 4 and 5), against the real
operator, a real kube-apiserver and the Bolna emulator over HTTP.

- Bolna refusing a token for a while (401/403: a WAF blip, a moment of trouble in its
  auth): the trunks of that account are Stalled with reason ``Unauthorized`` and say
  when they are retried; one trunk per account is retried every
  ``--token-retry-interval`` (never a loop), and as soon as any call with the token
  succeeds, every trunk stalled on it is retried.
- The kube-apiserver stopped for 45 s while trunks are being reconciled: the operator's
  log says so once (and once that it is back), holds no traceback, and every trunk ends
  Ready with Bolna holding it as specified.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pydantic import SecretStr

from bolna_devenv.control_plane import ControlPlane, find_kubectl
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator import account_label
from bolna_emulator.process import EmulatorProcess
from bolna_sip_operator.reconcile.accounts import account_label as operator_label
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.conftest import CARRIER_CRD_FILE, CRD_FILE
from tests.integration.helpers import (
    condition,
    running_operator,
    wait_condition,
    wait_for,
    warm_up,
)
from tests.integration.test_operator_bolna import bolna_trunk, bolna_trunks
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
TOKEN = "outages-default-token"
TEAM_TOKEN = "outages-team-token"
TEAM = account_label(TEAM_TOKEN)
"""The account as the emulator names it (its request log, its refused accounts)."""
TEAM_IN_LOG = operator_label(SecretStr(TEAM_TOKEN))
"""The account as the operator's log names it."""
RETRY_INTERVAL = 6.0
OUTAGE_SECONDS = 45.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tokens=[TOKEN, TEAM_TOKEN]) as bolna:
        yield bolna


@pytest.fixture
def accept_again(emulator: EmulatorProcess) -> Iterator[None]:
    """Whatever a test refused is accepted again after it."""
    yield
    emulator.set_faults(refused_accounts=[])


def _team_trunks(core: client.CoreV1Api, trunks: Trunks, namespace: str, *names: str
                 ) -> dict[str, str]:
    """Trunks on the team's token (a Secret), Ready; their Bolna IDs by name."""
    try:
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="bolna-token"),
            string_data={"token": TEAM_TOKEN}))
    except client.ApiException as error:
        if error.status != 409:
            raise
    for name in names:
        trunks.create(namespace, manifest({**IP_BASED_SPEC, "name": f"{namespace}-{name}",
                                           "description": "before",
                                           "apiTokenSecretRef": {"name": "bolna-token",
                                                                 "key": "token"}},
                                          name=name))
    return {name: str(wait_condition(trunks, namespace, name, "Ready", "True",
                                     timeout=60)["status"]["trunkId"]) for name in names}


def _describe(trunks: Trunks, namespace: str, name: str, text: str) -> None:
    trunks.patch(namespace, name, {"spec": {"description": text}})


def _stalled_unauthorized(trunks: Trunks, namespace: str, name: str) -> dict[str, Any]:
    """The trunk once it is Stalled on the refused token (for its current generation)."""
    trunk = wait_condition(trunks, namespace, name, "Stalled", "True", timeout=60)
    assert condition(trunk, "Stalled")["reason"] == "Unauthorized", trunk["status"]
    return trunk


def _refused(emulator: EmulatorProcess, since: int) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(since) if r["account"] == TEAM
            and r["status"] == 403]


def _last_seq(emulator: EmulatorProcess) -> int:
    entries = emulator.requests()
    return int(entries[-1]["seq"]) if entries else 0


def _at_least(count: int, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return found if len(found) >= count else []


def _at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00")).timestamp()


def test_a_refused_token_is_retried_once_per_interval_and_heals_without_a_touch(
        control_plane: ControlPlane, crd: None, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, accept_again: None,
        tmp_path: Path) -> None:
    with running_operator(control_plane, emulator, tmp_path, token=TOKEN, prefix="refused",
                          drift_interval=5, extra_args=(
                              "--token-retry-interval", str(RETRY_INTERVAL))) as operator:
        namespace = create_namespace(api_client, "refused")
        ids = _team_trunks(core, trunks, namespace, "a", "b", "c")
        emulator.set_faults(refused_accounts=[TEAM])
        _describe(trunks, namespace, "a", "changed while refused")
        # "a" on its change; "b" and "c" when the drift loop's list is refused.
        for name in ("a", "b", "c"):
            stalled = condition(_stalled_unauthorized(trunks, namespace, name), "Stalled")
            assert f"retried every {RETRY_INTERVAL:g} s" in stalled["message"], stalled
            assert "another call with this token succeeds" in stalled["message"]
        assert TEAM_TOKEN not in stalled["message"]

        # One trunk of the account per interval, not one per trunk, and no loop.
        since = _last_seq(emulator)
        probes: list[dict[str, Any]] = wait_for(
            "three retries of the refused token",
            lambda: _at_least(3, _refused(emulator, since)), timeout=5 * RETRY_INTERVAL)
        gaps = [_at(b) - _at(a) for a, b in itertools.pairwise(probes)]
        print(f"refused retries {len(probes)}, gaps {[round(g, 2) for g in gaps]} s")
        assert all(gap >= RETRY_INTERVAL - 1.5 for gap in gaps), gaps
        assert {r["path"].rsplit("/", 1)[-1] for r in probes} <= set(ids.values())
        assert len({r["path"] for r in probes[:3]}) == 3, "each trunk in turn"

        # Bolna accepts again: every trunk Ready without a touch, Bolna holds the change.
        emulator.set_faults(refused_accounts=[])
        for name in ("a", "b", "c"):
            wait_condition(trunks, namespace, name, "Ready", "True",
                           timeout=RETRY_INTERVAL + 30)
        held = bolna_trunk(emulator, ids["a"], token=TEAM_TOKEN)
        assert held is not None and held.get("description") == "changed while refused", (
            held, ids, trunks.get(namespace, "a")["status"])
        assert all(bolna_trunk(emulator, i, token=TEAM_TOKEN) for i in ids.values())
        log = operator.log()
    assert f"a call with account {TEAM_IN_LOG}'s token succeeded" in log
    assert "Traceback" not in log and TEAM_TOKEN not in log


def test_a_call_that_succeeds_with_the_token_wakes_every_trunk_stalled_on_it(
        control_plane: ControlPlane, crd: None, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, accept_again: None,
        tmp_path: Path) -> None:
    """With a retry interval of 10 minutes, only a call that succeeds can bring the
    trunks back within the test: here a new trunk of the same account."""
    with running_operator(control_plane, emulator, tmp_path, token=TOKEN, prefix="woken",
                          drift_interval=3, extra_args=(
                              "--token-retry-interval", "600")) as operator:
        namespace = create_namespace(api_client, "woken")
        trunks.create(namespace, manifest({**IP_BASED_SPEC, "name": f"{namespace}-clock"},
                                          name="clock"))  # the default account's drift
        ids = _team_trunks(core, trunks, namespace, "a", "b")
        emulator.set_faults(refused_accounts=[TEAM])
        for name in ("a", "b"):
            _describe(trunks, namespace, name, f"{name} changed while refused")
        for name in ("a", "b"):
            _stalled_unauthorized(trunks, namespace, name)
        # Nothing retries them meanwhile: two drift lists of the other account pass
        # without a call of this one.
        since = _last_seq(emulator)
        wait_for("two drift lists of the default account", lambda: len([
            r for r in emulator.requests(since) if r["account"] == account_label(TOKEN)
            and r["method"] == "GET" and r["route"].endswith("/trunks")]) >= 2, timeout=30)
        assert [r for r in emulator.requests(since) if r["account"] == TEAM] == []

        emulator.set_faults(refused_accounts=[])
        ids |= _team_trunks(core, trunks, namespace, "c")  # succeeds: wakes the others
        for name in ("a", "b"):
            wait_condition(trunks, namespace, name, "Ready", "True", timeout=30)
            assert (bolna_trunk(emulator, ids[name], token=TEAM_TOKEN) or {}).get(
                "description") == f"{name} changed while refused"
        log = operator.log()
    assert f"a call with account {TEAM_IN_LOG}'s token succeeded: retrying its 2 trunk(s)" in log
    assert "Traceback" not in log and TEAM_TOKEN not in log


# ---- the kube-apiserver away ----------------------------------------------------------

@pytest.fixture(scope="module")
def outage_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of its own: stopping the session's apiserver would fail whatever
    else shares it."""
    with ControlPlane(tmp_path_factory.mktemp("outage-plane")) as plane:
        binary = find_kubectl(plane.bin_dir)
        assert binary is not None, "kubectl is missing: run hack/setup.sh"
        kubectl = Kubectl(binary, plane.kubeconfig)
        kubectl.run("apply", "-f", str(CRD_FILE), "-f", str(CARRIER_CRD_FILE))
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                    "crd/siptrunks.sip.bolna.ai", "crd/carriertrunks.sip.bolna.ai")
        yield plane


_UNREACHABLE = re.compile(r"WARNING.*the Kubernetes API is unreachable")
_BACK = re.compile(r"INFO.*the Kubernetes API is reachable again")


def test_an_apiserver_outage_is_logged_once_and_every_trunk_ends_ready(
        outage_plane: ControlPlane, emulator: EmulatorProcess, tmp_path: Path) -> None:
    operator = OperatorProcess(
        kubeconfig=outage_plane.kubeconfig, bolna_url=emulator.url, token=TOKEN,
        log_path=tmp_path / "operator.log", drift_interval=5,
        extra_args=("--namespace", "down-*"), debug=False)  # the log a user reads
    operator.start()
    try:
        warm_up(outage_plane, emulator, prefix="down")
        with admin_api_client(outage_plane) as api:
            trunks = Trunks(client.CustomObjectsApi(api))
            namespace = create_namespace(api, "down")
            spec = {**IP_BASED_SPEC, "description": "before"}
            for index in range(6):
                trunks.create(namespace, manifest(
                    {**spec, "name": f"{namespace}-{index}"}, name=f"t{index}"))
            for index in range(6):
                wait_condition(trunks, namespace, f"t{index}", "Ready", "True", timeout=60)
            # Work in flight as the API goes: three changes, three new trunks.
            for index in range(3):
                _describe(trunks, namespace, f"t{index}", "during the outage")
            for index in range(6, 9):
                trunks.create(namespace, manifest(
                    {**spec, "name": f"{namespace}-{index}"}, name=f"t{index}"))
            time.sleep(0.5)
            outage_plane.stop_apiserver()
            try:
                wait_for("the operator to notice the outage",
                         lambda: _UNREACHABLE.search(operator.log()), timeout=30)
                time.sleep(OUTAGE_SECONDS)
            finally:
                outage_plane.start_apiserver()
            for index in range(9):
                wait_condition(trunks, namespace, f"t{index}", "Ready", "True", timeout=90)
            wait_for("the operator to say the API is back",
                     lambda: _BACK.search(operator.log()), timeout=30)
            held = {t["name"]: t for t in bolna_trunks(emulator, token=TOKEN)}
            for index in range(9):
                trunk = held[f"{namespace}-{index}"]
                assert trunk["description"] == ("during the outage" if index < 3
                                                else "before"), trunk
                status = trunks.get(namespace, f"t{index}")["status"]
                assert status["trunkId"] == trunk["id"]
                assert condition(trunks.get(namespace, f"t{index}"), "Stalled")[
                    "status"] == "False"
    finally:
        operator.stop()
    log = operator.log()
    warnings = _UNREACHABLE.findall(log)
    errors = [line for line in log.splitlines() if "[ERROR" in line]
    print(f"outage of {OUTAGE_SECONDS:g} s: {len(warnings)} warning line(s), "
          f"{len(_BACK.findall(log))} recovery line(s), {len(errors)} ERROR line(s), "
          f"{log.count('Traceback')} traceback(s)")
    for line in log.splitlines():
        if "Kubernetes API" in line:
            print(line)
    assert "Traceback" not in log, log[-6000:]
    assert 1 <= len(warnings) <= 2, warnings
    assert errors == [], errors[:20]
