"""The operator's few direct Kubernetes calls, on kubernetes_asyncio.

Kopf watches and patches through its own client; the reconciler needs three more things
Kopf does not offer: reading a Secret's key, writing status in the middle of a reconcile
(the trunk ID must be recorded the moment Bolna answers, not when the handler returns),
and reading a SipTrunk when a Secret, not the trunk, changed. kubernetes_asyncio is the
official client's API on asyncio, which Kopf runs on; the official client itself is
synchronous and would block Kopf's event loop.

Every write names the field manager ``bolna-sip-operator`` (``FIELD_MANAGER``), so that
``managedFields`` says which fields the operator owns; without it the apiserver names the
manager after the User-Agent, which for this client is ``OpenAPI-Generator``. The
User-Agent is set too, for the audit log and for any write that might forget the name.
"""

from __future__ import annotations

import base64
import fnmatch
import time
from dataclasses import dataclass
from typing import Any, cast

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import SecretStr

from . import __version__
from .model import names

FIELD_MANAGER = "bolna-sip-operator"
"""The field manager of every write the operator makes through this module."""
USER_AGENT = f"{FIELD_MANAGER}/{__version__}"


async def connect_api(kubeconfig: str | None = None) -> client.ApiClient:
    """An API client: the pod's service account when in one, else the kubeconfig."""
    if kubeconfig is None:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            return client.ApiClient()
        except config.ConfigException:
            pass
    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


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


class Kube:
    """Secrets, SipTrunk status and annotations, Events."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        api.user_agent = USER_AGENT
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)
        self._discovery = client.DiscoveryV1Api(api)
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, str], str]] = {}
        """(namespace, name) -> (read at, base64 data, version), for drift checks."""

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Kube:
        """In-cluster credentials when there, else the kubeconfig."""
        return cls(await connect_api(kubeconfig))

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
            try:
                secret = await self._core.read_namespaced_secret(name, namespace)
            except ApiException as error:
                if error.status == 404:
                    self._secrets.pop((namespace, name), None)
                    raise SecretUnavailable(namespace, name, key, "not found") from None
                raise
            meta = secret.metadata
            cached = (time.monotonic(), dict(secret.data or {}),
                      f"{meta.uid}/{meta.resource_version}")
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
        try:
            await self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    async def mark_secret(self, namespace: str, name: str, *, protect: bool) -> bool:
        """Label a referenced Secret (the operator watches only labelled Secrets) and,
        with ``protect``, hold its deletion with the in-use finalizer.

        A strategic merge patch adds to labels and finalizers without replacing them;
        repeating it changes nothing (not even the resourceVersion). False: no such
        Secret.
        """
        metadata: dict[str, Any] = {"labels": {names.SECRET_LABEL: "true"}}
        if protect:
            metadata["finalizers"] = [names.SECRET_FINALIZER]
        return await self._patch_secret(namespace, name, {"metadata": metadata})

    async def release_secret(self, namespace: str, name: str) -> None:
        """Take the operator's label and in-use finalizer off a Secret."""
        await self._patch_secret(namespace, name, {"metadata": {
            "labels": {names.SECRET_LABEL: None},
            "$deleteFromPrimitiveList/finalizers": [names.SECRET_FINALIZER]}})

    async def _patch_secret(self, namespace: str, name: str, body: dict[str, Any]) -> bool:
        try:
            await self._core.patch_namespaced_secret(  # type: ignore[call-arg]
                name, namespace, body, field_manager=FIELD_MANAGER,
                _content_type="application/strategic-merge-patch+json")
        except ApiException as error:
            if error.status != 404:
                raise
            return False
        return True

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop the copy of a Secret that changed or went away."""
        self._secrets.pop((namespace, name), None)

    async def get_trunk(self, namespace: str, name: str, *, plural: str = names.PLURAL
                        ) -> dict[str, Any] | None:
        """A trunk object as stored, or None if it is gone."""
        try:
            return cast(dict[str, Any], await self._custom.get_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, plural, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def list_trunks(self, plural: str, namespaces: tuple[str, ...] = ()
                          ) -> list[dict[str, Any]]:
        """Every trunk object of a kind, in pages: cluster-wide, or in the namespaces
        given (a glob among them lists cluster-wide and keeps the matching ones, as Kopf
        watches them)."""
        if not namespaces or any(c in ns for ns in namespaces for c in "*?["):
            found = await self._pages(lambda **page: self._custom.list_cluster_custom_object(
                names.GROUP, names.VERSION, plural, **page))
            if not namespaces:
                return found
            return [item for item in found if any(
                fnmatch.fnmatchcase(item["metadata"].get("namespace", ""), pattern)
                for pattern in namespaces)]
        items: list[dict[str, Any]] = []
        for namespace in namespaces:
            items += await self._pages(
                lambda namespace=namespace, **page: self._custom.list_namespaced_custom_object(
                    names.GROUP, names.VERSION, namespace, plural, **page))
        return items

    @staticmethod
    async def _pages(list_call: Any, limit: int = 500) -> list[dict[str, Any]]:
        """All items of a list call, ``limit`` at a time (no one answer holds them all)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await list_call(limit=limit, **({"_continue": token} if token else {}))
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any], *,
                           plural: str = names.PLURAL) -> None:
        """Merge-patch the status subresource (null deletes a field)."""
        await self._custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
            names.GROUP, names.VERSION, namespace, plural, name, {"status": status},
            field_manager=FIELD_MANAGER, _content_type="application/merge-patch+json")

    async def patch_annotations(self, namespace: str, name: str,
                                annotations: dict[str, str | None], *,
                                plural: str = names.PLURAL) -> None:
        """Merge-patch annotations (does not change the generation)."""
        await self._custom.patch_namespaced_custom_object(  # type: ignore[call-arg]
            names.GROUP, names.VERSION, namespace, plural, name,
            {"metadata": {"annotations": annotations}},
            field_manager=FIELD_MANAGER, _content_type="application/merge-patch+json")

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        """A Service's EndpointSlices, as plain dicts (camelCase keys, as stored)."""
        listed = await self._discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}")
        return [cast(dict[str, Any], self._api.sanitize_for_serialization(item))
                for item in listed.items]

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None if it does not exist."""
        try:
            found = await self._core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(found.data or {})

    async def put_configmap_data(self, namespace: str, name: str, data: dict[str, str],
                                 *, create: bool) -> None:
        """Merge ``data`` into a ConfigMap's data; create it first when asked."""
        if create:
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(
                    name=name, namespace=namespace,
                    labels={"app.kubernetes.io/managed-by": "bolna-sip-operator"}),
                data=data)
            try:
                await self._core.create_namespaced_config_map(
                    namespace, body, field_manager=FIELD_MANAGER)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
        await self._core.patch_namespaced_config_map(  # type: ignore[call-arg]
            name, namespace, {"data": data}, field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json")

    async def create_event(self, namespace: str, event: dict[str, Any]) -> bool:
        """Create a core/v1 Event; False when its name is taken (409), so the caller can
        pick another name."""
        try:
            # A dict is sent as it is (camelCase keys), like the patches above.
            await self._core.create_namespaced_event(
                namespace, event, field_manager=FIELD_MANAGER)  # type: ignore[arg-type]
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    async def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Merge-patch a core/v1 Event; False when it is gone (404: expired or deleted)."""
        try:
            await self._core.patch_namespaced_event(  # type: ignore[call-arg]
                name, namespace, patch, field_manager=FIELD_MANAGER,
                _content_type="application/merge-patch+json")
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    async def get_cluster_object(self, group: str, version: str, plural: str, name: str
                                 ) -> dict[str, Any] | None:
        """A cluster-scoped custom object, or None."""
        try:
            return cast(dict[str, Any], await self._custom.get_cluster_custom_object(
                group, version, plural, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def get_namespaced_object(self, group: str, version: str, namespace: str,
                                    plural: str, name: str) -> dict[str, Any] | None:
        """A namespaced custom object, or None."""
        try:
            return cast(dict[str, Any], await self._custom.get_namespaced_custom_object(
                group, version, namespace, plural, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
