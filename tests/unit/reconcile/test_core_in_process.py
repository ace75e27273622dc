"""The reconcile core in one process: a small fake Kube, Bolna behind httpx.MockTransport.

Fast checks of the decisions the real-parts tests (tests/integration) cover end to end:
what is reported, which Events go out, which Bolna calls are made, for each outcome.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import BolnaClient, LimiterRegistry, RateLimiter, RetryPolicy
from bolna_sip_operator.kube import SecretUnavailable, SecretValue
from bolna_sip_operator.reconcile.accounts import Accounts
from bolna_sip_operator.reconcile.deletion import TrunkDeleter
from bolna_sip_operator.reconcile.objects import TrunkObject
from bolna_sip_operator.reconcile.outcomes import RetryLater
from bolna_sip_operator.reconcile.status_owner import StatusOwner
from bolna_sip_operator.reconcile.trunk import (
    FULL_CHECK_ROUNDS,
    FULL_CHECK_SECONDS,
    TrunkReconciler,
    full_check_after,
)
from tests.corpus import USERPASS_SPEC

TOKEN = "in-process-token"


class FakeBolna:
    """Just enough of Bolna's /sip-trunks API, with answers that can be made to fail."""

    def __init__(self) -> None:
        self.trunks: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: list[int | str] = []
        """Statuses (or "lose" for a create applied but its answer lost) for next calls."""
        self.lagging_lists = 0
        """How many lists still leave out the newest trunk (Bolna's list lags its create)."""
        self.patch_ignores: set[str] = set()
        """Fields a PATCH accepts and silently leaves unchanged."""
        self.sparse = False
        """Trunk answers without ``phone_numbers`` (as in Bolna's guide's examples)."""
        self.late_reads = 0
        """Reads of a trunk that still leave out a number just added."""
        self.create_without_id = False
        self.patches: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.calls.append((method, path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"detail": "invalid token"})
        failure = self.fail_next.pop(0) if self.fail_next else None
        if isinstance(failure, int):
            return httpx.Response(failure, json={"detail": f"failure {failure}"})
        parts = path.strip("/").split("/")  # sip-trunks, trunks[, id[, numbers[, nid]]]
        if method == "GET" and len(parts) == 2:
            listed = [self._shown(t) for t in self.trunks.values()]
            if self.lagging_lists > 0:
                self.lagging_lists -= 1
                listed = listed[:-1]
            return httpx.Response(200, json=listed)
        if method == "POST" and len(parts) == 2 and any(
                t["name"] == json.loads(request.content)["name"] for t in self.trunks.values()):
            return httpx.Response(409, json={"detail": "a trunk with this name exists"})
        if method == "POST" and len(parts) == 2:
            body = json.loads(request.content)
            trunk_id = f"T{next(self._ids)}"
            numbers = [{"id": f"N{next(self._ids)}", **n}
                       for n in body.pop("phone_numbers", [])]
            body.pop("auth_password", None)
            self.trunks[trunk_id] = {"id": trunk_id, **body, "is_active": True,
                                     "phone_numbers": numbers}
            if failure == "lose":
                raise httpx.ReadTimeout("answer lost", request=request)
            if self.create_without_id:
                return httpx.Response(201, json={"name": body["name"]})
            return httpx.Response(201, json=self._shown(self.trunks[trunk_id]))
        trunk = self.trunks.get(parts[2]) if len(parts) > 2 else None
        if trunk is None:
            return httpx.Response(404, json={"detail": "no such trunk"})
        if len(parts) == 4 and method == "GET":
            return httpx.Response(200, json=self._numbers(trunk))
        if len(parts) == 4 and method == "POST":
            number = {"id": f"N{next(self._ids)}", **json.loads(request.content),
                      "late": self.late_reads}
            trunk["phone_numbers"].append(number)
            return httpx.Response(201, json={k: v for k, v in number.items() if k != "late"})
        if len(parts) == 5 and method == "DELETE":
            trunk["phone_numbers"] = [n for n in trunk["phone_numbers"] if n["id"] != parts[4]]
            return httpx.Response(204)
        if method == "GET":
            return httpx.Response(200, json=self._shown(trunk))
        if method == "PATCH":
            update = json.loads(request.content)
            update.pop("auth_password", None)
            self.patches.append(update)
            trunk.update({k: v for k, v in update.items() if k not in self.patch_ignores})
            return httpx.Response(200, json=self._shown(trunk))
        if method == "DELETE":
            del self.trunks[parts[2]]
            return httpx.Response(204)
        return httpx.Response(405)

    def _numbers(self, trunk: dict[str, Any]) -> list[dict[str, Any]]:
        shown = []
        for number in trunk["phone_numbers"]:
            if number.get("late", 0) > 0:
                number["late"] -= 1
                continue
            shown.append({k: v for k, v in number.items() if k != "late"})
        return shown

    def _shown(self, trunk: dict[str, Any]) -> dict[str, Any]:
        answer = {k: v for k, v in trunk.items() if k != "phone_numbers"}
        if not self.sparse:
            answer["phone_numbers"] = self._numbers(trunk)
        return answer


@dataclass
class FakeKube:
    """Secrets, annotations and status in memory."""

    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    annotations: dict[str, dict[str, str | None]] = field(default_factory=dict)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    secret_reads: int = 0

    async def secret_key(self, namespace: str, name: str, key: str, *,
                         max_age: float = 0.0) -> SecretValue:
        self.secret_reads += 1
        data = self.secrets.get((namespace, name))
        if data is None or key not in data:
            raise SecretUnavailable(namespace, name, key, "not found")
        return SecretValue(SecretStr(data[key]), f"{name}/1")

    async def patch_annotations(self, namespace: str, name: str,
                                annotations: dict[str, str | None], **_: Any) -> None:
        self.annotations.setdefault(name, {}).update(annotations)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                           **_: Any) -> None:
        stored = self.status.setdefault(name, {})
        for key, value in status.items():
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value


@dataclass
class Core:
    bolna: FakeBolna
    kube: FakeKube
    owner: StatusOwner
    reconciler: TrunkReconciler
    deleter: TrunkDeleter
    accounts: Accounts
    events: list[tuple[str, str, str]]

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        return next(c for c in self.kube.status[name]["conditions"] if c["type"] == type_)


def _core() -> Core:
    bolna, kube = FakeBolna(), FakeKube()
    kube.secrets[("team", "twilio-sip")] = {"password": "pw-1"}
    events: list[tuple[str, str, str]] = []

    def client(token: SecretStr) -> BolnaClient:
        return BolnaClient(token, base_url="http://bolna.invalid",
                           transport=httpx.MockTransport(bolna.handle),
                           retry=RetryPolicy(max_attempts=1),
                           limiters=LimiterRegistry(lambda: RateLimiter(rate_per_minute=6000)))

    owner = StatusOwner(kube, edge_managed=False)
    accounts = Accounts(client, SecretStr(TOKEN))

    def post(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        events.append((type_, reason, message))

    return Core(bolna, kube, owner, TrunkReconciler(kube, accounts, owner, post),
                TrunkDeleter(kube, accounts, owner, post), accounts, events)


def _trunk(generation: int = 1, **spec: Any) -> TrunkObject:
    return TrunkObject(namespace="team", name="twilio", uid="uid-1", generation=generation,
                       spec={**USERPASS_SPEC, **spec}, annotations={}, status={})


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_create_reports_synced_with_the_marker_written_first() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    [trunk_id] = core.bolna.trunks
    status = core.kube.status["twilio"]
    assert status["trunkId"] == trunk_id and "createStartedAt" not in status
    assert status["observedGeneration"] == 1
    assert core.condition("twilio", "Ready")["status"] == "True"
    assert core.kube.annotations["twilio"]["sip.bolna.ai/trunk-id"] == trunk_id
    assert [e[1] for e in core.events] == ["Created"]


def test_a_lost_create_answer_is_found_by_name_not_created_twice() -> None:
    core = _core()
    core.bolna.fail_next = ["lose"]
    with pytest.raises(RetryLater):
        _run(core.reconciler.reconcile(_trunk()))
    assert core.condition("twilio", "Reconciling")["reason"] == "AnswerLost"
    assert "createStartedAt" in core.kube.status["twilio"]
    _run(core.reconciler.reconcile(_trunk()))
    assert len(core.bolna.trunks) == 1
    assert "Recovered" in [e[1] for e in core.events]
    assert core.condition("twilio", "Ready")["status"] == "True"


def test_a_5xx_is_retried_and_shows_as_reconciling_for_the_new_generation() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    core.bolna.fail_next = [503]
    with pytest.raises(RetryLater):
        _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0)))
    status = core.kube.status["twilio"]
    assert status["observedGeneration"] == 2
    reconciling = core.condition("twilio", "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "BolnaUnavailable")
    assert "503" in reconciling["message"]
    _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0)))
    reasons = [e[1] for e in core.events]
    assert "Updated" in reasons and "DriftCorrected" not in reasons


def test_drift_is_only_a_difference_found_while_in_sync() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    [trunk] = core.bolna.trunks.values()
    trunk["qualify_frequency"] = 99  # changed in Bolna's dashboard
    _run(core.reconciler.reconcile(_trunk(), drift_check=True, max_age=0.0))
    assert core.events[-1][1] == "DriftCorrected"
    assert trunk["qualify_frequency"] == USERPASS_SPEC.get("qualifyFrequency", 60)


def test_an_unchanged_trunk_is_confirmed_by_its_record_alone() -> None:
    core = _core()
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))  # a full check
    reads, calls, status = core.kube.secret_reads, len(core.bolna.calls), \
        json.dumps(core.kube.status, sort_keys=True)
    for _ in range(5):  # the next rounds, within the account list's age
        _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
        assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0))
    assert core.kube.secret_reads == reads, "no Secret is read for an unchanged trunk"
    assert len(core.bolna.calls) == calls, "the account's list answers every check"
    assert json.dumps(core.kube.status, sort_keys=True) == status
    assert core.condition("twilio", "Ready")["status"] == "True"


def test_a_trunk_listed_without_its_numbers_is_never_confirmed_by_its_record() -> None:
    core = _core()
    core.bolna.sparse = True  # lists leave the numbers out, as in Bolna's guide
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    calls = len(core.bolna.calls)
    reads = core.kube.secret_reads
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert any(path.endswith("/numbers") for _, path in core.bolna.calls[calls:]), (
        "the numbers are asked for: the list alone cannot show a number gone")
    assert core.kube.secret_reads > reads, "a full check, every round"


def test_a_change_in_bolna_after_quiet_rounds_is_still_drift() -> None:
    core = _core()
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=0.0))
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=0.0))
    [trunk] = core.bolna.trunks.values()
    trunk["qualify_frequency"] = 99  # changed in Bolna's dashboard
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=0.0))
    assert core.events[-1][1] == "DriftCorrected"
    assert trunk["qualify_frequency"] == USERPASS_SPEC.get("qualifyFrequency", 60)


def test_the_drift_loop_confirms_a_quiet_trunk_until_the_next_list_differs() -> None:
    core = _core()
    now = [0.0]
    core.reconciler._clock = lambda: now[0]
    core.reconciler.accounts.snapshots._clock = lambda: now[0]
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    assert not _run(core.reconciler.confirm_quiet(obj, max_age=60.0)), "no full check yet"
    now[0] = 1.0  # a list asked for after the create
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    calls = len(core.bolna.calls)
    assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0))
    now[0] = 62.0
    assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0)), "an equal new list"
    assert len(core.bolna.calls) == calls + 1, "one list, no other call"
    [trunk] = core.bolna.trunks.values()
    trunk["qualify_frequency"] = 99  # changed in Bolna's dashboard
    now[0] = 123.0
    assert not _run(core.reconciler.confirm_quiet(obj, max_age=60.0)), "a full check follows"
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.events[-1][1] == "DriftCorrected"


def test_a_full_check_runs_again_after_its_rounds_and_after_any_change() -> None:
    core = _core()
    now = [0.0]
    core.reconciler._clock = lambda: now[0]
    core.reconciler.accounts.snapshots._clock = lambda: now[0]
    core.reconciler.refresh_age = 60.0  # the drift interval, as the operator sets it
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))  # the full check the rounds count from
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    reads = core.kube.secret_reads
    due = full_check_after(obj.uid, 60.0)
    now[0] = due - 1
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.kube.secret_reads == reads
    now[0] = due
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.kube.secret_reads > reads, "a full check reads the Secrets again"
    reads = core.kube.secret_reads
    now[0] += 61.0
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.kube.secret_reads == reads
    _run(core.reconciler.reconcile(obj))  # an event (a Secret, the spec): a full run
    reads = core.kube.secret_reads
    now[0] += 61.0  # the next list
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.kube.secret_reads == reads, "that run was the full check"


def test_the_first_list_after_a_create_is_compared_with_what_the_create_left() -> None:
    core = _core()
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    reads, calls = core.kube.secret_reads, len(core.bolna.calls)
    assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0)), "the list shows the same"
    assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0))
    assert core.kube.secret_reads == reads and len(core.bolna.calls) == calls + 1


def test_a_change_in_bolna_right_after_a_create_is_drift() -> None:
    core = _core()
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    [trunk] = core.bolna.trunks.values()
    trunk["qualify_frequency"] = 99  # changed in Bolna's dashboard before any list
    assert not _run(core.reconciler.confirm_quiet(obj, max_age=60.0))
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.events[-1][1] == "DriftCorrected"
    assert trunk["qualify_frequency"] == USERPASS_SPEC.get("qualifyFrequency", 60)


def test_a_refused_token_stalls_once_and_the_drift_check_leaves_it() -> None:
    core = _core()
    core.kube.secrets[("team", "wrong")] = {"token": "not-the-token"}
    obj = _trunk(apiTokenSecretRef={"name": "wrong", "key": "token"})
    _run(core.reconciler.reconcile(obj))  # permanent: no RetryLater
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "Unauthorized")
    assert core.kube.status["twilio"]["observedGeneration"] == 1
    calls = len(core.bolna.calls)
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=0.0))
    assert len(core.bolna.calls) == calls, "a stalled generation is not retried"
    assert [e[:2] for e in core.events] == [("Warning", "Unauthorized")]


def test_finalize_deletes_even_when_the_stored_spec_no_longer_validates() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    broken = _trunk(transport="carrier-pigeon", mediaEncryption=7)
    broken.deleting = True
    _run(core.deleter.finalize(broken))
    assert core.bolna.trunks == {}
    assert core.events[-1][1] == "Deleted"


def test_finalize_needs_no_password_and_remembers_the_token() -> None:
    core = _core()
    core.kube.secrets[("team", "bolna")] = {"token": TOKEN}
    obj = _trunk(apiTokenSecretRef={"name": "bolna", "key": "token"})
    _run(core.reconciler.reconcile(obj))
    core.kube.secrets.clear()  # kubectl delete -f: the Secrets went first
    _run(core.deleter.finalize(obj))
    assert core.bolna.trunks == {}


def test_a_refused_delete_is_reported_and_keeps_the_finalizer() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    core.bolna.fail_next = [403]
    with pytest.raises(RetryLater) as raised:
        _run(core.deleter.finalize(_trunk()))
    assert raised.value.reason == "Unauthorized"
    assert core.condition("twilio", "Ready")["reason"] == "Deleting"
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "Unauthorized")
    assert core.events[-1][:2] == ("Warning", "Unauthorized")
    assert len(core.bolna.trunks) == 1


def test_a_lost_create_and_a_lagging_list_end_in_one_trunk_not_a_conflict() -> None:
    core = _core()
    core.bolna.fail_next = ["lose"]
    core.bolna.lagging_lists = 2
    with pytest.raises(RetryLater):
        _run(core.reconciler.reconcile(_trunk()))
    # The list does not show it yet: look again, do not create.
    with pytest.raises(RetryLater) as raised:
        _run(core.reconciler.reconcile(_trunk()))
    assert raised.value.reason == "CreatePending"
    assert [m for m, _ in core.bolna.calls].count("POST") == 1
    with pytest.raises(RetryLater):
        _run(core.reconciler.reconcile(_trunk()))
    _run(core.reconciler.reconcile(_trunk()))  # the list has caught up
    assert len(core.bolna.trunks) == 1
    assert core.condition("twilio", "Ready")["status"] == "True"
    assert "Conflict" not in [e[1] for e in core.events]


def test_name_taken_right_after_our_lost_create_is_looked_for_not_a_conflict() -> None:
    core = _core()
    core.bolna.fail_next = ["lose"]
    with pytest.raises(RetryLater):
        _run(core.reconciler.reconcile(_trunk()))
    # Past the patience for looks, a second create meets our own trunk's name.
    core.bolna.lagging_lists = 1
    core.reconciler._wall_clock = lambda: _later(31)
    with pytest.raises(RetryLater) as raised:
        _run(core.reconciler.reconcile(_trunk()))
    assert raised.value.reason == "CreatePending"
    assert core.condition("twilio", "Stalled")["status"] == "False"
    _run(core.reconciler.reconcile(_trunk()))
    assert len(core.bolna.trunks) == 1
    assert core.condition("twilio", "Ready")["status"] == "True"


def test_the_default_token_only_for_allowed_namespaces() -> None:
    core = _core()
    core.accounts.default_token_namespaces = ("shared-*",)
    _run(core.reconciler.reconcile(_trunk()))
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "NoToken")
    assert core.bolna.calls == []


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# ---- Bolna as it really answers (issue 11) ------------------------------------------


def test_create_only_fields_are_never_patched() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    [trunk] = core.bolna.trunks.values()
    trunk["direct_media"] = True  # changed outside: Bolna cannot change it back
    _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0)))
    assert all(not {"direct_media", "rtp_symmetric", "force_rport"} & set(p)
               for p in core.bolna.patches), core.bolna.patches
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "Conflict")
    assert "direct_media" in stalled["message"]


def test_a_field_bolna_does_not_apply_is_reported_once_and_not_sent_again() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    core.bolna.patch_ignores = {"qualify_frequency"}
    _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0)))
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "NotApplied")
    assert "qualify_frequency" in stalled["message"]
    sent = len(core.bolna.patches)
    for _ in range(3):  # drift checks and Secret changes of the same generation
        _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0),
                                       drift_check=True, max_age=0.0))
        _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0)))
    assert len(core.bolna.patches) == sent, "never sent again for this generation"
    assert core.condition("twilio", "Stalled")["reason"] == "NotApplied"


def test_answers_without_numbers_ask_for_the_numbers() -> None:
    core = _core()
    core.bolna.sparse = True
    spec: dict[str, Any] = {"phoneNumbers": [{"phoneNumber": "+14155550100"}]}
    _run(core.reconciler.reconcile(_trunk(**spec)))
    status = core.kube.status["twilio"]
    assert [n["phoneNumber"] for n in status["phoneNumbers"]] == ["+14155550100"]
    _run(core.reconciler.reconcile(_trunk(generation=2, qualifyFrequency=0, **spec)))
    [trunk] = core.bolna.trunks.values()
    assert len(trunk["phone_numbers"]) == 1, "a number Bolna did not list is not added again"
    assert ("GET", f"/sip-trunks/trunks/{trunk['id']}/numbers") in core.bolna.calls


def test_a_number_that_shows_late_is_not_added_twice() -> None:
    core = _core()
    _run(core.reconciler.reconcile(_trunk()))
    core.bolna.late_reads = 3
    spec: dict[str, Any] = {"phoneNumbers": [{"phoneNumber": "+14155550101"}]}
    _run(core.reconciler.reconcile(_trunk(generation=2, **spec)))
    _run(core.reconciler.reconcile(_trunk(generation=2, **spec), drift_check=True,
                                   max_age=0.0))
    [trunk] = core.bolna.trunks.values()
    assert [n["phone_number"] for n in trunk["phone_numbers"]] == ["+14155550101"]
    assert core.condition("twilio", "Ready")["status"] == "True"


def test_a_create_answer_without_an_id_goes_through_the_create_guard() -> None:
    core = _core()
    core.bolna.create_without_id = True
    with pytest.raises(RetryLater) as raised:
        _run(core.reconciler.reconcile(_trunk()))
    assert raised.value.reason == "AnswerLost"
    core.bolna.create_without_id = False
    _run(core.reconciler.reconcile(_trunk()))
    assert len(core.bolna.trunks) == 1
    assert core.condition("twilio", "Ready")["status"] == "True"


def test_trunks_waiting_for_a_secret_are_found_by_their_reason() -> None:
    core = _core()
    del core.kube.secrets[("team", "twilio-sip")]
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))  # permanent: stalls on the missing Secret
    assert core.owner.with_bolna_reason("SecretNotFound") == ["uid-1"]
    core.kube.secrets[("team", "twilio-sip")] = {"password": "pw-1"}
    _run(core.reconciler.reconcile(obj))
    assert core.owner.with_bolna_reason("SecretNotFound") == []
    assert core.owner.with_bolna_reason("Synced") == ["uid-1"]
    core.owner.forget("uid-1")
    assert core.owner.with_bolna_reason("Synced") == []


def test_the_full_check_net_is_spread_between_its_period_and_half_again() -> None:
    uids = [f"uid-{i}" for i in range(1000)]
    periods = [full_check_after(uid, 60.0) for uid in uids]
    assert min(periods) >= FULL_CHECK_SECONDS and max(periods) <= 1.5 * FULL_CHECK_SECONDS
    assert len({round(p) for p in periods}) > 500, "trunks made together come due apart"
    assert full_check_after("uid-1", 600.0) >= FULL_CHECK_ROUNDS * 600.0
    assert full_check_after("uid-1", 60.0) == full_check_after("uid-1", 60.0)


# ---- a flaky Bolna (issue 24) ----------------------------------------------------------

def _clocked(core: Core) -> list[float]:
    """One clock, in the test's hand, for the reconciler and the account's lists."""
    now = [100.0]
    core.reconciler._clock = lambda: now[0]
    core.accounts.snapshots._clock = lambda: now[0]
    return now


def test_a_failed_drift_check_of_a_trunk_in_sync_leaves_it_ready_and_quiet() -> None:
    core = _core()
    now = _clocked(core)
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    status = json.dumps(core.kube.status, sort_keys=True)
    events = list(core.events)
    for failure in (503, 429, 500):
        now[0] += 61.0  # the next round: the list is stale
        core.bolna.fail_next = [failure]
        _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))  # no raise
        assert json.dumps(core.kube.status, sort_keys=True) == status, failure
    assert core.events == events, "no Event for a check that could not be made"
    assert core.condition("twilio", "Ready")["status"] == "True"
    now[0] += 61.0
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "CONFIRMED"


def test_a_restart_that_cannot_list_leaves_trunks_in_sync_as_they_were() -> None:
    core = _core()
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    written = dict(core.kube.status["twilio"])
    # A new process: the status the last one wrote is all it knows.
    owner = StatusOwner(core.kube, edge_managed=False)
    reconciler = TrunkReconciler(core.kube, Accounts(core.accounts.factory, SecretStr(TOKEN)),
                                 owner, lambda *_: None)
    resumed = TrunkObject(namespace="team", name="twilio", uid="uid-1", generation=1,
                          spec=obj.spec, status=written,
                          annotations={"sip.bolna.ai/trunk-id": written["trunkId"]})
    core.bolna.fail_next = [503]
    _run(reconciler.reconcile(resumed, list_age=60.0))  # no raise: nothing to retry
    assert core.kube.status["twilio"] == written


def test_quiet_now_never_asks_bolna() -> None:
    core = _core()
    now = _clocked(core)
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    calls = len(core.bolna.calls)
    now[0] += 1.0  # a list asked for after the create
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "STALE"
    assert len(core.bolna.calls) == calls, "a stale list is the queue's to wait for"
    assert _run(core.reconciler.confirm_quiet(obj, max_age=60.0))  # the queued run
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "CONFIRMED"
    now[0] += 61.0
    core.bolna.fail_next = [502]
    assert not _run(core.reconciler.confirm_quiet(obj, max_age=60.0))
    calls = len(core.bolna.calls)
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "FAILING"
    now[0] += 2.0  # the failure memory of a first 5xx
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "STALE"
    assert len(core.bolna.calls) == calls


def test_retries_for_the_same_reason_post_one_warning() -> None:
    core = _core()
    now = _clocked(core)
    core.bolna.fail_next = [503, 503, 503, 503]  # the create, then three looks by name
    for _ in range(4):
        with pytest.raises(RetryLater):
            _run(core.reconciler.reconcile(_trunk()))
        now[0] += 5.0
    assert [e[:2] for e in core.events] == [("Warning", "AnswerLost"),
                                            ("Warning", "BolnaUnavailable")]
    assert core.condition("twilio", "Reconciling")["reason"] == "BolnaUnavailable"


def test_a_refused_drift_list_is_no_passing_trouble_the_trunk_stalls() -> None:
    core = _core()
    now = _clocked(core)
    obj = _trunk()
    _run(core.reconciler.reconcile(obj))
    now[0] += 61.0
    core.bolna.fail_next = [403]
    _run(core.reconciler.reconcile(obj, drift_check=True, max_age=60.0))
    stalled = core.condition("twilio", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "Unauthorized")
    assert core.reconciler.quiet_now(obj, max_age=60.0).name == "CHANGED"
