"""A damaged install: the pure path's vocabulary and class files are checked before use, and a
bad one stops with one line naming the file, on the command line and at server start."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

import shoal
from shoal._pure import tokens as pure_tokens

PACKAGE = Path(shoal.__file__).resolve().parent


def test_every_shipped_vocabulary_file_matches_its_digest() -> None:
    for name in pure_tokens.ENCODINGS:
        pure_tokens._read_encoding(name)  # raises VocabularyError on a mismatch
    pure_tokens._check_digest(pure_tokens.UNICODE_CLASSES_PATH,
                              pure_tokens.UNICODE_CLASSES_PATH.read_bytes(),
                              pure_tokens.UNICODE_CLASSES_SHA256)


def test_a_truncated_vocabulary_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = pure_tokens.VOCABULARY_DIR / pure_tokens.VOCABULARY_FILES["tekken_240718"]
    damaged = tmp_path / shipped.name
    damaged.write_bytes(shipped.read_bytes()[:1000])
    monkeypatch.setattr(pure_tokens, "VOCABULARY_DIR", tmp_path)

    with pytest.raises(pure_tokens.VocabularyError, match=rf"{damaged} cannot be read"):
        pure_tokens._read_encoding("tekken_240718")
    assert isinstance(pure_tokens.VocabularyError("x"), OSError)


@pytest.fixture
def damaged_install(tmp_path: Path) -> Path:
    """A copy of the package whose Unicode class file was edited (one space added)."""
    copy = tmp_path / "shoal"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "_core*.so"))
    classes = copy / "data" / "vocab" / "unicode_classes.json"
    classes.write_text(classes.read_text(encoding="utf-8").replace("[", "[ ", 1),
                       encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("argv", [["count", "Café déjà vu"], ["serve", "--tools", "cost"]])
def test_an_edited_class_file_stops_the_command_in_one_line(
    damaged_install: Path, argv: list[str]
) -> None:
    # Without the check the pure path counted with the edited classes and called it exact.
    ran = subprocess.run(
        [sys.executable, "-m", "shoal", *argv], capture_output=True, text=True,
        timeout=HANG_GUARD_S,
        env={"PYTHONPATH": str(damaged_install), "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        stdin=subprocess.DEVNULL, check=False,
    )

    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    assert (f"shoal {argv[0]}: error: vocabulary file "
            f"{damaged_install / 'shoal' / 'data' / 'vocab' / 'unicode_classes.json'} has SHA-256"
            ) in ran.stderr
    assert "Rust extension shoal._core is not installed" in ran.stderr
