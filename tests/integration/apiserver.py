"""What a real kube-apiserver says about a SipTrunk or a CarrierTrunk: a verdict the
tests can compare.

Creates are dry runs (``dryRun=All``) with strict field validation, as ``kubectl apply``
does by default: the apiserver decodes, prunes, defaults and validates (schema and CEL)
exactly as for a real create, and stores nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "sip.bolna.ai", "v1alpha1", "siptrunks"
CARRIER_PLURAL = "carriertrunks"
_UNKNOWN_FIELD = re.compile(r'unknown field "([^"]+)"')


@dataclass
class Verdict:
    """Accepted (with the object as it would be stored) or rejected (with field paths)."""

    accepted: bool
    stored: dict[str, Any] | None = None
    paths: set[str] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.accepted:
            return "accepted"
        return "rejected: " + "; ".join(self.messages)


def names_field(paths: set[str], path: str) -> bool:
    """True when one of the paths is the field, or lies within it or around it.

    The apiserver sometimes names a field's child instead of the field: a mapping given
    where a list belongs comes back as an unknown field inside it.
    """
    return any(p == path or p.startswith((path + ".", path + "["))
               or path.startswith((p + ".", p + "[")) for p in paths)


class Trunks:
    """SipTrunk calls (or, with ``plural="carriertrunks"``, CarrierTrunk calls) on the
    official client, typed (the client returns ``object``)."""

    def __init__(self, api: client.CustomObjectsApi, plural: str = PLURAL) -> None:
        self.api = api
        self.plural = plural

    def create(self, namespace: str, document: dict[str, Any]) -> dict[str, Any]:
        """Create a SipTrunk and return it as stored."""
        return cast(dict[str, Any], self.api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, self.plural, document, field_validation="Strict"))

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """Read a SipTrunk."""
        return cast(dict[str, Any], self.api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, self.plural, name))

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch a SipTrunk's main resource."""
        return cast(dict[str, Any], self.api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, self.plural, name, body))

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]
                     ) -> dict[str, Any]:
        """Merge-patch the status subresource, as the operator does."""
        return cast(dict[str, Any], self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, self.plural, name, {"status": status}))

    def dry_run_create(self, document: dict[str, Any], namespace: str = "default"
                       ) -> Verdict:
        """Ask the apiserver to create the object without storing it."""
        try:
            stored = self.api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, document, dry_run="All",
                field_validation="Strict")
        except ApiException as error:
            return rejection(error)
        return Verdict(accepted=True, stored=cast(dict[str, Any], stored))


def rejection(error: ApiException) -> Verdict:
    """The field paths and messages of a refused request."""
    if error.status not in (400, 422):
        raise error
    status = json.loads(error.body or "{}")
    verdict = Verdict(accepted=False, messages=[status.get("message", "")])
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("field"):
            verdict.paths.add(cause["field"])
    verdict.paths.update(_UNKNOWN_FIELD.findall(verdict.messages[0]))
    return verdict


def create_namespace(api: client.ApiClient, prefix: str) -> str:
    """A fresh namespace named ``<prefix>-<random>``; tests never wait for deletions
    (without a controller-manager, namespaces never finish terminating)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name
