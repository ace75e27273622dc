"""The emulator's HTTP server: Bolna's ``/sip-trunks`` routes, plus an admin API.

Each ``/sip-trunks`` request goes through the same steps, in the order a client of the
real service meets them: the fault draw (latency, then a 429 burst, a timeout or a 5xx,
all before anything is done), the bearer token (403 ``{"detail": ...}``, Bolna's own
shape for it), the account's rate limit (429), the handler (``store.py`` does the work;
its :class:`~bolna_emulator.store.ApiError` becomes ``{"error": status, "message": ...}``,
the OpenAPI's declared shape, or FastAPI's 422 ``{"detail": [...]}`` for a body that
does not fit the request schema), and last the lost-response fault, which drops the
connection after a successful change has been stored. Answers are then shaped as the
settings ask (``answers.py``: sparse answers, fields left out, numbers that appear late).

Request bodies are read as FastAPI reads them: without a ``Content-Type`` or with a JSON
one (``application/json``, ``application/*+json``) as JSON; with any other media type
the body is not JSON to the service, so it fails the model: 422 (not 415), ``loc``
``["body"]``. A body that is not valid JSON is a 422 ``json_invalid``. A method a route
does not have is a 405 with an ``Allow`` header.

Where the OpenAPI is silent
---------------------------

What Bolna's OpenAPI (``openapi.py``) does not say, or says otherwise than the setup
guide, and what the emulator does there:

1. Validation status: the OpenAPI declares only 400 ("validation error"); the guide
   documents a 422 (sdes without TLS); a FastAPI service answers 422 to a body that
   does not fit its model. The emulator: 422 with FastAPI's ``detail`` list for schema
   problems (types, enums, ``null``, fields outside the schema, missing fields Bolna
   gives no message for); 400 ``{"error", "message"}`` for Bolna's documented messages
   (missing name, provider, auth_type or gateways; a wrong auth_type; userpass without
   credentials; ip-based without identifiers) and for its own rules where all is
   silent (blank strings, ports outside 1-65535, a negative priority or
   qualify_frequency, addresses that are not hostnames or CIDR blocks, numbers that
   are not digits); 422 ``{"error", "message"}`` for sdes without TLS (the guide's).
2. Fields outside a request schema (no ``additionalProperties`` anywhere): refused on
   create and on adding a number (422 ``extra_forbidden``: so ``is_active`` on create,
   which SIPTrunkCreateRequest lacks, is refused), ignored on PATCH (so
   ``direct_media``, ``rtp_symmetric``, ``force_rport``, ``provider``, ``auth_type``,
   ``phone_numbers`` in a PATCH change nothing and the answer shows the old values).
   Both are switches (``unknown_fields_on_create``, ``unknown_fields_on_update``).
3. Nullability: no request field is declared nullable, so ``null`` is refused
   everywhere (422), ``description`` included; clearing a description is ``""``.
4. Coercion: none. ``"60"`` is not an integer and ``"true"`` not a boolean (pydantic's
   lax mode would take both); an integer may be written ``60.0`` (JSON Schema's rule).
5. Statuses the OpenAPI does not list: 403 ``{"detail": "Unrecognized access token"}``
   for a missing or unknown token (Bolna's live answer); 404 for an unknown trunk on
   PATCH and on adding a number (documented only for GET, DELETE and the numbers list);
   409 for a name taken in the account or a number already on an active trunk
   (undocumented; Bolna's design notes allow 409 or 422); 422 as in 1; 429 over the
   rate limit (documented on Bolna's rate-limit page, not in the OpenAPI); 405 for a
   method a path does not have.
6. Create's status: 201, as the OpenAPI says (the newer ``/trunk`` API answers 200).
7. Response fields: none is required by the OpenAPI. By default every answer carries
   every field of SIPTrunkResponse / SIPTrunkPhoneNumberResponse (``description`` and
   ``auth_username`` only when set, a number's ``name`` only when given: the schema's
   strings are not nullable); gateways also carry ``id`` and ``created_at``, as the
   guide's examples do (SIPTrunkGateway lacks them). ``sparse_answers`` and
   ``omit_*_fields`` answer as the guide's sparse examples do.
8. PATCH answer: "Updated SIP trunk", read as the whole trunk after the change.
9. DELETE answers: the OpenAPI gives only examples (``{"message": ...}``), no schema;
   the emulator answers exactly those messages.
10. Numbers: the number is stored exactly as sent and compared with and without a
    leading ``+`` (the guide); deleting a trunk or a number soft-deletes its numbers
    (``deleted: true``, never listed again); ``e164_check_enabled`` checks E.164.
11. ``is_active`` query filter: ``true``/``false`` (also ``1``/``0``); anything else 400.
12. Conditional requirements the schema cannot say (credentials for userpass,
    identifiers for ip-based, sdes only with TLS) are checked on the trunk as it would
    be after a PATCH too, not only on the fields sent.
13. Media type: the OpenAPI declares only ``application/json`` request bodies. A body
    sent as another media type is a 422 (``loc`` ``["body"]``), as FastAPI answers,
    not a 415; no Content-Type at all is read as JSON, as FastAPI does.
14. Order: faults, then the token (403), then the rate limit (429), then the body's
    schema (422) before the trunk is looked up (404), then Bolna's own rules (400),
    sdes (422), conflicts (409). The OpenAPI orders nothing.
15. Eventual consistency: not documented. By default a number shows at once; the
    ``late_numbers_*`` switches model what Bolna's own tooling records.

``/trunk/...``, Bolna's newer SIP trunk API, is served beside it through the same steps
(faults, token, the same per-account rate limit, the lost response), with its own
error shape (``{"detail": ...}``) on every answer under that prefix: ``trunk_routes.py``
lists its routes, its admin routes and where Bolna's pages are silent.

``/_emulator/...`` is the admin API for tests and benchmarks: no auth, never faulted,
not rate limited, not in the request log or stats. It shows the state (passwords as
SHA-256), the request log and counters, and sets faults and the other switches at
runtime (``PUT /_emulator/faults``; see ``faults.py``). With ``record_bodies`` on, each
POST/PATCH/DELETE entry of the request log also holds ``content_type`` and ``body``
(the JSON sent, every ``auth_password`` replaced by ``"REDACTED"``; a body that is not
JSON is never kept, ``body_error`` says so).

One access line per request is logged at INFO: method, path, status, milliseconds.
Never headers, tokens, bodies or passwords.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.message
import json
import logging
import math
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from aiohttp import web

from . import LISTENING_PREFIX, SETTINGS_ENV, account_label
from .answers import LateNumbers, shape_number, shape_trunk, trunk_shows
from .faults import FaultInjector, FaultSettings
from .ratelimit import SlidingWindow
from .statefile import StateFile
from .store import Account, ApiError, JsonObject, Store
from .trunk_routes import TrunkRoutes, is_trunk_path, trunk_error, trunk_error_answer
from .trunk_store import TrunkStore
from .validation import (
    UnknownFields,
    content_type_problem,
    detail_text,
    json_problem,
    redact,
)

__all__ = ["Emulator", "EmulatorConfig", "run", "serve", "with_environment_settings"]

log = logging.getLogger("bolna_emulator")
access_log = logging.getLogger("bolna_emulator.access")

API_PREFIX = "/sip-trunks"
ADMIN_PREFIX = "/_emulator/"
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
UNRECOGNIZED_TOKEN = {"detail": "Unrecognized access token"}
_SHUTDOWN_GRACE = 0.5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the command line sets.

    Attributes:
        tokens: the API tokens; each is its own account.
        host: address to listen on (loopback by default: the emulator has no TLS and
            its admin API no auth).
        port: TCP port; 0 picks a free one (read it from the listening line).
        state_file: JSON file the state is loaded from and saved to after each change;
            None keeps state in memory only.
        faults: fault switches and limits at start (and after a reset).
        seed: seed of the fault generator; None picks one (shown by the admin API).
        request_log_limit: the request log keeps this many latest entries.
    """

    tokens: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 0
    state_file: Path | None = None
    faults: FaultSettings = field(default_factory=FaultSettings)
    seed: int | None = None
    request_log_limit: int = 100_000


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": status, "message": message}, status=status,
                             headers=headers)


def _error_for(request: web.Request, status: int, message: str,
               headers: dict[str, str] | None = None) -> web.Response:
    """An error the emulator itself answers, in the shape of the request's API."""
    if is_trunk_path(request.path):
        return trunk_error(status, message, headers)
    return _error(status, message, headers)


def _error_answer(request: web.Request, error: ApiError) -> web.Response:
    """An :class:`ApiError` as answered: FastAPI's ``detail`` list, else the OpenAPI's
    ``Error`` (``{"detail": message}`` under ``/trunk``)."""
    if is_trunk_path(request.path):
        return trunk_error_answer(error)
    if error.detail is not None:
        return web.json_response({"detail": error.detail}, status=error.status)
    return _error(error.status, error.message)


def _access_line(request: web.Request, status: int | None, started: float,
                 fault: str | None) -> float:
    """Log the request's one access line (no headers, no body); return its duration."""
    duration_ms = (time.perf_counter() - started) * 1000.0
    access_log.info("%s %s %s %.1fms%s", request.method, request.path_qs,
                    status if status is not None else "-", duration_ms,
                    f" fault={fault}" if fault else "")
    return duration_ms


def _drop_connection(request: web.Request) -> None:
    """Close the connection without a byte of answer. The handler still returns a
    response object, which aiohttp then fails to write and discards."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/*+json``, parameters aside (FastAPI's
    test of whether a body is JSON)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


def _parse_json(raw: bytes) -> object:
    """The JSON of a body; FastAPI's 422 ``json_invalid`` when it is not."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        problem = json_problem(error.pos, error.msg)
    except (UnicodeDecodeError, RecursionError):
        problem = json_problem(0, "not UTF-8 JSON")
    raise ApiError(422, detail_text([problem]), [problem])


async def _json_body(request: web.Request) -> object:
    """A ``/sip-trunks`` request's body as FastAPI reads it (see the module docstring):
    None when empty."""
    raw = await request.read()
    if not raw:
        return None
    content_type = request.headers.get("Content-Type")
    if content_type is not None and not _is_json_media_type(content_type):
        problem = content_type_problem()
        raise ApiError(422, detail_text([problem]), [problem])
    return _parse_json(raw)


async def _admin_body(request: web.Request) -> object:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None


def _recorded_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """What the request log keeps of a body: its JSON with passwords redacted, or why
    there is none. Never the raw bytes (a body that is not JSON may hold a password)."""
    record: dict[str, Any] = {"content_type": content_type}
    if not raw:
        record["body"] = None
        return record
    try:
        record["body"] = redact(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError):
        record["body"] = None
        record["body_error"] = f"not JSON ({len(raw)} bytes)"
    return record


def _is_active_filter(request: web.Request) -> bool | None:
    value = request.query.get("is_active")
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(400, f"is_active must be true or false (got {value!r})")


@dataclass
class _Outcome:
    """What the request log records about one request, filled in as it is handled."""

    account: str | None = None
    status: int | None = None
    fault: str | None = None
    added_latency_ms: float = 0.0
    body: dict[str, Any] | None = None


class RequestLog:
    """The latest requests and the counters since start (or the last reset)."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0
        self._counts: Counter[tuple[str, str, int | None]] = Counter()
        self._faults: Counter[str] = Counter()
        self._accounts: Counter[str] = Counter()

    def record(self, *, method: str, path: str, route: str, outcome: _Outcome,
               duration_ms: float) -> None:
        self._seq += 1
        entry = {
            "seq": self._seq, "time": _now_iso(), "account": outcome.account,
            "method": method, "path": path, "route": route, "status": outcome.status,
            "fault": outcome.fault, "added_latency_ms": round(outcome.added_latency_ms, 3),
            "duration_ms": round(duration_ms, 3),
        }
        if outcome.body is not None:
            entry.update(outcome.body)
        self._entries.append(entry)
        self._counts[(method, route, outcome.status)] += 1
        if outcome.fault is not None:
            self._faults[outcome.fault] += 1
        if outcome.account is not None:
            self._accounts[outcome.account] += 1

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        return [entry for entry in self._entries if entry["seq"] > since]

    def stats(self) -> dict[str, Any]:
        """Counts by method, route template and status (null: no answer was sent), with
        totals by status, fault and account."""
        by_status: Counter[str] = Counter()
        for (_, _, status), count in self._counts.items():
            by_status["none" if status is None else str(status)] += count
        routes = [{"method": method, "route": route, "status": status, "count": count}
                  for (method, route, status), count in sorted(
                      self._counts.items(), key=lambda item: (item[0][1], item[0][0],
                                                              item[0][2] or 0))]
        return {"total": self._seq, "by_status": dict(sorted(by_status.items())),
                "by_fault": dict(sorted(self._faults.items())),
                "by_account": dict(sorted(self._accounts.items())), "routes": routes}

    def clear(self) -> None:
        self._entries.clear()
        self._seq = 0
        self._counts.clear()
        self._faults.clear()
        self._accounts.clear()


class Emulator:
    """The state, the fault generator, the limiter and the log, and the aiohttp app
    that serves them (:attr:`app`)."""

    def __init__(self, config: EmulatorConfig) -> None:
        if not config.tokens:
            raise ValueError("at least one API token is needed")
        self.config = config
        self.store = Store()
        self.trunk_store = TrunkStore()
        self.faults = FaultInjector(config.faults, config.seed)
        self._start_seed = self.faults.seed
        self.limiter = SlidingWindow()
        self.log = RequestLog(config.request_log_limit)
        self.late = LateNumbers()
        self._labels = {token: account_label(token) for token in config.tokens}
        self._state_file = (StateFile(config.state_file, self.trunk_store)
                            if config.state_file else None)
        self._load_state()
        self._open_accounts()
        self.trunk_routes = TrunkRoutes(
            self.trunk_store, settings=lambda: self.faults.settings, read_body=_json_body,
            saved=self._saved_trunk, label_of=self._label)
        self.app = self._build_app()

    # -- state file

    def _load_state(self) -> None:
        if self._state_file is not None:
            self._state_file.load(self.store)

    def save_snapshot(self) -> None:
        """Rewrite the state file whole (at start and after a reset)."""
        if self._state_file is not None:
            self._state_file.snapshot(self.store)

    def _saved(self, request: web.Request, trunk_id: str) -> None:
        """Record a change to one trunk before its answer goes out."""
        if self._state_file is not None:
            self._state_file.record_change(self.store, self._account(request).label,
                                           trunk_id)

    def _saved_trunk(self, change: JsonObject) -> None:
        """Record a ``/trunk`` change before its answer goes out."""
        if self._state_file is not None:
            self._state_file.record_trunk_change(self.store, change)

    def close(self) -> None:
        if self._state_file is not None:
            self._state_file.close()

    def _open_accounts(self) -> None:
        for label in self._labels.values():
            self.store.account(label)
            self.trunk_store.account(label)

    def reset(self) -> None:
        """Back to as started: no trunks, no numbers, empty log and limiter, the
        start's fault settings and seed. Tokens stay."""
        self.store.clear()
        self.trunk_store.clear()
        self._open_accounts()
        self.log.clear()
        self.limiter.clear()
        self.late.clear()
        self.faults = FaultInjector(self.config.faults, self._start_seed)
        self.save_snapshot()

    # -- app

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        api = API_PREFIX + "/trunks"
        app.router.add_post(api, self._create_trunk)
        app.router.add_get(api, self._list_trunks, allow_head=False)
        app.router.add_get(api + "/{trunk_id}", self._get_trunk, allow_head=False)
        app.router.add_patch(api + "/{trunk_id}", self._update_trunk)
        app.router.add_delete(api + "/{trunk_id}", self._delete_trunk)
        app.router.add_post(api + "/{trunk_id}/numbers", self._add_number)
        app.router.add_get(api + "/{trunk_id}/numbers", self._list_numbers, allow_head=False)
        app.router.add_delete(api + "/{trunk_id}/numbers/{phone_number_id}",
                              self._remove_number)
        admin = ADMIN_PREFIX.rstrip("/")
        app.router.add_get(admin + "/health", self._admin_health, allow_head=False)
        app.router.add_get(admin + "/state", self._admin_state, allow_head=False)
        app.router.add_get(admin + "/requests", self._admin_requests, allow_head=False)
        app.router.add_get(admin + "/stats", self._admin_stats, allow_head=False)
        app.router.add_get(admin + "/faults", self._admin_faults, allow_head=False)
        app.router.add_put(admin + "/faults", self._admin_set_faults)
        app.router.add_post(admin + "/reset", self._admin_reset)
        self.trunk_routes.register(app.router, ADMIN_PREFIX)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        if request.path.startswith(ADMIN_PREFIX):
            answer = await self._answer(request, handler)
            _access_line(request, answer.status, started, None)
            return answer
        outcome = _Outcome(account=self._label(request))
        response: web.StreamResponse | None = None
        if self.faults.settings.record_bodies and request.method in MUTATING:
            try:
                raw = await request.read()
            except web.HTTPException:
                raw = b""
            outcome.body = _recorded_body(raw, request.headers.get("Content-Type"))
        try:
            response = await self._api(request, handler, outcome)
            return response
        finally:
            if response is not None and outcome.fault not in ("timeout", "drop-after-commit"):
                outcome.status = response.status
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "(unmatched)"
            duration_ms = _access_line(request, outcome.status, started, outcome.fault)
            self.log.record(method=request.method, path=request.path, route=route,
                            outcome=outcome, duration_ms=duration_ms)

    async def _api(self, request: web.Request, handler: Handler,
                   outcome: _Outcome) -> web.StreamResponse:
        path = request.path
        on_api = (path == API_PREFIX or path.startswith(API_PREFIX + "/")
                  or is_trunk_path(path))
        if not on_api:
            return _error(404, "Not Found")
        resource = request.match_info.route.resource
        decision = self.faults.decide(
            mutating=request.method in MUTATING,
            route=f"{request.method} {resource.canonical if resource is not None else path}")
        settings = self.faults.settings
        if decision.delay_seconds > 0:
            outcome.added_latency_ms = decision.delay_seconds * 1000.0
            await asyncio.sleep(decision.delay_seconds)
        if decision.kind == "burst-429":
            outcome.fault = decision.kind
            return self._too_many(request, settings.burst_retry_after_seconds)
        if decision.kind == "timeout":
            outcome.fault = decision.kind
            await asyncio.sleep(settings.timeout_seconds)
            _drop_connection(request)
            return web.Response(status=504)
        if decision.kind == "error":
            outcome.fault = decision.kind
            return _error_for(request, decision.error_status,
                              "Internal error (emulated fault)")
        if outcome.account is None or outcome.account in settings.refused_accounts:
            return web.json_response(UNRECOGNIZED_TOKEN, status=403)
        wait = self.limiter.acquire(outcome.account, settings.rate_limit,
                                    settings.rate_window_seconds)
        if wait is not None:
            return self._too_many(request, max(1, math.ceil(wait)))
        request["account"] = self.store.account(outcome.account)
        response = await self._answer(request, handler)
        if decision.drop_after_commit and 200 <= response.status < 300:
            outcome.fault = "drop-after-commit"
            _drop_connection(request)
        return response

    def _too_many(self, request: web.Request, retry_after: int) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if self.faults.settings.retry_after else None
        return _error_for(request, 429, "Rate limit exceeded: too many requests, retry later",
                          headers)

    @staticmethod
    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the route's handler, answering errors in the OpenAPI's shape."""
        try:
            return await handler(request)
        except ApiError as error:
            return _error_answer(request, error)
        except web.HTTPException as error:
            allow = error.headers.get("Allow")
            return _error_for(request, error.status, error.reason,
                              {"Allow": allow} if allow is not None else None)
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            return _error_for(request, 500, "Internal server error")

    def _label(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._labels.get(token.strip())

    @staticmethod
    def _account(request: web.Request) -> Account:
        account: Account = request["account"]
        return account

    # -- the API

    @property
    def _settings(self) -> FaultSettings:
        return self.faults.settings

    def _trunk_answer(self, trunk: JsonObject) -> JsonObject:
        """A trunk as answered: numbers not shown yet left out, then shaped."""
        settings = self._settings
        if trunk_shows(settings, "phone_numbers") and isinstance(
                trunk.get("phone_numbers"), list):
            trunk = {**trunk, "phone_numbers": self.late.filter(trunk["phone_numbers"])[0]}
        return shape_trunk(trunk, settings)

    async def _create_trunk(self, request: web.Request) -> web.Response:
        trunk = self._account(request).create_trunk(
            await _json_body(request), unknown_fields=self._unknown("create"))
        self.late.added((n["id"] for n in trunk["phone_numbers"]), self._settings)
        self._saved(request, trunk["id"])
        return web.json_response(self._trunk_answer(trunk), status=201)

    async def _list_trunks(self, request: web.Request) -> web.Response:
        trunks = self._account(request).list_trunks(_is_active_filter(request))
        return web.json_response([self._trunk_answer(trunk) for trunk in trunks])

    async def _get_trunk(self, request: web.Request) -> web.Response:
        trunk = self._account(request).get_trunk(request.match_info["trunk_id"])
        return web.json_response(self._trunk_answer(trunk))

    async def _update_trunk(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        trunk = self._account(request).update_trunk(
            request.match_info["trunk_id"], body, unknown_fields=self._unknown("update"))
        self._saved(request, trunk["id"])
        return web.json_response(self._trunk_answer(trunk))

    async def _delete_trunk(self, request: web.Request) -> web.Response:
        message = self._account(request).delete_trunk(request.match_info["trunk_id"])
        self._saved(request, request.match_info["trunk_id"])
        return web.json_response({"message": message})

    async def _add_number(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        number = self._account(request).add_number(
            request.match_info["trunk_id"], body, unknown_fields=self._unknown("create"))
        self.late.added((number["id"],), self._settings)
        self._saved(request, number["byot_trunk_id"])
        return web.json_response(shape_number(number, self._settings), status=201)

    async def _list_numbers(self, request: web.Request) -> web.Response:
        numbers = self._account(request).list_numbers(request.match_info["trunk_id"])
        shown, hidden = self.late.filter(numbers)
        if hidden and self._settings.late_numbers_list_error:
            return _error(500, "Internal server error")
        return web.json_response([shape_number(number, self._settings) for number in shown])

    async def _remove_number(self, request: web.Request) -> web.Response:
        number_id = request.match_info["phone_number_id"]
        message = self._account(request).remove_number(request.match_info["trunk_id"],
                                                       number_id)
        self.late.forget(number_id)
        self._saved(request, request.match_info["trunk_id"])
        return web.json_response({"message": message})

    def _unknown(self, kind: Literal["create", "update"]) -> UnknownFields:
        settings = self._settings
        value = (settings.unknown_fields_on_create if kind == "create"
                 else settings.unknown_fields_on_update)
        return cast("UnknownFields", value)

    # -- the admin API

    async def _admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response({**self.store.to_admin_view(),
                                  "trunk": self.trunk_store.to_admin_view()})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise ApiError(400, "since must be an integer") from None
        return web.json_response(self.log.entries(since))

    async def _admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.log.stats())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.to_json())

    async def _admin_set_faults(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object of fault settings")
        try:
            self.faults.update(body)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        log.info("fault settings now %s", self.faults.to_json())
        return web.json_response(self.faults.to_json())

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        log.info("state, request log and faults reset")
        return web.json_response({"message": "Emulator reset", "faults": self.faults.to_json()})


async def serve(config: EmulatorConfig, stop: asyncio.Event,
                announce: Callable[[str], None]) -> None:
    """Serve until ``stop`` is set. ``announce`` gets the URL once connections are
    accepted (with ``port`` 0, the port picked)."""
    emulator = Emulator(config)
    emulator.save_snapshot()
    runner = web.AppRunner(emulator.app, access_log=None, handle_signals=False,
                           shutdown_timeout=_SHUTDOWN_GRACE)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        announce(f"http://{shown}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()
        emulator.close()


def with_environment_settings(config: EmulatorConfig) -> EmulatorConfig:
    """``config`` with the settings of :data:`~bolna_emulator.SETTINGS_ENV` applied over
    its faults (a JSON object, as ``PUT /_emulator/faults`` takes, less ``seed`` and
    ``burst_429``). They are start settings: a reset comes back to them.

    Raises:
        ValueError: the variable is not a JSON object of valid settings.
    """
    text = os.environ.get(SETTINGS_ENV, "").strip()
    if not text:
        return config
    try:
        changes = json.loads(text)
    except ValueError:
        raise ValueError(f"{SETTINGS_ENV} is not JSON") from None
    if not isinstance(changes, dict):
        raise ValueError(f"{SETTINGS_ENV} must be a JSON object of settings")
    return dataclasses.replace(config, faults=config.faults.with_changes(changes))


def run(config: EmulatorConfig) -> int:
    """Run in the foreground until SIGTERM or SIGINT; print the listening line to stdout.
    Settings in :data:`~bolna_emulator.SETTINGS_ENV` apply over the command line's.

    Returns the exit status: 0 after a signal, 1 if the emulator could not start.
    """
    try:
        config = with_environment_settings(config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(url: str) -> None:
        print(f"{LISTENING_PREFIX}{url}", flush=True)
        log.info("%d account(s): %s; state file: %s", len(config.tokens),
                 ", ".join(account_label(t) for t in config.tokens),
                 config.state_file or "none (in memory)")
        changed = {key: value for key, value in config.faults.to_json().items()
                   if value != FaultSettings().to_json()[key]}
        if changed:
            log.info("settings at start (and after a reset): %s", changed)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(config, stop, announce)

    try:
        asyncio.run(main())
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
