"""Find a command that ``hack/go-install.sh`` built from its Go module (helm, promtool).

There are no release downloads on the machines this project is tested on, so such tools
are built once per machine and cached as ``<cache>/NAME-VERSION/bin/NAME``. Tests use
exactly that pinned build, not the first one on ``PATH`` (they hold behaviour of one
release), or the binary an environment variable names; a missing one is an error that
says how to build it, never a reason to skip.
"""

from __future__ import annotations

import os
from pathlib import Path

from .control_plane import CACHE_DIR_ENV

__all__ = ["GoToolNotFoundError", "cached_go_tool", "find_go_tool"]


class GoToolNotFoundError(RuntimeError):
    """No usable binary; the message names the script that builds it."""


def cached_go_tool(name: str, version: str) -> Path:
    """Where ``hack/go-install.sh`` puts ``name`` at ``version``."""
    cache_env = os.environ.get(CACHE_DIR_ENV)
    cache = Path(cache_env) if cache_env else Path.home() / ".cache" / "bolna-sip-operator"
    return cache / f"{name}-{version}" / "bin" / name


def find_go_tool(name: str, version: str, env_var: str, script: str,
                 error: type[GoToolNotFoundError] = GoToolNotFoundError) -> Path:
    """``$env_var`` when set, else the cached build; ``error`` when neither runs."""
    env_bin = os.environ.get(env_var)
    binary = Path(env_bin).expanduser() if env_bin else cached_go_tool(name, version)
    if not os.access(binary, os.X_OK):
        source = f"${env_var}" if env_bin else "the build cache"
        raise error(
            f"{name} not found at {binary} ({source}). Run {script} to build {name} "
            f"{version} once per machine (a few minutes; hack/setup.sh does it too), or "
            f"set {env_var} to a {name} binary.")
    return binary
