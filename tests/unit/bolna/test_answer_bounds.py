"""Answers are bounded: a success body by ``max_answer_bytes``, an error body by a small
excerpt, every attempt by ``deadline``. Bodies here are produced lazily, chunk by chunk,
so a test sees how much the client actually pulled, and the memory it held."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import (
    AnswerTooLarge,
    BadRequest,
    BolnaClient,
    DeadlineExceeded,
    GatewayCreate,
    NetworkError,
    NotFound,
    RateLimiter,
    RetryPolicy,
    ServerError,
    TemporaryError,
    TrunkCreate,
    UncertainOutcome,
    UnexpectedResponse,
)
from bolna_sip_operator.bolna.client import (
    DEADLINE_FLAG,
    DECODED_PIECE,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_TIMEOUT,
    ERROR_EXCERPT_BYTES,
    MAX_ANSWER_FLAG,
    _Buffer,
    _Decoder,
)
from bolna_sip_operator.config import ENV_PREFIX, OperatorSettings
from bolna_sip_operator.flags import settings_of

from . import examples
from .conftest import BASE_URL, PASSWORD, TOKEN, FakeClock

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024
CAP = 1024 * 1024
BIG = 30 * 1024 * 1024


class LazyBody(httpx.AsyncByteStream):
    """``size`` bytes, made one chunk at a time as the client asks (nothing exists
    before), with an optional pause before each chunk; counts what was handed over.

    An iterator object rather than an async generator: a generator left suspended
    would keep its last chunk until asyncio gets round to closing it."""

    def __init__(self, size: int, *, chunk: int = CHUNK, pause: float = 0.0,
                 fill: bytes = b"x", prefix: bytes = b"") -> None:
        self.size, self.chunk, self.pause = size, chunk, pause
        self.fill, self.prefix = fill, prefix
        self.given = 0
        self.closed = False

    def __aiter__(self) -> LazyBody:
        return self

    async def __anext__(self) -> bytes:
        if self.given >= self.size or self.closed:
            raise StopAsyncIteration
        if self.pause:
            await asyncio.sleep(self.pause)
        head = self.prefix[self.given:self.given + self.chunk]
        n = min(self.chunk, self.size - self.given)
        self.given += n
        return head + self.fill * (n - len(head))

    async def aclose(self) -> None:
        self.closed = True


class ChunksBody(httpx.AsyncByteStream):
    """Given chunks, in order, counted."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.given = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.given += len(chunk)
            yield chunk


Handler = Callable[[httpx.Request], Any]


class Server:
    """A MockTransport handler answering each request with a fresh response built by
    ``make`` (streams are single-use), keeping the requests and the streams."""

    def __init__(self, make: Callable[[httpx.Request], httpx.Response]) -> None:
        self.make = make
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.make(request)
        self.responses.append(response)
        return response


def client_on(server: Server | Handler, clock: FakeClock, *, cap: int = CAP,
              deadline: float = DEFAULT_DEADLINE, attempts: int = 5,
              transport: httpx.AsyncBaseTransport | None = None) -> BolnaClient:
    return BolnaClient(
        SecretStr(TOKEN), base_url=BASE_URL,
        transport=transport or httpx.MockTransport(server),
        max_answer_bytes=cap, deadline=deadline,
        retry=RetryPolicy(max_attempts=attempts, jitter="none", sleep=clock.sleep),
        rate_limiter=RateLimiter(60_000, 1_000, clock=clock, sleep=clock.sleep))


def lazy(status: int, body: LazyBody, headers: dict[str, str] | None = None
         ) -> Callable[[httpx.Request], httpx.Response]:
    def make(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, stream=body, headers=headers)
    return make


def _create() -> TrunkCreate:
    return TrunkCreate(
        name="Twilio Production", provider="twilio", auth_type="userpass",
        auth_username="user", auth_password=SecretStr(PASSWORD),
        gateways=[GatewayCreate(gateway_address="your-trunk.pstn.twilio.com")],
        media_encryption="no")


# Size: success answers

async def test_a_30_mb_success_body_is_cut_off_at_the_cap(clock: FakeClock) -> None:
    body = LazyBody(BIG)
    server = Server(lazy(200, body))
    async with client_on(server, clock) as client:
        with pytest.raises(AnswerTooLarge) as caught:
            await client.list_trunks()
        received = client.counts.bytes_received
    assert body.given <= CAP + CHUNK and received <= CAP + CHUNK
    assert caught.value.limit == CAP and caught.value.status == 200
    assert isinstance(caught.value, TemporaryError)
    message = str(caught.value)
    assert f"limit of {CAP} bytes" in message and MAX_ANSWER_FLAG in message
    assert len(server.requests) == 1, "the same answer would come again: not retried"


async def test_a_content_length_over_the_cap_is_refused_unread(clock: FakeClock) -> None:
    body = LazyBody(BIG)
    server = Server(lazy(200, body, {"Content-Length": str(BIG)}))
    async with client_on(server, clock) as client:
        with pytest.raises(AnswerTooLarge, match=f"Content-Length is {BIG} bytes"):
            await client.get_trunk("t1")
    assert body.given == 0 and client.counts.bytes_received == 0


async def test_a_body_exactly_at_the_cap_is_read(clock: FakeClock) -> None:
    trunk = examples.USERPASS_RESPONSE.encode()
    padded = trunk + b" " * (CAP - len(trunk))
    server = Server(lambda _: httpx.Response(200, stream=ChunksBody(
        [padded[i:i + CHUNK] for i in range(0, CAP, CHUNK)])))
    async with client_on(server, clock) as client:
        got = await client.get_trunk("t1")
        assert client.counts.largest_body == CAP
    assert got.name == "Twilio Production"


async def test_the_default_cap_holds_a_big_accounts_list(clock: FakeClock) -> None:
    """1,000 trunks with 4 gateways and 10 numbers each, as the emulator answers them."""
    trunks = [_listed_trunk(i, gateways=4, numbers=10) for i in range(1000)]
    payload = json.dumps(trunks).encode()
    assert 3 * 1024 * 1024 < len(payload) < DEFAULT_MAX_ANSWER_BYTES / 3
    server = Server(lambda _: httpx.Response(200, stream=ChunksBody(
        [payload[i:i + CHUNK] for i in range(0, len(payload), CHUNK)])))
    async with client_on(server, clock, cap=DEFAULT_MAX_ANSWER_BYTES) as client:
        listed = await client.list_trunks()
    assert len(listed) == 1000 and listed[999].phone_numbers is not None
    assert len(listed[999].phone_numbers) == 10


async def test_a_post_whose_success_answer_is_too_large_is_an_uncertain_outcome(
        clock: FakeClock) -> None:
    body = LazyBody(BIG)
    server = Server(lazy(201, body))
    async with client_on(server, clock) as client:
        with pytest.raises(UncertainOutcome, match="larger than the limit"):
            await client.create_trunk(_create())
    assert len(server.requests) == 1 and body.given <= CAP + CHUNK


async def test_an_in_memory_answer_goes_through_the_same_cap(clock: FakeClock) -> None:
    server = Server(lambda _: httpx.Response(200, content=b"[" + b" " * (2 * CAP) + b"]"))
    async with client_on(server, clock) as client:
        with pytest.raises(AnswerTooLarge):
            await client.list_trunks()


# Size: compressed answers

def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


async def test_a_gzip_bomb_unfolds_only_to_the_cap(clock: FakeClock) -> None:
    packed = _gzip(b"[" + b" " * BIG + b"]")
    assert len(packed) < 64 * 1024
    server = Server(lambda _: httpx.Response(  # one chunk that would unfold to 30 MB
        200, stream=ChunksBody([packed]), headers={"Content-Encoding": "gzip"}))
    async with client_on(server, clock) as client:
        with pytest.raises(AnswerTooLarge):
            await client.list_trunks()  # warm up
        tracemalloc.start()
        try:
            with pytest.raises(AnswerTooLarge):
                await client.list_trunks()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert client.counts.bytes_received == 2 * len(packed)
    # A few pieces (zlib's output blocks and the piece they make), never the cap.
    assert peak < 6 * DECODED_PIECE < CAP, f"{peak} bytes on the heap decoding a gzip bomb"


def test_decoding_comes_in_pieces_of_at_most_64_kib() -> None:
    decoder = _Decoder("gzip")
    pieces = list(decoder.decode(_gzip(b"x" * (5 * DECODED_PIECE + 7))))
    assert max(len(piece) for piece in pieces) == DECODED_PIECE
    assert sum(len(piece) for piece in pieces) == 5 * DECODED_PIECE + 7


def test_the_buffer_never_holds_more_than_its_limit_and_gives_it_back() -> None:
    with _Buffer(10) as buffer:
        assert buffer.add(b"12345") and buffer.add(b"12345")
        assert not buffer.over and buffer.data() == b"1234512345"
        assert not buffer.add(b"6")
        assert buffer.over and buffer.size == 10 and buffer.data() == b"1234512345"
    with _Buffer(4) as buffer:
        assert not buffer.add(b"abcdef")
        assert buffer.data() == b"abcd"
    assert buffer._map.closed


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_answers_are_read(clock: FakeClock, encoding: str) -> None:
    payload = ("[" + ",".join(examples.TRUNK_RESPONSES) + "]").encode()
    if encoding == "gzip":
        packed = _gzip(payload)
    elif encoding == "deflate":
        packed = zlib.compress(payload)
    else:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = packer.compress(payload) + packer.flush()
    chunks = [packed[i:i + 100] for i in range(0, len(packed), 100)]
    server = Server(lambda _: httpx.Response(200, stream=ChunksBody(chunks), headers={
        "Content-Encoding": encoding.removeprefix("raw-")}))
    async with client_on(server, clock) as client:
        trunks = await client.list_trunks()
    assert len(trunks) == 3
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_an_encoding_not_asked_for_is_an_unexpected_answer(clock: FakeClock) -> None:
    server = Server(lambda _: httpx.Response(200, stream=ChunksBody([b"\x00" * 10]),
                                             headers={"Content-Encoding": "br"}))
    async with client_on(server, clock, attempts=1) as client:
        with pytest.raises(UnexpectedResponse, match="'br'"):
            await client.list_trunks()


# Size: error answers

async def test_a_30_mb_error_body_is_read_only_in_part_and_keeps_its_status(
        clock: FakeClock) -> None:
    bodies: list[LazyBody] = []

    def make(_: httpx.Request) -> httpx.Response:
        bodies.append(LazyBody(BIG, prefix=b"<html>Bad gateway " + TOKEN.encode()))
        return httpx.Response(502, stream=bodies[-1])

    async with client_on(Server(make), clock, attempts=2) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_trunks()
        received = client.counts.bytes_received
    assert caught.value.status == 502
    assert "not read" in caught.value.message and TOKEN not in str(caught.value)
    assert len(bodies) == 2, "a 5xx is still retried as before"
    assert all(body.given <= ERROR_EXCERPT_BYTES + CHUNK for body in bodies)
    assert received <= 2 * (ERROR_EXCERPT_BYTES + CHUNK)


@pytest.mark.parametrize(("status", "error"), [(400, BadRequest), (404, NotFound)])
async def test_a_huge_client_error_is_still_that_error(
        clock: FakeClock, status: int, error: type[Exception]) -> None:
    message = json.dumps({"detail": f"no such trunk (token {TOKEN})"}).encode()
    body = LazyBody(BIG, prefix=message)  # valid JSON, then 30 MB of trailing junk
    async with client_on(Server(lazy(status, body)), clock) as client:
        with pytest.raises(error) as caught:
            await client.get_trunk("t1")
    assert body.given <= ERROR_EXCERPT_BYTES + CHUNK
    assert TOKEN not in str(caught.value)


async def test_a_small_error_body_still_gives_bolnas_message_redacted(
        clock: FakeClock) -> None:
    body = json.dumps({"detail": f"bad password {PASSWORD} for token {TOKEN}"}).encode()
    server = Server(lambda _: httpx.Response(400, stream=ChunksBody([body[:7], body[7:]])))
    async with client_on(server, clock) as client:
        with pytest.raises(BadRequest) as caught:
            await client.create_trunk(_create())
    assert caught.value.message == "bad password *** for token ***"


# Memory

async def test_a_30_mb_answer_passes_through_the_heap_a_chunk_at_a_time(
        clock: FakeClock) -> None:
    """What tracemalloc sees is Python's heap: a body's pieces pass through it, one at a
    time, on their way into the body's memory map (held to the cap, and given back
    whole when the read ends, see ``_Buffer``). Once the call is over, errors and their
    tracebacks included, nothing of the body is left."""
    statuses = iter([200, 502, 201] * 10)

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses), stream=LazyBody(BIG))

    calls: list[Callable[[BolnaClient], Any]] = [
        lambda client: client.list_trunks(), lambda client: client.get_trunk("t1"),
        lambda client: client.create_trunk(_create())]
    errors: list[BaseException] = []
    peaks: list[int] = []
    async with client_on(handler, clock, attempts=1) as client:
        for call in calls:  # warm up: imports, caches, the connection pool
            with pytest.raises(TemporaryError):
                await call(client)
        gc.collect()
        warm_up = client.counts.bytes_received
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            for call in calls:
                tracemalloc.reset_peak()
                before, _ = tracemalloc.get_traced_memory()
                try:
                    await call(client)
                except TemporaryError as error:
                    errors.append(error)  # kept, with its traceback
                peaks.append(tracemalloc.get_traced_memory()[1] - before)
            for _ in range(3):  # asyncio closes dropped async generators (httpx's
                await asyncio.sleep(0)  # stream iterators) on its next turns
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
        received = client.counts.bytes_received - warm_up
    assert [type(e) for e in errors] == [AnswerTooLarge, ServerError, UncertainOutcome]
    assert max(peaks) < 5 * CHUNK, f"{peaks} bytes on the heap at the peaks"
    assert kept < 3 * 64 * 1024, f"{kept} bytes kept after three 30 MB answers"
    assert received <= 2 * (CAP + 2 * CHUNK) + ERROR_EXCERPT_BYTES + 2 * CHUNK
    assert all(len(str(error)) < 1000 for error in errors)


async def test_an_unreadable_success_body_is_not_kept_by_its_error(clock: FakeClock) -> None:
    junk = b'{"trunks": "' + b"x" * (CAP - 20) + b'"}'  # 1 MB, not the documented list
    async with client_on(lambda _: httpx.Response(200, content=junk), clock) as client:
        gc.collect()
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            with pytest.raises(UnexpectedResponse) as caught:
                await client.list_trunks()
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
    assert caught.value.__traceback__ is not None
    assert kept < 64 * 1024, f"{kept} bytes kept by the error and its traceback"


# Time

async def test_a_trickled_body_meets_the_deadline(clock: FakeClock) -> None:
    body = LazyBody(10_000, chunk=1, pause=0.02)  # each byte well within any timeout
    server = Server(lazy(200, body))
    async with client_on(server, clock, deadline=0.3) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            await client.list_trunks()
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + 0.25
    assert caught.value.sent and isinstance(caught.value, NetworkError)
    assert "0.3s" in caught.value.message and DEADLINE_FLAG in caught.value.message
    assert "reading the answer's body" in caught.value.message
    assert len(server.requests) == 1, "a missed deadline is not retried in-process"
    assert 5 <= body.given < 30


async def test_slow_headers_meet_the_deadline(clock: FakeClock) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    async with client_on(never, clock, deadline=0.2) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="waiting for the answer"):
            await client.get_trunk("t1")
    assert time.monotonic() - started < 1.0


async def test_a_post_past_its_deadline_is_an_uncertain_outcome(clock: FakeClock) -> None:
    server = Server(lazy(201, LazyBody(10_000, chunk=1, pause=0.02)))
    async with client_on(server, clock, deadline=0.2) as client:
        with pytest.raises(UncertainOutcome, match="request deadline"):
            await client.create_trunk(_create())
    assert len(server.requests) == 1


async def test_a_trickled_429_is_still_a_429_and_a_post_is_sent_again(
        clock: FakeClock) -> None:
    """Once the status line came, a slow error body cannot make a refused create look
    applied: a 429 was surely not applied, so the POST is safely sent again."""
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "1"},
                       stream=LazyBody(10_000, chunk=1, pause=0.02)),
        httpx.Response(201, text=examples.USERPASS_RESPONSE),
    ])
    server = Server(lambda _: next(answers))
    async with client_on(server, clock, deadline=0.2) as client:
        trunk = await client.create_trunk(_create())
    assert trunk.name == "Twilio Production"
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert 1.0 in clock.sleeps


async def test_a_trickled_error_body_gives_the_status_error(clock: FakeClock) -> None:
    server = Server(lazy(404, LazyBody(10_000, chunk=1, pause=0.02)))
    async with client_on(server, clock, deadline=0.2) as client:
        with pytest.raises(NotFound):
            await client.get_trunk("t1")


class _Stuck(httpx.AsyncHTTPTransport):
    """httpx's own transport (so the client trusts its trace events), stuck before or
    after the request's first byte went out."""

    def __init__(self, *, after_sending: bool) -> None:
        super().__init__()
        self.after_sending = after_sending
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        trace = request.extensions["trace"]
        await trace("connection.connect_tcp.started", {})
        if self.after_sending:
            await trace("http11.send_request_headers.started", {"request": request})
        await asyncio.sleep(60)
        raise AssertionError("unreachable")


async def test_a_post_whose_deadline_passed_before_sending_was_not_applied(
        clock: FakeClock) -> None:
    transport = _Stuck(after_sending=False)
    async with client_on(Server(lazy(201, LazyBody(1))), clock, deadline=0.2,
                         transport=transport) as client:
        with pytest.raises(DeadlineExceeded) as caught:
            await client.create_trunk(_create())
    assert not caught.value.sent and "before the request was sent" in caught.value.message
    assert not isinstance(caught.value, UncertainOutcome)


async def test_a_post_whose_deadline_passed_after_sending_is_uncertain(
        clock: FakeClock) -> None:
    transport = _Stuck(after_sending=True)
    async with client_on(Server(lazy(201, LazyBody(1))), clock, deadline=0.2,
                         transport=transport) as client:
        with pytest.raises(UncertainOutcome):
            await client.create_trunk(_create())
    assert transport.requests == 1


async def test_a_get_within_the_deadline_is_unaffected(clock: FakeClock) -> None:
    payload = ("[" + ",".join(examples.TRUNK_RESPONSES) + "]").encode()
    server = Server(lambda _: httpx.Response(200, stream=LazyBody(
        len(payload), chunk=50, pause=0.001, prefix=payload)))
    async with client_on(server, clock, deadline=5.0) as client:
        assert len(await client.list_trunks()) == 3


# Settings

def test_the_errors_name_the_settings_that_raise_the_limits() -> None:
    flags = {s.name: s for s in settings_of(OperatorSettings, ENV_PREFIX)}
    assert flags["bolna_max_answer_bytes"].flag == MAX_ANSWER_FLAG
    assert flags["request_deadline"].flag == DEADLINE_FLAG
    defaults = OperatorSettings()
    assert defaults.bolna_max_answer_bytes == DEFAULT_MAX_ANSWER_BYTES == 16 * 1024 * 1024
    assert defaults.request_deadline == DEFAULT_DEADLINE > defaults.request_timeout
    assert DEFAULT_TIMEOUT < DEFAULT_DEADLINE


async def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BolnaClient(TOKEN, deadline=0)
    with pytest.raises(ValueError, match="positive"):
        BolnaClient(TOKEN, max_answer_bytes=0)


def _listed_trunk(index: int, *, gateways: int, numbers: int) -> dict[str, Any]:
    """One trunk as Bolna (and the emulator) lists it."""
    stamp = "2026-01-15T10:30:00.000000Z"
    trunk_id = f"01HQ{index:022d}"
    return {
        "id": trunk_id, "name": f"namespace-{index:05d}-sip-trunk-with-a-long-name",
        "provider": "twilio", "description": None, "auth_type": "userpass",
        "auth_username": f"user{index}",
        "gateways": [{"id": f"01GW{index:018d}{g:04d}",
                      "gateway_address": f"gw{index}-{g}.sip.carrier-example.com",
                      "port": 5060, "priority": g + 1, "created_at": stamp}
                     for g in range(gateways)],
        "ip_identifiers": [],
        "phone_numbers": [{"id": f"01PN{index:018d}{n:04d}",
                           "phone_number": f"+91{index:08d}{n:02d}",
                           "name": f"number {n} of trunk {index}", "byot_trunk_id": trunk_id,
                           "telephony_provider": "sip-trunk", "deleted": False,
                           "created_at": stamp, "updated_at": stamp}
                          for n in range(numbers)],
        "allow": "ulaw,alaw", "disallow": "all", "transport": "transport-udp",
        "direct_media": False, "rtp_symmetric": True, "force_rport": True,
        "media_encryption": "no", "media_encryption_optimistic": False,
        "qualify_frequency": 60, "inbound_enabled": True,
        "outbound_leading_plus_enabled": True, "is_active": True,
        "created_at": stamp, "updated_at": stamp,
    }

