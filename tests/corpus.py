"""Invalid SipTrunks, one per rule of the API, shared by the offline and apiserver tests.

Each case starts from a valid trunk and breaks one thing, so the case names the rule it
exercises and the field path the error must name. The same corpus runs through
``bolna-sip-operator validate`` (unit tests) and through a real kube-apiserver
(integration tests), and the differential test holds the two verdicts equal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

USERPASS_SPEC: dict[str, Any] = {
    "provider": "twilio",
    "authType": "userpass",
    "authUsername": "my-sip-user",
    "authPasswordSecretRef": {"name": "twilio-sip", "key": "password"},
    "gateways": [{"gatewayAddress": "your-trunk.pstn.twilio.com", "port": 5060}],
}
IP_BASED_SPEC: dict[str, Any] = {
    "provider": "plivo",
    "authType": "ip-based",
    "gateways": [{"gatewayAddress": "21467306465797919.zt.plivo.com"}],
    "ipIdentifiers": [{"ipAddress": "15.207.90.192/31"}],
}


def manifest(spec: dict[str, Any], name: str = "trunk") -> Manifest:
    """A SipTrunk document around a spec."""
    return {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": name}, "spec": copy.deepcopy(spec)}


@dataclass(frozen=True)
class Case:
    """One invalid manifest and the field path its error must name."""

    id: str
    path: str
    build: Callable[[], Manifest]


def _spec_case(case_id: str, path: str, change: Callable[[dict[str, Any]], None],
               base: dict[str, Any] = USERPASS_SPEC) -> Case:
    def build() -> Manifest:
        document = manifest(base)
        change(document["spec"])
        return document
    return Case(case_id, path, build)


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(copy.deepcopy(fields))


def _drop(*fields: str) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        for field in fields:
            spec.pop(field, None)
    return change


def _gateway(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["gateways"][0].update(fields)


def _gateways(*gateways: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(gateways=[dict(g) for g in gateways])


def _ip(*addresses: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(ipIdentifiers=[{"ipAddress": a} for a in addresses])


def _numbers(*numbers: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(phoneNumbers=[
        n if isinstance(n, dict) else {"phoneNumber": n} for n in numbers])


def _document(case_id: str, path: str, change: Callable[[Manifest], None]) -> Case:
    def build() -> Manifest:
        document = manifest(USERPASS_SPEC)
        change(document)
        return document
    return Case(case_id, path, build)


GW = "spec.gateways[0].gatewayAddress"
IPA = "spec.ipIdentifiers[0].ipAddress"
PN = "spec.phoneNumbers[0].phoneNumber"

INVALID_CASES: tuple[Case, ...] = (
    # required fields and enums
    _spec_case("provider-missing", "spec.provider", _drop("provider")),
    _spec_case("authType-missing", "spec.authType", _drop("authType")),
    _spec_case("authType-unknown", "spec.authType", _set(authType="password")),
    _spec_case("gateways-missing", "spec.gateways", _drop("gateways")),
    _spec_case("gateways-empty", "spec.gateways", _set(gateways=[])),
    _spec_case("gateways-too-many", "spec.gateways", _gateways(
        *({"gatewayAddress": f"gw{i}.example.com"} for i in range(17)))),
    _spec_case("gateways-not-a-list", "spec.gateways",
               _set(gateways={"gatewayAddress": "a.example.com"})),
    _spec_case("transport-unknown", "spec.transport", _set(transport="udp")),
    _spec_case("deletionPolicy-unknown", "spec.deletionPolicy", _set(deletionPolicy="Retain")),
    _document("spec-missing", "spec", lambda d: d.pop("spec")),
    _document("metadata-name-invalid", "metadata.name",
              lambda d: d["metadata"].update(name="Twilio_Prod")),
    # gateway addresses: hostnames or IPs only, nothing that could break a dispatcher line
    _spec_case("gateway-scheme", GW, _gateway(gatewayAddress="sip:a.example.com")),
    _spec_case("gateway-with-port", GW, _gateway(gatewayAddress="a.example.com:5060")),
    _spec_case("gateway-space", GW, _gateway(gatewayAddress="a.example.com 0 0")),
    _spec_case("gateway-newline-injection", GW,
               _gateway(gatewayAddress="a.example.com\n9 sip:evil.example.com")),
    _spec_case("gateway-semicolon-injection", GW,
               _gateway(gatewayAddress="a.example.com;transport=tcp")),
    _spec_case("gateway-hash-comment", GW, _gateway(gatewayAddress="a.example.com#x")),
    _spec_case("gateway-bad-ipv4", GW, _gateway(gatewayAddress="999.1.1.1")),
    _spec_case("gateway-leading-hyphen", GW, _gateway(gatewayAddress="-bad.example.com")),
    _spec_case("gateway-label-too-long", GW,
               _gateway(gatewayAddress="a" * 64 + ".example.com")),
    _spec_case("gateway-empty", GW, _gateway(gatewayAddress="")),
    _spec_case("gateway-ipv6-brackets", GW, _gateway(gatewayAddress="[2001:db8::1]")),
    _spec_case("gateway-too-long", GW, _gateway(gatewayAddress=("a" * 60 + ".") * 5 + "com")),
    _spec_case("port-zero", "spec.gateways[0].port", _gateway(port=0)),
    _spec_case("port-too-big", "spec.gateways[0].port", _gateway(port=65536)),
    _spec_case("port-quoted", "spec.gateways[0].port", _gateway(port="5060")),
    _spec_case("priority-zero", "spec.gateways[0].priority", _gateway(priority=0)),
    _spec_case("gateway-unknown-field", "spec.gateways[0].host", _gateway(host="x")),
    _spec_case("gateways-duplicate", "spec.gateways", _gateways(
        {"gatewayAddress": "a.example.com", "port": 5060},
        {"gatewayAddress": "a.example.com", "port": 5060, "priority": 2})),
    _spec_case("gateways-duplicate-default-port", "spec.gateways", _gateways(
        {"gatewayAddress": "a.example.com"},
        {"gatewayAddress": "A.example.com", "port": 5060, "priority": 2})),
    _spec_case("gateways-duplicate-default-tls-port", "spec.gateways", lambda s: s.update(
        transport="transport-tls",
        gateways=[{"gatewayAddress": "a.example.com", "port": 5061},
                  {"gatewayAddress": "a.example.com"}])),
    # media encryption
    _spec_case("sdes-over-udp", "spec.mediaEncryption",
               _set(mediaEncryption="sdes", transport="transport-udp")),
    _spec_case("sdes-default-transport", "spec.mediaEncryption", _set(mediaEncryption="sdes")),
    _spec_case("sdes-over-tcp", "spec.mediaEncryption",
               _set(mediaEncryption="sdes", transport="transport-tcp")),
    _spec_case("yaml-no-trap", "spec.mediaEncryption", _set(mediaEncryption=False)),
    _spec_case("mediaEncryption-unknown", "spec.mediaEncryption", _set(mediaEncryption="srtp")),
    # auth
    _spec_case("userpass-without-username", "spec.authUsername", _drop("authUsername")),
    _spec_case("userpass-without-password", "spec.authPasswordSecretRef",
               _drop("authPasswordSecretRef")),
    _spec_case("password-inline", "spec.authPassword", _set(authPassword="hunter2")),
    _spec_case("username-space", "spec.authUsername", _set(authUsername="my user")),
    _spec_case("username-at", "spec.authUsername", _set(authUsername="user@example.com")),
    _spec_case("secret-ref-without-key", "spec.authPasswordSecretRef.key",
               _set(authPasswordSecretRef={"name": "twilio-sip"})),
    _spec_case("secret-ref-bad-name", "spec.authPasswordSecretRef.name",
               _set(authPasswordSecretRef={"name": "Twilio_Sip", "key": "password"})),
    _spec_case("token-ref-without-name", "spec.apiTokenSecretRef.name",
               _set(apiTokenSecretRef={"key": "token"})),
    _spec_case("ip-based-without-identifiers", "spec.ipIdentifiers", _drop("ipIdentifiers"),
               base=IP_BASED_SPEC),
    _spec_case("ip-based-empty-identifiers", "spec.ipIdentifiers", _set(ipIdentifiers=[]),
               base=IP_BASED_SPEC),
    # ip identifiers
    _spec_case("ip-bad-octet", IPA, _ip("300.1.1.1"), base=IP_BASED_SPEC),
    _spec_case("ip-prefix-too-long", IPA, _ip("10.0.0.0/33"), base=IP_BASED_SPEC),
    _spec_case("ip-prefix-leading-zero", IPA, _ip("10.0.0.0/08"), base=IP_BASED_SPEC),
    _spec_case("ip-zone", IPA, _ip("fe80::1%eth0"), base=IP_BASED_SPEC),
    _spec_case("ip-v4-mapped", IPA, _ip("::ffff:10.0.0.1"), base=IP_BASED_SPEC),
    _spec_case("ip-netmask-form", IPA, _ip("10.0.0.0/255.0.0.0"), base=IP_BASED_SPEC),
    _spec_case("ip-injection", IPA, _ip("10.0.0.0/8 0 0\n1 0.0.0.0 0"), base=IP_BASED_SPEC),
    _spec_case("ip-hostname", IPA, _ip("carrier.example.com"), base=IP_BASED_SPEC),
    _spec_case("ip-duplicate", "spec.ipIdentifiers[1]",
               _ip("15.207.90.192/31", "15.207.90.192/31"), base=IP_BASED_SPEC),
    _spec_case("ip-too-many", "spec.ipIdentifiers",
               _ip(*(f"10.0.{i}.0/24" for i in range(65))), base=IP_BASED_SPEC),
    # codecs
    _spec_case("allow-without-g711", "spec.allow", _set(allow="g729,opus")),
    _spec_case("allow-with-spaces", "spec.allow", _set(allow="ulaw, alaw")),
    _spec_case("allow-empty", "spec.allow", _set(allow="")),
    _spec_case("allow-uppercase", "spec.allow", _set(allow="ULAW")),
    _spec_case("disallow-newline", "spec.disallow", _set(disallow="all\nulaw")),
    # numbers
    _spec_case("qualify-negative", "spec.qualifyFrequency", _set(qualifyFrequency=-1)),
    _spec_case("qualify-too-big", "spec.qualifyFrequency", _set(qualifyFrequency=3601)),
    _spec_case("qualify-quoted", "spec.qualifyFrequency", _set(qualifyFrequency="60")),
    _spec_case("inbound-string", "spec.inboundEnabled", _set(inboundEnabled="yes")),
    _spec_case("active-integer", "spec.active", _set(active=1)),
    # phone numbers
    _spec_case("number-unquoted", PN, _numbers(919876543210)),
    _spec_case("number-too-short", PN, _numbers("12345")),
    _spec_case("number-too-long", PN, _numbers("+1234567890123456")),
    _spec_case("number-spaces", PN, _numbers("+91 98765 43210")),
    _spec_case("number-newline-injection", PN, _numbers("919876543210\n")),
    _spec_case("number-semicolon", PN, _numbers("919876543210;x")),
    _spec_case("number-missing", PN, _numbers({"name": "Support"})),
    _spec_case("numbers-duplicate-plus", "spec.phoneNumbers",
               _numbers("+919876543210", "919876543210")),
    _spec_case("numbers-duplicate", "spec.phoneNumbers", _numbers("919876543210", "919876543210")),
    _spec_case("number-name-newline", "spec.phoneNumbers[0].name",
               _numbers({"phoneNumber": "919876543210", "name": "Support\nLine"})),
    _spec_case("numbers-too-many", "spec.phoneNumbers",
               _numbers(*(f"9198765{i:05d}" for i in range(201)))),
    # names and text
    _spec_case("name-empty", "spec.name", _set(name="")),
    _spec_case("name-too-long", "spec.name", _set(name="x" * 101)),
    _spec_case("name-newline", "spec.name", _set(name="Twilio\nProduction")),
    _spec_case("description-too-long", "spec.description", _set(description="x" * 501)),
    _spec_case("provider-uppercase", "spec.provider", _set(provider="Twilio")),
    _spec_case("provider-space", "spec.provider", _set(provider="my provider")),
    _spec_case("provider-too-long", "spec.provider", _set(provider="p" * 64)),
)

VALID_SPECS: dict[str, dict[str, Any]] = {
    "userpass-minimal": USERPASS_SPEC,
    "ip-based-minimal": IP_BASED_SPEC,
    "ipv6-gateway-and-identifiers": {
        **IP_BASED_SPEC,
        "gateways": [{"gatewayAddress": "2001:db8::10"}, {"gatewayAddress": "203.0.113.7",
                                                          "priority": 2}],
        "ipIdentifiers": [{"ipAddress": "2001:db8::/32"}, {"ipAddress": "203.0.113.7"},
                          {"ipAddress": "10.0.0.1/8"}],
    },
    "tls-default-ports": {
        **USERPASS_SPEC, "transport": "transport-tls", "mediaEncryption": "sdes",
        "gateways": [{"gatewayAddress": "a.example.com"},
                     {"gatewayAddress": "a.example.com", "port": 5060, "priority": 2}],
    },
    "numbers-and-names": {
        **USERPASS_SPEC,
        "phoneNumbers": [{"phoneNumber": "+14155550123", "name": "Sales"},
                         {"phoneNumber": "919876543210"}],
        "name": "Twilio (Mumbai) — primary", "description": "line one\nline two",
    },
    "everything-set": {
        **USERPASS_SPEC, "name": "All fields", "description": "x" * 500,
        "allow": "opus,ulaw", "disallow": "all", "inboundEnabled": True,
        "outboundLeadingPlusEnabled": False, "transport": "transport-tcp",
        "mediaEncryption": "no", "mediaEncryptionOptimistic": True, "directMedia": True,
        "rtpSymmetric": False, "forceRport": False, "qualifyFrequency": 0, "active": False,
        "deletionPolicy": "Orphan", "apiTokenSecretRef": {"name": "bolna", "key": "token"},
        "gateways": [{"gatewayAddress": f"gw{i}.example.com", "priority": i + 1}
                     for i in range(16)],
    },
}
