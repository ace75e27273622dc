"""The Kubernetes REST API over aiohttp, with Kopf's credentials: the transport of ``kube``.

Why not a generated client: the operator's own calls are a dozen paths (Secrets, its
trunks' status and annotations, ConfigMaps, Events, EndpointSlices), all on JSON it
handles as dicts anyway. ``kubernetes_asyncio`` imports its every API and model to offer
them (about 860 modules, 31 MB of RSS in the image), and Kopf imports it too whenever it
is installed; dropping it was the largest single cut of the operator's memory.

Credentials come from Kopf's public login functions, the same that authenticate Kopf's
own watches (``handlers.login``): the pod's service account in a cluster, else the
kubeconfig. A 401 logs in again (a rotated service-account token) and repeats the call
once. The HTTP stack is aiohttp, as for Kopf's own calls: measured against the
kube-apiserver over TLS, 3,000 reads cost 0.5-0.7 s of CPU on aiohttp and 5.6-10.3 s on
httpx, and a wave of a thousand reconciles is mostly such calls.

Errors are ``ApiError`` with the HTTP status and the apiserver's reason and message
(from its ``Status`` answer); the body of a successful answer is never part of an error
or a log line, as it may be a Secret.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import aiohttp
import kopf

log = logging.getLogger(__name__)

Json = dict[str, Any]
Login = Callable[[], kopf.ConnectionInfo | None]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
"""Accept header for a watch that carries each object's metadata only (no Secret data)."""
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
"""Accept header for a list of objects' metadata only."""
DEFAULT_TIMEOUT = 30.0
"""Seconds to connect, and between bytes of an answer (a watch's own ``timeoutSeconds``
is added to the latter)."""
MAX_CONNECTIONS = 100
"""Connections to the apiserver, kept open: a wave of a thousand reconciles queues for
them, without a limit on the wait (a timeout there would fail handlers that Kopf then
runs again)."""


class ApiError(Exception):
    """An answer of the apiserver that is not a success."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"({status}) {reason}: {message}" if message else f"({status}) {reason}")
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_answer(cls, code: int, phrase: str | None, body: bytes) -> ApiError:
        """From a failed answer: the ``Status`` object's reason and message if it has one."""
        reason, message = phrase or "", ""
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, dict) and status.get("kind") == "Status":
            reason = str(status.get("reason") or reason)
            message = str(status.get("message") or "")[:500]
        return cls(code, reason, message)


def login(kubeconfig: str | None = None) -> kopf.ConnectionInfo | None:
    """The pod's service account when in a pod, else the kubeconfig: Kopf's own logins.

    ``kubeconfig`` names the file (else ``$KUBECONFIG``, then ``~/.kube/config``); it is
    passed to Kopf through ``$KUBECONFIG`` (the only way its login reads a path) for the
    call, and the variable is restored after it.
    """
    settings = kopf.OperatorSettings()
    if kubeconfig is None:
        info = kopf.login_with_service_account(settings=settings, logger=log)
        if info is not None:
            return info
        return kopf.login_with_kubeconfig(settings=settings, logger=log)
    before = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kubeconfig
    try:
        return kopf.login_with_kubeconfig(settings=settings, logger=log)
    finally:
        if before is None:
            del os.environ["KUBECONFIG"]
        else:
            os.environ["KUBECONFIG"] = before


class KubeApi:
    """JSON calls to one apiserver, authenticated as ``login`` says (again on a 401)."""

    def __init__(self, login: Login, *, user_agent: str, timeout: float = DEFAULT_TIMEOUT
                 ) -> None:
        self._login = login
        self._user_agent = user_agent
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None
        self._server = ""

    def __repr__(self) -> str:
        return f"KubeApi({self._server or 'not connected'})"

    @classmethod
    def connect(cls, kubeconfig: str | None = None, *, user_agent: str) -> KubeApi:
        """A client that logs in on its first call (in-cluster, else the kubeconfig)."""
        return cls(lambda: login(kubeconfig), user_agent=user_agent)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            info = self._login()
            if info is None:
                raise ApiError(401, "Unauthorized", "no service account and no kubeconfig "
                               "to log in with")
            self._server = info.server.rstrip("/")
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS,
                                               ssl=info.as_ssl_context()),
                headers={**info.as_http_headers(), "User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout,
                                              sock_read=self._timeout),
                trust_env=False)
        return self._http

    async def _drop_session(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      accept: str | None = None) -> Json:
        """One call; its JSON answer. ApiError for an answer that is not a success.

        ``accept``: another representation (``METADATA_LIST``: objects' metadata only)."""
        query = _query(params or {})
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        if accept is not None:
            headers["Accept"] = accept
        for attempt in (1, 2):
            session = self._session()
            async with session.request(method, self._server + path, params=query,
                                       data=content, headers=headers) as response:
                answer = await response.read()
                code, phrase = response.status, response.reason
            if code == 401 and attempt == 1:
                log.info("the apiserver refused our credentials; logging in again")
                await self._drop_session()
                continue
            if 200 <= code < 300:
                return cast(Json, json.loads(answer))
            raise ApiError.from_answer(code, phrase, answer)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, path: str, **params: Any) -> Json | None:
        """An object, or None when it does not exist (404)."""
        try:
            return await self.request("GET", path, params=params)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def list_all(self, path: str, *, limit: int = 500, **params: Any) -> list[Json]:
        """Every item of a list, ``limit`` at a time (no one answer holds them all)."""
        return (await self.list_pages(path, limit=limit, **params))[0]

    async def list_pages(self, path: str, *, limit: int = 500, accept: str | None = None,
                         **params: Any) -> tuple[list[Json], str]:
        """Every item of a list and the list's resourceVersion (to watch from)."""
        items: list[Json] = []
        token: str | None = None
        while True:
            page = await self.request("GET", path, params={**params, "limit": limit,
                                                           "continue": token},
                                      accept=accept)
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def watch(self, path: str, *, resource_version: str, timeout_seconds: int,
                    accept: str | None = None, bookmarks: bool = False,
                    **params: Any) -> AsyncIterator[Json]:
        """The events of a watch from ``resource_version``, until the server ends it.

        An ``ERROR`` event is yielded like any other (410 Gone among them: the caller
        lists again). Events are split on newlines here rather than by aiohttp's line
        reader, whose line limit is far below a ConfigMap's 1 MiB.
        """
        query = _query({**params, "watch": "true", "resourceVersion": resource_version,
                        "timeoutSeconds": timeout_seconds,
                        "allowWatchBookmarks": "true" if bookmarks else "false"})
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout,
                                        sock_read=timeout_seconds + self._timeout)
        headers = {} if accept is None else {"Accept": accept}
        async with self._session().get(self._server + path, params=query, headers=headers,
                                       timeout=timeout) as response:
            if not 200 <= response.status < 300:
                answer = await response.read()
                if response.status == 401:
                    await self._drop_session()
                raise ApiError.from_answer(response.status, response.reason, answer)
            pending = bytearray()
            async for chunk in response.content.iter_any():
                pending += chunk
                while (end := pending.find(b"\n")) >= 0:
                    line = bytes(pending[:end])
                    del pending[:end + 1]
                    if line.strip():
                        yield cast(Json, json.loads(line))

    async def close(self) -> None:
        """Close the HTTP session (a later call opens another)."""
        await self._drop_session()


def _query(params: dict[str, Any]) -> dict[str, str]:
    """Query parameters as strings, the unset ones left out."""
    return {key: str(value) for key, value in params.items() if value is not None}
