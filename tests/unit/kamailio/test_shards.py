"""The lists split across ConfigMaps and joined again (kamailio/shards.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.kamailio.shards import (
    ADDRESS_KEY,
    DISPATCHER_KEY,
    MANIFEST_KEY,
    Manifest,
    TooLarge,
    join,
    shard_name,
    split,
)

# At most 40 characters of at most two bytes each: 81 bytes with the newline.
LINE = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=0,
               max_size=40).map(lambda text: text + "\n")
LIST = st.lists(LINE, max_size=60).map("".join)


@given(LIST, LIST, st.integers(min_value=81, max_value=400))
def test_split_then_join_gives_the_lists_back(dispatcher: str, addresses: str,
                                              capacity: int) -> None:
    shards = split(dispatcher, addresses, capacity=capacity, max_shards=10_000)
    assert join(shards[0], list(shards[1:])) == (dispatcher, addresses)
    for shard in shards:
        # Every shard holds whole lines, within the capacity.
        listed = shard[DISPATCHER_KEY] + shard[ADDRESS_KEY]
        assert len(listed.encode()) <= capacity
        assert all(value.endswith("\n") or value == ""
                   for key, value in shard.items() if key != MANIFEST_KEY)
    assert Manifest.load(shards[0][MANIFEST_KEY]).shards == len(shards)
    assert all(MANIFEST_KEY not in shard for shard in shards[1:])


def test_lists_that_fit_are_one_configmap_with_the_keys_a_volume_shows() -> None:
    shards = split("1 sip:a\n", "1 10.0.0.1 32\n")
    assert len(shards) == 1
    assert shards[0][DISPATCHER_KEY] == "1 sip:a\n"
    assert shards[0][ADDRESS_KEY] == "1 10.0.0.1 32\n"


def test_too_many_shards_is_refused_naming_the_setting() -> None:
    with pytest.raises(TooLarge, match="--list-shards"):
        split("x" * 30 + "\n" + "y" * 30 + "\n", "", capacity=40, max_shards=1)


def test_a_line_longer_than_a_shard_is_refused() -> None:
    with pytest.raises(TooLarge, match=r"a line of dispatcher\.list"):
        split("x" * 100 + "\n", "", capacity=40, max_shards=10)


def test_a_mix_of_two_writes_is_not_joined() -> None:
    old = split("a" * 30 + "\n" + "b" * 30 + "\n", "", capacity=40, max_shards=4)
    new = split("c" * 30 + "\n" + "d" * 30 + "\n", "", capacity=40, max_shards=4)
    assert join(new[0], [old[1]]) is None
    assert join(old[0], [new[1]]) is None
    assert join(new[0], [None]) is None  # a shard not there
    assert join(new[0], []) is None  # fewer shards than the manifest says
    assert join(new[0], [new[1]]) == ("c" * 30 + "\n" + "d" * 30 + "\n", "")


def test_shard_zero_without_a_manifest_is_taken_as_it_is() -> None:
    assert join({DISPATCHER_KEY: "1 sip:a\n"}, []) == ("1 sip:a\n", "")


def test_a_broken_manifest_is_an_error_that_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"lists\.json"):
        join({MANIFEST_KEY: "{", DISPATCHER_KEY: ""}, [])
    with pytest.raises(ValueError, match="shards"):
        Manifest.load('{"shards": 0, "dispatcherSha256": "", "addressSha256": ""}')


def test_shard_names() -> None:
    assert [shard_name("lists", i) for i in range(3)] == ["lists", "lists-1", "lists-2"]
