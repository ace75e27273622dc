"""Every request body the operator sends is one Bolna's OpenAPI documents.

The real operator process against a real apiserver and the Bolna emulator, with the
emulator keeping every request body (``record_bodies``, passwords redacted). The
operator is taken through a trunk's life: create (with numbers), updates of its fields
and of its numbers (some added, some removed), a password rotation, deactivation, the
adoption of a trunk whose create-only fields differ from the spec, drift put back,
and deletion; then the same again while Bolna answers sparsely, and while it shows
new numbers late. Each body is checked with ``tests/bolna_schemas.py`` (``jsonschema`` on Bolna's
own request schemas, read closed: a field a schema does not list is a problem, since
Bolna ignores it on PATCH) and must have gone out as JSON.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from tests.bolna_schemas import logged_request_problems, operation
from tests.corpus import IP_BASED_SPEC, USERPASS_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import (
    after_drift_rounds,
    condition,
    exists,
    running_operator,
    wait_for,
)

pytestmark = pytest.mark.integration

TOKEN = "canary-token-oas-5d1e"
PASSWORD = "canary-password-oas-1"
ROTATED = "canary-password-oas-2"
DRIFT_INTERVAL = 2.0
API = "/sip-trunks/trunks"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tokens=[TOKEN], record_bodies=True) as bolna:
        yield bolna


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, emulator: EmulatorProcess,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with running_operator(control_plane, emulator, tmp_path_factory.mktemp("operator"),
                          token=TOKEN, prefix="oas", drift_interval=DRIFT_INTERVAL) as process:
        yield process


@pytest.fixture
def namespace(api_client: client.ApiClient) -> str:
    return create_namespace(api_client, "oas")


def _bolna(emulator: EmulatorProcess, method: str, path: str,
           body: dict[str, Any] | None = None) -> Any:
    answer = httpx.request(method, f"{emulator.url}{path}", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    answer.raise_for_status()
    return answer.json()


def _stored(emulator: EmulatorProcess) -> dict[str, Any]:
    """The account as Bolna stores it (every field, whatever the answers show)."""
    [account] = emulator.state()["accounts"].values()
    return dict(account)


def _stored_trunk(emulator: EmulatorProcess, name: str) -> dict[str, Any] | None:
    return next((t for t in _stored(emulator)["trunks"] if t["name"] == name), None)


def _numbers(emulator: EmulatorProcess, name: str) -> list[str]:
    trunk = _stored_trunk(emulator, name)
    return sorted(n["phone_number"] for n in (trunk or {}).get("phone_numbers", []))


def _until(trunks: Trunks, namespace: str, name: str, type_: str, timeout: float = 60.0
           ) -> dict[str, Any]:
    """The trunk once ``type_`` is True for its generation; on a timeout the failure
    shows the conditions it had."""
    seen: list[Any] = []

    def check() -> dict[str, Any] | None:
        trunk = trunks.get(namespace, name)
        found = condition(trunk, type_)
        seen[:] = [(c["type"], c["status"], c.get("reason"), c.get("message"))
                   for c in (trunk.get("status") or {}).get("conditions") or ()]
        current = found.get("observedGeneration") == trunk["metadata"]["generation"]
        return trunk if found.get("status") == "True" and current else None

    try:
        return wait_for(f"{namespace}/{name} {type_}=True", check, timeout)  # type: ignore[no-any-return]
    except pytest.fail.Exception as failure:
        raise AssertionError(f"{failure}; conditions: {seen}") from None


def _synced(trunks: Trunks, namespace: str, name: str) -> dict[str, Any]:
    return _until(trunks, namespace, name, "Synced")


def _operators_writes(emulator: EmulatorProcess, since: int,
                      mine: set[int]) -> list[dict[str, Any]]:
    """The requests with a body after ``since`` that the test itself did not send."""
    return [entry for entry in emulator.request_bodies(since) if entry["seq"] not in mine]


def _checked(emulator: EmulatorProcess, since: int, mine: set[int]) -> Counter[str]:
    """Assert every body the operator sent after ``since`` keeps Bolna's OpenAPI; return
    how many requests of each operation it sent (so a test can tell it is not empty)."""
    sent = _operators_writes(emulator, since, mine)
    problems = logged_request_problems(sent)
    assert problems == [], "the operator sent bodies Bolna's OpenAPI does not document:\n" + (
        "\n".join(problems))
    kinds: Counter[str] = Counter()
    for entry in sent:
        found = operation(entry["method"], entry["path"])
        kinds[f"{entry['method']} {found.template if found else entry['path']}"] += 1
    return kinds


class _Mine:
    """Sequence numbers of the requests the test sends to Bolna itself (as a dashboard
    user would), so that only the operator's are judged."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.seqs: set[int] = set()

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        before = _last_seq(self.emulator)
        answer = _bolna(self.emulator, method, path, body)
        self.seqs |= {e["seq"] for e in self.emulator.request_bodies(before)
                      if (e["method"], e["path"], e["body"]) == (method, path, body)}
        return answer


def _gone(trunks: Trunks, namespace: str, name: str) -> bool:
    return not exists(trunks, namespace, name)


def _settled(trunks: Trunks, namespace: str, name: str) -> dict[str, Any] | None:
    """The trunk once it is Ready or Stalled."""
    trunk = trunks.get(namespace, name)
    done = "True" in (condition(trunk, "Ready").get("status"),
                      condition(trunk, "Stalled").get("status"))
    return trunk if done else None


def _last_seq(emulator: EmulatorProcess) -> int:
    return max((entry["seq"] for entry in emulator.requests()), default=0)


FIRST_NUMBERS = [{"phoneNumber": "919876543210", "name": "Mumbai"},
                 {"phoneNumber": "+14155550100"}]


def _lifecycle(emulator: EmulatorProcess, trunks: Trunks, core: client.CoreV1Api,
               namespace: str, mine: _Mine, *, numbers_at_creation: bool = True) -> None:
    """Create, update (fields, numbers in and out), rotate, deactivate, drift, delete.
    Without ``numbers_at_creation`` the first numbers come with a first update."""
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="twilio-sip"), string_data={"password": PASSWORD}))
    userpass = manifest({**USERPASS_SPEC, "description": "made by the operator",
                         "phoneNumbers": FIRST_NUMBERS if numbers_at_creation else []},
                        name="up")
    ip_based = manifest({**IP_BASED_SPEC, "transport": "transport-tcp",
                         "inboundEnabled": True}, name="ip")
    trunks.create(namespace, userpass)
    trunks.create(namespace, ip_based)
    for name in ("up", "ip"):
        _until(trunks, namespace, name, "Ready")
    if not numbers_at_creation:
        trunks.patch(namespace, "up", {"spec": {"phoneNumbers": FIRST_NUMBERS}})
        _synced(trunks, namespace, "up")

    # Fields and numbers: one kept, one removed, one added.
    trunks.patch(namespace, "up", {"spec": {
        "transport": "transport-tls", "mediaEncryption": "sdes",
        "mediaEncryptionOptimistic": True, "qualifyFrequency": 0, "allow": "ulaw",
        "description": "changed", "outboundLeadingPlusEnabled": False,
        "gateways": [{"gatewayAddress": "a.pstn.twilio.com", "port": 5061, "priority": 1},
                     {"gatewayAddress": "b.pstn.twilio.com", "priority": 2}],
        "phoneNumbers": [{"phoneNumber": "919876543210", "name": "Mumbai"},
                         {"phoneNumber": "14155550111", "name": "New"}]}})
    trunks.patch(namespace, "ip", {"spec": {
        "ipIdentifiers": [{"ipAddress": "203.0.113.0/28"}, {"ipAddress": "198.51.100.7"}],
        "inboundEnabled": False, "phoneNumbers": [{"phoneNumber": "918035735900"}]}})
    for name in ("up", "ip"):
        _synced(trunks, namespace, name)
    wait_for("the numbers in Bolna", lambda: _numbers(emulator, "up") == [
        "14155550111", "919876543210"])
    held = _stored_trunk(emulator, "up")
    assert held is not None and held["transport"] == "transport-tls"

    # The password Secret rotates.
    core.patch_namespaced_secret("twilio-sip", namespace, {"stringData": {"password": ROTATED}})
    digest = hashlib.sha256(ROTATED.encode()).hexdigest()
    wait_for("Bolna to hold the rotated password", lambda: digest in json.dumps(
        _stored(emulator)))

    # Deactivation, and drift made in Bolna's dashboard, put back.
    trunks.patch(namespace, "ip", {"spec": {"active": False}})
    _synced(trunks, namespace, "ip")
    wait_for("the trunk to be inactive in Bolna", lambda: (
        _stored_trunk(emulator, "ip") or {}).get("is_active") is False)
    ip_id = trunks.get(namespace, "ip")["status"]["trunkId"]
    mine.send("PATCH", f"{API}/{ip_id}", {"transport": "transport-udp"})
    wait_for("the drift check to put the trunk back", lambda: (
        _stored_trunk(emulator, "ip") or {}).get("transport") == "transport-tcp",
        timeout=DRIFT_INTERVAL * 10)

    # Deletion, with its numbers.
    for name in ("up", "ip"):
        trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                                   "siptrunks", name)
    for name in ("up", "ip"):
        wait_for(f"{name} to go", functools.partial(_gone, trunks, namespace, name),
                 timeout=60)
    assert _stored(emulator)["trunks"] == []


EVERY_WRITE = {"POST /sip-trunks/trunks", "PATCH /sip-trunks/trunks/{trunk_id}",
               "DELETE /sip-trunks/trunks/{trunk_id}",
               "POST /sip-trunks/trunks/{trunk_id}/numbers",
               "DELETE /sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}"}


def test_a_trunks_whole_life_sends_only_documented_bodies(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    since = _last_seq(emulator)
    mine = _Mine(emulator)
    _lifecycle(emulator, trunks, core, namespace, mine)
    kinds = _checked(emulator, since, mine.seqs)
    assert set(kinds) == EVERY_WRITE, kinds


def test_the_same_while_bolna_answers_as_sparsely_as_the_guides_examples(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """Answers shaped like the setup guide's sparsest example (no ``phone_numbers``,
    ``allow``, ``qualify_frequency``...): the operator reads the numbers list and still
    sends only documented bodies."""
    emulator.set_faults(sparse_answers=True)
    try:
        since = _last_seq(emulator)
        mine = _Mine(emulator)
        _lifecycle(emulator, trunks, core, namespace, mine)
        kinds = _checked(emulator, since, mine.seqs)
        assert set(kinds) == EVERY_WRITE, kinds
    finally:
        emulator.set_faults(sparse_answers=False)


def _added_twice(emulator: EmulatorProcess, since: int) -> list[dict[str, Any]]:
    return [e for e in emulator.requests(since) if e["method"] == "POST"
            and e["path"].endswith("/numbers") and e["status"] == 409]


def test_numbers_that_show_late_are_added_once(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """Each number added by an update is missing from its next two reads (as Bolna's
    own tooling records): the operator adds it once, and sends only documented
    bodies."""
    emulator.set_faults(late_numbers_reads=2)
    try:
        since = _last_seq(emulator)
        mine = _Mine(emulator)
        _lifecycle(emulator, trunks, core, namespace, mine, numbers_at_creation=False)
        _checked(emulator, since, mine.seqs)
        assert _added_twice(emulator, since) == [], "a number was added a second time"
    finally:
        emulator.set_faults(late_numbers_reads=0)


def test_numbers_given_at_creation_that_show_late_are_not_added_again(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    emulator.set_faults(late_numbers_reads=2)
    try:
        since = _last_seq(emulator)
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="twilio-sip"),
            string_data={"password": PASSWORD}))
        trunks.create(namespace, manifest({**USERPASS_SPEC, "phoneNumbers": FIRST_NUMBERS},
                                          name="late"))
        settled = wait_for("Ready or Stalled", functools.partial(
            _settled, trunks, namespace, "late"), timeout=60)
        assert _added_twice(emulator, since) == [], "a number was added a second time"
        assert condition(settled, "Ready")["status"] == "True"
    finally:
        emulator.set_faults(late_numbers_reads=0)


def test_a_create_only_field_that_differs_is_never_patched(
        operator: OperatorProcess, emulator: EmulatorProcess, trunks: Trunks,
        core: client.CoreV1Api, namespace: str) -> None:
    """A trunk made in Bolna's dashboard with switches its update API cannot change
    (``direct_media``, ``rtp_symmetric``, ``force_rport``), adopted by a SipTrunk that
    wants the defaults: the operator must not PATCH them (Bolna would ignore them), and
    the spec cannot be edited to them either."""
    mine = _Mine(emulator)
    made = mine.send("POST", API, {
        "name": "Dashboard Trunk", "provider": "plivo", "auth_type": "ip-based",
        "gateways": [{"gateway_address": "21467306465797919.zt.plivo.com"}],
        "ip_identifiers": [{"ip_address": "15.207.90.192/31"}],
        "direct_media": True, "rtp_symmetric": False, "force_rport": False})
    since = _last_seq(emulator)
    document = manifest({**IP_BASED_SPEC, "name": "Dashboard Trunk"}, name="adopted")
    document["metadata"]["annotations"] = {"sip.bolna.ai/trunk-id": made["id"]}
    trunks.create(namespace, document)
    wait_for("the operator to report on the adopted trunk", lambda: (
        lambda t: condition(t, "Synced").get("observedGeneration")
        == t["metadata"]["generation"])(trunks.get(namespace, "adopted")), timeout=60)
    after_drift_rounds(operator)  # drift checks come and go: none may PATCH them
    _checked(emulator, since, mine.seqs)
    with pytest.raises(client.ApiException) as refused:
        trunks.patch(namespace, "adopted", {"spec": {"rtpSymmetric": False}})
    assert refused.value.status == 422
    held = _stored_trunk(emulator, "Dashboard Trunk")
    assert held is not None
    assert (held["direct_media"], held["rtp_symmetric"], held["force_rport"]) == (
        True, False, False)
