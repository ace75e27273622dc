"""One object per Bolna trunk: who may act on a trunk ID that several objects name.

Said for SipTrunks; CarrierTrunks follow the same rule among themselves (each kind has
its own index: the two Bolna APIs have separate trunk IDs).

A Bolna trunk ID reaches a SipTrunk two ways: the operator records the trunk it created
or adopted in ``status.trunkId``, and a user names one to adopt in the
``sip.bolna.ai/trunk-id`` annotation. Anyone who can create a SipTrunk can write the
annotation, in any namespace; with the operator's default token shared by namespaces,
adopting by ID would let any tenant take any trunk of the account. So a trunk ID belongs
to the SipTrunk that recorded it (the oldest, should two have), and only without a
recorded owner to the oldest claimant; every other claimant is Stalled and changes
nothing in Bolna, neither while it lives nor when it is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """A SipTrunk naming a Bolna trunk ID."""

    uid: str
    namespace: str
    name: str
    recorded: bool
    """The operator recorded the ID in this object's status (not only an annotation)."""
    created: str
    """The object's creationTimestamp (RFC 3339 sorts as text)."""


Claims = Callable[[str], Iterable[Claim]]
"""Trunk ID -> every SipTrunk that names it (an index over all SipTrunks)."""


def rightful(claims: Iterable[Claim]) -> Claim | None:
    """The claim that owns the trunk: recorded first, then the oldest, then by UID."""
    return min(claims, key=lambda c: (not c.recorded, c.created, c.uid), default=None)


def other_owner(claims: Claims | None, trunk_id: str, uid: str) -> Claim | None:
    """The owner of ``trunk_id`` if it is not the object ``uid``."""
    if claims is None:
        return None
    owner = rightful(claims(trunk_id))
    return owner if owner is not None and owner.uid != uid else None
