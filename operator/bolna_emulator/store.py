"""Accounts, trunks and phone numbers of the emulated Bolna API: state and validation.

No HTTP here. ``app.py`` turns a request into a call on an :class:`Account` and an
:class:`ApiError` into an error answer, so every rule of the contract can be tested
without a server, and the server's handlers stay one line each.

A body is checked in two steps, as Bolna's FastAPI service does:

1. Against the OpenAPI's request schema (``validation.py``): wrong types, values outside
   an enum, ``null``, missing fields without a documented message, and fields outside
   the schema (refused on create and on adding a number, ignored on PATCH, by default;
   each is a switch). Any problem is a 422 whose :attr:`ApiError.detail` is FastAPI's
   list, one entry per field; nothing else is looked at.
2. Bolna's own rules, as documented (``bolna-api.md``, the setup guide's field
   reference): the documented messages word for word, with their documented statuses
   (400, and 422 for sdes without TLS). Where the documentation is silent the emulator
   refuses rather than accepts (a port of 70000, a blank name, an address with a
   scheme), because a test double that accepts too much hides the client bugs the real
   API would expose. Each such rule has its own 400 message naming the field, so a
   failing test says which rule it met.

State changes happen in plain synchronous methods: the server runs them on one event
loop thread without awaiting in between, so each request's change is atomic.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .validation import (
    CREATE_SCHEMA,
    NUMBER_SCHEMA,
    UPDATE_SCHEMA,
    UnknownFields,
    check_body,
    detail_text,
)

__all__ = [
    "AUTH_TYPE_MESSAGE",
    "GATEWAY_REQUIRED_MESSAGE",
    "IP_IDENTIFIERS_REQUIRED_MESSAGE",
    "NAME_REQUIRED_MESSAGE",
    "PROVIDER_REQUIRED_MESSAGE",
    "SDES_NEEDS_TLS_MESSAGE",
    "USERPASS_REQUIRED_MESSAGE",
    "Account",
    "ApiError",
    "Gateway",
    "PhoneNumber",
    "Store",
    "Trunk",
    "new_id",
    "utc_now",
]

JsonObject = dict[str, Any]

# The messages Bolna documents, word for word.
NAME_REQUIRED_MESSAGE = "Trunk name is required"
PROVIDER_REQUIRED_MESSAGE = "Provider is required"
AUTH_TYPE_MESSAGE = "auth_type must be 'userpass' or 'ip-based'"
GATEWAY_REQUIRED_MESSAGE = "At least one gateway is required"
USERPASS_REQUIRED_MESSAGE = "auth_username and auth_password are required for userpass auth"
IP_IDENTIFIERS_REQUIRED_MESSAGE = "ip_identifiers are required for ip-based auth"
SDES_NEEDS_TLS_MESSAGE = "media_encryption='sdes' requires transport='transport-tls'"

AUTH_TYPES = ("userpass", "ip-based")
TRANSPORTS = ("transport-udp", "transport-tcp", "transport-tls")
MEDIA_ENCRYPTIONS = ("no", "sdes")
TELEPHONY_PROVIDER = "sip-trunk"

DEFAULT_GATEWAY_PORT = 5060
DEFAULT_GATEWAY_PRIORITY = 1

# Switches of the field reference and their defaults. On create all but is_active may be
# sent (SIPTrunkCreateRequest); on PATCH all but direct_media, rtp_symmetric and
# force_rport (SIPTrunkUpdateRequest): the schema check drops or refuses the others
# before these are read.
BOOLEAN_DEFAULTS: Mapping[str, bool] = {
    "direct_media": False,
    "rtp_symmetric": True,
    "force_rport": True,
    "media_encryption_optimistic": False,
    "inbound_enabled": False,
    "outbound_leading_plus_enabled": True,
    "is_active": True,
}

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PHONE_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
_E164 = re.compile(r"^\+?[1-9][0-9]{6,14}$")


class ApiError(Exception):
    """A request Bolna refuses: the HTTP status and the message of the error body.

    ``detail``, when set, is FastAPI's list of validation problems: the answer is then
    ``{"detail": [...]}`` rather than ``{"error": status, "message": ...}``, and
    ``message`` is the same problems as one line.
    """

    def __init__(self, status: int, message: str,
                 detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


def _checked(schema_name: str, body: object, unknown: UnknownFields,
             **documented: Iterable[str]) -> Mapping[str, Any]:
    """The body after the schema check (step 1 of the module's docstring).

    Raises:
        ApiError: 422 with FastAPI's ``detail`` list.
    """
    checked = check_body(schema_name, body, unknown=unknown, **documented)
    if checked.problems:
        raise ApiError(422, detail_text(checked.problems), checked.problems)
    result: Mapping[str, Any] = checked.body
    return result


_CREATE_DOCUMENTED = {
    # Bolna documents its own 400 message for each of these when absent, and for every
    # wrong auth_type ("auth_type must be 'userpass' or 'ip-based'").
    "documented_absence": ("name", "provider", "auth_type", "gateways"),
    "documented_values": ("auth_type",),
}


def new_id() -> str:
    """A ULID: 48 bits of milliseconds, then 80 random bits, as 26 Crockford base32
    characters. Time first, so ids sort by creation like Bolna's (``01HQ...``)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = [_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)]
    return "".join(chars)


def utc_now() -> str:
    """Now as ISO 8601 UTC with a ``Z``, to the millisecond (so a PATCH right after a
    create still moves ``updated_at``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def password_digest(password: str | None) -> str | None:
    """The SHA-256 hex of a password: what the admin view shows instead of it, so tests
    can check a rotation without the value ever leaving the emulator's own file."""
    return None if password is None else hashlib.sha256(password.encode()).hexdigest()


def phone_key(number: str) -> str:
    """The number as Bolna matches it: with and without a leading ``+`` are the same."""
    return number.removeprefix("+")


@dataclass
class Gateway:
    """One SIP gateway of a trunk; each has its own id, as in Bolna's answers."""

    id: str
    gateway_address: str
    port: int
    priority: int
    created_at: str

    def to_json(self) -> JsonObject:
        return {"id": self.id, "gateway_address": self.gateway_address, "port": self.port,
                "priority": self.priority, "created_at": self.created_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Gateway:
        return cls(id=record["id"], gateway_address=record["gateway_address"],
                   port=record["port"], priority=record["priority"],
                   created_at=record["created_at"])


@dataclass
class PhoneNumber:
    """A DID on a trunk. Deleting it, or its trunk, only marks it ``deleted``."""

    id: str
    phone_number: str
    name: str | None
    byot_trunk_id: str
    deleted: bool
    created_at: str
    updated_at: str

    def to_json(self) -> JsonObject:
        body: JsonObject = {"id": self.id, "phone_number": self.phone_number}
        if self.name is not None:
            body["name"] = self.name
        body.update(byot_trunk_id=self.byot_trunk_id, telephony_provider=TELEPHONY_PROVIDER,
                    deleted=self.deleted, created_at=self.created_at,
                    updated_at=self.updated_at)
        return body

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PhoneNumber:
        return cls(id=record["id"], phone_number=record["phone_number"],
                   name=record.get("name"), byot_trunk_id=record["byot_trunk_id"],
                   deleted=record["deleted"], created_at=record["created_at"],
                   updated_at=record["updated_at"])


@dataclass
class Trunk:
    """A trunk as stored. The password is kept (a real trunk needs it) but excluded from
    ``repr`` and from every answer."""

    id: str
    name: str
    provider: str
    auth_type: str
    gateways: list[Gateway]
    created_at: str
    updated_at: str
    description: str | None = None
    auth_username: str | None = None
    auth_password: str | None = field(default=None, repr=False)
    ip_identifiers: list[str] = field(default_factory=list)
    allow: str = "ulaw,alaw"
    disallow: str = "all"
    transport: str = "transport-udp"
    media_encryption: str = "no"
    qualify_frequency: int = 60
    switches: dict[str, bool] = field(default_factory=lambda: dict(BOOLEAN_DEFAULTS))

    def to_json(self, numbers: Iterable[PhoneNumber]) -> JsonObject:
        """The trunk as Bolna answers it. Fields without a value (``description`` when
        none was given, ``auth_username`` of an ip-based trunk) are left out, as in
        Bolna's examples and as the OpenAPI's non-nullable string types require."""
        body: JsonObject = {"id": self.id, "name": self.name, "provider": self.provider}
        if self.description is not None:
            body["description"] = self.description
        body["auth_type"] = self.auth_type
        if self.auth_username is not None:
            body["auth_username"] = self.auth_username
        body.update(
            gateways=[gateway.to_json() for gateway in self.gateways],
            ip_identifiers=[{"ip_address": address} for address in self.ip_identifiers],
            phone_numbers=[number.to_json() for number in numbers],
            allow=self.allow, disallow=self.disallow, transport=self.transport,
            direct_media=self.switches["direct_media"],
            rtp_symmetric=self.switches["rtp_symmetric"],
            force_rport=self.switches["force_rport"],
            media_encryption=self.media_encryption,
            media_encryption_optimistic=self.switches["media_encryption_optimistic"],
            qualify_frequency=self.qualify_frequency,
            inbound_enabled=self.switches["inbound_enabled"],
            outbound_leading_plus_enabled=self.switches["outbound_leading_plus_enabled"],
            is_active=self.switches["is_active"],
            created_at=self.created_at, updated_at=self.updated_at,
        )
        return body

    @property
    def is_active(self) -> bool:
        return self.switches["is_active"]

    def to_record(self) -> JsonObject:
        """Everything, password included: the state file's form."""
        record = self.to_json(())
        del record["phone_numbers"]
        record["auth_username"] = self.auth_username
        record["description"] = self.description
        record["auth_password"] = self.auth_password
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Trunk:
        return cls(
            id=record["id"], name=record["name"], provider=record["provider"],
            auth_type=record["auth_type"],
            gateways=[Gateway.from_record(g) for g in record["gateways"]],
            created_at=record["created_at"], updated_at=record["updated_at"],
            description=record.get("description"),
            auth_username=record.get("auth_username"),
            auth_password=record.get("auth_password"),
            ip_identifiers=[i["ip_address"] for i in record["ip_identifiers"]],
            allow=record["allow"], disallow=record["disallow"],
            transport=record["transport"], media_encryption=record["media_encryption"],
            qualify_frequency=record["qualify_frequency"],
            switches={key: bool(record[key]) for key in BOOLEAN_DEFAULTS},
        )


# ---- field readers -------------------------------------------------------------------

def _object(body: object, where: str = "Request body") -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, f"{where} must be a JSON object")
    return body


def _required_text(body: Mapping[str, Any], key: str, message: str) -> str:
    """A required string: absent, null or blank is ``message``; another type names it."""
    value = body.get(key)
    if value is None:
        raise ApiError(400, message)
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    if not value.strip():
        raise ApiError(400, message)
    return value


def _optional_text(body: Mapping[str, Any], key: str, where: str = "") -> str | None:
    """A string whose default is null (description, auth_username, auth_password)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{where}{key} must be a string")
    return value


def _text(body: Mapping[str, Any], key: str, default: str) -> str:
    """A string with a non-null default (allow, disallow): null and empty are refused."""
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{key} must be a non-empty string")
    return value


def _boolean(body: Mapping[str, Any], key: str, default: bool, where: str = "") -> bool:
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, bool):
        raise ApiError(400, f"{where}{key} must be a boolean (true or false)")
    return value


def _integer(body: Mapping[str, Any], key: str, default: int, *, minimum: int,
             maximum: int | None = None, where: str = "") -> int:
    if key not in body:
        return default
    value = body[key]
    in_range = (isinstance(value, int) and not isinstance(value, bool) and value >= minimum
                and (maximum is None or value <= maximum))
    if not in_range:
        bounds = f"between {minimum} and {maximum}" if maximum is not None else (
            f"of at least {minimum}")
        raise ApiError(400, f"{where}{key} must be an integer {bounds}")
    return int(value)


def _choice(body: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    """An enum. Only the exact strings: a JSON ``false`` for media_encryption (what a YAML
    1.1 reader makes of an unquoted ``no``) is an error, as in Bolna's schema."""
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, str) or value not in choices:
        shown = " or ".join(f"'{choice}'" for choice in choices)
        raise ApiError(400, f"{key} must be {shown} (got {json.dumps(value)})")
    return value


def _gateways(value: object, new_id: Callable[[], str], now: str) -> list[Gateway]:
    if value is None or value == []:
        raise ApiError(400, GATEWAY_REQUIRED_MESSAGE)
    if not isinstance(value, list):
        raise ApiError(400, "gateways must be an array of gateway objects")
    gateways = []
    for index, item in enumerate(value):
        where = f"gateways[{index}]"
        entry = _object(item, where)
        address = _required_text(entry, "gateway_address", f"{where}.gateway_address is required")
        if any(c.isspace() for c in address) or "/" in address:
            raise ApiError(400, f"{where}.gateway_address must be a hostname or IP address, "
                                "without scheme or path")
        port = _integer(entry, "port", DEFAULT_GATEWAY_PORT, minimum=1, maximum=65535,
                        where=f"{where}.")
        priority = _integer(entry, "priority", DEFAULT_GATEWAY_PRIORITY, minimum=0,
                            where=f"{where}.")
        gateways.append(Gateway(id=new_id(), gateway_address=address, port=port,
                                priority=priority, created_at=now))
    return gateways


def _ip_identifiers(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "ip_identifiers must be an array of {\"ip_address\": ...} objects")
    addresses = []
    for index, item in enumerate(value):
        where = f"ip_identifiers[{index}]"
        entry = _object(item, where)
        address = _required_text(entry, "ip_address", f"{where}.ip_address is required")
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ApiError(400, f"{where}.ip_address must be an IP address or CIDR block "
                                f"(got {address!r})") from None
        addresses.append(address)
    return addresses


def _number_request(body: Mapping[str, Any], where: str = "") -> tuple[str, str | None]:
    """``{phone_number, name?, e164_check_enabled?}``: the number exactly as sent."""
    number = _required_text(body, "phone_number", f"{where}phone_number is required")
    if not _PHONE_NUMBER.match(number):
        raise ApiError(400, f"{where}phone_number must be digits with an optional leading +")
    if _boolean(body, "e164_check_enabled", False, where) and not _E164.match(number):
        raise ApiError(400, f"{where}phone_number is not a valid E.164 number")
    return number, _optional_text(body, "name", where)


# ---- accounts -------------------------------------------------------------------------

class Account:
    """One organisation's trunks and numbers (each API token is its own account).

    Trunk names are unique here and only here. Numbers stay in :attr:`numbers` after
    deletion, marked ``deleted``, as Bolna soft-deletes them. Live numbers are also
    indexed by trunk and by number, so a benchmark's thousands of trunks cost no
    quadratic scans.
    """

    def __init__(self, label: str, *, clock: Callable[[], str] = utc_now,
                 ids: Callable[[], str] = new_id) -> None:
        self.label = label
        self.trunks: dict[str, Trunk] = {}
        self.numbers: dict[str, PhoneNumber] = {}
        self._by_trunk: dict[str, dict[str, PhoneNumber]] = {}
        self._by_key: dict[str, dict[str, PhoneNumber]] = {}
        self._clock = clock
        self._ids = ids

    # -- reads

    def trunk_json(self, trunk: Trunk) -> JsonObject:
        return trunk.to_json(self._live_numbers(trunk.id))

    def list_trunks(self, is_active: bool | None = None) -> list[JsonObject]:
        return [self.trunk_json(trunk) for trunk in self.trunks.values()
                if is_active is None or trunk.is_active == is_active]

    def get_trunk(self, trunk_id: str) -> JsonObject:
        return self.trunk_json(self._trunk(trunk_id))

    def list_numbers(self, trunk_id: str) -> list[JsonObject]:
        trunk = self._trunk(trunk_id)
        return [number.to_json() for number in self._live_numbers(trunk.id)]

    # -- changes

    def create_trunk(self, body: object, *, unknown_fields: UnknownFields = "refuse"
                     ) -> JsonObject:
        """POST /sip-trunks/trunks. The schema check first (422, FastAPI's detail), then
        the documented messages in the field reference's order, then the emulator's own
        rules, then 422 for sdes, then conflicts; nothing is stored unless all pass.
        ``unknown_fields``: what a field outside SIPTrunkCreateRequest (``is_active``,
        say) gets: ``"refuse"`` (422 ``extra_forbidden``) or ``"ignore"``."""
        request = _checked(CREATE_SCHEMA, body, unknown_fields, **_CREATE_DOCUMENTED)
        now = self._clock()
        name = _required_text(request, "name", NAME_REQUIRED_MESSAGE)
        provider = _required_text(request, "provider", PROVIDER_REQUIRED_MESSAGE)
        auth_type = request.get("auth_type")
        if not isinstance(auth_type, str) or auth_type not in AUTH_TYPES:
            raise ApiError(400, AUTH_TYPE_MESSAGE)
        if request.get("gateways") in (None, []):
            raise ApiError(400, GATEWAY_REQUIRED_MESSAGE)
        username = password = None
        if auth_type == "userpass":
            username, password = self._credentials(request, None)
        elif request.get("ip_identifiers") in (None, []):
            raise ApiError(400, IP_IDENTIFIERS_REQUIRED_MESSAGE)
        trunk = Trunk(
            id=self._ids(), name=name, provider=provider, auth_type=auth_type,
            gateways=_gateways(request["gateways"], self._ids, now),
            created_at=now, updated_at=now,
            description=_optional_text(request, "description"),
            auth_username=username, auth_password=password,
            ip_identifiers=_ip_identifiers(request.get("ip_identifiers")),
            allow=_text(request, "allow", "ulaw,alaw"),
            disallow=_text(request, "disallow", "all"),
            transport=_choice(request, "transport", "transport-udp", TRANSPORTS),
            media_encryption=_choice(request, "media_encryption", "no", MEDIA_ENCRYPTIONS),
            qualify_frequency=_integer(request, "qualify_frequency", 60, minimum=0),
            switches={key: _boolean(request, key, default)
                      for key, default in BOOLEAN_DEFAULTS.items()},
        )
        wanted = self._numbers_at_creation(request.get("phone_numbers"))
        self._check_sdes(trunk.transport, trunk.media_encryption)
        self._check_name_free(name, None)
        for number, _ in wanted:
            self._check_number_free(number, None)
        self.trunks[trunk.id] = trunk
        for number, label in wanted:
            self._add_number(trunk, number, label, now)
        return self.trunk_json(trunk)

    def update_trunk(self, trunk_id: str, body: object, *,
                     unknown_fields: UnknownFields = "ignore") -> JsonObject:
        """PATCH: only the fields sent change; ``gateways`` and ``ip_identifiers`` replace
        whole lists; the result is checked as a whole (sdes against the merged
        transport) before anything is stored.

        The body is checked against SIPTrunkUpdateRequest first (before the trunk is
        looked up, as FastAPI validates before its handler runs). A field outside it
        (``direct_media``, ``rtp_symmetric``, ``force_rport``, ``provider``,
        ``auth_type``, ``phone_numbers``, ``id``...) is dropped unseen by default, as
        a pydantic model ignores unknown fields, or refused with ``unknown_fields=
        "refuse"``."""
        request = _checked(UPDATE_SCHEMA, body, unknown_fields)
        trunk = self._trunk(trunk_id)
        now = self._clock()
        name = (_required_text(request, "name", NAME_REQUIRED_MESSAGE)
                if "name" in request else trunk.name)
        description = (_optional_text(request, "description")
                       if "description" in request else trunk.description)
        username, password = trunk.auth_username, trunk.auth_password
        if trunk.auth_type == "userpass" and (
                "auth_username" in request or "auth_password" in request):
            username, password = self._credentials(request, trunk)
        gateways = trunk.gateways
        if "gateways" in request:
            gateways = _gateways(request["gateways"], self._ids, now)
        ip_identifiers = trunk.ip_identifiers
        if "ip_identifiers" in request:
            if trunk.auth_type == "ip-based" and request["ip_identifiers"] in (None, []):
                raise ApiError(400, IP_IDENTIFIERS_REQUIRED_MESSAGE)
            ip_identifiers = _ip_identifiers(request["ip_identifiers"])
        allow = _text(request, "allow", trunk.allow)
        disallow = _text(request, "disallow", trunk.disallow)
        transport = _choice(request, "transport", trunk.transport, TRANSPORTS)
        media_encryption = _choice(request, "media_encryption", trunk.media_encryption,
                                   MEDIA_ENCRYPTIONS)
        qualify_frequency = _integer(request, "qualify_frequency", trunk.qualify_frequency,
                                     minimum=0)
        switches = {key: _boolean(request, key, value) for key, value in trunk.switches.items()}
        self._check_sdes(transport, media_encryption)
        self._check_name_free(name, trunk.id)
        trunk.name, trunk.description = name, description
        trunk.auth_username, trunk.auth_password = username, password
        trunk.gateways, trunk.ip_identifiers = gateways, ip_identifiers
        trunk.allow, trunk.disallow = allow, disallow
        trunk.transport, trunk.media_encryption = transport, media_encryption
        trunk.qualify_frequency, trunk.switches = qualify_frequency, switches
        trunk.updated_at = now
        return self.trunk_json(trunk)

    def delete_trunk(self, trunk_id: str) -> str:
        """DELETE: the trunk goes (gateways and IP identifiers with it); its numbers are
        soft-deleted. Returns Bolna's message, counting the numbers removed."""
        trunk = self._trunk(trunk_id)
        now = self._clock()
        removed = 0
        for number in self._live_numbers(trunk.id):
            self._soft_delete(number, now)
            removed += 1
        del self.trunks[trunk.id]
        return f"Trunk deleted successfully. {removed} phone number(s) removed."

    def add_number(self, trunk_id: str, body: object, *,
                   unknown_fields: UnknownFields = "refuse") -> JsonObject:
        """POST .../numbers: the body is checked against SIPTrunkPhoneNumberRequest
        first, then the trunk looked up, then the number's own rules and conflicts."""
        request = _checked(NUMBER_SCHEMA, body, unknown_fields)
        trunk = self._trunk(trunk_id)
        number, label = _number_request(request)
        self._check_number_free(number, trunk.id)
        return self._add_number(trunk, number, label, self._clock()).to_json()

    def remove_number(self, trunk_id: str, number_id: str) -> str:
        trunk = self._trunk(trunk_id)
        number = self.numbers.get(number_id)
        if number is None or number.deleted or number.byot_trunk_id != trunk.id:
            raise ApiError(404, "Phone number not found")
        self._soft_delete(number, self._clock())
        return "Phone number removed successfully"

    # -- state

    def to_record(self) -> JsonObject:
        return {"trunks": [trunk.to_record() for trunk in self.trunks.values()],
                "numbers": [number.to_json() for number in self.numbers.values()]}

    def to_admin_view(self) -> JsonObject:
        """Trunks as answered plus ``auth_password_sha256``; every number, deleted too."""
        trunks = []
        for trunk in self.trunks.values():
            view = self.trunk_json(trunk)
            view["auth_password_sha256"] = password_digest(trunk.auth_password)
            trunks.append(view)
        return {"trunks": trunks, "numbers": [n.to_json() for n in self.numbers.values()]}

    def load_record(self, record: Mapping[str, Any]) -> None:
        self.trunks = {t["id"]: Trunk.from_record(t) for t in record.get("trunks", [])}
        self.numbers = {n["id"]: PhoneNumber.from_record(n) for n in record.get("numbers", [])}
        self._reindex()

    def change_record(self, trunk_id: str) -> JsonObject:
        """Everything a change to one trunk (or to its numbers) may have touched: the
        trunk as stored (None once deleted) and all its numbers, deleted ones too. The
        state file appends one of these per change."""
        trunk = self.trunks.get(trunk_id)
        return {"trunk_id": trunk_id, "trunk": None if trunk is None else trunk.to_record(),
                "numbers": [n.to_json() for n in self.numbers.values()
                            if n.byot_trunk_id == trunk_id]}

    def apply_change_record(self, record: Mapping[str, Any]) -> None:
        """Replay a :meth:`change_record`."""
        trunk_id = record["trunk_id"]
        if record["trunk"] is None:
            self.trunks.pop(trunk_id, None)
        else:
            self.trunks[trunk_id] = Trunk.from_record(record["trunk"])
        for entry in record["numbers"]:
            old = self.numbers.get(entry["id"])
            if old is not None:
                self._unindex(old)
            number = self.numbers[entry["id"]] = PhoneNumber.from_record(entry)
            if not number.deleted:
                self._index(number)

    # -- internals

    def _trunk(self, trunk_id: str) -> Trunk:
        trunk = self.trunks.get(trunk_id)
        if trunk is None:
            raise ApiError(404, "Trunk not found")
        return trunk

    def _live_numbers(self, trunk_id: str) -> list[PhoneNumber]:
        return list(self._by_trunk.get(trunk_id, {}).values())

    def _reindex(self) -> None:
        self._by_trunk.clear()
        self._by_key.clear()
        for number in self.numbers.values():
            if not number.deleted:
                self._index(number)

    def _index(self, number: PhoneNumber) -> None:
        self._by_trunk.setdefault(number.byot_trunk_id, {})[number.id] = number
        self._by_key.setdefault(phone_key(number.phone_number), {})[number.id] = number

    def _soft_delete(self, number: PhoneNumber, now: str) -> None:
        self._unindex(number)
        number.deleted, number.updated_at = True, now

    def _unindex(self, number: PhoneNumber) -> None:
        for index, key in ((self._by_trunk, number.byot_trunk_id),
                           (self._by_key, phone_key(number.phone_number))):
            entries = index.get(key, {})
            entries.pop(number.id, None)
            if not entries:
                index.pop(key, None)

    @staticmethod
    def _credentials(request: Mapping[str, Any], trunk: Trunk | None) -> tuple[str, str]:
        """userpass credentials after this request: sent ones over stored ones; both
        must end up non-empty strings."""
        username = _optional_text(request, "auth_username")
        password = _optional_text(request, "auth_password")
        if trunk is not None:
            username = username if "auth_username" in request else trunk.auth_username
            password = password if "auth_password" in request else trunk.auth_password
        if not username or not username.strip() or not password or not password.strip():
            raise ApiError(400, USERPASS_REQUIRED_MESSAGE)
        return username, password

    @staticmethod
    def _check_sdes(transport: str, media_encryption: str) -> None:
        if media_encryption == "sdes" and transport != "transport-tls":
            raise ApiError(422, SDES_NEEDS_TLS_MESSAGE)

    def _check_name_free(self, name: str, own_id: str | None) -> None:
        if any(t.name == name and t.id != own_id for t in self.trunks.values()):
            raise ApiError(409, f"A trunk named '{name}' already exists")

    def _check_number_free(self, number: str, trunk_id: str | None) -> None:
        """Refuse a number already live on this trunk, or on another active trunk of
        the account, comparing with and without a leading ``+``."""
        for existing in self._by_key.get(phone_key(number), {}).values():
            if existing.byot_trunk_id == trunk_id:
                raise ApiError(409, f"Phone number {number} is already on this trunk")
            holder = self.trunks.get(existing.byot_trunk_id)
            if holder is not None and holder.is_active:
                raise ApiError(409, f"Phone number {number} is already on another active "
                                    f"trunk ({holder.id})")

    def _numbers_at_creation(self, value: object) -> list[tuple[str, str | None]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ApiError(400, "phone_numbers must be an array of {\"phone_number\": ...} "
                                "objects")
        wanted: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            where = f"phone_numbers[{index}]."
            number, label = _number_request(_object(item, where[:-1]), where)
            if phone_key(number) in seen:
                raise ApiError(400, f"{where}phone_number {number} is listed twice "
                                    "(with and without + is the same number)")
            seen.add(phone_key(number))
            wanted.append((number, label))
        return wanted

    def _add_number(self, trunk: Trunk, number: str, label: str | None,
                    now: str) -> PhoneNumber:
        entry = PhoneNumber(id=self._ids(), phone_number=number, name=label,
                            byot_trunk_id=trunk.id, deleted=False, created_at=now,
                            updated_at=now)
        self.numbers[entry.id] = entry
        self._index(entry)
        return entry


class Store:
    """Every account's state, keyed by account label (never by token: the state file
    and the admin API name accounts without revealing their tokens)."""

    def __init__(self, *, clock: Callable[[], str] = utc_now,
                 ids: Callable[[], str] = new_id) -> None:
        self.accounts: dict[str, Account] = {}
        self._clock = clock
        self._ids = ids

    def account(self, label: str) -> Account:
        """The account with this label, created empty on first use."""
        if label not in self.accounts:
            self.accounts[label] = Account(label, clock=self._clock, ids=self._ids)
        return self.accounts[label]

    def clear(self) -> None:
        self.accounts.clear()

    def to_record(self) -> JsonObject:
        """The state file's content (passwords included: it is the emulator's own file)."""
        return {"version": 1,
                "accounts": {label: account.to_record()
                             for label, account in self.accounts.items()}}

    def to_admin_view(self) -> JsonObject:
        return {"accounts": {label: account.to_admin_view()
                             for label, account in self.accounts.items()}}

    def load_record(self, record: Mapping[str, Any]) -> None:
        """Replace all state with a state file's content.

        Raises:
            ValueError: the record is not a version-1 state file.
        """
        if record.get("version") != 1 or not isinstance(record.get("accounts"), dict):
            raise ValueError("not a version 1 emulator state file")
        try:
            accounts = {}
            for label, content in record["accounts"].items():
                account = Account(label, clock=self._clock, ids=self._ids)
                account.load_record(content)
                accounts[label] = account
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed emulator state file: {error!r}") from error
        self.accounts = accounts
