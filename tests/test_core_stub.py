"""Types: the package passes mypy, and the stub `_core.pyi` matches the compiled extension."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shoal._backend import BACKEND

pytest.importorskip("mypy", reason="mypy (a test dependency) is not installed")


@pytest.mark.skipif(BACKEND != "rust", reason="the stub describes the Rust extension")
def test_stub_matches_the_extension() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "shoal._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, (
        "python/shoal/_core.pyi disagrees with the extension (add new functions to the stub "
        "and its __all__):\n" + result.stdout + result.stderr
    )


@pytest.mark.skipif(BACKEND != "rust", reason="type checking does not depend on the backend")
def test_the_package_type_checks() -> None:
    package = Path(__file__).resolve().parents[1] / "python" / "shoal"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", "/dev/null", str(package)],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, "mypy found type errors:\n" + result.stdout + result.stderr
