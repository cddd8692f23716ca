"""The type stub `_core.pyi` matches the compiled extension (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys

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
