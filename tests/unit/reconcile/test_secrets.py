"""The in-use finalizer's decisions (pure), and what a Secret's new version sets off.

The writes go to a recorder here (the integration tests make them against a real
apiserver); what is tested is which writes and which reconciles follow each sighting.
"""

from __future__ import annotations

import asyncio

import pytest

from bolna_sip_operator.kube import PatchForbidden, SecretMeta
from bolna_sip_operator.model import names
from bolna_sip_operator.reconcile.secrets import Hold, SecretFollower, hold_action

HELD = (names.SECRET_FINALIZER,)


def meta(version: str = "1", *, held: bool = False, deleting: bool = False,
         uid: str = "u1") -> SecretMeta:
    return SecretMeta("ns", "token", uid, version, HELD if held else (), deleting)


@pytest.mark.parametrize(("secret", "live", "deleting", "action"), [
    (meta(), {"a"}, set(), Hold.HOLD),                         # in use, not held
    (meta(held=True), {"a"}, set(), Hold.NOTHING),             # in use, held
    (meta(held=True), set(), set(), Hold.RELEASE),             # no longer used
    (meta(), set(), set(), Hold.NOTHING),                      # never ours
    (meta(held=True, deleting=True), {"a"}, {"a"}, Hold.NOTHING),   # a deletion needs it
    (meta(held=True, deleting=True), {"a"}, set(), Hold.RELEASE_AFTER_GRACE),  # rotation
    (meta(held=True, deleting=True), set(), set(), Hold.RELEASE),   # unused: let it go
    (meta(deleting=True), {"a"}, set(), Hold.NOTHING),         # nothing to let go
])
def test_hold_action(secret: SecretMeta, live: set[str], deleting: set[str],
                     action: Hold) -> None:
    assert hold_action(secret, live_users=live, deleting_users=deleting) is action


class Writes:
    """Records the operator's writes and answers as the apiserver would."""

    def __init__(self, forbidden: bool = False) -> None:
        self.calls: list[str] = []
        self.forgotten: list[tuple[str, str]] = []
        self.forbidden = forbidden
        self.version = 100

    async def hold_secret(self, namespace: str, name: str) -> SecretMeta | None:
        return self._write("hold", held=True)

    async def release_secret(self, namespace: str, name: str) -> SecretMeta | None:
        return self._write("release", held=False)

    def _write(self, what: str, *, held: bool) -> SecretMeta:
        self.calls.append(what)
        if self.forbidden:
            raise PatchForbidden("no")
        self.version += 1
        return meta(str(self.version), held=held)

    def forget_secret(self, namespace: str, name: str) -> None:
        self.forgotten.append((namespace, name))


def follower(writes: Writes, *, token_users: set[str] | None = None,
             users: set[str] | None = None, clock: list[float] | None = None
             ) -> tuple[SecretFollower, list[set[str]]]:
    enqueued: list[set[str]] = []
    users = {"a"} if users is None else users
    token_users = users if token_users is None else token_users
    now = clock if clock is not None else [0.0]
    return SecretFollower(
        writes, users=lambda ns, name: set(users), token_users=lambda ns, name: set(token_users),
        deleting=lambda ns, ref: False, enqueue=lambda ns, refs: enqueued.append(refs),
        clock=lambda: now[0]), enqueued


def test_a_new_version_reconciles_the_users_once_and_the_operators_own_write_does_not() -> None:
    async def run() -> None:
        writes = Writes()
        secrets, enqueued = follower(writes)
        await secrets.seen(meta("1", held=True), quiet=True)   # the start-up list
        assert enqueued == [] and writes.calls == []
        await secrets.seen(meta("2"))          # kubectl replace: the finalizer gone
        assert enqueued == [{"a"}]
        assert writes.calls == ["hold"]        # put back at once
        await secrets.seen(meta("101", held=True))   # the event of that very write
        assert enqueued == [{"a"}], "the operator's own write is no rotation"
        await secrets.seen(meta("1", uid="u2"))      # deleted and created again
        assert enqueued == [{"a"}, {"a"}]
    asyncio.run(run())


def test_a_password_secret_is_never_written() -> None:
    async def run() -> None:
        writes = Writes()
        secrets, enqueued = follower(writes, token_users=set())
        await secrets.seen(meta("1"), quiet=True)
        await secrets.seen(meta("2"))
        assert writes.calls == [] and enqueued == [{"a"}]
        assert secrets.password_unsent("ns", {"authPasswordSecretRef": {
            "name": "token", "key": "password"}}, "u1/1")
        assert not secrets.password_unsent("ns", {"authPasswordSecretRef": {
            "name": "token", "key": "password"}}, "u1/2")
    asyncio.run(run())


def test_an_unreferenced_secret_is_not_kept() -> None:
    async def run() -> None:
        secrets, enqueued = follower(Writes(), users=set())
        await secrets.seen(meta("1"))
        assert secrets.meta("ns", "token") is None and enqueued == []
    asyncio.run(run())


def test_a_forbidden_namespace_is_said_once_and_left_alone_for_a_while(
        caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        writes = Writes(forbidden=True)
        now = [0.0]
        secrets, _ = follower(writes, clock=now)
        for version in ("1", "2", "3"):
            await secrets.seen(meta(version))
        assert writes.calls == ["hold"]
        now[0] = 601.0
        await secrets.seen(meta("4"))
        assert writes.calls == ["hold", "hold"]
    asyncio.run(run())
    assert caplog.text.count("may not patch Secrets in namespace ns") == 2


def test_a_deleted_secret_reconciles_its_users_and_is_forgotten() -> None:
    async def run() -> None:
        writes = Writes()
        secrets, enqueued = follower(writes, token_users=set())
        await secrets.seen(meta("1"), quiet=True)
        await secrets.gone("ns", "token")
        assert enqueued == [{"a"}] and secrets.meta("ns", "token") is None
        assert ("ns", "token") in writes.forgotten
    asyncio.run(run())
