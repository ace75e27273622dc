"""Kopf registrations, and nothing else: each handler is a thin call into reconcile/.

Create, resume and spec updates run the same ``TrunkReconciler.reconcile``; the drift
timer runs it against a shared per-account list; a Secret change runs it for the trunks
that reference the Secret (found through a Kopf index, so no trunk is read for nothing).
Deletion runs ``finalize`` behind the operator's own finalizer.

The drift interval is read from the environment at import, because Kopf fixes a timer's
interval when the handler is registered; ``bolna-sip-operator run`` sets it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import Any, cast

import kopf
import pydantic

from .bolna import BolnaClient, LimiterRegistry, RateLimiter
from .config import OperatorSettings
from .kamailio.discovery import EndpointSliceReplicas, ReplicaSource, StaticReplicas
from .kamailio.rpc import KamailioRpc
from .kamailio.sink import ConfigMapSink, FileSink, Sink
from .kube import Kube
from .metrics import ACTING, observe_bolna
from .model import names
from .peering import PeeringGate
from .reconcile.edge import EdgeSync
from .reconcile.trunk import Accounts, RetryLater, TrunkObject, TrunkReconciler

DRIFT_INTERVAL = float(os.environ.get("BOLNA_SIP_DRIFT_INTERVAL", "300"))
FINALIZER = f"{names.GROUP}/finalizer"
RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)

log = logging.getLogger(__name__)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Kopf's own state in annotations under our group; our finalizer; the reconciler."""
    config: OperatorSettings = memo["config"]
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration")
    settings.posting.level = logging.INFO
    kube = await Kube.connect(str(config.kubeconfig) if config.kubeconfig else None)
    limiters = LimiterRegistry(
        lambda: RateLimiter(rate_per_minute=config.rate_limit_per_minute))

    def client_for(token: pydantic.SecretStr) -> BolnaClient:
        return BolnaClient(token, base_url=config.bolna_url, timeout=config.request_timeout,
                           limiters=limiters, observer=observe_bolna)

    def post_event(body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        kopf.event(cast(kopf.Body, body), type=kind, reason=reason, message=message)

    memo["kube"] = kube
    memo["accounts"] = Accounts(factory=client_for, default_token=config.default_token)
    memo["reconciler"] = TrunkReconciler(kube, memo["accounts"], post_event,
                                         kamailio_configured=config.edge_configured)
    memo["edge"] = None
    memo["tasks"] = []
    gate = (PeeringGate(kube, config.peering, memo["identity"], memo["priority"],
                        namespaces=config.namespaces)
            if config.peering else None)
    memo["acting_task"] = asyncio.create_task(_export_acting(gate))
    if config.edge_configured:
        every_trunk: kopf.Index[str, Any] = kwargs["trunk_uids"]
        memo["edge"] = EdgeSync(
            _sink(config, kube), _replicas(config, kube), memo["reconciler"], post_event,
            reload_delta=config.reload_delta, expected=lambda: set(every_trunk),
            probe_settle=config.probe_settle,
            propagation_timeout=config.propagation_timeout,
            acting=gate.acting if gate is not None else None)


async def _export_acting(gate: PeeringGate | None, interval: float = 5.0) -> None:
    """Keep ``bolna_sip_operator_acting`` equal to whether this replica acts.

    Without peering the one replica acts. With it, the gate applies Kopf's rule to the
    peering object, as the SIP edge's loops do, every few seconds: the alert "no replica
    acting" needs a standby to say 0, not only the acting one to say 1. A peering
    object that cannot be read counts as standby, as it does for the edge.
    """
    if gate is None:
        ACTING.set(1)
        return
    while True:
        try:
            ACTING.set(1 if await gate.acting() else 0)
        except Exception as error:  # the apiserver is away: the edge waits, say so
            log.warning("cannot read the peering object (%s); exporting standby", error)
            ACTING.set(0)
        await asyncio.sleep(interval)


def _sink(config: OperatorSettings, kube: Kube) -> Sink:
    """Where Kamailio's lists go: a ConfigMap in a cluster, files on one host."""
    if config.lists_configmap:
        namespace, name = config.lists_configmap.split("/")
        return ConfigMapSink(kube, namespace, name)
    assert config.dispatcher_file is not None and config.address_file is not None
    return FileSink(config.dispatcher_file, config.address_file)


def _replicas(config: OperatorSettings, kube: Kube) -> ReplicaSource:
    """Which Kamailio replicas to reload: a Service's ready endpoints, or fixed URLs."""
    if config.kamailio_service:
        namespace, service = config.kamailio_service.split("/")
        return EndpointSliceReplicas(kube, namespace, service,
                                     port_name=config.kamailio_rpc_port)
    return StaticReplicas([KamailioRpc(url) for url in config.kamailio_rpc])


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Kopf's own in-cluster and kubeconfig logins, read when called.

    Kopf's default login goes through whichever client library is installed; the
    official one reads $KUBECONFIG once, at import, before ``--kubeconfig`` is applied.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the edge loops; close the Bolna, Kamailio and Kubernetes sessions."""
    tasks = list(memo.get("tasks") or ())
    if memo.get("acting_task") is not None:
        tasks.append(memo["acting_task"])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)  # gone before their clients close
    if memo.get("edge") is not None:
        await memo["edge"].aclose()
    await memo["accounts"].close()
    await memo["kube"].close()


def _start_edge_loops(memo: kopf.Memo) -> None:
    """Start the SIP edge's two loops, once, from inside a resource handler.

    ``kopf.event`` needs context that Kopf sets for resource handlers, not for startup
    handlers; a task inherits the context it was created in, so the loops are started
    by the first handler call rather than at start-up.
    """
    edge = memo.get("edge")
    if edge is None or memo["tasks"]:
        return
    config: OperatorSettings = memo["config"]
    # In place: each resource's memo is a shallow copy of the operator's, so a new list
    # would be seen by this trunk only, and the next trunk would start the loops again.
    memo["tasks"].extend([asyncio.create_task(edge.run_sync()),
                          asyncio.create_task(edge.run_health(config.health_interval))])


async def _run(work: Awaitable[None]) -> None:
    try:
        await work
    except RetryLater as retry:
        raise kopf.TemporaryError(str(retry), delay=retry.delay) from None


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def reconcile_trunk(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Any change to spec, a new trunk, or an operator restart."""
    obj = TrunkObject.from_body(body)
    if memo.get("edge") is not None:
        _start_edge_loops(memo)
        memo["edge"].upsert(obj)
    await _run(memo["reconciler"].reconcile(obj))


@kopf.timer(*RESOURCE, interval=DRIFT_INTERVAL, initial_delay=DRIFT_INTERVAL)
async def check_drift(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Correct changes made in Bolna behind the operator's back."""
    await _run(memo["reconciler"].reconcile(
        TrunkObject.from_body(body), drift_check=True, max_age=DRIFT_INTERVAL * 0.9))


@kopf.on.delete(*RESOURCE)
async def delete_trunk(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Take the gateways off the SIP edge; delete in Bolna (or orphan); then release."""
    obj = TrunkObject.from_body(body)
    if memo.get("edge") is not None:
        _start_edge_loops(memo)
        memo["edge"].remove(obj.uid)
    await _run(memo["reconciler"].finalize(obj))


@kopf.index(*RESOURCE)
def trunk_uids(uid: str, **_: Any) -> dict[str, None]:
    """Every SipTrunk's UID: the SIP edge waits for all of them before its first write."""
    return {uid: None}


@kopf.index(*RESOURCE)
def trunks_by_secret(namespace: str | None, name: str, spec: kopf.Spec, **_: Any
                     ) -> dict[tuple[str | None, str], str]:
    """(namespace, Secret name) -> names of the SipTrunks that reference it."""
    refs = (spec.get("authPasswordSecretRef"), spec.get("apiTokenSecretRef"))
    return {(namespace, ref["name"]): name for ref in refs
            if isinstance(ref, dict) and isinstance(ref.get("name"), str)}


def _referenced(namespace: str | None, name: str, **kwargs: Any) -> bool:
    return (namespace, name) in kwargs["trunks_by_secret"]


@kopf.on.event("v1", "secrets", when=_referenced)
async def secret_changed(namespace: str | None, name: str, type: str,
                         memo: kopf.Memo, **kwargs: Any) -> None:
    """A referenced Secret was created or changed: rotate the password, retry Stalled."""
    if namespace is not None:
        memo["kube"].forget_secret(namespace, name)
    if type not in ("ADDED", "MODIFIED") or namespace is None:
        return  # None is the initial listing, which resume already covers.
    for trunk_name in set(kwargs["trunks_by_secret"].get((namespace, name), ())):
        body = await memo["kube"].get_trunk(namespace, trunk_name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            continue
        try:
            await memo["reconciler"].reconcile(TrunkObject.from_body(body))
        except RetryLater as retry:
            log.warning("SipTrunk %s/%s after Secret %s changed: %s; the drift check "
                        "retries", namespace, trunk_name, name, retry)
