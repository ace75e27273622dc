"""The emulator's HTTP server: Bolna's ``/sip-trunks`` routes, plus an admin API.

Each ``/sip-trunks`` request goes through the same steps, in the order a client of the
real service meets them: the fault draw (latency, then a 429 burst, a timeout or a 5xx,
all before anything is done), the bearer token (403 ``{"detail": ...}``, Bolna's own
shape for it), the account's rate limit (429), the handler (``store.py`` does the work;
its :class:`~bolna_emulator.store.ApiError` becomes ``{"error": status, "message": ...}``,
the OpenAPI's declared shape), and last the lost-response fault, which drops the
connection after a successful change has been stored.

``/_emulator/...`` is the admin API for tests and benchmarks: no auth, never faulted,
not rate limited, not in the request log or stats. It shows the state (passwords as
SHA-256), the request log and counters, and sets faults at runtime.

One access line per request is logged at INFO: method, path, status, milliseconds.
Never headers, tokens, bodies or passwords.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from . import LISTENING_PREFIX, account_label
from .faults import FaultInjector, FaultSettings
from .ratelimit import SlidingWindow
from .statefile import StateFile
from .store import Account, ApiError, Store

__all__ = ["Emulator", "EmulatorConfig", "run", "serve"]

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


async def _json_body(request: web.Request) -> object:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None


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
        self._entries.append({
            "seq": self._seq, "time": _now_iso(), "account": outcome.account,
            "method": method, "path": path, "route": route, "status": outcome.status,
            "fault": outcome.fault, "added_latency_ms": round(outcome.added_latency_ms, 3),
            "duration_ms": round(duration_ms, 3),
        })
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
        self.faults = FaultInjector(config.faults, config.seed)
        self._start_seed = self.faults.seed
        self.limiter = SlidingWindow()
        self.log = RequestLog(config.request_log_limit)
        self._labels = {token: account_label(token) for token in config.tokens}
        self._state_file = StateFile(config.state_file) if config.state_file else None
        self._load_state()
        self._open_accounts()
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

    def close(self) -> None:
        if self._state_file is not None:
            self._state_file.close()

    def _open_accounts(self) -> None:
        for label in self._labels.values():
            self.store.account(label)

    def reset(self) -> None:
        """Back to as started: no trunks, no numbers, empty log and limiter, the
        start's fault settings and seed. Tokens stay."""
        self.store.clear()
        self._open_accounts()
        self.log.clear()
        self.limiter.clear()
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
        on_api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        if not on_api:
            return _error(404, "Not Found")
        decision = self.faults.decide(mutating=request.method in MUTATING)
        settings = self.faults.settings
        if decision.delay_seconds > 0:
            outcome.added_latency_ms = decision.delay_seconds * 1000.0
            await asyncio.sleep(decision.delay_seconds)
        if decision.kind == "burst-429":
            outcome.fault = decision.kind
            return self._too_many(settings.burst_retry_after_seconds)
        if decision.kind == "timeout":
            outcome.fault = decision.kind
            await asyncio.sleep(settings.timeout_seconds)
            _drop_connection(request)
            return web.Response(status=504)
        if decision.kind == "error":
            outcome.fault = decision.kind
            return _error(decision.error_status, "Internal error (emulated fault)")
        if outcome.account is None:
            return web.json_response(UNRECOGNIZED_TOKEN, status=403)
        wait = self.limiter.acquire(outcome.account, settings.rate_limit,
                                    settings.rate_window_seconds)
        if wait is not None:
            return self._too_many(max(1, math.ceil(wait)))
        request["account"] = self.store.account(outcome.account)
        response = await self._answer(request, handler)
        if decision.drop_after_commit and 200 <= response.status < 300:
            outcome.fault = "drop-after-commit"
            _drop_connection(request)
        return response

    def _too_many(self, retry_after: int) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if self.faults.settings.retry_after else None
        return _error(429, "Rate limit exceeded: too many requests, retry later", headers)

    @staticmethod
    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the route's handler, answering errors in the OpenAPI's shape."""
        try:
            return await handler(request)
        except ApiError as error:
            return _error(error.status, error.message)
        except web.HTTPException as error:
            return _error(error.status, error.reason)
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            return _error(500, "Internal server error")

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

    async def _create_trunk(self, request: web.Request) -> web.Response:
        trunk = self._account(request).create_trunk(await _json_body(request))
        self._saved(request, trunk["id"])
        return web.json_response(trunk, status=201)

    async def _list_trunks(self, request: web.Request) -> web.Response:
        return web.json_response(self._account(request).list_trunks(_is_active_filter(request)))

    async def _get_trunk(self, request: web.Request) -> web.Response:
        return web.json_response(self._account(request).get_trunk(request.match_info["trunk_id"]))

    async def _update_trunk(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        trunk = self._account(request).update_trunk(request.match_info["trunk_id"], body)
        self._saved(request, trunk["id"])
        return web.json_response(trunk)

    async def _delete_trunk(self, request: web.Request) -> web.Response:
        message = self._account(request).delete_trunk(request.match_info["trunk_id"])
        self._saved(request, request.match_info["trunk_id"])
        return web.json_response({"message": message})

    async def _add_number(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        number = self._account(request).add_number(request.match_info["trunk_id"], body)
        self._saved(request, number["byot_trunk_id"])
        return web.json_response(number, status=201)

    async def _list_numbers(self, request: web.Request) -> web.Response:
        return web.json_response(
            self._account(request).list_numbers(request.match_info["trunk_id"]))

    async def _remove_number(self, request: web.Request) -> web.Response:
        message = self._account(request).remove_number(
            request.match_info["trunk_id"], request.match_info["phone_number_id"])
        self._saved(request, request.match_info["trunk_id"])
        return web.json_response({"message": message})

    # -- the admin API

    async def _admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.store.to_admin_view())

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
        body = await _json_body(request)
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


def run(config: EmulatorConfig) -> int:
    """Run in the foreground until SIGTERM or SIGINT; print the listening line to stdout.

    Returns the exit status: 0 after a signal, 1 if the emulator could not start.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(url: str) -> None:
        print(f"{LISTENING_PREFIX}{url}", flush=True)
        log.info("%d account(s): %s; state file: %s", len(config.tokens),
                 ", ".join(account_label(t) for t in config.tokens),
                 config.state_file or "none (in memory)")

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
