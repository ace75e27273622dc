"""Bolna's JSON shapes for the ``/sip-trunks`` API, in snake_case as on the wire.

Responses are read leniently: unknown fields are ignored (some Bolna versions add
``ice_support``, ``user_id``, ...), and a field Bolna did not send is ``None``, never a
guessed default. The guide's own example responses leave out fields (the ip-based one
has no ``allow``; the TLS one has no ``ip_identifiers`` or ``phone_numbers``), and a
reconciler that read "absent" as "empty" would add numbers that are already there. The
planner decides what an absent field means. Enumerations are plain strings in responses
so that a value Bolna adds tomorrow does not make every trunk of the account unreadable.

Requests are strict: unknown fields are refused, enumerations are ``Literal``s
(``media_encryption`` is the *string* ``"no"``, never ``False``: Bolna's own OpenAPI
source has the YAML 1.1 trap), and the SIP password is a ``SecretStr`` that only
``to_body()`` opens, at the moment the HTTP body is built.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

AuthType = Literal["userpass", "ip-based"]
Transport = Literal["transport-udp", "transport-tcp", "transport-tls"]
MediaEncryption = Literal["no", "sdes"]


def _datetime_or_none(value: object, handler: ValidatorFunctionWrapHandler) -> datetime | None:
    """A timestamp in a format we cannot read is dropped, not fatal: we never act on it."""
    try:
        result: datetime | None = handler(value)
    except ValidationError:
        return None
    return result


def _media_encryption_string(value: object) -> object:
    """Read a YAML-1.1-damaged ``false`` as ``"no"``, should a Bolna version send it."""
    return "no" if value is False else value


Timestamp = Annotated[datetime | None, WrapValidator(_datetime_or_none)]
MediaEncryptionValue = Annotated[str | None, BeforeValidator(_media_encryption_string)]


class _Response(BaseModel):
    """Base of what Bolna returns: unknown fields ignored, immutable once read."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class TrunkGateway(_Response):
    """A gateway as Bolna returns it (with its own id)."""

    id: str | None = None
    gateway_address: str
    port: int | None = None
    priority: int | None = None
    created_at: Timestamp = None


class IpIdentifier(_Response):
    """An address or CIDR block of an ip-based trunk."""

    id: str | None = None
    ip_address: str


class PhoneNumber(_Response):
    """A DID on a trunk. ``phone_number`` is stored exactly as it was sent."""

    id: str
    phone_number: str
    name: str | None = None
    byot_trunk_id: str | None = None
    telephony_provider: str | None = None
    deleted: bool | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None


class Trunk(_Response):
    """A trunk as Bolna returns it. The password is never returned.

    List fields are ``None`` when Bolna left them out (ask ``list_numbers`` for the
    numbers then), and ``[]`` only when Bolna said "none".
    """

    id: str
    name: str
    provider: str | None = None
    description: str | None = None
    auth_type: str | None = None
    auth_username: str | None = None
    gateways: list[TrunkGateway] | None = None
    ip_identifiers: list[IpIdentifier] | None = None
    phone_numbers: list[PhoneNumber] | None = None
    allow: str | None = None
    disallow: str | None = None
    transport: str | None = None
    direct_media: bool | None = None
    rtp_symmetric: bool | None = None
    force_rport: bool | None = None
    media_encryption: MediaEncryptionValue = None
    media_encryption_optimistic: bool | None = None
    qualify_frequency: int | None = None
    inbound_enabled: bool | None = None
    outbound_leading_plus_enabled: bool | None = None
    is_active: bool | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None


class _Request(BaseModel):
    """Base of what we send: unknown fields refused; ``None`` means "do not send".

    Validation errors do not echo their input: the input may be a password.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def to_body(self) -> dict[str, Any]:
        """The JSON body for the HTTP call: fields that are not ``None``, password opened.

        This is the only place a SIP password leaves its ``SecretStr``; call it when
        building the request and let the result go nowhere else.
        """
        body = self.model_dump(mode="json", exclude_none=True, exclude={"auth_password"})
        password = getattr(self, "auth_password", None)
        if isinstance(password, SecretStr):
            body["auth_password"] = password.get_secret_value()
        return body


class GatewayCreate(_Request):
    """A gateway to send. ``port``/``priority`` left out take Bolna's 5060 and 1."""

    gateway_address: str
    port: int | None = None
    priority: int | None = None


class IpIdentifierCreate(_Request):
    """An address or CIDR block to send for an ip-based trunk."""

    ip_address: str


class NumberCreate(_Request):
    """A number to add: on its own (``add_number``) or at creation (``phone_numbers``)."""

    phone_number: str
    name: str | None = None


class TrunkCreate(_Request):
    """Body of ``POST /sip-trunks/trunks``. Fields left ``None`` take Bolna's defaults.

    ``is_active`` is not a create field: an inactive trunk is created, then patched.
    """

    name: str
    provider: str
    auth_type: AuthType
    gateways: list[GatewayCreate]
    description: str | None = None
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    ip_identifiers: list[IpIdentifierCreate] | None = None
    allow: str | None = None
    disallow: str | None = None
    transport: Transport | None = None
    direct_media: bool | None = None
    rtp_symmetric: bool | None = None
    force_rport: bool | None = None
    media_encryption: MediaEncryption | None = None
    media_encryption_optimistic: bool | None = None
    qualify_frequency: int | None = None
    inbound_enabled: bool | None = None
    outbound_leading_plus_enabled: bool | None = None
    phone_numbers: list[NumberCreate] | None = None


class TrunkUpdate(_Request):
    """Body of ``PATCH /sip-trunks/trunks/{id}``: only the fields given change.

    ``None`` (the default) means "leave as is", so the body holds exactly the fields that
    were given a value. ``gateways`` and ``ip_identifiers`` replace the whole list when
    given (``[]`` clears it). ``provider`` and ``auth_type`` cannot be changed. To clear
    ``description``, send ``""``. ``direct_media``, ``rtp_symmetric`` and ``force_rport``
    are updatable only in some versions of Bolna's documentation.
    """

    name: str | None = None
    description: str | None = None
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    gateways: list[GatewayCreate] | None = None
    ip_identifiers: list[IpIdentifierCreate] | None = None
    allow: str | None = None
    disallow: str | None = None
    inbound_enabled: bool | None = None
    outbound_leading_plus_enabled: bool | None = None
    is_active: bool | None = None
    qualify_frequency: int | None = None
    transport: Transport | None = None
    media_encryption: MediaEncryption | None = None
    media_encryption_optimistic: bool | None = None
    direct_media: bool | None = None
    rtp_symmetric: bool | None = None
    force_rport: bool | None = None

    def is_empty(self) -> bool:
        """Whether the update would change nothing (the planner then sends no PATCH)."""
        return all(getattr(self, name) is None for name in type(self).model_fields)
