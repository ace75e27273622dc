"""The operator's few direct Kubernetes calls, as plain JSON over ``kube_api``.

Kopf watches and patches through its own client; the reconciler needs three more things
Kopf does not offer: reading a Secret's key, writing status in the middle of a reconcile
(the trunk ID must be recorded the moment Bolna answers, not when the handler returns),
and reading a SipTrunk when a Secret, not the trunk, changed. Every object is a dict with
the apiserver's own (camelCase) keys, as Kopf hands them over too.

Every write names the field manager ``bolna-sip-operator`` (``FIELD_MANAGER``), so that
``managedFields`` says which fields the operator owns. The User-Agent names the operator
too, for the audit log.
"""

from __future__ import annotations

import base64
import fnmatch
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from . import __version__
from .kube_api import MERGE_PATCH, STRATEGIC_MERGE_PATCH, ApiError, KubeApi
from .model import names

FIELD_MANAGER = "bolna-sip-operator"
"""The field manager of every write the operator makes through this module."""
USER_AGENT = f"{FIELD_MANAGER}/{__version__}"
_WRITE = {"fieldManager": FIELD_MANAGER}


def _apis(plural: str, namespace: str | None = None, name: str | None = None,
            group: str = names.GROUP, version: str = names.VERSION) -> str:
    """The path of objects of an API group (a kind, in a namespace, by name)."""
    path = f"/apis/{group}/{version}"
    if namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    return path if name is None else f"{path}/{name}"


def _core(resource: str, namespace: str, name: str | None = None) -> str:
    """The path of a core/v1 object."""
    path = f"/api/v1/namespaces/{namespace}/{resource}"
    return path if name is None else f"{path}/{name}"


class SecretUnavailable(Exception):  # noqa: N818 (a state, not a bug)
    """A referenced Secret or key is missing: nothing to do until the Secret changes."""

    def __init__(self, namespace: str, name: str, key: str, what: str) -> None:
        super().__init__(f"Secret {namespace}/{name}: {what} (key {key!r})")
        self.namespace, self.name, self.key = namespace, name, key
        self.missing = what == "not found"
        """The Secret itself is missing (not only its key)."""


@dataclass(frozen=True)
class SecretValue:
    """A Secret's key as a secret value, with the version to notice rotation by."""

    value: SecretStr
    version: str
    """``<uid>/<resourceVersion>``: changes whenever the Secret does."""


@dataclass(frozen=True)
class SecretMeta:
    """What the operator knows of a Secret: its metadata, never its data."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    labelled: bool = False
    """It still carries the label earlier releases put on (taken off when held)."""

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> SecretMeta | None:
        """From an object's ``metadata`` (a full Secret or PartialObjectMetadata)."""
        namespace, name = meta.get("namespace"), meta.get("name")
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not all(isinstance(v, str) and v for v in (namespace, name, uid, version)):
            return None
        return cls(str(namespace), str(name), str(uid), str(version),
                   tuple(str(f) for f in meta.get("finalizers") or ()),
                   bool(meta.get("deletionTimestamp")),
                   names.SECRET_LABEL in (meta.get("labels") or {}))

    @property
    def version(self) -> str:
        """``<uid>/<resourceVersion>``: what the trunk's status records as sent."""
        return f"{self.uid}/{self.resource_version}"

    @property
    def held(self) -> bool:
        """The in-use finalizer is on."""
        return names.SECRET_FINALIZER in self.finalizers


class PatchForbidden(Exception):  # noqa: N818 (a state of the RBAC, not a bug)
    """The operator may not patch Secrets in this namespace."""


class Kube:
    """Secrets, SipTrunk status and annotations, Events."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, str], str]] = {}
        """(namespace, name) -> (read at, base64 data, version), for drift checks."""

    @property
    def api(self) -> KubeApi:
        """The transport, for the watches the operator runs itself."""
        return self._api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Kube:
        """In-cluster credentials when there, else the kubeconfig."""
        return cls(KubeApi.connect(kubeconfig, user_agent=USER_AGENT))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._api.close()

    async def secret_key(self, namespace: str, name: str, key: str, *,
                         max_age: float = 0.0) -> SecretValue:
        """One key of a Secret; SecretUnavailable when the Secret or the key is missing.

        With ``max_age``, a copy read at most that many seconds ago will do: drift
        checks of a thousand trunks would otherwise read a thousand Secrets every
        interval. Other reconciles read afresh (and refresh the copy), and a change to a
        referenced Secret drops its copy (``forget_secret``), so a rotation is never
        missed.
        """
        cached = self._secrets.get((namespace, name))
        if cached is None or max_age <= 0 or time.monotonic() - cached[0] > max_age:
            secret = await self._api.get(_core("secrets", namespace, name))
            if secret is None:
                self._secrets.pop((namespace, name), None)
                raise SecretUnavailable(namespace, name, key, "not found")
            meta = secret["metadata"]
            cached = (time.monotonic(), dict(secret.get("data") or {}),
                      f"{meta['uid']}/{meta['resourceVersion']}")
            self._secrets[(namespace, name)] = cached
        _, data, version = cached
        if key not in data:
            raise SecretUnavailable(namespace, name, key, "has no such key")
        value = base64.b64decode(data[key]).decode("utf-8").strip()
        if not value:
            raise SecretUnavailable(namespace, name, key, "the value is empty")
        return SecretValue(SecretStr(value), version)

    async def secret_exists(self, namespace: str, name: str) -> bool:
        """Whether the Secret exists (one read; its data is not kept)."""
        return await self._api.get(_core("secrets", namespace, name)) is not None

    async def hold_secret(self, namespace: str, name: str) -> SecretMeta | None:
        """Hold a token Secret with the in-use finalizer (and take off the label earlier
        releases put on). A strategic merge patch adds to the finalizers without
        replacing them; repeating it changes nothing, not even the resourceVersion.

        None: no such Secret. PatchForbidden: the operator may not patch Secrets there.
        """
        return await self._patch_secret(namespace, name, {"metadata": {
            "labels": {names.SECRET_LABEL: None},
            "finalizers": [names.SECRET_FINALIZER]}})

    async def release_secret(self, namespace: str, name: str) -> SecretMeta | None:
        """Take the in-use finalizer (and any label of earlier releases) off a Secret."""
        return await self._patch_secret(namespace, name, {"metadata": {
            "labels": {names.SECRET_LABEL: None},
            "$deleteFromPrimitiveList/finalizers": [names.SECRET_FINALIZER]}})

    async def _patch_secret(self, namespace: str, name: str, body: dict[str, Any]
                            ) -> SecretMeta | None:
        """The patch; of the answer only the metadata is kept (it holds the data too)."""
        try:
            written = await self._api.request("PATCH", _core("secrets", namespace, name),
                                              params=_WRITE, body=body,
                                              content_type=STRATEGIC_MERGE_PATCH)
        except ApiError as error:
            if error.status == 403:
                raise PatchForbidden(f"may not patch Secrets in namespace {namespace}") from None
            if error.status != 404:
                raise
            return None
        return SecretMeta.from_metadata(written.get("metadata") or {})

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop the copy of a Secret that changed or went away."""
        self._secrets.pop((namespace, name), None)

    async def served_plurals(self) -> set[str]:
        """The resources the operator's API group serves now (discovery); an empty set
        when the group is unknown (no CRD of it installed)."""
        found = await self._api.get(f"/apis/{names.GROUP}/{names.VERSION}")
        return {str(r.get("name")) for r in (found or {}).get("resources") or ()
                if "/" not in str(r.get("name"))}

    async def get_trunk(self, namespace: str, name: str, *, plural: str = names.PLURAL
                        ) -> dict[str, Any] | None:
        """A trunk object as stored, or None if it is gone."""
        return await self._api.get(_apis(plural, namespace, name))

    async def list_trunks(self, plural: str, namespaces: tuple[str, ...] = ()
                          ) -> list[dict[str, Any]]:
        """Every trunk object of a kind, in pages: cluster-wide, or in the namespaces
        given (a glob among them lists cluster-wide and keeps the matching ones, as Kopf
        watches them)."""
        if not namespaces or any(c in ns for ns in namespaces for c in "*?["):
            found = await self._api.list_all(_apis(plural))
            if not namespaces:
                return found
            return [item for item in found if any(
                fnmatch.fnmatchcase(item["metadata"].get("namespace", ""), pattern)
                for pattern in namespaces)]
        items: list[dict[str, Any]] = []
        for namespace in namespaces:
            items += await self._api.list_all(_apis(plural, namespace))
        return items

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any], *,
                           plural: str = names.PLURAL) -> None:
        """Merge-patch the status subresource (null deletes a field)."""
        await self._api.request("PATCH", _apis(plural, namespace, name) + "/status",
                                params=_WRITE, body={"status": status},
                                content_type=MERGE_PATCH)

    async def patch_annotations(self, namespace: str, name: str,
                                annotations: dict[str, str | None], *,
                                plural: str = names.PLURAL) -> None:
        """Merge-patch annotations (does not change the generation)."""
        await self._api.request("PATCH", _apis(plural, namespace, name), params=_WRITE,
                                body={"metadata": {"annotations": annotations}},
                                content_type=MERGE_PATCH)

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        """A Service's EndpointSlices, as plain dicts (camelCase keys, as stored)."""
        return await self._api.list_all(
            _apis("endpointslices", namespace, group="discovery.k8s.io", version="v1"),
            labelSelector=f"kubernetes.io/service-name={service}")

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None if it does not exist."""
        found = await self._api.get(_core("configmaps", namespace, name))
        return None if found is None else dict(found.get("data") or {})

    async def put_configmap_data(self, namespace: str, name: str, data: dict[str, str],
                                 *, create: bool) -> None:
        """Merge ``data`` into a ConfigMap's data; create it first when asked."""
        if create:
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace, "labels": {
                        "app.kubernetes.io/managed-by": "bolna-sip-operator"}},
                    "data": data}
            try:
                await self._api.request("POST", _core("configmaps", namespace),
                                        params=_WRITE, body=body)
                return
            except ApiError as error:
                if error.status != 409:
                    raise
        await self._api.request("PATCH", _core("configmaps", namespace, name), params=_WRITE,
                                body={"data": data}, content_type=MERGE_PATCH)

    async def create_event(self, namespace: str, event: dict[str, Any]) -> bool:
        """Create a core/v1 Event; False when its name is taken (409), so the caller can
        pick another name."""
        try:
            await self._api.request("POST", _core("events", namespace), params=_WRITE,
                                    body=event)
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Merge-patch a core/v1 Event; False when it is gone (404: expired or deleted)."""
        try:
            await self._api.request("PATCH", _core("events", namespace, name), params=_WRITE,
                                    body=patch, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def get_cluster_object(self, group: str, version: str, plural: str, name: str
                                 ) -> dict[str, Any] | None:
        """A cluster-scoped custom object, or None."""
        return await self._api.get(_apis(plural, None, name, group, version))

    async def get_namespaced_object(self, group: str, version: str, namespace: str,
                                    plural: str, name: str) -> dict[str, Any] | None:
        """A namespaced custom object, or None."""
        return await self._api.get(_apis(plural, namespace, name, group, version))
