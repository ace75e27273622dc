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

Secrets: the token lives in a ``SecretStr`` and in the HTTP client's headers, nowhere
else; the SIP password is opened only by ``to_body()``. Both are scrubbed from any
server text that ends up in an error. Debug logs carry method, path, status, duration
and attempt only.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr, TypeAdapter, ValidationError

from .. import __version__
from .errors import (
    BolnaError,
    NetworkError,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
    UnexpectedResponse,
    error_from_response,
    is_not_applied,
    uncertain,
)
from .ratelimit import SHARED_LIMITERS, LimiterRegistry, RateLimiter
from .redact import Redactor
from .retry import RetryPolicy, is_idempotent
from .wire import NumberCreate, PhoneNumber, Trunk, TrunkCreate, TrunkUpdate

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bolna.ai"
DEFAULT_TIMEOUT = 10.0

T = TypeVar("T")

_TRUNK: TypeAdapter[Trunk] = TypeAdapter(Trunk)
_TRUNKS: TypeAdapter[list[Trunk]] = TypeAdapter(list[Trunk])
_NUMBER: TypeAdapter[PhoneNumber] = TypeAdapter(PhoneNumber)
_NUMBERS: TypeAdapter[list[PhoneNumber]] = TypeAdapter(list[PhoneNumber])

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class ApiPaths:
    """Where each call goes, for one generation of Bolna's trunk API.

    The only place paths are spelled. Bolna's newer ``/trunk/trunks`` API would be a
    second instance (plus its own wire shapes); ids are quoted so an odd id cannot
    escape its path segment.
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
    counts HTTP attempts by HTTP method, retries included.
    """

    calls: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)


class BolnaClient:
    """One Bolna account's SIP trunk API.

    ``rate_limiter`` defaults to the account's shared limiter from ``limiters`` (so all
    clients of one token share Bolna's per-minute budget); ``transport`` is for tests.
    """

    def __init__(self, token: SecretStr | str, *, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = DEFAULT_TIMEOUT, rate_limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 paths: ApiPaths = SIP_TRUNKS_API,
                 limiters: LimiterRegistry = SHARED_LIMITERS,
                 observer: Callable[[str, str, float], None] | None = None) -> None:
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        if not secret.get_secret_value():
            raise ValueError("the Bolna API token is empty")
        self.base_url = base_url
        self.paths = paths
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter or limiters.for_token(secret)
        self.counts = CallCounts()
        self._observer = observer
        """Told (HTTP method, status code or error name, seconds) of every attempt, for
        metrics."""
        self._redactor = Redactor([secret.get_secret_value()])
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {secret.get_secret_value()}",
                "Accept": "application/json",
                "User-Agent": f"bolna-sip-operator/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"BolnaClient(base_url={self.base_url!r}, api={self.paths.root!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # Trunks

    async def list_trunks(self, is_active: bool | None = None) -> list[Trunk]:
        """All trunks of the account (Bolna does not paginate), optionally by state."""
        params = None if is_active is None else {"is_active": "true" if is_active else "false"}
        path = self.paths.trunks()
        response = await self._call("list_trunks", "GET", path, params=params)
        return self._read(_TRUNKS, response, "GET", path)

    async def find_trunk(self, name: str) -> Trunk | None:
        """The trunk named ``name`` (names are unique per account), if there is one.

        What to call after an ``UncertainOutcome`` from ``create_trunk``.
        """
        return next((trunk for trunk in await self.list_trunks() if trunk.name == name), None)

    async def get_trunk(self, trunk_id: str) -> Trunk:
        """One trunk with its gateways, IP identifiers and numbers. ``NotFound`` if gone."""
        path = self.paths.trunk(trunk_id)
        response = await self._call("get_trunk", "GET", path)
        return self._read(_TRUNK, response, "GET", path)

    async def create_trunk(self, trunk: TrunkCreate) -> Trunk:
        """Create a trunk. On ``UncertainOutcome``, look it up by name before retrying."""
        path = self.paths.trunks()
        response = await self._call("create_trunk", "POST", path, body=trunk.to_body())
        return self._read(_TRUNK, response, "POST", path)

    async def update_trunk(self, trunk_id: str, update: TrunkUpdate) -> Trunk:
        """Change the given fields of a trunk; returns the whole updated trunk."""
        path = self.paths.trunk(trunk_id)
        response = await self._call("update_trunk", "PATCH", path, body=update.to_body())
        return self._read(_TRUNK, response, "PATCH", path)

    async def delete_trunk(self, trunk_id: str) -> None:
        """Delete a trunk, its gateways and IP identifiers; its numbers are soft-deleted.

        Bolna advises deactivating (``is_active=False``) first.
        """
        await self._call("delete_trunk", "DELETE", self.paths.trunk(trunk_id))

    # Phone numbers

    async def list_numbers(self, trunk_id: str) -> list[PhoneNumber]:
        """The numbers on a trunk."""
        path = self.paths.numbers(trunk_id)
        response = await self._call("list_numbers", "GET", path)
        return self._read(_NUMBERS, response, "GET", path)

    async def add_number(self, trunk_id: str, number: NumberCreate) -> PhoneNumber:
        """Add a number. On ``UncertainOutcome``, list the numbers before retrying."""
        path = self.paths.numbers(trunk_id)
        response = await self._call("add_number", "POST", path, body=number.to_body())
        return self._read(_NUMBER, response, "POST", path)

    async def delete_number(self, trunk_id: str, number_id: str) -> None:
        """Remove a number from a trunk (and from any agent it was mapped to)."""
        await self._call("delete_number", "DELETE", self.paths.number(trunk_id, number_id))

    # The machinery

    async def _call(self, operation: str, method: str, path: str, *,
                    body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> httpx.Response:
        """Send until answered, retrying only what is safe to send again.

        Returns a successful response, or, for a DELETE whose target turned out gone
        after an attempt that may have been applied, the 404 response.
        """
        self.counts.calls[operation] += 1
        password = body.get("auth_password") if body else None
        redactor = self._redactor.with_secrets([password if isinstance(password, str) else None])
        maybe_applied = False
        attempt = 0
        while True:
            attempt += 1
            await self.rate_limiter.acquire()
            outcome = await self._send(method, path, body, params, attempt, redactor)
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return outcome
                error = error_from_response(
                    status=outcome.status_code, body=outcome.content,
                    reason=outcome.reason_phrase,
                    retry_after=outcome.headers.get("Retry-After"),
                    method=method, path=path, redactor=redactor, now=datetime.now(UTC))
                if method == "DELETE" and isinstance(error, NotFound) and maybe_applied:
                    logger.debug("bolna %s %s: gone after an uncertain attempt (attempt %d)",
                                 method, path, attempt)
                    return outcome
            else:
                error = outcome
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
            if delay is None or attempt >= self.retry.max_attempts:
                raise error
            logger.debug("bolna %s %s: retry in %.3fs after %s (attempt %d)",
                         method, path, delay, type(error).__name__, attempt)
            await self.retry.sleep(delay)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None,
                    params: dict[str, str] | None, attempt: int,
                    redactor: Redactor) -> httpx.Response | BolnaError:
        """One HTTP attempt: the response, or the error that stood for it.

        Transport exceptions become typed errors here and are *returned*, so the
        caller raises them outside any ``except`` block: the httpx exception, which
        holds the request and its headers, is not chained to what we raise.
        """
        self.counts.requests[method] += 1
        started = time.monotonic()
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except httpx.RequestError as exc:
            failure = _transport_error(exc, method, path, redactor)
        else:
            elapsed = time.monotonic() - started
            logger.debug("bolna %s %s -> %d in %.3fs (attempt %d)", method, path,
                         response.status_code, elapsed, attempt)
            if self._observer is not None:
                self._observer(method, str(response.status_code), elapsed)
            return response
        elapsed = time.monotonic() - started
        logger.debug("bolna %s %s -> %s in %.3fs (attempt %d)", method, path,
                     type(failure).__name__, elapsed, attempt)
        if self._observer is not None:
            self._observer(method, type(failure).__name__, elapsed)
        return failure

    @staticmethod
    def _read(adapter: TypeAdapter[T], response: httpx.Response, method: str,
              path: str) -> T:
        """The parsed body of a successful response, or ``UnexpectedResponse``.

        A POST whose success answer cannot be read was still applied, probably: that is
        an ``UncertainOutcome`` (find the trunk by name).
        """
        try:
            return adapter.validate_json(response.content)
        except ValidationError as exc:
            problem = _describe(exc)
        error = UnexpectedResponse(f"body not as documented: {problem}",
                                   status=response.status_code, method=method, path=path)
        if not is_idempotent(method):
            raise uncertain(error)
        raise error


def _transport_error(exc: httpx.RequestError, method: str, path: str,
                     redactor: Redactor) -> BolnaError:
    name = type(exc).__name__
    detail = redactor(str(exc))
    message = f"{name}: {detail}" if detail else name
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentError(f"cannot reach Bolna at this base URL ({message})",
                              method=method, path=path)
    return NetworkError(message, sent=not isinstance(exc, _NOT_SENT), method=method, path=path)


def _describe(exc: ValidationError) -> str:
    """Where a body broke the schema, without the values (they may be anything)."""
    problems = [f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['type']}"
                for error in exc.errors(include_input=False, include_url=False)[:5]]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
