"""TLS towards carriers, from inside the Kamailio pod: rotation, and why a gateway fails.

Two jobs, both for this pod's Kamailio (``kamailio.cfg``, "TLS towards carriers"):

* **Rotation.** Kamailio reads its TLS profiles (``tls.cfg``) and the files they name
  (the CA bundle, the edge's certificate and key, mounted from Secrets) at start, and
  again on ``tls.reload``. The agent fingerprints those files every few seconds (their
  contents: a Secret volume is updated by swapping a symlink, not by writing the file)
  and calls ``tls.reload`` when one changed, so a renewed certificate is used for new
  connections without a restart. A reload Kamailio refuses (a key that does not match
  its certificate, a file that is not PEM) keeps the old profiles: that is logged with
  the file at fault, and tried again at the next change.
* **Why a gateway fails TLS.** Kamailio 5.6 logs a failed handshake and tells the
  script and JSON-RPC nothing (``tls.list`` holds live connections only), so a gateway
  whose certificate fails verification just reads "not answering". The agent shares
  the pod's network and mounts: it makes its own handshake to every TLS gateway of
  ``dispatcher.list``, with the same CA bundle and client certificate as Kamailio's
  ``[client:default]``, and writes each failure into Kamailio's htable ``tlsfail``
  (key: the dispatcher URI, value: the reason), deleting it once the handshake
  succeeds. Calls skip gateways in that table; the operator reads it for the status.
  The agent also checks the certificate's name against the gateway's (its line's
  ``host=`` attr), which Kamailio 5.6 does not; a gateway given by IP address is
  checked for its chain only, as Kamailio checks it.

A gateway that does not accept a connection at all is no TLS verdict: its entry goes,
and its health says what Kamailio's probes say.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import hashlib
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from ..kamailio.rpc import KamailioRpc, RpcError, Unreachable

log = logging.getLogger(__name__)

TLSFAIL_TABLE = "tlsfail"
"""The htable of kamailio.cfg the agent writes TLS verdicts into."""
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_FILE_KEYS = ("ca_list", "certificate", "private_key", "crl")


@dataclass(frozen=True)
class ClientProfile:
    """What Kamailio's ``[client:default]`` uses to connect to a gateway."""

    ca_list: Path | None
    certificate: Path | None
    private_key: Path | None
    verify: bool


def _resolve(base: Path, value: str) -> Path:
    """A file of tls.cfg as the tls module finds it: absolute, or relative to tls.cfg's
    directory (the module takes relative names from the main config's directory, where
    the chart also puts tls.cfg)."""
    path = Path(value)
    return path if path.is_absolute() else base / path


def read_profiles(tls_config: Path) -> configparser.ConfigParser:
    """tls.cfg as an INI file (``[client:default]`` sections, ``key = value``)."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#",))
    parser.read_string(tls_config.read_text())
    return parser


def client_profile(tls_config: Path) -> ClientProfile:
    """``[client:default]`` of tls.cfg (ValueError when there is none)."""
    profiles = read_profiles(tls_config)
    if not profiles.has_section("client:default"):
        raise ValueError(f"{tls_config} has no [client:default] profile")
    section = profiles["client:default"]
    base = tls_config.parent

    def path(key: str) -> Path | None:
        value = section.get(key, "").strip()
        return _resolve(base, value) if value else None

    verify = section.get("verify_certificate", "no").strip().lower() in ("yes", "1", "on",
                                                                        "true")
    return ClientProfile(path("ca_list"), path("certificate"), path("private_key"), verify)


def named_files(tls_config: Path) -> list[Path]:
    """tls.cfg and every file its profiles name, in a stable order."""
    files = [tls_config]
    try:
        profiles = read_profiles(tls_config)
    except (OSError, configparser.Error):
        return files
    for name in profiles.sections():
        for key in _FILE_KEYS:
            value = profiles[name].get(key, "").strip()
            if value:
                path = _resolve(tls_config.parent, value)
                if path not in files:
                    files.append(path)
    return files


def fingerprint(tls_config: Path) -> str:
    """A digest of tls.cfg and of the contents of every file it names (missing: noted)."""
    digest = hashlib.sha256()
    for path in named_files(tls_config):
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError as error:
            digest.update(f"unreadable: {error.strerror}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


def check_files(tls_config: Path) -> list[str]:
    """What is wrong with the files tls.cfg names, as sentences ([] when all load).

    Loaded the way the agent's own handshakes load them (Python's ssl, OpenSSL as
    Kamailio's): a CA bundle that is not PEM, a certificate that does not parse, a key
    that does not match its certificate.
    """
    problems: list[str] = []
    try:
        profile = client_profile(tls_config)
    except (OSError, ValueError, configparser.Error) as error:
        return [f"{tls_config}: {error}"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if profile.ca_list is not None:
        try:
            context.load_verify_locations(cafile=str(profile.ca_list))
        except (OSError, ssl.SSLError) as error:
            problems.append(f"CA bundle {profile.ca_list}: not a PEM bundle of "
                            f"certificates ({error})")
    if profile.certificate is not None:
        try:
            context.load_cert_chain(str(profile.certificate),
                                    str(profile.private_key or profile.certificate))
        except (OSError, ssl.SSLError) as error:
            problems.append(f"certificate {profile.certificate} with key "
                            f"{profile.private_key}: cannot be loaded ({error})")
    return problems


class TlsWatcher:
    """Calls ``tls.reload`` when tls.cfg or a file it names changed."""

    def __init__(self, tls_config: Path, rpc: KamailioRpc) -> None:
        self.tls_config = tls_config
        self.rpc = rpc
        self.loaded = fingerprint(tls_config)
        """The fingerprint Kamailio holds (it read the files at its start)."""
        self.reloads = 0
        self.last_error: str | None = None

    async def check(self) -> bool:
        """Reload if the files changed since Kamailio last read them; True if it did."""
        now = fingerprint(self.tls_config)
        if now == self.loaded:
            return False
        problems = check_files(self.tls_config)
        if problems:
            message = "; ".join(problems)
            if message != self.last_error:
                log.error("TLS files changed but cannot be used, keeping the loaded ones: "
                          "%s (fix the Secret; the next change is tried again)", message)
            self.last_error = message
            return False
        try:
            await self.rpc.call("tls.reload")
        except (Unreachable, RpcError) as error:
            message = f"tls.reload: {error}"
            if message != self.last_error:
                log.warning("Kamailio did not take the changed TLS files (%s); tried "
                            "again shortly", error)
            self.last_error = message
            return False
        self.loaded = now
        self.reloads += 1
        self.last_error = None
        log.info("TLS files changed: Kamailio reloaded them (tls.reload); new connections "
                 "use them")
        return True


def _host_attr(attrs: str) -> str | None:
    for item in attrs.split(";"):
        key, _, value = item.partition("=")
        if key == "host" and value:
            return value
    return None


def _uri_target(uri: str) -> tuple[str, int] | None:
    """Host and port of ``sip:host:port;transport=tls`` (IPv6 in brackets)."""
    rest = uri.removeprefix("sip:").split(";", 1)[0]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class TlsProber:
    """Handshakes with every TLS gateway and keeps Kamailio's ``tlsfail`` table true."""

    def __init__(self, tls_config: Path, rpc: KamailioRpc, *, timeout: float = 5.0,
                 concurrency: int = 8) -> None:
        self.tls_config = tls_config
        self.rpc = rpc
        self.timeout = timeout
        self.concurrency = concurrency
        self.failures: dict[str, str] = {}
        """What the agent wrote into tlsfail, by URI."""

    def _context(self, check_name: bool) -> ssl.SSLContext:
        profile = client_profile(self.tls_config)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = check_name and profile.verify
        context.verify_mode = ssl.CERT_REQUIRED if profile.verify else ssl.CERT_NONE
        if profile.verify:
            context.load_verify_locations(cafile=str(profile.ca_list or SYSTEM_CA_BUNDLE))
        if profile.certificate is not None:
            context.load_cert_chain(str(profile.certificate),
                                    str(profile.private_key or profile.certificate))
        return context

    async def handshake(self, host: str, port: int, name: str | None) -> str | None:
        """None when a TLS session with the gateway works; else why not, in a sentence.

        ``name``: the gateway's hostname (SNI, and the name its certificate must carry).
        A gateway that cannot be reached at all is None too: no TLS verdict.
        """
        context = self._context(check_name=name is not None)
        target = f"{name or host}:{port}" if name is None or name == host else \
            f"{name}:{port} ({host})"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=context, server_hostname=name or host), self.timeout)
        except ssl.SSLCertVerificationError as error:
            return (f"TLS: the certificate of {target} fails verification: "
                    f"{error.verify_message}")
        except ssl.SSLError as error:
            return f"TLS: the handshake with {target} failed: {error.reason or error}"
        except (OSError, TimeoutError):
            return None
        try:
            # TLS 1.3: a server that refuses the edge's client certificate says so with
            # an alert just after the handshake, on the first read.
            try:
                data = await asyncio.wait_for(reader.read(1), 0.5)
            except TimeoutError:
                return None
            except ssl.SSLError as error:
                return (f"TLS: {target} refused the edge's client certificate: "
                        f"{error.reason or error}")
            if data == b"":
                return (f"TLS: {target} closed the connection right after the handshake "
                        "(it may require a client certificate it accepts)")
            return None
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def probe_all(self) -> dict[str, str]:
        """One handshake per TLS gateway of this Kamailio; tlsfail written to match.

        Returns the failures now (URI -> reason).
        """
        listed = await self.rpc.dispatcher_list()
        targets: dict[str, tuple[str, int, str | None]] = {}
        for destination in listed:
            if ";transport=tls" not in destination.uri.lower():
                continue
            found = _uri_target(destination.uri)
            if found is None:
                continue
            host, port = found
            name = _host_attr(destination.attrs) or (None if _is_address(host) else host)
            targets[destination.uri] = (host, port, name)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(uri: str, host: str, port: int, name: str | None
                      ) -> tuple[str, str | None]:
            async with limit:
                try:
                    return uri, await self.handshake(host, port, name)
                except (OSError, ValueError, ssl.SSLError) as error:
                    # The agent's own files (the profile) cannot be used: not the
                    # gateway's fault; the watcher reports the files.
                    log.debug("TLS probe of %s not made: %s", uri, error)
                    return uri, None

        results = await asyncio.gather(*(one(uri, *t) for uri, t in targets.items()))
        now = {uri: reason for uri, reason in results if reason is not None}
        for uri, reason in now.items():
            # Written every round: a restarted Kamailio starts with an empty table.
            await self.rpc.call("htable.sets", TLSFAIL_TABLE, uri, reason)
            if self.failures.get(uri) != reason:
                log.warning("gateway %s: %s; calls skip it until a handshake succeeds",
                            uri, reason)
        for uri in [u for u in self.failures if u not in now]:
            try:
                await self.rpc.call("htable.delete", TLSFAIL_TABLE, uri)
            except RpcError as error:
                log.debug("htable.delete %s: %s", uri, error)
            if uri in targets:
                log.info("gateway %s: TLS handshake succeeds again", uri)
        self.failures = now
        return dict(now)
