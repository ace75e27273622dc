"""The edge agent's settings: one model, from flags and ``BOLNA_EDGE_AGENT_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import cli_meta as _cli

ENV_PREFIX = "BOLNA_EDGE_AGENT_"
LISTS = "Lists"
KAMAILIO = "Kamailio"
SERVING = "Probes and logging"
SETTING_GROUPS: dict[str, str] = {
    LISTS: ("Where the operator writes the lists (its --lists-configmap) and where this "
            "pod's Kamailio reads them."),
    KAMAILIO: "This pod's Kamailio, reloaded after each change of its lists.",
    SERVING: "The probes of the agent's container.",
}


class EdgeAgentSettings(BaseModel):
    """What one edge agent follows, where it writes, and whom it reloads."""

    model_config = ConfigDict(frozen=True)

    lists_configmap: str = Field(
        json_schema_extra=_cli(LISTS, "NAMESPACE/NAME"),
        description=("The operator's --lists-configmap: shard 0 of the lists; shards "
                     "NAME-1, NAME-2, ... are read when it names them."))
    directory: Path = Field(
        json_schema_extra=_cli(LISTS, "DIR"),
        description=("Where dispatcher.list and address.list are written (atomically), "
                     "the directory Kamailio's DS_LIST_FILE and ADDRESS_FILE name."))
    kubeconfig: Path | None = Field(
        default=None, json_schema_extra=_cli(LISTS, "FILE"),
        description="Kubeconfig to use outside a pod (in a pod: its service account).")
    resync: float = Field(
        default=300.0, gt=0, json_schema_extra=_cli(LISTS, "SECONDS"),
        description="Seconds after which the watch is started anew with a fresh read.")
    kamailio_rpc: str | None = Field(
        default=None, json_schema_extra=_cli(KAMAILIO, "URL"),
        description=("This pod's Kamailio JSON-RPC, e.g. http://$(POD_IP):5090/RPC. "
                     "Unset: the lists are written and never reloaded (with --once)."))
    reload_delta: float = Field(
        default=5.0, ge=0, json_schema_extra=_cli(KAMAILIO, "SECONDS"),
        description=("Kamailio's reload_delta: a reload sooner than this after the last "
                     "one is refused, and is sent again once it has passed."))
    tls_config: Path | None = Field(
        default=None, json_schema_extra=_cli(KAMAILIO, "FILE"),
        description=("Kamailio's TLS profiles (its TLS_CONFIG, tls.cfg). Given: the files "
                     "it names are watched and Kamailio reloads them (tls.reload) when one "
                     "changes, and every TLS gateway gets a handshake of the agent's own, "
                     "whose failure (a certificate that fails verification, a refused "
                     "client certificate) is written into Kamailio's htable tlsfail for "
                     "the operator's status."))
    tls_watch_interval: float = Field(
        default=5.0, gt=0, json_schema_extra=_cli(KAMAILIO, "SECONDS"),
        description="Seconds between two looks at the TLS files (with --tls-config).")
    tls_probe_interval: float = Field(
        default=60.0, gt=0, json_schema_extra=_cli(KAMAILIO, "SECONDS"),
        description=("Seconds between two rounds of handshakes with the TLS gateways (with "
                     "--tls-config); also right after a reload of the TLS files."))
    once: bool = Field(
        default=False, json_schema_extra=_cli(LISTS),
        description=("Write the current lists and exit (an init container, or a look at "
                     "what a pod would load); 1 when they cannot be read."))
    health_port: int = Field(
        default=8091, ge=0, le=65535, json_schema_extra=_cli(SERVING, "PORT"),
        description=("Serve /healthz (the loop runs) and /readyz (the newest lists are "
                      "written; the body says what was loaded) on it; 0 for none."))
    health_host: str = Field(
        default="0.0.0.0", json_schema_extra=_cli(SERVING, "ADDR"),
        description="Address of /healthz and /readyz (the kubelet probes the pod's IP).")
    debug: bool = Field(default=False, json_schema_extra=_cli(SERVING),
                        description="Log at DEBUG.")

    @model_validator(mode="after")
    def _names(self) -> EdgeAgentSettings:
        if len(self.lists_configmap.split("/")) != 2:
            raise ValueError(f"--lists-configmap takes NAMESPACE/NAME, got "
                             f"{self.lists_configmap!r}")
        if not self.once and self.kamailio_rpc is None:
            raise ValueError("--kamailio-rpc is needed to reload Kamailio (or give --once "
                             "to write the lists and exit)")
        return self

    @property
    def namespace(self) -> str:
        """The lists' namespace."""
        return self.lists_configmap.split("/")[0]

    @property
    def name(self) -> str:
        """Shard 0's name."""
        return self.lists_configmap.split("/")[1]
