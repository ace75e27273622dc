"""The emulator as a child process, for tests, benchmarks and the local stack.

::

    with EmulatorProcess(["token-a", "token-b"], rate_limit=5) as bolna:
        with bolna.client("token-a") as api:
            api.post("/sip-trunks/trunks", json={...})
        bolna.set_faults(error_rate=0.5, burst_429=3)
        assert bolna.stats()["total"] == 1

    # Bolna's sparse answers, numbers that show 2 s late, bodies kept in the log:
    with EmulatorProcess(["t"], sparse_answers=True, late_numbers_seconds=2.0,
                         record_bodies=True) as bolna:
        ...
        for sent in bolna.request_bodies():
            print(sent["method"], sent["path"], sent["body"])  # passwords REDACTED

Settings without a command-line flag (every one of
:class:`~bolna_emulator.faults.FaultSettings` can be given as ``settings``, and the
common ones have their own keyword) travel in ``BOLNA_EMULATOR_SETTINGS``, so they are
start settings: :meth:`EmulatorProcess.reset` comes back to them.

A real process rather than an in-process server, so the client under test meets a
real socket, real dropped connections, and a state file that outlives a restart. The
tokens travel in the environment, never on the command line (which ``ps`` shows). The
port is the emulator's own pick (``--port 0``), read from its listening line, so two
test runs never race for one. Stopped by PID: SIGTERM, then SIGKILL; on Linux the child
is also killed if the thread that started it dies, so a crashed test run leaves no
emulator behind.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import httpx

from . import LISTENING_PREFIX, SETTINGS_ENV, TOKENS_ENV, account_label

__all__ = ["EmulatorError", "EmulatorProcess"]

_POLL_INTERVAL = 0.02
_LOG_TAIL_LINES = 30
_PR_SET_PDEATHSIG = 1


class EmulatorError(RuntimeError):
    """The emulator did not start, or an admin call failed (the message says why,
    with the tail of the emulator's log when it did not start)."""


def _die_with_parent() -> Callable[[], None]:
    def set_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return set_death_signal


class EmulatorProcess:
    """``bolna-sip-operator emulator`` in a child process; options mirror the CLI's.

    Attributes:
        url: ``http://127.0.0.1:PORT`` once started ("" before).
        port: the port listened on (0 before the first start; kept by :meth:`restart`).
        log_file: the emulator's stdout and stderr (access lines), appended across
            restarts.
        state_file: the ``--state`` file, or None.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        rate_limit: int = 1000,
        rate_window_seconds: float = 60.0,
        retry_after: bool = True,
        latency_ms: float = 0.0,
        latency_jitter_ms: float = 0.0,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        timeout_seconds: float = 30.0,
        drop_after_commit_rate: float = 0.0,
        seed: int | None = None,
        sparse_answers: bool | None = None,
        late_numbers_seconds: float | None = None,
        late_numbers_reads: int | None = None,
        late_numbers_list_error: bool | None = None,
        unknown_fields_on_create: str | None = None,
        unknown_fields_on_update: str | None = None,
        record_bodies: bool | None = None,
        trunk_health_labels: bool | None = None,
        settings: Mapping[str, object] | None = None,
        log_file: Path | None = None,
        startup_timeout: float = 20.0,
        stop_grace: float = 5.0,
        die_with_parent: bool = True,
    ) -> None:
        """Prepare (not start) an emulator.

        Args:
            tokens: API tokens, each its own account; at least one, no commas.
            state_file: keep state in this file across restarts (``--state``).
            log_file: where the emulator's output goes; default a temporary file,
                removed on leaving the ``with`` block.
            startup_timeout: seconds :meth:`start` waits for the listening line.
            stop_grace: seconds :meth:`stop` waits after SIGTERM before SIGKILL.
            die_with_parent: on Linux, have the child killed when the thread that
                started it dies; turn off when starting from a short-lived thread.
            sparse_answers, late_numbers_seconds, late_numbers_reads,
                late_numbers_list_error, unknown_fields_on_create,
                unknown_fields_on_update, record_bodies, trunk_health_labels: start
                settings of the same names (see
                :class:`~bolna_emulator.faults.FaultSettings`); None leaves the
                emulator's default.
            settings: any further start settings by name (``omit_trunk_fields``...).
            Others: as the CLI options of the same names.
        """
        if not tokens:
            raise ValueError("at least one token is needed")
        if any("," in token or not token.strip() for token in tokens):
            raise ValueError("tokens must be non-empty and contain no comma")
        self.tokens = tuple(tokens)
        self.host = host
        self.port = port
        self.state_file = state_file
        self._options: list[str] = [
            "--rate-limit", str(rate_limit), "--rate-window", repr(rate_window_seconds),
            "--latency-ms", repr(latency_ms), "--latency-jitter-ms", repr(latency_jitter_ms),
            "--error-rate", repr(error_rate), "--timeout-rate", repr(timeout_rate),
            "--timeout-seconds", repr(timeout_seconds),
            "--drop-after-commit-rate", repr(drop_after_commit_rate),
        ]
        if not retry_after:
            self._options.append("--no-retry-after")
        if seed is not None:
            self._options += ["--seed", str(seed)]
        if state_file is not None:
            self._options += ["--state", str(state_file)]
        named = {"sparse_answers": sparse_answers, "late_numbers_seconds": late_numbers_seconds,
                 "late_numbers_reads": late_numbers_reads,
                 "late_numbers_list_error": late_numbers_list_error,
                 "unknown_fields_on_create": unknown_fields_on_create,
                 "unknown_fields_on_update": unknown_fields_on_update,
                 "record_bodies": record_bodies,
                 "trunk_health_labels": trunk_health_labels}
        self.settings: dict[str, object] = {
            **(settings or {}), **{k: v for k, v in named.items() if v is not None}}
        self._own_log_dir: Path | None = None
        if log_file is None:
            self._own_log_dir = Path(tempfile.mkdtemp(prefix="bolna-emulator-"))
            log_file = self._own_log_dir / "emulator.log"
        self.log_file = log_file
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: httpx.Client | None = None

    # ---- life cycle ------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the emulator and wait until it listens.

        Raises:
            EmulatorError: it exited, or printed no listening line in time.
        """
        if self.running:
            raise EmulatorError("the emulator is already running")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        argv = [sys.executable, "-m", "bolna_sip_operator.cli", "emulator",
                "--host", self.host, "--port", str(self.port), *self._options]
        env = {**os.environ, TOKENS_ENV: ",".join(self.tokens), "PYTHONUNBUFFERED": "1"}
        env.pop(SETTINGS_ENV, None)
        if self.settings:
            env[SETTINGS_ENV] = json.dumps(self.settings)
        preexec = _die_with_parent() if self.die_with_parent and sys.platform.startswith(
            "linux") else None
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
                preexec_fn=preexec)  # sets only the parent-death signal
        atexit.register(self.stop)
        try:
            self.url = self._wait_for_url(offset)
        except BaseException:
            self.stop()
            raise
        self.port = int(self.url.rsplit(":", 1)[1])
        self._admin = httpx.Client(base_url=self.url + "/_emulator", timeout=10.0)
        return self

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL after ``stop_grace`` seconds. Safe to repeat."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, with the same state file (so the
        state survives exactly as the emulator saved it)."""
        self.stop()
        self.start()

    def _wait_for_url(self, offset: int) -> str:
        deadline = time.monotonic() + self.startup_timeout
        assert self._process is not None
        while True:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                for raw in log.read().decode(errors="replace").splitlines():
                    if raw.startswith(LISTENING_PREFIX):
                        return raw[len(LISTENING_PREFIX):].strip()
            code = self._process.poll()
            if code is not None:
                raise EmulatorError(f"the emulator exited with status {code} before "
                                    f"listening{self._log_tail(offset)}")
            if time.monotonic() >= deadline:
                raise EmulatorError(f"no listening line after {self.startup_timeout:g}s"
                                    f"{self._log_tail(offset)}")
            time.sleep(_POLL_INTERVAL)

    def _log_tail(self, offset: int = 0) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n--- emulator log (tail) ---\n" + "\n".join(lines[-_LOG_TAIL_LINES:])

    # ---- clients and the admin API ---------------------------------------------------

    def account(self, token: str) -> str:
        """The label that the admin API and the request log give this token's account."""
        return account_label(token)

    def client(self, token: str, **options: Any) -> httpx.Client:
        """An ``httpx.Client`` for the API, with ``token`` as its bearer token."""
        headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers,
                            timeout=options.pop("timeout", 10.0), **options)

    def log_text(self) -> str:
        """Everything the emulator printed so far (listening lines, access lines)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def state(self) -> dict[str, Any]:
        """``GET /_emulator/state``: ``{"accounts": {label: {"trunks", "numbers"}}}`` for
        ``/sip-trunks`` and ``{"trunk": {"accounts": {label: {"trunks", "numbers",
        "agents"}}}}`` for ``/trunk`` (trunks with their calls, newest first)."""
        return cast("dict[str, Any]", self._call("GET", "/state"))

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """``GET /_emulator/requests``: the request log, entries after ``since``."""
        return cast("list[dict[str, Any]]", self._call("GET", f"/requests?since={since}"))

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``: counts by method, route and status, and totals."""
        return cast("dict[str, Any]", self._call("GET", "/stats"))

    def faults(self) -> dict[str, Any]:
        """``GET /_emulator/faults``: the settings in force, ``burst_429`` and ``seed``."""
        return cast("dict[str, Any]", self._call("GET", "/faults"))

    def set_faults(self, **settings: object) -> dict[str, Any]:
        """``PUT /_emulator/faults``, e.g. ``set_faults(error_rate=0.2, burst_429=3)``,
        or any other setting (``set_faults(sparse_answers=True)``); returns the
        settings now in force. A reset undoes them."""
        return cast("dict[str, Any]", self._call("PUT", "/faults", settings))

    def request_bodies(self, since: int = 0) -> list[dict[str, Any]]:
        """The POST, PATCH and DELETE requests of the request log after ``since``
        whose bodies were kept (``record_bodies`` on): each entry of the log, with
        ``body`` (the JSON sent, every ``auth_password`` ``"REDACTED"``; None when
        there was no body or it was not JSON, ``body_error`` then says why) and
        ``content_type``."""
        return [entry for entry in self.requests(since) if "body" in entry]

    def reset(self) -> None:
        """``POST /_emulator/reset``: no trunks, empty log, the start's faults and seed."""
        self._call("POST", "/reset")

    # ---- /trunk: calls, active calls, agents -------------------------------------------

    def record_call(self, trunk_id: str, direction: str, answered: bool, *,
                    sip_code: int | None = None,
                    execution_id: str | None = None) -> dict[str, Any]:
        """``POST /_emulator/trunk/trunks/{id}/calls``: record a finished call on a
        ``/trunk`` trunk (``direction`` ``"inbound"`` or ``"outbound"``), which moves
        its ``health``; returns the call entry as ``GET .../calls`` lists it."""
        body: dict[str, object] = {"direction": direction, "answered": answered}
        if sip_code is not None:
            body["sip_code"] = sip_code
        if execution_id is not None:
            body["execution_id"] = execution_id
        return cast("dict[str, Any]",
                    self._call("POST", f"/trunk/trunks/{trunk_id}/calls", body))

    def set_active_calls(self, trunk_id: str, active_calls: int) -> dict[str, Any]:
        """``PUT /_emulator/trunk/trunks/{id}/active-calls``: what the trunk's
        ``active_calls`` reads from now on."""
        return cast("dict[str, Any]", self._call(
            "PUT", f"/trunk/trunks/{trunk_id}/active-calls", {"active_calls": active_calls}))

    def set_agents(self, token: str, agents: Sequence[str]) -> dict[str, Any]:
        """``PUT /_emulator/agents`` for ``token``'s account: from now on an agent id
        outside ``agents`` is refused on ``/trunk``; ``[]`` accepts any again."""
        return cast("dict[str, Any]", self._call(
            "PUT", "/agents", {"agents": list(agents)},
            headers={"Authorization": f"Bearer {token}"}))

    def _call(self, method: str, path: str, body: object = None,
              headers: Mapping[str, str] | None = None) -> Any:
        if self._admin is None:
            raise EmulatorError("the emulator is not running")
        response = self._admin.request(method, path, json=body, headers=headers)
        if response.status_code != 200:
            raise EmulatorError(f"{method} /_emulator{path}: HTTP {response.status_code} "
                                f"{response.text}")
        return response.json()
