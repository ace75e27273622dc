"""Kopf registrations, and nothing else: each handler is a thin call into the core.

``register`` attaches the handlers to a Kopf registry for the settings the operator runs
with; nothing is read from the environment at import. Both kinds (SipTrunk over Bolna's
legacy API, CarrierTrunk over its ``/trunk`` API) get the same handlers; the core picks
the kind's backend. Create, resume and spec updates run the trunk's Bolna work through
the per-trunk queue and hand the trunk to the SIP edge; deletion runs ``finalize``
behind the operator's finalizer. A change of a Secret
that trunks reference (``secret_watch``), and the drift loop, only enqueue work: they
never run beside Kopf's own handling of the trunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf
import pydantic

from . import installed_kinds
from .bolna import BolnaClient, LimiterRegistry, RateLimiter
from .config import OperatorSettings
from .edge import Edge
from .events import EventRecorder, ObjectRef
from .kamailio.discovery import EndpointSliceReplicas, ReplicaSource, StaticReplicas
from .kamailio.rpc import KamailioRpc
from .kamailio.sink import ConfigMapSink, FileSink, Sink
from .kube import USER_AGENT, Kube
from .kube_api import login as kube_login
from .kube_outage import MARKER, RETRY_DELAY, ObservedKubeApi, describe, is_unreachable
from .memory import run_trim_loop
from .metrics import ACTING, observe_bolna
from .model import names
from .model.kinds import CARRIER_TRUNK, SIP_TRUNK, Kind
from .peering import PeeringGate
from .reconcile.accounts import Accounts
from .reconcile.backend import Backend
from .reconcile.carrier_backend import CarrierTrunksBackend
from .reconcile.deletion import TrunkDeleter
from .reconcile.drift import run_drift_loop
from .reconcile.objects import TrunkObject
from .reconcile.outcomes import RetryLater
from .reconcile.queue import TrunkQueue, TrunkRegistry
from .reconcile.refusals import TokenRetries, run_token_retries
from .reconcile.secrets import SecretFollower
from .reconcile.sip_trunks_backend import SipTrunksBackend
from .reconcile.status_owner import StatusOwner
from .reconcile.trunk import Quiet, TrunkReconciler
from .reconcile.trunk_index import TrunkIndex
from .secret_watch import SecretWatch

WORKER_IDLE_SECONDS = 1.0
FINALIZER = f"{names.GROUP}/finalizer"
RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
CARRIER_RESOURCE = (names.GROUP, names.VERSION, names.CARRIER_PLURAL)

log = logging.getLogger(__name__)


class Core:
    """Everything the handlers share, made once at start-up (kept in Kopf's memo)."""

    def __init__(self, config: OperatorSettings, kube: Kube, gate: PeeringGate | None,
                 expected: Any, index: TrunkIndex) -> None:
        self.config = config
        self.kube = kube
        self.gate = gate
        limiters = LimiterRegistry(
            lambda: RateLimiter(rate_per_minute=config.rate_limit_per_minute))

        def client_for(token: pydantic.SecretStr) -> BolnaClient:
            return BolnaClient(token, base_url=config.bolna_url,
                               timeout=config.request_timeout,
                               deadline=config.request_deadline,
                               max_answer_bytes=config.bolna_max_answer_bytes,
                               limiters=limiters, observer=observe_bolna)

        self.recorder = EventRecorder(kube)
        self.accounts = Accounts(factory=client_for, default_token=config.default_token,
                                 default_token_namespaces=config.default_token_namespaces,
                                 retries=TokenRetries(config.token_retry_interval))
        self.owner = StatusOwner(kube, edge_managed=config.edge_configured)
        self.secrets = SecretFollower(
            kube, users=index.users, token_users=index.token_users,
            deleting=self._deleting, enqueue=self._enqueue_named, warn=self._warn_named)
        claims = index.claims
        backends: tuple[Backend, ...] = (SipTrunksBackend(), CarrierTrunksBackend())
        self.reconcilers: dict[Kind, TrunkReconciler] = {}
        self.deleters: dict[Kind, TrunkDeleter] = {}
        for backend in backends:
            reconciler = TrunkReconciler(kube, self.accounts, self.owner, self.post_event,
                                         secrets=self.secrets, claims=claims(backend.kind),
                                         backend=backend)
            reconciler.refresh_age = config.drift_interval * 0.9
            self.reconcilers[backend.kind] = reconciler
            self.deleters[backend.kind] = TrunkDeleter(
                kube, self.accounts, self.owner, self.post_event, secrets=self.secrets,
                claims=claims(backend.kind), backend=backend)
        self.registry = TrunkRegistry()
        self.queue = TrunkQueue()
        self.edge = (Edge(_sink(config, kube), _replicas(config, kube), self.owner,
                          self.post_event, reload_delta=config.reload_delta,
                          probe_settle=config.probe_settle,
                          propagation_timeout=config.propagation_timeout,
                          acting=gate.acting if gate is not None else None,
                          expected=expected, dns=config.dns)
                     if config.edge_configured else None)
        self.tasks: list[asyncio.Task[None]] = []

    def post_event(self, body: dict[str, Any], type_: str, reason: str, message: str
                   ) -> None:
        """Every Event of the operator goes through the recorder (aggregated)."""
        self.recorder.post(ObjectRef.from_body(body), type_, reason, message)

    def start_loops(self) -> None:
        """The drift loop, and the SIP edge's two loops: once, from a resource handler.

        They post Events; started from the first trunk handler rather than at start-up
        so every trunk the operator already has is registered first.
        """
        if self.tasks:
            return
        self.tasks.append(asyncio.create_task(run_drift_loop(
            self.config.drift_interval, self.registry.uids, self._drift_check)))
        self.tasks.append(asyncio.create_task(run_token_retries(
            self.accounts.retries, self.owner, self.accounts, self.enqueue,
            live=lambda uid: (o := self.registry.get(uid)) is not None and not o.deleting,
            acting=self.gate.acting if self.gate is not None else None)))
        if self.edge is not None:
            self.tasks += [asyncio.create_task(self.edge.run_sync()),
                           asyncio.create_task(self.edge.run_health(
                               self.config.health_interval))]

    async def _drift_check(self, uid: str) -> None:
        """A trunk quiet since its last full check is confirmed here, in the loop (a
        comparison that writes nothing, and never waits for Bolna); one whose account's
        list is stale, or that differs, goes through the queue (the queued run waits
        for the one list); one whose account's list is failing is left for a later
        round, its status as it is."""
        if self.gate is not None and not await self.gate.acting():
            return  # a standby replica leaves Bolna to the acting one
        obj = self.registry.get(uid)
        if obj is None or obj.deleting:
            return
        if self.secrets.password_unsent(obj.namespace, obj.spec,
                                        self.owner.facts(uid).password_version):
            # A rotation the watch has not brought (it always should): send it now.
            self.enqueue(uid)
            return
        verdict = self.reconcilers[obj.kind].quiet_now(
            obj, max_age=self.config.drift_interval * 0.9)
        if verdict is Quiet.CONFIRMED or verdict is Quiet.FAILING:
            return
        self.enqueue(uid, drift_check=True)

    def _deleting(self, namespace: str, ref: str) -> bool:
        obj = self.registry.named(namespace, ref)
        return obj is not None and obj.deleting

    def _enqueue_named(self, namespace: str, refs: set[str]) -> None:
        """Reconcile the named trunks soon (a Secret they use changed)."""
        for ref in sorted(refs):
            obj = self.registry.named(namespace, ref)
            if obj is not None and not obj.deleting:
                self.enqueue(obj.uid)

    def _warn_named(self, namespace: str, refs: set[str], message: str) -> None:
        for ref in sorted(refs):
            obj = self.registry.named(namespace, ref)
            if obj is not None:
                self.post_event(obj.body, "Warning", "TokenSecretDeleted", message)

    def enqueue(self, uid: str, *, drift_check: bool = False) -> None:
        """Reconcile the trunk soon with its newest body; never beside Kopf's run."""
        async def work() -> None:
            obj = self.registry.get(uid)
            if obj is None or obj.deleting:
                return
            await self.reconcilers[obj.kind].reconcile(
                obj, drift_check=drift_check, max_age=self.config.drift_interval * 0.9)
        self.queue.enqueue(uid, work, weak=drift_check)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.queue.aclose()
        if self.edge is not None:
            await self.edge.aclose()
        await self.recorder.aclose()
        await self.accounts.close()
        await self.kube.close()


def _sink(config: OperatorSettings, kube: Kube) -> Sink:
    """Where Kamailio's lists go: a ConfigMap in a cluster, files on one host."""
    if config.lists_configmap:
        namespace, name = config.lists_configmap.split("/")
        return ConfigMapSink(kube, namespace, name, max_shards=config.list_shards,
                             agents=config.edge_agents)
    assert config.dispatcher_file is not None and config.address_file is not None
    return FileSink(config.dispatcher_file, config.address_file)


def _replicas(config: OperatorSettings, kube: Kube) -> ReplicaSource:
    """Which Kamailio replicas to reload: a Service's ready endpoints, or fixed URLs."""
    if config.kamailio_service:
        namespace, service = config.kamailio_service.split("/")
        return EndpointSliceReplicas(kube, namespace, service,
                                     port_name=config.kamailio_rpc_port)
    return StaticReplicas([KamailioRpc(url) for url in config.kamailio_rpc])


async def _export_acting(gate: PeeringGate | None, interval: float = 5.0) -> None:
    """Keep ``bolna_sip_operator_acting`` equal to whether this replica acts.

    Without peering the one replica acts. With it, the gate applies Kopf's rule to the
    peering object every few seconds: the alert "no replica acting" needs a standby to
    say 0, not only the acting one to say 1. An unreadable peering object is standby.
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


async def _run(work: Any) -> None:
    try:
        await work
    except RetryLater as retry:
        raise kopf.TemporaryError(retry.message, delay=retry.delay) from None
    except Exception as error:  # the apiserver away: logged once (kube_outage), retried
        if not is_unreachable(error):
            raise
        raise kopf.TemporaryError(f"{MARKER} ({describe(error)})", delay=RETRY_DELAY
                                  ) from None


def register(registry: kopf.OperatorRegistry, config: OperatorSettings) -> None:
    """Attach every handler to ``registry`` for an operator running with ``config``."""

    @kopf.on.startup(id="start", registry=registry)
    async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        """Kopf's state in annotations under our group; our finalizer; the core."""
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=names.GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=names.GROUP, key="last-handled-configuration")
        settings.posting.enabled = False  # Events come from our recorder, aggregated
        # A bounded number of objects in hand at once (see --max-concurrent-objects).
        # A worker leaves its slot 1 s after its object's last event rather than
        # Kopf's 5 s, or a wave of creates would wait on slots held by finished trunks.
        settings.queueing.worker_limit = config.max_concurrent_objects
        settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
        kube = Kube(ObservedKubeApi.connect(str(config.kubeconfig) if config.kubeconfig
                                            else None, user_agent=USER_AGENT))
        gate = (PeeringGate(kube, config.peering, memo["identity"], memo["priority"],
                            namespaces=config.namespaces)
                if config.peering else None)
        # The kinds whose CRD is installed; one absent is said once and served once
        # its CRD comes (Kopf follows CRDs); with none at all, nothing to serve.
        try:
            kinds = await installed_kinds.installed(kube.served_plurals)
        except installed_kinds.NoTrunkCrd as error:
            memo["fatal"] = str(error)
            raise kopf.PermanentError(str(error)) from None
        # Every trunk, before Kopf hands over the first one: one list per kind.
        index = TrunkIndex()
        for kind in kinds:
            index.put_all(kind, await kube.list_trunks(kind.plural, config.namespaces))
        memo["crd_task"] = asyncio.create_task(installed_kinds.follow_absent(
            kube.served_plurals, [k for k in installed_kinds.KINDS if k not in kinds]))
        log.info("%d trunk(s) in the namespaces watched", len(index))
        memo["trunk_index"] = index
        memo["core"] = core = Core(config, kube, gate, expected=index.uids, index=index)
        # Secrets are followed by their metadata alone, whatever writes them (no label).
        memo["secret_task"] = asyncio.create_task(SecretWatch(
            kube.api, core.secrets, config.namespaces).run())
        memo["acting_task"] = asyncio.create_task(_export_acting(gate))
        memo["trim_task"] = asyncio.create_task(run_trim_loop())

    @kopf.on.login(id="login", registry=registry)
    async def login(**_: Any) -> kopf.AiohttpSession | None:
        """Kopf's own in-cluster and kubeconfig logins, read when called, in a session
        that names the operator: Kopf's own writes (finalizers, its annotations) then
        show field manager ``bolna-sip-operator`` too (Kopf has no setting for it; the
        apiserver names a manager after the User-Agent). The same login as the
        operator's own calls (``kube_api.login``)."""
        info = kube_login()
        if info is None:
            return None
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
            headers={**info.as_http_headers(), "User-Agent": USER_AGENT},
            proxy=info.proxy_url, trust_env=info.trust_env)
        return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                                   aiohttp_session=session, expiration=info.expiration)

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        """Stop the loops; close the Bolna, Kamailio and Kubernetes sessions."""
        tasks = [task for task in (memo.get("acting_task"), memo.get("trim_task"),
                                   memo.get("secret_task"), memo.get("crd_task")) if task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if memo.get("core") is not None:
            await memo["core"].close()

    async def reconcile_trunk(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any
                              ) -> None:
        """Any change to spec, a new trunk, or an operator restart (which observes
        Bolna through one list per account, not a read per trunk)."""
        core: Core = memo["core"]
        obj = core.registry.put(TrunkObject.from_body(body))
        core.start_loops()
        if core.edge is not None:
            core.edge.upsert(obj)
        list_age = config.drift_interval * 0.9 if reason == "resume" else None
        reconciler = core.reconcilers[obj.kind]
        await _run(core.queue.run(obj.uid, lambda: reconciler.reconcile(
            obj, list_age=list_age)))

    async def delete_trunk(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Take the gateways off the SIP edge; delete in Bolna (or orphan); release."""
        core: Core = memo["core"]
        obj = core.registry.put(TrunkObject.from_body(body))
        core.start_loops()
        if core.edge is not None:
            core.edge.remove(obj.uid)
        await _run(core.queue.run(obj.uid, lambda: core.deleters[obj.kind].finalize(obj)))
        core.reconcilers[obj.kind].forget(obj.uid)
        core.registry.remove(obj.uid)
        core.queue.forget(obj.uid)

    def index_trunk(kind: Kind) -> Callable[..., None]:
        def keep_index(body: kopf.Body, type: str | None, uid: str, memo: kopf.Memo,
                       **_: Any) -> None:
            """Every event of every trunk keeps the trunk index current (the start-up
            list filled it)."""
            index: TrunkIndex = memo["trunk_index"]
            if type == "DELETED":
                index.drop(uid)
            else:
                index.put(kind, body)
        return keep_index

    for resource, prefix, kind in ((RESOURCE, "", SIP_TRUNK),
                                   (CARRIER_RESOURCE, "carrier_", CARRIER_TRUNK)):
        # The handler IDs of SipTrunks stay as they were: Kopf keeps its progress under
        # them in each object's annotations.
        kopf.on.resume(*resource, id="reconcile_trunk", registry=registry)(reconcile_trunk)
        kopf.on.create(*resource, id="reconcile_trunk", registry=registry)(reconcile_trunk)
        kopf.on.update(*resource, field="spec", id="reconcile_trunk",
                       registry=registry)(reconcile_trunk)
        kopf.on.delete(*resource, id="delete_trunk", registry=registry)(delete_trunk)
        kopf.on.event(*resource, id=f"{prefix}trunk_index",
                      registry=registry)(index_trunk(kind))
