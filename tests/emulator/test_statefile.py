"""The state file without a server: snapshot, appended changes, damage, compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bolna_emulator import statefile
from bolna_emulator.statefile import StateFile
from bolna_emulator.store import Store

from .bodies import PLIVO_IP_BASED, TWILIO_PASSWORD, TWILIO_USERPASS, minimal


def _loaded(path: Path) -> Store:
    store = Store()
    StateFile(path).load(store)
    return store


def _changes(store: Store, state: StateFile) -> None:
    account = store.account("acct")
    trunk = account.create_trunk(TWILIO_USERPASS)
    state.record_change(store, "acct", trunk["id"])
    number = account.add_number(trunk["id"], {"phone_number": "911"})
    state.record_change(store, "acct", trunk["id"])
    account.remove_number(trunk["id"], number["id"])
    state.record_change(store, "acct", trunk["id"])
    gone = account.create_trunk(PLIVO_IP_BASED | {"phone_numbers": [{"phone_number": "912"}]})
    state.record_change(store, "acct", gone["id"])
    account.delete_trunk(gone["id"])
    state.record_change(store, "acct", gone["id"])
    other = store.account("other").create_trunk(minimal())
    state.record_change(store, "other", other["id"])


def test_changes_replay_to_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store()
    state = StateFile(path)
    state.snapshot(store)
    _changes(store, state)
    state.close()
    assert len(path.read_text().splitlines()) == 7
    assert _loaded(path).to_admin_view() == store.to_admin_view()
    assert TWILIO_PASSWORD in path.read_text()


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert _loaded(tmp_path / "none.json").accounts == {}


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = Store()
    state = StateFile(path)
    state.snapshot(store)
    trunk = store.account("a").create_trunk(minimal("Whole"))
    state.record_change(store, "a", trunk["id"])
    state.close()
    expected = store.to_admin_view()
    with path.open("a") as stream:
        stream.write('{"account": "a", "trunk_id": "X", "tru')
    assert _loaded(path).to_admin_view() == expected


def test_damage_before_the_last_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "accounts": {}}\n{broken\n{"account": "a"}\n')
    with pytest.raises(ValueError, match="line 2"):
        _loaded(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        _loaded(path)
    path.write_text(json.dumps({"version": 2, "accounts": {}}) + "\n")
    with pytest.raises(ValueError, match="version 1"):
        _loaded(path)


def test_compaction_rewrites_one_snapshot(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statefile, "COMPACT_AFTER", 3)
    path = tmp_path / "state.json"
    store = Store()
    state = StateFile(path)
    state.snapshot(store)
    for index in range(4):
        trunk = store.account("a").create_trunk(minimal(f"T{index}"))
        state.record_change(store, "a", trunk["id"])
    assert len(path.read_text().splitlines()) == 1
    trunk = store.account("a").create_trunk(minimal("T4"))
    state.record_change(store, "a", trunk["id"])
    state.close()
    assert len(path.read_text().splitlines()) == 2
    assert _loaded(path).to_admin_view() == store.to_admin_view()
