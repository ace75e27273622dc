"""Where rendered entries go before a reload. This one: files on a shared path.

Kamailio reads its list files anew on every reload, so a file must never be seen half
written: each is written to a temporary file in the same directory and renamed over the
old one (atomic on POSIX). A file whose content did not change is not touched, and the
caller learns which changed, so it reloads only the tables that need it (every reload
resets Kamailio's health state for that table).

In a cluster the lists go into a ConfigMap that every Kamailio pod mounts as a
directory (not ``subPath``, which the kubelet never updates). The kubelet swaps the
mounted files atomically too, but only at its next sync, up to a minute or more after
the write: such a sink is *eventual*, and the sync loop reloads a replica again until it
reads back what was written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .render import Rendered


@dataclass(frozen=True)
class Changed:
    """Which tables got new content."""

    dispatcher: bool
    addresses: bool


class Sink(Protocol):
    """Somewhere Kamailio replicas read their list files from."""

    eventual: bool
    """Whether replicas may see a write only some time later (a mounted ConfigMap)."""

    async def publish(self, rendered: Rendered) -> Changed:
        """Store the rendered tables; say which changed."""
        ...


class FileSink:
    """Two files on a path the Kamailio replicas read (same host, or a shared volume)."""

    eventual = False

    def __init__(self, dispatcher_file: Path, address_file: Path) -> None:
        self.dispatcher_file = dispatcher_file
        self.address_file = address_file

    async def publish(self, rendered: Rendered) -> Changed:
        """Write whichever file's content changed, atomically."""
        return Changed(dispatcher=write_if_changed(self.dispatcher_file,
                                                   rendered.dispatcher_text),
                       addresses=write_if_changed(self.address_file, rendered.address_text))


DISPATCHER_KEY = "dispatcher.list"
ADDRESS_KEY = "address.list"
CONFIGMAP_LIMIT = 1024 * 1024
"""The apiserver refuses a ConfigMap whose data exceeds 1 MiB."""


class TooLarge(Exception):  # noqa: N818 (a state the user must act on)
    """The lists do not fit where they must go; writing again will not help."""


class ConfigMapStore(Protocol):
    """Reads and merge-patches a ConfigMap's data (``Kube`` does this)."""

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def put_configmap_data(self, namespace: str, name: str, data: dict[str, str],
                                 *, create: bool) -> None: ...


class ConfigMapSink:
    """Both lists as keys of one ConfigMap that the Kamailio pods mount."""

    eventual = True

    def __init__(self, store: ConfigMapStore, namespace: str, name: str) -> None:
        self.store = store
        self.namespace = namespace
        self.name = name
        self._known: dict[str, str] | None = None

    async def publish(self, rendered: Rendered) -> Changed:
        """Patch whichever key changed; create the ConfigMap if it is missing."""
        wanted = {DISPATCHER_KEY: rendered.dispatcher_text, ADDRESS_KEY: rendered.address_text}
        size = sum(len(key) + len(value.encode()) for key, value in wanted.items())
        if size > CONFIGMAP_LIMIT:
            raise TooLarge(
                f"the dispatcher and address lists take {size} bytes, over the 1 MiB a "
                f"ConfigMap holds; split SipTrunks across operators (--namespace) or use a "
                f"shared volume with --dispatcher-file/--address-file")
        if self._known is None:
            self._known = await self.store.configmap_data(self.namespace, self.name)
        known = self._known or {}
        changed = {key: value for key, value in wanted.items() if known.get(key) != value}
        if changed:
            await self.store.put_configmap_data(self.namespace, self.name, changed,
                                                create=self._known is None)
            self._known = {**known, **changed}
        # Unchanged after a restart: no reload (it would reset gateway health); a replica
        # that holds something else is found by verification and reloaded then.
        return Changed(dispatcher=DISPATCHER_KEY in changed, addresses=ADDRESS_KEY in changed)


def write_if_changed(path: Path, text: str) -> bool:
    """Replace the file's content atomically unless it is already ``text``."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
