# ruff: noqa: N818 (the names read as outcomes: `except NotFound`, `except UncertainOutcome`)
"""Typed errors of the Bolna client: what went wrong decides what the caller does next.

Two families, because the reconciler has two reactions:

* ``PermanentError``: Bolna refused the request and will refuse it again until someone
  changes the spec or the credentials. The reconciler sets ``Stalled`` and waits for a
  change; retrying would only burn the account's rate limit.
* ``TemporaryError``: try again later, with backoff. ``UncertainOutcome`` is the one a
  caller must not treat as "nothing happened": a create was sent and its answer lost, so
  the trunk may exist; look it up by name before creating again (Bolna has no
  idempotency keys).

| status / failure                    | class                                   |
|-------------------------------------|-----------------------------------------|
| 400, 4xx not listed below           | ``BadRequest`` / ``PermanentError``     |
| 401, 403                            | ``Unauthorized``                        |
| 404                                 | ``NotFound``                            |
| 409                                 | ``Conflict``                            |
| 422                                 | ``Rejected``                            |
| 408, 425                            | ``TemporaryError``                      |
| 429                                 | ``RateLimited``                         |
| 5xx                                 | ``ServerError``                         |
| timeout, connection error           | ``NetworkError``                        |
| no whole answer within the deadline | ``DeadlineExceeded`` (``NetworkError``) |
| 2xx whose body is over the size cap | ``AnswerTooLarge``                      |
| 2xx whose body is not as documented | ``UnexpectedResponse``                  |
| any of the temporary ones on a POST | ``UncertainOutcome`` unless surely not  |
|   that may have been applied        |   applied (429, connect failure)        |

Errors carry the status, a message, the method and the path: never a body, never a
header. The message is Bolna's own text passed through a ``Redactor``, cut to
``MAX_MESSAGE_LENGTH`` characters; an error answer's body is only ever read up to a small
excerpt (see ``client.py``), so no error holds on to a large body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from .redact import Redactor

MAX_MESSAGE_LENGTH = 500


class BolnaError(Exception):
    """Any failure of a call to Bolna."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "",
                 path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else ""
        head = ": ".join(part for part in (where, status) if part)
        return f"{head}: {self.message}" if head else self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, method={self.method!r}, "
                f"path={self.path!r}, message={self.message!r})")


class PermanentError(BolnaError):
    """Bolna refused; only a change of spec or credentials can fix it. Never retried."""


class BadRequest(PermanentError):
    """400: a validation error (e.g. "At least one gateway is required")."""


class Unauthorized(PermanentError):
    """401 or 403: the API token is missing, wrong or revoked."""


class NotFound(PermanentError):
    """404: the trunk or number does not exist (or no longer)."""


class Conflict(PermanentError):
    """409: the name is taken, or the number is on another active trunk."""


class Rejected(PermanentError):
    """422: well-formed but refused, e.g. ``sdes`` without ``transport-tls``."""


class TemporaryError(BolnaError):
    """Worth retrying later, with backoff.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, method: str = "",
                 path: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, method=method, path=path)


class RateLimited(TemporaryError):
    """429: over the account's 1000 requests per minute. Never applied by Bolna."""


class ServerError(TemporaryError):
    """5xx: Bolna (or a proxy in front of it) failed."""


class NetworkError(TemporaryError):
    """No HTTP answer: a timeout or a broken connection.

    ``sent`` is False only when the request surely never reached Bolna (the connection
    could not be opened), which is what makes a POST safe to send again.
    """

    def __init__(self, message: str, *, sent: bool, method: str = "", path: str = "") -> None:
        self.sent = sent
        super().__init__(message, method=method, path=path)


class DeadlineExceeded(NetworkError):
    """No whole answer within the request deadline: connecting, sending, the headers and
    the body together took longer, though each wait may have been within the timeout
    (an answer trickled byte by byte, or a server that never finishes).

    ``sent`` as for ``NetworkError``: False only when the deadline passed before any
    byte of the request went out. Not retried inside the client: an attempt that used
    the whole deadline is no blip, the caller reports it and comes back later.
    """


class AnswerTooLarge(TemporaryError):
    """A success answer whose body is larger than the client reads (``limit`` bytes).

    Refused unread when its ``Content-Length`` says so, else cut off as soon as it passes
    the limit; nothing of it is kept. Temporary (a misbehaving server or proxy, or an
    account that outgrew the limit: raise it), but not retried inside the client, since
    the same answer would come again. On a POST the request was applied, so it becomes an
    ``UncertainOutcome``.
    """

    def __init__(self, message: str, *, limit: int, status: int | None = None,
                 method: str = "", path: str = "") -> None:
        self.limit = limit
        super().__init__(message, status=status, method=method, path=path)


class UnexpectedResponse(TemporaryError):
    """A success status whose body is not what the contract documents."""


class UncertainOutcome(TemporaryError):
    """A POST was (or may have been) applied but its answer was lost.

    Do not send it again blindly: list the trunks (or numbers), find the one by name
    (or number), and only create it if it is not there.
    """


_BY_STATUS: Mapping[int, type[BolnaError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    408: TemporaryError,
    409: Conflict,
    422: Rejected,
    425: TemporaryError,
    429: RateLimited,
}


def error_class(status: int) -> type[BolnaError]:
    """The class of error an HTTP status maps to (for an unsuccessful status)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return PermanentError


def is_not_applied(error: TemporaryError) -> bool:
    """Whether Bolna surely did not act on the request that failed this way."""
    if isinstance(error, RateLimited):
        return True
    return isinstance(error, NetworkError) and not error.sent


def reason_phrase(status: int, given: str = "") -> str:
    """The reason phrase of a status: the server's, else the standard one."""
    if given:
        return given
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def parse_error_message(body: bytes, reason: str) -> str:
    """Bolna's error text from any of the three body shapes seen in the wild.

    ``{"detail": "..."}`` (FastAPI; ``detail`` may also be a list of pydantic errors, or
    an object), ``{"message": "..."}`` and ``{"error": ..., "message": ...}``. Anything
    else (HTML from a proxy, an empty body) yields the reason phrase. Never raises.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _shorten(reason)
    return _shorten(_message_of(document, depth=0) or reason)


def _message_of(document: object, depth: int) -> str:
    if depth > 3:
        return ""
    if isinstance(document, str):
        return document.strip()
    if isinstance(document, list):
        parts = [_item_message(item, depth) for item in document]
        return "; ".join(part for part in parts if part)
    if not isinstance(document, dict):
        return ""
    for key in ("detail", "message"):
        text = _message_of(document.get(key), depth + 1)
        if text:
            return text
    error = document.get("error")
    if isinstance(error, str | dict | list):
        return _message_of(error, depth + 1)
    msg = document.get("msg")
    return msg.strip() if isinstance(msg, str) else ""


def _item_message(item: object, depth: int) -> str:
    """One entry of a FastAPI/pydantic error list: ``loc: msg``, never ``input``."""
    if isinstance(item, dict) and isinstance(item.get("msg"), str):
        loc = item.get("loc")
        where = ""
        if isinstance(loc, list):
            parts = [str(part) for part in loc if isinstance(part, str | int)]
            if parts and parts[0] == "body":
                parts = parts[1:]
            where = ".".join(parts)
        msg = str(item["msg"]).strip()
        return f"{where}: {msg}" if where else msg
    return _message_of(item, depth + 1)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return text[: MAX_MESSAGE_LENGTH - 3] + "..."


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    A date in the past means "now" (0). Anything unreadable means "not given" (None).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_from_response(*, status: int, body: bytes, reason: str, retry_after: str | None,
                        method: str, path: str, redactor: Redactor,
                        now: datetime | None = None) -> BolnaError:
    """The typed error for an unsuccessful HTTP answer."""
    message = redactor(parse_error_message(body, reason_phrase(status, reason)))
    cls = error_class(status)
    if issubclass(cls, TemporaryError):
        return cls(message, status=status, method=method, path=path,
                   retry_after=parse_retry_after(retry_after, now))
    return cls(message, status=status, method=method, path=path)


def uncertain(error: TemporaryError) -> UncertainOutcome:
    """``error`` restated as an ``UncertainOutcome`` (same status, method and path)."""
    return UncertainOutcome(
        f"outcome unknown, the request may have been applied ({error.message})",
        status=error.status, method=error.method, path=error.path,
        retry_after=error.retry_after)
