"""Python twins of the Kubernetes CEL functions that the SipTrunk CRD's rules call.

The apiserver evaluates the CRD's ``x-kubernetes-validations`` in CEL with the Kubernetes
extension libraries (``isIP``, ``isCIDR``, ``matches``, ``lowerAscii``, ...). The offline
validator and the operator cannot run the apiserver, so each function a rule needs has a
twin here that accepts exactly the same inputs. The twins follow the Go code they stand
for (``net/netip`` as wrapped by ``k8s.io/apiserver/pkg/cel/library``), not Python's more
forgiving ``ipaddress`` defaults: no zones, no IPv4-mapped IPv6, no leading zeros in a
prefix length, no netmask form. ``tests/integration/test_differential.py`` holds the
twins to agreement with a real apiserver.
"""

from __future__ import annotations

import ipaddress
import re

_PREFIX_BITS = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse like ``isIP``: a plain IPv4 or IPv6 address, or None.

    Python accepts a ``%zone`` suffix and IPv4-mapped IPv6 (``::ffff:1.2.3.4``); the
    Kubernetes library rejects both, so this does too.
    """
    if "%" in text or not text.isascii():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None
    return address


def is_ip(text: str) -> bool:
    """``isIP(text)``: true for a plain IPv4 or IPv6 address."""
    return parse_ip(text) is not None


def is_cidr(text: str) -> bool:
    """``isCIDR(text)``: true for ``address/bits``; host bits may be set, as in Go."""
    address_text, slash, bits = text.rpartition("/")
    if not slash or not _PREFIX_BITS.fullmatch(bits):
        return False
    address = parse_ip(address_text)
    return address is not None and int(bits) <= address.max_prefixlen


def is_ip_or_cidr(text: str) -> bool:
    """The rule for ``ipIdentifiers[].ipAddress``: an address or a CIDR block."""
    return is_ip(text) or is_cidr(text)


def ip_family(text: str) -> int:
    """``ip(text).family()``: 4 or 6. ``ip()`` fails on what ``isIP`` rejects; so does this."""
    address = parse_ip(text)
    if address is None:
        raise ValueError(f"ip(): not an IP address: {text!r}")
    return address.version


def masked_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``cidr(text).masked()``: the block with its host bits cleared. Compared by value,
    as CEL compares two ``net.CIDR`` values. ``cidr()`` fails on what ``isCIDR`` rejects;
    so does this."""
    if not is_cidr(text):
        raise ValueError(f"cidr(): not a CIDR block: {text!r}")
    return ipaddress.ip_network(text, strict=False)


def matches(text: str, pattern: str) -> bool:
    """``text.matches(pattern)``: RE2 semantics, a search anchored only by ``^`` and ``$``.

    Python's ``$`` also matches before a trailing newline, which RE2's never does, so a
    final ``$`` becomes ``\\Z``. Patterns used with it are ASCII-only.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.search(pattern, text) is not None
