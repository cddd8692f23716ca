"""`shoal privacy`: scan, redact and evaluate through ``shoal.cli.main``, and once as a module."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

from shoal.cli import main

LABELLED = Path(__file__).parent / "data" / "privacy_labelled.jsonl"
KEY = "AKIAQYLPMN5HHHFPZAM2"
TEXT = f"mail maria.gonzalez@gmail.com, key {KEY}; docs key AKIAIOSFODNN7EXAMPLE"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["privacy", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _with_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_scan_names_kind_and_offsets_never_the_value(capsys):
    code, out, _ = _run(capsys, TEXT)

    assert code == 0
    assert out.splitlines() == [
        "personal email in text[5:29]",
        "secret   aws_access_key_id in text[35:55]",
    ]
    assert "maria" not in out and KEY not in out


def test_clean_text_says_so_and_fail_on_findings_sets_the_status(capsys):
    assert _run(capsys, "nothing to see, uuid 123e4567-e89b-12d3-a456-426614174000") == (
        0, "nothing found\n", "")
    assert _run(capsys, "--fail-on-findings", "nothing here")[0] == 0
    assert _run(capsys, "--fail-on-findings", TEXT)[0] == 1


def test_redact_replaces_each_finding_with_its_kind(capsys):
    code, out, _ = _run(capsys, "--redact", TEXT)

    assert code == 0
    assert out == "mail [email], key [aws_access_key_id]; docs key AKIAIOSFODNN7EXAMPLE\n"


def test_redact_hides_a_whole_connection_string_password_holding_a_slash(capsys):
    code, out, _ = _run(capsys, "--redact", "postgres://admin:Xk9/mP2vL8@db.internal:5432/app")

    assert code == 0
    assert out == "postgres://admin:[connection_string]@db.internal:5432/app\n"


def test_an_image_pinned_by_digest_is_no_connection_string(capsys):
    assert _run(capsys, "docker://alpine:3.19@sha256:abcdef") == (0, "nothing found\n", "")


def test_redact_hides_a_whole_password_holding_letters_with_diacritics(capsys):
    code, out, _ = _run(capsys, "--redact", 'password: "Pässwörd123", api_key=Zk3jÜ9vq8LmN2pQ ok')

    assert code == 0
    assert out == 'password: "[password]", api_key=[api_key] ok\n'


@pytest.mark.parametrize("redact", [False, True])
def test_json_is_one_object_with_findings_counts_and_the_redacted_text(capsys, redact):
    code, out, _ = _run(capsys, *(["--redact"] if redact else []), "--json", f"{TEXT} bob@corp.io")
    payload = json.loads(out)

    assert code == 0
    assert [(f["kind"], f["start"], f["end"]) for f in payload["findings"]] == [
        ("email", 5, 29), ("aws_access_key_id", 35, 55), ("email", 87, 98)]
    assert payload["finding_counts"] == {"aws_access_key_id": 1, "email": 2}
    if redact:
        assert payload["redacted"].startswith("mail [email], key [aws_access_key_id];")
    else:
        assert payload["redacted"] is None


def test_redacting_a_stream_changes_nothing_but_the_findings(capsys, monkeypatch):
    _with_stdin(monkeypatch, f"line one\n{TEXT}\n\n".encode())

    code, out, _ = _run(capsys, "--redact", "-")

    assert code == 0
    assert out == ("line one\nmail [email], key [aws_access_key_id]; docs key "
                   "AKIAIOSFODNN7EXAMPLE\n\n")


def test_file_findings_are_placed_in_the_file(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(f"hello\n{KEY}\n", encoding="utf-8")

    code, out, _ = _run(capsys, "--file", str(notes))

    assert code == 0
    assert out == f"secret   aws_access_key_id in {notes}[6:26]\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "give TEXT, '-' for standard input, or --file FILE"),
        (("a", "--file", "b.txt"), "give TEXT, '-' for standard input, or --file FILE"),
        (("--file", "/dev/zero"), "--file: /dev/zero is under /dev"),
        (("--file", "missing.txt"), "--file: missing.txt does not exist"),
        (("--max-file-bytes", "5", "text"), "--max-file-bytes limits a file or standard input"),
        (("--evaluate", str(LABELLED), "--redact"), "it takes no --redact"),
        (("--evaluate", "missing.jsonl"), "missing.jsonl does not exist"),
    ],
)
def test_bad_usage_is_a_named_error(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)

    code, out, err = _run(capsys, *argv)

    assert code == 2
    assert out == ""
    assert err.startswith("shoal privacy: error: ") and message in err


def test_standard_input_is_bounded_and_must_be_text(capsys, monkeypatch):
    _with_stdin(monkeypatch, b"bob@corp.io " * 10)
    code, _, err = _run(capsys, "--max-file-bytes", "64", "-")
    assert code == 2 and "over the 64-byte limit; raise --max-file-bytes" in err

    _with_stdin(monkeypatch, b"\xff")
    code, _, err = _run(capsys, "-")
    assert code == 2 and "not UTF-8 text" in err


UTF16_TEXT = f"key {KEY} mail bob@gmail.com\n"


@pytest.mark.parametrize(
    ("encoding", "described", "iconv_name"),
    [
        ("utf-16-le", "UTF-16LE without a byte order mark", "UTF-16LE"),
        ("utf-16-be", "UTF-16BE without a byte order mark", "UTF-16BE"),
        ("utf-16", "byte order mark FF FE", "UTF-16"),
        ("utf-32-le", "UTF-32LE without a byte order mark", "UTF-32LE"),
        ("utf-32-be", "UTF-32BE without a byte order mark", "UTF-32BE"),
        # Told apart from UTF-16's FF FE, which it starts with: iconv -f UTF-16 would leave NULs.
        ("utf-32", "byte order mark FF FE 00 00", "UTF-32"),
    ],
)
def test_utf16_and_utf32_are_refused_on_standard_input_and_as_a_file_never_called_clean(
    capsys, monkeypatch, tmp_path, encoding, described, iconv_name
):
    # UTF-16 or UTF-32 of Latin letters without a mark is valid UTF-8; read so, the key is not
    # found.
    data = UTF16_TEXT.encode(encoding)
    utf16 = tmp_path / "notes.txt"
    utf16.write_bytes(data)
    remedy = f"convert it to UTF-8 with `iconv -f {iconv_name} -t UTF-8`"

    _with_stdin(monkeypatch, data)
    from_stdin = _run(capsys, "--fail-on-findings", "-")
    from_file = _run(capsys, "--fail-on-findings", "--file", str(utf16))

    for code, out, err in (from_stdin, from_file):
        assert code == 2 and out == ""
        family = iconv_name.removesuffix("LE").removesuffix("BE")
        assert f"is {family} text ({described}" in err and err.endswith(f"{remedy}\n")


@pytest.mark.parametrize("command", [["count", "-"], ["route", "-"]])
def test_utf16_on_standard_input_is_refused_by_every_command_reading_it(
    capsys, monkeypatch, command
):
    _with_stdin(monkeypatch, UTF16_TEXT.encode("utf-16-le"))

    assert main(command) == 2
    assert "standard input is UTF-16 text (UTF-16LE" in capsys.readouterr().err


def test_utf16_after_utf8_on_standard_input_is_refused(capsys, monkeypatch):
    # Files joined with cat: past the first 8 KiB, the UTF-16 part still holds the key.
    _with_stdin(monkeypatch, b"plain words\n" * 1000 + UTF16_TEXT.encode("utf-16-le"))

    code, _, err = _run(capsys, "--fail-on-findings", "-")

    assert code == 2 and "UTF-16LE without a byte order mark" in err


def test_nul_separated_names_on_standard_input_are_still_read(capsys, monkeypatch):
    _with_stdin(monkeypatch, f"notes.txt\0{KEY}\0".encode())

    assert _run(capsys, "-") == (0, "secret   aws_access_key_id in stdin[10:30]\n", "")


def test_a_binary_file_is_refused_in_the_words_count_uses(capsys, tmp_path):
    # Invalid UTF-8 after the NUL bytes: the decoder alone would name byte 0xD0 instead.
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"header" + b"\0" * 18 + b"\xd0\x01 key AKIAQYLPMN5HHHFPZAM2")

    code, out, err = _run(capsys, "--file", str(binary))
    assert main(["count", "--file", str(binary)]) == 2
    count_err = capsys.readouterr().err

    assert code == 2 and out == ""
    assert err == (
        f"shoal privacy: error: --file: {binary} is binary (NUL byte in the first 8 KiB)\n"
    )
    assert count_err.endswith(": binary (NUL byte in the first 8 KiB)\n")


def test_evaluate_prints_the_measured_scores(capsys):
    code, out, _ = _run(capsys, "--evaluate", str(LABELLED), "--json")
    evaluation = json.loads(out)
    scores = evaluation["scores"]

    assert code == 0
    assert set(scores) == {"secret", "personal"}
    assert scores["secret"]["labelled"] == 93 and scores["personal"]["labelled"] == 116
    assert evaluation["rows"] == 304 and evaluation["false_positives"] == []
    assert all(miss.startswith("hard-") for miss in evaluation["misses"])
    assert scores["personal"]["same_kind"] <= scores["personal"]["found"]


def test_evaluate_reads_standard_input_under_the_option_limit(capsys, monkeypatch):
    row = b'{"id": "a", "text": "mail bob@corp.io", "expected": []}\n'
    _with_stdin(monkeypatch, row)
    code, out, _ = _run(capsys, "--evaluate", "-")
    assert code == 0 and out.startswith("1 labelled row\n")
    assert "false positive  a: email in text[5:16]" in out

    _with_stdin(monkeypatch, row)
    code, _, err = _run(capsys, "--evaluate", "-", "--max-file-bytes", "10")
    assert code == 2 and "raise --max-file-bytes to read it" in err


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("not json", ":2: not valid JSON"),
        ('\ufeff{"id": "1", "text": "abc", "expected": []}',
         ":2: the line starts with a byte order mark (U+FEFF), which only the start of a file "
         "may carry"),
        ('["a list"]', ":2: expected an object with id and text"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "personal", '
         '"start": 2, "end": 9}]}', ":2: span [2:9] is not inside the text (3 characters"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "private", '
         '"start": 0, "end": 1}]}', ":2: span category 'private' is not one of secret, personal"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "start": 0, "end": 1}]}',
         ":2: span email has no category (kind email is personal data)"),
        ('{"id": "1", "text": "abc", "expected": ["email"]}',
         ":2: each expected span is an object {kind, category, start, end}\n"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "personal", '
         '"start": true, "end": 1}]}', ":2: span start and end must be whole numbers"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "nonsense", "category": "personal", '
         '"start": 0, "end": 1}]}', ":2: span kind 'nonsense' is not one the scanner reports"),
        ('{"id": "0", "text": "abc", "expected": []}', ":2: id '0' is used before, at "),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "secret", '
         '"start": 0, "end": 1}]}', ":2: span kind email is personal data, not secret"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "personal", '
         '"start": 0, "end": 1}, {"kind": "email", "category": "personal", "start": 0, '
         '"end": 1}]}', ":2: span email [0:1] is listed twice"),
        ('{"id": 7, "text": "abc", "expected": []}', ":2: expected an object with id and text"),
        ('{"id": "1", "text": "ab\\ud800", "expected": []}',
         ":2: the text of row '1' has an unpaired surrogate at index 2"),
        ('{"id": "\\ud800", "text": "abc", "expected": []}',
         ":2: the id has an unpaired surrogate at index 0"),
        ('{"id": "1", "text": "mail bob@corp.io", "expected": [], "text": "abc"}',
         ":2: the row gives 'text' more than once; give each field once (only the last would "
         "be read)"),
        ('{"id": "1", "text": "abc", "expected": [{"kind": "email", "category": "personal", '
         '"start": 0, "end": 1, "end": 3}]}',
         ":2: expected[0] gives 'end' more than once; give each field once"),
    ],
)
def test_evaluate_names_the_bad_row(capsys, tmp_path, row, message):
    labelled = tmp_path / "labelled.jsonl"
    good = '{"id": "0", "text": "x", "expected": []}'
    labelled.write_text(f"{good}\n{row}\n", encoding="utf-8")

    code, _, err = _run(capsys, "--evaluate", str(labelled))

    assert code == 2
    assert f"--evaluate: {labelled}{message}" in err


def test_evaluate_calls_a_share_of_nothing_undefined(capsys, tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"id": "a", "text": "mail bob@corp.io", "expected": '
                        '[{"kind": "email", "category": "personal", "start": 5, "end": 16}]}\n',
                        encoding="utf-8")

    code, out, _ = _run(capsys, "--evaluate", str(labelled))
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:4]}
    assert code == 0
    assert rows["personal"] == ["1", "1", "1.000", "1.000", "1"]
    assert rows["secret"] == ["0", "0", "n/a", "n/a", "0"]

    code, out, _ = _run(capsys, "--evaluate", str(labelled), "--json")
    secret = json.loads(out)["scores"]["secret"]
    assert secret["precision"] is None and secret["recall"] is None


def test_evaluate_reads_past_a_byte_order_mark(capsys, tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('\ufeff{"id": "0", "text": "x", "expected": []}\n', encoding="utf-8")

    code, out, _ = _run(capsys, "--evaluate", str(labelled))

    assert code == 0 and out.startswith("1 labelled row\n")


def test_evaluate_refuses_a_file_without_rows(capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")

    code, _, err = _run(capsys, "--evaluate", str(empty))

    assert code == 2 and "no labelled rows" in err


def test_module_entry_point_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "shoal.privacy", "--redact", f"key {KEY}"],
        capture_output=True, text=True, timeout=HANG_GUARD_S,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "key [aws_access_key_id]\n"
