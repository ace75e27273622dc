"""The Bolna client against a real, misbehaving HTTP server on loopback: a 30 MB answer
(success and error, with and without a Content-Length, gzip-bombed), and answers
trickled a byte a second, each byte well within the read timeout. The client must give
up on time, with the error that says which limit and which setting, having read no more
than the limit and one chunk, and be ready for the next, healthy answer at once.

No control plane: the server is an asyncio server in the test's own loop, speaking
HTTP/1.1 by hand so it can misbehave at any byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import (
    AnswerTooLarge,
    BolnaClient,
    DeadlineExceeded,
    GatewayCreate,
    LimiterRegistry,
    NotFound,
    RateLimiter,
    RetryPolicy,
    ServerError,
    TrunkCreate,
    UncertainOutcome,
)
from bolna_sip_operator.bolna.client import (
    DEADLINE_FLAG,
    DEFAULT_MAX_ANSWER_BYTES,
    ERROR_EXCERPT_BYTES,
    MAX_ANSWER_FLAG,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TOKEN = "tok-bounds-7f3a9c1e-secret"
BIG = 30 * 1024 * 1024
CHUNK = 64 * 1024
DEADLINE = 3.0
TRUNK = (b'{"id": "01HQXYZ123ABC456DEF", "name": "Twilio Production", "provider": "twilio",'
         b' "auth_type": "userpass", "gateways": [{"gateway_address": "gw.example.com"}]}')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Connection:
    """One accepted connection's writing side, counting what ``drain`` let through."""

    def __init__(self, writer: asyncio.StreamWriter, server: Misbehaving, index: int
                 ) -> None:
        self.writer, self.server, self.index = writer, server, index

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.server.sent[self.index] += len(data)


Behaviour = Callable[[Connection], Awaitable[None]]


@dataclass
class Misbehaving:
    """An HTTP/1.1 server that answers each request with the next behaviour queued
    (the last one repeats), one request per connection, and notes how many bytes it
    got out and whether the client hung up on it."""

    behaviours: list[Behaviour] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    hung_up: list[bool] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.append(task)
        index = len(self.sent)
        self.sent.append(0)
        self.hung_up.append(False)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            self.requests.append(head.split(b"\r\n", 1)[0])
            behaviour = self.behaviours[min(index, len(self.behaviours) - 1)]
            await behaviour(Connection(writer, self, index))
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hung_up[index] = True
        except asyncio.CancelledError:
            return  # the test is over (Python 3.11's streams log a cancelled handler)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def big(status: int, *, length: bool = True, size: int = BIG,
        prefix: bytes = b"") -> Behaviour:
    """``size`` bytes in 64 KiB writes, declared or chunked."""
    async def behave(writer: Connection) -> None:
        headers = {"Content-Type": "application/json"}
        headers.update({"Content-Length": str(size)} if length
                       else {"Transfer-Encoding": "chunked"})
        await writer.send(head(status, headers))
        given = 0
        while given < size:
            piece = (prefix[given:given + CHUNK] + b" " * CHUNK)[:min(CHUNK, size - given)]
            given += len(piece)
            await writer.send(piece if length
                              else b"%x\r\n" % len(piece) + piece + b"\r\n")
        if not length:
            await writer.send(b"0\r\n\r\n")
    return behave


def bomb() -> Behaviour:
    """30 MB of JSON whitespace, gzipped to some 30 KB."""
    packed = gzip.compress(b"[" + b" " * BIG + b"]", compresslevel=9)

    async def behave(writer: Connection) -> None:
        await writer.send(head(200, {"Content-Encoding": "gzip",
                                     "Content-Length": str(len(packed))}) + packed)
    return behave


def trickle(status: int, body: bytes, *, every: float = 1.0, headers_too: bool = False,
            extra: dict[str, str] | None = None) -> Behaviour:
    """The answer one byte every ``every`` seconds: the body only, or all of it."""
    async def behave(writer: Connection) -> None:
        top = head(status, {"Content-Length": str(len(body)), **(extra or {})})
        if not headers_too:
            await writer.send(top)
        for byte in (top if headers_too else b"") + body:
            await asyncio.sleep(every)
            await writer.send(bytes([byte]))
    return behave


def answer(status: int, body: bytes) -> Behaviour:
    async def behave(writer: Connection) -> None:
        await writer.send(head(status, {"Content-Length": str(len(body))}) + body)
    return behave


@pytest.fixture
async def server() -> AsyncIterator[Misbehaving]:
    state = Misbehaving()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield state
        listener.close()
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)


def client_for(url: str, *, deadline: float = DEADLINE,
               max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
               attempts: int = 3) -> BolnaClient:
    """The client as the operator makes it (httpx's own transport), on loopback."""
    return BolnaClient(
        TOKEN, base_url=url, deadline=deadline, max_answer_bytes=max_answer_bytes,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.01),
        limiters=LimiterRegistry(lambda: RateLimiter(rate_per_minute=60_000)))


def create() -> TrunkCreate:
    return TrunkCreate(name="Twilio Production", provider="twilio", auth_type="userpass",
                       auth_username="user", auth_password=SecretStr("pw-7f3a-secret"),
                       gateways=[GatewayCreate(gateway_address="gw.example.com")])


# (a) 30 MB answers

async def test_a_declared_30_mb_success_is_refused_unread(server: Misbehaving) -> None:
    server.behaviours = [big(200), answer(200, b"[" + TRUNK + b"]")]
    async with client_for(server.url) as client:
        with pytest.raises(AnswerTooLarge) as caught:
            await client.list_trunks()
        assert client.counts.bytes_received == 0
        assert await client.list_trunks(), "the next, healthy answer is read at once"
    assert f"limit of {DEFAULT_MAX_ANSWER_BYTES} bytes" in str(caught.value)
    assert f"Content-Length is {BIG} bytes" in str(caught.value)
    assert MAX_ANSWER_FLAG in str(caught.value) and caught.value.status == 200
    assert len(server.requests) == 2, "not retried: the same answer would come again"
    await _settled(server, 0)
    assert server.hung_up[0] and server.sent[0] < BIG


@pytest.mark.parametrize("cap", [1024 * 1024, DEFAULT_MAX_ANSWER_BYTES])
async def test_an_undeclared_30_mb_success_is_cut_at_the_cap(
        server: Misbehaving, cap: int) -> None:
    server.behaviours = [big(200, length=False)]
    async with client_for(server.url, max_answer_bytes=cap) as client:
        started = time.monotonic()
        with pytest.raises(AnswerTooLarge, match="the rest left unread"):
            await client.get_trunk("t1")
        elapsed = time.monotonic() - started
        received = client.counts.bytes_received
    # The chunked framing adds a few bytes per chunk to what came off the socket.
    assert cap < received <= cap + CHUNK + 8 * (cap // 1024 + CHUNK), received
    assert elapsed < DEADLINE
    await _settled(server, 0)
    assert server.hung_up[0] and server.sent[0] < BIG


async def test_a_30_mb_create_answer_is_an_uncertain_outcome(server: Misbehaving) -> None:
    server.behaviours = [big(201, length=False)]
    async with client_for(server.url, max_answer_bytes=1024 * 1024) as client:
        with pytest.raises(UncertainOutcome, match="larger than the limit"):
            await client.create_trunk(create())
    assert len(server.requests) == 1, "never a second create"


@pytest.mark.parametrize(("length", "kind"), [(True, "json"), (False, "json"),
                                              (True, "html"), (False, "html")])
async def test_a_30_mb_error_keeps_its_status_and_reads_an_excerpt(
        server: Misbehaving, length: bool, kind: str) -> None:
    """Bolna's JSON message still comes through (redacted) from the excerpt; a proxy's
    page says only its status and that the body was not read."""
    secret = TOKEN.encode()
    prefix = (b'{"detail": "upstream failed for ' + secret + b'"}' if kind == "json"
              else b"<html><body>upstream failed for " + secret)
    server.behaviours = [big(503, length=length, prefix=prefix)]
    async with client_for(server.url, attempts=2) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_trunks()
        received = client.counts.bytes_received
    assert caught.value.status == 503 and TOKEN not in str(caught.value)
    if kind == "json":
        assert caught.value.message == "upstream failed for ***"
    else:
        assert caught.value.message == (
            f"Whatever (a body of more than {ERROR_EXCERPT_BYTES} bytes, not read)")
    assert len(server.requests) == 2, "a 5xx is retried as before"
    assert received <= 2 * (ERROR_EXCERPT_BYTES + CHUNK + 1024), received
    await _settled(server, 1)
    assert all(sent < BIG for sent in server.sent)


async def test_a_gzip_bomb_unfolds_only_to_the_cap(server: Misbehaving) -> None:
    server.behaviours = [bomb()]
    async with client_for(server.url, max_answer_bytes=1024 * 1024) as client:
        with pytest.raises(AnswerTooLarge):
            await client.list_trunks()
        assert client.counts.bytes_received < 64 * 1024


# (b) Answers trickled a byte a second

async def test_a_trickled_body_gives_up_at_the_deadline(server: Misbehaving) -> None:
    body = b"[" + TRUNK + b"]"
    server.behaviours = [trickle(200, body), answer(200, body)]
    async with client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            await client.list_trunks()
        elapsed = time.monotonic() - started
        assert client.counts.bytes_received < 10  # a byte a second
        recovered = time.monotonic()
        assert len(await client.list_trunks()) == 1
        recovered = time.monotonic() - recovered
    assert DEADLINE <= elapsed < DEADLINE + 0.5, elapsed
    assert recovered < 1.0, "the next call is not held up by the trickle"
    assert caught.value.sent and DEADLINE_FLAG in str(caught.value)
    assert "reading the answer's body" in str(caught.value)
    assert len(server.requests) == 2, "a missed deadline is not retried in-process"


async def test_trickled_headers_give_up_at_the_deadline(server: Misbehaving) -> None:
    server.behaviours = [trickle(200, TRUNK, headers_too=True)]
    async with client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="waiting for the answer"):
            await client.get_trunk("t1")
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 0.5


async def test_a_create_trickled_after_sending_is_an_uncertain_outcome(
        server: Misbehaving) -> None:
    server.behaviours = [trickle(201, TRUNK)]
    async with client_for(server.url) as client:
        started = time.monotonic()
        with pytest.raises(UncertainOutcome, match="request deadline"):
            await client.create_trunk(create())
    assert time.monotonic() - started < DEADLINE + 0.5
    assert len(server.requests) == 1, "never a second create"


async def test_a_trickled_429_to_a_create_is_sent_again(server: Misbehaving) -> None:
    """The status line came: a 429 whose body never ends is still a 429, surely not
    applied, so the create is safely sent again."""
    server.behaviours = [trickle(429, b'{"detail": "slow down"}' * 10,
                                 extra={"Retry-After": "0"}),
                         answer(201, TRUNK)]
    async with client_for(server.url) as client:
        trunk = await client.create_trunk(create())
    assert trunk.name == "Twilio Production"
    assert len(server.requests) == 2


async def test_a_trickled_404_is_still_a_404(server: Misbehaving) -> None:
    server.behaviours = [trickle(404, b'{"detail": "Trunk not found"}')]
    async with client_for(server.url) as client:
        with pytest.raises(NotFound):
            await client.get_trunk("gone")


async def test_a_create_whose_deadline_passed_while_connecting_was_not_sent() -> None:
    """A listener whose accept queue is full: the SYN is dropped and the connect hangs
    (on loopback, deterministic on Linux). The deadline passes before a byte of the
    request went out, so the create is surely not applied: no UncertainOutcome."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))  # fills the queue
    try:
        async with client_for(f"http://127.0.0.1:{port}", deadline=1.0) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded) as caught:
                await client.create_trunk(create())
            elapsed = time.monotonic() - started
    finally:
        queued.close()
        listener.close()
    assert not caught.value.sent and "before the request was sent" in str(caught.value)
    assert 1.0 <= elapsed < 1.5


async def _settled(server: Misbehaving, index: int) -> None:
    """Wait until the server's handler for request ``index`` has finished."""
    for _ in range(100):
        if server.hung_up[index] or server.sent[index] >= BIG:
            return
        await asyncio.sleep(0.05)
