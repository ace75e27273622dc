"""The drift check: one loop for all trunks, spread evenly over the interval.

Every ``interval`` seconds each trunk is compared with Bolna again, to correct changes
made in Bolna behind the operator's back. The comparisons are spread over the interval
(not fired at once), and the observations come from one list per account per interval
(``snapshots.ListSnapshots``, one per Bolna API), so an account with a thousand trunks
costs one list call per interval, not a thousand reads. Trunks stalled on their
generation are skipped by the reconciler. ``check`` must not wait for Bolna (the
operator's compares with the list it holds, and sends a trunk whose list is stale
through the trunk's queue): one slow answer would otherwise hold every trunk after it.
A trunk in sync whose check cannot be made (the account's list failing) keeps its
status and is checked again on a later round; the list is asked again as the failure
memory allows (``snapshots.failure_memory``), not once per trunk.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


ROUND_DONE = "drift round done"
"""The DEBUG line at the end of every round of the drift loop."""

TICK = 0.1
"""The shortest wait between two steps of a round: with more trunks than fit one per
tick, each step checks several, so 10,000 trunks cost at most 600 wake-ups a minute
rather than 10,000."""


async def run_drift_loop(interval: float, uids: Callable[[], list[str]],
                         check: Callable[[str], Awaitable[None]], *,
                         sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Forever: for each trunk known at the start of a round, ``check`` it, spaced out."""
    while True:
        round_uids = uids()
        if not round_uids:
            await sleep(interval)
            continue
        per_step = max(1, math.ceil(len(round_uids) * TICK / interval))
        steps = [round_uids[i:i + per_step] for i in range(0, len(round_uids), per_step)]
        gap = interval / len(steps)
        for step in steps:
            await sleep(gap)
            for uid in step:
                try:
                    await check(uid)
                except Exception as error:  # one trunk's trouble never stops the loop
                    log.debug("drift check of %s: %s", uid, error)
        # A signal for whoever must know that a round went by (tests asserting that
        # nothing happened wait for it rather than for a time).
        log.debug("%s: %d trunk(s) checked", ROUND_DONE, len(round_uids))
