"""Trunks stalled on a token Bolna refused: retried slowly, and woken when it works.

Bolna answers 401 or 403 to a token it refuses. Usually the token was revoked and only
a new Secret helps, but the same answer comes from a moment of trouble in Bolna's own
authentication, or from a WAF in front of it. A Stalled trunk is otherwise retried only
when its spec or a Secret changes, so such a blip would leave every trunk of the account
Stalled until someone touched each one.

So, per account (one token), ``TokenRetries`` remembers when Bolna last refused it (or a
retry was last sent) and whether a call with it has succeeded since, and decides:

- a probe: every ``interval`` seconds, one stalled trunk of the account (in turn) is
  retried. A revoked token costs one refused call per interval per account, not one per
  trunk, and never a loop;
- a wake: as soon as any call with the token succeeds (another trunk's reconcile, the
  drift loop's list, or the probe itself), every trunk of the account stalled on it is
  retried. At most once per interval: a token Bolna refuses for one trunk only (a trunk
  ID of another account, say) must not be retried after every success of the others.

Which trunks are stalled, and on which account, is read from the status owner (reason
``Unauthorized``) and from the token each trunk used last (``Accounts.last_used``):
nothing is kept per trunk here. The decisions are pure (``TokenRetries.plan`` takes the
clock as an argument); ``run_token_retries`` is the loop that asks and enqueues.
The token itself never appears: accounts are known by ``account_label``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .accounts import Accounts
    from .status_owner import StatusOwner

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 180.0
REASON = "Unauthorized"
"""The Bolna reason of a trunk stalled on a refused token (``outcomes.classify``)."""
REFUSED = frozenset({"401", "403"})


@dataclass
class _Account:
    last_try: float
    """When Bolna last refused the token, or a retry was last sent: the next probe waits
    an interval from here."""
    worked: bool = False
    """A call with the token succeeded after the last refusal."""
    woken_at: float = float("-inf")
    turn: str = ""
    """The trunk probed last: the next probe takes the one after it."""


class TokenRetries:
    """When to retry the trunks stalled on each account's refused token."""

    def __init__(self, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval <= 0:
            raise ValueError("the token retry interval must be positive")
        self.interval = interval
        self._clock = clock
        self._accounts: dict[str, _Account] = {}

    def answered(self, account: str, status: str) -> None:
        """A Bolna call with the account's token ended with ``status`` (an HTTP status,
        or the name of the error when there was no answer). Runs on every answer, so
        it stays a dictionary look-up."""
        if status in REFUSED:
            state = self._accounts.get(account)
            if state is None:
                self._accounts[account] = _Account(self._clock())
            else:
                state.last_try = self._clock()
                state.worked = False
        elif status.startswith("2"):
            state = self._accounts.get(account)
            if state is not None:
                state.worked = True

    def note(self) -> str:
        """What a stalled trunk's condition says about when it is tried again."""
        return (f"retried every {self.interval:g} s, and at once when the Secret changes "
                "or another call with this token succeeds")

    def plan(self, stalled: Mapping[str, Sequence[str]], now: float) -> list[Retry]:
        """The retries due now, given the stalled trunks by account.

        An account with no stalled trunk is forgotten; one seen stalled for the first
        time (this process saw no refusal yet: a restart) waits an interval, as a
        refusal just now would.
        """
        for account in [a for a in self._accounts if a not in stalled]:
            del self._accounts[account]
        due: list[Retry] = []
        for account, uids in sorted(stalled.items()):
            if not uids:
                continue
            state = self._accounts.setdefault(account, _Account(now))
            ordered = sorted(uids)
            if state.worked and now - state.woken_at >= self.interval:
                state.worked, state.woken_at, state.last_try = False, now, now
                due.append(Retry(account, ordered, woken=True))
            elif now - state.last_try >= self.interval:
                state.turn = next((u for u in ordered if u > state.turn), ordered[0])
                state.last_try = now
                due.append(Retry(account, [state.turn], woken=False))
        return due


@dataclass(frozen=True)
class Retry:
    """Trunks of one account to retry: all of them (``woken``: the token worked again),
    or one, the probe."""

    account: str
    uids: list[str]
    woken: bool


def stalled_by_account(owner: StatusOwner, accounts: Accounts,
                       live: Callable[[str], bool]) -> dict[str, list[str]]:
    """The live trunks stalled on a refused token, by the account of the token they
    used last (a trunk this process never gave a token to is left to its own events)."""
    stalled: dict[str, list[str]] = {}
    for uid in owner.with_bolna_reason(REASON):
        account = accounts.account_of(uid)
        if account is not None and live(uid):
            stalled.setdefault(account, []).append(uid)
    return stalled


async def run_token_retries(retries: TokenRetries, owner: StatusOwner, accounts: Accounts,
                            enqueue: Callable[[str], None], *,
                            live: Callable[[str], bool] = lambda _uid: True,
                            acting: Callable[[], Awaitable[bool]] | None = None,
                            clock: Callable[[], float] = time.monotonic,
                            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                            ) -> None:
    """Forever: every tick (a tenth of the interval, at most a second), enqueue what
    ``retries.plan`` says. A tick with no trunk stalled on a token costs one empty
    look-up; a standby replica (``acting`` False) leaves it to the acting one."""
    tick = min(1.0, retries.interval / 10)
    while True:
        await sleep(tick)
        try:
            if not owner.with_bolna_reason(REASON):
                retries.plan({}, clock())
                continue
            if acting is not None and not await acting():
                continue
            due = retries.plan(stalled_by_account(owner, accounts, live), clock())
        except Exception as error:  # the peering object unreadable: the next tick
            log.debug("token retries: %s", error)
            continue
        for retry in due:
            if retry.woken:
                log.info("a call with account %s's token succeeded: retrying its %d "
                         "trunk(s) stalled on a refused token", retry.account,
                         len(retry.uids))
            else:
                log.debug("account %s's token was refused: retrying trunk %s",
                          retry.account, retry.uids[0])
            for uid in retry.uids:
                enqueue(uid)
