"""A real Kamailio on loopback, with the project's own config, for tests and the local stack.

Kamailio comes from Debian (``hack/install-sip-stack.sh`` installs 5.6.3); the config is
``deploy/kamailio/kamailio.cfg``, the same file the Helm chart ships. :class:`Kamailio`
starts it in the foreground with every parameter passed as a pre-processor define
(``-A NAME=value``), on free ports of 127.0.0.1, and waits until JSON-RPC answers::

    with Kamailio(tmp_path / "kamailio", ping_interval=1) as kamailio:
        kamailio.write_dispatcher("7 sip:127.0.0.1:5070 8 10 duid=gw-a\\n")
        kamailio.rpc("dispatcher.reload")
        kamailio.dispatcher_targets()

Who may place calls through it is the config's ``TRUSTED_NETWORKS`` (default: loopback,
so every local caller is trusted); ``trusted_networks="127.0.0.1/32"`` makes any other
address of 127/8 a stranger, whose INVITE with ``X-Trunk-Set`` gets 403.

What was found on 5.6.3 and shaped this module:

* A missing ``list_file`` or ``address_file`` stops Kamailio at start
  ("can't open list file", "Error while initializing module"). So the files always
  exist: when none is given, a comment-only file is written.
* An empty (or comment-only) dispatcher file loads, and ``dispatcher.reload`` answers
  "Ok", but ``dispatcher.list`` then faults with 500 "No Destination Sets" instead of
  returning an empty list. :meth:`Kamailio.dispatcher_targets` turns that fault into
  ``[]``; :meth:`Kamailio.rpc` reports it as it is.
* An empty address file loads; ``permissions.addressDump`` and ``subnetDump`` answer
  ``[]``. ``addressDump`` lists full-length entries (IPv4 /32, IPv6 /128, each with
  its port and tag); ``subnetDump`` lists every shorter prefix (a /24, a /64).
* The address file is not validated the way one would hope: a line whose group is
  not a number is skipped, ``300.1.1.1`` loads as ``44.1.1.1``, both with "Reload OK"
  and nothing in the log at the default level; only some errors (a mask of 33) fail
  the reload ("Reload failed.") and keep the old table. Validate before writing.
* ``dispatcher.reload`` within ``reload_delta`` faults with 500 "Ongoing reload";
  ``permissions.addressReload`` with 500 "ongoing reload" (lowercase).
* ``-DD`` keeps the main process in the foreground (it still forks its workers);
  ``-E`` logs to stderr, which goes to :attr:`Kamailio.log_file`.
* On SIGTERM the main process ends its workers with ``kill(0, SIGTERM)``, that is its
  whole process group: Kamailio therefore runs in a session of its own, or it would
  take the test runner down with it. On SIGKILL of the main process alone, the workers
  live on and keep the ports, so :meth:`Kamailio.kill` kills the process group.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .processes import LOOPBACK, Managed, die_with_parent, tail

__all__ = [
    "DEFAULT_CONFIG",
    "Kamailio",
    "KamailioError",
    "KamailioNotFoundError",
    "KamailioRpcError",
    "find_kamailio",
    "rpc_call",
]

#: The project's Kamailio config (used by tests, the local stack and the Helm chart).
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "kamailio.cfg"

_INSTALL_HINT = "run hack/install-sip-stack.sh (installs Debian's kamailio and sip-tester)"
_EMPTY_DISPATCHER = (
    "# dispatcher list: setid uri flags priority attrs\n"
    "# (no destinations yet; Kamailio needs the file to exist)\n"
)
_EMPTY_ADDRESSES = (
    "# permissions address list: group address mask port tag\n"
    "# (no addresses yet; Kamailio needs the file to exist)\n"
)
_NO_SETS = "No Destination Sets"
_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.1
_RPC_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40


class KamailioError(RuntimeError):
    """Kamailio could not be started or stopped (the message includes the log tail)."""


class KamailioNotFoundError(KamailioError):
    """The ``kamailio`` binary is missing; run ``hack/install-sip-stack.sh``."""


class _PortConflictError(KamailioError):
    """Kamailio exited because a port picked as free was taken meanwhile."""


class KamailioRpcError(RuntimeError):
    """A JSON-RPC call failed: a fault from Kamailio, or no usable answer.

    Attributes:
        method: the RPC method called.
        status: the HTTP status (Kamailio uses the fault code), 0 if no HTTP answer.
        code: the JSON-RPC error code (0 if none).
        fault: Kamailio's message, e.g. "Ongoing reload" or "No Destination Sets".
    """

    def __init__(self, method: str, status: int, code: int, fault: str) -> None:
        """Record the failed call and build a message that says what Kamailio said."""
        self.method = method
        self.status = status
        self.code = code
        self.fault = fault
        where = f"HTTP {status}" if status else "no HTTP answer"
        super().__init__(f"Kamailio RPC {method} failed ({where}, code {code}): {fault}")


def find_kamailio() -> Path:
    """Return the ``kamailio`` binary (``$PATH``, then ``/usr/sbin``).

    Debian installs it in ``/usr/sbin``, which is not on every user's ``PATH``.

    Raises:
        KamailioNotFoundError: with the command that installs it.
    """
    found = shutil.which("kamailio")
    if found:
        return Path(found)
    for candidate in (Path("/usr/sbin/kamailio"), Path("/usr/local/sbin/kamailio")):
        if os.access(candidate, os.X_OK):
            return candidate
    raise KamailioNotFoundError(f"kamailio is not installed: {_INSTALL_HINT}")


class Kamailio(Managed):
    """Kamailio with ``deploy/kamailio/kamailio.cfg`` on free loopback ports.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The ports are
    picked at the first start and kept by :meth:`restart`, so URLs stay valid.

    Attributes:
        workdir: run dir, PID file, log and (by default) the list files live here.
        config: the Kamailio config file.
        dispatcher_file: the dispatcher list file (``list_file``).
        address_file: the permissions address file (``address_file``).
        log_file: Kamailio's stderr; every start appends to it after a marker line.
        sip_port: SIP port on 127.0.0.1, UDP and TCP (0 until started).
        rpc_port: JSON-RPC HTTP port on 127.0.0.1 (0 until started).
        tls_port: SIP over TLS port on 127.0.0.1 with ``tls_config`` (else 0).
    """

    workdir: Path
    config: Path
    dispatcher_file: Path
    address_file: Path
    log_file: Path
    sip_port: int
    rpc_port: int
    tls_port: int

    def __init__(
        self,
        workdir: Path,
        *,
        config: Path | None = None,
        dispatcher_file: Path | None = None,
        address_file: Path | None = None,
        ping_interval: int = 2,
        probing_threshold: int = 2,
        inactive_threshold: int = 1,
        fr_timer_ms: int = 2000,
        ping_reply_codes: str = "class=2;code=403;code=404;code=405",
        reload_delta: int = 1,
        workers: int = 2,
        shm_mb: int = 64,
        pkg_mb: int = 8,
        trusted_networks: str | None = None,
        extra_defines: Mapping[str, str | int] | None = None,
        tls_config: Path | None = None,
        binary: Path | None = None,
        timeout: float = 20.0,
        stop_grace: float = 5.0,
        die_with_parent: bool = True,
    ) -> None:
        """Prepare (but do not start) Kamailio.

        Args:
            workdir: where the run dir, PID file, log and default list files go.
            config: Kamailio config; default ``deploy/kamailio/kamailio.cfg``.
            dispatcher_file: dispatcher list file; a comment-only one is written
                in ``workdir`` when not given (or when the given one is missing).
            address_file: permissions address file; likewise.
            ping_interval: seconds between OPTIONS probes (``ds_ping_interval``).
            probing_threshold: failed probes before a gateway goes inactive.
            inactive_threshold: good probes before an inactive gateway is active.
            fr_timer_ms: tm ``fr_timer``: OPTIONS timeout and INVITE failover timeout.
            ping_reply_codes: ``ds_ping_reply_codes``; must not accept 408 (tm makes a
                408 itself when a gateway does not answer, so it would never go down).
            reload_delta: seconds between reloads. Short by default for tests; the
                config's own default (production) is 5.
            workers: SIP worker processes (``children`` and ``tcp_children``).
            shm_mb: shared memory, MB (``-m``).
            pkg_mb: private memory per process, MB (``-M``).
            trusted_networks: the trusted side (``TRUSTED_NETWORKS``): CIDRs joined by
                commas, e.g. ``"127.0.0.1/32"``; default the config's own (loopback).
            extra_defines: more ``-A NAME=value`` defines; string values must carry
                their own double quotes, as in Kamailio's ``-A 'NAME="value"'``.
            tls_config: the tls module's profiles (tls.cfg): TLS on (``WITH_TLS``), with
                a TLS listener on a free port (:attr:`tls_port`); needs Debian's
                kamailio-tls-modules.
            binary: the kamailio binary; default :func:`find_kamailio`.
            timeout: seconds :meth:`start` waits for JSON-RPC to answer.
            stop_grace: seconds :meth:`stop` waits after SIGTERM before SIGKILL.
            die_with_parent: on Linux, send Kamailio SIGTERM if the thread that
                started it dies, so a crashed test run leaves no Kamailio behind.

        Raises:
            KamailioNotFoundError: if ``binary`` is not given and none is installed.
            ValueError: if a parameter is out of range, 408 counts as alive, or
                ``trusted_networks`` is not a list of CIDRs.
        """
        for name, value in (
            ("ping_interval", ping_interval),
            ("probing_threshold", probing_threshold),
            ("inactive_threshold", inactive_threshold),
            ("fr_timer_ms", fr_timer_ms),
            ("workers", workers),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if reload_delta < 0:
            raise ValueError(f"reload_delta must not be negative, got {reload_delta}")
        _check_ping_reply_codes(ping_reply_codes)
        if trusted_networks is not None:
            _check_networks(trusted_networks)

        self.workdir = Path(workdir).resolve()
        self.binary = Path(binary) if binary is not None else find_kamailio()
        self.config = Path(config).resolve() if config is not None else DEFAULT_CONFIG
        self.dispatcher_file = (
            Path(dispatcher_file).resolve()
            if dispatcher_file is not None
            else self.workdir / "dispatcher.list"
        )
        self.address_file = (
            Path(address_file).resolve()
            if address_file is not None
            else self.workdir / "address.list"
        )
        self.log_file = self.workdir / "kamailio.log"
        self.ping_interval = ping_interval
        self.probing_threshold = probing_threshold
        self.inactive_threshold = inactive_threshold
        self.fr_timer_ms = fr_timer_ms
        self.ping_reply_codes = ping_reply_codes
        self.reload_delta = reload_delta
        self.workers = workers
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.trusted_networks = trusted_networks
        self.extra_defines = dict(extra_defines or {})
        self.tls_config = Path(tls_config).resolve() if tls_config is not None else None
        self.tls_port = 0
        self.timeout = timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent

        self.sip_port = 0
        self.rpc_port = 0
        self._run_dir = self.workdir / "run"
        self._pid_file = self._run_dir / "kamailio.pid"
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    # ---- public API ------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        """``http://127.0.0.1:PORT/RPC``, the JSON-RPC endpoint ("" until started)."""
        return f"http://{LOOPBACK}:{self.rpc_port}/RPC" if self.rpc_port else ""

    @property
    def pid(self) -> int | None:
        """PID of Kamailio's main process; None before :meth:`start` and after a stop or kill."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the main process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line :meth:`start` runs (ports as chosen; 0 before the first start)."""
        defines: dict[str, str | int] = {
            "SIP_ADDR": LOOPBACK,
            "SIP_PORT": self.sip_port,
            "RPC_ADDR": LOOPBACK,
            "RPC_PORT": self.rpc_port,
            "DS_LIST_FILE": _quoted(self.dispatcher_file),
            "ADDRESS_FILE": _quoted(self.address_file),
            "PING_INTERVAL": self.ping_interval,
            "PROBING_THRESHOLD": self.probing_threshold,
            "INACTIVE_THRESHOLD": self.inactive_threshold,
            "FR_TIMER": self.fr_timer_ms,
            "PING_REPLY_CODES": _quoted(self.ping_reply_codes),
            "RELOAD_DELTA": self.reload_delta,
            "WORKERS": self.workers,
            **({"TRUSTED_NETWORKS": _quoted(self.trusted_networks)}
               if self.trusted_networks is not None else {}),
            **({"WITH_TLS": 1, "SIP_TLS_PORT": self.tls_port,
                "TLS_CONFIG": _quoted(self.tls_config)} if self.tls_config is not None
               else {}),
            **self.extra_defines,
        }
        argv = [
            str(self.binary),
            "-DD",  # main process in the foreground (workers are still forked)
            "-E",  # log to stderr
            "-f", str(self.config),
            "-Y", str(self._run_dir),
            "-P", str(self._pid_file),
            "-m", str(self.shm_mb),
            "-M", str(self.pkg_mb),
        ]  # fmt: skip
        for name, value in defines.items():
            argv += ["-A", f"{name}={value}"]
        return argv

    def start(self) -> None:
        """Start Kamailio and wait until JSON-RPC answers ``core.version``.

        The first start picks free ports (retrying on a port taken meanwhile);
        later starts reuse them.

        Raises:
            KamailioError: if Kamailio exits or does not answer within ``timeout``;
                the message has the log tail. A half-started Kamailio is stopped.
        """
        if self._proc is not None:
            raise KamailioError("Kamailio already started; call stop() first")
        if not os.access(self.binary, os.X_OK):
            raise KamailioNotFoundError(f"{self.binary} is missing: {_INSTALL_HINT}")
        if not self.config.is_file():
            raise KamailioError(f"Kamailio config {self.config} does not exist")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._run_dir.mkdir(parents=True, exist_ok=True)
        # Kamailio refuses to start when either list file is missing.
        if not self.dispatcher_file.exists():
            _write_atomically(self.dispatcher_file, _EMPTY_DISPATCHER)
        if not self.address_file.exists():
            _write_atomically(self.address_file, _EMPTY_ADDRESSES)

        atexit.register(self.stop)
        keep_ports = self.sip_port != 0
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                if not keep_ports:
                    self.sip_port, self.rpc_port = _free_sip_and_rpc_ports()
                    if self.tls_config is not None:
                        self.tls_port = _free_tcp_port(self.sip_port, self.rpc_port)
                try:
                    self._start_once()
                    return
                except _PortConflictError:
                    self._stop_process()
                    if keep_ports or attempt == _PORT_ATTEMPTS:
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Kamailio: SIGTERM, then SIGKILL to its process group after ``stop_grace``.

        Safe to call more than once, and on a Kamailio never started.
        """
        self._stop_process()
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """Kill Kamailio at once (SIGKILL to its process group), as a crash would.

        The dispatcher and address files stay; :meth:`start` or :meth:`restart` brings
        it back on the same ports, loading the entries from the files.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_group_gone(proc.pid, self.stop_grace)

    def restart(self) -> None:
        """Stop Kamailio if it runs, then start it again on the same ports."""
        self._stop_process()
        self.start()

    def rpc(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method and return its ``result``.

        Integer parameters go as JSON numbers, which Kamailio needs for e.g. set ids.

        Raises:
            KamailioRpcError: on a fault (the HTTP status and Kamailio's message,
                e.g. 500 "Ongoing reload"), or when Kamailio does not answer.
        """
        if not self.rpc_port:
            raise KamailioRpcError(method, 0, 0, "Kamailio was never started")
        return rpc_call(self.rpc_url, method, *params)

    def dispatcher_targets(self) -> list[dict[str, Any]]:
        """Every destination of ``dispatcher.list``, flattened, each with its set id.

        Each item is the ``DEST`` object (``URI``, ``FLAGS``, ``PRIORITY``, ``ATTRS``,
        ``LATENCY``) plus ``"SET": <set id>``. No destinations at all is ``[]``, where
        Kamailio itself faults with 500 "No Destination Sets".
        """
        try:
            listing = self.rpc("dispatcher.list")
        except KamailioRpcError as exc:
            if exc.fault == _NO_SETS:
                return []
            raise
        targets: list[dict[str, Any]] = []
        for record in listing.get("RECORDS") or []:
            kamailio_set = record["SET"]
            for target in kamailio_set.get("TARGETS") or []:
                targets.append({"SET": kamailio_set["ID"], **target["DEST"]})
        return targets

    def write_dispatcher(self, text: str) -> None:
        """Replace the dispatcher list file atomically (reload to apply it)."""
        _write_atomically(self.dispatcher_file, text)

    def write_addresses(self, text: str) -> None:
        """Replace the permissions address file atomically (reload to apply it)."""
        _write_atomically(self.address_file, text)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of :attr:`log_file`."""
        return tail(self.log_file, lines)

    # ---- internals -------------------------------------------------------

    def _start_once(self) -> None:
        self._starts += 1
        self._pid_file.unlink(missing_ok=True)
        argv = self.command()
        preexec: Callable[[], None] | None = None
        if self.die_with_parent and sys.platform.startswith("linux"):
            # SIGTERM, not SIGKILL: the main process then ends its workers too.
            preexec = die_with_parent(os.getpid(), signal.SIGTERM)
        with self.log_file.open("ab") as log:
            log.write(f"===== start {self._starts}: {' '.join(argv)}\n".encode())
            log.flush()
            # A session of its own: Kamailio's shutdown signals its whole process group.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=preexec,  # sets only the parent-death signal
            )
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        while True:
            self._check_alive()
            try:
                rpc_call(self.rpc_url, "core.version", timeout=1.0)
                return
            except KamailioRpcError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise KamailioError(
                    f"Kamailio did not answer JSON-RPC at {self.rpc_url} within "
                    f"{self.timeout:g}s (last: {last})\n--- last lines of {self.log_file} ---\n"
                    f"{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _check_alive(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        tail = self.log_tail()
        message = (
            f"Kamailio exited with code {proc.returncode} during start"
            f"\n--- last lines of {self.log_file} ---\n{tail}"
        )
        if "Address already in use" in tail or "bind(" in tail:
            raise _PortConflictError(message)
        raise KamailioError(message)

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Workers that outlived the main process (it was killed) still hold the ports.
        if not _wait_group_gone(proc.pid, self.stop_grace):
            _signal_group(proc.pid, signal.SIGKILL)
            _wait_group_gone(proc.pid, self.stop_grace)


# ---- JSON-RPC ----------------------------------------------------------------


def rpc_call(url: str, method: str, *params: Any, timeout: float = _RPC_TIMEOUT) -> Any:
    """POST one JSON-RPC 2.0 request to Kamailio's ``/RPC`` and return its ``result``.

    Standard library only, and never through a proxy (it is a loopback call).

    Raises:
        KamailioRpcError: on a fault (status and message from Kamailio), a
            connection failure, or an answer that is not JSON-RPC.
    """
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            raw = response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
        raw = exc.read()
    except (OSError, ValueError) as exc:
        raise KamailioRpcError(method, 0, 0, f"{type(exc).__name__}: {exc}") from exc
    text = raw.decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except ValueError:
        raise KamailioRpcError(method, status, 0, f"not JSON: {text[:300]!r}") from None
    if not isinstance(answer, dict):
        raise KamailioRpcError(method, status, 0, f"not a JSON-RPC answer: {text[:300]!r}")
    error = answer.get("error")
    if error is not None:
        code = int(error.get("code", 0)) if isinstance(error, dict) else 0
        fault = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        raise KamailioRpcError(method, status, code, fault)
    if status != 200 or "result" not in answer:
        raise KamailioRpcError(method, status, 0, f"unexpected answer: {text[:300]!r}")
    return answer["result"]


# ---- helpers -----------------------------------------------------------------


def _check_ping_reply_codes(codes: str) -> None:
    """Refuse reply codes that would count tm's own timeout (408) as alive."""
    for item in filter(None, (part.strip() for part in codes.split(";"))):
        key, _, value = item.partition("=")
        if (key.strip(), value.strip()) in {("code", "408"), ("class", "4")}:
            raise ValueError(
                f"ping_reply_codes {codes!r} accepts 408: tm answers a probe that times "
                "out with its own 408, so no gateway would ever go down"
            )


def _check_networks(networks: str) -> None:
    """Refuse what ``is_in_subnet`` would not read as CIDRs joined by commas."""
    for item in networks.split(","):
        try:
            if "/" not in item or item != item.strip():
                raise ValueError(item)
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"trusted_networks {networks!r}: {item!r} is not a CIDR such as "
                             "127.0.0.1/32 (CIDRs joined by commas, no spaces)") from None


def _quoted(value: object) -> str:
    """A string define for ``-A``: Kamailio wants the double quotes in the value."""
    text = str(value)
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot pass {text!r} as a Kamailio string define")
    return f'"{text}"'


def _free_sip_and_rpc_ports() -> tuple[int, int]:
    """A port free on 127.0.0.1 for both UDP and TCP (SIP), and a free TCP port (RPC)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((LOOPBACK, port))
            except OSError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as rpc:
                rpc.bind((LOOPBACK, 0))
                return port, int(rpc.getsockname()[1])
    raise KamailioError("found no port free for both UDP and TCP on 127.0.0.1")


def _free_tcp_port(*taken: int) -> int:
    """A TCP port free on 127.0.0.1 other than ``taken`` (the TLS listener)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
        if port not in taken:
            return port
    raise KamailioError("found no free TCP port on 127.0.0.1")


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temp file in the same directory, then rename it over ``path``.

    Kamailio reads the file on every reload; it must never see half of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid`` (one we created), if it still exists."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no process of group ``pgid`` is left; True if none is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


