"""`bolna-sip-operator validate` and a real kube-apiserver agree on every manifest.

The offline validator re-implements the CRD's schema and CEL rules in Python; this test
is what keeps the two implementations one. For each manifest, both must give the same
verdict; when both accept, the validator's defaulted spec must equal what the apiserver
would store; when both reject, they must name at least one field in common.

The hypothesis corpus is derandomized so CI sees the same manifests every run. To hunt
for new disagreements: ``HYPOTHESIS_PROFILE=explore hack/test.sh -k differential``.
"""

from __future__ import annotations

import os
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bolna_sip_operator.model.manifest import validate_document
from tests.corpus import INVALID_CASES, VALID_SPECS, manifest
from tests.integration.apiserver import Trunks, names_field

pytestmark = pytest.mark.integration

_PROFILES = {
    "ci": settings(max_examples=300, derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture]),
    "explore": settings(max_examples=3000, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture]),
}
DIFFERENTIAL = _PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]
"""The settings of the generated-manifest tests, on each of them: never loaded as a
profile, which would change every property test of the run."""


def assert_agree(document: dict[str, Any], trunks: Trunks) -> bool:
    """Both verdicts equal, with the defaults or the field paths to match; the verdict."""
    offline = validate_document(document)
    server = trunks.dry_run_create(document)
    offline_paths = {finding.path for finding in offline.errors}
    assert offline.valid == server.accepted, (
        f"validate says {'valid' if offline.valid else offline_paths}, "
        f"the apiserver says {server} for {document['spec']!r}")
    if server.accepted:
        assert server.stored is not None and offline.defaulted is not None
        assert offline.defaulted["spec"] == server.stored["spec"]
    else:
        assert any(names_field(server.paths, path) for path in offline_paths), (
            f"no field in common: validate {offline_paths}, apiserver {server.paths}")
    return server.accepted


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_agree_on_the_invalid_corpus(case: Any, trunks: Trunks
                                     ) -> None:
    assert_agree(case.build(), trunks)


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_agree_on_the_valid_corpus(name: str, trunks: Trunks) -> None:
    assert_agree(manifest(VALID_SPECS[name]), trunks)


# Values near every rule's edge: valid, invalid, and wrong-typed, mixed.
_TRICKY_ADDRESSES = [
    "sip.example.com", "a", "a.b", "1.2.3.4", "1.2.3.400", "1.2.3", "01.2.3.4", "::1",
    "2001:db8::1", "::ffff:1.2.3.4", "fe80::1", "a-b.example.com", "-a.example.com",
    "a-.example.com", "a..b", "a.b.", ".a", "1234", "1.2.3.4.5", "a" * 63, "a" * 64,
    "xn--bcher-kva.example", "A.EXAMPLE.COM", "1.2.3.4:5060", "sip:a.b", "a b", "a;b",
    "a#b", "a\nb", "", "::", "1::2::3", "2001:db8::1.2.3.4", "12345678901234567890.zt.plivo.com",
]
_TRICKY_IPS = [
    "1.2.3.4", "1.2.3.4/32", "1.2.3.4/33", "10.0.0.0/8", "10.0.0.1/8", "10.0.0.0/08",
    "0.0.0.0/0", "::/0", "::1/128", "::1/129", "2001:db8::/32", "::ffff:1.2.3.4",
    "::ffff:0:0/96", "fe80::1%1", "1.2.3.4/", "/8", "1.2.3.4/+8", "1.2.3.4/-1", "a.b",
    "1.2.3.4 ", "1.2.3.4/8/8", "10.0.0.0/255.0.0.0", "FE80::1", "::1.2.3.4/120",
]
_codecs = st.sampled_from(["ulaw,alaw", "alaw", "g729", "opus,ulaw", "ULAW", "ulaw, alaw",
                           "", "all", "ulaw,", ",ulaw", "ulaw\n"]) | st.text(
    alphabet="ualwg729,_ \n", max_size=12)
_text = st.text(alphabet=string.ascii_letters + " \n\t#;()—é", max_size=12)


def _maybe_wrong(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.sampled_from([None, True, False, 0, "x", 1.5, [], {}])


_gateway = st.fixed_dictionaries(
    {"gatewayAddress": st.sampled_from(_TRICKY_ADDRESSES) | st.text(
        alphabet="ab1.:-", max_size=10)},
    optional={"port": _maybe_wrong(st.sampled_from([1, 5060, 5061, 65535, 0, 65536, -1])),
              "priority": _maybe_wrong(st.integers(-1, 1002))},
)
_ip_identifier = st.fixed_dictionaries({"ipAddress": st.sampled_from(_TRICKY_IPS) | st.text(
    alphabet="0123456789abcdef.:/%", max_size=14)})
_phone = st.fixed_dictionaries(
    {"phoneNumber": _maybe_wrong(st.sampled_from(
        ["919876543210", "+919876543210", "123456", "12345", "+1234567890123456",
         "123456789012345", "+123456789012345", "91 98765", "919876543210\n"]))},
    optional={"name": _maybe_wrong(_text)},
)
_secret_ref = st.fixed_dictionaries(
    {}, optional={"name": st.sampled_from(["s", "twilio-sip", "Bad_Name", "a.b", ""]),
                  "key": st.sampled_from(["password", "pass.word", "bad key", ""])})

_WILD: dict[str, st.SearchStrategy[Any]] = {
    "provider": _maybe_wrong(st.sampled_from(["twilio", "plivo", "Twilio", "my-carrier_2",
                                              "a b", "9x"])),
    "authType": _maybe_wrong(st.sampled_from(["userpass", "ip-based", "password"])),
    "gateways": st.lists(_gateway, min_size=0, max_size=4) | st.just(None),
    "name": _maybe_wrong(_text),
    "description": _maybe_wrong(_text),
    "authUsername": _maybe_wrong(st.sampled_from(["user", "my user", "u@h", "a;b", ""])),
    "authPasswordSecretRef": _secret_ref,
    "apiTokenSecretRef": _secret_ref,
    "ipIdentifiers": st.lists(_ip_identifier, max_size=3),
    "allow": _codecs,
    "disallow": _codecs,
    "transport": _maybe_wrong(st.sampled_from(
        ["transport-udp", "transport-tcp", "transport-tls", "udp"])),
    "mediaEncryption": _maybe_wrong(st.sampled_from(["no", "sdes", "srtp"])),
    "qualifyFrequency": _maybe_wrong(st.integers(-1, 3601)),
    "active": _maybe_wrong(st.booleans()),
    "inboundEnabled": _maybe_wrong(st.booleans()),
    "phoneNumbers": st.lists(_phone, max_size=3),
    "deletionPolicy": _maybe_wrong(st.sampled_from(["Delete", "Orphan", "Retain"])),
}
_REQUIRED = ("provider", "authType", "gateways")
_wild_spec = st.fixed_dictionaries(
    {name: _WILD[name] for name in _REQUIRED},
    optional={name: strategy for name, strategy in _WILD.items() if name not in _REQUIRED})

# Mostly valid trunks, so that agreement on defaults is exercised as much as rejection.
_VALID_ADDRESSES = ["sip.example.com", "a", "1.2.3.4", "::1", "2001:db8::1", "a-b.example.com",
                    "A.EXAMPLE.COM", "12345678901234567890.zt.plivo.com", "a" * 63]
_VALID_IPS = ["1.2.3.4", "1.2.3.4/32", "10.0.0.1/8", "0.0.0.0/0", "::/0", "2001:db8::/32",
              "FE80::1"]
_valid_gateway = st.fixed_dictionaries(
    {"gatewayAddress": st.sampled_from(_VALID_ADDRESSES)},
    optional={"port": st.integers(1, 65535), "priority": st.integers(1, 1000)})
_common = {
    "provider": st.sampled_from(["twilio", "plivo", "custom"]),
    "gateways": st.lists(_valid_gateway, min_size=1, max_size=3),
}
_optional = {
    "name": st.text(alphabet=string.ascii_letters + " ()-—é", min_size=1, max_size=20),
    "transport": st.sampled_from(["transport-udp", "transport-tcp", "transport-tls"]),
    "qualifyFrequency": st.integers(0, 3600),
    "active": st.booleans(),
    "allow": st.sampled_from(["ulaw,alaw", "alaw", "opus,ulaw"]),
    "phoneNumbers": st.lists(_phone, max_size=2),
    "deletionPolicy": st.sampled_from(["Delete", "Orphan"]),
}
_valid_spec = st.fixed_dictionaries(
    {**_common, "authType": st.just("userpass"), "authUsername": st.just("user"),
     "authPasswordSecretRef": st.just({"name": "s", "key": "password"})},
    optional=_optional,
) | st.fixed_dictionaries(
    {**_common, "authType": st.just("ip-based"),
     "ipIdentifiers": st.lists(st.sampled_from(_VALID_IPS), min_size=1, max_size=3,
                               unique=True).map(lambda ips: [{"ipAddress": i} for i in ips])},
    optional=_optional,
)


def _with_one_field_changed(spec: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(_WILD)).flatmap(
        lambda name: _WILD[name].map(lambda value: {**spec, name: value}))


_spec = _valid_spec | _valid_spec.flatmap(_with_one_field_changed) | _wild_spec


@DIFFERENTIAL
@given(spec=_spec)
def test_agree_on_generated_manifests(spec: dict[str, Any],
                                      trunks: Trunks) -> None:
    event("accepted" if assert_agree(manifest(spec), trunks) else "rejected")
