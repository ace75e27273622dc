"""Which trunk kinds have their CRD installed: the operator serves those, and says which not.

Before (issue 25), the operator listed both kinds at start; with only the SipTrunk CRD
installed, as the README's first steps had it, the CarrierTrunk list answered 404 and
the start failed and was tried again every minute, forever, while SipTrunks got no
status and nothing said which CRD was missing.

Now start-up reads the API group's discovery once: the kinds whose CRD is there are
served; one whose CRD is absent is off, said once in the log (with the command that
installs it) and in ``bolna_sip_operator_kind_served``. Kopf itself follows CRDs, so a
CRD installed later is served without a restart: ``follow_absent`` looks at discovery
now and then while a kind is off, and says so when it comes. With no trunk CRD at all
there is nothing to serve: the start fails with the command, and ``run`` exits 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from .metrics import KIND_SERVED
from .model import names
from .model.kinds import CARRIER_TRUNK, SIP_TRUNK, Kind

log = logging.getLogger(__name__)

KINDS = (SIP_TRUNK, CARRIER_TRUNK)
CRD_FILES = {SIP_TRUNK: "crds/siptrunk.yaml", CARRIER_TRUNK: "crds/carriertrunk.yaml"}
FOLLOW_INTERVAL = 10.0
"""Seconds between looks at discovery while a kind's CRD is absent."""

Discover = Callable[[], Awaitable[set[str]]]
"""The plurals the API group serves now (an empty set when the group is unknown)."""


class NoTrunkCrd(Exception):  # noqa: N818 (a state of the cluster)
    """Neither trunk CRD is installed: nothing to serve."""


def crd_name(kind: Kind) -> str:
    """The CRD's object name, as ``kubectl get crd`` shows it."""
    return f"{kind.plural}.{names.GROUP}"


def install_hint(kind: Kind) -> str:
    """The commands that install a kind's CRD."""
    return (f"kubectl apply --server-side -f {CRD_FILES[kind]} (or: bolna-sip-operator crd "
            f"--kind {kind.kind} | kubectl apply --server-side -f -)")


def absent_message(kind: Kind) -> str:
    """What the operator says once about a kind whose CRD is absent."""
    return (f"{kind.kind}s are off: the CRD {crd_name(kind)} is not installed. Install it "
            f"with {install_hint(kind)}; the operator serves it as soon as it exists, "
            "without a restart")


def no_crd_message() -> str:
    """Why the operator cannot start without any trunk CRD."""
    return ("no trunk CRD is installed (" + ", ".join(crd_name(k) for k in KINDS)
            + "): nothing to serve. Install them with "
            "kubectl apply --server-side -f crds/ (or the chart's "
            "charts/bolna-sip-operator/crds/), then start the operator again")


def served(plurals: set[str], kinds: Iterable[Kind] = KINDS) -> list[Kind]:
    """The kinds whose CRD the discovery answer holds (pure)."""
    return [kind for kind in kinds if kind.plural in plurals]


async def installed(discover: Discover) -> list[Kind]:
    """The kinds to serve, said in the log and the metric; NoTrunkCrd if none."""
    present = served(await discover())
    for kind in KINDS:
        KIND_SERVED.labels(kind.kind).set(1 if kind in present else 0)
        if kind not in present:
            log.warning("%s", absent_message(kind))
    if not present:
        raise NoTrunkCrd(no_crd_message())
    return present


async def follow_absent(discover: Discover, absent: list[Kind], *,
                        interval: float = FOLLOW_INTERVAL) -> None:
    """While a kind's CRD is absent, look again every ``interval``; once it is there,
    say so (Kopf follows CRDs itself: it starts watching the kind's objects, and the
    handlers, the trunk index among them, see them as they come)."""
    waiting = list(absent)
    while waiting:
        await asyncio.sleep(interval)
        try:
            present = served(await discover(), waiting)
        except Exception as error:  # the apiserver is away: look again later
            log.debug("cannot read the API group's discovery: %s", error)
            continue
        for kind in present:
            waiting.remove(kind)
            KIND_SERVED.labels(kind.kind).set(1)
            log.info("the CRD %s is installed: serving %ss", crd_name(kind), kind.kind)
