"""What ships: the operator's wheel holds the operator and the emulator, never the
development environment (operator/bolna_devenv), and the shipped code never imports it.

The wheel is built offline from a copy of what the image's build copies (pyproject.toml,
operator/, and a one-line README.md as the Dockerfile writes it), with the build backend
of the venv (setuptools, a dev extra), so the work tree gets no build/ or egg-info from
the test. It is in the emulator tier: it starts pip, and the wheel ships the emulator.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SHIPPED = ("bolna_sip_operator", "bolna_emulator")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    shutil.copy2(REPO / "pyproject.toml", source / "pyproject.toml")
    (source / "README.md").write_text("a line, as the image's build writes it\n")
    shutil.copytree(REPO / "operator", source / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    assert (source / "operator" / "bolna_devenv" / "__init__.py").is_file()  # on offer
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
         "-w", str(work / "out"), str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        "pip wheel failed (the venv needs setuptools>=77: hack/setup.sh installs the dev "
        f"extra):\n{result.stdout}\n{result.stderr}")
    [built] = (work / "out").glob("bolna_sip_operator-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_operator_and_the_emulator_only(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    top = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == set(SHIPPED)
    for must in ("bolna_sip_operator/__init__.py", "bolna_sip_operator/cli.py",
                 "bolna_sip_operator/config.py", "bolna_sip_operator/flags.py",
                 "bolna_sip_operator/py.typed", "bolna_emulator/__init__.py"):
        assert must in names, must
    assert not [name for name in names if "devenv" in name]


def test_the_wheel_starts_the_command(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "bolna-sip-operator = bolna_sip_operator.cli:main" in (
        wheel.read(entry_points).decode())


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", SHIPPED)
def test_shipped_code_never_imports_the_development_environment(package: str) -> None:
    sources = sorted((REPO / "operator" / package).rglob("*.py"))
    assert sources
    for path in sources:
        for module in _imported_modules(path):
            assert module.split(".")[0] != "bolna_devenv", f"{path} imports {module}"
            assert ".devenv" not in module, f"{path} imports {module}"


def test_the_development_environment_finds_the_repository() -> None:
    """bolna_devenv locates deploy/ and the repository from its own place in the tree."""
    from bolna_devenv import benchmarks, kamailio, sip_peer, stack

    assert benchmarks.REPO == stack.REPO == REPO.resolve()
    assert kamailio.DEFAULT_CONFIG.is_file()
    assert sip_peer._DEPLOY.is_dir()
