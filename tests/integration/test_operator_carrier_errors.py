"""CarrierTrunks when something is wrong, and what users read about them: adoption and
deletion, Bolna's refusals and failures, the Secrets, Bolna's own health of the trunk, a
restart, and the status as ``kubectl``, kstatus (Flux) and Argo CD read it. The same
real parts and helpers as ``test_operator_carrier.py``; one operator for this module
(``cte-*``).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from tests.gitops import judge
from tests.integration.apiserver import CARRIER_PLURAL, GROUP, VERSION, Trunks, create_namespace
from tests.integration.helpers import (
    condition,
    exists,
    running_operator,
    wait_condition,
    wait_for,
)
from tests.integration.test_operator_carrier import (
    CREDENTIALS,
    DRIFT_INTERVAL,
    GW_A,
    GW_B,
    N1,
    N2,
    N3,
    OTHER_TOKEN,
    PASSWORD,
    ROTATED,
    TOKEN,
    admin_trunk,
    adopting,
    bolna,
    bolna_trunk,
    bolna_trunks,
    by_e164,
    calls,
    carrier,
    create_ready,
    events,
    gateway_keys,
    held_trunk,
    last_seq,
    posted,
    reasons,
    remove_carrier_trunks,
    secret,
    sha256,
    status_numbers,
    wait_drift_rounds,
    wait_event,
    wait_status,
    writes,
)
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration

CANARIES = (TOKEN, OTHER_TOKEN, PASSWORD, ROTATED)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """Bolna, for two accounts, keeping each request's body (passwords redacted)."""
    with EmulatorProcess(tokens=[TOKEN, OTHER_TOKEN], record_bodies=True) as bolna_:
        yield bolna_


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """``bolna-sip-operator run`` for ``cte-*``, warmed up."""
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=TOKEN, prefix="cte",
                          drift_interval=DRIFT_INTERVAL) as process:
        yield process


@pytest.fixture
def namespace(api_client: client.ApiClient, carrier_trunks: Trunks,
              operator: OperatorProcess, emulator: EmulatorProcess) -> Iterator[str]:
    """An empty Bolna and a fresh ``cte-*`` namespace; its CarrierTrunks go at the end."""
    emulator.reset()
    name = create_namespace(api_client, "cte")
    yield name
    remove_carrier_trunks(carrier_trunks, name)


def clock(carrier_trunks: Trunks, core: client.CoreV1Api, namespace: str) -> None:
    """A CarrierTrunk in sync: its drift check lists the account once a round, which
    ``wait_drift_rounds`` counts (a stalled trunk's drift check asks Bolna nothing)."""
    create_ready(carrier_trunks, core, namespace, carrier("clock"))


def trunk_requests(emulator: EmulatorProcess, trunk_id: str, since: int = 0
                   ) -> list[dict[str, Any]]:
    """Requests after ``since`` whose path names the trunk."""
    return [r for r in emulator.requests(since) if trunk_id in r["path"]]


def table(text: str) -> dict[str, str]:
    """The one row of ``kubectl get``'s table by column (cells cut at the header's
    column starts, so an empty cell reads as "")."""
    header, row = text.rstrip("\n").splitlines()
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    ends = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, ends, strict=True)}


def bolna_health(trunk: dict[str, Any]) -> dict[str, Any]:
    return dict(trunk.get("status", {}).get("bolna") or {})


# ---- adoption -------------------------------------------------------------------------

def test_adoption_takes_over_an_existing_trunk_without_creating_one(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    existing = bolna(emulator, "POST", "/trunk/trunks", {
        "name": "Made in the dashboard", "description": "dashboard note", "channels": 4})
    base = f"/trunk/trunks/{existing['id']}"
    old_gateway = bolna(emulator, "POST", f"{base}/gateways", {"host": "old.carrier.example"})
    number = bolna(emulator, "POST", f"{base}/numbers",
                   {"e164": N1, "destination_key": N1[1:]})
    since = last_seq(emulator)
    document = adopting(carrier("adopted", name="Made in the dashboard", gateways=[GW_A],
                                numbers=[{"e164": N1, "agentId": "agent-one"}]),
                        existing["id"])
    trunk = create_ready(carrier_trunks, core, namespace, document)
    assert trunk["status"]["trunkId"] == existing["id"]
    made = writes(emulator, since)
    assert calls(made) == [("PATCH", base), ("POST", f"{base}/gateways"),
                           ("DELETE", f"{base}/gateways/{old_gateway['id']}"),
                           ("PATCH", f"/trunk/numbers/{number['id']}")]
    assert made[0]["body"] == {"channels": 10}  # the CRD's default; description unmanaged
    [held] = bolna_trunks(emulator)
    assert held["id"] == existing["id"] and held["description"] == "dashboard note"
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1)}
    assert by_e164(held)[N1]["id"] == number["id"]
    assert by_e164(held)[N1]["agent_id"] == "agent-one"
    assert status_numbers(trunk) == {N1: number["id"]}
    assert "Created" not in reasons(core, namespace)
    assert "Updated" in reasons(core, namespace)


def test_adopting_a_trunk_bolna_does_not_have_stalls_instead_of_creating(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    missing = str(uuid.uuid4())
    carrier_trunks.create(namespace, adopting(carrier("typo", gateways=[GW_A]), missing))
    trunk = wait_condition(carrier_trunks, namespace, "typo", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "AdoptionFailed" and missing in stalled["message"]
    assert condition(trunk, "Ready")["status"] == "False"
    assert "trunkId" not in trunk["status"]
    assert bolna_trunks(emulator) == []
    assert writes(emulator) == []
    # Deleting it touches no trunk in Bolna: it never adopted one.
    carrier_trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                       CARRIER_PLURAL, "typo")
    wait_for("the CarrierTrunk to go", lambda: not exists(carrier_trunks, namespace, "typo"))
    assert writes(emulator) == []
    assert "Orphaned" in reasons(core, namespace)


def test_a_second_claimant_of_a_bolna_trunk_is_stalled_and_changes_nothing(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "owner", gateways=[GW_A]))["status"]["trunkId"]
    since = last_seq(emulator)
    carrier_trunks.create(namespace, adopting(carrier(
        "intruder", name="owner", description="taken over", gateways=[GW_B]), trunk_id))
    trunk = wait_condition(carrier_trunks, namespace, "intruder", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "OwnedElsewhere"
    assert f"CarrierTrunk {namespace}/owner" in stalled["message"]
    carrier_trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                       CARRIER_PLURAL, "intruder")
    wait_for("the intruder gone", lambda: not exists(carrier_trunks, namespace, "intruder"))
    assert writes(emulator, since) == []
    held = held_trunk(emulator, trunk_id)
    assert held["description"] is None
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1)}
    assert condition(carrier_trunks.get(namespace, "owner"), "Ready")["status"] == "True"


# ---- deletion -------------------------------------------------------------------------

def test_delete_removes_the_trunk_with_its_children_in_one_call(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "gone", gateways=[GW_A, GW_B], ipAcls=[{"cidr": "192.0.2.10"}],
        numbers=[{"e164": N1}, {"e164": N2}]))["status"]["trunkId"]
    since = last_seq(emulator)
    carrier_trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                       CARRIER_PLURAL, "gone")
    wait_for("the CarrierTrunk to go", lambda: not exists(carrier_trunks, namespace, "gone"))
    assert bolna_trunk(emulator, trunk_id) is None
    assert calls(writes(emulator, since)) == [("DELETE", f"/trunk/trunks/{trunk_id}")]
    numbers = [n for account in emulator.state()["trunk"]["accounts"].values()
               for n in account["numbers"] if n["trunk_id"] == trunk_id]
    assert {n["e164"]: n["is_deleted"] for n in numbers} == {N1: True, N2: True}
    assert any(r == "Deleted" and trunk_id in m for _, r, m in events(core, namespace))


def test_orphan_leaves_the_trunk_and_its_children_in_bolna(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "kept", deletionPolicy="Orphan", gateways=[GW_A], numbers=[{"e164": N1}]))[
        "status"]["trunkId"]
    since = last_seq(emulator)
    carrier_trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                       CARRIER_PLURAL, "kept")
    wait_for("the CarrierTrunk to go", lambda: not exists(carrier_trunks, namespace, "kept"))
    held = held_trunk(emulator, trunk_id)
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1)}
    assert set(by_e164(held)) == {N1}
    assert writes(emulator, since) == []
    assert any(r == "Orphaned" and trunk_id in m for _, r, m in events(core, namespace))


# ---- Bolna refuses ----------------------------------------------------------------------

def test_an_agent_bolna_does_not_know_stalls_with_its_message_and_is_not_retried(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    emulator.set_agents(TOKEN, ["agent-known"])
    clock(carrier_trunks, core, namespace)
    carrier_trunks.create(namespace, carrier("agents", gateways=[GW_A], numbers=[
        {"e164": N1, "agentId": "agent-unknown"}]))
    trunk = wait_condition(carrier_trunks, namespace, "agents", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "Rejected"
    assert "'agent-unknown' is not one of your agents" in stalled["message"], stalled
    assert condition(trunk, "Ready")["status"] == "False"
    assert condition(trunk, "Reconciling")["status"] == "False"
    [verdict] = judge([trunk], kind="CarrierTrunk")
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Failed", "Degraded")
    warnings = [e for e in events(core, namespace) if e[1] == "Rejected"]
    assert warnings and warnings[0][0] == "Warning"
    # The trunk and its gateway were made before Bolna refused the number.
    trunk_id = trunk["status"]["trunkId"]
    assert gateway_keys(held_trunk(emulator, trunk_id)) == {
        ("sip-a.carrier.example", 5060, 1)}

    # No retry loop: over several drift rounds, not one request about this trunk.
    since = last_seq(emulator)
    wait_drift_rounds(emulator, since, rounds=3)
    assert trunk_requests(emulator, trunk_id, since) == []

    # A spec Bolna takes brings it back at once.
    carrier_trunks.patch(namespace, "agents", {"spec": {"numbers": [
        {"e164": N1, "agentId": "agent-known"}]}})
    wait_condition(carrier_trunks, namespace, "agents", "Ready", "True")
    assert by_e164(held_trunk(emulator, trunk_id))[N1]["agent_id"] == "agent-known"


def test_a_name_taken_in_bolna_is_a_conflict_and_not_retried(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    taken = bolna(emulator, "POST", "/trunk/trunks", {"name": "Taken"})
    clock(carrier_trunks, core, namespace)
    carrier_trunks.create(namespace, carrier("clash", name="Taken", gateways=[GW_A]))
    trunk = wait_condition(carrier_trunks, namespace, "clash", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "Conflict"
    assert "'Taken'" in stalled["message"] and taken["id"] in stalled["message"]
    assert "sip.bolna.ai/trunk-id" in stalled["message"]  # how to adopt it instead
    assert "trunkId" not in trunk["status"] and "createStartedAt" not in trunk["status"]
    [verdict] = judge([trunk], kind="CarrierTrunk")
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Failed", "Degraded")
    since = last_seq(emulator)
    wait_drift_rounds(emulator, since, rounds=2)
    assert ("POST", "/trunk/trunks") not in calls(writes(emulator, since))
    assert sorted(t["name"] for t in bolna_trunks(emulator)) == ["Taken", "clock"]
    assert held_trunk(emulator, taken["id"])["gateways"] == []  # not touched


def test_a_token_bolna_refuses_is_unauthorized(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    secret(core, namespace, "bolna-wrong", token="not-a-bolna-token")
    clock(carrier_trunks, core, namespace)
    carrier_trunks.create(namespace, carrier("wrong-token", gateways=[GW_A],
                                             apiTokenSecretRef={"name": "bolna-wrong"}))
    trunk = wait_condition(carrier_trunks, namespace, "wrong-token", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "Unauthorized"
    assert "not-a-bolna-token" not in stalled["message"]
    [verdict] = judge([trunk], kind="CarrierTrunk")
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Failed", "Degraded")
    refused = [r for r in emulator.requests() if r["account"] is None]
    assert refused and {r["status"] for r in refused} == {403}
    since = last_seq(emulator)
    wait_drift_rounds(emulator, since, rounds=2)
    assert [r for r in emulator.requests(since) if r["account"] is None] == []
    assert [t["name"] for t in bolna_trunks(emulator)] == ["clock"]
    assert bolna_trunks(emulator, token=OTHER_TOKEN) == []


# ---- Secrets --------------------------------------------------------------------------

def test_a_rotated_password_is_one_patch_with_username_and_password(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk = create_ready(carrier_trunks, core, namespace, carrier(
        "rotate", **CREDENTIALS, gateways=[GW_A], numbers=[{"e164": N1}]))
    trunk_id, version = trunk["status"]["trunkId"], trunk["status"]["passwordSecretVersion"]
    assert admin_trunk(emulator, trunk_id)["auth_password_sha256"] == sha256(PASSWORD)
    since = last_seq(emulator)
    core.patch_namespaced_secret("carrier-sip", namespace,
                                 {"stringData": {"password": ROTATED}})
    wait_status(carrier_trunks, namespace, "rotate", "a new passwordSecretVersion",
                lambda t: t["status"].get("passwordSecretVersion") not in (None, version))
    made = writes(emulator, since)
    assert calls(made) == [("PATCH", f"/trunk/trunks/{trunk_id}")]
    assert made[0]["body"] == {"auth_username": "bolna-outbound", "auth_password": "REDACTED"}
    assert admin_trunk(emulator, trunk_id)["auth_password_sha256"] == sha256(ROTATED)
    assert any(r == "Updated" and "the credentials" in m
               for _, r, m in events(core, namespace))


def test_a_missing_password_secret_stalls_until_it_is_created(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    carrier_trunks.create(namespace, carrier(
        "no-secret", authUsername="bolna-outbound", authPasswordSecretRef={"name": "later"},
        gateways=[GW_A]))
    trunk = wait_condition(carrier_trunks, namespace, "no-secret", "Stalled", "True")
    stalled = condition(trunk, "Stalled")
    assert stalled["reason"] == "SecretNotFound" and "later" in stalled["message"]
    assert writes(emulator) == []  # nothing is created without its credentials
    secret(core, namespace, "later", password=PASSWORD)
    trunk = wait_condition(carrier_trunks, namespace, "no-secret", "Ready", "True")
    assert admin_trunk(emulator, trunk["status"]["trunkId"])["auth_password_sha256"] == (
        sha256(PASSWORD))


def test_the_token_secret_selects_the_bolna_account(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    secret(core, namespace, "bolna-other", token=OTHER_TOKEN)  # key: token, the default
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "other-account", apiTokenSecretRef={"name": "bolna-other"}, gateways=[GW_A],
        numbers=[{"e164": N1}]))["status"]["trunkId"]
    assert [t["id"] for t in bolna_trunks(emulator, token=OTHER_TOKEN)] == [trunk_id]
    assert bolna_trunks(emulator) == []
    other = emulator.account(OTHER_TOKEN)
    made = writes(emulator)
    assert made and {r["account"] for r in made} == {other}
    assert {r["account"] for r in trunk_requests(emulator, trunk_id)} == {other}
    # And the deletion goes to that account too.
    carrier_trunks.api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                       CARRIER_PLURAL, "other-account")
    wait_for("the CarrierTrunk to go",
             lambda: not exists(carrier_trunks, namespace, "other-account"))
    assert bolna_trunks(emulator, token=OTHER_TOKEN) == []
    assert {r["account"] for r in writes(emulator)} == {other}


# ---- Bolna's own health ------------------------------------------------------------------

def test_bolna_health_from_call_outcomes_reaches_status_and_events(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk = create_ready(carrier_trunks, core, namespace, carrier("health", gateways=[GW_A]))
    trunk_id = trunk["status"]["trunkId"]
    assert bolna_health(trunk)["health"] == "WaitingForCarrier"

    for _ in range(3):
        emulator.record_call(trunk_id, "outbound", False, sip_code=503)
    trunk = wait_status(carrier_trunks, namespace, "health", "Bolna's health Degraded",
                        lambda t: bolna_health(t).get("health") == "Degraded",
                        timeout=DRIFT_INTERVAL * 4)
    assert bolna_health(trunk)["reportedHealth"] == "degraded"
    kind, _, message = wait_event(core, namespace, "CarrierDegraded")
    assert kind == "Warning" and trunk_id in message
    # Bolna's call-outcome health is reported beside Ready, not folded into it.
    assert condition(trunk, "Ready")["status"] == "True"

    emulator.record_call(trunk_id, "outbound", True, sip_code=200)
    wait_status(carrier_trunks, namespace, "health", "Bolna's health Healthy",
                lambda t: bolna_health(t).get("health") == "Healthy",
                timeout=DRIFT_INTERVAL * 4)
    kind, _, message = wait_event(core, namespace, "CarrierRecovered")
    assert kind == "Normal" and trunk_id in message and "Healthy" in message
    assert posted(core, namespace, "CarrierDegraded") == 1

    # Bolna answering its dashboard's labels instead: still the same states.
    emulator.set_faults(trunk_health_labels=True)
    wait_status(carrier_trunks, namespace, "health", "the label read as Healthy",
                lambda t: (bolna_health(t).get("reportedHealth"),
                           bolna_health(t).get("health")) == ("Healthy", "Healthy"),
                timeout=DRIFT_INTERVAL * 4)
    carrier_trunks.patch(namespace, "health", {"spec": {"isActive": False}})
    trunk = wait_condition(carrier_trunks, namespace, "health", "Synced", "True")
    assert (bolna_health(trunk)["health"], bolna_health(trunk)["reportedHealth"]) == (
        "Disabled", "Disabled")
    assert held_trunk(emulator, trunk_id)["is_active"] is False


# ---- what kubectl, kstatus and Argo CD read ---------------------------------------------

def test_kubectl_kstatus_and_argo_cd_read_a_ready_carriertrunk(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str, kubectl: Kubectl) -> None:
    trunk = create_ready(carrier_trunks, core, namespace, carrier("columns", gateways=[GW_A]))
    trunk_id = trunk["status"]["trunkId"]
    emulator.set_active_calls(trunk_id, 2)
    trunk = wait_status(carrier_trunks, namespace, "columns", "2 active calls",
                        lambda t: bolna_health(t).get("activeCalls") == 2,
                        timeout=DRIFT_INTERVAL * 4)

    wide = table(kubectl.run("get", "carriertrunks", "-n", namespace, "-o", "wide").stdout)
    assert list(wide) == ["NAME", "READY", "BOLNA", "GATEWAYS", "CALLS", "TRUNK-ID", "GEN",
                          "OBSERVED", "AGE"]
    # No SIP edge in this operator: no gateway health, so an empty GATEWAYS cell.
    assert {k: v for k, v in wide.items() if k != "AGE"} == {
        "NAME": "columns", "READY": "True", "BOLNA": "WaitingForCarrier", "GATEWAYS": "",
        "CALLS": "2", "TRUNK-ID": trunk_id, "GEN": "1", "OBSERVED": "1"}
    narrow = table(kubectl.run("get", "ctrunk", "-n", namespace).stdout)
    assert list(narrow) == ["NAME", "READY", "BOLNA", "GATEWAYS", "TRUNK-ID", "GEN",
                            "OBSERVED", "AGE"]
    waited = kubectl.run("wait", "-n", namespace, "ctrunk/columns", "--for=condition=Ready",
                         "--timeout=5s", check=False)
    assert waited.returncode == 0, waited.stderr

    [verdict] = judge([trunk], kind="CarrierTrunk")
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Current", "Healthy")
    managers = {entry["manager"] for entry in trunk["metadata"]["managedFields"]}
    assert "bolna-sip-operator" in managers
    assert not any(m.startswith("kopf") for m in managers), managers


def test_bolna_failures_show_as_reconciling_with_the_error_then_ready(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str, kubectl: Kubectl) -> None:
    trunk_id = create_ready(carrier_trunks, core, namespace, carrier(
        "flaky", gateways=[GW_A]))["status"]["trunkId"]

    def retrying(reason: str) -> dict[str, Any]:
        trunk = wait_status(carrier_trunks, namespace, "flaky", f"Reconciling ({reason})",
                            lambda t: condition(t, "Reconciling").get("status") == "True"
                            and condition(t, "Reconciling").get("reason") == reason
                            and t["status"]["observedGeneration"]
                            == t["metadata"]["generation"])
        assert condition(trunk, "Ready")["reason"] == reason
        assert condition(trunk, "Stalled")["status"] == "False"
        [verdict] = judge([trunk], kind="CarrierTrunk")
        assert (verdict.kstatus.status, verdict.argocd.status) == ("InProgress",
                                                                   "Progressing")
        assert "Bolna" in verdict.kstatus.message and "Bolna" in verdict.argocd.message
        return trunk

    for faults, reason, said, channels in (
            ({"error_rate": 1.0}, "BolnaUnavailable", "emulated fault", 20),
            ({"burst_429": 100_000}, "RateLimited", "HTTP 429", 21)):
        emulator.set_faults(**faults)
        try:
            carrier_trunks.patch(namespace, "flaky", {"spec": {"channels": channels}})
            trunk = retrying(reason)
            assert said in condition(trunk, "Reconciling")["message"]
            waited = kubectl.run("wait", "-n", namespace, "ctrunk/flaky",
                                 "--for=condition=Ready", "--timeout=1s", check=False)
            assert waited.returncode != 0
        finally:
            emulator.set_faults(error_rate=0.0, burst_429=0)
        wait_condition(carrier_trunks, namespace, "flaky", "Ready", "True", timeout=60)
        assert held_trunk(emulator, trunk_id)["channels"] == channels
    assert {r["status"] for r in emulator.requests()} >= {429, 200}
    assert any(r["status"] >= 500 for r in emulator.requests() if r["status"])
    assert "DriftCorrected" not in reasons(core, namespace)


def test_lost_answers_never_make_a_second_trunk_or_child(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """Every write is made, then its answer lost. Three other trunks of the account keep
    its list shared, so drift checks also look at the trunk between the operator's
    retries: neither may add again what a lost answer may have added."""
    for index in range(3):
        create_ready(carrier_trunks, core, namespace, carrier(
            f"sibling-{index}", gateways=[{"host": f"sibling-{index}.carrier.example"}]))
    gateways = [GW_A, GW_B]
    cidrs = ["192.0.2.10/32", "198.51.100.0/28"]
    numbers = [N1, N2, N3]
    emulator.set_faults(drop_after_commit_rate=1.0)
    try:
        carrier_trunks.create(namespace, carrier(
            "lost", gateways=gateways, ipAcls=[{"cidr": c} for c in cidrs],
            numbers=[{"e164": n} for n in numbers]))

        def all_made() -> bool:
            named = [t for t in bolna_trunks(emulator) if t["name"] == "lost"]
            return bool(named) and (len(named[0]["gateways"]), len(named[0]["ip_acls"]),
                                    len(named[0]["numbers"])) >= (2, 2, 3)

        wait_for("every write made (each answer lost)", all_made, timeout=90)
    finally:
        emulator.set_faults(drop_after_commit_rate=0.0)
    trunk = wait_condition(carrier_trunks, namespace, "lost", "Ready", "True", timeout=60)
    [held] = [t for t in bolna_trunks(emulator) if t["name"] == "lost"]
    assert trunk["status"]["trunkId"] == held["id"]
    assert gateway_keys(held) == {("sip-a.carrier.example", 5060, 1),
                                  ("sip-b.carrier.example", 5080, 2)}
    assert sorted(a["cidr"] for a in held["ip_acls"]) == cidrs
    assert set(by_e164(held)) == set(numbers)
    posted = Counter(json.dumps(r["body"], sort_keys=True) for r in writes(emulator)
                     if r["method"] == "POST" and (held["id"] in r["path"] or (
                         r["path"] == "/trunk/trunks" and r["body"]["name"] == "lost")))
    twice = {body: count for body, count in posted.items() if count > 1}
    assert not twice, f"sent again after a lost answer: {twice}"
    assert len(posted) == 1 + 2 + 2 + 3  # the trunk, its gateways, carrier IPs, numbers
    seen = events(core, namespace)
    assert any(r == "Recovered" and held["id"] in m for _, r, m in seen)
    assert not [e for e in seen if e[1] in ("Conflict", "Rejected")
                or "removed" in e[2]], seen


def test_a_restart_reads_one_list_and_writes_nothing(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """The status is what a restarted operator knows: the trunk IDs, the password's
    Secret version, Bolna's health; it resumes from one list per account."""
    ids = {create_ready(carrier_trunks, core, namespace, carrier(
        name, **CREDENTIALS, gateways=[GW_A, GW_B], ipAcls=[{"cidr": "192.0.2.10"}],
        numbers=[{"e164": number, "agentId": "agent-one"}]))["status"]["trunkId"]
        for name, number in (("restart-a", N1), ("restart-b", N2))}
    before = {name: carrier_trunks.get(namespace, name)["status"]
              for name in ("restart-a", "restart-b")}
    operator.stop()
    since = last_seq(emulator)
    operator.start()
    wait_drift_rounds(emulator, since, rounds=2)
    after = emulator.requests(since)
    assert [r for r in after if r["method"] != "GET"] == []
    assert [r for r in after if any(i in r["path"] for i in ids)] == [], \
        "a trunk was read by ID instead of from the account's list"
    for name, status in before.items():
        now = carrier_trunks.get(namespace, name)
        assert condition(now, "Ready")["status"] == "True"
        assert now["status"] == status, f"{name}: the restart changed its status"


# ---- last: no secret anywhere a user reads ---------------------------------------------

def test_no_secret_reached_the_log_events_status_or_annotations(
        operator: OperatorProcess, emulator: EmulatorProcess, carrier_trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, namespace: str) -> None:
    """Last in the module, so the operator's debug log holds every test above: each
    token and password was used, a password rotated, a token refused."""
    secret(core, namespace, "bolna-other", token=OTHER_TOKEN)
    trunk = create_ready(carrier_trunks, core, namespace, carrier(
        "canary", **CREDENTIALS, apiTokenSecretRef={"name": "bolna-other"},
        gateways=[GW_A]))
    core.patch_namespaced_secret("carrier-sip", namespace,
                                 {"stringData": {"password": ROTATED}})
    version = trunk["status"]["passwordSecretVersion"]
    wait_status(carrier_trunks, namespace, "canary", "the rotated password sent",
                lambda t: t["status"].get("passwordSecretVersion") != version)

    leaks = list(CANARIES) + [base64.b64encode(c.encode()).decode() for c in CANARIES]
    log = operator.log()
    assert "DEBUG" in log, "the operator must run with debug logging for this check"
    every_event = client.CoreV1Api(api_client).list_event_for_all_namespaces().items
    every_trunk = cast(dict[str, Any], carrier_trunks.api.list_cluster_custom_object(
        GROUP, VERSION, CARRIER_PLURAL))
    assert every_trunk["items"] and every_trunk["items"][0]["metadata"]["annotations"]
    seen = {"operator log": log,
            "events": "\n".join(f"{e.reason} {e.message}" for e in every_event),
            "carriertrunks": json.dumps(every_trunk)}
    for where, text in seen.items():
        for leak in leaks:
            assert leak not in text, f"a secret reached the {where}"
