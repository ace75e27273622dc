"""When trunks stalled on a refused token are retried: the pure decisions of
``TokenRetries``, and the loop that enqueues them, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from bolna_sip_operator.reconcile.accounts import Accounts, account_label
from bolna_sip_operator.reconcile.observations import BolnaReport
from bolna_sip_operator.reconcile.refusals import TokenRetries, run_token_retries
from bolna_sip_operator.reconcile.status_owner import StatusOwner, TrunkIdentity


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _retries(interval: float = 180.0) -> tuple[TokenRetries, Clock]:
    clock = Clock()
    return TokenRetries(interval, clock=clock), clock


def test_a_refused_account_gets_one_probe_per_interval_each_trunk_in_turn() -> None:
    retries, clock = _retries()
    stalled = {"acct": ["u3", "u1", "u2"]}
    retries.answered("acct", "403")
    assert retries.plan(stalled, clock.now) == []
    clock.now += 179
    assert retries.plan(stalled, clock.now) == []
    probed = []
    for _ in range(4):
        clock.now += 180
        [retry] = retries.plan(stalled, clock.now)
        assert not retry.woken and retry.account == "acct"
        probed += retry.uids
        assert retries.plan(stalled, clock.now + 1) == []  # not again within the interval
        retries.answered("acct", "401")  # the probe is refused
    assert probed == ["u1", "u2", "u3", "u1"]


def test_a_success_with_the_token_wakes_every_stalled_trunk_at_most_once_per_interval(
        ) -> None:
    retries, clock = _retries()
    stalled = {"acct": ["u2", "u1"], "other": ["u9"]}
    retries.answered("acct", "403")
    retries.answered("other", "403")
    retries.answered("acct", "200")
    [woken] = retries.plan(stalled, clock.now)
    assert woken.woken and woken.account == "acct" and woken.uids == ["u1", "u2"]
    # Refused again at once, and another success: the next wake waits an interval
    # (a token refused for one trunk only must not be retried after every success).
    retries.answered("acct", "403")
    retries.answered("acct", "204")
    clock.now += 60
    assert retries.plan(stalled, clock.now) == []
    clock.now += 120
    again, other = retries.plan(stalled, clock.now)
    assert again.woken and again.uids == ["u1", "u2"]
    assert (other.account, other.uids, other.woken) == ("other", ["u9"], False)


def test_a_refusal_after_the_success_cancels_the_wake_and_errors_change_nothing() -> None:
    retries, clock = _retries()
    stalled = {"acct": ["u1"]}
    retries.answered("acct", "403")
    retries.answered("acct", "200")
    retries.answered("acct", "401")
    retries.answered("acct", "NetworkError")
    retries.answered("acct", "503")
    assert retries.plan(stalled, clock.now) == []
    retries.answered("unknown", "200")  # no state made for an account never refused
    assert retries.plan({}, clock.now) == []


def test_an_account_no_longer_stalled_is_forgotten_and_starts_afresh() -> None:
    retries, clock = _retries(10.0)
    retries.answered("acct", "403")
    assert retries.plan({}, clock.now) == []
    clock.now += 5
    # Seen stalled again (say after a restart): waits a whole interval from now.
    assert retries.plan({"acct": ["u1"]}, clock.now) == []
    clock.now += 9.9
    assert retries.plan({"acct": ["u1"]}, clock.now) == []
    clock.now += 0.1
    assert [r.uids for r in retries.plan({"acct": ["u1"]}, clock.now)] == [["u1"]]


def test_the_note_says_when_the_trunk_is_tried_again() -> None:
    assert TokenRetries(6.0).note().startswith("retried every 6 s, ")
    with pytest.raises(ValueError, match="positive"):
        TokenRetries(0)


def test_the_loop_enqueues_by_the_account_each_trunk_used_last() -> None:
    """The loop asks the status owner which trunks are stalled on a token and the
    accounts which token each used; it enqueues the probe and then the wake."""

    class Writer:
        async def patch_status(self, *_: object, **__: object) -> None:
            return None

    async def scenario() -> list[str]:
        owner = StatusOwner(Writer(), edge_managed=False)
        accounts = Accounts(factory=lambda token: None,  # type: ignore[arg-type,return-value]
                            default_token=None)
        clock = Clock()
        accounts.retries = TokenRetries(10.0, clock=clock)
        token = SecretStr("team-token")
        for uid in ("u1", "u2", "gone"):
            owner.see(TrunkIdentity("ns", uid, uid, 1, {}))
            accounts.used(uid, token)
            await owner.report(uid, bolna=BolnaReport(1, "Stalled", "Unauthorized", "x"))
        accounts.retries.answered(account_label(token), "403")
        enqueued: list[str] = []
        steps = iter([10.0, 0.5, 0.5])

        async def sleep(_: float) -> None:
            try:
                clock.now += next(steps)
            except StopIteration:
                raise asyncio.CancelledError from None
            if clock.now > 1010.2:  # after the probe: a call with the token succeeds
                accounts.retries.answered(account_label(token), "200")

        with pytest.raises(asyncio.CancelledError):
            await run_token_retries(accounts.retries, owner, accounts, enqueued.append,
                                    live=lambda uid: uid != "gone", clock=clock,
                                    sleep=sleep)
        return enqueued

    assert asyncio.run(scenario()) == ["u1", "u1", "u2"]
