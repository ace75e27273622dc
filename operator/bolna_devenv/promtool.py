"""Find the ``promtool`` binary that ``hack/install-promtool.sh`` builds (see
:mod:`.go_tools`).

The alert tests check the chart's PrometheusRule with Prometheus' own ``promtool``
(``check rules``, ``test rules``): the pinned build, or ``$PROMTOOL_BIN`` when set.
"""

from __future__ import annotations

from pathlib import Path

from .go_tools import GoToolNotFoundError, cached_go_tool, find_go_tool

__all__ = ["PROMTOOL_BIN_ENV", "PROMTOOL_VERSION", "PromtoolNotFoundError",
           "default_promtool", "find_promtool"]

#: The Prometheus module version ``hack/install-promtool.sh`` builds (a test keeps the
#: two in step). Prometheus 3.x is published to Go as v0.3xx.y.
PROMTOOL_VERSION = "v0.316.0"
#: Environment variable naming a promtool binary to use instead of the cached build.
PROMTOOL_BIN_ENV = "PROMTOOL_BIN"


class PromtoolNotFoundError(GoToolNotFoundError):
    """No usable promtool: run ``hack/install-promtool.sh`` (or ``hack/setup.sh``)."""


def default_promtool() -> Path:
    """Where ``hack/install-promtool.sh`` puts the pinned promtool."""
    return cached_go_tool("promtool", PROMTOOL_VERSION)


def find_promtool() -> Path:
    """``$PROMTOOL_BIN`` when set, else the cached build of ``hack/install-promtool.sh``.

    Raises:
        PromtoolNotFoundError: the binary is missing or not executable.
    """
    return find_go_tool("promtool", PROMTOOL_VERSION, PROMTOOL_BIN_ENV,
                        "hack/install-promtool.sh", PromtoolNotFoundError)
