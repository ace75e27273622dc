"""What the operator must know of every trunk before it acts on any one: pure data.

Three questions span all trunks: which trunks exist (the SIP edge writes nothing until
it has seen each, or a restart would take the others' sets out of Kamailio), which
trunks use a Secret (a rotation re-reconciles them), and which objects name a Bolna
trunk ID (one object per Bolna trunk, ``claims``).

The index is filled from one list of each kind when the operator starts, before any
trunk is reconciled, and kept current from every watch event after. Kopf's own indexes
answer the same, but on a start they hold every object back until all are indexed in a
way that wakes every waiting object on each one indexed: with 10,000 trunks the
operator did not reconcile a single one in two minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import names
from ..model.kinds import Kind
from .claims import Claim, Claims
from .objects import secret_names, token_secret_names


@dataclass(frozen=True)
class _Entry:
    """What one object contributes to the index, to take it back out when it changes."""

    kind: Kind
    secrets: tuple[tuple[str, str], ...]
    tokens: tuple[tuple[str, str], ...]
    """The Secrets among ``secrets`` that hold the account's API token."""
    ref: str
    claims: tuple[tuple[str, Claim], ...]


def _claims_of(body: Mapping[str, Any]) -> tuple[tuple[str, Claim], ...]:
    """Bolna trunk ID -> the object's claim: recorded in status, or annotated."""
    meta = body.get("metadata") or {}
    uid, namespace, name = meta.get("uid", ""), meta.get("namespace") or "", meta.get("name")
    created = str(meta.get("creationTimestamp") or "")
    annotated = (meta.get("annotations") or {}).get(names.TRUNK_ID_ANNOTATION)
    recorded = (body.get("status") or {}).get("trunkId")
    found: dict[str, Claim] = {}
    for trunk_id, is_recorded in ((annotated, False), (recorded, True)):
        if isinstance(trunk_id, str) and trunk_id:
            found[trunk_id] = Claim(uid, namespace, str(name), is_recorded, created)
    return tuple(found.items())


class TrunkIndex:
    """Every trunk of every kind, by UID, Secret and claimed Bolna trunk ID."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._users: dict[tuple[str, str], set[str]] = {}
        self._token_users: dict[tuple[str, str], set[str]] = {}
        self._claims: dict[tuple[Kind, str], dict[str, Claim]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, kind: Kind, body: Mapping[str, Any]) -> None:
        """The object as it is now (from the start-up list or a watch event)."""
        meta = body.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        self.drop(uid)
        namespace = meta.get("namespace") or ""
        entry = _Entry(
            kind=kind,
            secrets=tuple((namespace, secret) for secret in
                          secret_names(body.get("spec") or {})),
            tokens=tuple((namespace, secret) for secret in
                         token_secret_names(body.get("spec") or {})),
            ref=kind.ref(str(meta.get("name"))),
            claims=_claims_of(body))
        self._entries[uid] = entry
        for key in entry.secrets:
            self._users.setdefault(key, set()).add(entry.ref)
        for key in entry.tokens:
            self._token_users.setdefault(key, set()).add(entry.ref)
        for trunk_id, claim in entry.claims:
            self._claims.setdefault((kind, trunk_id), {})[uid] = claim

    def put_all(self, kind: Kind, bodies: Iterable[Mapping[str, Any]]) -> None:
        """Every object of a list."""
        for body in bodies:
            self.put(kind, body)

    def drop(self, uid: str) -> None:
        """The object is gone."""
        entry = self._entries.pop(uid, None)
        if entry is None:
            return
        for table, keys in ((self._users, entry.secrets), (self._token_users, entry.tokens)):
            for key in keys:
                users = table.get(key)
                if users is not None:
                    # Another object of the same name and kind cannot exist at once.
                    users.discard(entry.ref)
                    if not users:
                        del table[key]
        for trunk_id, _ in entry.claims:
            claimants = self._claims.get((entry.kind, trunk_id))
            if claimants is not None:
                claimants.pop(uid, None)
                if not claimants:
                    del self._claims[(entry.kind, trunk_id)]

    def uids(self) -> set[str]:
        """Every trunk's UID."""
        return set(self._entries)

    def users(self, namespace: str, secret: str) -> set[str]:
        """The trunks (``Kind.ref``) that reference the Secret."""
        return set(self._users.get((namespace, secret), ()))

    def token_users(self, namespace: str, secret: str) -> set[str]:
        """The trunks (``Kind.ref``) whose API token the Secret holds."""
        return set(self._token_users.get((namespace, secret), ()))

    def claims(self, kind: Kind) -> Claims:
        """Trunk ID -> the objects of ``kind`` naming it (each API has its own IDs)."""
        return lambda trunk_id: list(self._claims.get((kind, trunk_id), {}).values())
