"""The client of Bolna's newer SIP trunk API (``/trunk/...``), for ``CarrierTrunk``.

``TrunkApi`` wraps a ``BolnaClient`` rather than repeating it: every call goes through
the client's ``fetch``/``call``, so the ``/trunk`` calls share, with the ``/sip-trunks``
ones of the same account, the retry rules, the per-account rate limiter (Bolna counts
one budget per account), the answer bounds and deadline, the redaction of secrets from
error text, and the metrics observer. What differs is here: the paths, the lenient
answers (``trunk_wire.py``), and three rules of this API:

* A DELETE whose target is already gone (404) has done its job, first attempt or not:
  the reconciler removes what should not be there, and "not there" is the goal. (The
  ``/sip-trunks`` client keeps a first-attempt 404 a ``NotFound``.)
* POSTs (create a trunk, add a gateway, a carrier IP, a number) are never sent again
  after an outcome that may have been applied: the client's rule for any POST, whatever
  its path. Bolna has no idempotency keys; a second gateway or number is worse than a
  slower reconcile. An ``UncertainOutcome`` tells the caller to read the trunk before
  adding again. A POST answered 2xx without an ``id`` is uncertain too: something was
  made, and we cannot name it.
* The SIP password travels as a ``SecretStr`` to ``update_trunk`` and is opened only
  when the request body is built, by the same ``to_body()`` as the ``/sip-trunks``
  bodies; a body dict carrying one as plain text is refused.

Bodies are plain dicts of Bolna's own field names (the reconciler builds them from the
spec); they are sent as given. Assumptions this module adds to ``trunk_wire.py``'s:

* Create answers 200 (Bolna's page), and 201 is taken as well (the ``/sip-trunks`` API
  answers 201; any 2xx is a success).
* The remove endpoints' answers are not documented; their bodies are not read.
* ``auth_username`` and ``auth_password`` are sent together or not at all, both strings
  or both ``null`` (Bolna's update page: "send with auth_password; null on both clears
  the credentials"); ``update_trunk`` refuses a body that breaks this before sending.
* Trunk names are unique per account (the contract: 409 on a duplicate), so
  ``find_trunk`` finds at most one; should there be several, it returns the first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import SecretStr, TypeAdapter

from .client import BolnaClient, read_trunk_list
from .errors import NotFound, UnexpectedResponse, uncertain
from .records import ListedTrunk
from .trunk_wire import (
    TRUNK_LIST_WRAPPERS,
    CallList,
    CallRecord,
    ConnectionDetails,
    GatewayRecord,
    IpAclRecord,
    NumberRecord,
    PasswordBody,
    TrunkList,
    TrunkRecord,
)

logger = logging.getLogger(__name__)

CallDirection = Literal["inbound", "outbound"]

_TRUNK: TypeAdapter[TrunkRecord] = TypeAdapter(TrunkRecord)
_TRUNKS: TypeAdapter[list[TrunkRecord]] = TypeAdapter(TrunkList)
_GATEWAY: TypeAdapter[GatewayRecord] = TypeAdapter(GatewayRecord)
_IP_ACL: TypeAdapter[IpAclRecord] = TypeAdapter(IpAclRecord)
_NUMBER: TypeAdapter[NumberRecord] = TypeAdapter(NumberRecord)
_CALLS: TypeAdapter[list[CallRecord]] = TypeAdapter(CallList)
_POP: TypeAdapter[ConnectionDetails] = TypeAdapter(ConnectionDetails)

_Made = TypeVar("_Made", TrunkRecord, GatewayRecord, IpAclRecord, NumberRecord)

_PASSWORD = "auth_password"
_USERNAME = "auth_username"


def _segment(value: str) -> str:
    """An id as one path segment: quoted so that an odd id cannot leave its segment."""
    return quote(value, safe="")


@dataclass(frozen=True)
class TrunkPaths:
    """Where each ``/trunk`` call goes: the only place these paths are spelled."""

    prefix: str = "/trunk"

    def trunks(self) -> str:
        return f"{self.prefix}/trunks"

    def trunk(self, trunk_id: str) -> str:
        return f"{self.trunks()}/{_segment(trunk_id)}"

    def gateways(self, trunk_id: str) -> str:
        return f"{self.trunk(trunk_id)}/gateways"

    def gateway(self, trunk_id: str, gateway_id: str) -> str:
        return f"{self.gateways(trunk_id)}/{_segment(gateway_id)}"

    def ip_acls(self, trunk_id: str) -> str:
        return f"{self.trunk(trunk_id)}/ip-acls"

    def ip_acl(self, trunk_id: str, acl_id: str) -> str:
        return f"{self.ip_acls(trunk_id)}/{_segment(acl_id)}"

    def numbers(self, trunk_id: str) -> str:
        return f"{self.trunk(trunk_id)}/numbers"

    def number(self, trunk_id: str, number_id: str) -> str:
        return f"{self.numbers(trunk_id)}/{_segment(number_id)}"

    def number_agent(self, number_id: str) -> str:
        """Assign agent lives outside the trunk's path (Bolna's assign-agent page)."""
        return f"{self.prefix}/numbers/{_segment(number_id)}"

    def calls(self, trunk_id: str) -> str:
        return f"{self.trunk(trunk_id)}/calls"

    def pop(self) -> str:
        return f"{self.prefix}/pop"


TRUNK_API_PATHS = TrunkPaths()


class TrunkApi:
    """One Bolna account's ``/trunk`` API, over that account's ``BolnaClient``.

    Does not own the client: whoever made the client closes it. Each public method is
    one API call (``find_trunk``: one list).
    """

    def __init__(self, client: BolnaClient, *, paths: TrunkPaths = TRUNK_API_PATHS) -> None:
        self.client = client
        self.paths = paths

    def __repr__(self) -> str:
        return f"TrunkApi(base_url={self.client.base_url!r}, api={self.paths.prefix!r})"

    # Trunks

    async def list_trunks(self, *, retry: bool = True) -> list[TrunkRecord]:
        """All trunks of the account (no paging is documented), bare array or wrapper.

        ``retry=False``: one attempt, for callers that come back anyway (a drift look),
        so an outage costs one request per look, not a burst of retries.
        """
        return await self.client.fetch(_TRUNKS, "trunk.list_trunks", "GET",
                                       self.paths.trunks(), attempts=None if retry else 1)

    async def list_trunk_records(self, *, needs: tuple[str, ...] = (), retry: bool = True
                                 ) -> list[ListedTrunk]:
        """All trunks of the account, each as its own JSON (``records``), from a bare
        array or the wrappers ``TrunkList`` reads: what a snapshot keeps and parses one
        trunk at a time. ``needs`` as for ``BolnaClient.list_trunk_records``."""
        path = self.paths.trunks()
        return read_trunk_list(await self.client.call("trunk.list_trunks", "GET", path,
                                                      attempts=None if retry else 1),
                               path, needs=needs, wrappers=TRUNK_LIST_WRAPPERS)

    async def find_trunk(self, name: str) -> TrunkRecord | None:
        """The trunk named exactly ``name``, if there is one: what to call after an
        ``UncertainOutcome`` from ``create_trunk``, before creating again."""
        return next((trunk for trunk in await self.list_trunks() if trunk.name == name),
                    None)

    async def get_trunk(self, trunk_id: str) -> TrunkRecord:
        """One trunk with its gateways, carrier IPs, numbers, health and active calls.
        ``NotFound`` when there is no live trunk with that id."""
        return await self.client.fetch(_TRUNK, "trunk.get_trunk", "GET",
                                       self.paths.trunk(trunk_id))

    async def create_trunk(self, body: Mapping[str, Any]) -> TrunkRecord:
        """Create a trunk from Bolna's create fields (``{"name": ..., ...}``).

        Never sent twice: on ``UncertainOutcome``, ``find_trunk`` before creating again.
        The password is not a create field here (``ValueError``): the operator sends it
        with ``update_trunk``, as a ``SecretStr``.
        """
        sent = dict(body)
        if sent.get(_PASSWORD) is not None:
            raise ValueError("create_trunk does not send a password: set the credentials "
                             "with update_trunk(..., password=SecretStr(...))")
        path = self.paths.trunks()
        trunk = await self.client.fetch(_TRUNK, "trunk.create_trunk", "POST", path,
                                        body=sent)
        return _named(trunk, "trunk", path)

    async def update_trunk(self, trunk_id: str, body: Mapping[str, Any],
                           password: SecretStr | None = None) -> TrunkRecord:
        """Change the fields in ``body`` (Bolna's names; ``None`` values are sent as
        ``null``, which clears ``description``, ``preset``, ``default_inbound_agent_id``
        and, on both, the credentials); returns the whole updated trunk.

        ``password`` is sent as ``auth_password``, opened only while the body is built
        (by ``PasswordBody.to_body()``, the package's one opener of passwords); it is
        scrubbed from any error text and is never logged. ``ValueError``,
        before anything is sent, for a body with a plain-text ``auth_password``, or one
        where ``auth_username`` and ``auth_password`` are not both there, both strings
        or both ``null``.
        """
        if body.get(_PASSWORD) is not None:
            raise ValueError("pass the SIP password as update_trunk's password "
                             "(a SecretStr), not in the body")
        if password is not None and _PASSWORD in body:
            raise ValueError("auth_password is both in the body and given as password")
        if password is not None and not len(password):
            raise ValueError("the SIP password is empty")
        _check_credentials({**body, _PASSWORD: password} if password is not None else body)
        sent = dict(body)
        if password is not None:
            sent.update(PasswordBody(auth_password=password).to_body())
        return await self.client.fetch(_TRUNK, "trunk.update_trunk", "PATCH",
                                       self.paths.trunk(trunk_id), body=sent)

    async def delete_trunk(self, trunk_id: str) -> None:
        """Delete a trunk with its gateways, carrier IPs and numbers (Bolna cascades).
        A trunk already gone counts as deleted."""
        await self._remove("trunk.delete_trunk", self.paths.trunk(trunk_id))

    # Gateways

    async def add_gateway(self, trunk_id: str, host: str, port: int, priority: int
                          ) -> GatewayRecord:
        """Add a gateway (at most 8 a trunk: a 9th is ``Rejected``). Never sent twice:
        on ``UncertainOutcome``, read the trunk before adding again."""
        path = self.paths.gateways(trunk_id)
        gateway = await self.client.fetch(
            _GATEWAY, "trunk.add_gateway", "POST", path,
            body={"host": host, "port": port, "priority": priority})
        return _named(gateway, "gateway", path)

    async def remove_gateway(self, trunk_id: str, gateway_id: str) -> None:
        """Remove a gateway; one already gone (or whose trunk is) counts as removed."""
        await self._remove("trunk.remove_gateway", self.paths.gateway(trunk_id, gateway_id))

    # Carrier IPs

    async def add_ip_acl(self, trunk_id: str, cidr: str) -> IpAclRecord:
        """Add a carrier IP (an address or CIDR block). Never sent twice: on
        ``UncertainOutcome``, read the trunk before adding again."""
        path = self.paths.ip_acls(trunk_id)
        acl = await self.client.fetch(_IP_ACL, "trunk.add_ip_acl", "POST", path,
                                      body={"cidr": cidr})
        return _named(acl, "carrier IP", path)

    async def remove_ip_acl(self, trunk_id: str, acl_id: str) -> None:
        """Remove a carrier IP; one already gone counts as removed."""
        await self._remove("trunk.remove_ip_acl", self.paths.ip_acl(trunk_id, acl_id))

    # Numbers

    async def add_number(self, trunk_id: str, e164: str, destination_key: str,
                         agent_id: str | None = None) -> NumberRecord:
        """Add a number; ``agent_id`` ``None`` leaves it out (the trunk's default
        answers). Never sent twice: on ``UncertainOutcome``, read the trunk first."""
        body: dict[str, Any] = {"e164": e164, "destination_key": destination_key}
        if agent_id is not None:
            body["agent_id"] = agent_id
        path = self.paths.numbers(trunk_id)
        number = await self.client.fetch(_NUMBER, "trunk.add_number", "POST", path,
                                         body=body)
        return _named(number, "number", path)

    async def remove_number(self, trunk_id: str, number_id: str) -> None:
        """Remove a number from its trunk (Bolna marks it deleted); one already gone
        counts as removed."""
        await self._remove("trunk.remove_number", self.paths.number(trunk_id, number_id))

    async def assign_agent(self, number_id: str, agent_id: str | None) -> NumberRecord:
        """Set the agent that answers a number, or clear it with ``None`` (the trunk's
        default answers then)."""
        return await self.client.fetch(_NUMBER, "trunk.assign_agent", "PATCH",
                                       self.paths.number_agent(number_id),
                                       body={"agent_id": agent_id})

    # Read-only

    async def connection_details(self) -> ConnectionDetails:
        """Bolna's SIP edge: domain, port, transports, signalling IPs, RTP ports."""
        return await self.client.fetch(_POP, "trunk.connection_details", "GET",
                                       self.paths.pop())

    async def list_calls(self, trunk_id: str, direction: CallDirection | None = None
                         ) -> list[CallRecord]:
        """The trunk's recent calls, newest first, optionally of one direction."""
        params: dict[str, str] | None = (None if direction is None
                                         else {"direction": direction})
        return await self.client.fetch(_CALLS, "trunk.list_calls", "GET",
                                       self.paths.calls(trunk_id), params=params)

    # Helpers

    async def _remove(self, operation: str, path: str) -> None:
        """A DELETE for which "already gone" is success. The answer's body (the
        removed object, as far as anyone knows) is not read."""
        try:
            await self.client.call(operation, "DELETE", path)
        except NotFound:
            logger.debug("bolna DELETE %s: already gone, counts as done", path)


def _check_credentials(body: Mapping[str, Any]) -> None:
    """Bolna's rule for the carrier credentials in a PATCH: both or neither, both
    strings or both ``null``. The message names the fields, never their values."""
    has_username, has_password = _USERNAME in body, _PASSWORD in body
    if has_username != has_password:
        given, missing = ((_USERNAME, _PASSWORD) if has_username
                          else (_PASSWORD, _USERNAME))
        raise ValueError(f"{given} is sent without {missing}: Bolna takes the "
                         "credentials together (null on both clears them)")
    if has_username and (body[_USERNAME] is None) != (body[_PASSWORD] is None):
        raise ValueError("auth_username and auth_password must both be set or both be "
                         "null (null on both clears the credentials)")


def _named(record: _Made, what: str, path: str) -> _Made:
    """A record a POST made, if its answer names it; else ``UncertainOutcome``: the
    POST was applied (the answer was a success), but without an id the caller cannot
    tell it from others, and must read the trunk before adding again."""
    if record.id:
        return record
    raise uncertain(UnexpectedResponse(f"the answer names no id of the {what} it made",
                                       method="POST", path=path))
