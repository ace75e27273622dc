"""The Python twins of Kubernetes' CEL IP functions accept what the Go code accepts."""

from __future__ import annotations

import pytest

from bolna_sip_operator.model.cel_library import (
    ip_family,
    is_cidr,
    is_ip,
    masked_cidr,
    matches,
)


@pytest.mark.parametrize("text", [
    "203.0.113.10", "0.0.0.0", "2001:db8::1", "::1", "::", "fe80::1", "::1.2.3.4",
])
def test_is_ip_accepts_plain_addresses(text: str) -> None:
    assert is_ip(text)


@pytest.mark.parametrize("text", [
    "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/32", "fe80::1%eth0",
    "::ffff:1.2.3.4", "[::1]", "2001:db8::1::2", "example.com", " 1.2.3.4", "1.2.3.4\n",
])
def test_is_ip_rejects_what_kubernetes_rejects(text: str) -> None:
    assert not is_ip(text)


@pytest.mark.parametrize("text", [
    "10.0.0.0/8", "10.0.0.1/8", "15.207.90.192/31", "0.0.0.0/0", "2001:db8::/32",
    "::/0", "1.2.3.4/32",
])
def test_is_cidr_accepts_prefixes_host_bits_and_all(text: str) -> None:
    assert is_cidr(text)


@pytest.mark.parametrize("text", [
    "10.0.0.0", "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/-1",
    "10.0.0.0/255.0.0.0", "2001:db8::/129", "fe80::%eth0/64", "::ffff:10.0.0.0/104",
    "10.0.0.0/", "/8", "10.0.0.0/8/8",
])
def test_is_cidr_rejects_what_kubernetes_rejects(text: str) -> None:
    assert not is_cidr(text)


def test_matches_dollar_does_not_match_before_a_trailing_newline() -> None:
    assert matches("abc", "^[a-z]+$")
    assert not matches("abc\n", "^[a-z]+$")
    assert matches("xabcx", "abc")


@pytest.mark.parametrize(("text", "masked"), [
    ("10.1.2.3/8", "10.0.0.0/8"), ("10.0.0.0/8", "10.0.0.0/8"), ("1.2.3.4/32", "1.2.3.4/32"),
    ("0.0.0.0/0", "0.0.0.0/0"), ("FE80::1/64", "fe80::/64"), ("2001:db8::1/128", "2001:db8::1/128"),
])
def test_masked_cidr_clears_host_bits_and_compares_by_value(text: str, masked: str) -> None:
    assert str(masked_cidr(text)) == masked
    assert masked_cidr(text) == masked_cidr(masked)


@pytest.mark.parametrize("text", ["10.0.0.0", "10.0.0.0/08", "::ffff:10.0.0.0/104", "x"])
def test_masked_cidr_fails_where_cidr_fails(text: str) -> None:
    with pytest.raises(ValueError, match="cidr"):
        masked_cidr(text)


def test_ip_family() -> None:
    assert ip_family("203.0.113.10") == 4
    assert (ip_family("::1"), ip_family("::1.2.3.4")) == (6, 6)
    with pytest.raises(ValueError, match="ip"):
        ip_family("::ffff:1.2.3.4")
