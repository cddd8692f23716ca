"""Where a SQLite ledger may be opened: a mistyped path is an error that creates nothing, reading
needs a ledger that exists, and another program's database is left alone."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

from shoal.cli import main
from shoal.ledger import (
    Ledger,
    LedgerError,
    budget_status,
    default_location,
    no_ledger_note,
    open_ledger,
    unmade_ledger,
)
from shoal.report import savings_report


@pytest.fixture(autouse=True)
def restored_ledger_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--ledger`` sets ``SHOAL_LEDGER`` for the process; put it back after each test."""
    monkeypatch.setenv("SHOAL_LEDGER", os.environ.get("SHOAL_LEDGER", ""))


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_a_folder_that_does_not_exist_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    location = tmp_path / "nonexistent" / "dir" / "ledger.sqlite3"

    with pytest.raises(LedgerError, match=r"the folder .*nonexistent/dir does not exist"):
        Ledger(location)

    assert files_under(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_the_default_location_in_the_data_directory_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    with Ledger(default_location()) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1)

    assert (tmp_path / "data" / "shoal" / "ledger.sqlite3").is_file()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_a_relative_xdg_data_home_is_ignored_for_the_ledger_and_the_feedback_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shoal.feedback import default_db_path

    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.delenv("SHOAL_FEEDBACK_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")
    monkeypatch.chdir(tmp_path)

    with Ledger(default_location()) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1)

    data = tmp_path / "home" / ".local" / "share" / "shoal"
    assert default_location() == str(data / "ledger.sqlite3")
    assert default_db_path() == data / "feedback.sqlite3"
    assert (data / "ledger.sqlite3").is_file() and not (tmp_path / "relative").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_a_relative_xdg_data_home_is_reported_once_by_the_module_whose_file_it_moves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from shoal.feedback import default_db_path

    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.delenv("SHOAL_FEEDBACK_DB", raising=False)
    # A value of this test's own: each logger reports a value once per process.
    monkeypatch.setenv("XDG_DATA_HOME", f"relative/{tmp_path.name}")

    default_db_path()
    default_db_path()
    feedback_warnings = [(record.name, record.levelname) for record in caplog.records]
    default_location()

    assert feedback_warnings == [("shoal.feedback", "WARNING")]
    assert [record.name for record in caplog.records] == ["shoal.feedback", "shoal.ledger"]
    assert caplog.records[0].getMessage() == (
        f"XDG_DATA_HOME=relative/{tmp_path.name} is ignored: it is not an absolute path"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="HOME places the data directory on Unix")
@pytest.mark.parametrize(("home", "problem"), [
    ("", "HOME is empty"),
    ("relative/dir", "HOME is 'relative/dir', not an absolute path"),
])
def test_an_empty_or_relative_home_is_no_data_directory(
    home: str, problem: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Python reads HOME='' as the root folder, and a relative HOME from the current folder.
    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.delenv("SHOAL_FEEDBACK_DB", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", home)
    monkeypatch.chdir(tmp_path)

    assert main(["ledger", "record", "--model", "gpt-4.1-mini", "--input", "10", "--scope",
                 "demo"]) == 2
    assert capsys.readouterr().err == (
        f"shoal ledger record: error: the user's data directory is unknown: {problem}; set "
        "SHOAL_LEDGER (or --ledger) to keep the ledger elsewhere\n")
    assert main(["feedback", "record", "d-000000000000000000000000", "gpt-4o", "1"]) == 2
    assert capsys.readouterr().err == (
        f"shoal feedback record: error: the user's data directory is unknown: {problem}; set "
        "SHOAL_FEEDBACK_DB (or the --db of shoal feedback) to keep the feedback database "
        "elsewhere\n")
    # shoal serve has no --db: the advice names the command that has.
    assert main(["serve", "--tools", "routing"]) == 2
    assert capsys.readouterr().err == (
        f"shoal serve: error: the user's data directory is unknown: {problem}; set "
        "SHOAL_FEEDBACK_DB (or the --db of shoal feedback) to keep the feedback database "
        "elsewhere\n")
    assert files_under(tmp_path) == []

    # A ledger named outright needs no data directory.
    assert main(["ledger", "record", "--model", "gpt-4.1-mini", "--input", "10", "--scope",
                 "demo", "--ledger", str(tmp_path / "spend.sqlite3")]) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
def test_a_data_directory_that_cannot_be_made_holds_no_ledger_to_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc takes no new folder, as a read-only disk does not: a reader says there is no ledger,
    # a writer that it cannot make the folder, and both how to keep the ledger elsewhere.
    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.setenv("XDG_DATA_HOME", "/proc/self")
    file = Path("/proc/self/shoal/ledger.sqlite3")

    assert main(["ledger", "status", "--scope", "demo"]) == 2
    assert capsys.readouterr().err == (
        f"shoal ledger status: error: no ledger at {file}: nothing has been recorded there. "
        "Check the path (SHOAL_LEDGER or --ledger sets it); a ledger file is made by the first "
        "record or limit written to it\n")
    assert main(["ledger", "record", "--model", "gpt-4o", "--input", "10", "--scope",
                 "demo"]) == 2
    assert capsys.readouterr().err == (
        f"shoal ledger record: error: cannot create the ledger directory {file.parent}: No such "
        "file or directory; set SHOAL_LEDGER (or --ledger) to keep the ledger elsewhere\n")


def test_reading_with_must_exist_refuses_a_missing_file_and_creates_nothing(
    tmp_path: Path,
) -> None:
    location = tmp_path / "typo.sqlite3"

    with pytest.raises(LedgerError, match=r"no ledger at .*typo\.sqlite3: nothing has been "
                                          "recorded there"):
        Ledger(location, must_exist=True)

    assert files_under(tmp_path) == []


def test_a_new_ledger_in_an_existing_folder_answers_zero_and_is_not_made(tmp_path: Path) -> None:
    # What the MCP budget_status and savings_report tools do on a server's first day.
    location = tmp_path / "new.sqlite3"

    status = budget_status("session:a", ledger=location)
    report = savings_report(ledger=location)

    assert status.spent_usd == 0 and status.records == 0 and status.limit is None
    assert report.records == 0 and report.baseline is None
    assert status.notes == report.notes == (no_ledger_note(location),)
    assert str(location) in status.notes[0]
    assert files_under(tmp_path) == []


def test_reading_a_ledger_not_made_yet_still_checks_its_arguments(tmp_path: Path) -> None:
    location = tmp_path / "new.sqlite3"

    with pytest.raises(ValueError, match="scope must be 1 to 200 characters"):
        budget_status(" ", ledger=location)
    with pytest.raises(ValueError, match="window_hours must be from one second"):
        budget_status("s", window_hours=0, ledger=location)
    with pytest.raises(ValueError, match="scope must hold only printable characters"):
        savings_report("a\nb", ledger=location)
    with pytest.raises(LedgerError, match=r"the folder .*nonexistent does not exist"):
        budget_status("s", ledger=tmp_path / "nonexistent" / "l.db")

    assert files_under(tmp_path) == []


def test_which_ledgers_are_not_made_yet(tmp_path: Path) -> None:
    empty, made = tmp_path / "empty.sqlite3", tmp_path / "made.sqlite3"
    empty.write_bytes(b"")
    with Ledger(made) as ledger:
        ledger.set_limit("s", 1.0)

    assert unmade_ledger(tmp_path / "missing.sqlite3") == tmp_path / "missing.sqlite3"
    assert unmade_ledger(empty) == empty
    assert unmade_ledger(made) is None
    # A PostgreSQL ledger makes its tables when connected to; nothing is connected to here.
    assert unmade_ledger("postgresql://shoal@127.0.0.1:1/none") is None


def test_an_empty_location_and_a_file_uri_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(LedgerError, match="the ledger location is empty"):
        Ledger("  ")
    with pytest.raises(LedgerError, match="give the SQLite file's path, not a file: URI"):
        Ledger("file:ledger.sqlite3?mode=ro")
    with pytest.raises(LedgerError, match="not a file: URI"):
        Ledger(f"file:{tmp_path}/ledger.sqlite3?mode=ro")

    assert files_under(tmp_path) == []


def test_a_failed_open_leaves_no_writer_lock_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database " * 100)

    with pytest.raises(LedgerError, match=r"cannot open the ledger .*garbage\.sqlite3"):
        Ledger(garbage)
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(tmp_path)  # a folder

    assert files_under(tmp_path) == ["garbage.sqlite3"]


def test_a_database_of_another_program_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
        connection.execute("CREATE TABLE orders (id INTEGER)")
    connection.close()
    before = other.read_bytes()

    with pytest.raises(LedgerError, match=r"cannot use .*app\.db as a ledger: it is a database "
                                          r"of something else \(tables: customers, orders\)"):
        Ledger(other)

    assert other.read_bytes() == before
    assert files_under(tmp_path) == ["app.db"]


def test_a_ledger_with_a_table_added_beside_shoals_still_opens(tmp_path: Path) -> None:
    location = tmp_path / "ledger.sqlite3"
    with Ledger(location) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=0)
    with sqlite3.connect(location) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")

    with Ledger(location) as ledger, Ledger(empty) as fresh:
        assert ledger.budget_status("s").records == 1
        assert fresh.budget_status("s").records == 0


# ---- the commands ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["ledger", "status", "--scope", "a"], ["report"]])
def test_reading_commands_refuse_a_ledger_that_is_not_there(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "ledgr.sqlite3"
    missing_folder = tmp_path / "nonexistent" / "dir" / "l.db"

    assert main([*command, "--ledger", str(typo)]) == 2
    assert f"no ledger at {typo}: nothing has been recorded there" in capsys.readouterr().err
    assert main([*command, "--ledger", str(missing_folder)]) == 2
    assert "the folder" in capsys.readouterr().err

    assert files_under(tmp_path) == []


def test_writing_commands_refuse_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "nonexistent" / "l.db")

    assert main(["ledger", "record", "--scope", "a", "--model", "gpt-4o", "--input", "10",
                 "--ledger", location]) == 2
    assert "nonexistent does not exist" in capsys.readouterr().err
    assert main(["ledger", "limit", "--scope", "a", "--usd", "1", "--ledger", location]) == 2

    assert files_under(tmp_path) == []


def test_an_empty_ledger_option_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    with pytest.raises(SystemExit) as stopped:
        main(["ledger", "status", "--scope", "a", "--ledger", ""])

    assert stopped.value.code == 2
    assert ("argument --ledger: empty: give a SQLite file path or a postgresql:// URL, or leave "
            "--ledger out for the default (SHOAL_LEDGER, which counts as unset when empty, else "
            "ledger.sqlite3 in the user's data directory)") in capsys.readouterr().err
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_location_variable_counts_as_unset(
    blank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal.catalog import configured_catalog, default_catalog
    from shoal.feedback import default_db_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    for variable in ("SHOAL_LEDGER", "SHOAL_FEEDBACK_DB", "SHOAL_PRICES"):
        monkeypatch.setenv(variable, blank)

    assert default_location() == str(tmp_path / "shoal" / "ledger.sqlite3")
    assert default_db_path() == tmp_path / "shoal" / "feedback.sqlite3"
    assert configured_catalog() is default_catalog()


def test_status_of_an_existing_ledger_still_works_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    open_ledger(location).record_usage("a", "gpt-4o", input_tokens=1_000, output_tokens=0)

    assert main(["ledger", "status", "--scope", "a", "--ledger", location]) == 0
    assert capsys.readouterr().out.startswith("a: spent $0.0025; 1 call recorded")


# ---- reading needs a ledger; a server checks its ledger at start --------------------------------


@pytest.mark.parametrize("command", [["ledger", "status", "--scope", "a"], ["report"]])
def test_reading_commands_refuse_an_empty_file_and_leave_it_as_it_was(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")

    assert main([*command, "--ledger", str(empty)]) == 2

    assert f"{empty} holds no ledger: the file is empty" in capsys.readouterr().err
    assert empty.read_bytes() == b""
    assert files_under(tmp_path) == ["empty.txt"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("must_exist", [True, False])
def test_a_device_is_refused_before_sqlite_writes_beside_it(must_exist: bool) -> None:
    side_files = ["/dev/zero-journal", "/dev/zero.writers"]
    before = [os.path.exists(path) for path in side_files]

    with pytest.raises(LedgerError, match="cannot open the ledger /dev/zero: it is not a "
                                          "regular file"):
        Ledger("/dev/zero", must_exist=must_exist)

    assert [os.path.exists(path) for path in side_files] == before


def test_reading_refuses_a_database_without_tables_and_adds_none(tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    with sqlite3.connect(bare) as connection:
        connection.execute("PRAGMA user_version = 7")  # a valid database file with no tables
    connection.close()
    before = bare.read_bytes()

    with pytest.raises(LedgerError, match=r"bare\.db holds no ledger: it is a database with no "
                                          "tables"):
        Ledger(bare, must_exist=True)

    assert bare.read_bytes() == before
    assert files_under(tmp_path) == ["bare.db"]


def test_check_location_accepts_what_the_first_write_would_make_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shoal.ledger import check_location

    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    check_location(tmp_path / "new.sqlite3")
    check_location(empty)
    if sys.platform.startswith("linux"):
        check_location(tmp_path / "data" / "shoal" / "ledger.sqlite3")  # shoal's own folder

    assert files_under(tmp_path) == ["empty.sqlite3"]
    assert empty.read_bytes() == b""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: folder / "missing" / "l.sqlite3", r"the folder .*missing does not exist"),
        (lambda folder: folder, "it is a folder"),
        (lambda folder: folder / "notes.txt", "file is not a database"),
        (lambda folder: folder / "app.db", "it is a database of something else"),
        (lambda folder: "file:l.sqlite3", "not a file: URI"),
        (lambda folder: "https://example.org/ledger", "only postgresql:// URLs or SQLite"),
        (lambda folder: " ", "the ledger location is empty"),
    ],
)
def test_check_location_refuses_what_the_first_use_would_refuse(
    make: object, message: str, tmp_path: Path
) -> None:
    from shoal.ledger import check_location

    (tmp_path / "notes.txt").write_text("shopping list\n" * 100, encoding="utf-8")
    with sqlite3.connect(tmp_path / "app.db") as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    connection.close()
    before = files_under(tmp_path)

    with pytest.raises(ValueError, match=message):
        check_location(make(tmp_path))  # type: ignore[operator]

    assert files_under(tmp_path) == before
