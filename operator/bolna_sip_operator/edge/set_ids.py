"""Dispatcher set IDs: one per trunk, stable for the life of the object.

A set ID is the trunk's name inside Kamailio (routes pick a set by number), so it must
not move while calls flow: it is kept in ``status.dispatcher.setId`` and read back after
a restart. New trunks get the lowest free number. Two trunks claiming one ID (objects
restored from a backup, say) are told apart by UID order: the first keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def lowest_free(taken: Iterable[int]) -> int:
    """The lowest set ID not in use (set IDs start at 1)."""
    used = set(taken)
    candidate = 1
    while candidate in used:
        candidate += 1
    return candidate


def assign_set_ids(uids: Iterable[str], recorded: Mapping[str, int]) -> dict[str, int]:
    """A set ID for every trunk: its recorded one when free, else the lowest free one."""
    ordered = sorted(uids)
    assigned: dict[str, int] = {}
    taken: set[int] = set()
    for uid in ordered:
        wanted = recorded.get(uid)
        if wanted is not None and wanted >= 1 and wanted not in taken:
            assigned[uid] = wanted
            taken.add(wanted)
    for uid in ordered:
        if uid not in assigned:
            assigned[uid] = lowest_free(taken)
            taken.add(assigned[uid])
    return assigned
