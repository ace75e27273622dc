"""The project's Dockerfiles and their build context, read as files (no Docker here).

hack/build-images.sh builds them and the cluster tests run them; this only keeps what
is easy to break unnoticed: the selectable base, the non-root user, and a
.dockerignore that lets in exactly what the Dockerfiles copy.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
DOCKERFILES = ["Dockerfile", "deploy/kamailio/Dockerfile", "deploy/sipp/Dockerfile"]


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / dockerfile).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus "**") as a regular expression."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        elif glob[i] == "[":
            end = glob.index("]", i)
            out, i = out + glob[i:end + 1], end + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out)


def in_context(path: str) -> bool:
    """Whether the root .dockerignore lets ``path`` (relative) into the build context:
    the last pattern matching the path or a parent of it decides."""
    rules = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for negated, pattern in rules:
        if any(pattern.fullmatch(p) for p in prefixes):
            included = negated
    return included


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_base_is_selectable_and_the_user_is_not_root(dockerfile: str) -> None:
    """ARG BASE_IMAGE with a Debian bookworm default (hack/build-images.sh passes a local
    one), and the image runs as 10001:10001 (the charts' runAsUser)."""
    steps = instructions(dockerfile)
    base = next(rest for word, rest in steps if word == "ARG" and rest.startswith("BASE_IMAGE="))
    assert "bookworm" in base and not base.endswith(":latest")
    assert all(rest.split()[0] == "${BASE_IMAGE}" for word, rest in steps if word == "FROM")
    assert [rest for word, rest in steps if word == "USER"][-1] == "10001:10001"
    # Debian's base-passwd has a group "operator" (gid 37) already.
    assert not any(re.search(r"groupadd .*\boperator\b", rest) for _, rest in steps)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_build_context_holds_what_the_dockerfile_copies(dockerfile: str) -> None:
    """Every source a COPY names (from the repository root) is in the build context."""
    for word, rest in instructions(dockerfile):
        if word != "COPY" or rest.startswith("--from"):
            continue
        for source in rest.split()[:-1]:
            if "[" in source:  # optional, e.g. .wheel[s]: allowed when present
                assert in_context(source.replace("[", "").replace("]", "") + "/x.whl")
                continue
            files = [p for p in REPO.glob(source) if p.is_file()] or [
                f for p in REPO.glob(source) for f in p.rglob("*.py")]
            assert files, source
            for path in files:
                assert in_context(path.relative_to(REPO).as_posix()), path


def test_build_context_leaves_out_what_no_image_needs() -> None:
    for path in ("tests/unit/test_images.py", "bench/kind_apply_to_ready.py", ".git/HEAD",
                 ".venv/bin/python", "charts/bolna-sip-operator/values.yaml",
                 "operator/bolna_sip_operator/__pycache__/cli.cpython-311.pyc",
                 "operator/bolna_sip_operator.egg-info/PKG-INFO", "hack/build-images.sh",
                 "operator/bolna_devenv/stack.py", "operator/bolna_devenv/__init__.py"):
        assert not in_context(path), path
