"""What the package promises its installers: the oldest Python it names can read every module, its
licence metadata covers everything the wheel ships (the Rust crates linked into the extension
included), and the maintainer scripts it leaves out of the wheel are needed by nothing at run
time and name a missing package in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
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


# ---- licences -----------------------------------------------------------------------------------

LICENCES = ROOT / "python" / "shoal" / "data" / "licenses"
CRATE_LICENCES = LICENCES / "rust-crates.txt"


def declared_licence() -> str:
    """The SPDX expression of ``license`` in pyproject.toml."""
    declared = re.search(r'^license\s*=\s*"([^"]+)"',
                         (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert declared, "pyproject.toml should declare the package's licence"
    return declared.group(1)


def satisfied(expression: str, granted: set[str]) -> bool:
    """Whether an SPDX expression of ANDs, ORs and brackets holds given the licences granted."""
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expression)
    words = {"AND": "and", "OR": "or", "(": "(", ")": ")"}
    # Every token becomes a bracket, `and`, `or`, True or False, so Python can evaluate it.
    return bool(eval(" ".join(words.get(token, str(token in granted)) for token in tokens)))


def crate_sections() -> tuple[dict[str, str], dict[str, str]]:
    """The linked and the not-linked crates the crate licence file lists, each with its note."""
    text = CRATE_LICENCES.read_text(encoding="utf-8")
    linked_part = text.split("Linked into the extension\n", 1)[1].split("\n\n", 1)[0]
    not_linked_part = text.split("Not linked (compiled only for the build)\n", 1)[1]
    not_linked_part = not_linked_part.split("\n\n", 1)[0]
    row = re.compile(r"^([A-Za-z0-9_-]+ [0-9][^:]*): (.*)$", re.MULTILINE)
    return dict(row.findall(linked_part)), dict(row.findall(not_linked_part))


def test_the_licence_expression_names_the_licence_of_every_text_shipped() -> None:
    # Each text in licenses/ is named for the SPDX licence it is (`Apache-2.0.txt`) or for its
    # owner and licence (`tiktoken-MIT.txt`); the crates' file is checked crate by crate below.
    named = set(re.findall(r"[A-Za-z0-9.+-]+", declared_licence())) - {"AND", "OR", "WITH"}
    texts = sorted(path.stem for path in LICENCES.iterdir() if path != CRATE_LICENCES)

    assert texts
    assert [stem for stem in texts
            if not any(stem == name or stem.endswith(f"-{name}") for name in named)] == []
    assert "license-files" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_every_linked_crate_is_used_under_a_licence_the_package_declares() -> None:
    granted = set(re.findall(r"[A-Za-z0-9.+-]+", declared_licence())) - {"AND", "OR"}
    linked, _ = crate_sections()

    assert "pyo3 0.30.1" in linked
    refused = {label: note for label, note in linked.items()
               if not satisfied(note.split("  ")[0], granted)}
    assert refused == {}


def test_the_crate_licence_file_accounts_for_every_crate_in_cargo_lock() -> None:
    # Without cargo: a crate added to Cargo.lock fails here until the file is rewritten.
    lock = (ROOT / "Cargo.lock").read_text(encoding="utf-8")
    locked = {f"{name} {version}" for name, version
              in re.findall(r'^name = "([^"]+)"\nversion = "([^"]+)"', lock, re.MULTILINE)}
    linked, not_linked = crate_sections()

    assert not set(linked) & set(not_linked)
    assert set(linked) | set(not_linked) | {"shoal-core 0.1.0"} == locked


def test_the_crate_licence_file_is_what_the_script_writes_from_cargo_lock() -> None:
    from shoal._build import crate_licenses

    if shutil.which("cargo") is None:
        pytest.skip("cargo is not on PATH")
    try:
        found = crate_licenses.inventory(crate_licenses.cargo_metadata(ROOT))
        written = crate_licenses.render(found)
    except crate_licenses.CrateLicenceError as error:
        pytest.skip(f"the crates' sources are not in the local cargo registry: {error}")

    # Build dependencies and procedural macros (and what only they use) never reach the binary.
    assert {"pyo3 0.30.1", "regex-automata 0.4.19", "memchr 2.8.3"} <= set(found.linked)
    assert {"syn 3.0.10", "pyo3-macros 0.30.1", "flate2 1.1.11", "zlib-rs 0.6.9",
            "pyo3-build-config 0.30.1"} <= set(found.not_linked)
    assert found.linked["portable-atomic 1.15.0"] == ('cfg(not(target_has_atomic = "64"))',)
    assert written == CRATE_LICENCES.read_text(encoding="utf-8"), (
        "rust-crates.txt is stale: run python -m shoal._build.crate_licenses "
        "--out python/shoal/data/licenses/rust-crates.txt")


def test_the_features_the_licence_script_resolves_are_those_the_wheel_is_built_with() -> None:
    from shoal._build import crate_licenses

    built = re.search(r"^\[tool\.maturin\][^[]*?^features\s*=\s*\[([^\]]*)\]",
                      (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL)
    assert built
    assert tuple(re.findall(r'"([^"]+)"', built.group(1))) == crate_licenses.FEATURES


# ---- maintainer scripts -------------------------------------------------------------------------

BUILD_SCRIPTS = sorted(path.stem for path in (ROOT / "python" / "shoal" / "_build").glob("*.py")
                       if path.stem != "__init__")


def test_the_wheel_leaves_out_the_maintainer_scripts_and_nothing_at_run_time_needs_them() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    excluded = re.search(r"^exclude = \[(.*?)^\]", pyproject, re.MULTILINE | re.DOTALL)
    assert excluded
    for path in ("python/shoal/_build/**/*", "shoal/_build/**/*"):
        assert f'{{ path = "{path}", format = "wheel" }}' in excluded.group(1), path

    package = ROOT / "python" / "shoal"
    importers = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if "_build" not in path.parts
                 and re.search(r"^\s*(from|import) (shoal\._build|\._build)\b",
                               path.read_text(encoding="utf-8"), re.MULTILINE)]
    assert importers == []


RUN_WITHOUT = r"""
import runpy, sys
for package in ("sentencepiece", "tiktoken"):
    sys.modules[package] = None  # import fails as when the package is not installed
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_module(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("script", BUILD_SCRIPTS)
def test_every_maintainer_script_shows_its_help_without_its_optional_packages(script: str) -> None:
    done = subprocess.run([sys.executable, "-c", RUN_WITHOUT, f"shoal._build.{script}", "--help"],
                          capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout


def test_a_maintainer_script_missing_a_package_names_it_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", RUN_WITHOUT, "shoal._build.token_ratios",
                           "--mistral-data", str(tmp_path), "--vocab", str(tmp_path),
                           "--corpus", str(tmp_path)],
                          capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})

    assert done.returncode == 2
    assert done.stderr == ("python -m shoal._build.token_ratios: error: this script needs the "
                           "tiktoken package, which shoal does not install: pip install "
                           "tiktoken\n")
