"""When a replica of the operator must leave the SIP edge to another one."""

from __future__ import annotations

import datetime

from bolna_sip_operator.peering import outranked, random_priority

NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


def _peer(priority: int, seconds_ago: float, lifetime: int = 60) -> dict[str, object]:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_a_live_higher_peer_outranks_and_a_lower_one_does_not() -> None:
    assert outranked({"other": _peer(20, 5)}, "me", 10, NOW)
    assert not outranked({"other": _peer(5, 5)}, "me", 10, NOW)


def test_a_tie_outranks_everyone_as_kopf_pauses_both() -> None:
    assert outranked({"other": _peer(10, 5), "me": _peer(10, 1)}, "me", 10, NOW)


def test_our_own_entry_and_dead_peers_do_not_count() -> None:
    peers = {"me": _peer(10, 1), "killed": _peer(99, 61), "gone": _peer(99, 300, 120)}
    assert not outranked(peers, "me", 10, NOW)


def test_malformed_entries_are_ignored() -> None:
    peers = {"a": "not a dict", "b": {"priority": 99}, "c": {"lastseen": "yesterday"}}
    assert not outranked(peers, "me", 10, NOW)


def test_naive_timestamps_are_utc() -> None:
    seen = (NOW - datetime.timedelta(seconds=5)).replace(tzinfo=None).isoformat()
    assert outranked({"other": {"priority": 20, "lastseen": seen}}, "me", 10, NOW)


def test_random_priorities_are_positive_and_spread() -> None:
    drawn = {random_priority() for _ in range(100)}
    assert min(drawn) >= 1
    assert len(drawn) > 95
