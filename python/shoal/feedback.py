"""Observed outcomes of routing decisions, kept in SQLite for the next ``shoal fit``.

An outcome says how well a model did on the task of a decision: a score in [0, 1] (the scale
of the router's labels), optionally the prompt, the cost paid and the tokens used. Outcomes are
keyed by ``(decision_id, model)``: recording the same outcome again changes nothing, and a
corrected score replaces the earlier one. What a new record leaves out (no prompt, no cost, no
tokens, an empty note) keeps the earlier record's value, so correcting a score does not drop the
prompt ``shoal fit`` learns from.

The model must be one the catalog knows (``SHOAL_PRICES`` applied, so a user catalog file adds
custom models) or one the router in use has labels for (the router file of ``shoal route
--router`` or ``SHOAL_ROUTER``, else the shipped one), as the decision may have chosen a model only
that router knows; an unknown id is refused with the nearest ids of both, as a misspelt id would
otherwise become a model of its own in the next fit.

The prompt and the note are stored with every secret and personal datum replaced by
``[kind]`` (:func:`shoal.privacy.redact`), so the database never holds what the privacy guard
protects.
Outcomes without a prompt are kept but cannot teach a router; :func:`outcomes_as_rows` skips
them and :func:`outcomes_without_prompt` counts them. A SQLite file with other tables and no
``outcomes`` (a spend ledger, another program's database) is refused, not added to.

Where: the file named by ``SHOAL_FEEDBACK_DB``, else ``shoal/feedback.sqlite3`` in the user
data directory (``$XDG_DATA_HOME`` or ``~/.local/share`` on Linux, ``~/Library/Application
Support`` on macOS, ``%LOCALAPPDATA%`` on Windows), the folder the ledger uses. As for the
ledger, only that data directory is created when missing: the folder of a path the user gives
must exist, so a mistyped path is an error rather than a new, empty database. The database runs
in WAL mode and every write is one ``BEGIN IMMEDIATE`` transaction with a 30 s busy timeout, so
several processes can record at once. A database this process may read but not write (``chmod
444``, another user's) is read read-only without SQLite's ``-wal`` and ``-shm`` files, as the
ledger is (see ``shoal.sqlite_files``); recording in it is refused, naming the file and why.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shoal.catalog import Catalog, configured_catalog, did_you_mean
from shoal.cost import MAX_TOKENS_PER_CALL, check_catalog
from shoal.errors import ShoalError
from shoal.excerpts import excerpt, grouped_number, shown_path
from shoal.file_names import check_file_name
from shoal.ledger import (
    MAX_LIMIT_USD,
    NoDataDirectoryError,
    canonical_decision_id,
    data_directory,
    is_data_directory,
)
from shoal.numbers_in import real_number, whole_number
from shoal.privacy import redact, scan_text
from shoal.router_model import Router
from shoal.sqlite_files import (
    file_state,
    is_writable,
    read_only_uri,
    side_files,
    unwritable_cause,
)
from shoal.tokens import MAX_TEXT_CHARACTERS

logger = logging.getLogger(__name__)

__all__ = [
    "FeedbackError",
    "RecordedOutcome",
    "default_db_path",
    "outcome_model",
    "outcomes_as_rows",
    "outcomes_without_prompt",
    "record_outcome",
]

DB_ENVIRONMENT = "SHOAL_FEEDBACK_DB"
# What the default place's errors add: the way to keep the database elsewhere.
FEEDBACK_ELSEWHERE = (f"set {DB_ENVIRONMENT} (or the --db of shoal feedback) to keep the feedback "
                      "database elsewhere")
DB_FILE_NAME = "feedback.sqlite3"
BUSY_TIMEOUT_S = 30.0
# As long a prompt as routing takes (shoal.tokens.MAX_TEXT_CHARACTERS): a task that was routed
# can be learned from.
MAX_PROMPT_CHARACTERS = MAX_TEXT_CHARACTERS
FEEDBACK_SOURCE = "shoal feedback"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    decision_id TEXT NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL,
    prompt TEXT,
    redactions INTEGER NOT NULL,
    cost_usd REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (decision_id, model)
)
"""
_FIELDS = ("score", "prompt", "redactions", "cost_usd", "input_tokens", "output_tokens", "note")


class FeedbackError(ShoalError, ValueError):
    """An outcome argument or the feedback database is unusable; the message says which."""


@dataclass(frozen=True)
class RecordedOutcome:
    """What :func:`record_outcome` stored.

    Attributes:
        decision_id: The decision the outcome belongs to.
        model: The model that did the task.
        score: Observed quality in [0, 1].
        prompt_stored: Whether a prompt was stored (so ``shoal fit`` can learn from it).
        redactions: Secrets and personal data replaced by ``[kind]`` in the stored prompt.
        note_redactions: Secrets and personal data replaced by ``[kind]`` in the note given
            this time (0 when none was given and the note recorded before is kept).
        prompt_kept: Whether the stored prompt is the one recorded before, kept because no
            prompt was given this time (its redactions were made when it was recorded).
        status: ``recorded`` (new), ``unchanged`` (the same outcome was already there) or
            ``replaced`` (an earlier outcome for this decision and model was corrected).
        db_path: The database file.
    """

    decision_id: str
    model: str
    score: float
    prompt_stored: bool
    redactions: int
    note_redactions: int
    prompt_kept: bool
    status: str
    db_path: str


def _database_path(db_path: object) -> Path:
    """``db_path`` as a path (the default one for None), refused by name when it is no path."""
    if db_path is None:
        return default_db_path()
    if (not isinstance(db_path, (str, os.PathLike)) or not os.fspath(db_path)
            or isinstance(os.fspath(db_path), bytes)):
        raise TypeError(
            f"db_path must be a non-empty path (str or PathLike), got {excerpt(db_path)}")
    check_file_name(os.fspath(db_path), "db_path", FeedbackError)
    path = Path(db_path)
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        pass  # said where it matters: a new database is made, a missing one is not read
    except OSError as error:
        # A name too long for the file system, a loop of links, a folder this user may not
        # search: pathlib's checks would raise this bare, quoting the whole path.
        raise FeedbackError(f"cannot open the feedback database {shown_path(str(path))}: "
                            f"{error.strerror}") from None
    return path


def default_db_path() -> Path:
    """``SHOAL_FEEDBACK_DB`` if set, else ``shoal/feedback.sqlite3`` in the user data dir."""
    configured = os.environ.get(DB_ENVIRONMENT, "").strip()
    if configured:
        return Path(configured).expanduser()
    try:
        return data_directory(log=logger) / DB_FILE_NAME
    except NoDataDirectoryError as error:
        raise FeedbackError(f"{error}; {FEEDBACK_ELSEWHERE}") from None


def check_db_path(db_path: object = None) -> None:
    """Refuse, before a server starts, a feedback database path that every record would refuse:
    one naming a folder, a pipe or a device. A missing file is accepted and not created (the
    first record makes it).

    Args:
        db_path: The database's path; :func:`default_db_path` when None.

    Raises:
        FeedbackError: The message says what the path names instead of a file.
    """
    _refuse_other_than_a_file(_database_path(db_path))


def _refuse_other_than_a_file(path: Path) -> None:
    """Refuse a path that names something other than a regular file, as the ledger's check
    does: SQLite would block on a pipe, or fail on a folder or device with a message about
    transactions. A path that cannot be looked at is left to the opening to name."""
    try:
        status = path.stat()
    except OSError:
        return
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise FeedbackError(f"cannot open the feedback database {path}: it is {kind}; give a "
                            "SQLite file's path")


def _check_folder(path: Path) -> None:
    """Create shoal's own data directory when missing; any other folder must exist already."""
    folder = path.parent
    if folder.is_dir():
        return
    if not is_data_directory(folder, log=logger):
        # A folder in a path the user gave: creating it would turn a typo into a new database.
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise FeedbackError(
            f"cannot open the feedback database {path}: the folder {folder} {problem}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FeedbackError(f"cannot create the feedback database's folder {folder}: "
                            f"{error.strerror}; {FEEDBACK_ELSEWHERE}") from None


@contextmanager
def _connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that may write the database: for recording, and for reading a database
    this process may write (see `_read_only_connection` for one it may not)."""
    _check_folder(path)
    _refuse_other_than_a_file(path)
    if path.exists() and not is_writable(path):
        # SQLite would say only "attempt to write a readonly database", after creating side
        # files read-only to every later writer.
        cause = (unwritable_cause(path, kind="feedback database", writes="record outcomes")
                 or "this user may not write it")
        raise FeedbackError(f"cannot write the feedback database {path}: {cause}")
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise FeedbackError(f"cannot open the feedback database {path}: {error}") from None
    try:
        # Before anything is written (WAL mode rewrites the header): another program's database
        # is left as it was.
        _refuse_foreign_database(connection, path)
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        yield connection
    except sqlite3.DatabaseError as error:
        raise FeedbackError(f"feedback database {path}: {error}") from None
    finally:
        connection.close()


def _refuse_foreign_database(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that has tables but no ``outcomes``: it belongs to something else (a
    spend ledger, another program), which recording would add a table to."""
    tables = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
        "ESCAPE '!' ORDER BY name"
    )]
    if tables and "outcomes" not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise FeedbackError(
            f"cannot use {path} as the feedback database: it is a database of something else "
            f"(tables: {shown}) with no outcomes table. Give the feedback database a file of "
            "its own"
        )


def _check_unicode(name: str, text: str) -> None:
    """Refuse text SQLite cannot store: a lone surrogate, which is what Python makes of a
    command-line argument's undecodable bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise FeedbackError(f"{name} is not valid UTF-8 (an undecodable byte or lone surrogate "
                            f"at character {error.start})") from None


def _optional_number(name: str, given: object, *, integer: bool = False) -> float | int | None:
    if given is None:
        return None
    value = whole_number(given) if integer else real_number(given)
    if value is None:
        raise FeedbackError(f"{name} must be {'an int' if integer else 'a number'} or None")
    # An int is always finite, and math.isfinite would overflow on one beyond a float.
    if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        raise FeedbackError(f"{name} must be finite and >= 0, got {grouped_number(value)}")
    # The bounds record_usage keeps for a call; SQLite's INTEGER would overflow far above them.
    limit = MAX_TOKENS_PER_CALL if integer else MAX_LIMIT_USD
    if value > limit:
        raise FeedbackError(f"{name} must be at most {grouped_number(limit)}, got "
                            f"{grouped_number(value)}; check the units")
    return value


def _validated(
    decision_id: object, model: object, score: object, catalog: Catalog | None,
    router: Router | str | os.PathLike[str] | None,
) -> tuple[str, str, float]:
    canonical = canonical_decision_id(decision_id) if isinstance(decision_id, str) else None
    if canonical is None:
        raise FeedbackError(
            f"decision_id must be the id of a routing decision ('d-' and 24 hex digits), "
            f"got {excerpt(decision_id)}"
        )
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise FeedbackError("model must be a non-empty model id of at most 200 characters")
    number = real_number(score)
    if number is None:
        raise FeedbackError(f"score must be a number in [0, 1], got {type(score).__name__}")
    if not 0.0 <= number <= 1.0:
        raise FeedbackError(f"score must be in [0, 1], got {grouped_number(number)}")
    try:
        known = outcome_model(model.strip(), catalog=catalog, router=router)
    except FeedbackError as error:
        raise FeedbackError(f"model: {error}") from None
    # + 0.0 turns -0.0 into 0.0, which would otherwise be stored and shown as -0.000.
    return canonical, known, float(number) + 0.0


def outcome_model(
    model: str, *, catalog: Catalog | None = None,
    router: Router | str | os.PathLike[str] | None = None,
) -> str:
    """The id an outcome of ``model`` is stored under: its catalog id (aliases resolved, any
    case), else the spelling of a model ``router`` has labels for and the catalog lacks
    (matched in any case, as ``shoal route`` matches it).

    Args:
        model: The model id as given.
        catalog: Default the configured one (``SHOAL_PRICES`` applied).
        router: The router whose decisions are scored: a :class:`~shoal.router.Router` or the
            path of a router file, as :func:`shoal.router.route` takes it; default the shipped
            router. Its file is read only when the catalog lacks ``model``.

    Raises:
        FeedbackError: An unknown model; the message lists the nearest ids of the catalog and
            the router, and says how to name a router or add a model.
        TypeError: ``catalog`` is not a :class:`~shoal.catalog.Catalog`.
        ValueError: ``router`` is no router, or its file cannot be read when the catalog
            lacks ``model`` (:class:`~shoal.router.RoutingError`,
            :class:`~shoal.router.RouterFileError`).
    """
    from shoal.router import check_router_argument, labelled_position, router_argument

    check_catalog(catalog)
    catalog = catalog if catalog is not None else configured_catalog()
    check_router_argument(router)
    if model in catalog:
        # The router is read only for a model the catalog lacks: a router file that cannot be
        # read (truncated, or replaced under a running server) must not lose the outcome of a
        # model the catalog knows.
        return catalog.model(model).id
    labelling = router_argument(router)
    position = labelled_position(labelling, catalog, model)
    if position is not None:
        return labelling.models[position]
    raise _unknown_model(model, catalog, labelling, named=router is not None)


def _unknown_model(model: str, catalog: Catalog, router: Router, *, named: bool) -> FeedbackError:
    """The refusal of a model neither the catalog nor the router knows, with the near matches
    of both: what to add, or (no router named) the router file that may know it."""
    uncatalogued = [name for name in router.models if name not in catalog]
    suggestions = catalog.suggest(model, also=uncatalogued)
    hint = (did_you_mean(suggestions) if suggestions else
            "no close match; `shoal models` (MCP: shoal://catalog) lists the catalog's ids")
    add = ("add it with a user price file, --prices FILE or SHOAL_PRICES: see 'Your own prices "
           "and models' in shoal's README")
    if named:
        labelled = f"{len(router.models)} labelled model{'' if len(router.models) == 1 else 's'}"
        known = (f"neither the catalog ({len(catalog)} models) nor router {router.version} "
                 f"({labelled}) knows it; {add}")
    else:
        known = (f"neither the catalog ({len(catalog)} models) nor the shipped router knows it; "
                 "if a router from `shoal fit` labels it, give that router: --router FILE or "
                 f"SHOAL_ROUTER; else {add}")
    return FeedbackError(f"unknown model {model!r}: {hint} ({known})")


def record_outcome(
    decision_id: str,
    model: str,
    score: float,
    *,
    prompt: str | None = None,
    cost_usd: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    note: str = "",
    db_path: str | Path | None = None,
    catalog: Catalog | None = None,
    router: Router | str | os.PathLike[str] | None = None,
) -> RecordedOutcome:
    """Store how ``model`` did on the task of decision ``decision_id``.

    An outcome already recorded for this decision and model is corrected: the score is
    replaced, and so is every other value given here; a value left out (None, or an empty
    note) keeps what was recorded before.

    Args:
        decision_id: ``RoutingDecision.decision_id``.
        model: The model that answered (usually the chosen one; any model the catalog knows or
            ``router`` labels may be scored); aliases are stored as the catalog id.
        score: Observed quality in [0, 1], on the scale of the router's labels.
        prompt: The task text; stored redacted, needed for ``shoal fit`` to learn from it.
        cost_usd: What the call cost, if known.
        input_tokens: Prompt tokens used, if known.
        output_tokens: Output tokens used, if known.
        note: Free text (who judged, how); at most 1,000 characters, stored redacted as the
            prompt is.
        db_path: Database file; default :func:`default_db_path`.
        catalog: The catalog that knows ``model``; default the configured one
            (:func:`shoal.catalog.configured_catalog`, ``SHOAL_PRICES`` applied).
        router: The router that made the decision, whose labelled models may be scored even
            when the catalog lacks them: a :class:`~shoal.router.Router` or the path of a
            router file; default the shipped router. Its file is read only when the catalog
            lacks ``model``.

    Raises:
        FeedbackError: A malformed argument, an unknown model (the message lists the nearest
            ids; see :func:`outcome_model`), or a database that cannot be opened or written.
        TypeError: ``catalog`` is not a :class:`~shoal.catalog.Catalog`.
        ValueError: ``router`` is no router, or its file cannot be read when the catalog lacks
            ``model``.
    """
    decision_id, model, score = _validated(decision_id, model, score, catalog, router)
    cost = _optional_number("cost_usd", cost_usd)
    tokens_in = _optional_number("input_tokens", input_tokens, integer=True)
    tokens_out = _optional_number("output_tokens", output_tokens, integer=True)
    if not isinstance(note, str) or len(note) > 1000:
        raise FeedbackError("note must be a str of at most 1,000 characters")
    _check_unicode("note", note)
    # A note is free text too: a grader may paste the task, or the key it found, into it.
    note_findings = scan_text(note, location="note")
    stored_note = redact(note, note_findings, location="note")
    stored_prompt, redactions = None, 0
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise FeedbackError("prompt must be a non-empty str or None")
        if len(prompt) > MAX_PROMPT_CHARACTERS:
            raise FeedbackError(f"prompt is longer than {MAX_PROMPT_CHARACTERS:,} characters, "
                                f"the most routing takes: got {len(prompt):,}")
        _check_unicode("prompt", prompt)
        findings = scan_text(prompt)
        stored_prompt, redactions = redact(prompt, findings), len(findings)

    values = (score, stored_prompt, redactions, cost, tokens_in, tokens_out, stored_note)
    path = _database_path(db_path)
    status, stored = _store(path, decision_id, model, values)
    logger.info("feedback %s for %s on %s in %s", status, model, decision_id, path)
    kept = dict(zip(_FIELDS, stored, strict=True))
    prompt_stored = kept["prompt"] is not None
    return RecordedOutcome(
        decision_id=decision_id, model=model, score=score, prompt_stored=prompt_stored,
        redactions=kept["redactions"], note_redactions=len(note_findings),
        prompt_kept=prompt_stored and prompt is None,
        status=status, db_path=str(path),
    )


def _store(
    path: Path, decision_id: str, model: str, values: tuple[Any, ...]
) -> tuple[str, tuple[Any, ...]]:
    """Write one outcome in its own transaction, trying again while another writer holds the
    database.

    The busy timeout covers waiting for a writer's lock, but "database is locked" has also
    reached a writer at once under load (four processes opening one new database in CI); a
    rolled-back transaction changes nothing, so it is simply tried again until the timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            with _connection(path) as connection:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.execute(_SCHEMA)
                    earlier = connection.execute(
                        f"SELECT {', '.join(_FIELDS)} FROM outcomes "
                        "WHERE decision_id = ? AND model = ?",
                        (decision_id, model),
                    ).fetchone()
                    stored = _write(connection, decision_id, model, values, earlier)
                    connection.execute("COMMIT")
                    return stored
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        except FeedbackError as error:
            if "database is locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _merged(values: tuple[Any, ...], earlier: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` with what they leave out (None, an empty note) taken from ``earlier``.

    The prompt and its redaction count travel together: a new prompt brings its own count.
    """
    given = dict(zip(_FIELDS, values, strict=True))
    before = dict(zip(_FIELDS, earlier, strict=True))
    if given["prompt"] is None:
        given["prompt"], given["redactions"] = before["prompt"], before["redactions"]
    for name in ("cost_usd", "input_tokens", "output_tokens"):
        if given[name] is None:
            given[name] = before[name]
    if not given["note"]:
        given["note"] = before["note"]
    return tuple(given[name] for name in _FIELDS)


def _write(
    connection: sqlite3.Connection, decision_id: str, model: str, values: tuple[Any, ...],
    earlier: tuple[Any, ...] | None,
) -> tuple[str, tuple[Any, ...]]:
    """Insert or correct the outcome; its status and the values now stored."""
    if earlier is None:
        recorded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        connection.execute(
            f"INSERT INTO outcomes (decision_id, model, {', '.join(_FIELDS)}, recorded_at) "
            f"VALUES (?, ?, {', '.join('?' * len(_FIELDS))}, ?)",
            (decision_id, model, *values, recorded_at),
        )
        return "recorded", values
    values = _merged(values, tuple(earlier))
    if tuple(earlier) == values:
        return "unchanged", values
    assignments = ", ".join(f"{field} = ?" for field in _FIELDS)
    connection.execute(
        f"UPDATE outcomes SET {assignments} WHERE decision_id = ? AND model = ?",
        (*values, decision_id, model),
    )
    return "replaced", values


def outcomes_as_rows(db_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Recorded outcomes that carry a prompt, as training rows for ``shoal fit``.

    Each row is ``{"prompt", "model", "score"}`` plus ``cost_usd``, ``input_tokens`` and
    ``output_tokens`` when recorded, and ``decision_id``, ``recorded_at`` and ``source``
    (``"shoal feedback"``). Prompts are the redacted ones. Order: recording time, then
    decision id and model, so the same database gives the same rows.

    Raises:
        FeedbackError: If the database does not exist or cannot be read.
    """
    with _reading(db_path) as connection:
        if connection is None:
            return []
        records = connection.execute(
            "SELECT decision_id, model, score, prompt, cost_usd, input_tokens, output_tokens, "
            "recorded_at FROM outcomes WHERE prompt IS NOT NULL "
            "ORDER BY recorded_at, decision_id, model"
        ).fetchall()
    rows = []
    for decision_id, model, score, prompt, cost, tokens_in, tokens_out, recorded_at in records:
        row: dict[str, Any] = {"prompt": prompt, "model": model, "score": score}
        for key, value in (("cost_usd", cost), ("input_tokens", tokens_in),
                           ("output_tokens", tokens_out)):
            if value is not None:
                row[key] = value
        row.update(decision_id=decision_id, recorded_at=recorded_at, source=FEEDBACK_SOURCE)
        rows.append(row)
    return rows


def outcomes_without_prompt(db_path: str | Path | None = None) -> int:
    """How many recorded outcomes carry no prompt: :func:`outcomes_as_rows` leaves them out, as
    ``shoal fit`` cannot learn from them.

    Raises:
        FeedbackError: If the database does not exist or cannot be read.
    """
    with _reading(db_path) as connection:
        if connection is None:
            return 0
        return int(connection.execute(
            "SELECT COUNT(*) FROM outcomes WHERE prompt IS NULL").fetchone()[0])


def without_prompt_note(count: int) -> str:
    """The note `shoal feedback export` and `shoal fit --outcomes` print when ``count``
    recorded outcomes carry no prompt and so were left out."""
    from shoal.render import plural

    return (f"note: {plural(count, 'outcome')} recorded without a prompt left out: shoal fit "
            "learns from prompts (record again with --prompt to add one)")


@contextmanager
def _reading(db_path: object) -> Iterator[sqlite3.Connection | None]:
    """A connection to read the feedback database by; None when it has no outcomes table yet."""
    path = _database_path(db_path)
    _refuse_other_than_a_file(path)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        # Reading must not turn an empty file (or a mistyped name) into a database.
        where = "no feedback database at" if not path.exists() else "an empty file, no outcomes, at"
        raise FeedbackError(
            f"{where} {path}: record outcomes with `shoal feedback record` first, or name the "
            "database (SHOAL_FEEDBACK_DB sets the default)"
        )
    opened = _connection(path) if is_writable(path) else _read_only_connection(path)
    with opened as connection:
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outcomes'"
        ).fetchone()
        yield None if exists is None else connection


@contextmanager
def _read_only_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that reads a database this process may not write, creating no side file
    beside it (see `shoal.sqlite_files`), as the ledger is read."""
    found = read_only_uri(path)
    if found is None:
        log, _ = side_files(path)
        raise FeedbackError(
            f"cannot read the feedback database {path}: outcomes in its write-ahead log "
            f"{log.name} need a process that can write the database to fold them in (run "
            "`shoal feedback export` once as its owner)"
        )
    uri, immutable = found
    before = file_state(path)
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as error:
        raise FeedbackError(f"cannot open the feedback database {path}: {error}") from None
    try:
        _refuse_foreign_database(connection, path)
        yield connection
    except sqlite3.DatabaseError as error:
        raise FeedbackError(f"feedback database {path}: {error}") from None
    finally:
        connection.close()
    if immutable and file_state(path) != before:
        # Read without locks: a writer that came meanwhile may have changed the file under
        # the read.
        raise FeedbackError(f"the feedback database {path} changed while it was read (it is "
                            "read-only to this user, so read without locks); try again")
