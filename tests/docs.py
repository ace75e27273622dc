"""The shell blocks of the user-facing docs, and how each one is tested.

Every ```sh block of the README and the chart README carries, on the line before it,
one marker that says how it is tested (``tests/unit/test_docs_blocks.py`` fails on a
block without one):

- ``<!-- docs: run -->``: ``tests/integration/test_docs_commands.py`` runs it as written,
  in the order of the document, on a control plane of its own with the Bolna emulator
  as Bolna; only placeholders are filled (``PLACEHOLDERS``), and the files a block
  names as the user's own are made by the test. ``<!-- docs: run first -->`` blocks
  (installing the CRDs, running the operator) run before the others.
- ``<!-- docs: run by PATH -->``: the test file at PATH runs exactly these commands
  (``hack/up.sh`` by the local stack's test, ``hack/kind-up.sh`` by the cluster tier).
- ``<!-- docs: not run: REASON -->``: it cannot run here (an image registry, Argo CD);
  counted, and the count is part of the unit test.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).parents[1]
DOCS = ("README.md", "charts/bolna-sip-operator/README.md")
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[a-z]*)\s*$")
_MARKER = re.compile(r"^\s*<!-- docs: (?P<what>run by \S+|run first|run|not run: .+?) -->\s*$")

PLACEHOLDERS = {
    "BOLNA_API_TOKEN=...": 'BOLNA_API_TOKEN="$DOCS_TOKEN"',
    "--from-literal=password=...": "--from-literal=password=docs-password",
}
"""What a run block's placeholders become (the token is the emulator's)."""


@dataclass(frozen=True)
class Block:
    """One fenced shell block: where it is, its commands, and its marker."""

    doc: str
    line: int
    """The line of its opening fence (1-based)."""
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.marker in ("run", "run first")

    @property
    def first(self) -> bool:
        return self.marker == "run first"

    @property
    def run_by(self) -> str | None:
        """The test file that runs it, for ``run by``."""
        return self.marker[len("run by "):] if self.marker and self.marker.startswith(
            "run by ") else None

    @property
    def not_run(self) -> str | None:
        """The reason it is not run, for ``not run``."""
        return self.marker[len("not run: "):] if self.marker and self.marker.startswith(
            "not run: ") else None

    def filled(self) -> str:
        """The commands with their placeholders filled."""
        text = self.text
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        return text


def blocks(doc: str) -> list[Block]:
    """The ```sh blocks of ``doc`` (a path under the repository), in order."""
    lines = (REPO / doc).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None or fence["lang"] == "":
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if fence["lang"] == "sh":
            marker = None
            before = index - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            if before >= 0 and (match := _MARKER.match(lines[before])):
                marker = match["what"]
            text = textwrap.dedent("\n".join(lines[index + 1:end])) + "\n"
            found.append(Block(doc, index + 1, text, marker))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    """Every shell block of every doc."""
    return [block for doc in DOCS for block in blocks(doc)]
