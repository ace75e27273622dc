"""Kamailio flags to gateway health; never Healthy on a fresh reload alone."""

from __future__ import annotations

import pytest

from bolna_sip_operator.kamailio.health import gateway_health, healthy_count


@pytest.mark.parametrize(("flags", "sampled", "health"), [
    ("AP", True, "Healthy"), ("AP", False, "Probing"), ("TP", True, "Probing"),
    ("IP", True, "Unhealthy"), ("IX", False, "Unhealthy"), ("AX", False, "NotProbed"),
    ("DX", False, "Disabled"), ("DP", True, "Disabled"), ("", False, "Unknown"),
    ("Z?", False, "Unknown"),
])
def test_flags_map_to_health(flags: str, sampled: bool, health: str) -> None:
    assert gateway_health(flags, sampled) == health


def test_healthy_count_is_the_printer_column() -> None:
    assert healthy_count(["Healthy", "Unhealthy", "Healthy"]) == "2/3"
    assert healthy_count([]) == "0/0"
