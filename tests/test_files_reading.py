"""Reading one named file's text under the rules count_files applies: regular files only, never
/proc, /dev or /sys, and no more than a size limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hang_guard import without_hanging

from shoal.files import (
    MAX_FILE_BYTES_LIMIT,
    FileTooLargeError,
    PathNotAllowedError,
    read_text_file,
)


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
