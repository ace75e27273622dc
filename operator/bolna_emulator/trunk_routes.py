"""The emulator's ``/trunk`` routes (Bolna's newer SIP trunk API) and their admin routes.

``app.py`` sends a ``/trunk`` request through the same steps as a ``/sip-trunks`` one,
in the same order: the fault draw (latency, a 429 burst, a timeout or a 5xx), the
bearer token (403 ``{"detail": "Unrecognized access token"}``), the account's rate
limit (429; one budget per account across both APIs, as Bolna limits per organisation,
not per API), the handler here, and last the lost-response fault. The handlers are one
call each on a :class:`~bolna_emulator.trunk_store.TrunkAccount`; the rules and what the
emulator assumes where Bolna's pages are silent are listed in ``trunk_store.py`` and
``trunk_validation.py``.

Where Bolna's pages are silent (the wire, as the project's contract fixes it)
--------------------------------------------------------------------------------

1. Error bodies: every ``/trunk`` error is ``{"detail": "<message>"}`` (FastAPI's
   shape; the get page's 404 reads "No live trun..."), except a request that does not
   fit its model: 422 with FastAPI's ``detail`` list. That includes the answers the
   emulator itself makes on this prefix: 404 ``{"detail": "Not Found"}`` for an
   unknown path, 405 ``{"detail": "Method Not Allowed"}`` (with ``Allow``), 429, the
   fault's 5xx, 500. ``/sip-trunks`` keeps its ``{"error", "message"}``.
2. Statuses: create answers 200 (Bolna's page says so); every other success 200
   (the pages' headings, "The updated trunk" and so on); 404 for an unknown or deleted
   trunk, gateway, carrier IP or number; 409 for conflicts; 422 for bodies and rules;
   429 over the rate limit (Bolna's rate-limit page). No 201, 204 or 400.
3. Answers: ``POST`` and ``PATCH`` answer the object made or changed (Trunk, Gateway
   ``{id, host, port, priority}``, carrier IP ``{id, cidr}``, Number); ``DELETE`` of a
   trunk answers its settings (TrunkSettings: the Trunk without ``gateways``,
   ``ip_acls``, ``numbers``, ``health``, ``active_calls``); ``DELETE`` of a gateway or
   carrier IP answers the entry removed, of a number the Number with ``is_deleted``
   true and ``deleted_at`` set.
4. ``GET /trunk/trunks`` is a bare JSON array in creation order, no paging or filters.
5. ``GET .../calls`` is a bare array, newest first, of ``{execution_id, direction,
   outcome: "answered"|"failed", sip_code, created_at}``.
6. ``GET /trunk/pop`` is ``{sip_domain, port, transports, ips, rtp_ports}``, the
   values of Bolna's guides by default, each a setting (``trunk_pop_*``). It needs the
   token and counts against the rate limit, as every route of the prefix.
7. The answer-shape switches of ``/sip-trunks`` (``sparse_answers``, ``omit_*``,
   ``late_numbers_*``, ``unknown_fields_on_*``) do not apply here: ``/trunk`` bodies
   are always strict and answers always whole. ``trunk_health_labels`` makes
   ``health`` the dashboard's labels (``"Waiting for carrier"``...) instead of the
   contract's values (``"waiting_for_carrier"``...), so a client's lenient mapping can
   be tested.

Admin routes (under ``/_emulator/``, the emulator's admin API: no auth, never faulted,
not rate limited, not logged)
--------------------------------------------------------------------------------

- ``POST /_emulator/trunk/trunks/{trunk_id}/calls`` ``{"direction": "inbound" |
  "outbound", "answered": bool, "sip_code"?: int, "execution_id"?: str}``: record a
  finished call (the trunk is found in any account); answers the call entry.
- ``PUT /_emulator/trunk/trunks/{trunk_id}/active-calls`` ``{"active_calls": n}``.
- ``PUT /_emulator/agents`` ``{"agents": [...]}`` with ``Authorization: Bearer
  <token>`` naming the account: from then on an ``agent_id`` or
  ``default_inbound_agent_id`` outside the list is a 422; ``[]`` accepts any again.

Their errors are the admin API's ``{"error", "message"}`` (400, 404). Each change,
through the API or the admin routes, is in the state file before its answer goes out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .faults import FaultSettings
from .store import Account, ApiError
from .trunk_store import TrunkAccount, TrunkStore

__all__ = ["TRUNK_PREFIX", "TrunkRoutes", "is_trunk_path", "trunk_error",
           "trunk_error_answer"]

TRUNK_PREFIX = "/trunk"

JsonObject = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_trunk_path(path: str) -> bool:
    """Whether ``path`` is under ``/trunk`` (not ``/trunks`` or ``/trunking``)."""
    return path == TRUNK_PREFIX or path.startswith(TRUNK_PREFIX + "/")


def trunk_error(status: int, message: str,
                headers: dict[str, str] | None = None) -> web.Response:
    """A ``/trunk`` error: ``{"detail": message}``."""
    return web.json_response({"detail": message}, status=status, headers=headers)


def trunk_error_answer(error: ApiError) -> web.Response:
    """An :class:`ApiError` on ``/trunk``: FastAPI's list when it has one, else the
    message as ``detail``."""
    detail: object = error.detail if error.detail is not None else error.message
    return web.json_response({"detail": detail}, status=error.status)


class TrunkRoutes:
    """The ``/trunk`` handlers and their admin routes, over one :class:`TrunkStore`.

    Args:
        store: the state.
        settings: the settings in force now (they change at runtime).
        read_body: reads a request's JSON body as FastAPI does (``app.py``'s reader:
            None when empty; 422 for another media type or for invalid JSON).
        saved: called with a state file change record after each change, before its
            answer is sent.
        label_of: the account label of a request's bearer token, None if unknown.
    """

    def __init__(self, store: TrunkStore, *, settings: Callable[[], FaultSettings],
                 read_body: Callable[[web.Request], Awaitable[object]],
                 saved: Callable[[JsonObject], None],
                 label_of: Callable[[web.Request], str | None]) -> None:
        self.store = store
        self._settings = settings
        self._read_body = read_body
        self._saved = saved
        self._label_of = label_of

    def register(self, router: web.UrlDispatcher, admin_prefix: str) -> None:
        """Add the API routes, and the admin routes under ``admin_prefix``."""
        trunks = TRUNK_PREFIX + "/trunks"
        one = trunks + "/{trunk_id}"
        router.add_post(trunks, self._create_trunk)
        router.add_get(trunks, self._list_trunks, allow_head=False)
        router.add_get(one, self._get_trunk, allow_head=False)
        router.add_patch(one, self._update_trunk)
        router.add_delete(one, self._delete_trunk)
        router.add_post(one + "/gateways", self._add_gateway)
        router.add_delete(one + "/gateways/{gateway_id}", self._remove_gateway)
        router.add_post(one + "/ip-acls", self._add_ip_acl)
        router.add_delete(one + "/ip-acls/{acl_id}", self._remove_ip_acl)
        router.add_post(one + "/numbers", self._add_number)
        router.add_delete(one + "/numbers/{number_id}", self._remove_number)
        router.add_get(one + "/calls", self._list_calls, allow_head=False)
        router.add_patch(TRUNK_PREFIX + "/numbers/{number_id}", self._assign_agent)
        router.add_get(TRUNK_PREFIX + "/pop", self._pop, allow_head=False)
        admin = admin_prefix.rstrip("/")
        router.add_post(admin + "/trunk/trunks/{trunk_id}/calls", self._admin_record_call)
        router.add_put(admin + "/trunk/trunks/{trunk_id}/active-calls",
                       self._admin_active_calls)
        router.add_put(admin + "/agents", self._admin_agents)

    # -- helpers

    def _account(self, request: web.Request) -> TrunkAccount:
        """The request's account (``app.py`` has checked the token and put the
        ``/sip-trunks`` account, whose label names both, in the request)."""
        account: Account = request["account"]
        return self.store.account(account.label)

    def _trunk_answer(self, account: TrunkAccount, trunk_id: str) -> web.Response:
        return web.json_response(account.trunk_json(
            account.trunks[trunk_id], health_labels=self._settings().trunk_health_labels))

    def _changed(self, account: TrunkAccount, trunk_id: str) -> None:
        self._saved(account.change_record(trunk_id))

    # -- trunks

    async def _create_trunk(self, request: web.Request) -> web.Response:
        account = self._account(request)
        trunk = account.create_trunk(await self._read_body(request))
        self._changed(account, trunk.id)
        return self._trunk_answer(account, trunk.id)

    async def _list_trunks(self, request: web.Request) -> web.Response:
        account = self._account(request)
        labels = self._settings().trunk_health_labels
        return web.json_response([account.trunk_json(trunk, health_labels=labels)
                                  for trunk in account.list_trunks()])

    async def _get_trunk(self, request: web.Request) -> web.Response:
        account = self._account(request)
        trunk = account.get_trunk(request.match_info["trunk_id"])
        return self._trunk_answer(account, trunk.id)

    async def _update_trunk(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._read_body(request)
        trunk = account.update_trunk(request.match_info["trunk_id"], body)
        self._changed(account, trunk.id)
        return self._trunk_answer(account, trunk.id)

    async def _delete_trunk(self, request: web.Request) -> web.Response:
        account = self._account(request)
        settings = account.delete_trunk(request.match_info["trunk_id"])
        self._changed(account, settings["id"])
        return web.json_response(settings)

    # -- gateways, carrier IPs, numbers

    async def _add_gateway(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._read_body(request)
        gateway = account.add_gateway(request.match_info["trunk_id"], body)
        return self._child_answer(account, request, gateway.to_json())

    async def _remove_gateway(self, request: web.Request) -> web.Response:
        account = self._account(request)
        gateway = account.remove_gateway(request.match_info["trunk_id"],
                                         request.match_info["gateway_id"])
        return self._child_answer(account, request, gateway.to_json())

    async def _add_ip_acl(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._read_body(request)
        acl = account.add_ip_acl(request.match_info["trunk_id"], body)
        return self._child_answer(account, request, acl.to_json())

    async def _remove_ip_acl(self, request: web.Request) -> web.Response:
        account = self._account(request)
        acl = account.remove_ip_acl(request.match_info["trunk_id"],
                                    request.match_info["acl_id"])
        return self._child_answer(account, request, acl.to_json())

    async def _add_number(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._read_body(request)
        number = account.add_number(request.match_info["trunk_id"], body)
        self._changed(account, number.trunk_id)
        return web.json_response(number.to_json())

    async def _remove_number(self, request: web.Request) -> web.Response:
        account = self._account(request)
        number = account.remove_number(request.match_info["trunk_id"],
                                       request.match_info["number_id"])
        self._changed(account, number.trunk_id)
        return web.json_response(number.to_json())

    async def _assign_agent(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._read_body(request)
        number = account.assign_agent(request.match_info["number_id"], body)
        self._changed(account, number.trunk_id)
        return web.json_response(number.to_json())

    def _child_answer(self, account: TrunkAccount, request: web.Request,
                      body: JsonObject) -> web.Response:
        """Save the change to the path's trunk (its id as stored: the store has parsed
        and found it) and answer ``body``."""
        trunk = account.get_trunk(request.match_info["trunk_id"])
        self._changed(account, trunk.id)
        return web.json_response(body)

    # -- reads without state

    async def _list_calls(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return web.json_response(account.list_calls(request.match_info["trunk_id"],
                                                    request.query.get("direction")))

    async def _pop(self, request: web.Request) -> web.Response:
        settings = self._settings()
        return web.json_response({
            "sip_domain": settings.trunk_pop_sip_domain, "port": settings.trunk_pop_port,
            "transports": list(settings.trunk_pop_transports),
            "ips": list(settings.trunk_pop_ips), "rtp_ports": settings.trunk_pop_rtp_ports})

    # -- admin

    async def _admin_record_call(self, request: web.Request) -> web.Response:
        account, trunk = self.store.find_trunk(request.match_info["trunk_id"])
        call = account.record_call(trunk, await _admin_body(request))
        self._changed(account, trunk.id)
        return web.json_response(call.to_json())

    async def _admin_active_calls(self, request: web.Request) -> web.Response:
        account, trunk = self.store.find_trunk(request.match_info["trunk_id"])
        count = account.set_active_calls(trunk, await _admin_body(request))
        self._changed(account, trunk.id)
        return web.json_response({"trunk_id": trunk.id, "active_calls": count})

    async def _admin_agents(self, request: web.Request) -> web.Response:
        label = self._label_of(request)
        if label is None:
            raise ApiError(400, "name the account: send its API token as "
                                "'Authorization: Bearer <token>'")
        account = self.store.account(label)
        agents = account.set_agents(await _admin_body(request))
        self._saved(account.agents_record())
        return web.json_response({"account": label, "agents": agents})


async def _admin_body(request: web.Request) -> object:
    """An admin body: JSON, else a 400 (the admin API's leniency: no media type check)."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None
