"""Start the operator: logging that keeps secrets out, then Kopf with our handlers.

Debug logging is for the operator's own decisions. Client libraries that log HTTP
exchanges at DEBUG (headers, and for some, response bodies, which for a Secret read
would be its base64 data) are held at INFO or above whatever the level, so ``--debug``
is safe to turn on in production.
"""

from __future__ import annotations

import logging
import os
import sys

import kopf

from .config import OperatorSettings
from .kube_outage import install_log_filter
from .memory import freeze_what_lives_forever
from .peering import own_identity, random_priority

_CHATTY_LOGGERS = ("urllib3", "httpcore", "hpack", "aiohttp.access", "asyncio")


def configure_logging(debug: bool) -> None:
    """Kopf's log format; DEBUG for us and Kopf when asked, never for HTTP internals."""
    kopf.configure(debug=debug, verbose=debug)
    install_log_filter()  # an unreachable apiserver is logged once, not per request
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if name != "hpack" else logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def run(settings: OperatorSettings, *, liveness_endpoint: str | None = None,
        metrics: tuple[str, int] | None = None) -> int:
    """Run until SIGTERM or SIGINT. Blocks. The exit code: 1 when the start found
    nothing it could ever serve (no trunk CRD), its reason on standard error."""
    if metrics is not None:
        from .metrics import serve

        serve(metrics[1], metrics[0])
    if settings.kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(settings.kubeconfig)
    configure_logging(settings.debug)
    from .handlers import register

    registry = kopf.OperatorRegistry()
    register(registry, settings)

    identity = own_identity()
    priority = settings.priority if settings.priority is not None else random_priority()
    if settings.peering:
        logging.getLogger(__name__).info(
            "peering %r as %s with priority %d: the highest-priority live replica acts",
            settings.peering, identity, priority)
    freeze_what_lives_forever()
    memo = kopf.Memo(config=settings, identity=identity, priority=priority)
    try:
        kopf.run(
            standalone=not settings.peering,
            peering_name=settings.peering or None,
            priority=priority,
            identity=identity,  # type: ignore[arg-type]
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            memo=memo,
            registry=registry,
            liveness_endpoint=liveness_endpoint,
        )
    except Exception:
        if "fatal" not in memo:
            raise
        print(f"error: {memo['fatal']}", file=sys.stderr)
        return 1
    return 0
