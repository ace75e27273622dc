"""The emulator as a process: the command line, start options, state across restarts."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bolna_emulator import LISTENING_PREFIX, TOKENS_ENV
from bolna_emulator.faults import FaultSettings
from bolna_emulator.process import EmulatorError, EmulatorProcess
from bolna_sip_operator.cli import main

from .bodies import TWILIO_PASSWORD, TWILIO_USERPASS, minimal
from .contract import assert_error

TRUNKS = "/sip-trunks/trunks"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "bolna-state.json"
    with EmulatorProcess(["tok-persist"], state_file=state_file) as bolna:
        with bolna.client("tok-persist") as api:
            kept = api.post(TRUNKS, json={**TWILIO_USERPASS, "phone_numbers": [
                {"phone_number": "919876543210", "name": "Mumbai"}]}).json()
            gone = api.post(TRUNKS, json=minimal("Gone", phone_numbers=[
                {"phone_number": "14155550100"}])).json()
            api.delete(f"{TRUNKS}/{gone['id']}")
        before, port, pid = bolna.state(), bolna.port, bolna.pid
        bolna.restart()
        assert (bolna.port, bolna.state()) == (port, before)
        assert bolna.pid != pid
        with bolna.client("tok-persist") as api:
            assert api.get(TRUNKS).json() == [kept]
            assert_error(api.post(TRUNKS, json=minimal(TWILIO_USERPASS["name"])).json(), 409)
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        assert "tok-persist" not in state_file.read_text()
        snapshot = json.loads(state_file.read_text().splitlines()[0])
        assert list(snapshot["accounts"]) == [bolna.account("tok-persist")]
        assert TWILIO_PASSWORD not in bolna.log_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_answered_change_survives_a_kill(tmp_path: Path) -> None:
    """Each change is on disk before its answer: SIGKILL loses nothing answered."""
    state_file = tmp_path / "state.json"
    with EmulatorProcess(["tok-kill"], state_file=state_file) as bolna:
        with bolna.client("tok-kill") as api:
            trunk = api.post(TRUNKS, json=minimal("Kept")).json()
            api.post(f"{TRUNKS}/{trunk['id']}/numbers", json={"phone_number": "911"})
            api.patch(f"{TRUNKS}/{trunk['id']}", json={"description": "after"})
        before = bolna.state()
        pid = bolna.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        bolna.restart()
        assert bolna.state() == before


def test_start_options_reach_the_emulator() -> None:
    with EmulatorProcess(["tok-flags"], error_rate=0.4, seed=7, rate_limit=3,
                         retry_after=False, latency_ms=2.5, latency_jitter_ms=1,
                         timeout_rate=0.0, timeout_seconds=0.5,
                         drop_after_commit_rate=0.25, rate_window_seconds=30) as bolna:
        assert bolna.faults() == {
            **FaultSettings().to_json(),
            "latency_ms": 2.5, "latency_jitter_ms": 1.0, "error_rate": 0.4,
            "timeout_rate": 0.0, "timeout_seconds": 0.5, "drop_after_commit_rate": 0.25,
            "rate_limit": 3, "rate_window_seconds": 30.0, "retry_after": False,
            "burst_retry_after_seconds": 1, "burst_429": 0, "seed": 7}
        bolna.set_faults(error_rate=0.0, drop_after_commit_rate=0.0)
        with bolna.client("tok-flags") as api:
            statuses = [api.get(TRUNKS) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert "Retry-After" not in statuses[3].headers


def test_start_settings_without_a_flag_reach_the_emulator_and_survive_a_reset() -> None:
    with EmulatorProcess(["tok-settings"], sparse_answers=True, late_numbers_reads=2,
                         record_bodies=True, unknown_fields_on_update="refuse",
                         settings={"omit_number_fields": ["created_at"]}) as bolna:
        expected = {"sparse_answers": True, "late_numbers_reads": 2, "record_bodies": True,
                    "unknown_fields_on_update": "refuse",
                    "omit_number_fields": ["created_at"]}
        assert {key: bolna.faults()[key] for key in expected} == expected
        bolna.set_faults(sparse_answers=False, record_bodies=False)
        bolna.reset()
        assert {key: bolna.faults()[key] for key in expected} == expected
        assert "settings at start" in bolna.log_text()


def test_bad_start_settings_fail_the_start(tmp_path: Path) -> None:
    bolna = EmulatorProcess(["tok"], unknown_fields_on_create="maybe",
                            log_file=tmp_path / "log")
    with pytest.raises(EmulatorError, match="unknown_fields_on_create must be one of"):
        bolna.start()
    assert not bolna.running


def test_command_line_token_and_listening_line() -> None:
    """The console path a person uses: --token on the command line, --port 0, and
    exactly one stdout line naming the URL; SIGTERM stops it cleanly."""
    env = {key: value for key, value in os.environ.items() if key != TOKENS_ENV}
    process = subprocess.Popen(
        [sys.executable, "-m", "bolna_sip_operator.cli", "emulator", "--port", "0",
         "--token", "tok-cli"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith(LISTENING_PREFIX + "http://127.0.0.1:") and line.endswith("\n")
        url = line[len(LISTENING_PREFIX):].strip()
        response = httpx.get(url + TRUNKS, headers={"Authorization": "Bearer tok-cli"})
        assert response.status_code == 200 and response.json() == []
    finally:
        os.kill(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out == b""


def test_command_line_switches_reach_the_emulator() -> None:
    """The answer-shape switches as flags of ``bolna-sip-operator emulator``."""
    env = {key: value for key, value in os.environ.items() if key != TOKENS_ENV}
    process = subprocess.Popen(
        [sys.executable, "-m", "bolna_sip_operator.cli", "emulator", "--port", "0",
         "--token", "tok-sw", "--sparse-answers", "--late-numbers-reads", "2",
         "--unknown-fields-on-update", "refuse", "--record-bodies"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode()[len(LISTENING_PREFIX):].strip()
        faults = httpx.get(url + "/_emulator/faults").json()
        assert faults["sparse_answers"] is True and faults["late_numbers_reads"] == 2
        assert faults["unknown_fields_on_update"] == "refuse" and faults["record_bodies"]
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.communicate(timeout=10)


def test_no_token_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(TOKENS_ENV, raising=False)
    assert main(["emulator", "--port", "0"]) == 2
    assert TOKENS_ENV in capsys.readouterr().err
    monkeypatch.setenv(TOKENS_ENV, " , ")
    assert main(["emulator"]) == 2


@pytest.mark.parametrize("args", [["--error-rate", "1.5"], ["--latency-ms", "-1"],
                                  ["--rate-limit", "0"], ["--port", "x"]])
def test_bad_option_is_a_usage_error(args: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "--token", "t", *args])
    assert exit_info.value.code == 2
    assert args[0] in capsys.readouterr().err


def test_help_teaches_by_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "bolna-sip-operator emulator --port 8055 --token dev-token" in out
    assert TOKENS_ENV in out and "/_emulator/" in out and "burst_429" in out


def test_unreadable_state_file_fails_the_start_with_the_log(tmp_path: Path) -> None:
    state_file = tmp_path / "broken.json"
    state_file.write_text("{not json")
    bolna = EmulatorProcess(["tok"], state_file=state_file, log_file=tmp_path / "log")
    with pytest.raises(EmulatorError, match=r"exited with status 1(.|\n)*cannot read state"):
        bolna.start()
    assert not bolna.running


def test_stop_ends_the_process(tmp_path: Path) -> None:
    bolna = EmulatorProcess(["tok"], log_file=tmp_path / "log").start()
    pid = bolna.pid
    assert pid is not None
    bolna.stop()
    assert bolna.pid is None and not bolna.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    bolna.stop()
    with pytest.raises(EmulatorError, match="not running"):
        bolna.state()
