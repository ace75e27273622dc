"""A real etcd + kube-apiserver on loopback, started and stopped envtest style.

The binaries come from ``hack/build-control-plane.sh``, which builds them from
Go modules once per machine and caches them under
``${BOLNA_CACHE_DIR:-~/.cache/bolna-sip-operator}/control-plane/...``.
:func:`find_binaries` locates that cache (or ``$BOLNA_CONTROL_PLANE_BIN``).

:class:`ControlPlane` starts etcd and kube-apiserver as child processes that
listen on free ports of 127.0.0.1 only, waits until the API server is ready
and the ``default`` namespace exists, and writes a kubeconfig for an admin
user (a static bearer token in group ``system:masters``)::

    with ControlPlane(tmp_path / "cp") as cp:
        subprocess.run(["kubectl", "--kubeconfig", str(cp.kubeconfig), "get", "ns"])

Everything (data, certificates, keys, logs, kubeconfig) lives in ``workdir``.
Only the standard library is used, plus the ``openssl`` command for the
service-account signing key.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .processes import LOOPBACK, Managed, die_with_parent, free_ports, tail, terminate

__all__ = [
    "BIN_DIR_ENV",
    "CACHE_DIR_ENV",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "BinariesNotFoundError",
    "ControlPlane",
    "ControlPlaneError",
    "default_bin_dir",
    "find_binaries",
    "find_kubectl",
]

#: Kubernetes release that ``hack/build-control-plane.sh`` builds (keep in sync).
KUBERNETES_VERSION = "v1.35.4"
#: etcd release that ``hack/build-control-plane.sh`` builds (keep in sync).
ETCD_VERSION = "v3.6.16"

#: Environment variable naming a directory that holds ``kube-apiserver`` and ``etcd``.
BIN_DIR_ENV = "BOLNA_CONTROL_PLANE_BIN"
#: Environment variable overriding the cache root (default ``~/.cache/bolna-sip-operator``).
CACHE_DIR_ENV = "BOLNA_CACHE_DIR"

_BINARIES = ("kube-apiserver", "etcd")
_SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_ADMIN_USER = "bolna-admin"
_ADMIN_GROUP = "system:masters"
_KUBECONFIG_NAME = "bolna-envtest"
_ETCD_MEMBER = "bolna-envtest"
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 40
_POLL_INTERVAL = 0.25
_PROBE_TIMEOUT = 2.0


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (the message includes log tails)."""


class BinariesNotFoundError(ControlPlaneError):
    """``kube-apiserver`` or ``etcd`` is missing; run ``hack/build-control-plane.sh``."""


class _PortConflictError(ControlPlaneError):
    """A child exited because a port picked as free was taken meanwhile."""


def default_bin_dir() -> Path:
    """Return the bin dir that ``hack/build-control-plane.sh`` fills for the pinned releases."""
    cache_root_env = os.environ.get(CACHE_DIR_ENV)
    cache_root = (
        Path(cache_root_env) if cache_root_env else Path.home() / ".cache" / "bolna-sip-operator"
    )
    return cache_root / "control-plane" / f"k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}" / "bin"


def find_binaries() -> Path:
    """Locate the directory holding ``kube-apiserver`` and ``etcd``.

    ``$BOLNA_CONTROL_PLANE_BIN`` wins when set; otherwise the cache dir of
    ``hack/build-control-plane.sh`` (see :func:`default_bin_dir`) is used.

    Raises:
        BinariesNotFoundError: if either binary is missing or not executable,
            with a message telling how to build them.
    """
    env_dir = os.environ.get(BIN_DIR_ENV)
    bin_dir = Path(env_dir).expanduser() if env_dir else default_bin_dir()
    missing = [name for name in _BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        source = f"${BIN_DIR_ENV}" if env_dir else "the build cache"
        raise BinariesNotFoundError(
            f"control-plane binaries not found: {', '.join(missing)} missing from "
            f"{bin_dir} ({source}). Run hack/build-control-plane.sh to build "
            f"kube-apiserver {KUBERNETES_VERSION} and etcd {ETCD_VERSION} once per "
            f"machine (a few minutes), or set {BIN_DIR_ENV} to a directory that "
            "holds both."
        )
    return bin_dir


def find_kubectl(bin_dir: Path | None = None) -> Path | None:
    """Return a ``kubectl`` to use, or None if there is none.

    A kubectl in the control-plane bin dir (``bin_dir``, else
    ``$BOLNA_CONTROL_PLANE_BIN``, else the build cache) wins, since it matches
    the API server's version; ``hack/build-control-plane.sh`` builds one there
    only when none is on ``PATH``. Otherwise the one on ``PATH`` is returned.
    """
    candidates = [bin_dir] if bin_dir is not None else []
    env_dir = os.environ.get(BIN_DIR_ENV)
    candidates.append(Path(env_dir).expanduser() if env_dir else default_bin_dir())
    for directory in candidates:
        if os.access(directory / "kubectl", os.X_OK):
            return directory / "kubectl"
    on_path = shutil.which("kubectl")
    return Path(on_path) if on_path else None


class ControlPlane(Managed):
    """etcd + kube-apiserver on loopback, for integration tests.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Each :meth:`start` begins from an empty etcd and fresh serving
    certificates; the admin token and the service-account key are kept for
    the object's life.

    Attributes:
        workdir: directory holding all state, logs and the kubeconfig.
        bin_dir: directory holding ``kube-apiserver`` and ``etcd``.
        kubeconfig: kubeconfig file for the admin user (written by :meth:`start`).
        server: ``https://127.0.0.1:PORT`` of the API server ("" until started).
        token: bearer token of the admin user (group ``system:masters``).
        ca_file: the API server's self-signed certificate (CA for clients).
        etcd_url: ``http://127.0.0.1:PORT`` of etcd's client listener ("" until started).
        etcd_log: etcd's combined stdout/stderr.
        apiserver_log: kube-apiserver's combined stdout/stderr.
    """

    workdir: Path
    bin_dir: Path
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path
    etcd_url: str
    etcd_log: Path
    apiserver_log: Path

    def __init__(
        self,
        workdir: Path,
        bin_dir: Path | None = None,
        *,
        timeout: float = 90.0,
        stop_grace: float = 5.0,
        extra_apiserver_args: Sequence[str] = (),
        extra_etcd_args: Sequence[str] = (),
        die_with_parent: bool = True,
    ) -> None:
        """Prepare (but do not start) a control plane.

        Args:
            workdir: where state, certificates, logs and the kubeconfig go;
                created if missing.
            bin_dir: directory with ``kube-apiserver`` and ``etcd``; default
                :func:`find_binaries`.
            timeout: seconds :meth:`start` waits for readiness.
            stop_grace: seconds :meth:`stop` waits after SIGTERM before SIGKILL.
            extra_apiserver_args: appended to kube-apiserver's command line.
            extra_etcd_args: appended to etcd's command line.
            die_with_parent: on Linux, have the children killed if the thread
                that called :meth:`start` dies (so a crashed test run leaves no
                servers behind). Turn off when starting from a short-lived
                thread.

        Raises:
            BinariesNotFoundError: if ``bin_dir`` is not given and
                :func:`find_binaries` finds no binaries.
        """
        self.workdir = Path(workdir).resolve()
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_binaries()
        self.timeout = timeout
        self.stop_grace = stop_grace
        self.extra_apiserver_args = tuple(extra_apiserver_args)
        self.extra_etcd_args = tuple(extra_etcd_args)
        self.die_with_parent = die_with_parent

        self.token = secrets.token_urlsafe(32)
        self.server = ""
        self.etcd_url = ""
        self.kubeconfig = self.workdir / "kubeconfig"
        self._etcd_data = self.workdir / "etcd-data"
        self._cert_dir = self.workdir / "apiserver-certs"
        self.ca_file = self._cert_dir / "apiserver.crt"
        self._sa_key = self.workdir / "service-account.key"
        self._sa_pub = self.workdir / "service-account.pub"
        self._token_file = self.workdir / "tokens.csv"
        self.etcd_log = self.workdir / "etcd.log"
        self.apiserver_log = self.workdir / "kube-apiserver.log"

        self._apiserver_port = 0
        self._apiserver_argv: list[str] = []
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None

    # ---- public API ------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while both child processes are alive."""
        return all(p is not None and p.poll() is None for p in (self._etcd, self._apiserver))

    @property
    def pids(self) -> list[int]:
        """PIDs of the child processes started and not yet reaped by :meth:`stop`."""
        return [p.pid for p in (self._etcd, self._apiserver) if p is not None]

    def start(self) -> None:
        """Start etcd and kube-apiserver and wait until the API is usable.

        Returns once ``/readyz`` answers 200 and the ``default`` namespace
        exists, with :attr:`kubeconfig` written.

        Raises:
            BinariesNotFoundError: if the binaries are missing.
            ControlPlaneError: if it does not come up within ``timeout``
                seconds or a process exits; the message has the log tails.
                Anything started is stopped before raising.
        """
        if self._etcd is not None or self._apiserver is not None:
            raise ControlPlaneError("control plane already started; call stop() first")
        for name in _BINARIES:
            if not os.access(self.bin_dir / name, os.X_OK):
                raise BinariesNotFoundError(
                    f"{self.bin_dir / name} is missing or not executable; "
                    "run hack/build-control-plane.sh"
                )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_static_files()

        atexit.register(self.stop)
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                try:
                    self._start_once()
                    return
                except _PortConflictError:
                    self._stop_processes()
                    if attempt == _PORT_ATTEMPTS:
                        raise
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd: SIGTERM, then SIGKILL after ``stop_grace`` s.

        Safe to call more than once, and on a control plane never started.
        """
        self._stop_processes()
        atexit.unregister(self.stop)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone, as an outage of the API would: etcd keeps every
        object, and :meth:`start_apiserver` serves them again on the same address."""
        apiserver, self._apiserver = self._apiserver, None
        if apiserver is None:
            raise ControlPlaneError("kube-apiserver is not running")
        terminate(apiserver, self.stop_grace)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after :meth:`stop_apiserver` (same port, same
        certificates) and wait until ``/readyz`` answers 200."""
        if self._apiserver is not None or not self._apiserver_argv:
            raise ControlPlaneError("kube-apiserver is running, or was never started")
        self._apiserver = self._spawn(self._apiserver_argv, self.apiserver_log, append=True)
        self._wait("kube-apiserver /readyz", time.monotonic() + self.timeout,
                   lambda: self._api_status("/readyz"))

    # ---- internals -------------------------------------------------------

    def _start_once(self) -> None:
        # Each start is a fresh cluster: no etcd state, new serving certs.
        shutil.rmtree(self._etcd_data, ignore_errors=True)
        shutil.rmtree(self._cert_dir, ignore_errors=True)
        self._cert_dir.mkdir(parents=True)
        self.kubeconfig.unlink(missing_ok=True)

        deadline = time.monotonic() + self.timeout
        client_port, peer_port, secure_port = free_ports(3)
        self.etcd_url = f"http://{LOOPBACK}:{client_port}"
        peer_url = f"http://{LOOPBACK}:{peer_port}"
        self._etcd = self._spawn(
            [
                str(self.bin_dir / "etcd"),
                f"--name={_ETCD_MEMBER}",
                f"--data-dir={self._etcd_data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={_ETCD_MEMBER}={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                *self.extra_etcd_args,
            ],
            self.etcd_log,
        )
        self._wait(
            "etcd /health",
            deadline,
            lambda: _http_status(LOOPBACK, client_port, "/health", None, None),
        )

        self._apiserver_port = secure_port
        self.server = f"https://{LOOPBACK}:{secure_port}"
        self._apiserver_argv = (
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={self._cert_dir}",
                f"--secure-port={secure_port}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--service-cluster-ip-range={_SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={self._sa_pub}",
                f"--service-account-signing-key-file={self._sa_key}",
                f"--token-auth-file={self._token_file}",
                "--allow-privileged=true",
                # The endpoint reconciler refuses a loopback advertise address and
                # would log an error every 10 s; the kubernetes Service is still made.
                "--endpoint-reconciler-type=none",
                *self.extra_apiserver_args,
            ]
        )
        self._apiserver = self._spawn(self._apiserver_argv, self.apiserver_log)
        self._wait("kube-apiserver /readyz", deadline, lambda: self._api_status("/readyz"))
        self._wait(
            "namespace 'default'",
            deadline,
            lambda: self._api_status("/api/v1/namespaces/default"),
        )
        self._write_kubeconfig()

    def _write_static_files(self) -> None:
        if not (self._sa_key.is_file() and self._sa_pub.is_file()):
            _generate_rsa_key(self._sa_key, self._sa_pub)
        _write_private(
            self._token_file,
            f'{self.token},{_ADMIN_USER},{_ADMIN_USER},"{_ADMIN_GROUP}"\n',
        )

    def _write_kubeconfig(self) -> None:
        # JSON strings are valid YAML scalars, so json.dumps quotes safely.
        def q(value: str) -> str:
            return json.dumps(value)

        name = _KUBECONFIG_NAME
        user = f"{name}-admin"
        _write_private(
            self.kubeconfig,
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            f"- name: {q(name)}\n"
            "  cluster:\n"
            f"    server: {q(self.server)}\n"
            f"    certificate-authority: {q(str(self.ca_file))}\n"
            "users:\n"
            f"- name: {q(user)}\n"
            "  user:\n"
            f"    token: {q(self.token)}\n"
            "contexts:\n"
            f"- name: {q(name)}\n"
            "  context:\n"
            f"    cluster: {q(name)}\n"
            f"    user: {q(user)}\n"
            "    namespace: default\n"
            f"current-context: {q(name)}\n"
            "preferences: {}\n",
        )

    def _spawn(self, argv: list[str], log: Path, *, append: bool = False
               ) -> subprocess.Popen[bytes]:
        preexec: Callable[[], None] | None = None
        if self.die_with_parent and sys.platform.startswith("linux"):
            preexec = die_with_parent(os.getpid())
        with log.open("ab" if append else "wb") as log_file:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=preexec,  # sets only the parent-death signal
            )

    def _api_status(self, path: str) -> tuple[int, str]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return _http_status(LOOPBACK, self._apiserver_port, path, context, self.token)

    def _wait(self, what: str, deadline: float, probe: Callable[[], tuple[int, str]]) -> None:
        last = "no answer yet"
        while True:
            self._check_alive()
            try:
                status, body = probe()
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:300].strip()}"
            except (OSError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ControlPlaneError(
                    f"timed out after {self.timeout:g}s waiting for {what} (last: {last})"
                    f"{self._log_tails()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _check_alive(self) -> None:
        for name, proc, log in (
            ("etcd", self._etcd, self.etcd_log),
            ("kube-apiserver", self._apiserver, self.apiserver_log),
        ):
            if proc is None or proc.poll() is None:
                continue
            message = f"{name} exited with code {proc.returncode} during start{self._log_tails()}"
            if "address already in use" in tail(log):
                raise _PortConflictError(message)
            raise ControlPlaneError(message)

    def _log_tails(self) -> str:
        parts = []
        for name, log in (("etcd", self.etcd_log), ("kube-apiserver", self.apiserver_log)):
            if log.exists():
                parts.append(f"\n--- last lines of {log} ({name}) ---\n{tail(log)}")
        return "".join(parts)

    def _stop_processes(self) -> None:
        apiserver, etcd = self._apiserver, self._etcd
        self._apiserver = None
        self._etcd = None
        for proc in (apiserver, etcd):
            if proc is not None:
                terminate(proc, self.stop_grace)


# ---- helpers ---------------------------------------------------------------


def _http_status(
    host: str,
    port: int,
    path: str,
    context: ssl.SSLContext | None,
    token: str | None,
) -> tuple[int, str]:
    """GET ``path`` directly (no proxies) and return (status, body text)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=_PROBE_TIMEOUT)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=_PROBE_TIMEOUT, context=context)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _generate_rsa_key(private_key: Path, public_key: Path) -> None:
    """Write an RSA-2048 key pair (PEM) with the ``openssl`` command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError(
            "the openssl command is needed to make the service-account key; "
            "install it (Debian: apt-get install openssl)"
        )
    tmp = private_key.with_name(private_key.name + ".tmp")
    try:
        subprocess.run(
            [
                openssl,
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        os.chmod(tmp, 0o600)
        subprocess.run(
            [openssl, "pkey", "-in", str(tmp), "-pubout", "-out", str(public_key)],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        tmp.unlink(missing_ok=True)
        stderr = exc.stderr.decode("utf-8", "replace") if exc.stderr else ""
        raise ControlPlaneError(f"openssl failed: {exc}: {stderr}") from exc
    tmp.replace(private_key)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


