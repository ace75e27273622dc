"""A trunk object (a SipTrunk or a CarrierTrunk) as the core reads it, and where Events
go."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model.kinds import SIP_TRUNK, Kind, kind_named
from .status_owner import TrunkIdentity


@dataclass
class TrunkObject:
    """The parts of a trunk object the core reads (spec unvalidated: checked later)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    annotations: dict[str, str]
    status: dict[str, Any]
    deleting: bool = False
    kind: Kind = SIP_TRUNK

    @classmethod
    def from_body(cls, body: Any) -> TrunkObject:
        """From a Kopf body or an API dict."""
        metadata = body["metadata"]
        return cls(
            namespace=metadata["namespace"], name=metadata["name"], uid=metadata["uid"],
            generation=int(metadata.get("generation") or 0),
            spec=dict(body.get("spec") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            status=dict(body.get("status") or {}),
            deleting=bool(metadata.get("deletionTimestamp")),
            kind=kind_named(body.get("kind")))

    @property
    def ref(self) -> str:
        """The object's name among trunk objects of both kinds (``Kind.ref``)."""
        return self.kind.ref(self.name)

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def identity(self) -> TrunkIdentity:
        """What the status owner keys its record on."""
        return TrunkIdentity(self.namespace, self.name, self.uid, self.generation,
                             self.status, self.kind)

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object for an Event's involvedObject."""
        return involved(self.namespace, self.name, self.uid, self.kind)


def involved(namespace: str, name: str, uid: str, kind: Kind = SIP_TRUNK) -> dict[str, Any]:
    """A trunk object as an Event's involvedObject needs it."""
    return {"apiVersion": kind.api_version, "kind": kind.kind,
            "metadata": {"namespace": namespace, "name": name, "uid": uid}}


SECRET_REF_FIELDS = ("apiTokenSecretRef", "authPasswordSecretRef")


def secret_names(spec: Mapping[str, Any]) -> list[str]:
    """The Secrets a spec references, read leniently (the spec may not validate)."""
    refs = (spec.get(field) for field in SECRET_REF_FIELDS)
    return [ref["name"] for ref in refs
            if isinstance(ref, Mapping) and isinstance(ref.get("name"), str)]


def token_secret_names(spec: Mapping[str, Any]) -> list[str]:
    """The Secret holding the trunk's API token, if the spec names one (read leniently)."""
    ref = spec.get("apiTokenSecretRef")
    return [ref["name"]] if isinstance(ref, Mapping) and isinstance(ref.get("name"), str) else []


def password_secret_name(spec: Mapping[str, Any]) -> str | None:
    """The Secret holding the trunk's SIP password, if the spec names one (leniently)."""
    ref = spec.get("authPasswordSecretRef")
    return ref["name"] if isinstance(ref, Mapping) and isinstance(ref.get("name"), str) else None


EventSink = Callable[[dict[str, Any], str, str, str], None]
"""(involved object as ``TrunkObject.body``, Normal|Warning, reason, message)."""
