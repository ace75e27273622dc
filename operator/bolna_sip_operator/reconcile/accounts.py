"""Bolna accounts: a client per token, which namespaces the default token serves, and
the token each trunk last used.

One client (so one rate limiter and one connection pool) per token. The operator's
default token opens one Bolna account for every namespace allowed to use it, so that
permission lives here, next to the token. The token a trunk last used is kept in memory:
deleting the trunk in Bolna needs it, even if its Secret was removed by hand. Every
answer a client gets is told to ``retries`` (``refusals.TokenRetries``), so a token
Bolna refused and then accepts again wakes the trunks stalled on it.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pydantic import SecretStr

from ..bolna import BolnaClient
from .external import ExternalTrunks
from .outcomes import Stalled
from .refusals import TokenRetries
from .snapshots import AccountSnapshots


def account_label(token: SecretStr) -> str:
    """A short, stable name for the account a token opens; never the token."""
    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:12]


@dataclass
class Accounts:
    """The default token's client and each apiTokenSecretRef's."""

    factory: Callable[[SecretStr], BolnaClient]
    default_token: SecretStr | None
    default_token_namespaces: tuple[str, ...] = ()
    """Namespaces (globs) whose trunks may use the default token; empty: all."""
    snapshots: AccountSnapshots = field(default_factory=AccountSnapshots)
    retries: TokenRetries = field(default_factory=TokenRetries)
    """Told of every answer of every account's client: when to retry trunks stalled on
    a refused token."""
    _clients: dict[str, BolnaClient] = field(default_factory=dict)
    _last_token: dict[str, tuple[SecretStr, str]] = field(default_factory=dict)

    def client(self, token: SecretStr) -> BolnaClient:
        """The client for a token, made on first use."""
        key = account_label(token)
        if key not in self._clients:
            client = self._clients[key] = self.factory(token)
            client.add_observer(partial(self._answered, key))
        return self._clients[key]

    def _answered(self, account: str, _method: str, status: str, _seconds: float) -> None:
        self.retries.answered(account, status)

    def trunks(self, token: SecretStr) -> ExternalTrunks:
        """The trunks of the account the token opens."""
        return ExternalTrunks(self.client(token), account_label(token), self.snapshots)

    def default_for(self, namespace: str, *, deleting: bool = False) -> SecretStr:
        """The default token, if the namespace may use it; else Stalled NoToken."""
        if self.default_token is None:
            raise Stalled("NoToken", "no Bolna API token: set spec.apiTokenSecretRef, or "
                          "give the operator a default token")
        allowed = self.default_token_namespaces
        if allowed and not any(fnmatch.fnmatchcase(namespace, p) for p in allowed):
            fix = ("allow the namespace (--default-token-namespaces), or set "
                   "deletionPolicy: Orphan" if deleting else "set spec.apiTokenSecretRef "
                   "to a Secret with this namespace's own token")
            raise Stalled("NoToken", f"the operator's default Bolna token is not for "
                          f"namespace {namespace}: {fix}")
        return self.default_token

    def used(self, uid: str, token: SecretStr) -> None:
        """Remember the token a trunk used last (and its account's label)."""
        held = self._last_token.get(uid)
        if held is None or held[0] != token:
            self._last_token[uid] = (token, account_label(token))

    def last_used(self, uid: str) -> SecretStr | None:
        """The token the trunk used last, if this process knows it."""
        held = self._last_token.get(uid)
        return held[0] if held is not None else None

    def account_of(self, uid: str) -> str | None:
        """The label of the account the trunk used last, if this process knows it."""
        held = self._last_token.get(uid)
        return held[1] if held is not None else None

    def forget(self, uid: str) -> None:
        """The trunk is gone."""
        self._last_token.pop(uid, None)

    async def close(self) -> None:
        """Close every client."""
        for bolna in self._clients.values():
            await bolna.aclose()
        self._clients.clear()
