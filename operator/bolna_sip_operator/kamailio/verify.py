"""Does a Kamailio replica hold exactly what was written? Pure comparison.

Kamailio skips a dispatcher line it cannot use (an unresolvable host, a bad URI) with a
log line while the reload still answers "Ok", so a reload's answer proves nothing. What
``dispatcher.list`` and the permissions dumps report is compared with what was rendered;
any difference is a sentence naming the destination.
"""

from __future__ import annotations

from .render import FLAG_DISABLED, FLAG_PROBING, AddressEntry, Destination
from .rpc import ListedDestination


def _flags_agree(written: int, reported: str) -> bool:
    """Whether Kamailio's state letters fit the written flags.

    kamailio.cfg probes every destination that is not disabled (``ds_probing_mode`` 1),
    and Kamailio sets the probing bit on a destination once its first OPTIONS is sent,
    written flag 8 or not: an unprobed destination shows ``X`` only until the first ping
    round after a reload, ``P`` after it. Requiring ``X`` would call every such trunk
    unloaded ten seconds after a reload, until the next one.
    """
    state, probing = reported[:1], reported[1:2]
    if written & FLAG_DISABLED:
        return state == "D"
    wants_probing = bool(written & FLAG_PROBING)
    return state in ("A", "T", "I") and probing in (("P",) if wants_probing else ("P", "X"))


def dispatcher_differences(written: list[Destination], listed: list[ListedDestination]
                           ) -> list[str]:
    """Sentences for every destination missing, extra or different; [] when equal."""
    reported = {(d.set_id, d.uri): d for d in listed}
    expected = {(d.set_id, d.uri): d for d in written}
    problems = [f"set {s} {uri}: written but not loaded (Kamailio skipped the line; see "
                "its log)" for (s, uri) in sorted(expected.keys() - reported.keys())]
    problems += [f"set {s} {uri}: loaded but not written" for (s, uri)
                 in sorted(reported.keys() - expected.keys())]
    for key in sorted(expected.keys() & reported.keys()):
        want, have = expected[key], reported[key]
        if want.priority != have.priority:
            problems.append(f"set {key[0]} {key[1]}: priority {have.priority}, "
                            f"written {want.priority}")
        if want.attrs != have.attrs:
            problems.append(f"set {key[0]} {key[1]}: attrs {have.attrs!r}, written "
                            f"{want.attrs!r}")
        if not _flags_agree(want.flags, have.flags):
            problems.append(f"set {key[0]} {key[1]}: flags {have.flags}, written "
                            f"{want.flags}")
    return problems


def address_differences(written: list[AddressEntry], reported: list[tuple[int, str, int]]
                        ) -> list[str]:
    """Sentences for every permissions entry missing or extra; [] when equal."""
    def normal(ip: str) -> str:
        return ip.strip("[]").lower()

    expected = {(a.group, normal(a.ip), a.mask) for a in written}
    loaded = {(g, normal(ip), mask) for g, ip, mask in reported}
    return ([f"address group {g} {ip}/{m}: written but not loaded" for g, ip, m
             in sorted(expected - loaded)]
            + [f"address group {g} {ip}/{m}: loaded but not written" for g, ip, m
               in sorted(loaded - expected)])
