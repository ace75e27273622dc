"""``bolna-sip-operator import``: an existing Bolna account as SipTrunk manifests.

A team that already has trunks in Bolna moves them into Git by adopting them: each
manifest carries the trunk's ID in the ``sip.bolna.ai/trunk-id`` annotation, so the
operator takes the trunk over instead of creating one, and its spec is what Bolna holds,
so the operator finds nothing to change. Bolna never returns a SIP password: a userpass
trunk gets a reference to a Secret with a placeholder name, which the user creates with
the password the trunk has (nothing here ever sees or writes one), and the annotation
``sip.bolna.ai/password-matches-bolna: "true"``, so adopting it sends no password.

:func:`trunk_manifest` and :func:`object_names` are pure; :func:`read_account` is the
only I/O (Bolna's list of trunks, then each trunk's numbers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .bolna.client import BolnaClient
from .bolna.wire import PhoneNumber, Trunk
from .model import names

__all__ = ["ImportedTrunk", "object_names", "read_account", "trunk_manifest"]

_DNS_LABEL_MAX = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")

# Bolna field -> spec field, for the settings copied as they are when Bolna sent them.
_SETTINGS = {
    "description": "description",
    "allow": "allow",
    "disallow": "disallow",
    "inbound_enabled": "inboundEnabled",
    "outbound_leading_plus_enabled": "outboundLeadingPlusEnabled",
    "transport": "transport",
    "media_encryption": "mediaEncryption",
    "media_encryption_optimistic": "mediaEncryptionOptimistic",
    "direct_media": "directMedia",
    "rtp_symmetric": "rtpSymmetric",
    "force_rport": "forceRport",
    "qualify_frequency": "qualifyFrequency",
    "is_active": "active",
}


@dataclass(frozen=True)
class ImportedTrunk:
    """One trunk of the account with the numbers Bolna lists for it."""

    trunk: Trunk
    numbers: list[PhoneNumber]


def object_names(trunk_names: Iterable[str]) -> list[str]:
    """A distinct Kubernetes object name (a DNS label) for each Bolna trunk name, in order.

    Bolna names are free text ("Twilio Production"); lower-cased, with every run of other
    characters made one dash, they become ``twilio-production``. Two names that come out
    the same get ``-2``, ``-3``, ... so no manifest overwrites another."""
    taken: set[str] = set()
    result = []
    for name in trunk_names:
        base = _NOT_DNS.sub("-", name.lower()).strip("-")[:_DNS_LABEL_MAX].strip("-")
        base = base or "trunk"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            suffix = f"-{n}"
            candidate = base[:_DNS_LABEL_MAX - len(suffix)].rstrip("-") + suffix
        taken.add(candidate)
        result.append(candidate)
    return result


def trunk_manifest(imported: ImportedTrunk, object_name: str, *,
                   namespace: str | None = None, deletion_policy: str = "Orphan",
                   token_secret: str | None = None) -> dict[str, Any]:
    """The SipTrunk that adopts ``imported`` and asks for nothing Bolna does not hold.

    A field Bolna did not send is left out of the spec (the CRD's default applies), never
    guessed. ``deletion_policy`` defaults to Orphan: deleting an imported manifest by
    mistake must not delete a production trunk; set Delete once the trunk is owned by Git.
    """
    trunk = imported.trunk
    spec: dict[str, Any] = {"name": trunk.name}
    if trunk.provider is not None:
        spec["provider"] = trunk.provider
    if trunk.auth_type is not None:
        spec["authType"] = trunk.auth_type
    if trunk.auth_type == "userpass":
        if trunk.auth_username is not None:
            spec["authUsername"] = trunk.auth_username
        spec["authPasswordSecretRef"] = {"name": f"{object_name}-sip", "key": "password"}
    if trunk.gateways is not None:
        spec["gateways"] = [
            {"gatewayAddress": g.gateway_address,
             **({"port": g.port} if g.port is not None else {}),
             **({"priority": g.priority} if g.priority is not None else {})}
            for g in trunk.gateways]
    if trunk.ip_identifiers:
        spec["ipIdentifiers"] = [{"ipAddress": i.ip_address} for i in trunk.ip_identifiers]
    wire = trunk.model_dump()
    for field, key in _SETTINGS.items():
        if wire.get(field) is not None:
            spec[key] = wire[field]
    numbers = [n for n in imported.numbers if not n.deleted]
    if numbers:
        spec["phoneNumbers"] = [
            {"phoneNumber": n.phone_number, **({"name": n.name} if n.name else {})}
            for n in numbers]
    spec["deletionPolicy"] = deletion_policy
    if token_secret:
        spec["apiTokenSecretRef"] = {"name": token_secret, "key": "token"}
    annotations = {names.TRUNK_ID_ANNOTATION: trunk.id}
    if trunk.auth_type == "userpass":
        # The user fills the placeholder Secret with the password the trunk has in Bolna.
        annotations[names.PASSWORD_MATCHES_ANNOTATION] = "true"
    metadata: dict[str, Any] = {"name": object_name, "annotations": annotations}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": metadata,
            "spec": spec}


async def read_account(bolna: BolnaClient,
                       progress: Callable[[int, int], None] | None = None
                       ) -> list[ImportedTrunk]:
    """Every trunk of the account with its numbers: one list call, then one numbers call
    per trunk (Bolna's list may leave ``phone_numbers`` out, and a missing list is not an
    empty one). ``progress(done, total)`` is told after each trunk."""
    trunks = sorted(await bolna.list_trunks(), key=lambda t: (t.name, t.id))
    result = []
    for done, trunk in enumerate(trunks, start=1):
        result.append(ImportedTrunk(trunk, await bolna.list_numbers(trunk.id)))
        if progress is not None:
            progress(done, len(trunks))
    return result
