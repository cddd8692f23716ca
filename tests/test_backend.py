"""Which implementation runs: the Rust extension when it is there, built for this shoal and
complete; the pure-Python fallback otherwise, said once on stderr; or the fallback on request
through ``SHOAL_PURE_PYTHON``.

Stale and incomplete extensions are put in a copy of the package in a temporary folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

import shoal
from shoal import _backend

PACKAGE = Path(shoal.__file__).resolve().parent
HAS_EXTENSION = any(PACKAGE.glob("_core*.so")) or any(PACKAGE.glob("_core*.pyd"))
needs_extension = pytest.mark.skipif(not HAS_EXTENSION, reason="the Rust extension is not built")

SHOW_BACKEND = "import shoal; print(shoal.BACKEND)"
FALLBACK = "using the pure-Python fallback, same answers, 2x to 200x slower"


def _run(root: Path, *argv: str, switch: str | None = None,
         code: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SHOAL_PURE_PYTHON", "PYTHONPATH")}
    environment["PYTHONPATH"] = str(root)
    if switch is not None:
        environment["SHOAL_PURE_PYTHON"] = switch
    command = ["-c", code] if code is not None else ["-m", "shoal", *argv]
    return subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, env=environment, stdin=subprocess.DEVNULL,
                          check=False)


@pytest.fixture
def package_with_core(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of the package without its compiled extension; the test writes a ``_core.py``
    in its place through the returned function, which gives the folder for PYTHONPATH."""
    shutil.copytree(PACKAGE, tmp_path / "shoal",
                    ignore=shutil.ignore_patterns("__pycache__", "_core*.so", "_core*.pyd"))

    def with_core(source: str) -> Path:
        (tmp_path / "shoal" / "_core.py").write_text(source, encoding="utf-8")
        return tmp_path

    return with_core


@pytest.mark.parametrize(("source", "problem"), [
    ("", "was built for shoal of an unknown version, not 0.1.0"),
    ('__version__ = "0.0.9"\n', "was built for shoal 0.0.9, not 0.1.0"),
    ('__version__ = "0.1.0"\n', "lacks ENCODINGS, ExemplarIndex, NeighbourEstimator and 13 more"),
], ids=["empty", "older", "incomplete"])
def test_a_stale_or_incomplete_extension_falls_back_saying_why_once(
    package_with_core: Callable[[str], Path], source: str, problem: str
) -> None:
    # An empty _core module was taken for the extension: BACKEND read "rust" and `shoal count`
    # ended in "module 'shoal._core' has no attribute 'ENCODINGS'".
    root = package_with_core(source)

    ran = _run(root, "count", "hi")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("1 token (exact, o200k_base"), ran.stdout
    notes = [line for line in ran.stderr.splitlines() if "Rust extension" in line]
    assert notes == [f"Rust extension shoal._core at {root / 'shoal' / '_core.py'} {problem}; "
                     f"reinstall shoal to replace it; {FALLBACK}"]
    assert _run(root, code=SHOW_BACKEND).stdout == "python\n"


@needs_extension
def test_the_built_extension_is_taken() -> None:
    from shoal import _core

    assert _backend._unusable(_core) is None
    assert _run(PACKAGE.parent, code=SHOW_BACKEND, switch="").stdout == "rust\n"


@pytest.mark.parametrize("value", ["1", "true", "True", "YES", "on", " yes "])
def test_every_usual_true_spelling_asks_for_the_pure_path(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Only "1" worked; "true" and "yes" were ignored without a word.
    monkeypatch.setenv(_backend.PURE_PYTHON_SWITCH, value)

    assert _backend._pure_python_asked()
    assert not caplog.records


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_every_usual_false_spelling_leaves_the_choice_to_the_extension(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_backend.PURE_PYTHON_SWITCH, value)

    assert not _backend._pure_python_asked()
    assert not caplog.records


def test_an_unknown_value_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_backend.PURE_PYTHON_SWITCH, "python")

    with caplog.at_level(logging.WARNING, logger="shoal._backend"):
        assert not _backend._pure_python_asked()

    assert [record.getMessage() for record in caplog.records] == [
        "SHOAL_PURE_PYTHON=python is not one of 1, true, yes, on (or '', 0, false, no, off); "
        "using the Rust extension if it loads"]


def test_the_switch_chooses_the_path_at_import() -> None:
    ran = _run(PACKAGE.parent, code=SHOW_BACKEND, switch="true")

    assert ran.stdout == "python\n" and ran.stderr == ""
