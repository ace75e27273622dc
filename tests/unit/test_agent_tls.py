"""The edge agent's TLS files: what tls.cfg names, and files that cannot be used."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bolna_devenv.tls_carrier import write_edge_tls_config
from bolna_devenv.tls_certs import CertificateAuthority
from bolna_sip_operator.agent.tls import (
    TlsWatcher,
    check_files,
    client_profile,
    fingerprint,
    named_files,
)


class _Rpc:
    """Records the calls a watcher makes (no Kamailio in the unit tier)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(self, method: str, *params: Any) -> Any:
        self.calls.append(method)
        return "ok"


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca = CertificateAuthority(tmp_path, "trusted")
    edge = ca.issue("edge", "edge.example.test", client=True)
    secret = tmp_path / "secret-sip-edge-tls"
    secret.mkdir()
    (secret / "tls.crt").write_bytes(edge.certificate.read_bytes())
    (secret / "tls.key").write_bytes(edge.key.read_bytes())
    config = write_edge_tls_config(tmp_path / "tls.cfg", ca=ca.certificate,
                                   certificate=secret / "tls.crt", key=secret / "tls.key")
    return config, secret, ca.certificate


def test_the_files_of_tls_cfg_and_their_fingerprint(tmp_path: Path) -> None:
    config, secret, ca = _setup(tmp_path)
    assert named_files(config) == [config, secret / "tls.crt", secret / "tls.key", ca]
    profile = client_profile(config)
    assert (profile.ca_list, profile.certificate, profile.verify) == (
        ca, secret / "tls.crt", True)
    before = fingerprint(config)
    (secret / "tls.crt").write_bytes((secret / "tls.crt").read_bytes() + b"\n")
    assert fingerprint(config) != before
    assert check_files(config) == []


def test_unusable_files_are_named_and_never_reloaded(tmp_path: Path) -> None:
    config, secret, ca = _setup(tmp_path)
    rpc = _Rpc()
    watcher = TlsWatcher(config, rpc)  # type: ignore[arg-type]
    ca.write_text("this is not PEM\n")
    (secret / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\ngarbage\n"
                                    "-----END CERTIFICATE-----\n")
    problems = check_files(config)
    assert any(p.startswith(f"CA bundle {ca}: not a PEM bundle") for p in problems)
    assert any(f"certificate {secret}/tls.crt" in p and "cannot be loaded" in p
               for p in problems)
    assert asyncio.run(watcher.check()) is False and rpc.calls == []
    assert watcher.last_error is not None and "secret-sip-edge-tls" in watcher.last_error

    fixed_config, _, _ = _setup(tmp_path / "fixed")
    watcher.tls_config = fixed_config
    assert asyncio.run(watcher.check()) is True and rpc.calls == ["tls.reload"]
    assert asyncio.run(watcher.check()) is False  # nothing changed since
