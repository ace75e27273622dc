"""Invalid and valid CarrierTrunks, one case per rule of the API, shared by the offline
and apiserver tests (as ``tests/corpus.py`` is for SipTrunk).

Each invalid case starts from a valid trunk and breaks one thing, so the case names the
rule it exercises and the field path the error must name. The same corpus runs through
``bolna-sip-operator validate`` (unit tests) and through a real kube-apiserver
(integration tests), and the differential test holds the two verdicts equal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.corpus import Case, Manifest, _drop, _gateway, _gateways, _set

TELNYX_SPEC: dict[str, Any] = {
    "preset": "telnyx",
    "gateways": [{"host": "sip.telnyx.com"}, {"host": "sip.telnyx.eu", "priority": 2}],
    "ipAcls": [{"cidr": "192.76.120.10"}, {"cidr": "64.16.250.10"}],
    "numbers": [{"e164": "+13125550147"}],
}
CREDENTIALS_SPEC: dict[str, Any] = {
    "preset": "twilio",
    "authUsername": "bolna-outbound",
    "authPasswordSecretRef": {"name": "twilio-termination"},
    "gateways": [{"host": "acme.pstn.twilio.com", "port": 5060}],
}


def carrier_manifest(spec: dict[str, Any], name: str = "carrier") -> Manifest:
    """A CarrierTrunk document around a spec."""
    return {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "CarrierTrunk",
            "metadata": {"name": name}, "spec": copy.deepcopy(spec)}


def _case(case_id: str, path: str, change: Callable[[dict[str, Any]], None],
          base: dict[str, Any] = TELNYX_SPEC) -> Case:
    def build() -> Manifest:
        document = carrier_manifest(base)
        change(document["spec"])
        return document
    return Case(case_id, path, build)


def _document(case_id: str, path: str, change: Callable[[Manifest], None]) -> Case:
    def build() -> Manifest:
        document = carrier_manifest(TELNYX_SPEC)
        change(document)
        return document
    return Case(case_id, path, build)


def _acls(*cidrs: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(ipAcls=[{"cidr": c} for c in cidrs])


def _numbers(*numbers: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(numbers=[
        n if isinstance(n, dict) else {"e164": n} for n in numbers])


def _number(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["numbers"][0].update(fields)


HOST = "spec.gateways[0].host"
CIDR = "spec.ipAcls[0].cidr"
E164 = "spec.numbers[0].e164"
KEY = "spec.numbers[0].destinationKey"

CARRIER_INVALID_CASES: tuple[Case, ...] = (
    # the document and its settings
    _document("spec-missing", "spec", lambda d: d.pop("spec")),
    _document("metadata-name-invalid", "metadata.name",
              lambda d: d["metadata"].update(name="Telnyx_US")),
    _document("long-object-name-without-spec-name", "spec.name",
              lambda d: d["metadata"].update(name="t" * 101)),
    _case("preset-unknown", "spec.preset", _set(preset="bandwidth")),
    _case("preset-capitalised", "spec.preset", _set(preset="Telnyx")),
    _case("transport-tls", "spec.transport", _set(transport="tls")),
    _case("transport-legacy-spelling", "spec.transport", _set(transport="transport-udp")),
    _case("deletionPolicy-unknown", "spec.deletionPolicy", _set(deletionPolicy="Retain")),
    _case("channels-zero", "spec.channels", _set(channels=0)),
    _case("channels-too-many", "spec.channels", _set(channels=1001)),
    _case("channels-quoted", "spec.channels", _set(channels="10")),
    _case("channels-fraction", "spec.channels", _set(channels=2.5)),
    _case("isActive-string", "spec.isActive", _set(isActive="yes")),
    _case("inboundEnabled-integer", "spec.inboundEnabled", _set(inboundEnabled=1)),
    _case("outboundLeadingPlus-string", "spec.outboundLeadingPlusEnabled",
          _set(outboundLeadingPlusEnabled="true")),
    _case("unknown-field", "spec.provider", _set(provider="telnyx")),
    _case("name-empty", "spec.name", _set(name="")),
    _case("name-too-long", "spec.name", _set(name="x" * 101)),
    _case("name-newline", "spec.name", _set(name="Telnyx\nproduction")),
    _case("name-boolean", "spec.name", _set(name=True)),
    _case("description-too-long", "spec.description", _set(description="x" * 501)),
    _case("agent-empty", "spec.defaultInboundAgentId", _set(defaultInboundAgentId="")),
    _case("agent-newline", "spec.defaultInboundAgentId",
          _set(defaultInboundAgentId="agent\n1")),
    _case("agent-too-long", "spec.defaultInboundAgentId",
          _set(defaultInboundAgentId="a" * 129)),
    # credentials: both or neither, never inline
    _case("username-without-password", "spec.authPasswordSecretRef",
          _drop("authPasswordSecretRef"), base=CREDENTIALS_SPEC),
    _case("password-without-username", "spec.authUsername", _drop("authUsername"),
          base=CREDENTIALS_SPEC),
    _case("password-inline", "spec.authPassword", _set(authPassword="hunter2"),
          base=CREDENTIALS_SPEC),
    _case("username-space", "spec.authUsername", _set(authUsername="bolna outbound"),
          base=CREDENTIALS_SPEC),
    _case("username-at", "spec.authUsername", _set(authUsername="bolna@acme"),
          base=CREDENTIALS_SPEC),
    _case("username-too-long", "spec.authUsername", _set(authUsername="u" * 129),
          base=CREDENTIALS_SPEC),
    _case("password-ref-without-name", "spec.authPasswordSecretRef.name",
          _set(authPasswordSecretRef={"key": "password"}), base=CREDENTIALS_SPEC),
    _case("password-ref-bad-key", "spec.authPasswordSecretRef.key",
          _set(authPasswordSecretRef={"name": "s", "key": "bad key"}), base=CREDENTIALS_SPEC),
    _case("password-ref-unknown-field", "spec.authPasswordSecretRef.namespace",
          _set(authPasswordSecretRef={"name": "s", "namespace": "other"}),
          base=CREDENTIALS_SPEC),
    _case("token-ref-bad-name", "spec.apiTokenSecretRef.name",
          _set(apiTokenSecretRef={"name": "Bolna_Token"})),
    # codecs
    _case("codecs-empty", "spec.codecs", _set(codecs=[])),
    _case("codecs-unknown", "spec.codecs[0]", _set(codecs=["G729"])),
    _case("codecs-lowercase", "spec.codecs[0]", _set(codecs=["pcmu"])),
    _case("codecs-repeated", "spec.codecs", _set(codecs=["PCMU", "PCMU"])),
    _case("codecs-too-many", "spec.codecs", _set(codecs=["PCMU", "PCMA", "PCMU"])),
    _case("codecs-as-text", "spec.codecs", _set(codecs="PCMA,PCMU")),
    # gateways: hostnames or IPs only, nothing that could break a dispatcher line
    _case("gateway-scheme", HOST, _gateway(host="sip:sip.telnyx.com")),
    _case("gateway-with-port", HOST, _gateway(host="sip.telnyx.com:5060")),
    _case("gateway-space", HOST, _gateway(host="sip.telnyx.com 0 0")),
    _case("gateway-newline-injection", HOST,
          _gateway(host="sip.telnyx.com\n9 sip:evil.example.com")),
    _case("gateway-semicolon", HOST, _gateway(host="sip.telnyx.com;transport=tcp")),
    _case("gateway-bad-ipv4", HOST, _gateway(host="999.1.1.1")),
    _case("gateway-leading-hyphen", HOST, _gateway(host="-sip.telnyx.com")),
    _case("gateway-label-too-long", HOST, _gateway(host="a" * 64 + ".example.com")),
    _case("gateway-empty", HOST, _gateway(host="")),
    _case("gateway-ipv6-brackets", HOST, _gateway(host="[2001:db8::1]")),
    _case("gateway-missing-host", HOST, _gateways({"port": 5060})),
    _case("gateway-legacy-field", "spec.gateways[0].gatewayAddress",
          _gateways({"gatewayAddress": "sip.telnyx.com"})),
    _case("port-zero", "spec.gateways[0].port", _gateway(port=0)),
    _case("port-too-big", "spec.gateways[0].port", _gateway(port=65536)),
    _case("port-quoted", "spec.gateways[0].port", _gateway(port="5060")),
    _case("priority-zero", "spec.gateways[0].priority", _gateway(priority=0)),
    _case("priority-too-big", "spec.gateways[0].priority", _gateway(priority=1001)),
    _case("gateways-too-many", "spec.gateways", _gateways(
        *({"host": f"gw{i}.example.com"} for i in range(9)))),
    _case("gateways-not-a-list", "spec.gateways", _set(gateways={"host": "a.example.com"})),
    _case("gateways-duplicate", "spec.gateways", _gateways(
        {"host": "a.example.com", "port": 5080}, {"host": "a.example.com", "port": 5080,
                                                   "priority": 2})),
    _case("gateways-duplicate-default-port-any-case", "spec.gateways", _gateways(
        {"host": "A.example.com"}, {"host": "a.example.com", "port": 5060, "priority": 2})),
    # carrier IPs
    _case("acl-bad-octet", CIDR, _acls("300.1.1.1")),
    _case("acl-prefix-too-long", CIDR, _acls("10.0.0.0/33")),
    _case("acl-prefix-leading-zero", CIDR, _acls("10.0.0.0/08")),
    _case("acl-zone", CIDR, _acls("fe80::1%eth0")),
    _case("acl-v4-mapped", CIDR, _acls("::ffff:10.0.0.1")),
    _case("acl-netmask-form", CIDR, _acls("10.0.0.0/255.0.0.0")),
    _case("acl-injection", CIDR, _acls("10.0.0.0/8 0 0\n1 0.0.0.0 0")),
    _case("acl-hostname", CIDR, _acls("sip.telnyx.com")),
    _case("acl-number", CIDR, _acls(10)),
    _case("acl-missing-cidr", "spec.ipAcls[0].cidr", lambda s: s.update(ipAcls=[{}])),
    _case("acl-legacy-field", "spec.ipAcls[0].ipAddress",
          lambda s: s.update(ipAcls=[{"ipAddress": "192.76.120.10"}])),
    _case("acls-duplicate", "spec.ipAcls", _acls("192.76.120.10", "192.76.120.10")),
    _case("acls-duplicate-bare-and-32", "spec.ipAcls", _acls("192.76.120.10",
                                                             "192.76.120.10/32")),
    _case("acls-duplicate-host-bits", "spec.ipAcls", _acls("10.0.0.0/8", "10.1.2.3/8")),
    _case("acls-duplicate-ipv6-spelling", "spec.ipAcls", _acls("FE80::1", "fe80::1/128")),
    _case("acls-too-many", "spec.ipAcls", _acls(*(f"10.0.{i}.0/24" for i in range(65)))),
    # numbers
    _case("e164-unquoted", E164, _number(e164=13125550147)),
    _case("e164-without-plus", E164, _number(e164="13125550147")),
    _case("e164-leading-zero", E164, _number(e164="+03125550147")),
    _case("e164-too-short", E164, _number(e164="+123456")),
    _case("e164-too-long", E164, _number(e164="+1234567890123456")),
    _case("e164-spaces", E164, _number(e164="+1 312 555 0147")),
    _case("e164-newline", E164, _number(e164="+13125550147\n")),
    _case("e164-missing", E164, _numbers({"agentId": "a"})),
    _case("number-legacy-field", "spec.numbers[0].phoneNumber",
          _numbers({"e164": "+13125550147", "phoneNumber": "13125550147"})),
    _case("key-leading-plus", KEY, _number(destinationKey="+13125550147")),
    _case("key-space", KEY, _number(destinationKey="1312 5550147")),
    _case("key-tab", KEY, _number(destinationKey="13125550147\t")),
    _case("key-empty", KEY, _number(destinationKey="")),
    _case("key-too-long", KEY, _number(destinationKey="1" * 65)),
    _case("key-unquoted", KEY, _number(destinationKey=13125550147)),
    _case("number-agent-empty", "spec.numbers[0].agentId", _number(agentId="")),
    _case("number-agent-too-long", "spec.numbers[0].agentId", _number(agentId="a" * 129)),
    _case("numbers-duplicate-e164", "spec.numbers", _numbers(
        "+13125550147", {"e164": "+13125550147", "destinationKey": "x"})),
    _case("numbers-duplicate-key", "spec.numbers", _numbers(
        {"e164": "+13125550147", "destinationKey": "100"},
        {"e164": "+13125550148", "destinationKey": "100"})),
    _case("numbers-duplicate-effective-key", "spec.numbers", _numbers(
        "+13125550147", {"e164": "+13125550148", "destinationKey": "13125550147"})),
    _case("numbers-too-many", "spec.numbers",
          _numbers(*(f"+1312555{i:04d}" for i in range(201)))),
)

CARRIER_VALID_SPECS: dict[str, dict[str, Any]] = {
    "empty": {},
    "telnyx-ip": TELNYX_SPEC,
    "credentials-default-key": CREDENTIALS_SPEC,
    "ipv6-and-networks": {
        "gateways": [{"host": "2001:db8::10"}, {"host": "203.0.113.7", "priority": 2}],
        "ipAcls": [{"cidr": "2001:db8::/32"}, {"cidr": "2001:db9::1"}, {"cidr": "10.0.0.1/8"},
                   {"cidr": "11.0.0.0/8"}, {"cidr": "203.0.113.7"}, {"cidr": "203.0.113.6/32"}],
    },
    "same-host-other-ports": {
        "gateways": [{"host": "a.example.com"}, {"host": "A.EXAMPLE.COM", "port": 5061},
                     {"host": "a.example.com", "port": 5080, "priority": 1}],
    },
    "numbers-with-keys-and-agents": {
        "defaultInboundAgentId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "numbers": [{"e164": "+918035735900"},
                    {"e164": "+918035735901", "destinationKey": "08035735901",
                     "agentId": "7f1d4c2e-5a3b-4e8f-9c6d-1b2a3c4d5e6f"},
                    {"e164": "+14155550123", "destinationKey": "918035735901"}],
    },
    "one-codec-and-transport": {"codecs": ["PCMA"], "transport": "tcp"},
    "everything-set": {
        **CREDENTIALS_SPEC, "name": "Everything (set) — é", "description": "x" * 500,
        "preset": "custom", "isActive": False, "inboundEnabled": False,
        "outboundEnabled": False, "channels": 1000, "defaultInboundAgentId": "agent-1",
        "authPasswordSecretRef": {"name": "s", "key": "sip.password"},
        "transport": "tcp", "codecs": ["PCMA", "PCMU"], "outboundLeadingPlusEnabled": False,
        "gateways": [{"host": f"gw{i}.example.com", "port": 5060 + i, "priority": 1000 - i}
                     for i in range(8)],
        "ipAcls": [{"cidr": f"10.0.{i}.0/24"} for i in range(64)],
        "numbers": [{"e164": f"+1312555{i:04d}"} for i in range(200)],
        "apiTokenSecretRef": {"name": "bolna-account-b"},
        "deletionPolicy": "Orphan",
    },
}
