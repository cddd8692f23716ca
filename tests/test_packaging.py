"""What the package promises its installers: the oldest Python it names can read every module."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def oldest_supported_python() -> tuple[int, int]:
    """The version ``requires-python`` names as the lowest (``>=3.10`` gives (3, 10))."""
    declared = re.search(r'^requires-python\s*=\s*">=(\d+)\.(\d+)"',
                         (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert declared, "pyproject.toml should name the lowest Python it supports"
    return int(declared.group(1)), int(declared.group(2))


def interpreter(version: tuple[int, int]) -> str | None:
    """An interpreter of exactly ``version`` under pyenv or on PATH that runs (a pyenv shim for a
    version not selected is on PATH but refuses to), if the machine has one."""
    name = f"python{version[0]}.{version[1]}"
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [*map(str, sorted(pyenv.glob(f"{version[0]}.{version[1]}.*/bin/{name}"))),
                  shutil.which(name)]
    for candidate in filter(None, candidates):
        reported = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2])"],
                                  capture_output=True, text=True, check=False)
        if reported.returncode == 0 and reported.stdout.split() == [str(n) for n in version]:
            return candidate
    return None


def test_every_module_compiles_under_the_oldest_supported_python(tmp_path: Path) -> None:
    # Syntax from a later Python (a tuple unpacked inside a subscript is 3.11's) installs without
    # complaint and then fails at import, only on the versions the tests do not run on.
    version = oldest_supported_python()
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version[0]}.{version[1]} interpreter on this machine")
    sources = sorted(str(path) for path in (ROOT / "python" / "shoal").rglob("*.py"))

    compiled = subprocess.run(
        [python, "-m", "py_compile", *sources], capture_output=True, text=True, check=False,
        env={"PYTHONPYCACHEPREFIX": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )

    assert compiled.returncode == 0, compiled.stderr
