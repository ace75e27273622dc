"""Find the ``helm`` binary that ``hack/install-helm.sh`` builds.

There are no release downloads on the machines this project is tested on, so helm is
built once per machine from its Go module and cached next to the control-plane
binaries. Tests use exactly that build (a pinned version), or ``$HELM_BIN`` when set;
a missing helm is an error that says how to get it, never a reason to skip.
"""

from __future__ import annotations

import os
from pathlib import Path

from .control_plane import CACHE_DIR_ENV

__all__ = ["HELM_BIN_ENV", "HELM_VERSION", "HelmNotFoundError", "default_helm", "find_helm"]

#: The helm release ``hack/install-helm.sh`` builds (a test keeps the two in step).
HELM_VERSION = "v3.22.0"
#: Environment variable naming a helm binary to use instead of the cached build.
HELM_BIN_ENV = "HELM_BIN"


class HelmNotFoundError(RuntimeError):
    """No usable helm: run ``hack/install-helm.sh`` (or ``hack/setup.sh``)."""


def default_helm() -> Path:
    """Where ``hack/install-helm.sh`` puts the pinned helm."""
    cache_env = os.environ.get(CACHE_DIR_ENV)
    cache = Path(cache_env) if cache_env else Path.home() / ".cache" / "bolna-sip-operator"
    return cache / f"helm-{HELM_VERSION}" / "bin" / "helm"


def find_helm() -> Path:
    """``$HELM_BIN`` when set, else the cached build of ``hack/install-helm.sh``.

    Not the first helm on ``PATH``: the chart tests hold behaviour of one helm
    release (schema messages, lookup, CRD handling), so they run the pinned one.

    Raises:
        HelmNotFoundError: the binary is missing or not executable; the message says
            how to build it.
    """
    env_bin = os.environ.get(HELM_BIN_ENV)
    helm = Path(env_bin).expanduser() if env_bin else default_helm()
    if not os.access(helm, os.X_OK):
        source = f"${HELM_BIN_ENV}" if env_bin else "the build cache"
        raise HelmNotFoundError(
            f"helm not found at {helm} ({source}). Run hack/install-helm.sh to build helm "
            f"{HELM_VERSION} once per machine (a few minutes; hack/setup.sh does it too), "
            f"or set {HELM_BIN_ENV} to a helm binary.")
    return helm
