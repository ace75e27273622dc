"""Bolna clients by account: one client, rate limiter and connection pool per token."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from ..bolna import BolnaClient


def account_label(token: SecretStr) -> str:
    """A short, stable name for the account a token opens; never the token."""
    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:12]


@dataclass
class Accounts:
    """The default token's client and each apiTokenSecretRef's."""

    factory: Callable[[SecretStr], BolnaClient]
    default_token: SecretStr | None
    _clients: dict[str, BolnaClient] = field(default_factory=dict)

    def client(self, token: SecretStr) -> BolnaClient:
        """The client for a token, made on first use."""
        key = account_label(token)
        if key not in self._clients:
            self._clients[key] = self.factory(token)
        return self._clients[key]

    async def close(self) -> None:
        """Close every client."""
        for bolna in self._clients.values():
            await bolna.aclose()
        self._clients.clear()
