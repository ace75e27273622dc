"""Every test's tier is its folder, as a marker: ``pytest -m unit`` and so on.

The tiers, cheapest first, and what each needs (``hack/test.sh --tier`` sets up only that):

- ``unit`` (tests/unit): Python alone. It starts no process and opens no socket beyond
  what a test makes itself in memory.
- ``emulator`` (tests/emulator): Python processes: the Bolna emulator over HTTP, the wheel.
- ``integration`` (tests/integration): a real kube-apiserver and etcd, Kamailio, sipp.
- ``chart`` (tests/chart): helm, promtool, gitops-judge (kstatus and Argo CD's health)
  and a real kube-apiserver.
- ``cluster`` (tests/cluster): Docker, a kind cluster, the project's images.

A marker is never written by hand for a tier: the folder decides. A test that carries
another tier's marker fails the collection, so a tier selects exactly its folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "emulator", "integration", "chart", "cluster")
HERE = Path(__file__).parent


def tier_of(path: Path) -> str | None:
    """The tier of a test file: its first folder under tests/ (None outside one)."""
    parts = path.resolve().relative_to(HERE).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        tier = tier_of(Path(item.path))
        if tier is None:
            continue
        others = {mark.name for mark in item.iter_markers() if mark.name in TIERS} - {tier}
        if others:
            wrong.append(f"{item.nodeid}: marked {', '.join(sorted(others))} in tests/{tier}/")
        item.add_marker(getattr(pytest.mark, tier))
    if wrong:
        raise pytest.UsageError("a tier is its folder; these say otherwise:\n  "
                                + "\n  ".join(wrong))
