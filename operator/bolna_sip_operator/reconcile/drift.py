"""The drift check: one loop for all trunks, spread evenly over the interval.

Every ``interval`` seconds each trunk is compared with Bolna again, to correct changes
made in Bolna behind the operator's back. The comparisons are spread over the interval
(not fired at once), and the observations come from one list per account per interval
(``snapshots.ListSnapshots``, one per Bolna API), so an account with a thousand trunks
costs one list call per interval, not a thousand reads. Trunks stalled on their
generation are skipped by the reconciler; a trunk whose check fails temporarily is
simply checked again on the next round, so an outage of Bolna costs one failed list per
account per round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_drift_loop(interval: float, uids: Callable[[], list[str]],
                         check: Callable[[str], Awaitable[None]]) -> None:
    """Forever: for each trunk known at the start of a round, ``check`` it, spaced out."""
    while True:
        round_uids = uids()
        if not round_uids:
            await asyncio.sleep(interval)
            continue
        gap = interval / len(round_uids)
        for uid in round_uids:
            await asyncio.sleep(gap)
            try:
                await check(uid)
            except Exception as error:  # one trunk's trouble never stops the loop
                log.debug("drift check of %s: %s", uid, error)
