"""How answers are shaped: sparse answers, left-out fields, numbers that appear late.

Bolna's OpenAPI marks no response field as required, and its setup guide's example
answers leave many out: the ip-based example has no ``allow``, ``disallow``,
``qualify_frequency``, ``direct_media``, ``rtp_symmetric``, ``force_rport`` or
``outbound_leading_plus_enabled``; the TLS one has none of those, nor ``phone_numbers``,
``ip_identifiers``, ``auth_username`` (on a userpass trunk) or ``description``; its
number example has no ``name`` though one was sent. Bolna's own tooling also records
that a number just added can be missing from reads for a few seconds, and that the
numbers list can answer 500 meanwhile. A client must read every such answer as
"unknown", never as "empty" or "as asked"; these switches let tests show it does.

The store always produces the full answer; this module only takes away from it, and
only in what is answered (the admin API's state view shows everything).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .faults import FaultSettings

__all__ = ["SPARSE_NUMBER_FIELDS", "SPARSE_TRUNK_FIELDS", "LateNumbers", "shape_number",
           "shape_trunk", "trunk_shows"]

JsonObject = dict[str, Any]

SPARSE_TRUNK_FIELDS = (
    "id", "name", "provider", "auth_type", "gateways", "transport", "media_encryption",
    "media_encryption_optimistic", "inbound_enabled", "is_active", "created_at",
    "updated_at",
)
"""The fields of the setup guide's TLS + SDES example answer, its sparsest."""

SPARSE_NUMBER_FIELDS = (
    "id", "phone_number", "byot_trunk_id", "telephony_provider", "deleted", "created_at",
    "updated_at",
)
"""The fields of the setup guide's add-number example answer (no ``name``)."""


def _keep(body: Mapping[str, Any], sparse: tuple[str, ...] | None,
          omit: Iterable[str]) -> JsonObject:
    left_out = set(omit)
    return {key: value for key, value in body.items()
            if key not in left_out and (sparse is None or key in sparse)}


def trunk_shows(settings: FaultSettings, field: str) -> bool:
    """Whether trunk answers carry ``field`` under these settings."""
    if field in settings.omit_trunk_fields:
        return False
    return not settings.sparse_answers or field in SPARSE_TRUNK_FIELDS


def shape_number(number: Mapping[str, Any], settings: FaultSettings) -> JsonObject:
    """A number answer as these settings have it."""
    return _keep(number, SPARSE_NUMBER_FIELDS if settings.sparse_answers else None,
                 settings.omit_number_fields)


def shape_trunk(trunk: Mapping[str, Any], settings: FaultSettings) -> JsonObject:
    """A trunk answer as these settings have it (its numbers shaped too, when shown)."""
    shaped = _keep(trunk, SPARSE_TRUNK_FIELDS if settings.sparse_answers else None,
                   settings.omit_trunk_fields)
    if isinstance(shaped.get("phone_numbers"), list):
        shaped["phone_numbers"] = [shape_number(number, settings)
                                   for number in shaped["phone_numbers"]]
    return shaped


@dataclass
class _Late:
    shown_from: float
    reads_left: int


class LateNumbers:
    """Numbers just added that reads do not show yet.

    A number is registered when it is added (with the settings of that moment) and
    hidden from every answer that would show it until ``late_numbers_seconds`` have
    passed and ``late_numbers_reads`` such answers have left it out. Deleting it ends
    its wait. Kept in memory only: a restart shows everything.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._late: dict[str, _Late] = {}

    def added(self, number_ids: Iterable[str], settings: FaultSettings) -> None:
        if settings.late_numbers_seconds <= 0 and settings.late_numbers_reads <= 0:
            return
        shown_from = self._clock() + settings.late_numbers_seconds
        for number_id in number_ids:
            self._late[number_id] = _Late(shown_from, settings.late_numbers_reads)

    def forget(self, number_id: str) -> None:
        self._late.pop(number_id, None)

    def clear(self) -> None:
        self._late.clear()

    def pending(self) -> list[str]:
        """Ids of the numbers registered and not shown yet."""
        return list(self._late)

    def filter(self, numbers: Iterable[Mapping[str, Any]]) -> tuple[list[JsonObject], int]:
        """The numbers an answer shows now, and how many it leaves out. Each number left
        out counts this answer as one of its reads."""
        now = self._clock()
        shown: list[JsonObject] = []
        hidden = 0
        for number in numbers:
            late = self._late.get(str(number.get("id")))
            if late is not None:
                if now >= late.shown_from and late.reads_left <= 0:
                    del self._late[str(number.get("id"))]
                else:
                    late.reads_left = max(0, late.reads_left - 1)
                    hidden += 1
                    continue
            shown.append(dict(number))
        return shown, hidden
