"""Where rendered entries go before a reload. This one: files on a shared path.

Kamailio reads its list files anew on every reload, so a file must never be seen half
written: each is written to a temporary file in the same directory and renamed over the
old one (atomic on POSIX). A file whose content did not change is not touched, and the
caller learns which changed, so it reloads only the tables that need it (every reload
resets Kamailio's health state for that table).

The ``Sink`` protocol is what the sync loop needs; a ConfigMap sink (a volume Kamailio
pods mount, for several replicas in a cluster) fits behind the same two calls.
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

    async def publish(self, rendered: Rendered) -> Changed:
        """Store the rendered tables; say which changed."""
        ...


class FileSink:
    """Two files on a path the Kamailio replicas read (same host, or a shared volume)."""

    def __init__(self, dispatcher_file: Path, address_file: Path) -> None:
        self.dispatcher_file = dispatcher_file
        self.address_file = address_file

    async def publish(self, rendered: Rendered) -> Changed:
        """Write whichever file's content changed, atomically."""
        return Changed(dispatcher=write_if_changed(self.dispatcher_file,
                                                   rendered.dispatcher_text),
                       addresses=write_if_changed(self.address_file, rendered.address_text))


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
