"""`bolna-sip-operator validate` and a real kube-apiserver agree on every CarrierTrunk.

The CarrierTrunk half of ``test_differential.py``: the same comparison (same verdict;
the same stored spec when both accept; a field in common when both reject), over the
CarrierTrunk corpus (``tests/carrier_corpus.py``) and over generated manifests whose
values sit near every rule's edge. The hypothesis profile (``ci``, derandomized, or
``HYPOTHESIS_PROFILE=explore``) is ``test_differential.DIFFERENTIAL``, on the test.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.carrier_corpus import CARRIER_INVALID_CASES, CARRIER_VALID_SPECS, carrier_manifest
from tests.corpus import Case
from tests.integration.apiserver import Trunks
from tests.integration.test_differential import (
    _TRICKY_ADDRESSES,
    _TRICKY_IPS,
    DIFFERENTIAL,
    _maybe_wrong,
    assert_agree,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("case", CARRIER_INVALID_CASES, ids=lambda c: c.id)
def test_agree_on_the_invalid_carrier_corpus(case: Case, carrier_trunks: Trunks) -> None:
    assert_agree(case.build(), carrier_trunks)


@pytest.mark.parametrize("name", sorted(CARRIER_VALID_SPECS))
def test_agree_on_the_valid_carrier_corpus(name: str, carrier_trunks: Trunks) -> None:
    assert assert_agree(carrier_manifest(CARRIER_VALID_SPECS[name]), carrier_trunks)


_text = st.text(alphabet=string.ascii_letters + " \n\t#;()—é", max_size=12)
_E164S = ["+13125550147", "+13125550148", "13125550147", "+03125550147", "+123456",
          "+1234567", "+123456789012345", "+1234567890123456", "+1 312", "+13125550147\n"]
_KEYS = ["13125550147", "13125550148", "+13125550147", "100", "", "a b", "a\tb", "0" * 64,
         "0" * 65, "x;y", "é"]

_gateway = st.fixed_dictionaries(
    {"host": st.sampled_from(_TRICKY_ADDRESSES) | st.text(alphabet="ab1.:-", max_size=10)},
    optional={"port": _maybe_wrong(st.sampled_from([1, 5060, 5061, 65535, 0, 65536, -1])),
              "priority": _maybe_wrong(st.integers(-1, 1002))},
)
_acl = st.fixed_dictionaries({"cidr": st.sampled_from(_TRICKY_IPS) | st.text(
    alphabet="0123456789abcdef.:/%", max_size=14)})
_number = st.fixed_dictionaries(
    {"e164": _maybe_wrong(st.sampled_from(_E164S))},
    optional={"destinationKey": _maybe_wrong(st.sampled_from(_KEYS)),
              "agentId": _maybe_wrong(st.sampled_from(["agent-1", "", "a" * 129, "a\nb"]))},
)
_secret_ref = st.fixed_dictionaries(
    {}, optional={"name": st.sampled_from(["s", "twilio-sip", "Bad_Name", "a.b", ""]),
                  "key": st.sampled_from(["password", "pass.word", "bad key", ""])})

_WILD: dict[str, st.SearchStrategy[Any]] = {
    "name": _maybe_wrong(_text),
    "description": _maybe_wrong(_text),
    "preset": _maybe_wrong(st.sampled_from(["telnyx", "twilio", "plivo", "Telnyx", "other"])),
    "isActive": _maybe_wrong(st.booleans()),
    "inboundEnabled": _maybe_wrong(st.booleans()),
    "outboundEnabled": _maybe_wrong(st.booleans()),
    "channels": _maybe_wrong(st.integers(-1, 1001)),
    "defaultInboundAgentId": _maybe_wrong(st.sampled_from(["agent-1", "", "a\nb"])),
    "authUsername": _maybe_wrong(st.sampled_from(["user", "my user", "u@h", "a;b", ""])),
    "authPasswordSecretRef": _secret_ref,
    "apiTokenSecretRef": _secret_ref,
    "transport": _maybe_wrong(st.sampled_from(["udp", "tcp", "tls", "transport-udp"])),
    "codecs": st.lists(st.sampled_from(["PCMU", "PCMA", "pcmu", "G729"]), max_size=3)
    | _maybe_wrong(st.just(["PCMA", "PCMU"])),
    "outboundLeadingPlusEnabled": _maybe_wrong(st.booleans()),
    "gateways": st.lists(_gateway, max_size=4) | st.just(None),
    "ipAcls": st.lists(_acl, max_size=3),
    "numbers": st.lists(_number, max_size=3),
    "deletionPolicy": _maybe_wrong(st.sampled_from(["Delete", "Orphan", "Retain"])),
}
_wild_spec = st.fixed_dictionaries({}, optional=_WILD)

# Mostly valid trunks, so agreement on defaults is exercised as much as rejection.
_VALID_HOSTS = ["sip.telnyx.com", "a", "1.2.3.4", "::1", "2001:db8::1", "A.EXAMPLE.COM",
                "21467306465797919.zt.plivo.com", "a" * 63]
_VALID_ACLS = ["1.2.3.4", "1.2.3.4/32", "1.2.3.5", "10.0.0.1/8", "11.0.0.0/8", "0.0.0.0/0",
               "::/0", "2001:db8::/32", "FE80::1", "fe80::2/128"]
_valid_spec = st.fixed_dictionaries({}, optional={
    "name": st.text(alphabet=string.ascii_letters + " ()-—é", min_size=1, max_size=20),
    "preset": st.sampled_from(["telnyx", "twilio", "plivo", "custom"]),
    "channels": st.integers(1, 1000),
    "isActive": st.booleans(),
    "transport": st.sampled_from(["udp", "tcp"]),
    "codecs": st.sampled_from([["PCMU"], ["PCMA"], ["PCMA", "PCMU"], ["PCMU", "PCMA"]]),
    "gateways": st.lists(st.fixed_dictionaries(
        {"host": st.sampled_from(_VALID_HOSTS)},
        optional={"port": st.integers(1, 65535), "priority": st.integers(1, 1000)}),
        max_size=3),
    "ipAcls": st.lists(st.sampled_from(_VALID_ACLS), max_size=3).map(
        lambda cidrs: [{"cidr": c} for c in cidrs]),
    "numbers": st.lists(st.fixed_dictionaries(
        {"e164": st.sampled_from([*_E164S[:2], "+918035735900", "+14155550123"])},
        optional={"destinationKey": st.sampled_from(["100", "101", "13125550147"])}),
        max_size=2),
    "deletionPolicy": st.sampled_from(["Delete", "Orphan"]),
}) | st.just({"authUsername": "user", "authPasswordSecretRef": {"name": "s"}})


def _with_one_field_changed(spec: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(_WILD)).flatmap(
        lambda name: _WILD[name].map(lambda value: {**spec, name: value}))


_spec = _valid_spec | _valid_spec.flatmap(_with_one_field_changed) | _wild_spec


@DIFFERENTIAL
@given(spec=_spec)
def test_agree_on_generated_carrier_manifests(spec: dict[str, Any],
                                              carrier_trunks: Trunks) -> None:
    event("accepted" if assert_agree(carrier_manifest(spec), carrier_trunks) else "rejected")
