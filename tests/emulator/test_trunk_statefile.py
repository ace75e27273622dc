"""``/trunk`` state in the ``--state`` file: replayed changes, restarts, kills, old files."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from bolna_emulator import statefile
from bolna_emulator.process import EmulatorProcess
from bolna_emulator.statefile import StateFile
from bolna_emulator.store import Store
from bolna_emulator.trunk_store import TrunkStore

from .bodies import minimal
from .trunk_contract import TRUNKS, assert_message

PASSWORD = "canary-trunk-password-0d9e"


def _loaded(path: Path) -> tuple[Store, TrunkStore]:
    store, trunks = Store(), TrunkStore()
    StateFile(path, trunks).load(store)
    return store, trunks


def _changes(store: Store, trunks: TrunkStore, state: StateFile) -> None:
    account = trunks.account("acct")
    trunk = account.create_trunk({"name": "Kept", "auth_username": "u",
                                  "auth_password": PASSWORD})
    state.record_trunk_change(store, account.change_record(trunk.id))
    account.add_gateway(trunk.id, {"host": "sip.example.com"})
    state.record_trunk_change(store, account.change_record(trunk.id))
    account.add_ip_acl(trunk.id, {"cidr": "198.51.100.7"})
    state.record_trunk_change(store, account.change_record(trunk.id))
    number = account.add_number(trunk.id, {"e164": "+12025550143", "destination_key": "1"})
    state.record_trunk_change(store, account.change_record(trunk.id))
    account.remove_number(trunk.id, number.id)
    state.record_trunk_change(store, account.change_record(trunk.id))
    for _ in range(3):
        account.record_call(trunk, {"direction": "outbound", "answered": False})
        state.record_trunk_change(store, account.change_record(trunk.id))
    account.set_active_calls(trunk, {"active_calls": 2})
    state.record_trunk_change(store, account.change_record(trunk.id))
    account.set_agents({"agents": ["agent-1"]})
    state.record_trunk_change(store, account.agents_record())
    gone = account.create_trunk({"name": "Gone"})
    account.add_number(gone.id, {"e164": "+12025550144", "destination_key": "1"})
    state.record_trunk_change(store, account.change_record(gone.id))
    account.delete_trunk(gone.id)
    state.record_trunk_change(store, account.change_record(gone.id))
    legacy = store.account("acct").create_trunk(minimal())
    state.record_change(store, "acct", legacy["id"])


def test_trunk_changes_replay_to_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store, trunks = Store(), TrunkStore()
    state = StateFile(path, trunks)
    state.snapshot(store)
    _changes(store, trunks, state)
    state.close()
    loaded_store, loaded_trunks = _loaded(path)
    assert loaded_trunks.to_admin_view() == trunks.to_admin_view()
    assert loaded_store.to_admin_view() == store.to_admin_view()
    view = loaded_trunks.to_admin_view()["accounts"]["acct"]
    assert [t["health"] for t in view["trunks"]] == ["degraded"]
    assert view["agents"] == ["agent-1"]
    account = loaded_trunks.account("acct")
    added = account.add_number(view["trunks"][0]["id"],
                               {"e164": "+12025550144", "destination_key": "1"})
    assert added.e164 == "+12025550144"


def test_compaction_keeps_the_trunk_state(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statefile, "COMPACT_AFTER", 2)
    path = tmp_path / "state.json"
    store, trunks = Store(), TrunkStore()
    state = StateFile(path, trunks)
    state.snapshot(store)
    _changes(store, trunks, state)
    state.close()
    assert len(path.read_text().splitlines()) <= 3
    assert _loaded(path)[1].to_admin_view() == trunks.to_admin_view()


def test_a_file_from_before_trunk_loads_with_no_trunk_state(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    store = Store()
    StateFile(path).snapshot(store)
    trunk = store.account("a").create_trunk(minimal())
    with path.open("a") as stream:
        stream.write(json.dumps({"account": "a", **store.account("a").change_record(
            trunk["id"])}) + "\n")
    loaded_store, loaded_trunks = _loaded(path)
    assert loaded_trunks.accounts == {}
    assert loaded_store.to_admin_view() == store.to_admin_view()


def test_trunk_state_survives_a_restart_and_a_kill(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with EmulatorProcess(["tok-trunk"], state_file=state_file) as bolna:
        with bolna.client("tok-trunk") as api:
            trunk = api.post(TRUNKS, json={"name": "Kept", "auth_username": "u",
                                           "auth_password": PASSWORD}).json()
            path = f"{TRUNKS}/{trunk['id']}"
            api.post(f"{path}/gateways", json={"host": "sip.example.com", "port": 5080})
            api.post(f"{path}/ip-acls", json={"cidr": "198.51.100.0/28"})
            number = api.post(f"{path}/numbers", json={"e164": "+12025550143",
                                                       "destination_key": "12025550143"})
            api.patch(f"/trunk/numbers/{number.json()['id']}", json={"agent_id": "agent-1"})
            gone = api.post(TRUNKS, json={"name": "Gone"}).json()
            api.delete(f"{TRUNKS}/{gone['id']}")
        for _ in range(3):
            bolna.record_call(trunk["id"], "outbound", False)
        bolna.set_active_calls(trunk["id"], 4)
        bolna.set_agents("tok-trunk", ["agent-1"])
        before = bolna.state()
        bolna.restart()
        assert bolna.state() == before
        pid = bolna.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        bolna.restart()
        assert bolna.state() == before
        with bolna.client("tok-trunk") as api:
            shown = api.get(path).json()
            assert (shown["health"], shown["active_calls"]) == ("degraded", 4)
            assert [n["agent_id"] for n in shown["numbers"]] == ["agent-1"]
            assert len(api.get(f"{path}/calls").json()) == 3
            assert_message(api.post(f"{path}/numbers", json={
                "e164": "+12025550143", "destination_key": "x"}), 409)
            assert_message(api.post(TRUNKS, json={
                "name": "New", "default_inbound_agent_id": "agent-9"}), 422)
            assert_message(api.get(f"{TRUNKS}/{gone['id']}"), 404)
        assert PASSWORD in state_file.read_text()
        assert PASSWORD not in json.dumps(bolna.state()) + bolna.log_text()
        assert "tok-trunk" not in state_file.read_text()
