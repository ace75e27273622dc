"""Kamailio's view of a gateway, mapped to the health a SipTrunk's status reports.

``dispatcher.list`` gives each destination two letters: A active, T trying (failing,
still selected), I inactive, D disabled; then P probing or X not probing. A reload
resets every entry to its file flags with counters and latency zeroed, so a dead
gateway reads ``AP`` until its next probes fail. A gateway is therefore reported
Healthy only once Kamailio has a latency sample for it (a probe was answered), never on
the strength of a fresh reload alone; until then it is Probing.
"""

from __future__ import annotations

from typing import Literal

Health = Literal["Healthy", "Unhealthy", "Probing", "NotProbed", "Disabled", "Draining",
                 "Unknown"]


def gateway_health(flags: str, latency_samples: bool) -> Health:
    """Map Kamailio's flags (``AP``, ``IP``, ...) to a gateway's health."""
    state, probing = (flags[:1], flags[1:2]) if len(flags) >= 2 else (flags[:1], "")
    if state == "D":
        return "Disabled"
    if state == "I":
        return "Unhealthy"
    if state == "T":
        return "Probing"
    if state == "A" and probing == "X":
        return "NotProbed"
    if state == "A" and probing == "P":
        return "Healthy" if latency_samples else "Probing"
    return "Unknown"


def healthy_count(healths: list[Health]) -> str:
    """``healthy/total`` for the GATEWAYS printer column."""
    return f"{sum(1 for h in healths if h == 'Healthy')}/{len(healths)}"
