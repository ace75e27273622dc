"""The whole local stack, held by one supervisor process: ``hack/up.sh``, ``hack/down.sh``.

::

    python -m bolna_devenv.stack up       # what hack/up.sh runs after setup
    python -m bolna_devenv.stack status
    python -m bolna_devenv.stack down     # what hack/down.sh runs

Why one supervisor: every piece (etcd + kube-apiserver, the Bolna emulator, two sipp
gateways, Kamailio, the operator) is already a context manager that stops its process
by PID and has it killed when its parent dies. One process holding them all in one
:class:`contextlib.ExitStack` therefore stops everything, in reverse order, on a single
SIGTERM, and leaves nothing behind even when it is killed itself. ``up`` starts that
supervisor detached (its own session, its own log), echoes its progress and returns
once every SipTrunk of ``examples/local/`` is Ready; the supervisor keeps running.

State lives in ``$BOLNA_STACK_DIR`` (default ``<repo>/.local-stack``): ``stack.json``
(PIDs with their start times, ports and URLs; no secrets), ``kubeconfig`` and
``bolna-token`` (mode 0600), the pieces' work dirs, and ``logs/``. ``down`` keeps
``logs/`` (with every piece's log gathered into it) and removes the rest.

The two gateways listen on fixed ports, because the example SipTrunks name them:
127.0.0.1:15081 and :15082, or ``$BOLNA_STACK_GW1_PORT`` and ``$BOLNA_STACK_GW2_PORT``;
the examples are applied with the ports the gateways really have. Everything else
takes free ports of 127.0.0.1 and nothing listens anywhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import yaml

from .control_plane import KUBERNETES_VERSION, ControlPlane, find_kubectl
from .processes import LOOPBACK, free_ports, tail

__all__ = [
    "DEFAULT_GATEWAY_PORTS",
    "GATEWAY_PORT_ENVS",
    "READY_TIMEOUT_ENV",
    "STATE_DIR_ENV",
    "StackError",
    "StackPaths",
    "main",
]

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "siptrunk.yaml"
CARRIER_CRD_FILE = REPO / "crds" / "carriertrunk.yaml"
EXAMPLES_DIR = REPO / "examples" / "local"

#: Environment variable naming the state dir (default ``<repo>/.local-stack``).
STATE_DIR_ENV = "BOLNA_STACK_DIR"
#: The gateways' ports as ``examples/local/`` names them.
DEFAULT_GATEWAY_PORTS = (15081, 15082)
#: Environment variables that move the first and the second gateway.
GATEWAY_PORT_ENVS = ("BOLNA_STACK_GW1_PORT", "BOLNA_STACK_GW2_PORT")
#: Environment variable: seconds to wait for every SipTrunk to be Ready (default 120).
READY_TIMEOUT_ENV = "BOLNA_STACK_READY_TIMEOUT"

_READY_TIMEOUT = 120.0
_PROGRESS_EVERY = 3.0
_SUPERVISOR_STOP_TIMEOUT = 60.0
_LEFTOVER_TIMEOUT = 10.0
_KUBECTL_TIMEOUT = 60.0
_OPERATOR_LOG_TAIL = 30
# Operator settings as the integration tests use them, so health shows within seconds:
# Kamailio probes every second and fails a gateway after two lost probes (1 s timeout).
_PING_INTERVAL = 1
_PROBING_THRESHOLD = 2
_FR_TIMER_MS = 1000
_RELOAD_DELTA = 1
_OPERATOR_ARGS = ("--reload-delta", "1", "--health-interval", "1", "--probe-settle", "4")
_DRIFT_INTERVAL = 30.0


class StackError(RuntimeError):
    """The stack cannot start, or a step failed (the message says what to do)."""


class _StopRequested(BaseException):
    """SIGTERM, SIGINT or SIGHUP reached the supervisor: unwind and stop everything."""


@dataclass(frozen=True)
class StackPaths:
    """Where the stack keeps its state, logs and the pieces' work dirs."""

    root: Path

    @classmethod
    def from_env(cls, override: str | None = None) -> StackPaths:
        """``override``, else ``$BOLNA_STACK_DIR``, else ``<repo>/.local-stack``."""
        chosen = override or os.environ.get(STATE_DIR_ENV)
        root = Path(chosen).expanduser() if chosen else REPO / ".local-stack"
        return cls(root.resolve())

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def token_file(self) -> Path:
        return self.root / "bolna-token"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def stack_log(self) -> Path:
        return self.logs / "stack.log"

    @property
    def control_plane(self) -> Path:
        return self.root / "control-plane"

    @property
    def kamailio(self) -> Path:
        return self.root / "kamailio"

    @property
    def gateways(self) -> Path:
        return self.root / "gateways"

    def owned(self) -> list[Path]:
        """Everything the stack writes in ``root`` (``up`` and ``down`` remove only these,
        so a ``$BOLNA_STACK_DIR`` that holds other files keeps them)."""
        return [self.state_file, self.kubeconfig, self.token_file, self.control_plane,
                self.kamailio, self.gateways, self.logs]


# ---- processes by PID and start time ---------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks) of ``pid``, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    return fields[0], int(fields[2]), int(fields[19])


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such process.

    Recorded with each PID, so a stop never signals a process that merely reuses it.
    """
    stat = _proc_stat(pid)
    return stat[2] if stat is not None else None


def alive(pid: int, started: int) -> bool:
    """True while the process ``pid`` that started at ``started`` runs (a zombie is gone)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[2] == started and stat[0] != "Z"


def _group_members(leader: int, started: int) -> list[int]:
    """Live processes in the process group of ``leader``, started no earlier than it.

    Kamailio's workers stay in its group and hold its ports if the main process is gone.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[1] == leader and stat[2] >= started and stat[0] != "Z":
            members.append(int(entry.name))
    return members


def _record(name: str, pid: int | None) -> dict[str, Any]:
    if pid is None:
        raise StackError(f"{name} has no PID after its start")
    started = start_time(pid)
    if started is None:
        raise StackError(f"{name} (PID {pid}) exited right after its start")
    return {"name": name, "pid": pid, "start": started}


# ---- small helpers ---------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, flush=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _read_state(paths: StackPaths) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def gateway_ports() -> tuple[int, int]:
    """The two gateways' ports: the defaults, or as ``$BOLNA_STACK_GW{1,2}_PORT`` say.

    Raises:
        StackError: a value is not a port, or both are the same.
    """
    chosen: list[int] = []
    for env, default in zip(GATEWAY_PORT_ENVS, DEFAULT_GATEWAY_PORTS, strict=True):
        raw = os.environ.get(env, "").strip()
        if not raw:
            chosen.append(default)
            continue
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StackError(f"{env}={raw!r} is not a port number (1-65535)")
        chosen.append(int(raw))
    if chosen[0] == chosen[1]:
        raise StackError(f"{GATEWAY_PORT_ENVS[0]} and {GATEWAY_PORT_ENVS[1]} are both "
                         f"{chosen[0]}: the two gateways need two ports")
    return chosen[0], chosen[1]


def _check_ports_free(ports: tuple[int, int]) -> None:
    for number, (env, port) in enumerate(zip(GATEWAY_PORT_ENVS, ports, strict=True), 1):
        if not _udp_port_free(port):
            raise StackError(
                f"UDP port {port} on {LOOPBACK} is taken, and SIP gateway {number} of the "
                f"local stack needs it. Free it (see: ss -lunp | grep {port}) or choose "
                f"another port: {env}=<port> hack/up.sh")


class _Kubectl:
    """kubectl with the stack's kubeconfig; a failure is a :class:`StackError`."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        try:
            result = subprocess.run(
                [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
                input=stdin, capture_output=True, text=True, timeout=_KUBECTL_TIMEOUT,
                check=False)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"kubectl {args[0]} did not finish in {_KUBECTL_TIMEOUT:g}s"
                             ) from exc
        if result.returncode != 0:
            raise StackError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


# ---- the examples ----------------------------------------------------------------------


def render_examples(ports: tuple[int, int], directory: Path = EXAMPLES_DIR
                    ) -> tuple[str, list[str]]:
    """``examples/local/`` as one YAML stream, with the gateways' ports as started.

    A gateway ``127.0.0.1:15081`` (or ``:15082``) becomes the first (second) gateway's
    real port. Returns the stream and the SipTrunks' names.
    """
    moved = dict(zip(DEFAULT_GATEWAY_PORTS, ports, strict=True))
    documents: list[Any] = []
    names: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not document:
                continue
            if document.get("kind") == "SipTrunk":
                names.append(str(document["metadata"]["name"]))
                for gateway in document["spec"].get("gateways") or ():
                    if gateway.get("gatewayAddress") == LOOPBACK and gateway.get("port") in moved:
                        gateway["port"] = moved[gateway["port"]]
            documents.append(document)
    if not names:
        raise StackError(f"no SipTrunk in {directory}")
    return yaml.safe_dump_all(documents, sort_keys=False), names


# ---- readiness -------------------------------------------------------------------------


def readiness(trunk: dict[str, Any]) -> tuple[bool, str]:
    """(ready, why not): Ready=True for the current generation and every gateway healthy.

    Every gateway, not just one, so the table ``up`` prints shows ``2/2`` rather than a
    moment when Kamailio had answered for one gateway only.
    """
    status = trunk.get("status") or {}
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    if ready is None:
        return False, "no status yet"
    if ready.get("observedGeneration") != trunk["metadata"].get("generation"):
        return False, "not yet observed"
    if ready.get("status") != "True":
        message = str(ready.get("message") or "")
        message = message if len(message) <= 100 else message[:97] + "..."
        return False, f"{ready.get('reason')}: {message}" if message else str(ready.get("reason"))
    healthy = str(status.get("healthyGateways") or "")
    up, _, total = healthy.partition("/")
    if not total or up != total:
        return False, f"Ready, gateways {healthy or '?'} healthy"
    return True, ""


def _wait_ready(kubectl: _Kubectl, names: Sequence[str], timeout: float,
                operator_log: Path) -> None:
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + _PROGRESS_EVERY
    while True:
        items = json.loads(kubectl("get", "siptrunks", "-A", "-o", "json"))["items"]
        states = {item["metadata"]["name"]: readiness(item) for item in items}
        waiting = {name: states.get(name, (False, "not found"))[1] for name in names
                   if not states.get(name, (False, ""))[0]}
        if not waiting:
            return
        now = time.monotonic()
        if now >= deadline:
            details = "\n".join(f"  {name}: {why}" for name, why in waiting.items())
            raise StackError(
                f"not every SipTrunk was Ready within {timeout:g}s ({READY_TIMEOUT_ENV} "
                f"sets the wait):\n{details}\n--- last lines of {operator_log} ---\n"
                f"{tail(operator_log, _OPERATOR_LOG_TAIL)}")
        if now >= next_report:
            ready = len(names) - len(waiting)
            _say(f"    {ready}/{len(names)} Ready; waiting for "
                 + "; ".join(f"{name} ({why})" for name, why in waiting.items()))
            next_report = now + _PROGRESS_EVERY
        time.sleep(1.0)


# ---- the supervisor --------------------------------------------------------------------


def _on_stop_signal(signum: int, frame: FrameType | None) -> NoReturn:
    _ignore_stop_signals()  # one stop at a time: the teardown must not be interrupted
    _say(f"==> {signal.Signals(signum).name}: stopping the operator, Kamailio, the "
         "gateways, the Bolna emulator and the control plane")
    raise _StopRequested


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def serve(paths: StackPaths, ports: tuple[int, int], ready_timeout: float) -> int:
    """Run the supervisor: bring every piece up, then hold them until SIGTERM.

    Returns 0 after a requested stop, 1 when the start failed (everything that had
    started is stopped first; the error, with the failing piece's log tail, is in the
    stack log that ``up`` echoes).
    """
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_stop_signal)
    # The operator gets every setting as a flag; the caller's BOLNA_SIP_* would change it
    # unseen (and could point it at the real Bolna).
    for key in [k for k in os.environ if k.startswith("BOLNA_SIP_")]:
        del os.environ[key]
    state: dict[str, Any] = _read_state(paths) or {}
    state.update(phase="starting", supervisor=_record("supervisor", os.getpid()),
                 children=[], ports={}, gateways=list(ports))
    try:
        with contextlib.ExitStack() as stack:
            try:
                _bring_up(stack, paths, ports, ready_timeout, state)
            except Exception as exc:
                _ignore_stop_signals()
                _say(f"ERROR: {exc}")
                _say("==> stopping what had started")
                raise
            state["phase"] = "ready"
            _write_json(paths.state_file, state)
            _hold(state)
    except _StopRequested:
        _say("==> stopped")
        return 0
    except Exception:
        _say("==> stopped")
        return 1
    return 0  # pragma: no cover (_hold returns only by a signal)


def _bring_up(stack: contextlib.ExitStack, paths: StackPaths, ports: tuple[int, int],
              ready_timeout: float, state: dict[str, Any]) -> None:
    # Imported here: `up`, `down` and `status` need none of this.
    from bolna_emulator.process import EmulatorProcess

    from .kamailio import Kamailio
    from .operator_process import OperatorProcess
    from .sip_peer import SipPeer

    began = time.monotonic()
    children: list[dict[str, Any]] = state["children"]
    ports_record: dict[str, int] = state["ports"]

    def note(name: str, pid: int | None) -> None:
        children.append(_record(name, pid))
        _write_json(paths.state_file, state)

    _say("==> starting the control plane (etcd and kube-apiserver on 127.0.0.1)")
    plane = stack.enter_context(ControlPlane(paths.control_plane))
    for name, pid in zip(("etcd", "kube-apiserver"), plane.pids, strict=True):
        note(name, pid)
    ports_record["apiserver"] = int(plane.server.rsplit(":", 1)[1])
    ports_record["etcd"] = int(plane.etcd_url.rsplit(":", 1)[1])
    kubectl_binary = find_kubectl(plane.bin_dir)
    if kubectl_binary is None:
        raise StackError("kubectl is missing: run hack/setup.sh (it builds one that "
                         "matches the API server)")
    shutil.copyfile(plane.kubeconfig, paths.kubeconfig)
    os.chmod(paths.kubeconfig, 0o600)
    state.update(kubeconfig=str(paths.kubeconfig), kubectl=str(kubectl_binary),
                 apiserver=plane.server)
    kubectl = _Kubectl(kubectl_binary, paths.kubeconfig)

    _say(f"==> applying the CRDs ({CRD_FILE.relative_to(REPO)}, "
         f"{CARRIER_CRD_FILE.relative_to(REPO)})")
    kubectl("apply", "-f", str(CRD_FILE), "-f", str(CARRIER_CRD_FILE))
    kubectl("wait", "--for=condition=Established", "--timeout=60s",
            "crd/siptrunks.sip.bolna.ai", "crd/carriertrunks.sip.bolna.ai")

    _say("==> starting the Bolna emulator")
    token = secrets.token_urlsafe(24)
    _write_private(paths.token_file, token + "\n")
    bolna = stack.enter_context(EmulatorProcess([token], log_file=paths.logs / "emulator.log"))
    note("bolna-emulator", bolna.pid)
    ports_record["emulator"] = bolna.port
    state.update(emulator_url=bolna.url, token_file=str(paths.token_file))

    _say(f"==> starting two SIP gateways (sipp) on {LOOPBACK}:{ports[0]} and :{ports[1]}")
    for number, port in enumerate(ports, 1):
        peer = stack.enter_context(SipPeer(paths.gateways, name=f"gw{number}", port=port))
        note(f"sip-gateway-{number}", peer.pid)
        ports_record[f"gateway{number}"] = port

    _say(f"==> starting Kamailio (probing the gateways every {_PING_INTERVAL} s)")
    kamailio = stack.enter_context(Kamailio(
        paths.kamailio, ping_interval=_PING_INTERVAL, probing_threshold=_PROBING_THRESHOLD,
        fr_timer_ms=_FR_TIMER_MS, reload_delta=_RELOAD_DELTA))
    note("kamailio", kamailio.pid)
    ports_record.update(kamailio_sip=kamailio.sip_port, kamailio_rpc=kamailio.rpc_port)
    state.update(kamailio_rpc=kamailio.rpc_url, kamailio_sip=f"{LOOPBACK}:{kamailio.sip_port}",
                 kamailio_log=str(kamailio.log_file))

    _say("==> starting the operator (bolna-sip-operator run, SIP edge on)")
    metrics_port = free_ports(1)[0]
    operator = OperatorProcess(
        kubeconfig=paths.kubeconfig, bolna_url=bolna.url, token=token,
        log_path=paths.logs / "operator.log", drift_interval=_DRIFT_INTERVAL, debug=False,
        extra_args=("--kamailio-rpc", kamailio.rpc_url,
                    "--dispatcher-file", str(kamailio.dispatcher_file),
                    "--address-file", str(kamailio.address_file),
                    *_OPERATOR_ARGS, "--metrics-port", str(metrics_port)))
    stack.callback(operator.stop)
    operator.start()
    note("operator", operator.pid)
    ports_record.update(operator_health=operator.health_port, metrics=metrics_port)
    state.update(metrics_url=f"http://{LOOPBACK}:{metrics_port}/metrics")

    stream, names = render_examples(ports)
    _say(f"==> applying {EXAMPLES_DIR.relative_to(REPO)}/ ({len(names)} SipTrunks and their "
         f"Secrets; gateways on ports {ports[0]} and {ports[1]})")
    for line in kubectl("apply", "-f", "-", stdin=stream).splitlines():
        _say(f"    {line}")
    state["trunks"] = names
    _write_json(paths.state_file, state)

    _say("==> waiting until every SipTrunk is Ready (Bolna synced, Kamailio loaded, "
         "gateways answering)")
    _wait_ready(kubectl, names, ready_timeout, operator.log_path)
    seconds = time.monotonic() - began
    state["ready_seconds"] = round(seconds, 1)
    _say(f"==> the local stack is up: {len(names)}/{len(names)} SipTrunks Ready "
         f"({seconds:.0f} s after the control plane started)")


def _hold(state: dict[str, Any]) -> None:
    """Wait for the stop signal; say once when a piece exits on its own.

    A piece that dies is not restarted, and the rest keeps running: killing Kamailio or
    a gateway is a way to watch the operator report it.
    """
    reported: set[str] = set()
    while True:
        for child in state["children"]:
            if child["name"] not in reported and not alive(child["pid"], child["start"]):
                _say(f"warning: {child['name']} (PID {child['pid']}) is no longer running; "
                     "the rest keeps running (hack/down.sh, then hack/up.sh, to start over)")
                reported.add(child["name"])
        time.sleep(1.0)


# ---- up, down, status ------------------------------------------------------------------


def up(paths: StackPaths, ready_timeout: float) -> int:
    """Start the supervisor detached, echo its progress, and print how to use the stack."""
    state = _read_state(paths)
    if state is not None and _supervisor_alive(state):
        if state.get("phase") == "ready":
            _say(f"==> the local stack is already up (supervisor PID "
                 f"{state['supervisor']['pid']}, state in {paths.root})")
            _print_summary(paths, state)
            return 0
        _say("==> the local stack is already starting; following its log")
        return _follow(paths, None, 0)
    if state is not None:
        _say("==> cleaning up after a local stack that did not stop cleanly")
        _stop_and_clean(paths, state, quiet=True)
    try:
        ports = gateway_ports()
        _check_ports_free(ports)
    except StackError as exc:
        _say(f"ERROR: {exc}")
        return 1
    for path in paths.owned():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    _say(f"==> starting the local stack's supervisor (state and logs in {paths.root})")
    with paths.stack_log.open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "bolna_devenv.stack", "serve",
             "--state-dir", str(paths.root), "--ready-timeout", f"{ready_timeout:g}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True)  # detached: it outlives this command and the terminal
    _write_json(paths.state_file, {"phase": "starting",
                                   "supervisor": _record("supervisor", supervisor.pid),
                                   "children": []})
    return _follow(paths, supervisor, 0)


def _follow(paths: StackPaths, supervisor: subprocess.Popen[bytes] | None,
            offset: int) -> int:
    """Echo the stack log until the stack is Ready (0) or the supervisor exits (1)."""
    pending = b""

    def echo() -> None:
        nonlocal offset, pending
        try:
            with paths.stack_log.open("rb") as log:
                log.seek(offset)
                data = log.read()
        except OSError:
            return
        offset += len(data)
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            _say(line.decode("utf-8", "replace"))

    try:
        while True:
            echo()
            state = _read_state(paths) or {}
            if state.get("phase") == "ready":
                echo()
                _print_summary(paths, state)
                return 0
            gone = (supervisor.poll() is not None if supervisor is not None
                    else not _supervisor_alive(state))
            if gone:
                echo()
                if pending:
                    _say(pending.decode("utf-8", "replace"))
                _say(f"==> the local stack did not come up; what had started is stopped. "
                     f"Logs: {paths.logs}")
                _stop_and_clean(paths, state, quiet=True)
                return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        _say("\n==> interrupted: stopping the local stack")
        _stop_and_clean(paths, _read_state(paths) or {}, quiet=False)
        return 130


def _supervisor_alive(state: dict[str, Any]) -> bool:
    supervisor = state.get("supervisor") or {}
    return bool(supervisor) and alive(int(supervisor["pid"]), int(supervisor["start"]))


def _print_summary(paths: StackPaths, state: dict[str, Any]) -> None:
    kubectl = Path(state["kubectl"])
    print()
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(paths.kubeconfig), "get", "siptrunks", "-A",
         "-o", "wide"], capture_output=True, text=True, timeout=_KUBECTL_TIMEOUT, check=False)
    print(result.stdout + result.stderr, end="", flush=True)
    emulator = state["emulator_url"]
    rpc = state["kamailio_rpc"]
    gw1, gw2 = state["gateways"]
    print(f"""
Use it (kubectl {KUBERNETES_VERSION} from the control plane build matches the API server):
  export KUBECONFIG={paths.kubeconfig}
  alias kubectl={kubectl}
  kubectl get siptrunks -A -o wide
  kubectl describe siptrunk {state['trunks'][0]:<24} # conditions, gateways, Events

Bolna emulator: {emulator}   (its API token is in {paths.token_file})
  curl -s {emulator}/_emulator/state                  # trunks and numbers Bolna holds
  curl -s {emulator}/_emulator/requests               # every call the operator made
Kamailio: SIP {state['kamailio_sip']} (UDP and TCP), JSON-RPC {rpc}
  curl -s -d '{{"jsonrpc":"2.0","method":"dispatcher.list","id":1}}' {rpc}
SIP gateways (sipp): {LOOPBACK}:{gw1} and {LOOPBACK}:{gw2}
Operator metrics: {state['metrics_url']}

Logs: {paths.logs}/ (stack.log, operator.log, emulator.log); the control plane's,
  Kamailio's and the gateways' logs are in {paths.control_plane}/, {paths.kamailio}/
  and {paths.gateways}/ while it runs, and gathered into {paths.logs}/ by hack/down.sh.
Status: hack/up.sh again, or .venv/bin/python -m bolna_devenv.stack status
Tear down: hack/down.sh""", flush=True)


def down(paths: StackPaths) -> int:
    """Stop the supervisor (which stops every piece), then anything it left; keep logs."""
    state = _read_state(paths)
    if state is None:
        _say(f"==> the local stack is not up (nothing recorded in {paths.root})")
        return 0
    _stop_and_clean(paths, state, quiet=False)
    _say(f"==> the local stack is down (logs kept in {paths.logs})")
    return 0


def _stop_and_clean(paths: StackPaths, state: dict[str, Any], *, quiet: bool) -> None:
    supervisor = state.get("supervisor") or {}
    if _supervisor_alive(state):
        pid = int(supervisor["pid"])
        if not quiet:
            _say(f"==> stopping the local stack (supervisor PID {pid}): the operator, "
                 "Kamailio, the gateways, the Bolna emulator, the control plane")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _SUPERVISOR_STOP_TIMEOUT
        while _supervisor_alive(state) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _supervisor_alive(state):
            _say(f"    the supervisor did not stop within {_SUPERVISOR_STOP_TIMEOUT:g}s: "
                 "killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    elif not quiet:
        _say("==> the supervisor is not running; cleaning up what it left")
    state = _read_state(paths) or state  # the supervisor may have recorded more children
    # The supervisor's own group too: the operator and any kubectl run in it.
    recorded = [supervisor] if supervisor else []
    left = _kill_leftovers([*recorded, *(state.get("children") or [])])
    if left:
        _say(f"    killed what was left behind: {', '.join(left)}")
    _gather_logs(paths)
    for path in paths.owned():
        if path == paths.logs:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _kill_leftovers(children: Sequence[dict[str, Any]]) -> list[str]:
    """SIGKILL every recorded child, and its process group, that still runs."""
    killed: list[str] = []
    deadline = time.monotonic() + _LEFTOVER_TIMEOUT
    while True:
        remaining = [(child, pids) for child in children
                     if (pids := _child_processes(child))]
        if not remaining or time.monotonic() >= deadline:
            return killed
        for child, pids in remaining:
            if child["name"] not in killed:
                killed.append(str(child["name"]))
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _child_processes(child: dict[str, Any]) -> list[int]:
    pid, started = int(child["pid"]), int(child["start"])
    pids = [pid] if alive(pid, started) else []
    return pids + [p for p in _group_members(pid, started) if p != pid]


def _gather_logs(paths: StackPaths) -> None:
    """Copy each piece's log from its work dir into ``logs/`` before the dirs go."""
    for directory in (paths.control_plane, paths.kamailio, paths.gateways):
        if not directory.is_dir():
            continue
        for log in directory.glob("*.log"):
            with contextlib.suppress(OSError):
                paths.logs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, paths.logs / log.name)


def status(paths: StackPaths) -> int:
    """Say whether the stack is up, each piece's PID, and the SipTrunks (0 up, 1 not)."""
    state = _read_state(paths)
    if state is None:
        _say(f"==> the local stack is not up ({paths.root})")
        return 1
    if not _supervisor_alive(state):
        _say("==> the local stack is not up: its supervisor is gone (hack/down.sh cleans up "
             "what it left)")
        return 1
    _say(f"==> the local stack is {'up' if state.get('phase') == 'ready' else 'starting'} "
         f"(supervisor PID {state['supervisor']['pid']})")
    for child in state.get("children") or ():
        running = "running" if alive(child["pid"], child["start"]) else "NOT RUNNING"
        _say(f"    {child['name']:<16} PID {child['pid']:<8} {running}")
    if state.get("phase") == "ready":
        _print_summary(paths, state)
    return 0


# ---- command line ----------------------------------------------------------------------


def _ready_timeout(text: str | None) -> float:
    raw = text if text is not None else os.environ.get(READY_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else _READY_TIMEOUT
    except ValueError:
        raise StackError(f"{READY_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise StackError(f"the Ready timeout must be positive, got {value:g}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``up``, ``down``, ``status`` (and ``serve``, the supervisor that ``up`` starts)."""
    parser = argparse.ArgumentParser(
        prog="python -m bolna_devenv.stack",
        description="The local stack: control plane, Bolna emulator, two sipp gateways, "
                    "Kamailio and the operator, with examples/local/ applied.")
    parser.add_argument("command", choices=("up", "down", "status", "serve"),
                        help="up: start and wait until every SipTrunk is Ready; down: stop "
                             "everything; status: what runs; serve: the supervisor itself "
                             "(up starts it)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"state, kubeconfig and logs (default ${STATE_DIR_ENV}, else "
                             "<repo>/.local-stack)")
    parser.add_argument("--ready-timeout", metavar="SECONDS",
                        help=f"wait this long for Ready (default ${READY_TIMEOUT_ENV}, else "
                             f"{_READY_TIMEOUT:g})")
    args = parser.parse_args(argv)
    paths = StackPaths.from_env(args.state_dir)
    handlers: dict[str, Callable[[], int]] = {
        "up": lambda: up(paths, _ready_timeout(args.ready_timeout)),
        "down": lambda: down(paths),
        "status": lambda: status(paths),
        "serve": lambda: serve(paths, gateway_ports(), _ready_timeout(args.ready_timeout)),
    }
    try:
        return handlers[args.command]()
    except StackError as exc:
        _say(f"ERROR: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
