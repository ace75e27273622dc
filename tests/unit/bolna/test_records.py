"""A trunk list split into each record's own JSON (what the drift snapshot keeps)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.bolna.records import NotATrunkListError, split_trunk_list

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
_records = st.lists(
    st.builds(lambda trunk_id, fields: {**fields, "id": trunk_id},
              st.text(min_size=1, max_size=12),
              st.dictionaries(st.sampled_from(["name", "gateways", "phone_numbers", "ü"]),
                              _json, max_size=3)),
    max_size=6)


@given(_records, st.sampled_from([None, 0, 2]), st.booleans())
def test_every_record_comes_back_whole_and_in_order(records: list[dict[str, Any]],
                                                    indent: int | None,
                                                    ascii_only: bool) -> None:
    body = json.dumps(records, indent=indent, ensure_ascii=ascii_only).encode()
    listed = split_trunk_list(body, needs=("phone_numbers",))
    assert [trunk.id for trunk in listed] == [record["id"] for record in records]
    assert [json.loads(trunk.record) for trunk in listed] == records
    assert [trunk.complete for trunk in listed] == [
        record.get("phone_numbers") is not None for record in records]


def test_equal_records_are_equal_bytes_and_a_changed_one_is_not() -> None:
    before = split_trunk_list(b'[{"id":"a","port":5060},{"id":"b","port":5060}]')
    after = split_trunk_list(b'[ {"id":"a","port":5060}, {"id":"b","port":5061} ]')
    assert before[0].record == after[0].record
    assert before[1].record != after[1].record


def test_a_wrapped_list_is_read_under_its_key() -> None:
    body = json.dumps({"count": 2, "trunks": [{"id": "a", "numbers": []}, {"id": "b"}]})
    listed = split_trunk_list(body.encode(), needs=("numbers",), wrappers=("trunks", "data"))
    assert [(t.id, json.loads(t.record), t.complete) for t in listed] == [
        ("a", {"id": "a", "numbers": []}, True), ("b", {"id": "b"}, False)]


@pytest.mark.parametrize(("body", "where"), [
    (b'{"trunks": []}', r"\(root\): list_type"),  # a wrapper where none is expected
    (b'{"items": 3}', r"\(root\): list_type"),
    (b'"secret-looking-value"', r"\(root\): list_type"),
    (b'[{"id": "a"}, 7]', r"1: dict_type"),
    (b'[{"name": "no id"}]', r"0.id: missing"),
    (b'[{"id": 12}]', r"0.id: string_type"),
    (b'[{"id": "a"} {"id": "b"}]', r"1: not JSON"),
    (b'[{"id": "a"}, {"id": "b"', r"1: not JSON"),
    (b'[{"id": "a"}] trailing', r"extra data"),
    (b'\xff[]', r"not UTF-8"),
])
def test_a_body_that_is_not_a_trunk_list_says_where(body: bytes, where: str) -> None:
    with pytest.raises(NotATrunkListError, match=where) as caught:
        split_trunk_list(body, wrappers=("trunks",) if b"items" in body else ())
    assert "secret-looking-value" not in str(caught.value), "never a value"


def test_an_empty_list_is_no_trunks() -> None:
    assert split_trunk_list(b" [ ] \n") == []
