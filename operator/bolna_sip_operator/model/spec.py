"""The SipTrunk spec: every field of Bolna's "Create SIP Trunk" reference, in camelCase.

This module is the single source of truth for the API. ``crd.py`` renders the CRD's
OpenAPI schema from these models, so each ``Field`` carries what ``kubectl explain``
shows (description), what the apiserver enforces (bounds, patterns, enums) and what it
fills in (defaults). Rules that need more than one field, or a Kubernetes CEL function,
are ``Rule`` pairs (see ``rules.py``).

Parsing is strict, like the apiserver: ``"5060"`` is not a port and ``1`` is not a
boolean. Unknown fields are refused, as ``kubectl apply`` (strict field validation) does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .cel_library import is_ip, is_ip_or_cidr, matches
from .rules import PropertyRules, Rule, Violation, immutable

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
PROVIDER = r"^[a-z][a-z0-9_-]*$"
SIP_USERNAME = r"^[A-Za-z0-9._~!$&'()*+,;=%-]+$"
GATEWAY_ADDRESS_CHARACTERS = r"^[A-Za-z0-9.:-]+$"
HOSTNAME = (r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
            r"([.][A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
DIGITS_AND_DOTS = r"^[0-9.]+$"
IP_IDENTIFIER_CHARACTERS = r"^[0-9A-Fa-f.:/]+$"
CODEC_LIST = r"^[a-z0-9_]+(,[a-z0-9_]+)*$"
PHONE_NUMBER = r"^[+]?[0-9]{6,15}$"

DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061

Transport = Literal["transport-udp", "transport-tcp", "transport-tls"]

OPERATOR_DEFAULT = "x-bolna-operator-default"
"""``json_schema_extra`` key of a field whose default only the model applies.

The CRD renderer documents such a default in the field's description but leaves it out
of the schema, so the apiserver never writes it into a stored object; the operator and
``bolna-sip-operator validate`` read an absent field as the default all the same. Use it
for a field inside an atomic list, where a default written by the apiserver makes
server-side apply see a second manager's identical manifest as a different value (see
``Gateway``).
"""


class _Strict(BaseModel):
    """Base for spec models: strict types, unknown fields refused, populate by name."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SecretKeyRef(_Strict):
    """A key of a Secret in the SipTrunk's own namespace."""

    name: str = Field(
        description="Name of the Secret, in the same namespace as the SipTrunk.",
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(
        description="Key within the Secret whose value is used.",
        min_length=1, max_length=253, pattern=SECRET_KEY)


def _is_gateway_address(text: str) -> bool:
    return is_ip(text) or (matches(text, HOSTNAME) and not matches(text, DIGITS_AND_DOTS))


GatewayAddress = Annotated[str, Field(
    description=(
        "Hostname or IP address of the carrier's SIP gateway, without scheme, port or "
        "path, e.g. your-trunk.pstn.twilio.com or 203.0.113.10."),
    min_length=1, max_length=253, pattern=GATEWAY_ADDRESS_CHARACTERS,
), PropertyRules((Rule(
    cel=(f"isIP(self) || (self.matches('{HOSTNAME}') "
         f"&& !self.matches('{DIGITS_AND_DOTS}'))"),
    message=("must be a hostname (e.g. sip.example.com) or an IP address (e.g. "
             "203.0.113.10), without scheme, port or path: put the port in 'port'"),
    check=_is_gateway_address,
),))]


class GatewayEdge(_Strict):
    """What the SIP edge (Kamailio) does with one gateway. Edge-only: never sent to
    Bolna, and changing it changes nothing in Bolna."""

    drain: bool = Field(
        default=False, json_schema_extra={OPERATOR_DEFAULT: True},
        description=("Take the gateway out of new calls at the SIP edge: Kamailio stops "
                     "selecting it (its dispatcher line is written disabled) while calls "
                     "in progress through it finish; status shows its health as "
                     "Draining. false (the default) puts it back. Edge-only: never "
                     "reaches Bolna, which keeps the gateway as it is."))


class Gateway(_Strict):
    """One of the carrier's SIP gateways (one dispatcher destination in Kamailio).

    ``spec.gateways`` is an atomic list (server-side apply owns it as one value) with no
    default inside it. Why not a list-map keyed by gateway:

    - "The same gateway" is the address (in any letter case) and the *effective* port,
      and an absent port means 5060, or 5061 with transport-tls. A list-map key must be
      required or carry a constant default; a constant 5060 would silently move every
      stored TLS trunk without a port to 5060 (defaults apply when reading from etcd),
      and a required port would break every manifest and stored object that leaves it
      out. Keys also compare exactly, so ``A.example.com`` and ``a.example.com`` would
      be two entries that the uniqueness rule then rejects after the merge.
    - The gateways are one failover decision: Bolna replaces a trunk's whole gateway
      list, Kamailio loads them as one dispatcher set, and priorities only mean
      something relative to each other. Two managers each owning some of the gateways,
      each numbering priorities without seeing the other's, is a conflict to report,
      not a merge to make; an atomic list reports it.

    What made server-side apply conflict was the apiserver defaulting ``priority``
    inside the atomic list: the stored list differed from a manifest without priority,
    so a second manager applying that same manifest conflicted with the first. So
    ``priority`` has no default in the CRD (``OPERATOR_DEFAULT``): an absent priority
    stays absent in the object, and the model, which the operator reads the spec
    through, still reads it as 1. Managers that write the same list co-own it; a
    manager that writes a different list (another gateway, port or priority, or
    ``priority: 1`` where the owner wrote none) gets a conflict naming the owner.
    """

    gatewayAddress: GatewayAddress  # noqa: N815 (the API's own camelCase)
    port: int | None = Field(
        default=None, ge=1, le=65535,
        description=("SIP port of the gateway. When absent: 5060, or 5061 when transport "
                     "is transport-tls."))
    priority: int = Field(
        default=1, ge=1, le=1000, json_schema_extra={OPERATOR_DEFAULT: True},
        description=("Preference among the trunk's gateways: 1 is tried first, then 2, "
                     "and so on."))
    edge: GatewayEdge | None = Field(
        default=None,
        description=("SIP edge settings of this gateway (Kamailio only; never sent to "
                     "Bolna)."))

    def effective_port(self, transport: Transport) -> int:
        """The port calls go to: the given one, else the transport's default."""
        if self.port is not None:
            return self.port
        return DEFAULT_TLS_PORT if transport == "transport-tls" else DEFAULT_PORT

    @property
    def drained(self) -> bool:
        """Whether the SIP edge keeps this gateway out of new calls (``edge.drain``)."""
        return self.edge is not None and self.edge.drain


IpAddress = Annotated[str, Field(
    description=("IPv4 or IPv6 address, or CIDR block, that the carrier's SIP traffic "
                 "comes from, e.g. 15.207.90.192/31."),
    min_length=1, max_length=43, pattern=IP_IDENTIFIER_CHARACTERS,
), PropertyRules((Rule(
    cel="isIP(self) || isCIDR(self)",
    message="must be an IPv4 or IPv6 address, or a CIDR block such as 203.0.113.0/24",
    check=is_ip_or_cidr,
),))]


class IpIdentifier(_Strict):
    """A source address by which inbound SIP traffic is recognised as this carrier."""

    ipAddress: IpAddress  # noqa: N815


def _phone_digits(number: str) -> str:
    return number.removeprefix("+")


class PhoneNumber(_Strict):
    """A DID number routed over this trunk."""

    phoneNumber: str = Field(  # noqa: N815
        description=("The number, digits with an optional leading +, 6 to 15 digits, "
                     "e.g. \"919876543210\". Quote it in YAML. Bolna stores it exactly "
                     "as written and matches inbound calls with and without the +."),
        min_length=6, max_length=16, pattern=PHONE_NUMBER)
    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS,
        description="A label for the number, e.g. Mumbai Support Line.")


def _no_repeated_numbers(numbers: list[PhoneNumber]) -> bool:
    digits = [_phone_digits(number.phoneNumber) for number in numbers]
    return len(digits) == len(set(digits))


PhoneNumbers = Annotated[list[PhoneNumber], Field(
    description="DID numbers routed over this trunk. Bolna gets exactly this set.",
    max_length=200,
), PropertyRules((Rule(
    cel=("self.all(p, self.exists_one(q, "
         "q.phoneNumber.replace('+', '') == p.phoneNumber.replace('+', '')))"),
    message=("lists a number twice (a number with and without a leading + is the same "
             "number): remove one"),
    check=_no_repeated_numbers,
),))]

CodecList = Annotated[str, Field(min_length=1, max_length=200, pattern=CODEC_LIST)]


def _allows_g711(codecs: str) -> bool:
    return any(codec in ("ulaw", "alaw") for codec in codecs.split(","))


AllowedCodecs = Annotated[CodecList, PropertyRules((Rule(
    cel="self.split(',').exists(c, c == 'ulaw' || c == 'alaw')",
    message="must include ulaw or alaw (Bolna's audio is G.711), e.g. allow: ulaw,alaw",
    check=_allows_g711,
),))]


_CREATE_ONLY = immutable("Bolna's update API (PATCH) does not take this field, so it is "
                         "set only when the trunk is created")
"""directMedia, rtpSymmetric and forceRport: in Bolna's create schema, not in its update
schema. Immutable rather than recreated on change: a new Bolna trunk has a new ID and
loses the agent mappings of its numbers, which only a person should decide."""


class SipTrunkSpec(_Strict):
    """The desired state of a carrier SIP trunk in Bolna and on the SIP edge."""

    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS,
        description=("Bolna's name for the trunk, unique per Bolna account. Defaults to "
                     "metadata.name."))
    provider: Annotated[str, Field(
        description=("The carrier, as a lowercase token: twilio, plivo, telnyx, vonage, "
                     "custom, ... Immutable: Bolna cannot change it."),
        min_length=1, max_length=63, pattern=PROVIDER,
    ), immutable("Bolna cannot change a trunk's provider")]
    description: str | None = Field(
        default=None, max_length=500, description="A note for your own reference.")
    authType: Annotated[Literal["userpass", "ip-based"], Field(  # noqa: N815
        description=("How the carrier authenticates Bolna: userpass (SIP digest, needs "
                     "authUsername and authPasswordSecretRef) or ip-based (by source "
                     "address, needs ipIdentifiers). Immutable: Bolna cannot change it."),
    ), immutable("Bolna cannot change a trunk's auth type")]
    authUsername: str | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=128, pattern=SIP_USERNAME,
        description="SIP digest username. Required when authType is userpass.")
    authPasswordSecretRef: SecretKeyRef | None = Field(  # noqa: N815
        default=None,
        description=("The Secret key that holds the SIP digest password. Required when "
                     "authType is userpass. A password is never written inline."))
    gateways: list[Gateway] = Field(
        min_length=1, max_length=16,
        description=("The carrier's SIP gateways. Calls go to the lowest priority number "
                     "first and fail over to the next. Server-side apply owns the list as "
                     "one value: managers that apply the same list co-own it."))
    ipIdentifiers: list[IpIdentifier] | None = Field(  # noqa: N815
        default=None, max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["ipAddress"]},
        description=("Source addresses or CIDR blocks of the carrier's SIP traffic. "
                     "Required, and not empty, when authType is ip-based."))
    allow: AllowedCodecs = Field(
        default="ulaw,alaw",
        description=("Codecs to allow, comma-separated without spaces, in order of "
                     "preference. Must include ulaw or alaw."))
    disallow: CodecList = Field(
        default="all", description="Codecs to disallow, comma-separated without spaces.")
    inboundEnabled: bool = Field(  # noqa: N815
        default=False, description="Receive inbound calls on this trunk's numbers.")
    outboundLeadingPlusEnabled: bool = Field(  # noqa: N815
        default=True, description="Prepend + to dialled numbers on outbound calls (E.164).")
    transport: Transport = Field(
        default="transport-udp",
        description=("SIP signalling transport: transport-udp, transport-tcp (avoids UDP "
                     "fragmentation of large INVITEs) or transport-tls (encrypted; "
                     "needed for SDES)."))
    mediaEncryption: Literal["no", "sdes"] = Field(  # noqa: N815
        default="no",
        description=("Media encryption: \"no\" (plain RTP) or sdes (SRTP, needs "
                     "transport-tls). Quote \"no\" in YAML, or it is read as a boolean."))
    mediaEncryptionOptimistic: bool = Field(  # noqa: N815
        default=False,
        description=("With sdes: fall back to plain RTP when the carrier offers no crypto "
                     "in its SDP."))
    directMedia: Annotated[bool, _CREATE_ONLY] = Field(  # noqa: N815
        default=False,
        description=("Send RTP directly between the parties. Bolna advises false. Set when "
                     "the trunk is created: Bolna's update API does not take it."))
    rtpSymmetric: Annotated[bool, _CREATE_ONLY] = Field(  # noqa: N815
        default=True,
        description=("Symmetric RTP, needed behind NAT. Set when the trunk is created: "
                     "Bolna's update API does not take it."))
    forceRport: Annotated[bool, _CREATE_ONLY] = Field(  # noqa: N815
        default=True,
        description=("Send responses to the source port (rport), for NAT. Set when the "
                     "trunk is created: Bolna's update API does not take it."))
    qualifyFrequency: int = Field(  # noqa: N815
        default=60, ge=0, le=3600,
        description=("Seconds between SIP OPTIONS health probes of the gateways. 0 turns "
                     "probing off."))
    active: bool = Field(
        default=True,
        description=("The master switch. false pauses the trunk in Bolna and disables "
                     "its gateways on the SIP edge, without deleting anything."))
    phoneNumbers: PhoneNumbers | None = None  # noqa: N815
    deletionPolicy: Literal["Delete", "Orphan"] = Field(  # noqa: N815
        default="Delete",
        description=("What happens in Bolna when the SipTrunk is deleted: Delete removes "
                     "the trunk and its numbers; Orphan leaves them in place."))
    apiTokenSecretRef: SecretKeyRef | None = Field(  # noqa: N815
        default=None,
        description=("The Secret key that holds the Bolna API token for this trunk's "
                     "account. Absent: the operator's default token."))

    @property
    def default_port(self) -> int:
        """The port of a gateway that gives none, for this trunk's transport."""
        return DEFAULT_TLS_PORT if self.transport == "transport-tls" else DEFAULT_PORT


def _no_repeated_gateways(spec: SipTrunkSpec) -> bool:
    seen = {(g.gatewayAddress.lower(), g.effective_port(spec.transport)) for g in spec.gateways}
    return len(seen) == len(spec.gateways)


_DEFAULT_PORT_CEL = "(has(self.transport) && self.transport == 'transport-tls' ? 5061 : 5060)"

SPEC_RULES: tuple[Rule, ...] = (
    Rule(
        cel=("!has(self.mediaEncryption) || self.mediaEncryption != 'sdes' || "
             "(has(self.transport) && self.transport == 'transport-tls')"),
        message=("sdes needs transport: transport-tls (SDES keys travel in the SIP "
                 "signalling, which must be encrypted): set transport to transport-tls and "
                 "the gateway ports to 5061, or set mediaEncryption to \"no\""),
        check=lambda s: s.mediaEncryption != "sdes" or s.transport == "transport-tls",
        field_path=".mediaEncryption",
    ),
    Rule(
        cel="self.authType != 'userpass' || has(self.authUsername)",
        message="required when authType is userpass: the SIP digest username",
        check=lambda s: s.authType != "userpass" or s.authUsername is not None,
        field_path=".authUsername",
        reason="FieldValueRequired",
    ),
    Rule(
        cel="self.authType != 'userpass' || has(self.authPasswordSecretRef)",
        message=("required when authType is userpass: put the SIP password in a Secret "
                 "and give its name and key here"),
        check=lambda s: s.authType != "userpass" or s.authPasswordSecretRef is not None,
        field_path=".authPasswordSecretRef",
        reason="FieldValueRequired",
    ),
    Rule(
        cel=("self.authType != 'ip-based' || "
             "(has(self.ipIdentifiers) && size(self.ipIdentifiers) > 0)"),
        message=("required, and not empty, when authType is ip-based: list the carrier's "
                 "source addresses or CIDR blocks"),
        check=lambda s: s.authType != "ip-based" or bool(s.ipIdentifiers),
        field_path=".ipIdentifiers",
        reason="FieldValueRequired",
    ),
    Rule(
        cel=("self.gateways.all(g, self.gateways.exists_one(h, "
             "h.gatewayAddress.lowerAscii() == g.gatewayAddress.lowerAscii() && "
             f"(has(h.port) ? h.port : {_DEFAULT_PORT_CEL}) == "
             f"(has(g.port) ? g.port : {_DEFAULT_PORT_CEL})))"),
        message=("lists the same gatewayAddress and port twice (an absent port means "
                 "5060, or 5061 with transport-tls): remove one"),
        check=_no_repeated_gateways,
        field_path=".gateways",
    ),
)



def spec_violations(spec: SipTrunkSpec) -> list[Violation]:
    """The rules a parsed spec breaks beyond its fields' own: cross-field rules, and the
    uniqueness of list-map keys (which the apiserver checks structurally, not in CEL).

    The operator calls this too, as defence in depth: an object stored under an older
    CRD may not have been held to today's rules.
    """
    return object_violations(spec, SPEC_RULES)


def object_violations(spec: BaseModel, rules: tuple[Rule, ...]) -> list[Violation]:
    """What ``spec_violations`` checks, for any spec model and its object-level rules
    (shared with the CarrierTrunk spec, so both kinds report alike)."""
    violations = [Violation("spec" + (rule.field_path or ""), rule.message)
                  for rule in rules if rule.check is not None and not rule.check(spec)]
    for name, info in type(spec).model_fields.items():
        extra = info.json_schema_extra
        if not isinstance(extra, dict) or extra.get("x-kubernetes-list-type") != "map":
            continue
        keys = [str(key) for key in extra["x-kubernetes-list-map-keys"]]  # type: ignore[union-attr]
        seen: set[tuple[object, ...]] = set()
        for index, item in enumerate(getattr(spec, name) or ()):
            key = tuple(getattr(item, k) for k in keys)
            if key in seen:
                shown = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
                violations.append(Violation(f"spec.{name}[{index}]",
                                            f"Duplicate value: {shown} is listed twice"))
            seen.add(key)
    return violations


SipTrunkSpec.model_config["json_schema_extra"] = {
    "x-kubernetes-validations": [dict(rule.to_schema()) for rule in SPEC_RULES],
}
SipTrunkSpec.model_rebuild(force=True)
