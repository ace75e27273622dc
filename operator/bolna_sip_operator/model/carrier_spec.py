"""The CarrierTrunk spec: Bolna's newer SIP trunk API (``/trunk/...``), in camelCase.

Like ``spec.py`` for SipTrunk, this module is the single source of truth for the kind:
``crd.py`` renders the CRD's schema from these models (descriptions, bounds, patterns,
enums, defaults, CEL rules), and ``bolna-sip-operator validate`` and the operator parse
specs through them. The shared building blocks (the hostname/IP rule, the SIP username
and control-character patterns, ``SecretKeyRef``, ``OPERATOR_DEFAULT``) are imported
from ``spec.py``, so both kinds accept exactly the same gateway addresses and names.

Sources: the contract of issue 12 (``carriertrunk-contract.md``) and Bolna's trunk API
reference. Assumptions, because Bolna's pages were cut before saying (marked
*unverified* in the reference):

- a gateway's port defaults to 5060 and its priority to 1 (the add-gateway example body
  and the guide's "its port if it is not 5060"; neither default nor range is visible);
- a bare carrier IP is stored as ``/32`` (the page is cut after "/3"), and as ``/128``
  for IPv6 by analogy;
- 8 gateways at most is documented; the caps on carrier IPs (64) and numbers (200) are
  this API's own bounds (the same as SipTrunk's), not Bolna's.

Parsing is strict, like the apiserver: ``"5060"`` is not a port, ``1`` is not a
boolean, and unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .cel_library import ip_family, is_cidr, masked_cidr
from .rules import PropertyRules, Rule, Violation
from .spec import (
    DEFAULT_PORT,
    DNS_SUBDOMAIN,
    NO_CONTROL_CHARACTERS,
    OPERATOR_DEFAULT,
    SECRET_KEY,
    SIP_USERNAME,
    GatewayAddress,
    GatewayEdge,
    IpAddress,
    SecretKeyRef,
    _Strict,
    object_violations,
)

E164 = r"^[+][1-9][0-9]{6,14}$"
"""Bolna's own pattern for a number's ``e164`` (a plus, then 7 to 15 digits)."""
DESTINATION_KEY = r"^[^+ \x00-\x1f\x7f][^ \x00-\x1f\x7f]*$"
"""No leading +, no space and no control character (tabs and newlines are control
characters), in both RE2 and Python's regex engines."""

Preset = Literal["plivo", "telnyx", "twilio", "exotel", "vobiz", "vonage", "custom"]
Codec = Literal["PCMU", "PCMA"]
CarrierTransport = Literal["udp", "tcp"]

DEFAULT_PRIORITY = 1
MAX_GATEWAYS = 8
"""Bolna's documented limit: "A trunk has at most 8 gateways"."""


class PasswordSecretRef(SecretKeyRef):
    """A key of a Secret in the CarrierTrunk's own namespace that holds a SIP password.

    A ``SecretKeyRef`` whose key defaults to ``password`` (a CRD default: written into
    the object, which is safe outside an atomic list), so ``{name: twilio-sip}`` is
    enough.
    """

    name: str = Field(
        description="Name of the Secret, in the same namespace as the CarrierTrunk.",
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(
        default="password",
        description="Key within the Secret whose value is the password.",
        min_length=1, max_length=253, pattern=SECRET_KEY)


class TokenSecretRef(SecretKeyRef):
    """A key of a Secret in the CarrierTrunk's own namespace that holds a Bolna API
    token; the key defaults to ``token``."""

    name: str = Field(
        description="Name of the Secret, in the same namespace as the CarrierTrunk.",
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(
        default="token",
        description="Key within the Secret whose value is the API token.",
        min_length=1, max_length=253, pattern=SECRET_KEY)


class CarrierGateway(_Strict):
    """A carrier gateway that Bolna sends outbound calls to.

    ``spec.gateways`` is an atomic list with no default written inside it, for the
    reason given on SipTrunk's ``Gateway``: a default the apiserver writes inside an
    atomic list makes a second manager's identical manifest a different value to
    server-side apply. ``port`` and ``priority`` are operator defaults
    (``OPERATOR_DEFAULT``): absent in the object, read as 5060 and 1 through this model.
    """

    host: Annotated[GatewayAddress, Field(
        description=("Hostname or IP address of the carrier's SIP gateway, without scheme, "
                     "port or path, e.g. sip.telnyx.com or 203.0.113.10."))]
    port: int = Field(
        default=DEFAULT_PORT, ge=1, le=65535, json_schema_extra={OPERATOR_DEFAULT: True},
        description="SIP port of the gateway.")
    priority: int = Field(
        default=DEFAULT_PRIORITY, ge=1, le=1000, json_schema_extra={OPERATOR_DEFAULT: True},
        description=("Preference among the trunk's gateways: lower is tried first; ties "
                     "are tried in list order. Bolna moves to the next gateway when one "
                     "times out or answers 408, 478 or 5xx."))
    edge: GatewayEdge | None = Field(
        default=None,
        description=("SIP edge settings of this gateway (Kamailio only; never sent to "
                     "Bolna)."))

    def effective_port(self) -> int:
        """The port calls go to (the given one, else 5060): one place to ask, so callers
        do not depend on how the default is applied."""
        return self.port

    @property
    def drained(self) -> bool:
        """Whether the SIP edge keeps this gateway out of new calls (``edge.drain``)."""
        return self.edge is not None and self.edge.drain

    def identity(self) -> tuple[str, int]:
        """What makes two gateways the same: the host in any letter case, and the port."""
        return self.host.lower(), self.effective_port()


def _no_repeated_gateways(gateways: list[CarrierGateway]) -> bool:
    return len({gateway.identity() for gateway in gateways}) == len(gateways)


CarrierGateways = Annotated[list[CarrierGateway], Field(
    description=("The carrier's SIP gateways for outbound calls, tried in ascending "
                 "priority. A trunk with none places no outbound calls. Server-side apply "
                 "owns the list as one value: managers that apply the same list co-own it."),
    max_length=MAX_GATEWAYS,
), PropertyRules((Rule(
    cel=("self.all(g, self.exists_one(h, h.host.lowerAscii() == g.host.lowerAscii() && "
         f"(has(h.port) ? h.port : {DEFAULT_PORT}) == (has(g.port) ? g.port : {DEFAULT_PORT})))"),
    message=("lists the same host and port twice (hosts compare in any letter case; an "
             f"absent port means {DEFAULT_PORT}): remove one"),
    check=_no_repeated_gateways,
),))]


def network_of(cidr: str) -> str:
    """The network an address or CIDR block stands for, as Bolna stores it: a bare
    address is a /32 (IPv4) or /128 (IPv6) and host bits are cleared, in canonical text
    (``10.0.0.1/8`` -> ``10.0.0.0/8``, ``FE80::1`` -> ``fe80::1/128``).

    The same steps as the CRD's rule (``_NETWORK_CEL``), through the twins of the CEL
    functions it calls. Only for text that passed the ``cidr`` rule (an address or a
    CIDR block); anything else raises ValueError.
    """
    if not is_cidr(cidr):
        cidr += "/32" if ip_family(cidr) == 4 else "/128"
    return str(masked_cidr(cidr))


class CarrierIpAcl(_Strict):
    """A carrier IP: a source address or block that inbound calls from this carrier
    come from (Bolna's edge answers 403 to an INVITE from any other source)."""

    cidr: Annotated[IpAddress, Field(
        description=("IPv4 or IPv6 address, or CIDR block, that the carrier's SIP traffic "
                     "comes from, e.g. 192.76.120.10 or 203.0.113.0/28. A bare address "
                     "means /32 (/128 for IPv6)."))]

    def network(self) -> str:
        """The normalised network (see ``network_of``): what makes two entries the same,
        and what Bolna answers in ``ip_acls[].cidr``."""
        return network_of(self.cidr)


def _no_repeated_networks(acls: list[CarrierIpAcl]) -> bool:
    # Items that fail their own rule never reach here (pydantic stops at the item).
    return len({acl.network() for acl in acls}) == len(acls)


_NETWORK_CEL = ("(isCIDR({0}) ? cidr({0}).masked() : "
                "cidr({0} + (ip({0}).family() == 4 ? '/32' : '/128')))")
"""The network of an entry as a CEL ``net.CIDR`` value, compared by value. Not as text:
the cost estimator cannot bound the length of ``string(cidr(...))``, which puts the
nested comparison of 64 entries over the CRD's cost budget."""

CarrierIpAcls = Annotated[list[CarrierIpAcl], Field(
    description=("Carrier IPs: the addresses and CIDR blocks inbound calls from this "
                 "carrier come from. Only inbound calls need them. Server-side apply owns "
                 "the list as one value."),
    max_length=64,
), PropertyRules((Rule(
    # The guard keeps cidr() and ip() from failing on an entry that breaks its own
    # rule; that entry is reported there.
    cel=("!self.all(a, isIP(a.cidr) || isCIDR(a.cidr)) || self.all(a, self.exists_one(b, "
         f"{_NETWORK_CEL.format('b.cidr')} == {_NETWORK_CEL.format('a.cidr')}))"),
    message=("lists the same network twice (a bare address is its /32 or /128, and host "
             "bits do not count: 10.0.0.1/8 is 10.0.0.0/8): remove one"),
    check=_no_repeated_networks,
),))]


class CarrierNumber(_Strict):
    """A phone number on this trunk: inbound calls to it reach Bolna, and outbound calls
    can use it as caller ID."""

    e164: str = Field(
        min_length=8, max_length=16, pattern=E164,
        description=("The number in E.164: a +, then 7 to 15 digits, e.g. \"+14155550123\". "
                     "Quote it in YAML. Unique within the account in Bolna."))
    destinationKey: str | None = Field(  # noqa: N815 (the API's own camelCase)
        default=None, min_length=1, max_length=64, pattern=DESTINATION_KEY,
        description=("The called number exactly as the carrier puts it in the "
                     "Request-URI, without a leading +. Absent: the e164 without its + "
                     "(applied by the operator), which is what most carriers send."))
    agentId: str | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=128,
        description=("The Bolna agent that answers inbound calls to this number. Absent: "
                     "the trunk's defaultInboundAgentId answers."))

    def effective_destination_key(self) -> str:
        """The destination key Bolna gets: the given one, else the e164's digits."""
        return self.destinationKey or self.e164.removeprefix("+")


def _no_repeated_e164(numbers: list[CarrierNumber]) -> bool:
    return len({number.e164 for number in numbers}) == len(numbers)


def _no_repeated_destination_keys(numbers: list[CarrierNumber]) -> bool:
    keys = {number.effective_destination_key() for number in numbers}
    return len(keys) == len(numbers)


_DESTINATION_KEY_CEL = "(has({0}.destinationKey) ? {0}.destinationKey : {0}.e164.replace('+', ''))"

CarrierNumbers = Annotated[list[CarrierNumber], Field(
    description=("The trunk's phone numbers. Bolna gets exactly this set. Server-side "
                 "apply owns the list as one value."),
    max_length=200,
), PropertyRules((
    Rule(
        cel="self.all(n, self.exists_one(m, m.e164 == n.e164))",
        message="lists an e164 twice: remove one",
        check=_no_repeated_e164,
    ),
    Rule(
        cel=("self.all(n, self.exists_one(m, "
             f"{_DESTINATION_KEY_CEL.format('m')} == {_DESTINATION_KEY_CEL.format('n')}))"),
        message=("gives two numbers the same destinationKey (an absent destinationKey is "
                 "the e164 without its +): Bolna could not tell their inbound calls apart; "
                 "set a distinct destinationKey"),
        check=_no_repeated_destination_keys,
    ),
))]


def _no_repeated_codecs(codecs: list[str]) -> bool:
    return len(set(codecs)) == len(codecs)


Codecs = Annotated[list[Codec], Field(
    description=("Audio codecs, in order of preference: PCMU (G.711 u-law), PCMA (G.711 "
                 "A-law), or both. Absent: Bolna's setting is left as it is."),
    min_length=1, max_length=2,
), PropertyRules((Rule(
    cel="self.all(c, self.exists_one(d, d == c))",
    message="lists a codec twice: give PCMU, PCMA or both, each once",
    check=_no_repeated_codecs,
),))]


class CarrierTrunkSpec(_Strict):
    """The desired state of one carrier's trunk into Bolna's SIP edge (Bolna's /trunk API).

    Fields documented as "absent: not managed" are left as Bolna holds them when absent;
    the operator sends only what the spec gives (and the CRD's own defaults).
    """

    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS,
        description=("Bolna's name for the trunk, unique per Bolna account. Absent: "
                     "metadata.name (applied by the operator)."))
    description: str | None = Field(
        default=None, max_length=500,
        description="A note for your own reference. Absent: not managed.")
    preset: Preset | None = Field(
        default=None,
        description=("The carrier, as a label in Bolna's dashboard; Bolna fills in no other "
                     "field from it. Absent: not managed."))
    isActive: bool = Field(  # noqa: N815
        default=True,
        description=("The master switch. false stops all inbound and outbound calls on "
                     "the trunk, without deleting anything."))
    inboundEnabled: bool = Field(  # noqa: N815
        default=True, description="Accept inbound calls from the trunk's carrier IPs.")
    outboundEnabled: bool = Field(  # noqa: N815
        default=True, description="Allow outbound calls from the trunk's numbers.")
    channels: int = Field(
        default=10, ge=1, le=1000,
        description=("Concurrent calls. Inbound calls over the limit get SIP 486 Busy "
                     "Here; outbound calls wait in the call queue. The operator's SIP "
                     "edge holds each of its replicas to it too: an outbound call over "
                     "it there gets 503 Channel Limit Reached."))
    defaultInboundAgentId: str | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=128, pattern=NO_CONTROL_CHARACTERS,
        description=("The Bolna agent that answers inbound calls to a number without an "
                     "agentId of its own. Absent: not managed."))
    authUsername: str | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=128, pattern=SIP_USERNAME,
        description=("Username the carrier issued for Bolna's outbound calls, sent when the "
                     "carrier challenges a call (SIP 401/407). Give it with "
                     "authPasswordSecretRef, or neither (carriers that authenticate by IP "
                     "allowlist Bolna's addresses instead). Absent: not managed."))
    authPasswordSecretRef: PasswordSecretRef | None = Field(  # noqa: N815
        default=None,
        description=("The Secret key that holds the password for authUsername. A password "
                     "is never written inline; Bolna never returns it, so it is sent on "
                     "create and when the Secret changes."))
    transport: CarrierTransport | None = Field(
        default=None,
        description=("SIP transport towards the carrier's gateways: udp or tcp. Absent: not "
                     "managed (Bolna's default is udp)."))
    codecs: Codecs | None = None
    outboundLeadingPlusEnabled: bool | None = Field(  # noqa: N815
        default=None,
        description=("Send outbound numbers to the carrier with a leading + (E.164). "
                     "Absent: not managed."))
    gateways: CarrierGateways = Field(
        default=[], json_schema_extra={OPERATOR_DEFAULT: True})
    ipAcls: CarrierIpAcls = Field(  # noqa: N815
        default=[], json_schema_extra={OPERATOR_DEFAULT: True})
    numbers: CarrierNumbers = Field(
        default=[], json_schema_extra={OPERATOR_DEFAULT: True})
    apiTokenSecretRef: TokenSecretRef | None = Field(  # noqa: N815
        default=None,
        description=("The Secret key that holds the Bolna API token for this trunk's "
                     "account. Absent: the operator's default token."))
    deletionPolicy: Literal["Delete", "Orphan"] = Field(  # noqa: N815
        default="Delete",
        description=("What happens in Bolna when the CarrierTrunk is deleted: Delete "
                     "removes the trunk with its gateways, carrier IPs and numbers; Orphan "
                     "leaves them in place."))

    def effective_name(self, object_name: str) -> str:
        """Bolna's name for the trunk: ``name``, else the object's metadata.name."""
        return self.name if self.name is not None else object_name

    def ordered_gateways(self) -> list[CarrierGateway]:
        """The gateways in the order Bolna tries them: ascending priority, ties in list
        order (``sorted`` is stable)."""
        return sorted(self.gateways, key=lambda gateway: gateway.priority)

    def codecs_text(self) -> str | None:
        """``codecs`` as Bolna's wire writes it (``"PCMA,PCMU"``), or None when absent."""
        return ",".join(self.codecs) if self.codecs is not None else None

    @property
    def has_credentials(self) -> bool:
        """True when the carrier challenges Bolna (username and password both given)."""
        return self.authUsername is not None and self.authPasswordSecretRef is not None


CARRIER_SPEC_RULES: tuple[Rule, ...] = (
    Rule(
        cel="!has(self.authUsername) || has(self.authPasswordSecretRef)",
        message=("required when authUsername is set: put the carrier's SIP password in a "
                 "Secret and give its name (and key, default password) here, or remove "
                 "authUsername"),
        check=lambda s: s.authUsername is None or s.authPasswordSecretRef is not None,
        field_path=".authPasswordSecretRef",
        reason="FieldValueRequired",
    ),
    Rule(
        cel="!has(self.authPasswordSecretRef) || has(self.authUsername)",
        message=("required when authPasswordSecretRef is set: the username the carrier "
                 "issued for Bolna's outbound calls (Bolna takes both or neither), or remove "
                 "authPasswordSecretRef"),
        check=lambda s: s.authPasswordSecretRef is None or s.authUsername is not None,
        field_path=".authUsername",
        reason="FieldValueRequired",
    ),
)

MAX_BOLNA_NAME = 100
"""Bolna's limit on a trunk's name; metadata.name may be longer (253)."""

CARRIER_OBJECT_RULES: tuple[Rule, ...] = (
    Rule(
        cel=f"has(self.spec.name) || size(self.metadata.name) <= {MAX_BOLNA_NAME}",
        message=(f"required when metadata.name is longer than {MAX_BOLNA_NAME} characters: "
                 "Bolna's trunk name defaults to metadata.name, and Bolna takes at most "
                 f"{MAX_BOLNA_NAME}; set spec.name"),
        check=None,
        field_path=".spec.name",
        reason="FieldValueRequired",
    ),
)
"""Rules on the whole object (CEL at the schema's root, where metadata.name is visible).
Their Python twin is ``object_name_violations``; ``check`` is None because the model
alone cannot see the object's name."""


def object_name_violations(spec: CarrierTrunkSpec, object_name: str | None
                           ) -> list[Violation]:
    """``CARRIER_OBJECT_RULES`` in Python: the object's name against the spec."""
    if object_name is not None and spec.name is None and len(object_name) > MAX_BOLNA_NAME:
        return [Violation("spec.name", CARRIER_OBJECT_RULES[0].message)]
    return []


def carrier_spec_violations(spec: CarrierTrunkSpec) -> list[Violation]:
    """The rules a parsed spec breaks beyond its fields' own (the cross-field rules).

    As ``spec_violations`` for SipTrunk: ``validate`` reports these, and the operator
    calls this too, as defence in depth for objects stored under an older CRD.
    """
    return object_violations(spec, CARRIER_SPEC_RULES)


CarrierTrunkSpec.model_config["json_schema_extra"] = {
    "x-kubernetes-validations": [dict(rule.to_schema()) for rule in CARRIER_SPEC_RULES],
}
CarrierTrunkSpec.model_rebuild(force=True)

