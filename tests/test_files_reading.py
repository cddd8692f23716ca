"""Reading one named file's text under the rules count_files applies: regular files only, never
/proc, /dev or /sys, and no more than a size limit; JSON in a file or on standard input is read
past a leading byte order mark."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import without_hanging

from shoal import hardware
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.files import (
    MAX_FILE_BYTES_LIMIT,
    FileTooLargeError,
    PathNotAllowedError,
    parse_json,
    read_json_file,
    read_text_file,
)
from shoal.router_model import read_router


def test_a_regular_file_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("héllo\n", encoding="utf-8")

    assert read_text_file(path) == "héllo\n"
    assert read_text_file(str(path), max_file_bytes=7) == "héllo\n"


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/proc/self/status"])
def test_system_files_are_refused_before_any_read(path: str) -> None:
    with pytest.raises(PathNotAllowedError, match=r"is under /(dev|proc), which shoal never reads"):
        without_hanging(lambda: read_text_file(path))


def test_a_link_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zeros"
    link.symlink_to("/dev/zero")

    with pytest.raises(PathNotAllowedError, match=r"zeros is under /dev"):
        without_hanging(lambda: read_text_file(link))


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    with pytest.raises(ValueError, match=r"pipe is not a regular file .*which shoal never reads"):
        without_hanging(lambda: read_text_file(fifo))


def test_a_file_over_the_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000, encoding="utf-8")

    with pytest.raises(FileTooLargeError) as caught:
        read_text_file(path, max_file_bytes=1000)

    assert str(caught.value) == (
        f"{path} is 2,000 bytes, over the 1,000-byte limit; raise max_file_bytes to read it"
    )
    assert (caught.value.size, caught.value.limit) == (2000, 1000)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (0, "max_file_bytes must be at least 1, not 0"),
        (MAX_FILE_BYTES_LIMIT + 1, "max_file_bytes must be at most 1,073,741,824"),
        (10**20, "max_file_bytes must be at most 1,073,741,824"),
    ],
)
def test_a_limit_out_of_range_is_refused(tmp_path: Path, limit: int, message: str) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a", encoding="utf-8")

    with pytest.raises(ValueError, match=message):
        read_text_file(path, max_file_bytes=limit)


def test_other_unreadable_paths_are_named(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")

    with pytest.raises(ValueError, match=r"missing.txt does not exist"):
        read_text_file(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match=r"is a folder; name a file"):
        read_text_file(tmp_path)
    with pytest.raises(ValueError,
                       match=r"latin.txt is not UTF-8 text \(byte 0xE9 at offset 3\)"):
        read_text_file(tmp_path / "latin.txt")
    with pytest.raises(ValueError, match="contains a NUL character"):
        read_text_file("a\0b")


# ---- a byte order mark before JSON ----

BOM = "\ufeff"
JSON_FILES = {
    "cost --plan": ('[{"input_tokens": 5}]', ["cost", "gpt-4o", "--plan", "FILE"]),
    "budget fit ITEMS_FILE": ('[{"id": "a", "text": "hi"}]',
                              ["budget", "fit", "FILE", "--model", "gpt-4o", "--budget", "100"]),
    "budget trim CHAT_FILE": ('[{"role": "user", "content": "hi"}]',
                              ["budget", "trim", "FILE", "--model", "gpt-4o", "--budget", "100"]),
    "count --chat": ('[{"role": "user", "content": "hi"}]', ["count", "--chat", "FILE"]),
    "route --history": ('[{"role": "user", "content": "hi"}]',
                        ["route", "and now?", "--history", "FILE"]),
    "models --prices": ('{"models": [{"id": "gpt-4o", "input_per_mtok": 2.0, "as_of": '
                        '"2026-11-30"}]}', ["models", "--prices", "FILE"]),
}


# Those that read standard input for '-' are run both ways.
READS = [(reader, "file") for reader in JSON_FILES] + [
    (reader, "stdin") for reader in ("cost --plan", "budget fit ITEMS_FILE",
                                     "budget trim CHAT_FILE", "count --chat")
]


@pytest.mark.parametrize(("reader", "source"), READS)
def test_json_after_a_byte_order_mark_is_read_as_without_it(
    reader: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document, template = JSON_FILES[reader]
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    outputs = []
    for text in (document, BOM + document):
        if source == "stdin":
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))
            file = "-"
        else:
            path = tmp_path / "input.json"
            path.write_text(text, encoding="utf-8")
            file = str(path)
        status = main([file if word == "FILE" else word for word in template])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        outputs.append(captured.out)

    assert outputs[0] == outputs[1]


def test_every_settings_file_reader_reads_past_a_byte_order_mark(tmp_path: Path) -> None:
    shipped_router = Path(hardware.DATA_DIR) / "router_default.json"
    router = tmp_path / "router.json"
    router.write_text(BOM + shipped_router.read_text(encoding="utf-8"), encoding="utf-8")
    prices = tmp_path / "prices.json"
    prices.write_text(BOM + '{"models": [{"id": "gpt-4o", "input_per_mtok": 2.0}]}',
                      encoding="utf-8")
    devices = tmp_path / "devices.json"
    devices.write_text(BOM + json.dumps({"dram_pj_per_bit": {}}), encoding="utf-8")
    architectures = tmp_path / "architectures.json"
    architectures.write_text(BOM + json.dumps({"architectures": []}), encoding="utf-8")

    assert read_json_file(router) == json.loads(shipped_router.read_text(encoding="utf-8"))
    assert parse_json(BOM + "[1]", "standard input") == [1]
    assert read_router(router).content_hash == read_router(shipped_router).content_hash
    assert load_catalog(prices).model("gpt-4o").input_per_mtok == 2.0
    # User tables go into the process's own: read in a process of its own.
    done = subprocess.run([sys.executable, "-m", "shoal", "hw", "devices"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "SHOAL_DEVICES": str(devices),
                               "SHOAL_ARCHITECTURES": str(architectures)})
    assert done.returncode == 0, done.stderr
