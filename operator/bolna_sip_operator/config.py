"""Operator settings: typed models, the one definition of every setting.

Each field is one setting. ``bolna-sip-operator run`` builds its flags from these fields
(:mod:`.flags`): the flag is the field's name in kebab case (or ``flag`` in its
``json_schema_extra``), the environment variable is ``BOLNA_SIP_<FLAG>``, the help is
the description, the default and the variable's name, grouped under ``group`` with
``metavar``, and the value is converted and checked by the field's own type and
constraints. A new setting is one new field here; nothing else changes.

Two models: :class:`OperatorSettings` is what the operator does (handed to Kopf's
memo); :class:`ProcessSettings` is how the process is served and where its default
token comes from (probe and metrics ports, the token file), used by the command alone.

The default Bolna token is a secret value: read from a file or the environment variable
``BOLNA_API_TOKEN``, never from a flag (a flag shows in ``ps``), and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.config import JsonDict

from .bolna.client import DEFAULT_BASE_URL, DEFAULT_DEADLINE, DEFAULT_MAX_ANSWER_BYTES
from .edge.hostnames import DnsSettings, parse_servers

ENV_PREFIX = "BOLNA_SIP_"
TOKEN_ENV = "BOLNA_API_TOKEN"

# The groups of ``run --help``, in the order shown, each with a line that says what
# its settings are for. Every field names one of them.
BOLNA = "Bolna"
KUBERNETES = "Kubernetes"
REPLICAS = "Replicas"
SIP_EDGE = "SIP edge (Kamailio)"
PROBES = "Probes and metrics"
LOGGING = "Logging"
SETTING_GROUPS: dict[str, str] = {
    BOLNA: ("Bolna's API and the default account. The default token is read from "
            "--token-file or BOLNA_API_TOKEN, never from a flag; a SipTrunk with "
            "spec.apiTokenSecretRef uses its own."),
    KUBERNETES: "The cluster to watch.",
    REPLICAS: ("Several operator replicas with one acting (Kopf peering; the Helm chart "
               "installs the KopfPeering CRDs and object)."),
    SIP_EDGE: ("Keep the Kamailio replicas' dispatcher sets and allowed addresses equal "
               "to the SipTrunks. Without --kamailio-rpc or --kamailio-service the SIP "
               "edge is not managed. Lists go to files (--dispatcher-file and "
               "--address-file) or, in a cluster, to a ConfigMap (--lists-configmap)."),
    PROBES: "Kopf's liveness endpoint and the Prometheus metrics.",
    LOGGING: "Secrets are never logged, at any level.",
}


def cli_meta(group: str, metavar: str | None = None, *, flag: str | None = None) -> JsonDict:
    """The command-line metadata of a field (its ``json_schema_extra``)."""
    return {"group": group, "metavar": metavar, "flag": flag}


NO_FLAG: JsonDict = {"flag": False}
"""``json_schema_extra`` of a field that is never a flag nor an environment variable."""


class OperatorSettings(BaseModel):
    """Everything the operator needs to know at start-up."""

    model_config = ConfigDict(frozen=True)

    bolna_url: str = Field(
        default=DEFAULT_BASE_URL, description="Base URL of Bolna's API.",
        json_schema_extra=cli_meta(BOLNA, "URL"))
    default_token: SecretStr | None = Field(
        default=None, json_schema_extra=NO_FLAG,
        description=("Bolna API token for SipTrunks without apiTokenSecretRef (from "
                     "--token-file or BOLNA_API_TOKEN, never a flag)."))
    default_token_namespaces: tuple[str, ...] = Field(
        default=(), json_schema_extra=cli_meta(BOLNA, "NS"),
        description=("Namespaces whose SipTrunks may use the default token (globs like "
                     "'team-*' work); others must name their own with apiTokenSecretRef. "
                     "None given: every watched namespace. The default token opens one "
                     "Bolna account for every namespace that may use it."))
    drift_interval: float = Field(
        default=300.0, gt=0, json_schema_extra=cli_meta(BOLNA, "SECONDS"),
        description=("Seconds between checks of Bolna for changes made outside the "
                     "operator: one list of trunks per account, and every changed trunk "
                     "put back."))
    token_retry_interval: float = Field(
        default=180.0, gt=0, json_schema_extra=cli_meta(BOLNA, "SECONDS"),
        description=("Seconds between retries of the trunks stalled on a token Bolna "
                     "refused (401/403): one trunk of the account each time, then every "
                     "one at once as soon as any call with that token succeeds."))
    request_timeout: float = Field(
        default=10.0, gt=0, description="Seconds before a Bolna call times out.",
        json_schema_extra=cli_meta(BOLNA, "SECONDS"))
    request_deadline: float = Field(
        default=DEFAULT_DEADLINE, gt=0, json_schema_extra=cli_meta(BOLNA, "SECONDS"),
        description=("Seconds one Bolna request may take in all: connecting, sending, the "
                     "answer's headers and its whole body. --request-timeout bounds each "
                     "wait alone (an answer trickled a byte at a time meets every one of "
                     "them); keep this larger. A request past it is a temporary error."))
    bolna_max_answer_bytes: int = Field(
        default=DEFAULT_MAX_ANSWER_BYTES, ge=1024, json_schema_extra=cli_meta(BOLNA, "BYTES"),
        description=("Largest Bolna answer body read, in bytes (a list of 1,000 trunks "
                     "with 4 gateways and 10 numbers each is about 4 MiB). A larger one "
                     "is refused unread when its Content-Length says so, else cut off "
                     "there: a temporary error. Error answers are read only in part."))
    rate_limit_per_minute: int = Field(
        default=950, gt=0, json_schema_extra=cli_meta(BOLNA, "N", flag="rate-limit"),
        description="Bolna calls per minute per account (Bolna allows 1000).")
    namespaces: tuple[str, ...] = Field(
        default=(), json_schema_extra=cli_meta(KUBERNETES, "NS", flag="namespace"),
        description=("Watch only this namespace (globs like 'team-*' work). None given: all "
                     "namespaces."))
    max_concurrent_objects: int = Field(
        default=300, ge=1, json_schema_extra=cli_meta(KUBERNETES, "N"),
        description=("Objects (trunks, Secrets) handled at once; the rest wait as watch "
                     "events. A wave of new trunks waits for Bolna's rate limit anyway, "
                     "and each one handled at once holds its body and its handler's state "
                     "meanwhile: measured at 3,000 new trunks, peak RSS 403 MB unbounded "
                     "and 221 MB at 300, for 2% less pace."))
    kubeconfig: Path | None = Field(
        default=None, json_schema_extra=cli_meta(KUBERNETES, "FILE"),
        description="kubeconfig file. Unset: in-cluster, then $KUBECONFIG or ~/.kube/config.")
    debug: bool = Field(
        default=False, json_schema_extra=cli_meta(LOGGING),
        description="Log the operator's and Kopf's decisions at DEBUG level.")
    kamailio_rpc: tuple[str, ...] = Field(
        default=(), json_schema_extra=cli_meta(SIP_EDGE, "URL"),
        description=("JSON-RPC URL of a Kamailio replica, e.g. http://127.0.0.1:5071/RPC; "
                     "one per replica."))
    dispatcher_file: Path | None = Field(
        default=None, json_schema_extra=cli_meta(SIP_EDGE, "FILE"),
        description="The dispatcher list file the replicas load.")
    address_file: Path | None = Field(
        default=None, json_schema_extra=cli_meta(SIP_EDGE, "FILE"),
        description="The permissions address file the replicas load.")
    reload_delta: float = Field(
        default=5.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description="Kamailio's reload_delta: seconds between reloads.")
    probe_settle: float = Field(
        default=30.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description=("Seconds after a reload by which Kamailio has probed every gateway "
                     "(probing threshold x ping interval + OPTIONS timeout); a gateway is "
                     "not reported Healthy on a fresh reload alone."))
    health_interval: float = Field(
        default=5.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description="Seconds between reads of gateway health.")
    kamailio_service: str | None = Field(
        default=None, json_schema_extra=cli_meta(SIP_EDGE, "NAMESPACE/NAME"),
        description=("In a cluster, instead of --kamailio-rpc: the Kamailio Service whose "
                     "ready endpoints (EndpointSlices) are the replicas to reload and "
                     "verify."))
    kamailio_rpc_port: str = Field(
        default="rpc", json_schema_extra=cli_meta(SIP_EDGE, "NAME"),
        description="Name of that Service's port that serves Kamailio's JSON-RPC.")
    lists_configmap: str | None = Field(
        default=None, json_schema_extra=cli_meta(SIP_EDGE, "NAMESPACE/NAME"),
        description=("In a cluster, instead of files: write dispatcher.list and "
                      "address.list into this ConfigMap, which the Kamailio pods mount."))
    list_shards: int = Field(
        default=1, ge=1, le=64, json_schema_extra=cli_meta(SIP_EDGE, "N"),
        description=("With --edge-agents: how many ConfigMaps of 1 MiB the lists may take "
                     "(--lists-configmap, then NAME-1, NAME-2, ...; about 5,000 gateways "
                     "each). A mounted ConfigMap is one."))
    edge_agents: bool = Field(
        default=False, json_schema_extra=cli_meta(SIP_EDGE),
        description=("An edge agent in every Kamailio pod loads the lists from "
                     "--lists-configmap and reloads its own Kamailio within a second; the "
                     "operator verifies only (the chart's default)."))
    propagation_timeout: float = Field(
        default=180.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description=("How long a replica may take to see a changed ConfigMap before it "
                     "counts as Pending (the kubelet syncs mounted ConfigMaps about once "
                     "a minute)."))
    dns_server: tuple[str, ...] = Field(
        default=(), json_schema_extra=cli_meta(SIP_EDGE, "ADDR[:PORT]"),
        description=("DNS server for gateway hostnames (the operator resolves them and "
                     "writes one Kamailio destination per address); repeat for more. "
                     "Unset: the system's (/etc/resolv.conf, with its search domains), "
                     "after /etc/hosts."))
    dns_timeout: float = Field(
        default=2.0, gt=0, le=30, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description="How long one lookup of a gateway name may take.")
    dns_min_ttl: float = Field(
        default=5.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description=("A gateway name is looked up again after its TTL, at least this "
                     "long after the last lookup (and so often while lookups fail)."))
    dns_max_ttl: float = Field(
        default=300.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description="A gateway name is looked up again after at most this long.")
    dns_negative_ttl: float = Field(
        default=30.0, gt=0, json_schema_extra=cli_meta(SIP_EDGE, "SECONDS"),
        description=("A name that does not resolve (NXDOMAIN, no address) is asked again "
                     "after at most this long."))
    dns_family: Literal["any", "ipv4", "ipv6"] = Field(
        default="any", json_schema_extra=cli_meta(SIP_EDGE, "FAMILY"),
        description=("Which addresses of a gateway name are used: any (A and AAAA), ipv4 "
                     "(A) or ipv6 (AAAA). ipv4 when Kamailio has no IPv6 address to send "
                     "from."))
    peering: str | None = Field(
        default=None, json_schema_extra=cli_meta(REPLICAS, "NAME"),
        description=("Kopf peering name: replicas sharing it elect one to act, the others "
                     "wait. Unset: standalone, exactly one operator may run."))
    priority: int | None = Field(
        default=None, json_schema_extra=cli_meta(REPLICAS, "N"),
        description=("Peering priority: the highest live replica acts. Unset: random, so "
                     "two replicas never tie."))

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
        if (self.edge_agents or self.list_shards > 1) and not self.lists_configmap:
            raise ValueError("--edge-agents and --list-shards need --lists-configmap "
                             "NAMESPACE/NAME (where the agents read the lists)")
        if self.list_shards > 1 and not self.edge_agents:
            raise ValueError("--list-shards above 1 needs --edge-agents: a mounted "
                             "ConfigMap volume shows Kamailio one ConfigMap")
        if self.dns_min_ttl > self.dns_max_ttl:
            raise ValueError(f"--dns-min-ttl ({self.dns_min_ttl:g}) is above --dns-max-ttl "
                             f"({self.dns_max_ttl:g})")
        parse_servers(self.dns_server)
        if self.edge_configured and not self.lists_configmap and not (
                self.dispatcher_file and self.address_file):
            raise ValueError("managing Kamailio needs where its lists go: --lists-configmap "
                             "NAMESPACE/NAME, or both --dispatcher-file and --address-file")
        return self

    @property
    def dns(self) -> DnsSettings:
        """How the SIP edge looks gateway names up."""
        return DnsSettings(servers=self.dns_server, timeout=self.dns_timeout,
                           min_ttl=self.dns_min_ttl, max_ttl=self.dns_max_ttl,
                           negative_ttl=self.dns_negative_ttl,
                           families=("ipv4", "ipv6") if self.dns_family == "any"
                           else (self.dns_family,))

    @property
    def edge_configured(self) -> bool:
        """Whether the operator manages Kamailio too."""
        return bool(self.kamailio_rpc or self.kamailio_service)


class ProcessSettings(BaseModel):
    """How the ``run`` process is served, and where its default token comes from."""

    model_config = ConfigDict(frozen=True)

    token_file: Path | None = Field(
        default=None, json_schema_extra=cli_meta(BOLNA, "FILE"),
        description=("File holding the default Bolna API token (a mounted Secret); wins "
                     f"over {TOKEN_ENV}."))
    health_port: int = Field(
        default=8080, ge=0, le=65535, json_schema_extra=cli_meta(PROBES, "PORT"),
        description="Serve the liveness probe on --health-host:PORT/healthz; 0 for none.")
    health_host: str = Field(
        default="127.0.0.1", json_schema_extra=cli_meta(PROBES, "ADDR"),
        description=("Address of the liveness probe and the metrics (0.0.0.0 in a pod; "
                     "the image sets it)."))
    metrics_port: int = Field(
        default=0, ge=0, le=65535, json_schema_extra=cli_meta(PROBES, "PORT"),
        description="Serve Prometheus metrics on --health-host:PORT/metrics; 0 for none.")

    @model_validator(mode="after")
    def _ports_differ(self) -> ProcessSettings:
        if self.metrics_port and self.metrics_port == self.health_port:
            raise ValueError("--metrics-port and --health-port must differ "
                             f"(both {self.health_port})")
        return self

    @property
    def liveness_endpoint(self) -> str | None:
        """Kopf's liveness URL, or None for no probe."""
        if not self.health_port:
            return None
        return f"http://{self.health_host}:{self.health_port}/healthz"

    @property
    def metrics(self) -> tuple[str, int] | None:
        """Where to serve metrics (host, port), or None for nowhere."""
        return (self.health_host, self.metrics_port) if self.metrics_port else None


def token_from_environment(token_file: Path | None) -> SecretStr | None:
    """The default token: a file (mounted Secret) wins over the environment variable."""
    if token_file is not None:
        return SecretStr(token_file.read_text(encoding="utf-8").strip())
    value = os.environ.get(TOKEN_ENV)
    return SecretStr(value) if value else None
