"""A trunk list as each record's own JSON, for a snapshot that parses one trunk at a time.

The drift loop reads every trunk of an account once per interval and, for nearly all of
them, only needs to know that the record is the same as last time. Parsing the whole
list into models costs about 50 us and 8 to 13 KB of live objects per trunk (each pydantic
model carries its own field set, each timestamp a datetime). Kept as the record's own
bytes, cut out of the answer, it is about 1.2 KB, compared as bytes, and parsed into a
model only for the trunks a full check looks at.

The array is walked one record at a time (``json.JSONDecoder.raw_decode``), so reading a
list of 10,000 trunks holds one record's objects at once, not the whole list's. Only
the ``id`` of each record, and whether the fields a full look needs are there, are read
now; a record whose other fields break the schema fails when that trunk is parsed, as
``UnexpectedResponse`` for that trunk alone, not for the whole account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pydantic_core

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class ListedTrunk:
    """One trunk of a list answer."""

    id: str
    record: bytes
    """The record's JSON: equal bytes are an equal trunk."""
    complete: bool
    """Whether every field the caller ``needs`` is present and not null."""


class NotATrunkListError(ValueError):
    """The answer is not a list of trunk records; says where, never a value."""


def split_trunk_list(body: bytes, *, needs: tuple[str, ...] = (),
                     wrappers: tuple[str, ...] = ()) -> list[ListedTrunk]:
    """Each record of a JSON array of trunks (or of an object holding that array under
    the first of ``wrappers`` present), with its ID. ``NotATrunkListError`` if it is neither."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise NotATrunkListError("(root): not UTF-8") from None
    at = _SPACE.match(text).end()  # type: ignore[union-attr]
    if text.startswith("{", at) and wrappers:
        return _wrapped(text, needs, wrappers)
    if not text.startswith("[", at):
        raise NotATrunkListError("(root): list_type")
    listed: list[ListedTrunk] = []
    at = _skip_space(text, at + 1)
    if text.startswith("]", at):
        return _end(text, at, listed)
    while True:
        try:
            record, end = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as error:
            raise NotATrunkListError(f"{len(listed)}: not JSON ({error.msg})") from None
        listed.append(_listed(len(listed), record, text[at:end].encode(), needs))
        at = _skip_space(text, end)
        if text.startswith(",", at):
            at = _skip_space(text, at + 1)
        elif text.startswith("]", at):
            return _end(text, at, listed)
        else:
            raise NotATrunkListError(f"{len(listed)}: not JSON (expected ',' or ']')")


def _skip_space(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def _end(text: str, at: int, listed: list[ListedTrunk]) -> list[ListedTrunk]:
    if _skip_space(text, at + 1) != len(text):
        raise NotATrunkListError("(root): not JSON (extra data after the array)")
    return listed


def _wrapped(text: str, needs: tuple[str, ...], wrappers: tuple[str, ...]
             ) -> list[ListedTrunk]:
    """A wrapper object: decoded whole (rare), each record written out again."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotATrunkListError(f"(root): not JSON ({error.msg})") from None
    items = next((whole[key] for key in wrappers if isinstance(whole.get(key), list)), None)
    if items is None:
        raise NotATrunkListError("(root): list_type")
    return [_listed(index, item, pydantic_core.to_json(item), needs)
            for index, item in enumerate(items)]


def _listed(index: int, record: Any, raw: bytes, needs: tuple[str, ...]) -> ListedTrunk:
    if not isinstance(record, dict):
        raise NotATrunkListError(f"{index}: dict_type")
    trunk_id = record.get("id")
    if not isinstance(trunk_id, str):
        raise NotATrunkListError(f"{index}.id: {'missing' if trunk_id is None else 'string_type'}")
    return ListedTrunk(trunk_id, raw, all(record.get(field) is not None for field in needs))
