"""What an independent fault and bad-input campaign broke (issue 15), against the real
operator, apiserver and Bolna emulator: each test failed before the fix."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from bolna_emulator.store import password_digest
from bolna_sip_operator.reconcile.snapshots import failure_memory
from tests.corpus import USERPASS_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import (
    condition,
    exists,
    running_operator,
    wait_condition,
    wait_for,
)
from tests.integration.test_operator_bolna import bolna_trunk, bolna_trunks
from tests.kubectl import Kubectl

pytestmark = pytest.mark.integration
TOKEN = "hardening-token"
DRIFT_INTERVAL = 5.0
OTHER_TOKEN = "hardening-other-token"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tokens=[TOKEN, OTHER_TOKEN]) as bolna:
        yield bolna


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator for ``hard-*``; only ``hard-shared-*`` may use the default token."""
    # The warm-up trunk uses the default token, so it needs an allowed namespace.
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=TOKEN, prefix="hard-shared", drift_interval=DRIFT_INTERVAL,
                          extra_args=("--namespace", "hard-*", "--default-token-namespaces",
                                      "hard-shared-*")) as process:
        yield process


def _secret(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace}, "stringData": data}


def _trunk(name: str, namespace: str, **changes: Any) -> dict[str, Any]:
    document = manifest({**USERPASS_SPEC, **changes}, name=name)
    document["metadata"]["namespace"] = namespace
    return document


def _own_token_file(tmp_path: Path, namespace: str, name: str) -> Path:
    """A file with a password Secret, a token Secret and a trunk using both."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all([
        _secret("twilio-sip", namespace, password="hardening-password"),
        _secret("bolna-token", namespace, token=OTHER_TOKEN),
        _trunk(name, namespace, apiTokenSecretRef={"name": "bolna-token", "key": "token"}),
    ]))
    return path


def _meta(core: client.CoreV1Api, namespace: str, name: str) -> client.V1ObjectMeta:
    metadata = core.read_namespaced_secret(name, namespace).metadata
    assert metadata is not None
    return metadata


def _bolna_id(trunks: Trunks, namespace: str, name: str) -> str:
    trunk = wait_condition(trunks, namespace, name, "Ready", "True", timeout=60)
    return str(trunk["status"]["trunkId"])


def test_kubectl_delete_f_of_a_trunk_and_its_secrets_finishes(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, kubectl: Kubectl,
        tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "hard")
    path = _own_token_file(tmp_path, namespace, "file")
    kubectl.run("apply", "-f", str(path))
    trunk_id = _bolna_id(trunks, namespace, "file")
    token = _meta(core, namespace, "bolna-token")
    assert "sip.bolna.ai/in-use" in (token.finalizers or [])
    assert "sip.bolna.ai/referenced" not in (token.labels or {}), "no label is needed"
    kubectl.run("delete", "-f", str(path), "--wait=false")
    wait_for("the trunk, then its token Secret, gone", lambda: not exists(
        trunks, namespace, "file") and not core.list_namespaced_secret(
            namespace, field_selector="metadata.name=bolna-token").items, timeout=60)
    assert bolna_trunk(emulator, trunk_id, token=OTHER_TOKEN) is None


def test_a_namespace_deletion_takes_its_bolna_trunks_with_it(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, kubectl: Kubectl,
        tmp_path: Path) -> None:
    namespace = create_namespace(api_client, "hard")
    kubectl.run("apply", "-f", str(_own_token_file(tmp_path, namespace, "ns-gone")))
    trunk_id = _bolna_id(trunks, namespace, "ns-gone")
    core.delete_namespace(namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(namespace)
        except client.ApiException as error:
            return bool(error.status == 404)
        return False

    # The namespace controller of a bare apiserver does not run here: emulate its order
    # (every object deleted at once), then check what remains.
    for secret in ("twilio-sip", "bolna-token"):
        core.delete_namespaced_secret(secret, namespace)
    trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                               "siptrunks", "ns-gone")
    wait_for("the trunk and its Secrets gone", lambda: (not exists(
        trunks, namespace, "ns-gone") and not core.list_namespaced_secret(namespace).items)
        or namespace_gone(), timeout=60)
    assert bolna_trunk(emulator, trunk_id, token=OTHER_TOKEN) is None


def test_a_second_claimant_of_a_bolna_trunk_is_stalled_and_changes_nothing(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    owner_ns = create_namespace(api_client, "hard-shared")
    intruder_ns = create_namespace(api_client, "hard-shared")
    for namespace in (owner_ns, intruder_ns):
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="twilio-sip"),
            string_data={"password": "hardening-password"}))
    trunks.create(owner_ns, _trunk("owner", owner_ns))
    trunk_id = _bolna_id(trunks, owner_ns, "owner")
    writes_before = len([r for r in emulator.requests() if r["method"] != "GET"])
    intruder = _trunk("intruder", intruder_ns, description="taken over")
    intruder["metadata"]["annotations"] = {"sip.bolna.ai/trunk-id": trunk_id}
    trunks.create(intruder_ns, intruder)
    stalled = wait_condition(trunks, intruder_ns, "intruder", "Stalled", "True")
    assert condition(stalled, "Stalled")["reason"] == "OwnedElsewhere"
    assert f"{owner_ns}/owner" in condition(stalled, "Stalled")["message"]
    trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", intruder_ns,
                                               "siptrunks", "intruder")
    wait_for("the intruder gone", lambda: not exists(trunks, intruder_ns, "intruder"))
    writes = [r for r in emulator.requests() if r["method"] != "GET"][writes_before:]
    assert writes == [], writes
    assert bolna_trunk(emulator, trunk_id, token=TOKEN) is not None
    assert condition(trunks.get(owner_ns, "owner"), "Ready")["status"] == "True"


def test_the_default_token_is_only_for_the_namespaces_allowed(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    namespace = create_namespace(api_client, "hard-team")
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-sip"),
        string_data={"password": "hardening-password"}))
    trunks.create(namespace, _trunk("borrower", namespace))
    stalled = wait_condition(trunks, namespace, "borrower", "Stalled", "True")
    assert condition(stalled, "Stalled")["reason"] == "NoToken"
    assert "apiTokenSecretRef" in condition(stalled, "Stalled")["message"]
    assert not [t for t in bolna_trunks(emulator, token=TOKEN) if t["name"] == "borrower"]


def test_a_revoked_token_is_stalled_unauthorized_without_a_traceback(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    namespace = create_namespace(api_client, "hard")
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-sip"),
        string_data={"password": "hardening-password"}))
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="bolna-token"), string_data={"token": OTHER_TOKEN}))
    trunks.create(namespace, _trunk("revoked", namespace, apiTokenSecretRef={
        "name": "bolna-token", "key": "token"}))
    _bolna_id(trunks, namespace, "revoked")
    core.patch_namespaced_secret("bolna-token", namespace,
                                 {"stringData": {"token": "revoked-now"}})
    trunks.patch(namespace, "revoked", {"spec": {"qualifyFrequency": 0}})
    stalled = wait_condition(trunks, namespace, "revoked", "Stalled", "True")
    assert condition(stalled, "Stalled")["reason"] == "Unauthorized"
    assert stalled["status"]["observedGeneration"] == stalled["metadata"]["generation"]
    assert condition(stalled, "Ready")["status"] == "False"
    warnings = [e for e in core.list_namespaced_event(namespace).items
                if e.reason == "Unauthorized" and e.type == "Warning"]
    assert warnings and warnings[0].reporting_component == "bolna-sip-operator"
    assert "Traceback" not in operator.log()
    # Fixed token: the Secret change alone brings it back.
    core.patch_namespaced_secret("bolna-token", namespace,
                                 {"stringData": {"token": OTHER_TOKEN}})
    wait_condition(trunks, namespace, "revoked", "Ready", "True", timeout=60)


def _write_secret(kubectl: Kubectl, tmp_path: Path, namespace: str, name: str, how: str,
                  **data: str) -> None:
    """Rewrite a Secret whole, as a user does without the operator's metadata:
    ``kubectl replace -f`` (a PUT: labels and finalizers it does not name are gone), or
    ``kubectl delete`` then ``kubectl create -f`` (a new object, a new UID)."""
    path = tmp_path / f"{name}-{how}.yaml"
    path.write_text(yaml.safe_dump(_secret(name, namespace, **data)))
    if how == "replace":
        kubectl.run("replace", "-f", str(path))
    else:
        kubectl.run("delete", "secret", name, "-n", namespace, "--timeout=60s")
        kubectl.run("create", "-f", str(path))


def _version(core: client.CoreV1Api, namespace: str, name: str) -> str:
    meta = _meta(core, namespace, name)
    return f"{meta.uid}/{meta.resource_version}"


def _after_next_list(emulator: EmulatorProcess) -> None:
    """Wait for the operator's next list of an account's trunks (its drift loop lists
    every 5 s here): the signal that whatever the operator was going to send has gone."""
    mark = len(emulator.requests())
    wait_for("a later list of the account's trunks", lambda: any(
        r["method"] == "GET" and r["route"].endswith("/trunks")
        for r in emulator.requests(since=mark)), timeout=30)


@pytest.mark.parametrize("how", ["replace", "recreate"])
def test_a_password_rewritten_whole_reaches_bolna_once(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, kubectl: Kubectl,
        tmp_path: Path, how: str) -> None:
    """Issue 23 item 2: a Secret written without the operator's label used to drop out
    of the watch for good, and the rotated password never reached Bolna. The operator
    now follows every Secret's metadata, labels nothing, and sends a rotation once,
    whichever way it was written."""
    namespace = create_namespace(api_client, "hard-shared")
    trunk = f"rewritten-{how}"  # one Bolna account: trunk names are unique in it
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-sip"),
        string_data={"password": "hardening-password"}))
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="unrelated"), string_data={"other": "value"}))
    trunks.create(namespace, _trunk(trunk, namespace))
    trunk_id = _bolna_id(trunks, namespace, trunk)
    for name in ("twilio-sip", "unrelated"):
        meta = _meta(core, namespace, name)
        assert not meta.labels and not meta.finalizers, "a password Secret is left as it is"

    for round_ in (1, 2):  # twice: the Secret is still followed after the first rewrite
        password = f"{how}-password-{round_}"
        since = len(emulator.requests())
        _write_secret(kubectl, tmp_path, namespace, "twilio-sip", how, password=password)
        version = _version(core, namespace, "twilio-sip")

        def sent(version: str = version) -> bool:
            return bool(trunks.get(namespace, trunk)["status"].get(
                "passwordSecretVersion") == version)

        wait_for(f"the password of rewrite {round_} sent", sent, timeout=20)
        _after_next_list(emulator)
        patches = [r for r in emulator.requests(since=since)
                   if r["method"] == "PATCH" and trunk_id in r["path"]]
        assert len(patches) == 1, patches
        assert str(password_digest(password)) in json.dumps(emulator.state())
        ready = wait_condition(trunks, namespace, trunk, "Ready", "True", timeout=30)
        assert ready["status"]["trunkId"] == trunk_id


@pytest.mark.parametrize("how", ["replace", "recreate"])
def test_a_token_secret_rewritten_whole_is_followed_and_held_again(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient, kubectl: Kubectl,
        tmp_path: Path, how: str) -> None:
    """Issue 23 item 2, a token Secret: a rewrite that drops the in-use finalizer gets it
    back; the new token is used at once, exactly once (one refused call for a token
    Bolna refuses), and the trunk is Ready again as soon as the good token is back."""
    namespace = create_namespace(api_client, "hard")
    trunk = f"own-{how}"
    kubectl.run("apply", "-f", str(_own_token_file(tmp_path, namespace, trunk)))
    trunk_id = _bolna_id(trunks, namespace, trunk)

    def held() -> bool:
        return "sip.bolna.ai/in-use" in (_meta(core, namespace, "bolna-token").finalizers or [])

    wait_for("the token Secret held", held)
    since = len(emulator.requests())
    _write_secret(kubectl, tmp_path, namespace, "bolna-token", how, token="not-a-bolna-token")
    # (Deleted first, the Secret is missing for a moment: SecretNotFound, then this.)
    wait_for("the trunk refused with the new token", lambda: condition(
        trunks.get(namespace, trunk), "Stalled").get("reason") == "Unauthorized", timeout=20)
    refused = [r for r in emulator.requests(since=since) if r["status"] == 403]
    assert len(refused) == 1, refused
    wait_for("the in-use finalizer back", held)
    assert "sip.bolna.ai/referenced" not in (_meta(core, namespace, "bolna-token").labels or {})

    _write_secret(kubectl, tmp_path, namespace, "bolna-token", how, token=OTHER_TOKEN)
    ready = wait_condition(trunks, namespace, trunk, "Ready", "True", timeout=20)
    assert ready["status"]["trunkId"] == trunk_id
    wait_for("the in-use finalizer back", held)
    assert bolna_trunk(emulator, trunk_id, token=OTHER_TOKEN) is not None
    if how == "recreate":
        # The operator let the deleted Secret go (no deletion of its trunk needed it),
        # and said so on the trunk.
        assert any(e.reason == "TokenSecretDeleted" and e.type == "Warning"
                   for e in core.list_namespaced_event(namespace).items)


def test_a_restart_reads_one_list_per_account_and_an_outage_is_not_hammered(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    """Issue 15 item 8: a restart re-read every trunk by ID (154 GETs for 50 trunks);
    a Bolna outage made the drift check list about once a second."""
    namespace = create_namespace(api_client, "hard-shared")
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-sip"),
        string_data={"password": "hardening-password"}))
    for index in range(8):
        trunks.create(namespace, _trunk(f"restart-{index}", namespace))
    for index in range(8):
        _bolna_id(trunks, namespace, f"restart-{index}")
    operator.stop()
    since = len(emulator.requests())
    logged = len(operator.log())
    operator.start()
    # The signal: Kopf has resumed every trunk the new process listed at its start (a
    # resume's reconcile is done when Kopf logs it processed). A drift round is not
    # waited for: it lists the account again, as it must once an interval.
    listed = wait_for("the restarted operator's start", lambda: re.search(
        r"(\d+) trunk\(s\) in the namespaces watched", operator.log()[logged:]))
    wait_for("every trunk resumed", lambda: operator.log()[logged:].count(
        "Resuming is processed") >= int(listed[1]), timeout=60)
    after = emulator.requests(since=since)
    by_id = [r for r in after if r["method"] == "GET" and r["route"].endswith("{trunk_id}")]
    lists = [r for r in after if r["method"] == "GET" and r["route"].endswith("/trunks")]
    writes = [r for r in after if r["method"] != "GET"]
    assert by_id == [] and writes == [], [(r["method"], r["path"], r["status"])
                                          for r in by_id + writes]
    assert len(lists) <= 2, lists  # one per account in use (the default token's)
    for index in range(8):
        assert condition(trunks.get(namespace, f"restart-{index}"), "Ready")["status"] == "True"

    # Bolna fails every call: the drift checks of the account share one failed list,
    # asked once (no retry burst), and asked again only as the failure memory allows
    # (2 s, doubling, capped at the list's age: the schedule ``failure_memory`` gives).
    window = 12.0
    emulator.set_faults(error_rate=1.0)
    try:
        since = len(emulator.requests())
        time.sleep(window)  # a window to count in, not a wait for nothing to happen
        during = emulator.requests(since=since)
    finally:
        emulator.set_faults(error_rate=0.0)
    lists = [r for r in during if r["method"] == "GET" and r["route"].endswith("/trunks")]
    assert len(during) == len(lists), "nothing but the accounts' lists is asked"
    per_account = Counter(r["account"] for r in lists)
    asked_at, allowed = 0.0, 0
    while asked_at < window:  # the lists one account may ask in the window
        allowed += 1
        asked_at += failure_memory(allowed, None, DRIFT_INTERVAL * 0.9)
    assert per_account and max(per_account.values()) <= allowed + 1, (per_account, allowed)
