"""Bolna's JSON shapes for the newer SIP trunk API (``/trunk/...``), read leniently.

Bolna's pages for this API could be read only in part (``bolna-trunk-api.md`` in the
shared reference): the Trunk object is documented up to ``transport``, the Number object
in full, and the gateway, carrier-IP, call and connection-details objects not at all.
So every model here:

* keeps unknown fields (``extra="allow"``): a field Bolna adds, or one we guessed wrong,
  is still there to look at in a log or a test, instead of silently gone;
* has every field optional, ``None`` meaning "Bolna did not say" (absent, or ``null``),
  never a guessed default: the reconciler, not the wire, decides what absent means;
* reads enumerations as plain strings, so a value Bolna adds tomorrow does not make
  every trunk of the account unreadable;
* reads a timestamp it cannot parse as ``None`` (we never act on one).

A field of a wrong *type* in a settings field the reconciler compares (``channels:
"ten"``) still fails the answer (the client raises ``UnexpectedResponse``): a guessed
value there would drive a wrong PATCH. Only the fields that are information, not
settings (``health``, ``active_calls`` and the connection details) are read with a
fallback instead.

Bolna's ``health`` values are mapped in exactly one place, :func:`read_health`.

Assumptions (where Bolna's pages show nothing; each is what the agreed contract and the
emulator use):

* Trunk: the fields after ``transport`` are named ``codecs`` (a comma-separated
  string; a JSON list of names is also read and joined), ``outbound_leading_plus_enabled``,
  ``gateways``, ``ip_acls``, ``numbers``, ``health``, ``active_calls``, ``created_at``,
  ``updated_at``. Only ``health``, ``active_calls`` and ``ip_acls`` are named on Bolna's
  pages.
* ``health``: its type and values are not documented. Read as a string in snake_case
  (``waiting_for_carrier``), or the dashboard's labels (``Waiting for carrier``), in any
  case, or an object whose ``status``, ``state`` or ``label`` holds one of those. There
  is no documented "healthy" label; ``healthy`` is assumed to be the value between
  "waiting" and "degraded".
* ``active_calls``: an integer (a numeric string is also read); anything else is
  "unknown".
* The trunk's ``numbers`` lists live numbers only; deleted numbers (``is_deleted``) are
  still kept in the model if Bolna sends them, and :meth:`TrunkRecord.live_numbers`
  leaves them out. A number whose ``is_deleted`` is absent is deleted only if it has a
  ``deleted_at``.
* Gateway: ``{id, host, port, priority}``, the fields of the add-gateway body plus an id.
* Carrier IP (``ip_acls`` entry): ``{id, cidr}``.
* Call entry: ``{execution_id, direction, outcome, sip_code, created_at}``; only
  ``execution_id`` is named on Bolna's page.
* Connection details (``GET /trunk/pop``): ``sip_domain``, ``port``, ``ips`` and
  ``rtp_ports`` are named on the page, their types are not; ``transports`` is implied
  ("SIP domain, port, transports, ..."). ``rtp_ports`` is read as ``"30000-40000"``,
  ``{"start", "end"}``, ``{"min", "max"}`` or a two-item list; ``transports`` and
  ``ips`` as lists of strings, or one comma-separated string.
* Ids are strings (uuids); a number sent as an id is read as its decimal text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Final, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

from .wire import Timestamp, _Request

HealthState = Literal["WaitingForCarrier", "Healthy", "Degraded", "Disabled", "Unknown"]
"""What the operator says about Bolna's own (call-outcome) health of a trunk: the values
of ``status.bolna.health``."""

HEALTH_STATES: Final[tuple[HealthState, ...]] = get_args(HealthState)

MAX_REPORTED_LENGTH: Final = 200
"""The longest ``reported`` text kept: it ends up in a status field, where a value of
unbounded size does not belong."""

_HEALTH_KEYS: Final = ("status", "state", "label")
"""Where an object-shaped ``health`` may carry its value, tried in this order."""

_MAX_HEALTH_DEPTH: Final = 3
"""How deep objects inside objects are followed (``{"status": {"label": ...}}``)."""

_HEALTH_BY_KEY: Final[dict[str, HealthState]] = {
    "waitingforcarrier": "WaitingForCarrier",
    "healthy": "Healthy",
    "degraded": "Degraded",
    "disabled": "Disabled",
    "unknown": "Unknown",
}
"""Each state under its key: the value lower-cased with spaces, ``_`` and ``-`` taken
out, so ``waiting_for_carrier``, ``Waiting for carrier``, ``WAITING-FOR-CARRIER`` and our
own ``WaitingForCarrier`` all meet here."""

_SEPARATORS = re.compile(r"[\s_\-]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
"""A count as text: ASCII digits only, and few enough that ``int()`` is cheap."""
_PORT_RANGE = re.compile(r"([0-9]{1,5})\s*(?:-|\u2013|\.\.)\s*([0-9]{1,5})")
_LIST_SEPARATORS = re.compile(r"[\s,]+")


# Bolna's health: the one mapping

@dataclass(frozen=True)
class BolnaHealth:
    """Bolna's health of a trunk as the operator reads it.

    ``state`` is one of :data:`HEALTH_STATES`; ``reported`` is what Bolna sent, as text
    (the string itself, the matched string inside an object, or the JSON of anything
    else, at most :data:`MAX_REPORTED_LENGTH` characters), ``None`` when Bolna sent
    nothing. Kept side by side so a value the mapping does not know is still shown as
    Bolna wrote it.
    """

    state: HealthState
    reported: str | None


def read_health(raw: object) -> BolnaHealth:
    """Map whatever Bolna put in a trunk's ``health`` to a :class:`BolnaHealth`.

    The one place Bolna's health values are interpreted (the API's values are not
    documented; see the module's assumptions). Accepts the snake_case values, the
    dashboard's labels, any case, and an object carrying ``status``, ``state`` or
    ``label``; anything else, ``None`` included, is ``Unknown``. Never raises.
    """
    if raw is None:
        return BolnaHealth("Unknown", None)
    found = _health_text(raw, depth=0)
    if found is not None:
        state = _state_of(found)
        if state is not None:
            return BolnaHealth(state, _bounded(found))
    text = raw if isinstance(raw, str) else _as_json(raw)
    return BolnaHealth("Unknown", _bounded(text))


def _health_text(value: object, depth: int) -> str | None:
    """The string that carries the health: the value itself, or the first of the
    object's ``status``/``state``/``label`` whose value names a known state."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or depth >= _MAX_HEALTH_DEPTH:
        return None
    for key in _HEALTH_KEYS:
        if key in value:
            inner = _health_text(value[key], depth + 1)
            if inner is not None and _state_of(inner) is not None:
                return inner
    return None


def _state_of(text: str) -> HealthState | None:
    key = _SEPARATORS.sub("", text.strip())
    if not key.isascii():
        return None
    return _HEALTH_BY_KEY.get(key.lower())


def _as_json(value: object) -> str:
    """A non-string value as compact JSON text (for ``reported``); never raises."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _bounded(text: str) -> str:
    if len(text) <= MAX_REPORTED_LENGTH:
        return text
    return text[:MAX_REPORTED_LENGTH - 3] + "..."


def _health_field(value: object) -> BolnaHealth | None:
    """``health`` in a record: ``None`` when Bolna left it out or sent ``null``, else
    :func:`read_health`'s reading (a :class:`BolnaHealth` is taken as it is)."""
    if value is None or isinstance(value, BolnaHealth):
        return value
    return read_health(value)


# Other lenient readings

def read_count(value: object) -> int | None:
    """A non-negative count (``active_calls``): an integer, or a string of digits;
    anything else (a bool, a float, a negative number, words) is ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def read_port_range(value: object) -> str | None:
    """An RTP port range as ``"start-end"``, from ``"30000-40000"`` (also with spaces,
    an en dash or ``..``), ``{"start", "end"}``, ``{"min", "max"}`` or ``[start, end]``.

    A string that is not such a range is kept as Bolna wrote it (stripped, bounded): a
    person reads it in the status, and it is still Bolna's answer. A structured value
    that is not one (a bound missing or not a port, start after end) is ``None``.
    """
    if isinstance(value, str):
        text = value.strip()
        match = _PORT_RANGE.fullmatch(text)
        if match is not None:
            joined = _range_text(match.group(1), match.group(2))
            if joined is not None:
                return joined
        return _bounded(text) if text else None
    if isinstance(value, dict):
        for low, high in (("start", "end"), ("min", "max")):
            if low in value and high in value:
                return _range_text(value[low], value[high])
        return None
    if isinstance(value, list | tuple) and len(value) == 2:
        return _range_text(value[0], value[1])
    return None


def _range_text(low: object, high: object) -> str | None:
    start, end = _port(low), _port(high)
    if start is None or end is None or start > end:
        return None
    return f"{start}-{end}"


def _port(value: object) -> int | None:
    number = read_count(value)
    return number if number is not None and 1 <= number <= 65535 else None


def _port_field(value: object) -> int | None:
    """The signalling port of the connection details: a port, else unknown."""
    return _port(value)


def _string_list(value: object, *, lower: bool) -> list[str] | None:
    """A list of strings from a JSON list (non-strings dropped) or one string with
    commas or spaces between items; order kept, repeats dropped."""
    items: Iterable[object]
    if isinstance(value, str):
        items = _LIST_SEPARATORS.split(value)
    elif isinstance(value, list | tuple):
        items = value
    else:
        return None
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, str) and item.strip():
            text = item.strip().lower() if lower else item.strip()
            seen.setdefault(text, None)
    return list(seen)


def _transports_field(value: object) -> list[str] | None:
    return _string_list(value, lower=True)


def _ips_field(value: object) -> list[str] | None:
    return _string_list(value, lower=False)


def _text_field(value: object) -> str | None:
    """A piece of text (the SIP domain): a non-blank string, stripped, else unknown."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _id_text(value: object) -> object:
    """An id sent as a JSON number is read as its decimal text (ids are uuid strings;
    pydantic would refuse an int for a ``str``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _codecs_text(value: object) -> object:
    """``codecs`` sent as a JSON list of names is read as the comma-separated string
    the update body uses (``["PCMA", "PCMU"]`` -> ``"PCMA,PCMU"``)."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(item.strip() for item in value)
    return value


Id = Annotated[str | None, BeforeValidator(_id_text)]
Health = Annotated[BolnaHealth | None, BeforeValidator(_health_field)]
Count = Annotated[int | None, BeforeValidator(read_count)]
Codecs = Annotated[str | None, BeforeValidator(_codecs_text)]


# Records

class _Record(BaseModel):
    """Base of every ``/trunk`` answer: unknown fields kept, immutable once read,
    validation errors without their input (it could be anything Bolna sent)."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)


class GatewayRecord(_Record):
    """A gateway (a carrier SIP host for outbound calls). Shape assumed: ``{id, host,
    port, priority}``; Bolna's page shows no gateway object."""

    id: Id = None
    host: str | None = None
    port: int | None = None
    priority: int | None = None


class IpAclRecord(_Record):
    """A carrier IP (an ``ip_acls`` entry). Shape assumed: ``{id, cidr}``; Bolna
    stores a bare address as ``/32`` (``/128`` for IPv6 is assumed)."""

    id: Id = None
    cidr: str | None = None


class NumberRecord(_Record):
    """A number on a trunk, as Bolna's assign-agent page documents it in full."""

    id: Id = None
    trunk_id: Id = None
    e164: str | None = None
    destination_key: str | None = None
    agent_id: str | None = None
    """``None``: no agent of its own (the trunk's default answers), or not said."""
    last_inbound_at: Timestamp = None
    last_outbound_at: Timestamp = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    is_deleted: bool | None = None
    deleted_at: Timestamp = None

    @property
    def is_live(self) -> bool:
        """Whether the number is still on its trunk: not ``is_deleted``, and, when
        Bolna did not say ``is_deleted``, no ``deleted_at`` either."""
        if self.is_deleted is not None:
            return not self.is_deleted
        return self.deleted_at is None


def live_numbers(numbers: Iterable[NumberRecord]) -> list[NumberRecord]:
    """The live numbers among ``numbers``, in their order."""
    return [number for number in numbers if number.is_live]


class TrunkRecord(_Record):
    """A trunk as ``GET``/``POST``/``PATCH /trunk/trunks...`` return it; also the
    trunk's own settings that ``DELETE`` returns (no children, no live status: those
    fields are then ``None``). The password is never returned.

    A list field is ``None`` when Bolna left it out and ``[]`` only when Bolna said
    "none"; ``health`` is already mapped (:func:`read_health`), ``active_calls`` is a
    count or ``None``.
    """

    id: Id = None
    name: str | None = None
    description: str | None = None
    preset: str | None = None
    is_active: bool | None = None
    inbound_enabled: bool | None = None
    outbound_enabled: bool | None = None
    channels: int | None = None
    default_inbound_agent_id: str | None = None
    auth_username: str | None = None
    transport: str | None = None
    codecs: Codecs = None
    outbound_leading_plus_enabled: bool | None = None
    gateways: list[GatewayRecord] | None = None
    ip_acls: list[IpAclRecord] | None = None
    numbers: list[NumberRecord] | None = None
    health: Health = None
    active_calls: Count = None
    created_at: Timestamp = None
    updated_at: Timestamp = None

    def live_numbers(self) -> list[NumberRecord] | None:
        """The trunk's numbers without deleted ones; ``None`` when Bolna did not list
        the numbers at all (which is not "no numbers")."""
        return None if self.numbers is None else live_numbers(self.numbers)

    def codec_list(self) -> list[str] | None:
        """``codecs`` as a list in order of preference (``"PCMA, pcmu"`` ->
        ``["PCMA", "PCMU"]``), for comparing with a spec; ``None`` when not said."""
        if self.codecs is None:
            return None
        return [name.strip().upper() for name in self.codecs.split(",") if name.strip()]


class CallRecord(_Record):
    """One entry of a trunk's recent calls (newest first). Shape assumed except
    ``execution_id``: ``direction`` (``inbound``/``outbound``), ``outcome``
    (``answered``/``failed``), ``sip_code``, ``created_at``."""

    execution_id: Id = None
    direction: str | None = None
    outcome: str | None = None
    sip_code: int | None = None
    created_at: Timestamp = None


class ConnectionDetails(_Record):
    """Bolna's SIP edge (``GET /trunk/pop``): what a carrier must allowlist and send to.

    Read with fallbacks (it is information for the status, not a setting): a value that
    cannot be read is ``None``. ``rtp_ports`` is normalised to ``"start-end"`` (see
    :func:`read_port_range`), ``transports`` to lower case.
    """

    sip_domain: Annotated[str | None, BeforeValidator(_text_field)] = None
    port: Annotated[int | None, BeforeValidator(_port_field)] = None
    transports: Annotated[list[str] | None, BeforeValidator(_transports_field)] = None
    ips: Annotated[list[str] | None, BeforeValidator(_ips_field)] = None
    rtp_ports: Annotated[str | None, BeforeValidator(read_port_range)] = None


class PasswordBody(_Request):
    """``{"auth_password": ...}``, the part of a ``/trunk`` PATCH that holds the SIP
    password. The rest of that body is a plain dict, but the password is opened by the
    same one method as every other: ``to_body()``, while the request is built."""

    auth_password: SecretStr


def _unwrap(keys: tuple[str, ...]) -> BeforeValidator:
    """Read a list answer sent bare or inside a wrapper object under one of ``keys``
    (the first present that holds a list); a wrapper without one fails as not a list."""

    def unwrap(value: object) -> object:
        if isinstance(value, dict):
            for key in keys:
                if isinstance(value.get(key), list):
                    return value[key]
        return value

    return BeforeValidator(unwrap)


TRUNK_LIST_WRAPPERS = ("trunks", "data", "items")
"""Keys a ``GET /trunk/trunks`` answer may wrap its array in."""

TrunkList = Annotated[list[TrunkRecord], _unwrap(TRUNK_LIST_WRAPPERS)]
"""``GET /trunk/trunks``: a bare array (the contract), or ``{"trunks"|"data"|"items":
[...]}`` (assumed possible: the page shows no response)."""

CallList = Annotated[list[CallRecord], _unwrap(("calls", "data", "items"))]
"""``GET /trunk/trunks/{id}/calls``: a bare array, or ``{"calls"|"data"|"items": [...]}``
(the page does not say which)."""
