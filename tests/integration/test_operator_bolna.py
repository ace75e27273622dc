"""The operator keeps Bolna equal to SipTrunks: a real apiserver, the operator process,
and the Bolna emulator over real HTTP. Assertions read what a user would: the SipTrunk's
status, conditions and Events, and what Bolna stores.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from tests.corpus import USERPASS_SPEC, manifest
from tests.gitops import judge
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import (
    after_drift_rounds,
    condition,
    exists,
    running_operator,
    wait_condition,
    wait_for,
)
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration

CANARY_TOKEN = "canary-token-7f3a9c-DEFAULT"
CANARY_OTHER_TOKEN = "canary-token-51be02-OTHER"
CANARY_PASSWORD = "canary-password-c0ffee-1"
CANARY_ROTATED = "canary-password-c0ffee-2"
CANARIES = (CANARY_TOKEN, CANARY_OTHER_TOKEN, CANARY_PASSWORD, CANARY_ROTATED)
DRIFT_INTERVAL = 3.0


# ---- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """Bolna, for two accounts (the operator's default token and another)."""
    with EmulatorProcess(tokens=[CANARY_TOKEN, CANARY_OTHER_TOKEN],
                         state_file=tmp_path_factory.mktemp("bolna") / "state.json") as bolna:
        yield bolna


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """``bolna-sip-operator run`` against the test apiserver and the emulator."""
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=CANARY_TOKEN, prefix="op",
                          drift_interval=DRIFT_INTERVAL) as process:
        yield process


@pytest.fixture
def namespace(api_client: client.ApiClient) -> str:
    """A fresh namespace that the operator under test watches (``op-*``)."""
    return create_namespace(api_client, "op")


def _secret(core: client.CoreV1Api, namespace: str, name: str, **data: str) -> None:
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name), string_data=data))


def bolna_trunks(emulator: EmulatorProcess, token: str = CANARY_TOKEN) -> list[dict[str, Any]]:
    """Every trunk Bolna holds for the account, as its API lists them."""
    answer = httpx.get(f"{emulator.url}/sip-trunks/trunks",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return list(answer.json())


def bolna_trunk(emulator: EmulatorProcess, trunk_id: str, token: str = CANARY_TOKEN
                ) -> dict[str, Any] | None:
    """One trunk as Bolna returns it, or None."""
    answer = httpx.get(f"{emulator.url}/sip-trunks/trunks/{trunk_id}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return None if answer.status_code == 404 else dict(answer.json())


def events(core: client.CoreV1Api, namespace: str) -> list[Any]:
    """Events in the namespace, oldest first."""
    return list(core.list_namespaced_event(namespace).items)


def userpass(name: str = "trunk", *, spec_name: str | None = None, **changes: Any
             ) -> dict[str, Any]:
    """A userpass SipTrunk whose password Secret is ``twilio-sip``."""
    if spec_name is not None:
        changes["name"] = spec_name
    return manifest({**USERPASS_SPEC, **changes}, name=name)


def create_ready(trunks: Trunks, core: client.CoreV1Api, namespace: str,
                 document: dict[str, Any]) -> dict[str, Any]:
    """Create the password Secret (if needed) and the trunk, and wait for Ready."""
    try:
        _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
    except client.ApiException as error:
        if error.status != 409:
            raise
    trunks.create(namespace, document)
    return wait_condition(trunks, namespace, document["metadata"]["name"], "Ready", "True")


# ---- tests ---------------------------------------------------------------------------

def test_create_makes_one_trunk_with_its_numbers_in_one_call(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    emulator.reset()
    document = userpass(phoneNumbers=[{"phoneNumber": "919876543210", "name": "Support"},
                                      {"phoneNumber": "+14155550123"}])
    trunk = create_ready(trunks, core, namespace, document)
    status = trunk["status"]
    [held] = bolna_trunks(emulator)
    assert status["trunkId"] == held["id"]
    assert trunk["metadata"]["annotations"]["sip.bolna.ai/trunk-id"] == held["id"]
    assert held["name"] == "trunk" and held["provider"] == "twilio"
    assert held["gateways"][0]["gateway_address"] == "your-trunk.pstn.twilio.com"
    assert sorted(n["phone_number"] for n in held["phone_numbers"]) == [
        "+14155550123", "919876543210"]
    assert {n["phoneNumber"]: n["id"] for n in status["phoneNumbers"]} == {
        n["phone_number"]: n["id"] for n in held["phone_numbers"]}
    assert condition(trunk, "Synced")["reason"] == "Synced"
    assert condition(trunk, "Stalled")["status"] == "False"
    writes = [r for r in emulator.requests() if r["method"] != "GET"]
    assert [(r["method"], r["status"]) for r in writes] == [("POST", 201)]
    stored = emulator.state()
    assert hashlib.sha256(CANARY_PASSWORD.encode()).hexdigest() in json.dumps(stored)
    reasons = [e.reason for e in events(core, namespace)]
    assert "Created" in reasons


def test_update_patches_only_what_changed_and_numbers_as_a_set(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    document = userpass(name="upd", phoneNumbers=[{"phoneNumber": "919876543211"},
                                                  {"phoneNumber": "919876543212"}])
    trunk_id = create_ready(trunks, core, namespace, document)["status"]["trunkId"]
    trunks.patch(namespace, "upd", {"spec": {
        "transport": "transport-tcp", "qualifyFrequency": 0,
        "phoneNumbers": [{"phoneNumber": "+919876543211"}, {"phoneNumber": "919876543213"}]}})
    trunk = wait_condition(trunks, namespace, "upd", "Synced", "True")
    held = bolna_trunk(emulator, trunk_id)
    assert held is not None
    assert held["transport"] == "transport-tcp" and held["qualify_frequency"] == 0
    assert sorted(n["phone_number"] for n in held["phone_numbers"]) == [
        "919876543211", "919876543213"]
    assert trunk["status"]["phoneNumberCount"] == 2
    assert len([t for t in bolna_trunks(emulator) if t["name"] == "upd"]) == 1


def test_delete_removes_the_trunk_and_its_numbers_from_bolna(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    document = userpass(name="gone", phoneNumbers=[{"phoneNumber": "919800000001"}])
    trunk_id = create_ready(trunks, core, namespace, document)["status"]["trunkId"]
    trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                               "siptrunks", "gone")
    wait_for("the SipTrunk to go", lambda: not exists(trunks, namespace, "gone"))
    assert bolna_trunk(emulator, trunk_id) is None
    assert "919800000001" not in json.dumps(bolna_trunks(emulator))


def test_orphan_leaves_the_trunk_in_bolna(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    document = userpass(name="kept", deletionPolicy="Orphan")
    trunk_id = create_ready(trunks, core, namespace, document)["status"]["trunkId"]
    trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                               "siptrunks", "kept")
    wait_for("the SipTrunk to go", lambda: not exists(trunks, namespace, "kept"))
    assert bolna_trunk(emulator, trunk_id) is not None


def _bolna_post(emulator: EmulatorProcess, path: str, body: dict[str, Any],
                token: str = CANARY_TOKEN) -> dict[str, Any]:
    answer = httpx.post(f"{emulator.url}{path}", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def _bolna_patch(emulator: EmulatorProcess, trunk_id: str, body: dict[str, Any]) -> None:
    httpx.patch(f"{emulator.url}/sip-trunks/trunks/{trunk_id}", json=body,
                headers={"Authorization": f"Bearer {CANARY_TOKEN}"},
                timeout=10).raise_for_status()


def test_adoption_takes_over_an_existing_trunk_without_creating_one(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    existing = _bolna_post(emulator, "/sip-trunks/trunks", {
        "name": "Made In Dashboard", "provider": "twilio", "auth_type": "userpass",
        "auth_username": "old-user", "auth_password": "dashboard-pw",
        "gateways": [{"gateway_address": "old.example.com"}]})
    before = len(bolna_trunks(emulator))
    document = userpass(name="adopted", spec_name="Made In Dashboard")
    document["metadata"]["annotations"] = {"sip.bolna.ai/trunk-id": existing["id"]}
    trunk = create_ready(trunks, core, namespace, document)
    assert trunk["status"]["trunkId"] == existing["id"]
    assert len(bolna_trunks(emulator)) == before
    held = bolna_trunk(emulator, existing["id"])
    assert held is not None
    assert held["auth_username"] == "my-sip-user"
    assert held["gateways"][0]["gateway_address"] == "your-trunk.pstn.twilio.com"


def test_rotating_the_password_secret_sends_the_new_password(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    create_ready(trunks, core, namespace, userpass(name="rotate"))
    version_before = trunks.get(namespace, "rotate")["status"]["passwordSecretVersion"]
    core.patch_namespaced_secret("twilio-sip", namespace, {"stringData": {
        "password": CANARY_ROTATED}})
    rotated = hashlib.sha256(CANARY_ROTATED.encode()).hexdigest()
    wait_for("Bolna to hold the rotated password", lambda: rotated in json.dumps(
        emulator.state()))
    wait_for("status to record the new Secret version", lambda: trunks.get(
        namespace, "rotate")["status"]["passwordSecretVersion"] != version_before)


def test_drift_in_bolna_is_corrected_and_reported(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(trunks, core, namespace, userpass(name="drift"))["status"][
        "trunkId"]
    _bolna_patch(emulator, trunk_id, {"transport": "transport-tcp", "is_active": False})
    wait_for("the drift check to restore the trunk", lambda: (
        (bolna_trunk(emulator, trunk_id) or {}).get("transport") == "transport-udp"),
        timeout=DRIFT_INTERVAL * 5)
    assert (bolna_trunk(emulator, trunk_id) or {}).get("is_active") is True
    wait_for("a DriftCorrected Event", lambda: "DriftCorrected" in [
        e.reason for e in events(core, namespace)])


def test_a_trunk_deleted_behind_the_operators_back_is_created_again(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(trunks, core, namespace, userpass(name="recreate"))["status"][
        "trunkId"]
    httpx.delete(f"{emulator.url}/sip-trunks/trunks/{trunk_id}",
                 headers={"Authorization": f"Bearer {CANARY_TOKEN}"}).raise_for_status()
    new_id = wait_for("a new trunk", lambda: (trunks.get(namespace, "recreate")["status"]
                                              .get("trunkId") not in (None, trunk_id)
                                              and trunks.get(namespace, "recreate")[
                                                  "status"]["trunkId"]),
                      timeout=DRIFT_INTERVAL * 5)
    assert bolna_trunk(emulator, new_id) is not None
    assert len([t for t in bolna_trunks(emulator) if t["name"] == "recreate"]) == 1


def test_a_name_taken_in_bolna_stalls_without_a_retry_storm(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    _bolna_post(emulator, "/sip-trunks/trunks", {
        "name": "Taken", "provider": "plivo", "auth_type": "ip-based",
        "gateways": [{"gateway_address": "x.example.com"}],
        "ip_identifiers": [{"ip_address": "203.0.113.1"}]})
    _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
    trunks.create(namespace, userpass(name="clash", spec_name="Taken"))
    trunk = wait_condition(trunks, namespace, "clash", "Stalled", "True")
    assert condition(trunk, "Stalled")["reason"] == "Conflict"
    assert "sip.bolna.ai/trunk-id" in condition(trunk, "Stalled")["message"]
    assert condition(trunk, "Ready")["status"] == "False"
    posts_before = _posts(emulator)
    after_drift_rounds(operator)
    assert _posts(emulator) == posts_before, "a permanent error was retried"


def _posts(emulator: EmulatorProcess) -> int:
    return len([r for r in emulator.requests()
                if r["method"] == "POST" and r["path"] == "/sip-trunks/trunks"])


def test_a_missing_secret_stalls_until_it_is_created(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    document = userpass(name="nosecret", authPasswordSecretRef={"name": "later",
                                                                "key": "password"})
    trunks.create(namespace, document)
    trunk = wait_condition(trunks, namespace, "nosecret", "Stalled", "True")
    assert condition(trunk, "Stalled")["reason"] == "SecretNotFound"
    assert "later" in condition(trunk, "Stalled")["message"]
    _secret(core, namespace, "later", password=CANARY_PASSWORD)
    wait_condition(trunks, namespace, "nosecret", "Ready", "True")


def test_the_trunk_token_secret_selects_the_bolna_account(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    _secret(core, namespace, "bolna-other", token=CANARY_OTHER_TOKEN)
    document = userpass(name="other-account",
                        apiTokenSecretRef={"name": "bolna-other", "key": "token"})
    trunk_id = create_ready(trunks, core, namespace, document)["status"]["trunkId"]
    assert bolna_trunk(emulator, trunk_id, token=CANARY_OTHER_TOKEN) is not None
    assert bolna_trunk(emulator, trunk_id, token=CANARY_TOKEN) is None


def test_a_wrong_token_stalls_as_unauthorized(
        operator: OperatorProcess, trunks: Trunks, core: client.CoreV1Api,
        namespace: str) -> None:
    _secret(core, namespace, "bolna-wrong", token="not-a-token")
    _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
    trunks.create(namespace, userpass(name="wrong-token", apiTokenSecretRef={
        "name": "bolna-wrong", "key": "token"}))
    trunk = wait_condition(trunks, namespace, "wrong-token", "Stalled", "True")
    assert condition(trunk, "Stalled")["reason"] == "Unauthorized"


def test_a_lost_create_answer_makes_no_duplicate(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    emulator.set_faults(drop_after_commit_rate=1.0)
    try:
        _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
        trunks.create(namespace, userpass(name="lost"))
        wait_for("the create to be committed", lambda: any(
            t["name"] == "lost" for t in bolna_trunks(emulator)))
    finally:
        emulator.set_faults(drop_after_commit_rate=0.0)
    trunk = wait_condition(trunks, namespace, "lost", "Ready", "True")
    named = [t for t in bolna_trunks(emulator) if t["name"] == "lost"]
    assert [t["id"] for t in named] == [trunk["status"]["trunkId"]]


def test_5xx_and_429_are_retried_until_synced(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    def answered() -> set[int]:
        return {r["status"] for r in emulator.requests() if r["status"] is not None}

    # A plan, not luck: the first three requests are 429s, then the first three of each
    # route (the creates, the lists that look for a create whose answer was lost) are
    # 5xx, then Bolna answers. Each 5xx of a create is a lost answer, looked for by
    # name in a list before anything is sent again.
    print(f"fault seed {emulator.faults()['seed']} (unused: the plan draws no fault)")
    emulator.set_faults(burst_429=3, error_first_per_route=3)
    try:
        _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
        for index in range(3):
            trunks.create(namespace, userpass(name=f"flaky-{index}"))
        # A failed list is remembered 2 s, then 4 and 8 while it keeps failing; a lost
        # create is looked for up to 30 s: 60 s holds all of it with room.
        for index in range(3):
            wait_condition(trunks, namespace, f"flaky-{index}", "Ready", "True", timeout=60)
    finally:
        emulator.set_faults(burst_429=0, error_first_per_route=0)
    for index in range(3):
        assert len([t for t in bolna_trunks(emulator) if t["name"] == f"flaky-{index}"]) == 1
    statuses = answered()
    assert 429 in statuses and any(s >= 500 for s in statuses)


def test_no_secret_ever_reaches_logs_events_status_or_annotations(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, namespace: str) -> None:
    create_ready(trunks, core, namespace, userpass(name="canary"))
    leaks = list(CANARIES) + [base64.b64encode(c.encode()).decode() for c in CANARIES]
    log = operator.log()
    assert "DEBUG" in log, "the operator must run with debug logging for this test"
    seen = {"operator log": log}
    every_event = client.CoreV1Api(api_client).list_event_for_all_namespaces().items
    seen["events"] = "\n".join(f"{e.reason} {e.message}" for e in every_event)
    every_trunk = trunks.api.list_cluster_custom_object("sip.bolna.ai", "v1alpha1",
                                                        "siptrunks")
    seen["siptrunks"] = json.dumps(every_trunk)
    for where, text in seen.items():
        for leak in leaks:
            assert leak not in text, f"a secret reached the {where}"


def test_a_trunk_deleted_while_bolna_is_down_waits_and_says_why(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    trunk_id = create_ready(trunks, core, namespace, userpass(name="outage"))["status"][
        "trunkId"]
    emulator.set_faults(error_rate=1.0)
    try:
        trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                                   "siptrunks", "outage")
        terminating = wait_for("Ready=False reason Deleting", lambda: (
            condition(trunks.get(namespace, "outage"), "Ready").get("reason") == "Deleting"
            and trunks.get(namespace, "outage")), timeout=60)
        assert terminating["metadata"]["deletionTimestamp"]
        assert trunk_id in condition(terminating, "Ready")["message"]
        assert condition(terminating, "Reconciling")["status"] == "True"
        [verdict] = judge([terminating])
        assert (verdict.kstatus.status, verdict.argocd.status) == (
            "Terminating", "Progressing")
        assert bolna_trunk_in_state(emulator, trunk_id)
    finally:
        emulator.set_faults(error_rate=0.0)
    wait_for("the SipTrunk to go once Bolna is back",
             lambda: not exists(trunks, namespace, "outage"), timeout=60)
    assert bolna_trunk(emulator, trunk_id) is None


def bolna_trunk_in_state(emulator: EmulatorProcess, trunk_id: str) -> bool:
    """Whether Bolna still holds the trunk, read through the emulator's admin API (which
    faults never touch)."""
    return trunk_id in json.dumps(emulator.state())


def test_adopting_a_trunk_bolna_does_not_have_stalls_instead_of_creating(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    _secret(core, namespace, "twilio-sip", password=CANARY_PASSWORD)
    document = userpass(name="typo")
    document["metadata"]["annotations"] = {"sip.bolna.ai/trunk-id": "01NOSUCHTRUNK0000000000000"}
    trunks.create(namespace, document)
    trunk = wait_condition(trunks, namespace, "typo", "Stalled", "True")
    assert condition(trunk, "Stalled")["reason"] == "AdoptionFailed"
    assert not [t for t in bolna_trunks(emulator) if t["name"] == "typo"]


def test_live_status_reads_the_same_to_kubectl_wait_kstatus_and_argo_cd(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str, kubectl: Kubectl) -> None:
    """The README's table on the real operator: Ready, then retrying, then stalled."""
    document = userpass(name="judged")
    trunk = create_ready(trunks, core, namespace, document)
    [verdict] = judge([trunk])
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Current", "Healthy")
    managers = {entry["manager"] for entry in trunk["metadata"]["managedFields"]}
    assert "bolna-sip-operator" in managers  # status, annotations and Kopf's finalizer
    assert not any(m.startswith("kopf") for m in managers), managers
    wait = kubectl.run("wait", "-n", namespace, "sipt/judged", "--for=condition=Ready",
                       "--timeout=5s", check=False)
    assert wait.returncode == 0, wait.stderr

    # Bolna fails: the spec change is observed at once, Reconciling says why.
    emulator.set_faults(error_rate=1.0)
    try:
        trunks.patch(namespace, "judged", {"spec": {"transport": "transport-tcp"}})
        retrying = wait_for("Reconciling=True with Bolna's error", lambda: (
            lambda t: t if condition(t, "Reconciling").get("status") == "True"
            and t["status"].get("observedGeneration") == t["metadata"]["generation"]
            else None)(trunks.get(namespace, "judged")))
        assert condition(retrying, "Ready")["reason"] == "BolnaUnavailable"
        [verdict] = judge([retrying])
        assert verdict.kstatus.status == "InProgress"
        assert verdict.argocd.status == "Progressing"
        assert "Bolna" in verdict.kstatus.message and "Bolna" in verdict.argocd.message
        wait = kubectl.run("wait", "-n", namespace, "sipt/judged", "--for=condition=Ready",
                           "--timeout=2s", check=False)
        assert wait.returncode != 0
    finally:
        emulator.set_faults(error_rate=0.0)
    trunk = wait_condition(trunks, namespace, "judged", "Ready", "True", timeout=60)
    reasons = [e.reason for e in events(core, namespace)]
    assert "Updated" in reasons and "DriftCorrected" not in reasons  # a spec change, not drift

    # A refused token is Failed and Degraded, not "in progress" forever.
    _secret(core, namespace, "bolna-revoked", token="revoked-token")
    trunks.patch(namespace, "judged", {"spec": {"apiTokenSecretRef": {
        "name": "bolna-revoked", "key": "token"}}})
    stalled = wait_condition(trunks, namespace, "judged", "Stalled", "True")
    assert condition(stalled, "Stalled")["reason"] == "Unauthorized"
    [verdict] = judge([stalled])
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Failed", "Degraded")
