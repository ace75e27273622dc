"""Keeping Kopf from importing Kubernetes clients the operator never hands it.

Kopf imports pykube-ng, ``kubernetes`` and ``kubernetes_asyncio`` whenever they are
installed, only to recognise their model objects in its adoption helpers; the operator
passes Kopf plain dicts. In the image none of them is installed. In a virtualenv shared
with them (a developer's, the test suite's, the benchmarks') the import costs 25 to 60
MB of RSS and a second of start-up for nothing, and would make a benchmark of the
operator's memory measure a process the image never runs.

A ``None`` entry in ``sys.modules`` makes an import of that name raise ImportError,
which is what Kopf expects when a library is absent. This is done by the operator's own
commands (``run``, ``edge-agent``) before anything imports Kopf, never on import of the
package: a program that uses the operator's modules beside one of these clients (the
test suite does) keeps it.
"""

from __future__ import annotations

import sys

UNUSED_CLIENTS = ("pykube", "kubernetes", "kubernetes_asyncio")


def keep_unused_clients_out() -> None:
    """Mark the unused clients absent, unless something imported them already."""
    for name in UNUSED_CLIENTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
