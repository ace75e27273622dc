"""The async client of Bolna's SIP trunk API: typed calls, safe retries, one rate limit.

Each public method is one API call. Around every HTTP attempt the client waits for the
account's rate limiter; after a failure it decides, by method, whether sending again
is safe:

* GET, PATCH and DELETE are retried on any temporary error (PATCH sets values, so the
  same body twice is the same change). A DELETE that finds its target gone (404) after
  an attempt that may have been applied has done its job and returns normally.
* POST (create a trunk, add a number) is retried only when Bolna surely did not act:
  a 429, or a connection that could not be opened. A timeout after sending, a dropped
  connection or a 5xx raises ``UncertainOutcome`` at once, never a second POST: Bolna
  has no idempotency keys, and a duplicate trunk is worse than a slower reconcile.

Every answer is bounded, in size and in time. A success body is read streamed and kept
only up to ``max_answer_bytes`` (16 MiB by default: a list of 1,000 trunks with 4
gateways and 10 numbers each weighs about 4 MiB): a ``Content-Length`` over the limit
is refused before any of the body is read, and a body without one is cut off as soon as
it passes the limit; either is ``AnswerTooLarge``. gzip and deflate are decoded
incrementally, so a small compressed body cannot unfold past the limit either. An error
answer's body is only a message: its first ``ERROR_EXCERPT_BYTES`` are read and the rest
never is; its status decides the error as before. ``deadline`` (30 s by default) bounds
each attempt as a whole: connecting, sending, the headers and the body, where
``timeout`` bounds each wait on its own (a body trickled one byte at a time meets every
timeout and would never end). A missed deadline is ``DeadlineExceeded``: sent or not,
as far as the client can tell (with its own transport it knows whether the request's
first byte went out), so a POST whose deadline passed after sending is an
``UncertainOutcome`` like any other lost answer. Neither error is retried in-process.

Secrets: the token lives in a ``SecretStr`` and in the HTTP client's headers, nowhere
else; the SIP password is opened only by ``to_body()``. Both are scrubbed from any
server text that ends up in an error. Debug logs carry method, path, status, duration
and attempt only.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import time
import zlib
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import SecretStr, TypeAdapter, ValidationError

from .. import __version__
from .errors import (
    AnswerTooLarge,
    BolnaError,
    DeadlineExceeded,
    NetworkError,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
    UnexpectedResponse,
    error_from_response,
    is_not_applied,
    reason_phrase,
    uncertain,
)
from .ratelimit import SHARED_LIMITERS, LimiterRegistry, RateLimiter
from .records import ListedTrunk, NotATrunkListError, split_trunk_list
from .redact import Redactor
from .retry import RetryPolicy, is_idempotent
from .wire import NumberCreate, PhoneNumber, Trunk, TrunkCreate, TrunkUpdate

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bolna.ai"
DEFAULT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 30.0
"""Seconds one attempt may take in all (connect, send, headers, body)."""
DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The largest success body read. A list of 1,000 trunks weighs 1 to 1.5 MiB with 2
gateways and 2 numbers each, 4 MiB with 4 gateways and 10 numbers (measured with the
emulator's own answers): 16 MiB leaves four times that, and parsing a body this size
costs some 80 MB, which the operator's memory limit still holds."""
ERROR_EXCERPT_BYTES = 64 * 1024
"""How much of an error answer's body is read: enough for any message of Bolna's (the
message is cut to 500 characters anyway), never a proxy's 30 MB page."""

MAX_ANSWER_FLAG = "--bolna-max-answer-bytes"
DEADLINE_FLAG = "--request-deadline"
"""The operator's settings that raise the two limits, named in the errors' messages
(``tests/unit/bolna`` checks they are the flags ``config.py`` generates)."""

DECODED_PIECE = 64 * 1024
"""The most one step of gzip or deflate decoding produces (httpcore reads 64 KiB)."""

_ACCEPT_ENCODING = "gzip, deflate"
"""Only what the client decodes with a bound (no br or zstd, whatever is installed)."""

T = TypeVar("T")

_TRUNK: TypeAdapter[Trunk] = TypeAdapter(Trunk)
_TRUNKS: TypeAdapter[list[Trunk]] = TypeAdapter(list[Trunk])
_NUMBER: TypeAdapter[PhoneNumber] = TypeAdapter(PhoneNumber)
_NUMBERS: TypeAdapter[list[PhoneNumber]] = TypeAdapter(list[PhoneNumber])

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class ApiPaths:
    """Where each call goes, for one generation of Bolna's trunk API.

    The only place the ``/sip-trunks`` paths are spelled (the newer ``/trunk`` API,
    laid out differently, has its own: ``trunk_api.TrunkPaths``); ids are quoted so an
    odd id cannot escape its path segment.
    """

    root: str

    def trunks(self) -> str:
        return self.root

    def trunk(self, trunk_id: str) -> str:
        return f"{self.root}/{quote(trunk_id, safe='')}"

    def numbers(self, trunk_id: str) -> str:
        return f"{self.trunk(trunk_id)}/numbers"

    def number(self, trunk_id: str, number_id: str) -> str:
        return f"{self.numbers(trunk_id)}/{quote(number_id, safe='')}"


SIP_TRUNKS_API = ApiPaths("/sip-trunks/trunks")


@dataclass
class CallCounts:
    """What a client has done, for benchmarks and tests.

    ``calls`` counts public method calls by name (``create_trunk``, ...); ``requests``
    counts HTTP attempts by HTTP method, retries included; ``bytes_received`` the body
    bytes taken off the connection (before decoding), ``largest_body`` the most any one
    answer took.
    """

    calls: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    bytes_received: int = 0
    largest_body: int = 0


@dataclass(frozen=True)
class Answer:
    """What one attempt brought back: the status, the ``Retry-After`` header, and the
    body (all of a success answer's; an excerpt of an error's). Nothing else of the
    HTTP response is kept: its headers hold nothing the client needs."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes
    cut: bool = False
    """Whether an error body was longer than its excerpt."""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class _Progress:
    """How far one attempt got, for when it fails midway: whether the request's first
    byte went out (from httpcore's trace events), and the answer's head once it came.

    ``traced`` says the transport reports its steps (httpx's own transport does, a
    ``MockTransport`` does not); without that the request is assumed sent.
    """

    __slots__ = ("head", "sending", "traced")

    def __init__(self, *, traced: bool) -> None:
        self.traced = traced
        self.sending = False
        self.head: Answer | None = None

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if ".send_request_headers." in event:
            self.sending = True

    @property
    def maybe_sent(self) -> bool:
        return self.sending or self.head is not None or not self.traced


class BolnaClient:
    """One Bolna account's SIP trunk API.

    ``rate_limiter`` defaults to the account's shared limiter from ``limiters`` (so all
    clients of one token share Bolna's per-minute budget); ``transport`` is for tests.
    ``timeout`` bounds each wait (connect, write, each read), ``deadline`` each attempt
    as a whole, ``max_answer_bytes`` the body of a success answer.
    """

    def __init__(self, token: SecretStr | str, *, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE,
                 max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
                 rate_limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 paths: ApiPaths = SIP_TRUNKS_API,
                 limiters: LimiterRegistry = SHARED_LIMITERS,
                 observer: Callable[[str, str, float], None] | None = None) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        if not secret.get_secret_value():
            raise ValueError("the Bolna API token is empty")
        if deadline <= 0 or max_answer_bytes < 1:
            raise ValueError("the deadline and the answer size limit must be positive")
        self.base_url = base_url
        self.deadline = deadline
        self.max_answer_bytes = max_answer_bytes
        self._traced = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        self.paths = paths
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter or limiters.for_token(secret)
        self.counts = CallCounts()
        self._observers = [observer] if observer is not None else []
        """Told (HTTP method, status code or error name, seconds) of every attempt: for
        metrics, and for the operator to notice a token refused or accepted again."""
        self._redactor = Redactor([secret.get_secret_value()])
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {secret.get_secret_value()}",
                "Accept": "application/json",
                "Accept-Encoding": _ACCEPT_ENCODING,
                "User-Agent": f"bolna-sip-operator/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"BolnaClient(base_url={self.base_url!r}, api={self.paths.root!r})"

    def add_observer(self, observer: Callable[[str, str, float], None]) -> None:
        """Tell ``observer`` of every attempt from now on, as the constructor's."""
        self._observers.append(observer)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # Trunks

    async def list_trunks(self, is_active: bool | None = None, *, retry: bool = True
                          ) -> list[Trunk]:
        """All trunks of the account (Bolna does not paginate), optionally by state.

        ``retry=False``: one attempt, for callers that come back anyway (the drift
        check), so an outage costs one request per look, not a burst of retries.
        """
        params = None if is_active is None else {"is_active": "true" if is_active else "false"}
        path = self.paths.trunks()
        return await self._fetch(_TRUNKS, "list_trunks", "GET", path, params=params,
                                 attempts=None if retry else 1)

    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]:
        """All trunks of the account, each as its own JSON (``records``): what a
        snapshot keeps and parses one trunk at a time. ``needs``: the fields a record
        must carry to stand for the whole trunk (``ListedTrunk.complete``)."""
        path = self.paths.trunks()
        return read_trunk_list(await self._call("list_trunks", "GET", path,
                                                attempts=None if retry else 1),
                               path, needs=needs)

    async def find_trunk(self, name: str) -> Trunk | None:
        """The trunk named ``name`` (names are unique per account), if there is one.

        What to call after an ``UncertainOutcome`` from ``create_trunk``.
        """
        return next((trunk for trunk in await self.list_trunks() if trunk.name == name), None)

    async def get_trunk(self, trunk_id: str) -> Trunk:
        """One trunk with its gateways, IP identifiers and numbers. ``NotFound`` if gone."""
        path = self.paths.trunk(trunk_id)
        return await self._fetch(_TRUNK, "get_trunk", "GET", path)

    async def create_trunk(self, trunk: TrunkCreate) -> Trunk:
        """Create a trunk. On ``UncertainOutcome``, look it up by name before retrying."""
        path = self.paths.trunks()
        return await self._fetch(_TRUNK, "create_trunk", "POST", path, body=trunk.to_body())

    async def update_trunk(self, trunk_id: str, update: TrunkUpdate) -> Trunk:
        """Change the given fields of a trunk; returns the whole updated trunk."""
        path = self.paths.trunk(trunk_id)
        return await self._fetch(_TRUNK, "update_trunk", "PATCH", path, body=update.to_body())

    async def delete_trunk(self, trunk_id: str) -> None:
        """Delete a trunk, its gateways and IP identifiers; its numbers are soft-deleted.

        Bolna advises deactivating (``is_active=False``) first.
        """
        await self._call("delete_trunk", "DELETE", self.paths.trunk(trunk_id))

    # Phone numbers

    async def list_numbers(self, trunk_id: str) -> list[PhoneNumber]:
        """The numbers on a trunk."""
        path = self.paths.numbers(trunk_id)
        return await self._fetch(_NUMBERS, "list_numbers", "GET", path)

    async def add_number(self, trunk_id: str, number: NumberCreate) -> PhoneNumber:
        """Add a number. On ``UncertainOutcome``, list the numbers before retrying."""
        path = self.paths.numbers(trunk_id)
        return await self._fetch(_NUMBER, "add_number", "POST", path, body=number.to_body())

    async def delete_number(self, trunk_id: str, number_id: str) -> None:
        """Remove a number from a trunk (and from any agent it was mapped to)."""
        await self._call("delete_number", "DELETE", self.paths.number(trunk_id, number_id))

    # The machinery, also for API wrappers that share this client (``TrunkApi``): their
    # calls then share its retries, rate limiter, bounds, deadline, redaction and metrics.

    async def fetch(self, adapter: TypeAdapter[T], operation: str, method: str, path: str,
                    *, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None, attempts: int | None = None
                    ) -> T:
        """One call, its successful answer parsed by ``adapter``; see ``call`` for the
        rules of sending again. A body that ``adapter`` cannot read is
        ``UnexpectedResponse``, or ``UncertainOutcome`` on a POST (it was applied)."""
        return await self._fetch(adapter, operation, method, path, body=body,
                                 params=params, attempts=attempts)

    async def call(self, operation: str, method: str, path: str, *,
                   body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None,
                   attempts: int | None = None) -> Answer:
        """One call, sent again only when that is safe for ``method`` (see the module's
        docstring); the successful answer, or, for a DELETE whose target turned out
        gone after an attempt that may have been applied, an empty 404 answer.

        ``operation`` names the call in ``counts``; an ``auth_password`` string in
        ``body`` is scrubbed from any error text, like the token."""
        return await self._call(operation, method, path, body=body, params=params,
                                attempts=attempts)

    async def _fetch(self, adapter: TypeAdapter[T], operation: str, method: str, path: str,
                     *, body: dict[str, Any] | None = None,
                     params: dict[str, str] | None = None, attempts: int | None = None
                     ) -> T:
        """One call and its parsed answer. The answer is never bound to a name in a
        frame an error's traceback could keep alive."""
        return self._read(adapter, await self._call(operation, method, path, body=body,
                                                     params=params, attempts=attempts),
                          method, path)

    async def _call(self, operation: str, method: str, path: str, *,
                    body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None,
                    attempts: int | None = None) -> Answer:
        """Send until answered, retrying only what is safe to send again (at most
        ``attempts`` times, else the retry policy's number).

        Returns a successful answer, or, for a DELETE whose target turned out gone
        after an attempt that may have been applied, an empty 404 answer.
        """
        self.counts.calls[operation] += 1
        password = body.get("auth_password") if body else None
        redactor = self._redactor.with_secrets([password if isinstance(password, str) else None])
        maybe_applied = False
        attempt = 0
        while True:
            attempt += 1
            async with self.rate_limiter.slot():
                outcome = await self._send(method, path, body, params, attempt, redactor)
            if isinstance(outcome, Answer):
                return outcome
            error = outcome
            if method == "DELETE" and isinstance(error, NotFound) and maybe_applied:
                logger.debug("bolna %s %s: gone after an uncertain attempt (attempt %d)",
                             method, path, attempt)
                return Answer(status=404, reason="", retry_after=None, body=b"")
            if not isinstance(error, TemporaryError):
                raise error
            applied_unknown = not is_not_applied(error)
            if applied_unknown and not is_idempotent(method):
                raise uncertain(error)
            maybe_applied = maybe_applied or applied_unknown
            delay = self.retry.delay_for(attempt, error)
            if isinstance(error, RateLimited):
                self.rate_limiter.pause(
                    delay if delay is not None else self.retry.max_retry_after)
            if delay is None or attempt >= (attempts or self.retry.max_attempts):
                raise error
            logger.debug("bolna %s %s: retry in %.3fs after %s (attempt %d)",
                         method, path, delay, type(error).__name__, attempt)
            await self.retry.sleep(delay)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None,
                    params: dict[str, str] | None, attempt: int,
                    redactor: Redactor) -> Answer | BolnaError:
        """One HTTP attempt, within the deadline: a successful answer, or the error that
        stood for it (an unsuccessful answer becomes its typed error here, so that not
        even its excerpt outlives this call).

        Transport exceptions become typed errors here and are *returned*, so the
        caller raises them outside any ``except`` block: the httpx exception, which
        holds the request and its headers, is not chained to what we raise.
        """
        self.counts.requests[method] += 1
        started = time.monotonic()
        progress = _Progress(traced=self._traced)
        outcome: Answer | BolnaError
        timer = asyncio.timeout(self.deadline)
        try:
            async with timer:
                outcome = await self._exchange(method, path, body, params, progress)
        except httpx.RequestError as exc:
            outcome = _transport_error(exc, method, path, redactor)
        except BolnaError as exc:  # raised by _exchange itself, chained to nothing
            outcome = exc
        except TimeoutError:
            if not timer.expired():
                raise
            outcome = self._late(method, path, progress)
        elapsed = time.monotonic() - started
        shown = (str(outcome.status) if isinstance(outcome, Answer)
                 else type(outcome).__name__)
        size = f", {len(outcome.body)} bytes" if isinstance(outcome, Answer) else ""
        logger.debug("bolna %s %s -> %s%s in %.3fs (attempt %d)", method, path, shown,
                     size, elapsed, attempt)
        for observer in self._observers:
            observer(method, shown, elapsed)
        if isinstance(outcome, Answer) and not outcome.is_success:
            return _answer_error(outcome, method, path, redactor)
        return outcome

    def _late(self, method: str, path: str, progress: _Progress) -> Answer | BolnaError:
        """What a missed deadline stands for: an error answer whose head had come is
        still that answer (its body is only a message); anything else is
        ``DeadlineExceeded``."""
        if progress.head is not None and not progress.head.is_success:
            return progress.head
        where = ("reading the answer's body" if progress.head is not None
                 else "waiting for the answer" if progress.maybe_sent
                 else "before the request was sent")
        return DeadlineExceeded(
            f"no whole answer within the request deadline of {self.deadline:g}s (gave up "
            f"{where}); {DEADLINE_FLAG} raises it",
            sent=progress.maybe_sent, method=method, path=path)

    async def _exchange(self, method: str, path: str, body: dict[str, Any] | None,
                        params: dict[str, str] | None, progress: _Progress) -> Answer:
        """Send the request and read the answer, streamed, never holding more of a
        body than its limit plus the chunk in hand."""
        request = self._http.build_request(method, path, json=body, params=params,
                                           extensions={"trace": progress.trace})
        response = await self._http.send(request, stream=True)
        try:
            head = Answer(status=response.status_code, reason=response.reason_phrase,
                          retry_after=response.headers.get("Retry-After"), body=b"")
            progress.head = head
            if not head.is_success:
                return await self._excerpt(response, head)
            declared = _content_length(response)
            if declared is not None and declared > self.max_answer_bytes:
                raise self._too_large(head, method, path,
                                      f"its Content-Length is {declared} bytes, refused "
                                      "unread")
            content = await self._read_body(response, self.max_answer_bytes)
            if isinstance(content, str):
                raise UnexpectedResponse(content, status=head.status, method=method,
                                         path=path)
            if content.over:
                raise self._too_large(head, method, path, "read up to there, the rest left "
                                      "unread")
            return Answer(status=head.status, reason=head.reason,
                          retry_after=head.retry_after, body=content.data)
        finally:
            await response.aclose()

    async def _excerpt(self, response: httpx.Response, head: Answer) -> Answer:
        """An error answer with the first ``ERROR_EXCERPT_BYTES`` of its body, or none
        when the body cannot be read: the status is the answer, the body only a
        message."""
        try:
            content = await self._read_body(response, ERROR_EXCERPT_BYTES, keep=True)
        except httpx.RequestError:
            return head
        if isinstance(content, str):
            return head
        return Answer(status=head.status, reason=head.reason, retry_after=head.retry_after,
                      body=content.data, cut=content.over)

    def _too_large(self, head: Answer, method: str, path: str, what: str) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"the answer is larger than the limit of {self.max_answer_bytes} bytes ({what}); "
            f"{MAX_ANSWER_FLAG} raises it",
            limit=self.max_answer_bytes, status=head.status, method=method, path=path)

    async def _read_body(self, response: httpx.Response, limit: int, *,
                         keep: bool = False) -> _Body | str:
        """The decoded body, read until it ends or passes ``limit`` bytes, then left
        unread (the caller closes the connection).

        Past the limit the body is ``over``, and its data empty, or with ``keep`` the
        first ``limit`` bytes. A ``str`` says why the body could not be decoded.
        """
        chunks: AsyncGenerator[bytes, None]
        if response.is_stream_consumed:
            # Built in memory (an httpx.MockTransport's answer): already read, and
            # decoded. It goes through the same limit.
            decoder, chunks = _Decoder(""), _once(response.content)
        else:
            try:
                decoder = _Decoder(response.headers.get("Content-Encoding", ""))
            except ValueError as exc:
                return str(exc)
            chunks = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        with _Buffer(limit) as buffer:
            async with aclosing(chunks):  # closed now, not when collected
                async for chunk in chunks:
                    self.counts.bytes_received += len(chunk)
                    try:
                        if not all(buffer.add(piece) for piece in decoder.decode(chunk)):
                            break
                    except zlib.error:
                        return f"the answer's {decoder.encoding} body could not be decoded"
            self.counts.largest_body = max(self.counts.largest_body,
                                           response.num_bytes_downloaded)
            data = buffer.data() if keep or not buffer.over else b""
            return _Body(data, buffer.over)

    @staticmethod
    def _read(adapter: TypeAdapter[T], answer: Answer, method: str, path: str) -> T:
        """The parsed body of a successful answer, or ``UnexpectedResponse``.

        A POST whose success answer cannot be read was still applied, probably: that is
        an ``UncertainOutcome`` (find the trunk by name).
        """
        try:
            return adapter.validate_json(answer.body)
        except ValidationError as exc:
            problem = _describe(exc)
        error = UnexpectedResponse(f"body not as documented: {problem}",
                                   status=answer.status, method=method, path=path)
        del answer  # the traceback keeps this frame: it must not keep the body
        if not is_idempotent(method):
            raise uncertain(error)
        raise error


@dataclass(frozen=True)
class _Body:
    data: bytes
    over: bool
    """Whether the body was longer than the limit it was read with."""


class _Buffer:
    """A body being read, in an anonymous memory map the size of its limit.

    Pages are taken only as they are written, and all given back to the system the
    moment the buffer closes, whatever happened: a body refused at 16 MiB leaves no
    heap behind it (a growing ``bytearray`` would leave the allocator holding its size,
    and raise glibc's mmap threshold so that the next big one stays too). Never holds
    more than the limit: a piece that does not fit is written only in part.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.over = False
        self._map = mmap.mmap(-1, max(limit, 1), flags=mmap.MAP_PRIVATE)

    def __enter__(self) -> _Buffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._map.close()

    def add(self, piece: bytes) -> bool:
        """Write ``piece``; False (and ``over``) when it did not fit whole."""
        room = self.limit - self.size
        taken = min(room, len(piece))
        if taken:
            self._map[self.size:self.size + taken] = memoryview(piece)[:taken]
            self.size += taken
        if len(piece) > room:
            self.over = True
        return not self.over

    def data(self) -> bytes:
        return self._map[:self.size]


class _Decoder:
    """A ``Content-Encoding`` undone a piece at a time, each piece at most
    ``DECODED_PIECE`` bytes, however much one compressed chunk unfolds to: a gzip bomb
    is stopped at the limit like any other body. ``ValueError`` for an encoding the
    client did not ask for."""

    def __init__(self, header: str) -> None:
        self.encoding = header.strip().lower()
        self._zlib: zlib._Decompress | None = None
        self._fresh = True
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif self.encoding not in ("", "identity"):
            raise ValueError(f"the answer came in Content-Encoding {self.encoding!r}, which "
                             f"the client did not ask for ({_ACCEPT_ENCODING})")

    def decode(self, chunk: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            yield chunk
            return
        if self._fresh and self.encoding == "deflate":
            # HTTP's deflate is zlib-wrapped; some servers send it raw.
            try:
                zlib.decompressobj().decompress(chunk[:64], 1)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._fresh = False
        data = chunk
        while True:
            piece = self._zlib.decompress(data, DECODED_PIECE)
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < DECODED_PIECE:
                return


async def _once(data: bytes) -> AsyncGenerator[bytes, None]:
    yield data


def _content_length(response: httpx.Response) -> int | None:
    """The declared body length, when there is one and it is a number."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value.split(",")[0].strip())
    except ValueError:
        return None


def _answer_error(answer: Answer, method: str, path: str, redactor: Redactor) -> BolnaError:
    """The typed error of an unsuccessful answer, its message from the body's excerpt."""
    reason = reason_phrase(answer.status, answer.reason)
    if answer.cut:
        reason += f" (a body of more than {ERROR_EXCERPT_BYTES} bytes, not read)"
    return error_from_response(
        status=answer.status, body=answer.body, reason=reason,
        retry_after=answer.retry_after, method=method, path=path, redactor=redactor,
        now=datetime.now(UTC))


def _transport_error(exc: httpx.RequestError, method: str, path: str,
                     redactor: Redactor) -> BolnaError:
    name = type(exc).__name__
    detail = redactor(str(exc))
    message = f"{name}: {detail}" if detail else name
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentError(f"cannot reach Bolna at this base URL ({message})",
                              method=method, path=path)
    return NetworkError(message, sent=not isinstance(exc, _NOT_SENT), method=method, path=path)


def read_trunk_list(answer: Answer, path: str, *, needs: tuple[str, ...] = (),
                    wrappers: tuple[str, ...] = ()) -> list[ListedTrunk]:
    """A list answer split into records (``records.split_trunk_list``), or
    ``UnexpectedResponse`` saying where it broke."""
    try:
        return split_trunk_list(answer.body, needs=needs, wrappers=wrappers)
    except NotATrunkListError as error:
        problem = str(error)
    status = answer.status
    del answer  # the traceback keeps this frame: it must not keep the body
    raise UnexpectedResponse(f"body not as documented: {problem}", status=status,
                             method="GET", path=path)


def parse_record(adapter: TypeAdapter[T], record: bytes, path: str) -> T:
    """One record a snapshot kept as JSON, parsed; ``UnexpectedResponse`` (naming
    ``path``, where the list came from) if it is not as documented."""
    return BolnaClient._read(adapter, Answer(status=200, reason="", retry_after=None,
                                             body=record), "GET", path)


def _describe(exc: ValidationError) -> str:
    """Where a body broke the schema, without the values (they may be anything)."""
    problems = [f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['type']}"
                for error in exc.errors(include_input=False, include_url=False)[:5]]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
