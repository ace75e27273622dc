"""``TrunkApi`` over real HTTP against the project's Bolna emulator (``/trunk`` routes).

What only a real server shows: the calls and bodies as the emulator's strict request
models take them, its answers as the lenient wire reads them (health in both of its
spellings), its errors as the client's typed errors, and the client's retry rules
against real faults: GET, PATCH and DELETE sent again after a 5xx, a POST never sent
twice after its answer was lost (the change made, the connection dropped), and the
SIP password in no error text.

No control plane: one emulator process for the module (loopback only), emptied before
each test.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bolna_emulator.process import EmulatorProcess
from bolna_sip_operator.bolna import (
    BolnaClient,
    BolnaError,
    Conflict,
    LimiterRegistry,
    NotFound,
    RateLimiter,
    Rejected,
    RetryPolicy,
    ServerError,
    TrunkApi,
    UncertainOutcome,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TOKEN = "tok-trunkapi-3c9e71d2-secret"
OTHER_TOKEN = "tok-trunkapi-other-55aa01-secret"
PASSWORD = "pw-trunkapi-CANARY-8e1f"
NAME = "Telnyx production"

ADMIN_CALLS = "/_emulator/trunk/trunks/{trunk_id}/calls"
ADMIN_ACTIVE_CALLS = "/_emulator/trunk/trunks/{trunk_id}/active-calls"
ADMIN_AGENTS = "/_emulator/agents"
"""The emulator's ``/trunk`` admin routes (``bolna_emulator/trunk_routes.py``)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess([TOKEN, OTHER_TOKEN], seed=4321, timeout_seconds=0.3,
                         record_bodies=True) as process:
        yield process


@pytest.fixture
def emulator(emulator_process: EmulatorProcess) -> EmulatorProcess:
    """The module's emulator, emptied: no trunks, empty log, no faults."""
    emulator_process.reset()
    return emulator_process


class Sleeps:
    """The retry policy's sleep: records the waits, sleeps none of them, and runs a hook
    first (a test turns a fault off there, so the retry meets a healthy server)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.hook: Callable[[], object] | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            self.hook()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def api(emulator: EmulatorProcess, sleeps: Sleeps) -> AsyncIterator[TrunkApi]:
    """A ``TrunkApi`` on the emulator with its own rate limiter and instant retries."""
    async with BolnaClient(
            SecretStr(TOKEN), base_url=emulator.url, timeout=5.0, deadline=10.0,
            retry=RetryPolicy(max_attempts=4, jitter="none", sleep=sleeps),
            rate_limiter=RateLimiter(60_000, 1_000),
            limiters=LimiterRegistry()) as client:
        yield TrunkApi(client)


def _admin(emulator: EmulatorProcess, method: str, path: str, body: object,
           token: str = TOKEN) -> Any:
    with httpx.Client(base_url=emulator.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.request(method, path, json=body)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def _record_call(emulator: EmulatorProcess, trunk_id: str, direction: str, *,
                 answered: bool, sip_code: int | None = None) -> None:
    body: dict[str, Any] = {"direction": direction, "answered": answered}
    if sip_code is not None:
        body["sip_code"] = sip_code
    _admin(emulator, "POST", ADMIN_CALLS.format(trunk_id=trunk_id), body)


def _attempts(emulator: EmulatorProcess, method: str, path: str, since: int = 0
              ) -> list[dict[str, Any]]:
    """The request log's entries for one method and path after ``since``, in order."""
    return [entry for entry in emulator.requests(since)
            if entry["method"] == method and entry["path"] == path]


def _mark(emulator: EmulatorProcess) -> int:
    """Where the request log is now (for ``since``)."""
    entries = emulator.requests()
    return entries[-1]["seq"] if entries else 0


def _stored(emulator: EmulatorProcess) -> str:
    """Everything the emulator holds, as text (for "is it there" questions)."""
    return json.dumps(emulator.state())


async def _trunk(api: TrunkApi, name: str = NAME) -> str:
    trunk = await api.create_trunk({"name": name})
    assert trunk.id is not None
    return trunk.id


# A whole life, every call

async def test_a_trunk_through_every_call(api: TrunkApi, emulator: EmulatorProcess) -> None:
    created = await api.create_trunk({
        "name": NAME, "description": "carrier A", "preset": "telnyx",
        "inbound_enabled": True, "outbound_enabled": True, "channels": 20,
        "auth_username": "bolna-outbound"})
    assert created.id is not None
    trunk_id = created.id
    assert (created.name, created.channels, created.preset) == (NAME, 20, "telnyx")
    assert (created.gateways, created.ip_acls, created.numbers) == ([], [], [])
    assert created.is_active is True
    assert created.health is not None and created.health.state == "WaitingForCarrier"
    assert created.active_calls == 0

    updated = await api.update_trunk(
        trunk_id, {"auth_username": "bolna-outbound", "transport": "tcp",
                   "codecs": "PCMA,PCMU", "outbound_leading_plus_enabled": True},
        password=SecretStr(PASSWORD))
    assert (updated.transport, updated.codecs) == ("tcp", "PCMA,PCMU")
    assert updated.codec_list() == ["PCMA", "PCMU"]
    assert updated.outbound_leading_plus_enabled is True
    assert PASSWORD not in updated.model_dump_json()
    assert hashlib.sha256(PASSWORD.encode()).hexdigest() in _stored(emulator)
    assert PASSWORD not in _stored(emulator) + json.dumps(emulator.requests())

    first = await api.add_gateway(trunk_id, "sip.example.com", 5060, 1)
    second = await api.add_gateway(trunk_id, "192.0.2.10", 5080, 2)
    acl = await api.add_ip_acl(trunk_id, "198.51.100.7")
    number = await api.add_number(trunk_id, "+12025550143", "12025550143", None)
    assert (first.host, first.port, first.priority) == ("sip.example.com", 5060, 1)
    assert acl.cidr == "198.51.100.7/32"
    assert number.id is not None and number.agent_id is None and number.is_live

    assigned = await api.assign_agent(number.id, "agent-1")
    assert assigned.agent_id == "agent-1"
    cleared = await api.assign_agent(number.id, None)
    assert cleared.agent_id is None

    read = await api.get_trunk(trunk_id)
    assert [g.id for g in read.gateways or []] == [first.id, second.id]
    assert [a.cidr for a in read.ip_acls or []] == ["198.51.100.7/32"]
    assert [n.e164 for n in read.live_numbers() or []] == ["+12025550143"]
    assert [t.id for t in await api.list_trunks()] == [trunk_id]
    assert (found := await api.find_trunk(NAME)) is not None and found.id == trunk_id
    assert await api.find_trunk("no such trunk") is None
    assert await api.list_calls(trunk_id) == []

    assert first.id is not None and acl.id is not None
    await api.remove_gateway(trunk_id, first.id)
    await api.remove_ip_acl(trunk_id, acl.id)
    await api.remove_number(trunk_id, number.id)
    after = await api.get_trunk(trunk_id)
    assert [g.id for g in after.gateways or []] == [second.id]
    assert (after.ip_acls, after.live_numbers()) == ([], [])

    await api.delete_trunk(trunk_id)
    with pytest.raises(NotFound) as caught:
        await api.get_trunk(trunk_id)
    assert "No live trunk" in caught.value.message
    assert await api.list_trunks() == []


async def test_connection_details(api: TrunkApi) -> None:
    pop = await api.connection_details()
    assert pop.sip_domain == "trunk.bolna.ai"
    assert pop.port == 5060
    assert pop.transports == ["udp", "tcp"]
    assert pop.ips == ["15.252.21.46", "13.206.230.198"]
    assert pop.rtp_ports == "30000-40000"


async def test_connection_details_are_normalised(api: TrunkApi, emulator: EmulatorProcess
                                                 ) -> None:
    emulator.set_faults(trunk_pop_rtp_ports=" 10000 - 20000 ", trunk_pop_transports=["UDP"],
                        trunk_pop_port=5080)
    pop = await api.connection_details()
    assert (pop.rtp_ports, pop.transports, pop.port) == ("10000-20000", ["udp"], 5080)


# Gone counts as done

async def test_removing_what_is_gone_is_done(api: TrunkApi, emulator: EmulatorProcess
                                             ) -> None:
    trunk_id = await _trunk(api)
    gateway = await api.add_gateway(trunk_id, "sip.example.com", 5060, 1)
    acl = await api.add_ip_acl(trunk_id, "198.51.100.0/28")
    number = await api.add_number(trunk_id, "+12025550143", "12025550143", None)
    assert gateway.id is not None and acl.id is not None and number.id is not None
    await api.remove_gateway(trunk_id, gateway.id)
    await api.remove_ip_acl(trunk_id, acl.id)
    await api.remove_number(trunk_id, number.id)
    await api.delete_trunk(trunk_id)
    since = _mark(emulator)

    missing = str(uuid.uuid4())
    await api.remove_gateway(trunk_id, gateway.id)
    await api.remove_ip_acl(trunk_id, acl.id)
    await api.remove_number(trunk_id, number.id)
    await api.delete_trunk(trunk_id)
    await api.delete_trunk(missing)
    answered = [(entry["method"], entry["status"]) for entry in emulator.requests(since)]
    assert answered == [("DELETE", 404)] * 5  # one attempt each, no retry


# Health and active calls, as Bolna's two spellings of health

@pytest.mark.parametrize("labels", [False, True], ids=["api-values", "dashboard-labels"])
async def test_health_follows_the_calls(api: TrunkApi, emulator: EmulatorProcess,
                                        labels: bool) -> None:
    emulator.set_faults(trunk_health_labels=labels)
    trunk_id = await _trunk(api)

    async def health() -> tuple[str, str | None]:
        trunk = await api.get_trunk(trunk_id)
        assert trunk.health is not None
        return trunk.health.state, trunk.health.reported

    assert await health() == (
        "WaitingForCarrier", "Waiting for carrier" if labels else "waiting_for_carrier")
    _record_call(emulator, trunk_id, "inbound", answered=True, sip_code=200)
    assert await health() == ("Healthy", "Healthy" if labels else "healthy")
    for _ in range(3):
        _record_call(emulator, trunk_id, "outbound", answered=False, sip_code=503)
    assert await health() == ("Degraded", "Degraded" if labels else "degraded")
    _record_call(emulator, trunk_id, "outbound", answered=True, sip_code=200)
    assert (await health())[0] == "Healthy"
    await api.update_trunk(trunk_id, {"is_active": False})
    assert await health() == ("Disabled", "Disabled" if labels else "disabled")

    calls = await api.list_calls(trunk_id)
    assert [c.outcome for c in calls] == ["answered", "failed", "failed", "failed",
                                          "answered"]
    assert calls[1].sip_code == 503 and calls[0].direction == "outbound"
    outbound = await api.list_calls(trunk_id, "outbound")
    assert len(outbound) == 4 and {c.direction for c in outbound} == {"outbound"}
    assert all(c.execution_id for c in calls)


async def test_active_calls(api: TrunkApi, emulator: EmulatorProcess) -> None:
    trunk_id = await _trunk(api)
    _admin(emulator, "PUT", ADMIN_ACTIVE_CALLS.format(trunk_id=trunk_id), {"active_calls": 4})
    assert (await api.get_trunk(trunk_id)).active_calls == 4
    (listed,) = await api.list_trunks()
    assert listed.active_calls == 4


# Bolna's refusals as typed errors

async def test_refusals_are_typed(api: TrunkApi, emulator: EmulatorProcess) -> None:
    trunk_id = await _trunk(api)
    with pytest.raises(Conflict):
        await api.create_trunk({"name": NAME})
    for port in range(5060, 5068):
        await api.add_gateway(trunk_id, "sip.example.com", port, 1)
    with pytest.raises(Rejected) as ninth:
        await api.add_gateway(trunk_id, "sip.example.com", 5070, 1)
    assert "at most 8 gateways" in ninth.value.message
    await api.add_ip_acl(trunk_id, "198.51.100.0/28")
    with pytest.raises(Conflict):
        await api.add_ip_acl(trunk_id, "198.51.100.3/28")
    with pytest.raises(Rejected):
        await api.add_ip_acl(trunk_id, "not-an-address")
    await api.add_number(trunk_id, "+12025550143", "12025550143", None)
    other = await _trunk(api, "Plivo")
    with pytest.raises(Conflict):
        await api.add_number(other, "+12025550143", "12025550143", None)
    with pytest.raises(Rejected):
        await api.update_trunk(trunk_id, {"codecs": "PCMU,PCMU"})
    with pytest.raises(Rejected):
        await api.create_trunk({"name": "inline", "gateways": []})
    _admin(emulator, "PUT", ADMIN_AGENTS, {"agents": ["agent-1"]})
    with pytest.raises(Rejected) as agent:
        await api.add_number(trunk_id, "+12025550199", "12025550199", "agent-2")
    assert "agents" in agent.value.message
    with pytest.raises(NotFound):
        await api.add_gateway(str(uuid.uuid4()), "sip.example.com", 5060, 1)


async def test_another_accounts_trunk_is_not_found(api: TrunkApi, emulator: EmulatorProcess
                                                   ) -> None:
    trunk_id = await _trunk(api)
    async with BolnaClient(SecretStr(OTHER_TOKEN), base_url=emulator.url,
                           limiters=LimiterRegistry()) as client:
        other = TrunkApi(client)
        assert await other.list_trunks() == []
        with pytest.raises(NotFound):
            await other.get_trunk(trunk_id)


# The password

async def test_the_password_is_in_no_error_text(api: TrunkApi, emulator: EmulatorProcess
                                                ) -> None:
    trunk_id = await _trunk(api)
    refusals: list[BolnaError] = []
    for body in ({"auth_username": "u", "codecs": "G729"},
                 {"auth_username": "u", "transport": "tls"},
                 {"auth_username": "u", "channels": 0},
                 {"auth_username": "u", "unknown_field": PASSWORD}):
        with pytest.raises(Rejected) as caught:
            await api.update_trunk(trunk_id, body, password=SecretStr(PASSWORD))
        refusals.append(caught.value)
    emulator.set_faults(error_rate=1.0)
    with pytest.raises(ServerError) as failed:
        await api.update_trunk(trunk_id, {"auth_username": "u"}, password=SecretStr(PASSWORD))
    refusals.append(failed.value)
    for error in refusals:
        for text in (str(error), repr(error), error.message, *map(str, error.args)):
            assert PASSWORD not in text
    sent = [entry["body"] for entry in emulator.request_bodies()
            if entry["method"] == "PATCH"]
    assert len(sent) == 4 + 4  # the 5xx PATCH was tried max_attempts times
    assert all(body["auth_password"] == "REDACTED" for body in sent)


# Faults: what is sent again and what never is

Call = Callable[[TrunkApi, str], Awaitable[object]]

SAFE_TO_REPEAT: list[tuple[str, str, Call, str]] = [
    ("list_trunks", "GET", lambda api, t: api.list_trunks(), "/trunk/trunks"),
    ("get_trunk", "GET", lambda api, t: api.get_trunk(t), "/trunk/trunks/{t}"),
    ("list_calls", "GET", lambda api, t: api.list_calls(t), "/trunk/trunks/{t}/calls"),
    ("connection_details", "GET", lambda api, t: api.connection_details(), "/trunk/pop"),
    ("update_trunk", "PATCH", lambda api, t: api.update_trunk(t, {"channels": 7}),
     "/trunk/trunks/{t}"),
    ("delete_trunk", "DELETE", lambda api, t: api.delete_trunk(t), "/trunk/trunks/{t}"),
]


@pytest.mark.parametrize(("name", "method", "call", "path"), SAFE_TO_REPEAT,
                         ids=[name for name, *_ in SAFE_TO_REPEAT])
async def test_get_patch_and_delete_are_sent_again_after_a_5xx(
        api: TrunkApi, emulator: EmulatorProcess, sleeps: Sleeps, name: str, method: str,
        call: Call, path: str) -> None:
    trunk_id = await _trunk(api)
    since = _mark(emulator)
    emulator.set_faults(error_rate=1.0)
    sleeps.hook = lambda: emulator.set_faults(error_rate=0.0)
    await call(api, trunk_id)
    attempts = _attempts(emulator, method, path.format(t=trunk_id), since)
    assert [entry["fault"] for entry in attempts] == ["error", None]
    assert attempts[0]["status"] in (500, 502, 503) and attempts[1]["status"] == 200
    assert len(sleeps.waits) == 1


async def test_a_patch_after_its_answer_was_lost_is_sent_again(
        api: TrunkApi, emulator: EmulatorProcess, sleeps: Sleeps) -> None:
    trunk_id = await _trunk(api)
    emulator.set_faults(drop_after_commit_rate=1.0)
    sleeps.hook = lambda: emulator.set_faults(drop_after_commit_rate=0.0)
    trunk = await api.update_trunk(trunk_id, {"channels": 7})
    assert trunk.channels == 7
    path = f"/trunk/trunks/{trunk_id}"
    assert [e["fault"] for e in _attempts(emulator, "PATCH", path)] == [
        "drop-after-commit", None]


async def test_a_delete_whose_answer_was_lost_is_done(
        api: TrunkApi, emulator: EmulatorProcess, sleeps: Sleeps) -> None:
    trunk_id = await _trunk(api)
    emulator.set_faults(drop_after_commit_rate=1.0)
    sleeps.hook = lambda: emulator.set_faults(drop_after_commit_rate=0.0)
    await api.delete_trunk(trunk_id)
    attempts = _attempts(emulator, "DELETE", f"/trunk/trunks/{trunk_id}")
    assert [(e["fault"], e["status"]) for e in attempts] == [
        ("drop-after-commit", None), (None, 404)]


POSTS: list[tuple[str, Call, str]] = [
    ("create_trunk", lambda api, t: api.create_trunk({"name": "second"}), "/trunk/trunks"),
    ("add_gateway", lambda api, t: api.add_gateway(t, "sip.example.com", 5060, 1),
     "/trunk/trunks/{t}/gateways"),
    ("add_ip_acl", lambda api, t: api.add_ip_acl(t, "198.51.100.0/28"),
     "/trunk/trunks/{t}/ip-acls"),
    ("add_number", lambda api, t: api.add_number(t, "+12025550143", "12025550143", None),
     "/trunk/trunks/{t}/numbers"),
]


@pytest.mark.parametrize(("name", "call", "path"), POSTS, ids=[name for name, *_ in POSTS])
async def test_a_post_whose_answer_was_dropped_is_never_sent_again(
        api: TrunkApi, emulator: EmulatorProcess, sleeps: Sleeps, name: str, call: Call,
        path: str) -> None:
    trunk_id = await _trunk(api)
    since = _mark(emulator)
    emulator.set_faults(drop_after_commit_rate=1.0)
    with pytest.raises(UncertainOutcome):
        await call(api, trunk_id)
    emulator.set_faults(drop_after_commit_rate=0.0)
    attempts = _attempts(emulator, "POST", path.format(t=trunk_id), since)
    assert [e["fault"] for e in attempts] == ["drop-after-commit"]
    assert sleeps.waits == []
    # It was applied: reading shows it once, which is what the caller does next.
    trunk = await api.get_trunk(trunk_id)
    made = {"create_trunk": len(await api.list_trunks()) - 1,
            "add_gateway": len(trunk.gateways or []),
            "add_ip_acl": len(trunk.ip_acls or []),
            "add_number": len(trunk.live_numbers() or [])}
    assert made[name] == 1


@pytest.mark.parametrize(("name", "call", "path"), POSTS, ids=[name for name, *_ in POSTS])
async def test_a_post_that_met_a_5xx_is_never_sent_again(
        api: TrunkApi, emulator: EmulatorProcess, sleeps: Sleeps, name: str, call: Call,
        path: str) -> None:
    trunk_id = await _trunk(api)
    since = _mark(emulator)
    emulator.set_faults(error_rate=1.0)
    with pytest.raises(UncertainOutcome):
        await call(api, trunk_id)
    emulator.set_faults(error_rate=0.0)
    attempts = _attempts(emulator, "POST", path.format(t=trunk_id), since)
    assert [e["fault"] for e in attempts] == ["error"]
    assert sleeps.waits == []


async def test_a_post_that_timed_out_is_never_sent_again(
        emulator: EmulatorProcess, sleeps: Sleeps) -> None:
    async with BolnaClient(
            SecretStr(TOKEN), base_url=emulator.url, timeout=5.0, deadline=10.0,
            retry=RetryPolicy(max_attempts=4, jitter="none", sleep=sleeps),
            limiters=LimiterRegistry()) as client:
        api = TrunkApi(client)
        emulator.set_faults(timeout_rate=1.0)  # held 0.3 s, then closed unanswered
        with pytest.raises(UncertainOutcome):
            await api.create_trunk({"name": NAME})
    assert [e["fault"] for e in _attempts(emulator, "POST", "/trunk/trunks")] == ["timeout"]
    assert sleeps.waits == []


async def test_a_post_refused_429_is_sent_again(api: TrunkApi, emulator: EmulatorProcess,
                                                sleeps: Sleeps) -> None:
    emulator.set_faults(burst_429=1)
    trunk = await api.create_trunk({"name": NAME})
    assert trunk.id is not None
    assert [e["status"] for e in _attempts(emulator, "POST", "/trunk/trunks")] == [429, 200]
    assert len(await api.list_trunks()) == 1
