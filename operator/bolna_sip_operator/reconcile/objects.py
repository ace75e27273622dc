"""A SipTrunk object as the reconcile core reads it, and where Events go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import names
from .status_owner import TrunkIdentity


@dataclass
class TrunkObject:
    """The parts of a SipTrunk object the core reads (spec unvalidated: checked later)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    annotations: dict[str, str]
    status: dict[str, Any]
    deleting: bool = False

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
            deleting=bool(metadata.get("deletionTimestamp")))

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def identity(self) -> TrunkIdentity:
        """What the status owner keys its record on."""
        return TrunkIdentity(self.namespace, self.name, self.uid, self.generation,
                             self.status)

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object for an Event's involvedObject."""
        return {"apiVersion": names.API_VERSION, "kind": names.KIND,
                "metadata": {"namespace": self.namespace, "name": self.name,
                             "uid": self.uid}}


EventSink = Callable[[dict[str, Any], str, str, str], None]
"""(involved object as ``TrunkObject.body``, Normal|Warning, reason, message)."""
