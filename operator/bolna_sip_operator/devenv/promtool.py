"""Find the ``promtool`` binary that ``hack/install-promtool.sh`` builds.

The alert tests check the chart's PrometheusRule with Prometheus' own ``promtool``
(``check rules``, ``test rules``). Like helm it is built once per machine from its Go
module and cached; tests use that pinned build, or ``$PROMTOOL_BIN`` when set. A
missing promtool is an error that says how to get it, never a reason to skip.
"""

from __future__ import annotations

import os
from pathlib import Path

from .control_plane import CACHE_DIR_ENV

__all__ = ["PROMTOOL_BIN_ENV", "PROMTOOL_VERSION", "PromtoolNotFoundError",
           "default_promtool", "find_promtool"]

#: The Prometheus module version ``hack/install-promtool.sh`` builds (a test keeps the
#: two in step). Prometheus 3.x is published to Go as v0.3xx.y.
PROMTOOL_VERSION = "v0.316.0"
#: Environment variable naming a promtool binary to use instead of the cached build.
PROMTOOL_BIN_ENV = "PROMTOOL_BIN"


class PromtoolNotFoundError(RuntimeError):
    """No usable promtool: run ``hack/install-promtool.sh`` (or ``hack/setup.sh``)."""


def default_promtool() -> Path:
    """Where ``hack/install-promtool.sh`` puts the pinned promtool."""
    cache_env = os.environ.get(CACHE_DIR_ENV)
    cache = Path(cache_env) if cache_env else Path.home() / ".cache" / "bolna-sip-operator"
    return cache / f"promtool-{PROMTOOL_VERSION}" / "bin" / "promtool"


def find_promtool() -> Path:
    """``$PROMTOOL_BIN`` when set, else the cached build of ``hack/install-promtool.sh``.

    Raises:
        PromtoolNotFoundError: the binary is missing or not executable; the message
            says how to build it.
    """
    env_bin = os.environ.get(PROMTOOL_BIN_ENV)
    promtool = Path(env_bin).expanduser() if env_bin else default_promtool()
    if not os.access(promtool, os.X_OK):
        source = f"${PROMTOOL_BIN_ENV}" if env_bin else "the build cache"
        raise PromtoolNotFoundError(
            f"promtool not found at {promtool} ({source}). Run hack/install-promtool.sh "
            f"to build promtool {PROMTOOL_VERSION} once per machine (a few minutes; "
            f"hack/setup.sh does it too), or set {PROMTOOL_BIN_ENV} to a promtool binary.")
    return promtool
