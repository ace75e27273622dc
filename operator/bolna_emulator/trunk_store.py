"""Accounts, trunks, gateways, carrier IPs, numbers and calls of Bolna's ``/trunk`` API.

No HTTP here, as in ``store.py``: ``trunk_routes.py`` turns a request into a call on a
:class:`TrunkAccount` and an :class:`~bolna_emulator.store.ApiError` into
``{"detail": ...}``, so every rule can be tested without a server.

A request is checked in the order FastAPI and a handler meet it: the request model
(``trunk_validation.py``: 422 with FastAPI's ``detail`` list, path ids and body
together), then the trunk or number looked up (404), then the rules below (422
``{"detail": "<message>"}``), then conflicts (409). Nothing is stored unless all pass.

The rules, and where each comes from (``bolna-trunk-api.md`` for Bolna's pages,
``carriertrunk-contract.md`` for what the project agreed where the pages are silent):

- at most 8 gateways per trunk; a 9th is a 422 (the limit is Bolna's; the status and
  message are the contract's);
- ``codecs``: a non-empty, comma-separated subset of ``PCMU``, ``PCMA`` in order of
  preference (Bolna's), without repeats (the contract's), written exactly: no spaces,
  upper case only (the emulator's strict reading of the page's example ``PCMA,PCMU``);
- ``auth_username`` and ``auth_password`` sent together on PATCH, both strings or both
  ``null`` (Bolna's: "send them together; null on both clears");
- agents: any agent id is accepted until the admin API names the account's agents;
  then an ``agent_id`` / ``default_inbound_agent_id`` outside them is a 422 ("must be
  one of your agents" is Bolna's; the status is the contract's);
- conflicts (409, the contract's assumption): a trunk name taken in the account; an
  ``e164`` live on any number of the account, on any trunk, this one included; the same
  network twice among a trunk's carrier IPs;
- carrier IPs stored normalised: a bare address as ``/32`` (IPv4, Bolna's) or ``/128``
  (IPv6, the emulator's reading of the cut-off text), host bits cleared
  (``198.51.100.7/28`` is stored as ``198.51.100.0/28``);
- deletes cascade: a trunk's gateways, carrier IPs and calls go with it and its numbers
  are soft-deleted (``is_deleted``/``deleted_at``, never listed again, their ``e164``
  free again), as Bolna's pages say for trunks and numbers.

Where both Bolna's pages and the contract are silent, the emulator decides (refusing
rather than accepting, as ``store.py`` does: a double that accepts too much hides the
client bugs the real API would expose):

1. A blank ``name`` (only whitespace) is a 422; so is a ``destination_key`` with a
   leading ``+`` or any whitespace (the page: "without a leading +", and a SIP
   Request-URI user part has no spaces).
2. On create, ``auth_username`` alone is accepted (it is the create page's documented
   field; the password's place on create is not visible), ``auth_password`` alone is a
   422.
3. A gateway ``host`` must be an IP address or a hostname (labels of letters, digits
   and ``-``, dots between, at most 253 characters, not all digits and dots): the same
   rule as the operator's SipTrunk ``gatewayAddress``. Duplicate gateways are accepted
   (Bolna says nothing; the operator's model forbids them).
4. Two numbers may share a ``destination_key`` (Bolna matches ``e164`` first and says
   nothing on duplicates; refusing could break an add-then-remove replacement).
5. ``health``, which Bolna documents only as dashboard labels: ``disabled`` when the
   trunk is not active; else ``waiting_for_carrier`` when no call was ever recorded;
   else ``degraded`` when the calls since the last answered one (either direction)
   include :data:`DEGRADED_AFTER` or more failed outbound calls; else ``healthy``. The
   counters survive :data:`CALLS_KEPT`'s trimming of the call list. With the setting
   ``trunk_health_labels`` the dashboard's words are answered instead
   (:data:`HEALTH_LABELS`). ``active_calls`` is an integer, 0 until the admin API sets
   it.
6. Calls: only what the admin API records (the emulator places no calls), newest
   first, ``{execution_id, direction, outcome, sip_code, created_at}``; a recorded
   call does not move a number's ``last_inbound_at``/``last_outbound_at`` (they stay
   null) nor the trunk's ``updated_at``.
7. Every PATCH moves ``updated_at``, even one that changes nothing (as ``store.py``).
8. Ids are UUIDs (the pages' path parameters are ``uuid``), stored lowercase.
9. Trunk names are compared exactly (``"Carrier"`` and ``"carrier"`` are two names),
   as ``store.py`` compares ``/sip-trunks`` names.
10. The two APIs' state is separate within an account: a ``/trunk`` trunk may share
    its name with a ``/sip-trunks`` trunk, and their numbers never conflict. The same
    carrier IP on two trunks is accepted (Bolna's delete page speaks of "another trunk
    [that] lists the same addresses").
11. Gateways: ``port`` defaults to 5060 (the connect guide: "its port if it is not
    5060"), ``priority`` to 1 with no upper bound; the contract's ``>= 0`` is checked.

State changes are plain synchronous methods, atomic on the server's one event loop.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .store import ApiError, password_digest, utc_now
from .trunk_validation import (
    ASSIGN_AGENT,
    GATEWAY_CREATE,
    IP_ACL_CREATE,
    NUMBER_CREATE,
    TRUNK_CREATE,
    TRUNK_UPDATE,
    BodySchema,
    canonical_id,
    check_fields,
    enum_problem,
    path_id_problem,
)

__all__ = [
    "CALLS_KEPT",
    "CALL_DIRECTIONS",
    "CODECS",
    "DEFAULT_CODECS",
    "DEGRADED_AFTER",
    "HEALTH_LABELS",
    "MAX_GATEWAYS",
    "TOO_MANY_GATEWAYS_MESSAGE",
    "CarrierIp",
    "CarrierTrunk",
    "TrunkAccount",
    "TrunkCall",
    "TrunkGateway",
    "TrunkNumber",
    "TrunkStore",
    "new_uuid",
]

JsonObject = dict[str, Any]

MAX_GATEWAYS = 8
TOO_MANY_GATEWAYS_MESSAGE = f"a trunk has at most {MAX_GATEWAYS} gateways"
CODECS = ("PCMU", "PCMA")
DEFAULT_CODECS = "PCMU,PCMA"
DEFAULT_GATEWAY_PORT = 5060
DEFAULT_GATEWAY_PRIORITY = 1
DEFAULT_CHANNELS = 10
CALL_DIRECTIONS = ("inbound", "outbound")

DEGRADED_AFTER = 3
"""Failed outbound calls since the last answered call that make a trunk degraded
(Bolna's troubleshooting page: "the last three or more outbound calls failed")."""

CALLS_KEPT = 200
"""Recorded calls kept per trunk (the newest): enough for any test, bounded for a
benchmark that records many."""

HEALTH_LABELS: Mapping[str, str] = {
    "waiting_for_carrier": "Waiting for carrier",
    "healthy": "Healthy",
    "degraded": "Degraded",
    "disabled": "Disabled",
}
"""The API's health values (the contract's) and the dashboard's labels for them (Bolna's
troubleshooting page; "Healthy" is the emulator's, no such label was visible)."""

_HOSTNAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*")
_DIGITS_AND_DOTS = re.compile(r"[0-9.]+")


def new_uuid() -> str:
    """A random UUID, lowercase and hyphenated: the shape of Bolna's ``/trunk`` ids."""
    return str(uuid.uuid4())


@dataclass
class TrunkGateway:
    """A carrier SIP host outbound calls go to; ``{id, host, port, priority}``."""

    id: str
    host: str
    port: int
    priority: int

    def to_json(self) -> JsonObject:
        return {"id": self.id, "host": self.host, "port": self.port,
                "priority": self.priority}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrunkGateway:
        return cls(id=record["id"], host=record["host"], port=record["port"],
                   priority=record["priority"])


@dataclass
class CarrierIp:
    """An ``ip_acls`` entry: a network inbound calls are accepted from."""

    id: str
    cidr: str

    def to_json(self) -> JsonObject:
        return {"id": self.id, "cidr": self.cidr}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CarrierIp:
        return cls(id=record["id"], cidr=record["cidr"])


@dataclass
class TrunkNumber:
    """A number on a trunk; removing it (or its trunk) marks it ``is_deleted``."""

    id: str
    trunk_id: str
    e164: str
    destination_key: str
    agent_id: str | None
    created_at: str
    updated_at: str
    last_inbound_at: str | None = None
    last_outbound_at: str | None = None
    is_deleted: bool = False
    deleted_at: str | None = None

    def to_json(self) -> JsonObject:
        """The Number object, every field of the assign-agent page in its order."""
        return {"id": self.id, "trunk_id": self.trunk_id, "e164": self.e164,
                "destination_key": self.destination_key, "agent_id": self.agent_id,
                "last_inbound_at": self.last_inbound_at,
                "last_outbound_at": self.last_outbound_at, "created_at": self.created_at,
                "updated_at": self.updated_at, "is_deleted": self.is_deleted,
                "deleted_at": self.deleted_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrunkNumber:
        return cls(**{key: record[key] for key in (
            "id", "trunk_id", "e164", "destination_key", "agent_id", "created_at",
            "updated_at", "last_inbound_at", "last_outbound_at", "is_deleted",
            "deleted_at")})


@dataclass
class TrunkCall:
    """A finished call on the trunk, as recorded through the admin API."""

    execution_id: str
    direction: str
    outcome: str
    sip_code: int
    created_at: str

    def to_json(self) -> JsonObject:
        return {"execution_id": self.execution_id, "direction": self.direction,
                "outcome": self.outcome, "sip_code": self.sip_code,
                "created_at": self.created_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrunkCall:
        return cls(execution_id=record["execution_id"], direction=record["direction"],
                   outcome=record["outcome"], sip_code=record["sip_code"],
                   created_at=record["created_at"])


_SETTINGS = ("name", "description", "preset", "is_active", "inbound_enabled",
             "outbound_enabled", "channels", "default_inbound_agent_id", "auth_username",
             "transport", "codecs", "outbound_leading_plus_enabled")
"""The trunk's own settings after ``id``, in the Trunk object's order."""


@dataclass
class CarrierTrunk:
    """A ``/trunk`` trunk as stored. The password is kept but never answered (the admin
    view shows its SHA-256)."""

    id: str
    name: str
    created_at: str
    updated_at: str
    description: str | None = None
    preset: str | None = None
    is_active: bool = True
    inbound_enabled: bool = True
    outbound_enabled: bool = True
    channels: int = DEFAULT_CHANNELS
    default_inbound_agent_id: str | None = None
    auth_username: str | None = None
    auth_password: str | None = field(default=None, repr=False)
    transport: str = "udp"
    codecs: str = DEFAULT_CODECS
    outbound_leading_plus_enabled: bool = False
    gateways: list[TrunkGateway] = field(default_factory=list)
    ip_acls: list[CarrierIp] = field(default_factory=list)
    active_calls: int = 0
    calls: list[TrunkCall] = field(default_factory=list)
    """Oldest first, at most :data:`CALLS_KEPT`."""
    ever_called: bool = False
    failed_outbound_since_answered: int = 0

    def health(self) -> str:
        """The API's health value (rule 5 of the module docstring)."""
        if not self.is_active:
            return "disabled"
        if not self.ever_called:
            return "waiting_for_carrier"
        if self.failed_outbound_since_answered >= DEGRADED_AFTER:
            return "degraded"
        return "healthy"

    def settings_json(self) -> JsonObject:
        """TrunkSettings (the DELETE answer): the trunk without its children and live
        status."""
        body: JsonObject = {"id": self.id}
        body.update({key: getattr(self, key) for key in _SETTINGS})
        body.update(created_at=self.created_at, updated_at=self.updated_at)
        return body

    def to_json(self, numbers: Iterable[TrunkNumber], *, health_labels: bool = False
                ) -> JsonObject:
        """The Trunk object: settings, children, health and active calls."""
        health = self.health()
        body: JsonObject = {"id": self.id}
        body.update({key: getattr(self, key) for key in _SETTINGS})
        body.update(
            gateways=[gateway.to_json() for gateway in self.gateways],
            ip_acls=[acl.to_json() for acl in self.ip_acls],
            numbers=[number.to_json() for number in numbers],
            health=HEALTH_LABELS[health] if health_labels else health,
            active_calls=self.active_calls,
            created_at=self.created_at, updated_at=self.updated_at)
        return body

    def record_call(self, call: TrunkCall) -> None:
        self.calls.append(call)
        del self.calls[:-CALLS_KEPT]
        self.ever_called = True
        if call.outcome == "answered":
            self.failed_outbound_since_answered = 0
        elif call.direction == "outbound":
            self.failed_outbound_since_answered += 1

    def to_record(self) -> JsonObject:
        """Everything, password included (the state file is the emulator's own)."""
        record = self.settings_json()
        record.update(
            auth_password=self.auth_password,
            gateways=[gateway.to_json() for gateway in self.gateways],
            ip_acls=[acl.to_json() for acl in self.ip_acls],
            active_calls=self.active_calls,
            calls=[call.to_json() for call in self.calls],
            ever_called=self.ever_called,
            failed_outbound_since_answered=self.failed_outbound_since_answered)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CarrierTrunk:
        return cls(
            id=record["id"], created_at=record["created_at"],
            updated_at=record["updated_at"], auth_password=record["auth_password"],
            gateways=[TrunkGateway.from_record(g) for g in record["gateways"]],
            ip_acls=[CarrierIp.from_record(a) for a in record["ip_acls"]],
            active_calls=record["active_calls"],
            calls=[TrunkCall.from_record(c) for c in record["calls"]],
            ever_called=record["ever_called"],
            failed_outbound_since_answered=record["failed_outbound_since_answered"],
            **{key: record[key] for key in _SETTINGS})


# ---- rules --------------------------------------------------------------------------

def _rule(message: str) -> ApiError:
    """A refusal by one of the rules: 422 ``{"detail": message}``."""
    return ApiError(422, message)


def _check_codecs(value: str) -> str:
    parts = value.split(",")
    if (not value or any(part not in CODECS for part in parts)
            or len(set(parts)) != len(parts)):
        raise _rule("codecs must be a non-empty comma-separated subset of PCMU,PCMA "
                    f"without repeats, e.g. 'PCMA,PCMU' (got {value!r})")
    return value


def _check_name(value: str) -> str:
    if not value.strip():
        raise _rule("name must not be blank")
    return value


def _check_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if (len(value) > 253 or not _HOSTNAME.fullmatch(value)
                or _DIGITS_AND_DOTS.fullmatch(value)):
            raise _rule("host must be a hostname or an IP address, without scheme, "
                        f"port or path (got {value!r})") from None
    return value


def _normalised_network(value: str) -> str:
    """The network ``value`` names, as stored: a bare address as /32 or /128, host bits
    cleared, IPv6 compressed."""
    if value != value.strip():
        raise _rule(f"cidr must be an IP address or CIDR range (got {value!r})")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise _rule(f"cidr must be an IP address or CIDR range (got {value!r})") from None


def _check_destination_key(value: str) -> str:
    if value.startswith("+") or any(char.isspace() for char in value):
        raise _rule("destination_key is the called number as the carrier puts it in the "
                    f"Request-URI: no leading + and no whitespace (got {value!r})")
    return value


def _validated(schema: BodySchema | None, body: object = None, *,
               body_required: bool = True, query_problems: Iterable[dict[str, Any]] = (),
               **path_ids: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The body's fields and the canonical path ids, or FastAPI's 422 naming every
    problem of path, query and body (FastAPI validates them together, before the
    handler runs).
    """
    problems: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for name, raw in path_ids.items():
        canonical = canonical_id(raw)
        if canonical is None:
            problems.append(path_id_problem(name, raw))
        else:
            ids[name] = canonical
    problems += query_problems
    fields: dict[str, Any] = {}
    if schema is not None:
        fields, body_problems = check_fields(schema, body, body_required=body_required)
        problems += body_problems
    if problems:
        raise ApiError(422, _detail_line(problems), problems)
    return fields, ids


def _detail_line(problems: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"
                     for problem in problems)


def _no_trunk(trunk_id: str) -> ApiError:
    return ApiError(404, f"No live trunk with id {trunk_id}")


# ---- accounts -----------------------------------------------------------------------

class TrunkAccount:
    """One organisation's ``/trunk`` state (each API token is its own account).

    Numbers stay in :attr:`numbers` after removal, marked deleted; live ones are also
    indexed by trunk and by ``e164`` (the account-wide conflict), so a benchmark's
    thousands of trunks and numbers cost no quadratic scans.
    """

    def __init__(self, label: str, *, clock: Callable[[], str] = utc_now,
                 ids: Callable[[], str] = new_uuid) -> None:
        self.label = label
        self.trunks: dict[str, CarrierTrunk] = {}
        self.numbers: dict[str, TrunkNumber] = {}
        self.agents: list[str] = []
        self._live_e164: dict[str, TrunkNumber] = {}
        self._live_by_trunk: dict[str, dict[str, TrunkNumber]] = {}
        self._clock = clock
        self._ids = ids

    # -- reads

    def live_numbers(self, trunk_id: str) -> list[TrunkNumber]:
        """The trunk's numbers not removed, in the order added."""
        return list(self._live_by_trunk.get(trunk_id, {}).values())

    def trunk_json(self, trunk: CarrierTrunk, *, health_labels: bool = False) -> JsonObject:
        return trunk.to_json(self.live_numbers(trunk.id), health_labels=health_labels)

    def list_trunks(self) -> list[CarrierTrunk]:
        """Every trunk, in the order created."""
        return list(self.trunks.values())

    def get_trunk(self, trunk_id: str) -> CarrierTrunk:
        _, ids = _validated(None, trunk_id=trunk_id)
        return self._trunk(ids["trunk_id"])

    def list_calls(self, trunk_id: str, direction: str | None = None) -> list[JsonObject]:
        """``GET .../calls[?direction=]``: the trunk's recorded calls, newest first, of
        one direction when given (``inbound`` or ``outbound``, else FastAPI's 422 at
        ``["query", "direction"]``; the page's parameter was cut, the values are the
        contract's)."""
        query = ([] if direction is None or direction in CALL_DIRECTIONS
                 else [enum_problem(("query", "direction"), direction, CALL_DIRECTIONS)])
        _, ids = _validated(None, query_problems=query, trunk_id=trunk_id)
        trunk = self._trunk(ids["trunk_id"])
        return [call.to_json() for call in reversed(trunk.calls)
                if direction is None or call.direction == direction]

    # -- trunks

    def create_trunk(self, body: object) -> CarrierTrunk:
        """``POST /trunk/trunks``; defaults as the contract has them."""
        request, _ = _validated(TRUNK_CREATE, body)
        name = _check_name(request["name"])
        if "auth_password" in request and "auth_username" not in request:
            raise _rule("auth_password needs auth_username: send them together")
        codecs = _check_codecs(request["codecs"]) if "codecs" in request else DEFAULT_CODECS
        self._check_agent("default_inbound_agent_id", request.get("default_inbound_agent_id"))
        self._check_name_free(name, None)
        now = self._clock()
        trunk = CarrierTrunk(
            id=self._ids(), name=name, created_at=now, updated_at=now, codecs=codecs,
            **{key: request[key] for key in (
                "description", "preset", "inbound_enabled", "outbound_enabled", "channels",
                "default_inbound_agent_id", "auth_username", "auth_password", "transport",
                "outbound_leading_plus_enabled") if key in request})
        self.trunks[trunk.id] = trunk
        return trunk

    def update_trunk(self, trunk_id: str, body: object) -> CarrierTrunk:
        """``PATCH /trunk/trunks/{id}``: only the fields sent change."""
        request, ids = _validated(TRUNK_UPDATE, body, trunk_id=trunk_id)
        trunk = self._trunk(ids["trunk_id"])
        if "name" in request:
            _check_name(request["name"])
        if "codecs" in request:
            _check_codecs(request["codecs"])
        if "auth_username" in request or "auth_password" in request:
            username, password = request.get("auth_username"), request.get("auth_password")
            sent_both = "auth_username" in request and "auth_password" in request
            if not sent_both or (username is None) != (password is None):
                raise _rule("auth_username and auth_password must be sent together: both "
                            "strings to set the credentials, both null to clear them")
        self._check_agent("default_inbound_agent_id", request.get("default_inbound_agent_id"))
        if "name" in request:
            self._check_name_free(request["name"], trunk.id)
        for key, value in request.items():
            setattr(trunk, key, value)
        trunk.updated_at = self._clock()
        return trunk

    def delete_trunk(self, trunk_id: str) -> JsonObject:
        """``DELETE /trunk/trunks/{id}``: the trunk's settings as they were; gateways,
        carrier IPs and calls go with it, its numbers are soft-deleted."""
        trunk = self.get_trunk(trunk_id)
        now = self._clock()
        for number in self.live_numbers(trunk.id):
            self._soft_delete(number, now)
        del self.trunks[trunk.id]
        return trunk.settings_json()

    # -- gateways and carrier IPs

    def add_gateway(self, trunk_id: str, body: object) -> TrunkGateway:
        request, ids = _validated(GATEWAY_CREATE, body, trunk_id=trunk_id)
        trunk = self._trunk(ids["trunk_id"])
        host = _check_host(request["host"])
        if len(trunk.gateways) >= MAX_GATEWAYS:
            raise _rule(TOO_MANY_GATEWAYS_MESSAGE)
        gateway = TrunkGateway(id=self._ids(), host=host,
                               port=request.get("port", DEFAULT_GATEWAY_PORT),
                               priority=request.get("priority", DEFAULT_GATEWAY_PRIORITY))
        trunk.gateways.append(gateway)
        return gateway

    def remove_gateway(self, trunk_id: str, gateway_id: str) -> TrunkGateway:
        _, ids = _validated(None, trunk_id=trunk_id, gateway_id=gateway_id)
        trunk = self._trunk(ids["trunk_id"])
        for gateway in trunk.gateways:
            if gateway.id == ids["gateway_id"]:
                trunk.gateways.remove(gateway)
                return gateway
        raise ApiError(404, f"No gateway with id {ids['gateway_id']} on trunk {trunk.id}")

    def add_ip_acl(self, trunk_id: str, body: object) -> CarrierIp:
        request, ids = _validated(IP_ACL_CREATE, body, trunk_id=trunk_id)
        trunk = self._trunk(ids["trunk_id"])
        network = _normalised_network(request["cidr"])
        for existing in trunk.ip_acls:
            if existing.cidr == network:
                raise ApiError(409, f"{network} is already a carrier IP of this trunk "
                                    f"({existing.id})")
        acl = CarrierIp(id=self._ids(), cidr=network)
        trunk.ip_acls.append(acl)
        return acl

    def remove_ip_acl(self, trunk_id: str, acl_id: str) -> CarrierIp:
        _, ids = _validated(None, trunk_id=trunk_id, acl_id=acl_id)
        trunk = self._trunk(ids["trunk_id"])
        for acl in trunk.ip_acls:
            if acl.id == ids["acl_id"]:
                trunk.ip_acls.remove(acl)
                return acl
        raise ApiError(404, f"No carrier IP with id {ids['acl_id']} on trunk {trunk.id}")

    # -- numbers

    def add_number(self, trunk_id: str, body: object) -> TrunkNumber:
        request, ids = _validated(NUMBER_CREATE, body, trunk_id=trunk_id)
        trunk = self._trunk(ids["trunk_id"])
        destination_key = _check_destination_key(request["destination_key"])
        agent_id = request.get("agent_id")
        self._check_agent("agent_id", agent_id)
        e164 = request["e164"]
        holder = self._live_e164.get(e164)
        if holder is not None:
            raise ApiError(409, f"{e164} is already number {holder.id} on trunk "
                                f"{holder.trunk_id}")
        now = self._clock()
        number = TrunkNumber(id=self._ids(), trunk_id=trunk.id, e164=e164,
                             destination_key=destination_key, agent_id=agent_id,
                             created_at=now, updated_at=now)
        self.numbers[number.id] = number
        self._index(number)
        return number

    def remove_number(self, trunk_id: str, number_id: str) -> TrunkNumber:
        _, ids = _validated(None, trunk_id=trunk_id, number_id=number_id)
        trunk = self._trunk(ids["trunk_id"])
        number = self.numbers.get(ids["number_id"])
        if number is None or number.is_deleted or number.trunk_id != trunk.id:
            raise ApiError(404, f"No live number with id {ids['number_id']} on trunk "
                                f"{trunk.id}")
        self._soft_delete(number, self._clock())
        return number

    def assign_agent(self, number_id: str, body: object) -> TrunkNumber:
        """``PATCH /trunk/numbers/{id}``: ``agent_id`` set, or cleared by ``null``, by
        leaving it out, or by no body at all."""
        request, ids = _validated(ASSIGN_AGENT, body, body_required=False,
                                  number_id=number_id)
        number = self.numbers.get(ids["number_id"])
        if number is None or number.is_deleted:
            raise ApiError(404, f"No live number with id {ids['number_id']}")
        agent_id = request.get("agent_id")
        self._check_agent("agent_id", agent_id)
        number.agent_id, number.updated_at = agent_id, self._clock()
        return number

    # -- the admin API's changes (errors are the admin API's 400s)

    def record_call(self, trunk: CarrierTrunk, body: object) -> TrunkCall:
        """Record a finished call: ``{direction, answered, sip_code?, execution_id?}``.
        ``sip_code`` defaults to 200 for an answered call and 503 for a failed one."""
        request = _admin_object(body, required=("direction", "answered"),
                                optional=("sip_code", "execution_id"))
        direction, answered = request["direction"], request["answered"]
        if direction not in CALL_DIRECTIONS:
            raise ApiError(400, "direction must be 'inbound' or 'outbound'")
        if not isinstance(answered, bool):
            raise ApiError(400, "answered must be true or false")
        sip_code = request.get("sip_code")
        if sip_code is None:
            sip_code = 200 if answered else 503
        if not isinstance(sip_code, int) or isinstance(sip_code, bool) or not (
                100 <= sip_code <= 699):
            raise ApiError(400, "sip_code must be an integer from 100 to 699")
        execution_id = request.get("execution_id")
        if execution_id is None:
            execution_id = new_uuid()
        if not isinstance(execution_id, str) or not execution_id:
            raise ApiError(400, "execution_id must be a non-empty string")
        call = TrunkCall(execution_id=execution_id, direction=direction,
                         outcome="answered" if answered else "failed", sip_code=sip_code,
                         created_at=self._clock())
        trunk.record_call(call)
        return call

    @staticmethod
    def set_active_calls(trunk: CarrierTrunk, body: object) -> int:
        request = _admin_object(body, required=("active_calls",))
        count = request["active_calls"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ApiError(400, "active_calls must be an integer of at least 0")
        trunk.active_calls = count
        return count

    def set_agents(self, body: object) -> list[str]:
        """``{"agents": [...]}``: the account's agents from now on; ``[]`` accepts any."""
        request = _admin_object(body, required=("agents",))
        agents = request["agents"]
        if not isinstance(agents, list) or not all(
                isinstance(agent, str) and agent for agent in agents):
            raise ApiError(400, "agents must be a list of non-empty strings")
        self.agents = list(dict.fromkeys(agents))
        return list(self.agents)

    # -- state

    def to_record(self) -> JsonObject:
        return {"trunks": [trunk.to_record() for trunk in self.trunks.values()],
                "numbers": [number.to_json() for number in self.numbers.values()],
                "agents": list(self.agents)}

    def load_record(self, record: Mapping[str, Any]) -> None:
        self.trunks = {t["id"]: CarrierTrunk.from_record(t) for t in record["trunks"]}
        self.numbers = {n["id"]: TrunkNumber.from_record(n) for n in record["numbers"]}
        self.agents = list(record["agents"])
        self._live_e164.clear()
        self._live_by_trunk.clear()
        for number in self.numbers.values():
            if not number.is_deleted:
                self._index(number)

    def to_admin_view(self) -> JsonObject:
        """Trunks as answered, plus ``auth_password_sha256`` and every recorded call
        (newest first); every number, removed ones too; the agents."""
        trunks = []
        for trunk in self.trunks.values():
            view = self.trunk_json(trunk)
            view["auth_password_sha256"] = password_digest(trunk.auth_password)
            view["calls"] = [call.to_json() for call in reversed(trunk.calls)]
            trunks.append(view)
        return {"trunks": trunks, "numbers": [n.to_json() for n in self.numbers.values()],
                "agents": list(self.agents)}

    def change_record(self, trunk_id: str) -> JsonObject:
        """What a change to one trunk may have touched: the trunk (None once deleted)
        and all its numbers, removed ones too. One state file line."""
        trunk = self.trunks.get(trunk_id)
        return {"api": "trunk", "account": self.label, "trunk_id": trunk_id,
                "trunk": None if trunk is None else trunk.to_record(),
                "numbers": [n.to_json() for n in self.numbers.values()
                            if n.trunk_id == trunk_id]}

    def agents_record(self) -> JsonObject:
        """The state file line of a change to the account's agents."""
        return {"api": "trunk", "account": self.label, "agents": list(self.agents)}

    def apply_change_record(self, record: Mapping[str, Any]) -> None:
        """Replay a :meth:`change_record` or an :meth:`agents_record`."""
        if "agents" in record:
            self.agents = list(record["agents"])
            return
        trunk_id = record["trunk_id"]
        if record["trunk"] is None:
            self.trunks.pop(trunk_id, None)
        else:
            self.trunks[trunk_id] = CarrierTrunk.from_record(record["trunk"])
        for entry in record["numbers"]:
            number = TrunkNumber.from_record(entry)
            old = self.numbers.get(number.id)
            if old is not None:
                self._unindex(old)
            self.numbers[number.id] = number
            if not number.is_deleted:
                self._index(number)

    # -- internals

    def _trunk(self, trunk_id: str) -> CarrierTrunk:
        trunk = self.trunks.get(trunk_id)
        if trunk is None:
            raise _no_trunk(trunk_id)
        return trunk

    def _soft_delete(self, number: TrunkNumber, now: str) -> None:
        number.is_deleted, number.deleted_at, number.updated_at = True, now, now
        self._unindex(number)

    def _index(self, number: TrunkNumber) -> None:
        self._live_e164[number.e164] = number
        self._live_by_trunk.setdefault(number.trunk_id, {})[number.id] = number

    def _unindex(self, number: TrunkNumber) -> None:
        if self._live_e164.get(number.e164) is number:
            del self._live_e164[number.e164]
        on_trunk = self._live_by_trunk.get(number.trunk_id, {})
        on_trunk.pop(number.id, None)
        if not on_trunk:
            self._live_by_trunk.pop(number.trunk_id, None)

    def _check_agent(self, field_name: str, agent_id: str | None) -> None:
        if agent_id is not None and self.agents and agent_id not in self.agents:
            raise _rule(f"{field_name}: agent {agent_id!r} is not one of your agents")

    def _check_name_free(self, name: str, own_id: str | None) -> None:
        for trunk in self.trunks.values():
            if trunk.name == name and trunk.id != own_id:
                raise ApiError(409, f"A trunk named {name!r} already exists ({trunk.id})")


def _admin_object(body: object, *, required: Iterable[str],
                  optional: Iterable[str] = ()) -> Mapping[str, Any]:
    """An admin request body: a JSON object with exactly these fields, else a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    required = tuple(required)
    allowed = {*required, *optional}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [key for key in required if key not in body]
    if missing:
        raise ApiError(400, f"missing field(s) {missing}")
    return body


class TrunkStore:
    """Every account's ``/trunk`` state, keyed by account label (never by token)."""

    def __init__(self, *, clock: Callable[[], str] = utc_now,
                 ids: Callable[[], str] = new_uuid) -> None:
        self.accounts: dict[str, TrunkAccount] = {}
        self._clock = clock
        self._ids = ids

    def account(self, label: str) -> TrunkAccount:
        """The account with this label, created empty on first use."""
        if label not in self.accounts:
            self.accounts[label] = TrunkAccount(label, clock=self._clock, ids=self._ids)
        return self.accounts[label]

    def clear(self) -> None:
        self.accounts.clear()

    def find_trunk(self, trunk_id: str) -> tuple[TrunkAccount, CarrierTrunk]:
        """A live trunk in any account, for the admin API (which has no token).

        Raises:
            ApiError: 404 when no account has it, 400 when it is no UUID.
        """
        canonical = canonical_id(trunk_id)
        if canonical is None:
            raise ApiError(400, f"trunk id must be a UUID (got {trunk_id!r})")
        for account in self.accounts.values():
            trunk = account.trunks.get(canonical)
            if trunk is not None:
                return account, trunk
        raise _no_trunk(canonical)

    def to_record(self) -> JsonObject:
        """The state file's ``trunk`` part (passwords included)."""
        return {"accounts": {label: account.to_record()
                             for label, account in self.accounts.items()}}

    def to_admin_view(self) -> JsonObject:
        return {"accounts": {label: account.to_admin_view()
                             for label, account in self.accounts.items()}}

    def load_record(self, record: Mapping[str, Any]) -> None:
        """Replace all state with a state file's ``trunk`` part.

        Raises:
            ValueError: the record is malformed.
        """
        try:
            accounts = {}
            for label, content in record["accounts"].items():
                account = TrunkAccount(label, clock=self._clock, ids=self._ids)
                account.load_record(content)
                accounts[label] = account
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed /trunk state: {error!r}") from error
        self.accounts = accounts
