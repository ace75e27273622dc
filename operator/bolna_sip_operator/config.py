"""Operator settings: one typed model, filled from flags and environment variables.

Every setting has a flag (``bolna-sip-operator run --help``) and an environment variable
(``BOLNA_SIP_<NAME>``), so the same image runs from a Helm chart (env) and a terminal
(flags). The default Bolna token is a secret value: read from an env var or a file,
never from a flag (a flag shows in ``ps``), and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

ENV_PREFIX = "BOLNA_SIP_"
TOKEN_ENV = "BOLNA_API_TOKEN"


class OperatorSettings(BaseModel):
    """Everything the operator needs to know at start-up."""

    model_config = ConfigDict(frozen=True)

    bolna_url: str = Field(default="https://api.bolna.ai",
                           description="Base URL of Bolna's API.")
    default_token: SecretStr | None = Field(
        default=None, description="Bolna API token for SipTrunks without apiTokenSecretRef.")
    drift_interval: float = Field(
        default=300.0, gt=0,
        description="Seconds between checks of Bolna for changes made outside the operator.")
    request_timeout: float = Field(default=10.0, gt=0,
                                   description="Seconds before a Bolna call times out.")
    rate_limit_per_minute: int = Field(
        default=950, gt=0,
        description="Bolna calls per minute per account (Bolna allows 1000).")
    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces to watch; empty: all namespaces.")
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file; absent: in-cluster, then ~/.kube/config.")
    debug: bool = Field(default=False, description="Log at DEBUG level.")
    kamailio_rpc: tuple[str, ...] = Field(
        default=(), description="JSON-RPC URLs of the Kamailio replicas; empty: no SIP edge.")
    dispatcher_file: Path | None = Field(
        default=None, description="Dispatcher list file the replicas load.")
    address_file: Path | None = Field(
        default=None, description="Permissions address file the replicas load.")
    reload_delta: float = Field(
        default=5.0, gt=0, description="Kamailio's reload_delta: seconds between reloads.")
    probe_settle: float = Field(
        default=30.0, gt=0,
        description=("Seconds after a reload by which a dead gateway has failed its probes "
                     "(probing threshold x ping interval + OPTIONS timeout)."))
    health_interval: float = Field(
        default=5.0, gt=0, description="Seconds between reads of gateway health.")
    kamailio_service: str | None = Field(
        default=None,
        description=("NAMESPACE/NAME of the Kamailio Service: its ready EndpointSlice "
                     "endpoints are the replicas (in-cluster, instead of --kamailio-rpc)."))
    kamailio_rpc_port: str = Field(
        default="rpc", description="Name of the Service port that serves Kamailio's JSON-RPC.")
    lists_configmap: str | None = Field(
        default=None,
        description=("NAMESPACE/NAME of the ConfigMap the Kamailio pods mount: the operator "
                     "writes dispatcher.list and address.list into it (instead of files)."))
    propagation_timeout: float = Field(
        default=180.0, gt=0,
        description=("Seconds a replica may take to see a new ConfigMap (the kubelet syncs "
                     "mounted ConfigMaps about once a minute) before it counts as Pending."))
    peering: str | None = Field(
        default=None,
        description=("Kopf peering name: replicas that share it elect one to act; unset: "
                     "standalone (exactly one operator must run)."))
    priority: int | None = Field(
        default=None,
        description="Peering priority; unset: random, so no two replicas tie.")

    @model_validator(mode="after")
    def _edge_parts_agree(self) -> OperatorSettings:
        if self.kamailio_rpc and self.kamailio_service:
            raise ValueError("give either --kamailio-rpc or --kamailio-service, not both")
        if self.lists_configmap and (self.dispatcher_file or self.address_file):
            raise ValueError("give either --lists-configmap or --dispatcher-file/"
                             "--address-file, not both")
        for flag, value in (("--kamailio-service", self.kamailio_service),
                            ("--lists-configmap", self.lists_configmap)):
            if value is not None and len(value.split("/")) != 2:
                raise ValueError(f"{flag} takes NAMESPACE/NAME, got {value!r}")
        if self.peering and any(c in ns for ns in self.namespaces for c in "*?["):
            raise ValueError("--peering needs every --namespace spelled out: Kopf keeps a "
                             "KopfPeering object in each watched namespace, and a glob "
                             "names none; list the namespaces, or watch all of them")
        if self.edge_configured and not self.lists_configmap and not (
                self.dispatcher_file and self.address_file):
            raise ValueError("managing Kamailio needs where its lists go: --lists-configmap "
                             "NAMESPACE/NAME, or both --dispatcher-file and --address-file")
        return self

    @property
    def edge_configured(self) -> bool:
        """Whether the operator manages Kamailio too."""
        return bool(self.kamailio_rpc or self.kamailio_service)


def token_from_environment(token_file: Path | None) -> SecretStr | None:
    """The default token: a file (mounted Secret) wins over the environment variable."""
    if token_file is not None:
        return SecretStr(token_file.read_text(encoding="utf-8").strip())
    value = os.environ.get(TOKEN_ENV)
    return SecretStr(value) if value else None


def env_default(name: str, default: str | None = None) -> str | None:
    """The environment's value for a setting (``BOLNA_SIP_<NAME>``), else the default."""
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)
