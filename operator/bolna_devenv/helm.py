"""Find the ``helm`` binary that ``hack/install-helm.sh`` builds (see :mod:`.go_tools`).

The chart tests hold behaviour of one helm release (schema messages, lookup, CRD
handling), so they run the pinned build, or ``$HELM_BIN`` when set.
"""

from __future__ import annotations

from pathlib import Path

from .go_tools import GoToolNotFoundError, cached_go_tool, find_go_tool

__all__ = ["HELM_BIN_ENV", "HELM_VERSION", "HelmNotFoundError", "default_helm", "find_helm"]

#: The helm release ``hack/install-helm.sh`` builds (a test keeps the two in step).
HELM_VERSION = "v3.22.0"
#: Environment variable naming a helm binary to use instead of the cached build.
HELM_BIN_ENV = "HELM_BIN"


class HelmNotFoundError(GoToolNotFoundError):
    """No usable helm: run ``hack/install-helm.sh`` (or ``hack/setup.sh``)."""


def default_helm() -> Path:
    """Where ``hack/install-helm.sh`` puts the pinned helm."""
    return cached_go_tool("helm", HELM_VERSION)


def find_helm() -> Path:
    """``$HELM_BIN`` when set, else the cached build of ``hack/install-helm.sh``.

    Raises:
        HelmNotFoundError: the binary is missing or not executable.
    """
    return find_go_tool("helm", HELM_VERSION, HELM_BIN_ENV, "hack/install-helm.sh",
                        HelmNotFoundError)
