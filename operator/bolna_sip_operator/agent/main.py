"""``bolna-sip-operator edge-agent``: follow the lists, write them, reload, report.

Two tasks share a ``Loader``: the follower writes each complete write of the lists as
it comes, and the reloader sends the reloads those writes owe, once a second until
Kamailio takes them. ``/readyz`` answers 200 once the newest lists seen are written
(the chart's startup probe: Kamailio starts after that), with the report as its body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

from aiohttp import web

from .. import __version__
from ..kamailio.rpc import KamailioRpc, RpcError, Unreachable
from ..kube_api import KubeApi
from .follow import Incomplete, ListsFollower
from .loader import Loader
from .settings import EdgeAgentSettings
from .tls import TlsProber, TlsWatcher, check_files

log = logging.getLogger("bolna_sip_operator.edge_agent")

RELOAD_RETRY = 1.0
"""Seconds between tries of an owed reload (Kamailio starting, or refusing it)."""


async def run_agent(settings: EdgeAgentSettings) -> int:
    """Run until SIGTERM/SIGINT (or, with ``once``, until the lists are written)."""
    api = KubeApi.connect(str(settings.kubeconfig) if settings.kubeconfig else None,
                          user_agent=f"bolna-sip-operator-edge-agent/{__version__}")
    rpc = KamailioRpc(settings.kamailio_rpc) if settings.kamailio_rpc else None
    follower = ListsFollower(api, settings.namespace, settings.name, resync=settings.resync)
    loader = Loader(settings.directory, rpc, reload_delta=settings.reload_delta)
    try:
        if settings.once:
            return await _once(follower, loader, settings)
        return await _serve(follower, loader, settings)
    finally:
        if rpc is not None:
            await rpc.aclose()
        await api.close()


async def _once(follower: ListsFollower, loader: Loader, settings: EdgeAgentSettings) -> int:
    for _ in range(20):
        try:
            lists = await follower.read()
        except Incomplete as error:
            log.info("%s; reading again", error)
            await asyncio.sleep(0.5)
            continue
        except Exception as error:
            log.error("cannot read ConfigMap %s: %s", settings.lists_configmap, error)
            return 1
        loader.write(lists)
        print(json.dumps(loader.report.as_dict(), indent=2))
        return 0
    log.error("the shards of %s never matched their manifest in 10 s",
              settings.lists_configmap)
    return 1


async def _serve(follower: ListsFollower, loader: Loader, settings: EdgeAgentSettings
                 ) -> int:
    owed = asyncio.Event()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    async def follow() -> None:
        async for lists in follower.follow():
            if loader.write(lists) or loader.owed:
                owed.set()

    async def reload() -> None:
        while True:
            await owed.wait()
            owed.clear()
            if not await loader.reload_owed():
                loop.call_later(RELOAD_RETRY, owed.set)

    tasks = [asyncio.create_task(follow(), name="follow"),
             asyncio.create_task(reload(), name="reload")]
    if settings.tls_config is not None and loader.rpc is not None:
        tasks.append(asyncio.create_task(
            _tls(settings.tls_config, loader.rpc, settings), name="tls"))
    runner = await _health_server(loader, settings) if settings.health_port else None
    log.info("edge agent %s: following ConfigMap %s into %s; Kamailio at %s",
             __version__, settings.lists_configmap, settings.directory,
             settings.kamailio_rpc)
    stop = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
    for task in (*tasks, stop):
        task.cancel()
    if runner is not None:
        await runner.cleanup()
    for task in done:
        if task is not stop and not task.cancelled() and task.exception() is not None:
            log.error("the edge agent's %s loop failed", task.get_name(),
                      exc_info=task.exception())
            return 1
    log.info("edge agent stopped")
    return 0


async def _tls(tls_config: Path, rpc: KamailioRpc, settings: EdgeAgentSettings) -> None:
    """Reload changed TLS files; handshake with the TLS gateways (``agent/tls.py``)."""
    watcher = TlsWatcher(tls_config, rpc)
    prober = TlsProber(tls_config, rpc)
    for problem in check_files(tls_config):
        log.error("TLS: %s (fix the Secret; Kamailio keeps what it loaded)", problem)
    loop = asyncio.get_running_loop()
    next_probe = loop.time()
    while True:
        if await watcher.check():
            next_probe = loop.time()  # new certificates: find out at once what they do
        if loop.time() >= next_probe:
            try:
                await prober.probe_all()
            except (Unreachable, RpcError) as error:
                log.debug("TLS probes: Kamailio did not answer (%s)", error)
            next_probe = loop.time() + settings.tls_probe_interval
        await asyncio.sleep(min(settings.tls_watch_interval,
                                max(0.0, next_probe - loop.time())))


async def _health_server(loader: Loader, settings: EdgeAgentSettings) -> web.AppRunner:
    """/healthz: the process serves; /readyz: the newest lists are written (the report)."""
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        report = loader.report.as_dict()
        status = 200 if loader.report.written_at is not None else 503
        return web.json_response(report, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.health_host, settings.health_port).start()
    return runner
