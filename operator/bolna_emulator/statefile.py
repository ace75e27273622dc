"""The state file: the emulator's trunks and numbers across restarts.

Both APIs' state share one file: the snapshot line holds the ``/sip-trunks`` store's
record and, under ``"trunk"``, the ``/trunk`` store's; a change line of ``/trunk`` says
``"api": "trunk"``. A file written before ``/trunk`` existed loads as having none.

Every change is on disk before its answer is sent, and a benchmark's thousands of
changes must not each rewrite the whole state (at 1,000 trunks that is about 40 ms a
write, minutes over a run). So the file is JSON Lines: a snapshot first, then one line
per change (the changed trunk and all its numbers), each appended with a single
``write`` to a file opened with ``O_APPEND``, so a killed emulator leaves whole lines
only; a torn last line, whose answer was never sent, is dropped on load. Every
:data:`COMPACT_AFTER` changes, and at each start, the file is rewritten as one snapshot
line, atomically (temporary file, then rename).

Mode 0600: it holds the trunks' SIP passwords (it is the emulator's own test file;
no token is ever written, accounts are named by label).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .store import Store
from .trunk_store import TrunkStore

__all__ = ["COMPACT_AFTER", "StateFile"]

COMPACT_AFTER = 1000
"""Changes appended before the file is rewritten as a single snapshot."""


class StateFile:
    """Load a :class:`Store` from a state file, then record each change to it."""

    def __init__(self, path: Path, trunks: TrunkStore | None = None) -> None:
        """``trunks``: the ``/trunk`` store, loaded, snapshotted and recorded with the
        ``/sip-trunks`` one (None: the file holds ``/sip-trunks`` state only)."""
        self.path = path
        self.trunks = trunks
        self._descriptor: int | None = None
        self._appended = 0

    def load(self, store: Store) -> None:
        """Replace ``store``'s content with the file's (nothing if there is no file).

        Raises:
            ValueError: the file is not an emulator state file, or a line other than
                the last is damaged.
        """
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        except OSError as error:
            raise ValueError(f"cannot read state file {self.path}: {error}") from error
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
            except ValueError as error:
                if number == len(lines) and number > 1:
                    break  # a change cut short by a kill; its answer was never sent
                raise ValueError(f"cannot read state file {self.path}, line {number}: "
                                 f"{error}") from error
            records.append(record)
        if not records:
            return
        store.load_record(records[0])
        if self.trunks is not None:
            self.trunks.load_record(records[0].get("trunk", {"accounts": {}}))
        try:
            for change in records[1:]:
                if change.get("api") == "trunk":
                    if self.trunks is not None:
                        self.trunks.account(change["account"]).apply_change_record(change)
                    continue
                store.account(change["account"]).apply_change_record(change)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed change in state file {self.path}: {error!r}") from error

    def snapshot(self, store: Store) -> None:
        """Rewrite the file as one snapshot line, atomically, and append from there."""
        self.close()
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            record = store.to_record()
            if self.trunks is not None:
                record["trunk"] = self.trunks.to_record()
            os.write(descriptor, _line(record))
        finally:
            os.close(descriptor)
        os.replace(temporary, self.path)
        self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._appended = 0

    def record_change(self, store: Store, account: str, trunk_id: str) -> None:
        """Append the change of one trunk of ``account`` (see
        :meth:`~bolna_emulator.store.Account.change_record`)."""
        if self._descriptor is None or self._appended >= COMPACT_AFTER:
            self.snapshot(store)
            return
        change = {"account": account, **store.account(account).change_record(trunk_id)}
        os.write(self._descriptor, _line(change))
        self._appended += 1

    def record_trunk_change(self, store: Store, change: dict[str, Any]) -> None:
        """Append a ``/trunk`` change line (see
        :meth:`~bolna_emulator.trunk_store.TrunkAccount.change_record`)."""
        if self._descriptor is None or self._appended >= COMPACT_AFTER:
            self.snapshot(store)
            return
        os.write(self._descriptor, _line(change))
        self._appended += 1

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"
