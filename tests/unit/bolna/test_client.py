"""The client over a scripted Bolna: calls, shapes, and which failures are retried how."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import (
    BadRequest,
    BolnaClient,
    BolnaError,
    Conflict,
    GatewayCreate,
    NetworkError,
    NotFound,
    NumberCreate,
    PermanentError,
    RateLimited,
    RateLimiter,
    Rejected,
    RetryPolicy,
    TemporaryError,
    TrunkCreate,
    TrunkUpdate,
    Unauthorized,
    UncertainOutcome,
    UnexpectedResponse,
)

from . import examples
from .conftest import BASE_URL, PASSWORD, TOKEN, FakeClock, ScriptedBolna, reply

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., BolnaClient]

TRUNK_ID = "01HQXYZ123ABC456DEF"


def _create() -> TrunkCreate:
    return TrunkCreate(
        name="Twilio Production", provider="twilio", auth_type="userpass",
        auth_username="user", auth_password=SecretStr(PASSWORD),
        gateways=[GatewayCreate(gateway_address="your-trunk.pstn.twilio.com", port=5060,
                                priority=1)],
        media_encryption="no")


# The calls

async def test_list_trunks_reads_a_bare_array_of_the_guide_examples(
        make_client: MakeClient) -> None:
    body = "[" + ",".join(examples.TRUNK_RESPONSES) + "]"
    bolna = ScriptedBolna(reply(200, body))
    async with make_client(bolna) as client:
        trunks = await client.list_trunks()
        await client.list_trunks(is_active=False)
    assert [t.id for t in trunks] == [
        "01HQXYZ123ABC456DEF", "01HQXYZ789GHI012JKL", "01HQXYZ555TLS888SDES"]
    first, second = bolna.requests
    assert first.url == httpx.URL(f"{BASE_URL}/sip-trunks/trunks")
    assert second.url.params["is_active"] == "false"
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Accept"] == "application/json"


async def test_find_trunk_by_name(make_client: MakeClient) -> None:
    body = "[" + ",".join(examples.TRUNK_RESPONSES) + "]"
    async with make_client(ScriptedBolna(reply(200, body))) as client:
        found = await client.find_trunk("Plivo Elastic Trunk")
        missing = await client.find_trunk("plivo elastic trunk")
    assert found is not None and found.id == "01HQXYZ789GHI012JKL"
    assert missing is None


async def test_get_trunk_quotes_the_id(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, examples.TLS_SDES_RESPONSE))
    async with make_client(bolna) as client:
        trunk = await client.get_trunk("../x y")
    assert trunk.transport == "transport-tls"
    assert bolna.requests[0].url.raw_path == b"/sip-trunks/trunks/..%2Fx%20y"


async def test_create_trunk_posts_the_body_and_reads_the_201(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(201, examples.USERPASS_RESPONSE))
    async with make_client(bolna) as client:
        trunk = await client.create_trunk(_create())
    assert trunk.id == TRUNK_ID
    request = bolna.requests[0]
    assert (request.method, request.url.path) == ("POST", "/sip-trunks/trunks")
    assert request.headers["Content-Type"] == "application/json"
    sent = bolna.body()
    assert sent["auth_password"] == PASSWORD
    assert sent["media_encryption"] == "no"
    assert client.counts.calls["create_trunk"] == 1 and client.counts.requests["POST"] == 1


async def test_update_trunk_patches_only_the_given_fields(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, examples.USERPASS_RESPONSE))
    async with make_client(bolna) as client:
        await client.update_trunk(TRUNK_ID, TrunkUpdate(is_active=False, ip_identifiers=[]))
    assert bolna.methods == ["PATCH"]
    assert bolna.requests[0].url.path == f"/sip-trunks/trunks/{TRUNK_ID}"
    assert bolna.body() == {"is_active": False, "ip_identifiers": []}


async def test_deletes_accept_bolnas_message_bodies(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, examples.TRUNK_DELETED), reply(200, examples.NUMBER_REMOVED),
                          httpx.Response(204))
    async with make_client(bolna) as client:
        await client.delete_trunk(TRUNK_ID)
        await client.delete_number(TRUNK_ID, "01HQNUMBER111222333")
        await client.delete_number(TRUNK_ID, "n2")
    assert [r.url.path for r in bolna.requests] == [
        f"/sip-trunks/trunks/{TRUNK_ID}",
        f"/sip-trunks/trunks/{TRUNK_ID}/numbers/01HQNUMBER111222333",
        f"/sip-trunks/trunks/{TRUNK_ID}/numbers/n2"]


async def test_numbers(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(201, examples.NUMBER_RESPONSE),
                          reply(200, f"[{examples.NUMBER_RESPONSE}]"))
    async with make_client(bolna) as client:
        added = await client.add_number(TRUNK_ID, NumberCreate(phone_number="919876543210",
                                                               name="Mumbai Support Line"))
        listed = await client.list_numbers(TRUNK_ID)
    assert added.id == "01HQNUMBER111222333" and listed == [added]
    assert bolna.body(0) == {"phone_number": "919876543210", "name": "Mumbai Support Line"}
    assert bolna.requests[1].url.path == f"/sip-trunks/trunks/{TRUNK_ID}/numbers"
    assert dict(bolna_counts(bolna)) == {"POST": 1, "GET": 1}


def bolna_counts(bolna: ScriptedBolna) -> dict[str, int]:
    counts: dict[str, int] = {}
    for method in bolna.methods:
        counts[method] = counts.get(method, 0) + 1
    return counts


# Classification through the client

@pytest.mark.parametrize(("status", "body", "cls", "message"), [
    (400, {"error": 400, "message": "Trunk name is required"}, BadRequest,
     "Trunk name is required"),
    (403, {"detail": "Unrecognized access token"}, Unauthorized, "Unrecognized access token"),
    (401, {"message": "Not authenticated"}, Unauthorized, "Not authenticated"),
    (404, {"error": 404, "message": "Trunk not found"}, NotFound, "Trunk not found"),
    (409, {"error": 409, "message": "Trunk name already exists"}, Conflict,
     "Trunk name already exists"),
    (422, {"error": 422,
           "message": "media_encryption='sdes' requires transport='transport-tls'"},
     Rejected, "media_encryption='sdes' requires transport='transport-tls'"),
])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "POST"])
async def test_permanent_errors_are_raised_at_once(
        make_client: MakeClient, clock: FakeClock, method: str, status: int, body: object,
        cls: type[PermanentError], message: str) -> None:
    bolna = ScriptedBolna(reply(status, body))
    async with make_client(bolna) as client:
        with pytest.raises(cls) as caught:
            await _call(client, method)
    assert caught.value.status == status and caught.value.message == message
    assert caught.value.method == method
    assert len(bolna.requests) == 1 and clock.sleeps == []


async def _call(client: BolnaClient, method: str) -> None:
    if method == "GET":
        await client.get_trunk(TRUNK_ID)
    elif method == "PATCH":
        await client.update_trunk(TRUNK_ID, TrunkUpdate(name="n"))
    elif method == "DELETE":
        await client.delete_trunk(TRUNK_ID)
    else:
        await client.create_trunk(_create())


def _ok(method: str) -> httpx.Response:
    if method == "DELETE":
        return reply(200, examples.TRUNK_DELETED)
    return reply(201 if method == "POST" else 200, examples.USERPASS_RESPONSE)


TEMPORARY_FAILURES: list[tuple[str, httpx.Response | Exception]] = [
    ("500", reply(500, {"detail": "Internal Server Error"})),
    ("502-html", reply(502, text="<html>Bad Gateway</html>")),
    ("503", reply(503, {"message": "maintenance"})),
    ("408", reply(408, text="")),
    ("read-timeout", httpx.ReadTimeout("timed out")),
    ("write-timeout", httpx.WriteTimeout("timed out")),
    ("remote-protocol", httpx.RemoteProtocolError("Server disconnected without response")),
    ("read-error", httpx.ReadError("connection reset by peer")),
    ("connect-error", httpx.ConnectError("connection refused")),
    ("connect-timeout", httpx.ConnectTimeout("timed out")),
    ("429", reply(429, {"error": 429, "message": "Too many requests"})),
]


@pytest.mark.parametrize(("name", "failure"), TEMPORARY_FAILURES,
                         ids=[name for name, _ in TEMPORARY_FAILURES])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_idempotent_calls_retry_with_exponential_backoff(
        make_client: MakeClient, clock: FakeClock, method: str, name: str,
        failure: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(failure, failure, _ok(method))
    async with make_client(bolna) as client:
        await _call(client, method)
    assert bolna.methods == [method] * 3
    assert clock.sleeps == [0.5, 1.0]
    assert client.counts.requests[method] == 3


@pytest.mark.parametrize(("name", "failure"), TEMPORARY_FAILURES,
                         ids=[name for name, _ in TEMPORARY_FAILURES])
async def test_exhausted_retries_raise_the_last_temporary_error(
        make_client: MakeClient, clock: FakeClock, name: str,
        failure: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(failure)
    async with make_client(bolna) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.get_trunk(TRUNK_ID)
    assert not isinstance(caught.value, UncertainOutcome)
    assert len(bolna.requests) == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_network_errors_say_whether_the_request_was_sent(make_client: MakeClient) -> None:
    for failure, sent in ((httpx.ConnectError("refused"), False),
                          (httpx.ReadTimeout("slow"), True)):
        retry = RetryPolicy(max_attempts=1)
        async with make_client(ScriptedBolna(failure), retry=retry) as client:
            with pytest.raises(NetworkError) as caught:
                await client.list_trunks()
        assert caught.value.sent is sent and caught.value.status is None


UNCERTAIN_FAILURES: list[tuple[str, httpx.Response | Exception]] = [
    ("500", reply(500, {"detail": "Internal Server Error"})),
    ("503", reply(503, text="upstream connect error")),
    ("read-timeout", httpx.ReadTimeout("timed out")),
    ("write-timeout", httpx.WriteTimeout("timed out")),
    ("remote-protocol", httpx.RemoteProtocolError("Server disconnected without response")),
    ("read-error", httpx.ReadError("connection reset by peer")),
    ("201-unreadable", reply(201, text="<html>ok</html>")),
    ("201-wrong-shape", reply(201, {"trunk": {"id": "x"}})),
]


@pytest.mark.parametrize(("name", "failure"), UNCERTAIN_FAILURES,
                         ids=[name for name, _ in UNCERTAIN_FAILURES])
@pytest.mark.parametrize("operation", ["create_trunk", "add_number"])
async def test_a_post_is_never_sent_again_after_an_uncertain_failure(
        make_client: MakeClient, clock: FakeClock, operation: str, name: str,
        failure: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(failure, reply(201, examples.USERPASS_RESPONSE))
    async with make_client(bolna) as client:
        call = (client.create_trunk(_create()) if operation == "create_trunk" else
                client.add_number(TRUNK_ID, NumberCreate(phone_number="919876543210")))
        with pytest.raises(UncertainOutcome) as caught:
            await call
    assert bolna.methods == ["POST"]
    assert clock.sleeps == []
    assert caught.value.method == "POST"


@pytest.mark.parametrize("failure", [
    reply(429, {"error": 429, "message": "Too many requests"}),
    httpx.ConnectError("connection refused"),
    httpx.ConnectTimeout("timed out"),
], ids=["429", "connect-error", "connect-timeout"])
async def test_a_post_is_retried_when_surely_not_applied(
        make_client: MakeClient, clock: FakeClock, failure: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(failure, failure, reply(201, examples.USERPASS_RESPONSE))
    async with make_client(bolna) as client:
        trunk = await client.create_trunk(_create())
    assert trunk.id == TRUNK_ID
    assert bolna.methods == ["POST"] * 3 and clock.sleeps == [0.5, 1.0]
    assert bolna.body(0) == bolna.body(2)


async def test_a_post_that_only_met_connect_errors_raises_a_certain_error(
        make_client: MakeClient) -> None:
    bolna = ScriptedBolna(httpx.ConnectError("connection refused"))
    async with make_client(bolna) as client:
        with pytest.raises(NetworkError) as caught:
            await client.create_trunk(_create())
    assert not isinstance(caught.value, UncertainOutcome)
    assert len(bolna.requests) == 5


async def test_a_post_rate_limited_then_timed_out_is_uncertain(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(429, {"message": "slow"}), httpx.ReadTimeout("slow"))
    async with make_client(bolna) as client:
        with pytest.raises(UncertainOutcome):
            await client.create_trunk(_create())
    assert bolna.methods == ["POST", "POST"]


# Retry-After

async def test_retry_after_seconds_is_obeyed(make_client: MakeClient, clock: FakeClock) -> None:
    bolna = ScriptedBolna(reply(429, {"message": "slow"}, headers={"Retry-After": "7"}),
                          reply(503, text="", headers={"Retry-After": "2"}),
                          _ok("PATCH"))
    async with make_client(bolna) as client:
        await client.update_trunk(TRUNK_ID, TrunkUpdate(is_active=True))
    assert clock.sleeps[0] == 7.0 and clock.sleeps[1] == 2.0
    assert len(bolna.requests) == 3


async def test_retry_after_http_date_is_obeyed(make_client: MakeClient, clock: FakeClock) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    bolna = ScriptedBolna(reply(429, {"message": "slow"}, headers={"Retry-After": when}),
                          _ok("GET"))
    async with make_client(bolna) as client:
        await client.get_trunk(TRUNK_ID)
    assert 18.0 <= clock.sleeps[0] <= 20.0


async def test_a_long_retry_after_is_raised_for_the_caller_to_requeue(
        make_client: MakeClient, clock: FakeClock) -> None:
    bolna = ScriptedBolna(reply(429, {"message": "slow"}, headers={"Retry-After": "600"}))
    async with make_client(bolna) as client:
        with pytest.raises(RateLimited) as caught:
            await client.list_trunks()
    assert caught.value.retry_after == 600.0
    assert len(bolna.requests) == 1 and clock.sleeps == []


async def test_a_429_pauses_the_whole_account(make_client: MakeClient, clock: FakeClock) -> None:
    limiter = RateLimiter(60_000, 100, clock=clock, sleep=clock.sleep)
    bolna = ScriptedBolna(reply(429, {"message": "slow"}, headers={"Retry-After": "9"}),
                          _ok("GET"))
    async with make_client(bolna, rate_limiter=limiter) as client:
        await client.get_trunk(TRUNK_ID)
    assert clock.now >= 9.0
    # The retry's own sleep ended the pause; a second client of the account sees it over.
    assert limiter.paused_until is None


async def test_a_429_pause_without_retry_after_uses_the_backoff(
        make_client: MakeClient, clock: FakeClock) -> None:
    limiter = RateLimiter(60_000, 100, clock=clock, sleep=clock.sleep)
    bolna = ScriptedBolna(reply(429, {"message": "slow"}))
    retry = RetryPolicy(max_attempts=1, jitter="none")
    async with make_client(bolna, rate_limiter=limiter, retry=retry) as client:
        with pytest.raises(RateLimited):
            await client.get_trunk(TRUNK_ID)
    assert limiter.paused_until == 0.5


# DELETE after an uncertain attempt

@pytest.mark.parametrize("first", [
    httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("dropped"),
    reply(502, text="Bad Gateway"),
], ids=["timeout", "dropped", "502"])
async def test_delete_that_finds_its_target_gone_after_an_uncertain_attempt_succeeds(
        make_client: MakeClient, first: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(first, reply(404, {"error": 404, "message": "Trunk not found"}))
    async with make_client(bolna) as client:
        await client.delete_trunk(TRUNK_ID)  # returns normally
        bolna.requests.clear()
        bolna.steps = [first, reply(404, {"message": "not found"})]
        await client.delete_number(TRUNK_ID, "n1")
    assert bolna.methods == ["DELETE", "DELETE"]


@pytest.mark.parametrize("first", [
    reply(429, {"message": "slow"}), httpx.ConnectError("refused"),
], ids=["429", "connect-error"])
async def test_delete_404_after_an_attempt_surely_not_applied_is_not_found(
        make_client: MakeClient, first: httpx.Response | Exception) -> None:
    bolna = ScriptedBolna(first, reply(404, {"error": 404, "message": "Trunk not found"}))
    async with make_client(bolna) as client:
        with pytest.raises(NotFound):
            await client.delete_trunk(TRUNK_ID)


async def test_get_404_after_a_timeout_is_still_not_found(make_client: MakeClient) -> None:
    bolna = ScriptedBolna(httpx.ReadTimeout("slow"), reply(404, {"message": "Trunk not found"}))
    async with make_client(bolna) as client:
        with pytest.raises(NotFound):
            await client.get_trunk(TRUNK_ID)


# Odd answers

async def test_unreadable_success_on_get_is_unexpected_response(
        make_client: MakeClient) -> None:
    bolna = ScriptedBolna(reply(200, {"trunks": []}))
    async with make_client(bolna) as client:
        with pytest.raises(UnexpectedResponse) as caught:
            await client.list_trunks()
    assert isinstance(caught.value, TemporaryError)
    assert "(root): list_type" in caught.value.message
    assert len(bolna.requests) == 1


async def test_unsupported_scheme_is_permanent() -> None:
    async with BolnaClient(TOKEN, base_url="ftp://bolna.invalid") as client:
        with pytest.raises(PermanentError, match="base URL"):
            await client.list_trunks()


async def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        BolnaClient(SecretStr(""))


async def test_default_base_url_and_timeout() -> None:
    async with BolnaClient(TOKEN) as client:
        assert client.base_url == "https://api.bolna.ai"
        assert client._http.timeout == httpx.Timeout(10.0)


async def test_errors_are_bolna_errors(make_client: MakeClient) -> None:
    for status in (400, 404, 429, 500):
        retry = RetryPolicy(max_attempts=1)
        async with make_client(ScriptedBolna(reply(status, {})), retry=retry) as client:
            with pytest.raises(BolnaError):
                await client.get_trunk(TRUNK_ID)

