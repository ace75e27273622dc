"""``TrunkApi`` over a scripted Bolna: the ``/trunk`` paths and bodies, the answers it
takes, and the client's rules held for these paths (POSTs never sent twice after an
uncertain outcome, GET/PATCH/DELETE retried, "gone" as done, the password kept out of
every error)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import (
    BolnaClient,
    BolnaError,
    NotFound,
    Rejected,
    RetryPolicy,
    ServerError,
    TrunkApi,
    UncertainOutcome,
    UnexpectedResponse,
)

from .conftest import PASSWORD, TOKEN, FakeClock, ScriptedBolna, reply

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., BolnaClient]

TRUNK_ID = "3f2b8c1e-6d4a-4f7b-9e2c-1a5d7b9c0e21"
TRUNK = {"id": TRUNK_ID, "name": "Telnyx production", "channels": 10, "gateways": [],
         "ip_acls": [], "numbers": [], "health": "waiting_for_carrier", "active_calls": 0}
GATEWAY = {"id": "g1", "host": "sip.example.com", "port": 5060, "priority": 1}
ACL = {"id": "a1", "cidr": "198.51.100.0/28"}
NUMBER = {"id": "n1", "trunk_id": TRUNK_ID, "e164": "+12025550143",
          "destination_key": "12025550143", "agent_id": None, "is_deleted": False}

PostCall = Callable[[TrunkApi], Awaitable[object]]

POSTS: list[tuple[str, PostCall, dict[str, Any]]] = [
    ("create_trunk", lambda api: api.create_trunk({"name": "Telnyx production"}), TRUNK),
    ("add_gateway", lambda api: api.add_gateway(TRUNK_ID, "sip.example.com", 5060, 1),
     GATEWAY),
    ("add_ip_acl", lambda api: api.add_ip_acl(TRUNK_ID, "198.51.100.0/28"), ACL),
    ("add_number", lambda api: api.add_number(TRUNK_ID, "+12025550143", "12025550143",
                                              None), NUMBER),
]
POST_IDS = [name for name, _, _ in POSTS]

REMOVES: list[tuple[str, Callable[[TrunkApi], Awaitable[None]], str]] = [
    ("delete_trunk", lambda api: api.delete_trunk(TRUNK_ID), f"/trunk/trunks/{TRUNK_ID}"),
    ("remove_gateway", lambda api: api.remove_gateway(TRUNK_ID, "g1"),
     f"/trunk/trunks/{TRUNK_ID}/gateways/g1"),
    ("remove_ip_acl", lambda api: api.remove_ip_acl(TRUNK_ID, "a1"),
     f"/trunk/trunks/{TRUNK_ID}/ip-acls/a1"),
    ("remove_number", lambda api: api.remove_number(TRUNK_ID, "n1"),
     f"/trunk/trunks/{TRUNK_ID}/numbers/n1"),
]
REMOVE_IDS = [name for name, _, _ in REMOVES]

NOT_FOUND = reply(404, {"detail": f"No live trunk with id {TRUNK_ID}"})


def _sent(request: httpx.Request) -> Any:
    return json.loads(request.content)


# The calls: paths, bodies, answers

async def test_every_call_goes_to_its_path_with_its_body(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(
        reply(200, [TRUNK]), reply(200, TRUNK), reply(200, TRUNK), reply(200, TRUNK),
        reply(200, GATEWAY), reply(200, ACL), reply(200, NUMBER), reply(200, NUMBER),
        reply(200, [{"execution_id": "e1", "direction": "inbound", "outcome": "answered",
                     "sip_code": 200}]),
        reply(200, {"sip_domain": "trunk.bolna.ai", "port": 5060, "rtp_ports": "30000-40000"}))
    async with make_client(bolna) as client:
        api = TrunkApi(client)
        trunks = await api.list_trunks()
        await api.get_trunk(TRUNK_ID)
        created = await api.create_trunk({"name": "Telnyx production", "channels": 10})
        await api.update_trunk(TRUNK_ID, {"is_active": False, "description": None})
        gateway = await api.add_gateway(TRUNK_ID, "sip.example.com", 5061, 2)
        acl = await api.add_ip_acl(TRUNK_ID, "198.51.100.0/28")
        number = await api.add_number(TRUNK_ID, "+12025550143", "12025550143", "agent-1")
        assigned = await api.assign_agent("n1", None)
        calls = await api.list_calls(TRUNK_ID, "inbound")
        pop = await api.connection_details()
    seen = [(r.method, r.url.path) for r in bolna.requests]
    assert seen == [
        ("GET", "/trunk/trunks"),
        ("GET", f"/trunk/trunks/{TRUNK_ID}"),
        ("POST", "/trunk/trunks"),
        ("PATCH", f"/trunk/trunks/{TRUNK_ID}"),
        ("POST", f"/trunk/trunks/{TRUNK_ID}/gateways"),
        ("POST", f"/trunk/trunks/{TRUNK_ID}/ip-acls"),
        ("POST", f"/trunk/trunks/{TRUNK_ID}/numbers"),
        ("PATCH", "/trunk/numbers/n1"),
        ("GET", f"/trunk/trunks/{TRUNK_ID}/calls"),
        ("GET", "/trunk/pop"),
    ]
    assert [_sent(r) for r in bolna.requests if r.content] == [
        {"name": "Telnyx production", "channels": 10},
        {"is_active": False, "description": None},
        {"host": "sip.example.com", "port": 5061, "priority": 2},
        {"cidr": "198.51.100.0/28"},
        {"e164": "+12025550143", "destination_key": "12025550143", "agent_id": "agent-1"},
        {"agent_id": None},
    ]
    assert bolna.requests[8].url.params["direction"] == "inbound"
    assert bolna.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert [t.id for t in trunks] == [TRUNK_ID] and created.id == TRUNK_ID
    assert (gateway.id, acl.id, number.id, assigned.id) == ("g1", "a1", "n1", "n1")
    assert calls[0].execution_id == "e1" and pop.rtp_ports == "30000-40000"
    assert client.counts.calls["trunk.create_trunk"] == 1
    assert client.counts.calls["create_trunk"] == 0  # the /sip-trunks call is not counted


async def test_a_number_without_an_agent_leaves_agent_id_out(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, NUMBER))
    async with make_client(bolna) as client:
        await TrunkApi(client).add_number(TRUNK_ID, "+12025550143", "12025550143", None)
    assert bolna.body() == {"e164": "+12025550143", "destination_key": "12025550143"}


async def test_calls_without_a_direction_send_no_query(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, {"calls": []}))
    async with make_client(bolna) as client:
        assert await TrunkApi(client).list_calls(TRUNK_ID) == []
    assert bolna.requests[0].url.query == b""


async def test_ids_are_quoted_into_one_path_segment(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, TRUNK), reply(200, NUMBER))
    async with make_client(bolna) as client:
        api = TrunkApi(client)
        await api.get_trunk("../x y")
        await api.assign_agent("a/b?c", "agent")
    assert bolna.requests[0].url.raw_path == b"/trunk/trunks/..%2Fx%20y"
    assert bolna.requests[1].url.raw_path == b"/trunk/numbers/a%2Fb%3Fc"


@pytest.mark.parametrize("answer", [
    [TRUNK], {"trunks": [TRUNK]}, {"data": [TRUNK], "total": 1}, {"items": [TRUNK]},
], ids=["bare", "trunks", "data", "items"])
async def test_the_list_is_read_bare_or_wrapped(make_client: MakeClient, answer: Any) -> None:
    async with make_client(ScriptedBolna(reply(200, answer))) as client:
        trunks = await TrunkApi(client).list_trunks()
    assert [t.name for t in trunks] == ["Telnyx production"]


async def test_find_trunk_by_exact_name(make_client: MakeClient) -> None:
    other = {**TRUNK, "id": "t2", "name": "Plivo"}
    bolna = ScriptedBolna(reply(200, [other, TRUNK]))
    async with make_client(bolna) as client:
        api = TrunkApi(client)
        assert (found := await api.find_trunk("Telnyx production")) is not None
        assert found.id == TRUNK_ID
        assert await api.find_trunk("telnyx production") is None


@pytest.mark.parametrize("status", [200, 201])
async def test_create_takes_200_and_201(make_client: MakeClient, status: int) -> None:
    async with make_client(ScriptedBolna(reply(status, TRUNK))) as client:
        trunk = await TrunkApi(client).create_trunk({"name": "Telnyx production"})
    assert trunk.id == TRUNK_ID


async def test_get_of_a_trunk_not_there_is_not_found(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(NOT_FOUND)
    async with make_client(bolna) as client:
        with pytest.raises(NotFound) as caught:
            await TrunkApi(client).get_trunk(TRUNK_ID)
    assert "No live trunk" in caught.value.message
    assert bolna.methods == ["GET"]


async def test_an_unreadable_list_is_unexpected(make_client: MakeClient) -> None:
    async with make_client(ScriptedBolna(reply(200, {"count": 1}))) as client:
        with pytest.raises(UnexpectedResponse):
            await TrunkApi(client).list_trunks()


# POSTs: never sent twice after an outcome that may have been applied

UNCERTAIN = [
    ("503", lambda: reply(503, {"detail": "unavailable"})),
    ("500", lambda: reply(500, text="Internal Server Error")),
    ("dropped", lambda: httpx.RemoteProtocolError("server disconnected")),
    ("read-timeout", lambda: httpx.ReadTimeout("timed out")),
]


@pytest.mark.parametrize(("name", "post", "answer"), POSTS, ids=POST_IDS)
@pytest.mark.parametrize(("failure_name", "failure"), UNCERTAIN,
                         ids=[name for name, _ in UNCERTAIN])
async def test_a_post_is_never_sent_again_after_an_uncertain_outcome(
        make_client: MakeClient, clock: FakeClock, name: str, post: PostCall,
        answer: dict[str, Any], failure_name: str,
        failure: Callable[[], httpx.Response | Exception]) -> None:
    bolna = ScriptedBolna(failure(), reply(200, answer))
    async with make_client(bolna) as client:
        with pytest.raises(UncertainOutcome) as caught:
            await post(TrunkApi(client))
    assert bolna.methods == ["POST"]
    assert clock.sleeps == []
    assert caught.value.method == "POST"


@pytest.mark.parametrize(("name", "post", "answer"), POSTS, ids=POST_IDS)
@pytest.mark.parametrize("failure", [
    lambda: reply(429, {"detail": "Too many requests"}),
    lambda: httpx.ConnectError("connection refused"),
], ids=["429", "connect-error"])
async def test_a_post_is_sent_again_when_surely_not_applied(
        make_client: MakeClient, name: str, post: PostCall, answer: dict[str, Any],
        failure: Callable[[], httpx.Response | Exception]) -> None:
    bolna = ScriptedBolna(failure(), reply(200, answer))
    async with make_client(bolna) as client:
        await post(TrunkApi(client))
    assert bolna.methods == ["POST", "POST"]
    assert bolna.body(0) == bolna.body(1)


@pytest.mark.parametrize(("name", "post", "answer"), POSTS, ids=POST_IDS)
async def test_a_post_answered_without_an_id_is_uncertain(
        make_client: MakeClient, name: str, post: PostCall, answer: dict[str, Any]) -> None:
    bolna = ScriptedBolna(reply(200, {k: v for k, v in answer.items() if k != "id"}))
    async with make_client(bolna) as client:
        with pytest.raises(UncertainOutcome) as caught:
            await post(TrunkApi(client))
    assert "no id" in str(caught.value)
    assert bolna.methods == ["POST"]


async def test_a_post_answered_with_an_unreadable_body_is_uncertain(
        make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, ["not", "a", "gateway"]))
    async with make_client(bolna) as client:
        with pytest.raises(UncertainOutcome):
            await TrunkApi(client).add_gateway(TRUNK_ID, "sip.example.com", 5060, 1)
    assert bolna.methods == ["POST"]


# GET, PATCH and DELETE: sent again after temporary failures

IDEMPOTENT: list[tuple[str, Callable[[TrunkApi], Awaitable[object]], str, Any]] = [
    ("list_trunks", lambda api: api.list_trunks(), "GET", [TRUNK]),
    ("get_trunk", lambda api: api.get_trunk(TRUNK_ID), "GET", TRUNK),
    ("update_trunk", lambda api: api.update_trunk(TRUNK_ID, {"channels": 5}), "PATCH", TRUNK),
    ("assign_agent", lambda api: api.assign_agent("n1", "agent"), "PATCH", NUMBER),
    ("delete_trunk", lambda api: api.delete_trunk(TRUNK_ID), "DELETE", TRUNK),
    ("remove_gateway", lambda api: api.remove_gateway(TRUNK_ID, "g1"), "DELETE", GATEWAY),
    ("connection_details", lambda api: api.connection_details(), "GET", {}),
    ("list_calls", lambda api: api.list_calls(TRUNK_ID), "GET", []),
]


@pytest.mark.parametrize(("name", "call", "method", "answer"), IDEMPOTENT,
                         ids=[name for name, *_ in IDEMPOTENT])
async def test_get_patch_and_delete_are_sent_again_after_5xx_and_drops(
        make_client: MakeClient, clock: FakeClock, name: str,
        call: Callable[[TrunkApi], Awaitable[object]], method: str, answer: Any) -> None:
    bolna = ScriptedBolna(reply(503, {"detail": "unavailable"}), reply(502, text="Bad Gateway"),
                          httpx.RemoteProtocolError("dropped"), reply(200, answer))
    async with make_client(bolna) as client:
        await call(TrunkApi(client))
    assert bolna.methods == [method] * 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


async def test_exhausted_retries_raise_the_last_server_error(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(500, {"detail": "boom"}))
    async with make_client(bolna, retry=RetryPolicy(max_attempts=3, jitter="none",
                                                    sleep=FakeClock().sleep)) as client:
        with pytest.raises(ServerError):
            await TrunkApi(client).update_trunk(TRUNK_ID, {"channels": 5})
    assert bolna.methods == ["PATCH"] * 3


async def test_a_list_without_retry_is_one_attempt(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(503, {"detail": "unavailable"}), reply(200, [TRUNK]))
    async with make_client(bolna) as client:
        with pytest.raises(ServerError):
            await TrunkApi(client).list_trunks(retry=False)
    assert bolna.methods == ["GET"]


# DELETE: gone counts as done

@pytest.mark.parametrize(("name", "remove", "path"), REMOVES, ids=REMOVE_IDS)
async def test_a_delete_of_something_gone_is_done(
        make_client: MakeClient, name: str, remove: Callable[[TrunkApi], Awaitable[None]],
        path: str) -> None:
    bolna = ScriptedBolna(NOT_FOUND)
    async with make_client(bolna) as client:
        await remove(TrunkApi(client))  # returns normally
    assert [(r.method, r.url.path) for r in bolna.requests] == [("DELETE", path)]


@pytest.mark.parametrize(("name", "remove", "path"), REMOVES, ids=REMOVE_IDS)
async def test_a_delete_gone_after_a_lost_answer_is_done(
        make_client: MakeClient, name: str, remove: Callable[[TrunkApi], Awaitable[None]],
        path: str) -> None:
    bolna = ScriptedBolna(httpx.RemoteProtocolError("dropped"), NOT_FOUND)
    async with make_client(bolna) as client:
        await remove(TrunkApi(client))
    assert bolna.methods == ["DELETE", "DELETE"]


async def test_a_delete_answer_body_is_not_read(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, text="<html>gone</html>"), httpx.Response(204))
    async with make_client(bolna) as client:
        api = TrunkApi(client)
        await api.remove_number(TRUNK_ID, "n1")
        await api.remove_ip_acl(TRUNK_ID, "a1")


async def test_other_delete_errors_are_raised(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(422, {"detail": "not yours"}))
    async with make_client(bolna) as client:
        with pytest.raises(Rejected):
            await TrunkApi(client).delete_trunk(TRUNK_ID)


# The password

async def test_update_sends_the_password_opened_only_in_the_body(
        make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, TRUNK))
    body = {"auth_username": "bolna-outbound"}
    async with make_client(bolna) as client:
        api = TrunkApi(client)
        await api.update_trunk(TRUNK_ID, body, password=SecretStr(PASSWORD))
    assert bolna.body() == {"auth_username": "bolna-outbound", "auth_password": PASSWORD}
    assert body == {"auth_username": "bolna-outbound"}  # the caller's dict is untouched
    assert PASSWORD not in repr(api)
    assert TOKEN not in repr(api)


async def test_credentials_are_cleared_with_null_on_both(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, {**TRUNK, "auth_username": None}))
    async with make_client(bolna) as client:
        trunk = await TrunkApi(client).update_trunk(
            TRUNK_ID, {"auth_username": None, "auth_password": None})
    assert bolna.body() == {"auth_username": None, "auth_password": None}
    assert trunk.auth_username is None


@pytest.mark.parametrize(("body", "password", "says"), [
    ({"auth_username": "u", "auth_password": PASSWORD}, None, "SecretStr"),
    ({"auth_username": "u", "auth_password": None}, SecretStr(PASSWORD), "both"),
    ({"auth_username": "u"}, None, "without auth_password"),
    ({"channels": 5}, SecretStr(PASSWORD), "without auth_username"),
    ({"auth_username": None}, SecretStr(PASSWORD), "both be set or both be null"),
    ({"auth_username": "u"}, SecretStr(""), "empty"),
], ids=["plain-in-body", "twice", "username-alone", "password-alone", "null-and-set",
        "empty"])
async def test_update_refuses_credentials_bolna_would_refuse_before_sending(
        make_client: MakeClient, body: dict[str, Any], password: SecretStr | None,
        says: str) -> None:
    bolna = ScriptedBolna(reply(200, TRUNK))
    async with make_client(bolna) as client:
        with pytest.raises(ValueError, match=says) as caught:
            await TrunkApi(client).update_trunk(TRUNK_ID, body, password=password)
    assert bolna.requests == []
    assert PASSWORD not in str(caught.value)


async def test_create_refuses_a_password(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, TRUNK))
    async with make_client(bolna) as client:
        with pytest.raises(ValueError, match="update_trunk") as caught:
            await TrunkApi(client).create_trunk({"name": "x", "auth_username": "u",
                                                 "auth_password": PASSWORD})
    assert bolna.requests == [] and PASSWORD not in str(caught.value)


@pytest.mark.parametrize("answer", [
    reply(422, {"detail": [{"type": "string_too_long", "loc": ["body", "auth_password"],
                            "msg": f"bad value {PASSWORD}", "input": PASSWORD}]}),
    reply(400, {"detail": f"password {PASSWORD} refused by the carrier"}),
    reply(500, {"message": f"upstream said {PASSWORD}"}),
], ids=["422-list", "400-detail", "500-message"])
async def test_the_password_never_reaches_an_error(make_client: MakeClient,
                                                   answer: httpx.Response) -> None:
    bolna = ScriptedBolna(answer)
    async with make_client(bolna, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(BolnaError) as caught:
            await TrunkApi(client).update_trunk(TRUNK_ID, {"auth_username": "u"},
                                                password=SecretStr(PASSWORD))
    error = caught.value
    for text in (str(error), repr(error), error.message, *error.args):
        assert PASSWORD not in str(text)
    assert "***" in str(error)
