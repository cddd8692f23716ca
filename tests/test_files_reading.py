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

    with pytest.raises(PathNotAllowedError, match=r"zeros leads to /dev/zero, under /dev"):
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


# A whole number past every float (the largest is about 1.8e308), as a file might hold it.
HUGE = "9" * 400
HUGE_SHOWN = "999999999999999999...9999999999999999999"
MY_DEVICE = {"id": "my-box", "name": "My box", "device_class": "discrete_gpu", "memory_gb": 48,
             "memory_type": "GDDR6", "bandwidth_gbs": 960, "fp16_tflops": 150, "int8_tops": 600,
             "power_w": 300, "process": "N4", "node": "n5", "die_area_mm2": None,
             "sram_mb": None, "source": "own measurements", "as_of": "2026-12-01"}


def _with_huge(document: object) -> str:
    return json.dumps(document).replace('"HUGE"', HUGE)


def _my_model() -> dict[str, object]:
    return {**hardware.get_architecture("llama-3.1-8b-instruct").__dict__, "id": "my-model"}


@pytest.mark.parametrize(
    ("name", "document", "command", "message"),
    [
        *(
            (f"device {field}", {"devices": [{**MY_DEVICE, field: "HUGE"}]},
             ["SHOAL_DEVICES=FILE", "hw", "fit", "llama-3.1-8b-instruct", "my-box"],
             f"FILE: devices row 1 is malformed: field '{field}' must be {rule}, got "
             f"{HUGE_SHOWN}")
            for field, rule in [("power_w", "a positive number"),
                                ("memory_gb", "a positive number"),
                                ("bandwidth_gbs", "a positive number"),
                                ("sram_mb", "a number >= 0 or null"),
                                ("die_area_mm2", "a positive number or null")]
        ),
        ("architecture layers", "ARCHITECTURE",
         ["SHOAL_ARCHITECTURES=FILE", "hw", "fit", "my-model", "rtx-4090"],
         "FILE: architectures row 1 is malformed: field 'layers' must be a positive number, "
         f"got {HUGE_SHOWN}"),
        ("catalog price", [{"id": "gpt-4o", "input_per_mtok": "HUGE"}],
         ["models", "--prices", "FILE"],
         "--prices: input.json model #1 (id 'gpt-4o'): field 'input_per_mtok' must be a finite "
         f"number, got {HUGE_SHOWN}"),
        ("{model: prices} price",
         {"gpt-4o": {"input_per_mtok": "HUGE", "output_per_mtok": 1}},
         ["eval", "--data", "DATA", "--folds", "2", "--prices", "FILE"],
         "price file FILE: 'gpt-4o' needs input_per_mtok and output_per_mtok (finite numbers "
         ">= 0)"),
        ("budget item priority", [{"id": "a", "text": "hello", "priority": "HUGE"}],
         ["budget", "fit", "FILE", "--model", "gpt-4o", "--budget", "10"],
         f"items file: FILE: item 'a': priority must be finite and at least 0, got {HUGE_SHOWN}"),
        ("label score", "LABEL", ["fit", "FILE", "--out", "OUT"],
         f"FILE:1: score must be in [0, 1], got {HUGE_SHOWN}"),
        ("serve devices", {"devices": [{**MY_DEVICE, "power_w": "HUGE"}]},
         ["serve", "--devices", "FILE"],
         "--devices: FILE: devices row 1 is malformed: field 'power_w' must be a positive "
         f"number, got {HUGE_SHOWN}"),
    ],
)
def test_a_whole_number_past_every_float_is_refused_naming_file_row_and_field(
    tmp_path: Path, name: str, document: object, command: list[str], message: str,
) -> None:
    # Such a number overflowed the first check that made a float of it, and the error named
    # nothing: "int too large to convert to float".
    path = tmp_path / "input.json"
    if document == "ARCHITECTURE":
        text = _with_huge({"architectures": [{**_my_model(), "layers": "HUGE"}]})
    elif document == "LABEL":
        path = tmp_path / "labels.jsonl"
        text = _with_huge({"prompt": "hi", "model": "gpt-4o", "score": "HUGE"}) + "\n"
    else:
        text = _with_huge(document)
    path.write_text(text, encoding="utf-8")
    data = tmp_path / "labels.jsonl"
    if "DATA" in command:
        data.write_text("".join(json.dumps({"prompt": f"p{n}", "model": "gpt-4o", "score": 1})
                                + "\n" for n in range(4)), encoding="utf-8")
    arguments = [{"FILE": str(path), "DATA": str(data), "OUT": str(tmp_path / "out.json")}
                 .get(word, word) for word in command]
    environment = dict(os.environ)
    if "=" in arguments[0]:
        variable, _ = arguments.pop(0).split("=")
        environment[variable] = str(path)

    # User tables go into the process's own: each command runs in a process of its own.
    done = subprocess.run([sys.executable, "-m", "shoal", *arguments], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, env=environment,
                          check=False)

    assert done.returncode == 2, name
    assert done.stderr.splitlines()[-1].endswith(message.replace("FILE", str(path))), done.stderr
    assert "9" * 41 not in done.stderr


def test_the_shared_reader_keeps_a_whole_number_past_every_float_as_spelled() -> None:
    read = parse_json(f'[{HUGE}, -{HUGE}, 12, {"1" * 308}]', "standard input")

    assert [repr(number) for number in read[:2]] == [HUGE, "-" + HUGE]
    assert read[0] == float("inf") and read[1] == float("-inf")
    # Whole numbers a float can hold stay ints, exactly as written.
    assert read[2:] == [12, int("1" * 308)] and isinstance(read[3], int)
    # Past the 4,300 digits Python writes as an int: still read, and quoted as written.
    assert repr(parse_json("9" * 5000, "standard input")) == "9" * 5000


BEYOND_INT_TEXT = "9" * 5000  # past the 4,300 digits Python converts to an int by default


def test_a_number_past_python_s_digit_limit_in_a_row_is_read_like_any_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Each of these readers died on "Exceeds the limit (4300 digits) for integer string
    # conversion … use sys.set_int_max_str_digits()", a hint only for Python code.
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(f'{{"prompt": "hi", "n": {BEYOND_INT_TEXT}}}\n', encoding="utf-8")
    chat = tmp_path / "chat.json"
    chat.write_text(f'[{{"role": "user", "content": "hi", "n": {BEYOND_INT_TEXT}}}]',
                    encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(f'{{"id": {BEYOND_INT_TEXT}, "text": "hi", "expected": []}}\n',
                        encoding="utf-8")

    assert main(["route", "--file", str(prompts)]) == 0  # the extra field is no prompt
    assert main(["count", "--chat", str(chat), "--model", "gpt-4o"]) == 2
    assert main(["privacy", "--evaluate", str(labelled)]) == 2

    errors = capsys.readouterr().err
    assert "messages[0]['n'] must be a string, not a number" in errors
    assert f"{labelled}:1: expected an object with id and text (strings)" in errors
    assert "set_int_max_str_digits" not in errors and "9" * 41 not in errors
