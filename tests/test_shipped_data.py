"""A damaged install: every data file shoal ships and reads is checked against its SHA-256, and a
missing, edited or truncated one stops a command, or the server's start, with one line naming it.

Every tampering test works on a copy of the package in a temporary folder, run in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

import shoal
from shoal import shipped_data

PACKAGE = Path(shoal.__file__).resolve().parent
REPOSITORY = PACKAGE.parents[1]
HAS_EXTENSION = any(PACKAGE.glob("_core*.so")) or any(PACKAGE.glob("_core*.pyd"))
needs_extension = pytest.mark.skipif(not HAS_EXTENSION, reason="the Rust extension is not built")

EMAIL_TEXT = "mail bob.jones@acme-corp.com now"
TLD_FILE = "tlds-alpha-by-domain.txt"


def test_every_shipped_data_file_matches_its_digest() -> None:
    for name, expected in shipped_data.SHIPPED_SHA256.items():
        contents = (shipped_data.DATA_DIR / name).read_bytes()
        digest = hashlib.sha256(contents).hexdigest()
        assert digest == expected, f"{name} changed: write its new SHA-256 {digest} in " \
                                   "shoal/shipped_data.py"


def test_every_data_file_the_package_reads_has_a_digest() -> None:
    # The vocabularies have theirs in shoal._pure.tokens (and the Rust build); NOTICE.md and the
    # licences are for people, and the MT-Bench questions an example input shoal never reads.
    not_read = {"NOTICE.md", "mt_bench_questions.jsonl"}
    files = {path.name for path in shipped_data.DATA_DIR.iterdir() if path.is_file()}
    assert files - not_read == set(shipped_data.SHIPPED_SHA256)


def test_the_rust_build_checks_the_top_level_domains_against_the_same_digest() -> None:
    build_script = (REPOSITORY / "build.rs").read_text(encoding="utf-8")
    pinned = re.search(r'"tlds-alpha-by-domain\.txt",\s*"([0-9a-f]{64})"', build_script)
    assert pinned is not None
    assert pinned.group(1) == shipped_data.SHIPPED_SHA256[TLD_FILE]


# ---- a copy of the package to damage ----


def _copy_package(tmp_path: Path) -> Path:
    """A copy of the installed package (with its extension, if built) under ``tmp_path``; the
    folder to put on PYTHONPATH."""
    shutil.copytree(PACKAGE, tmp_path / "shoal", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run(root: Path, *argv: str, pure: bool = False,
         code: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SHOAL_PURE_PYTHON", "PYTHONPATH")}
    environment["PYTHONPATH"] = str(root)
    if pure:
        environment["SHOAL_PURE_PYTHON"] = "1"
    command = ["-c", code] if code is not None else ["-m", "shoal", *argv]
    return subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, env=environment, stdin=subprocess.DEVNULL,
                          check=False)


def _without_com(path: Path) -> None:
    lines = path.read_text(encoding="ascii").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if line.strip() != "COM"), encoding="ascii")


def _one_digit_changed(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    at = re.search(r"\d\.\d", text).start() + 2  # type: ignore[union-attr]
    path.write_text(text[:at] + ("1" if text[at] != "1" else "2") + text[at + 1:],
                    encoding="utf-8")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _emptied(path: Path) -> None:
    path.write_text("{}", encoding="utf-8")


def _damaged_line(stderr: str, command: str, root: Path, name: str) -> bool:
    path = root / "shoal" / "data" / name
    return bool(re.search(
        rf"^{re.escape(command)}: error: data file {re.escape(str(path))} has SHA-256 "
        rf"[0-9a-f]{{64}}, expected {shipped_data.SHIPPED_SHA256[name]}; reinstall shoal to "
        "restore the genuine file$", stderr, re.MULTILINE))


# ---- the top-level domains ----


def test_a_list_of_domains_without_com_stops_the_pure_scan_in_one_line(tmp_path: Path) -> None:
    # Without the check the pure path found no address at acme-corp.com and said so.
    root = _copy_package(tmp_path)
    _without_com(root / "shoal" / "data" / TLD_FILE)

    ran = _run(root, "privacy", EMAIL_TEXT, pure=True)

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "nothing found" not in ran.stdout
    assert _damaged_line(ran.stderr, "shoal privacy", root, TLD_FILE), ran.stderr
    assert "Traceback" not in ran.stderr


@needs_extension
def test_the_rust_scan_keeps_its_compiled_list_when_the_file_is_damaged(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    _without_com(root / "shoal" / "data" / TLD_FILE)

    ran = _run(root, "privacy", EMAIL_TEXT)

    assert "personal email in text[5:28]" in ran.stdout, ran.stderr


def test_a_missing_list_of_domains_stops_only_the_pure_scan(tmp_path: Path) -> None:
    # The pure package read the list at import, and the Rust path imported the whole package:
    # every command, `shoal --version` and `shoal count hi` alike, ended in a traceback.
    root = _copy_package(tmp_path)
    path = root / "shoal" / "data" / TLD_FILE
    path.unlink()

    for pure in (False, True):
        for argv in (["--version"], ["count", "hi"]):
            ran = _run(root, *argv, pure=pure)
            assert ran.returncode == 0 and "Traceback" not in ran.stderr, (argv, ran.stderr)

    scanned = _run(root, "privacy", EMAIL_TEXT, pure=True)
    assert scanned.returncode == 2
    assert scanned.stderr.splitlines()[-1] == (
        f"shoal privacy: error: data file {path} cannot be read (No such file or directory); "
        "reinstall shoal to restore it")


@needs_extension
def test_the_rust_path_loads_no_more_of_the_pure_package_than_it_uses() -> None:
    ran = _run(PACKAGE.parent, code=(
        "import sys, shoal, shoal.cli, shoal.hardware, shoal.vendor_tokens, shoal.router\n"
        "print(shoal.BACKEND, sorted(m for m in sys.modules if m.startswith('shoal._pure')))"))
    assert ran.stdout.split(" ", 1)[0] == "rust", ran.stderr
    assert "shoal._pure.privacy" not in ran.stdout


# ---- the catalog, the router, the tables ----

DAMAGES: list[tuple[str, Callable[[Path], None]]] = [
    ("router_default.json", _one_digit_changed),
    ("models.json", _truncated),
    ("models.json", _emptied),
    ("confidence_calibration.json", _truncated),
    ("devices.json", _one_digit_changed),
    (TLD_FILE, _without_com),
]


@pytest.mark.parametrize(("name", "damage"), DAMAGES,
                         ids=[f"{name}-{damage.__name__.strip('_')}" for name, damage in DAMAGES])
def test_the_server_refuses_to_start_on_a_damaged_data_file(
    tmp_path: Path, name: str, damage: Callable[[Path], None]
) -> None:
    # A damaged router or catalog ended the start in "ExceptionGroup: unhandled errors in a
    # TaskGroup"; a truncated calibration started, then failed every route_task.
    root = _copy_package(tmp_path)
    damage(root / "shoal" / "data" / name)

    ran = _run(root, "serve")

    assert ran.returncode == 2, ran.stderr
    assert _damaged_line(ran.stderr, "shoal serve", root, name), ran.stderr
    assert "ready" not in ran.stderr and "Traceback" not in ran.stderr


@pytest.mark.parametrize("damage", [_truncated, _emptied], ids=["truncated", "emptied"])
def test_a_damaged_catalog_is_named_by_every_command_that_reads_it(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    # A truncated catalog gave only the parser's "Unterminated string starting at: line 5 column
    # 3 (char 185)"; an empty object a KeyError traceback.
    root = _copy_package(tmp_path)
    damage(root / "shoal" / "data" / "models.json")

    for argv in (["models"], ["cost", "gpt-4.1-mini"], ["route", "hi"],
                 ["count", "--model", "gpt-4.1-mini", "hi"]):
        ran = _run(root, *argv)
        assert ran.returncode == 2, (argv, ran.stderr)
        assert _damaged_line(ran.stderr, f"shoal {argv[0]}", root, "models.json"), ran.stderr


@pytest.mark.parametrize("name", ["router_default.json", "confidence_calibration.json"])
def test_a_damaged_router_file_is_named_by_route(tmp_path: Path, name: str) -> None:
    root = _copy_package(tmp_path)
    _truncated(root / "shoal" / "data" / name)

    ran = _run(root, "route", "hi")

    assert ran.returncode == 2
    assert _damaged_line(ran.stderr, "shoal route", root, name), ran.stderr


def test_a_damaged_device_table_is_named_by_hw(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    _one_digit_changed(root / "shoal" / "data" / "devices.json")

    ran = _run(root, "hw", "devices")

    assert ran.returncode == 2
    assert _damaged_line(ran.stderr, "shoal hw", root, "devices.json"), ran.stderr


def test_the_library_raises_a_damaged_install_error_naming_the_file(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    _truncated(root / "shoal" / "data" / "models.json")

    ran = _run(root, code=(
        "import shoal\n"
        "try:\n    shoal.load_catalog()\n"
        "except shoal.DamagedInstallError as error:\n"
        "    print(isinstance(error, OSError), isinstance(error, shoal.ShoalError), error)\n"))

    assert ran.stdout.startswith("True True data file "), ran.stderr
    assert str(root / "shoal" / "data" / "models.json") in ran.stdout


def test_a_users_prices_file_is_still_read_as_the_users(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4.1-mini", "input_usd_per_mtok": "x"}]}),
                      encoding="utf-8")

    ran = _run(PACKAGE.parent, "cost", "gpt-4.1-mini", "--prices", str(prices))

    assert ran.returncode == 2
    assert "reinstall" not in ran.stderr and "prices.json" in ran.stderr
