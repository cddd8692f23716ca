"""The spend ledger: what each scope (a session, a project, a team) has spent, against its limit.

Every call an agent makes is recorded with its token counts, priced at record time from the
catalog; the row keeps the rates applied, the catalog's date, the date of the model's prices and
the user price file they came from (if any), so later price changes never rewrite history.
Amounts are stored as whole nano-dollars (USD x 10^9, rounded half to even once per record), so
totals add up exactly whatever the order of the rows.

A scope may have a limit, over its whole life or per calendar period (UTC ``hour``, ``day``,
``week`` from Monday, ``month``). A hard limit refuses a record that would take the period's
spend past it; a soft one records it and flags it. The check and the insert happen in one
transaction that holds the scope's write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a
transaction-scoped advisory lock on the scope), so concurrent writers from several processes or
replicas can neither lose an update nor slip past a limit together. A ``request_id`` makes a
record idempotent: the same id in the same scope records once, and a retry gets the first
record back. :func:`import_usage` records many calls (a usage log) the same way, all in one
transaction: each is checked and priced before the ledger is locked, and a refused one leaves
nothing of the import written.

Where the ledger lives: ``SHOAL_LEDGER`` (a file path, or a ``postgresql://`` URL), else
``ledger.sqlite3`` in the user's data directory (``$XDG_DATA_HOME/shoal`` when that is an
absolute path, else ``~/.local/share/shoal`` on Linux, ``~/Library/Application Support/shoal``
on macOS, ``%LOCALAPPDATA%\\shoal`` on Windows). Only that data directory is created when missing: a
folder in a path the user gives must exist, so a mistyped path is an error rather than a new,
empty ledger. Anything but a regular file is refused, and reading (``must_exist``) refuses a
file that is missing or empty before opening it; the module's :func:`budget_status` (and
:func:`shoal.report.savings_report`) read such a file as an empty ledger and create no file or
folder for it. A SQLite file that holds other tables and none of shoal's is refused, not added
to. A SQLite file this process may not write is read without the side files SQLite would
otherwise leave (read-only, they would break every later writer), and writing to it is refused
saying why. A ledger written by a newer shoal (a higher schema version) is refused. PostgreSQL
needs the ``postgres`` extra (psycopg 3); a connection the server dropped is replaced when the
next transaction begins.

The path names the ledger, not the file first opened there: each transaction compares the
file at the path with the one open (device and inode), so a record never lands in a file that
was removed or replaced meanwhile. :func:`open_ledger` then opens the file the path names now,
as a new process would, with a note on the next result; a :class:`Ledger` refuses. A file
replaced between that check and the transaction is refused before anything is written or read,
and the module's functions make the call again on the file the path names now (see
``REPLACED_ATTEMPTS``). SQLite finds
a ledger's write-ahead log (``-wal``, and its index ``-shm``) by the path's name, so pages left
in it would be read into whatever file is moved onto the path, by the next process to open it:
each write therefore copies the log into the file and empties it before it returns. A backup
moved into place, or another program's database, is read as it is, by shoal or any other
program; a connection to the earlier file leaves the log alone when it closes. A process in the
middle of a read can keep the log from being emptied; the writer waits for it in steps of
``LOG_EMPTYING_WAIT_S``, not ``BUSY_TIMEOUT_S``, and then leaves it: to a thread of each process
holding the ledger open, which looks every ``LOG_WATCH_INTERVAL_S`` and empties a log left holding
pages once the read has ended, or to the last connection to close. A backup moved into place
while a read holds pages back still takes them in; that window is a read's length.

Whatever fails once a ledger is open (a damaged page, a ledger another process holds past
``BUSY_TIMEOUT_S``, a lost connection) is a :class:`LedgerError` naming the ledger and the
problem. A row holding what shoal never writes (edited by hand: text for a time or an amount,
a negative count, a period it does not know) is a :class:`DamagedLedgerError` naming the ledger,
the table, the row and the field, e.g. ``ledger /x/live.sqlite3: shoal_usage row 1: recorded_at
is 'nan', not a time``, from every read that would use the value: each row read back is checked
by one reader, and sums made in SQL first find any row of their scope whose time is no time and
any row they add whose cost is no amount, and have that reader name it. A count or sum never
leaves such a row out unseen. Sums of spend never overflow: a scope may hold up to
``MAX_NANOUSD`` per limit period, so over many periods its total may pass what a 64-bit integer
holds.
"""

from __future__ import annotations

import atexit
import bisect
import datetime
import functools
import json
import logging
import math
import os
import re
import sqlite3
import stat
import sys
import tempfile
import threading
import time
import unicodedata
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from shoal.catalog import MAX_ID_LENGTH, Catalog, configured_catalog
from shoal.cost import (
    EXACT,
    MAX_TOKENS_PER_CALL,
    TOKEN_FIELDS,
    CostEstimate,
    CostLine,
    estimate_cost,
    exact_amount,
    format_usd,
    rounded_usd,
)
from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt, grouped_number, shown_path
from shoal.file_names import check_file_name
from shoal.numbers_in import int_when_whole, real_number
from shoal.progress import Progress, check_callback
from shoal.sqlite_files import (
    file_state,
    is_writable,
    read_only_uri,
    side_files,
    unreadable_cause,
    unwritable_cause,
)

logger = logging.getLogger(__name__)

NANO_PER_USD = 1_000_000_000
# Most nano-dollars one limit, one record or one scope's total may hold: half of a signed 64-bit
# integer, so sums of many rows stay inside SQLite's INTEGER and PostgreSQL's BIGINT.
MAX_NANOUSD = 2**62
# The largest limit, in USD: the last whole cent within MAX_NANOUSD, $4,611,686,018.42, so that
# the figure errors and the README state is one that is taken. The MCP tool's bound is the same.
MAX_LIMIT_USD = math.floor(MAX_NANOUSD / NANO_PER_USD * 100) / 100
# The one ceiling the ledger states and keeps, in nano-dollars: of a limit, a record and a
# scope's spend (per limit period), so that what is refused and what is taken read alike.
_MOST_NANOUSD = round(MAX_LIMIT_USD * 100) * 10_000_000
# Version 2 added the price basis of each row (prices_as_of, price_file); opening a version 1
# ledger adds those columns, empty in its earlier rows.
SCHEMA_VERSION = 2
PERIODS = ("hour", "day", "week", "month")
MAX_SCOPE_LENGTH = 200
# A writer waits this long for another writer's transaction (or its turn in the writer queue)
# before giving up with an error that says the ledger is busy.
BUSY_TIMEOUT_S = 30.0
# How long a SQLite writer waits, after its commit, for each lock it needs to empty the
# write-ahead log (see _SqliteStore._empty_log), so that a reader holds a record up a moment only.
LOG_EMPTYING_WAIT_S = 0.1
# How often a process holding a SQLite ledger open looks for a write-ahead log that another
# process's write left holding pages (see _SqliteStore._watch_log).
LOG_WATCH_INTERVAL_S = 0.5
# The least history a burn rate is measured over: over a shorter span the rate is mostly the
# size of the last call (one $0.03 call 10 s ago would read as $10.80 an hour), so there is no
# rate and no projection until the scope's spend in the window spans this long.
MIN_BURN_SPAN_S = 600.0
# The shortest burn-rate window: a second. Records are timed to the microsecond, but a window
# shorter than a second holds no rate anyway (see MIN_BURN_SPAN_S) and reads as noise.
MIN_WINDOW_HOURS = 1 / 3600
# The longest: a leap year, in hours.
MAX_WINDOW_HOURS = 24 * 366
# Records are refused from before this date (no priced model API calls precede it) ...
EARLIEST_RECORD = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
# ... and from more than this far in the future: clocks of machines sharing a ledger may differ
# a little, but a record dated later would count in a period that has not begun.
MAX_FUTURE_S = 300.0
# The moments a status or a report may be asked at: dates before 1970 or from 9999 on cannot be
# shown as ISO 8601 text or have their calendar periods (up to a month on) computed everywhere.
EARLIEST_MOMENT = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
LATEST_MOMENT = datetime.datetime(9999, 1, 1, tzinfo=datetime.timezone.utc)
# route_task's decision ids: "d-" and 24 hex digits of a hash over the decision's inputs. Read in
# either case, as hex digits are: an id copied through a tool that upper-cases it (a spreadsheet)
# names the same decision, and is kept as route_task writes it (see canonical_decision_id).
DECISION_ID = re.compile(r"d-[0-9a-f]{24}", re.IGNORECASE | re.ASCII)
# The fields of one record of an import: record_usage's parameters, each optional but scope and
# model, as there.
RECORD_FIELDS = ("scope", "model", *TOKEN_FIELDS, "decision_id", "request_id", "at")
# Records an import reports its progress after: often enough for a progress line to move, rarely
# enough that the report costs nothing beside the records.
IMPORT_PROGRESS_EVERY = 1_000
# The tables shoal creates; a SQLite file with tables but none of these belongs to something else.
SHOAL_TABLES = frozenset({"shoal_meta", "shoal_usage", "shoal_limits"})
# What a reader is told when the file it names holds no ledger.
CHECK_PATH = ("Check the path (SHOAL_LEDGER or --ledger sets it); a ledger file is made by the "
              "first record or limit written to it")
# What the default place's errors add: the way to keep the ledger elsewhere.
LEDGER_ELSEWHERE = "set SHOAL_LEDGER (or --ledger) to keep the ledger elsewhere"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS shoal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS shoal_usage (
        id {serial} PRIMARY KEY,
        scope TEXT NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL,
        model TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cached_input_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_nanousd BIGINT NOT NULL,
        line_items TEXT NOT NULL,
        catalog_date TEXT NOT NULL,
        decision_id TEXT,
        request_id TEXT,
        prices_as_of TEXT,
        price_file TEXT,
        UNIQUE (scope, request_id))""",
    """CREATE INDEX IF NOT EXISTS shoal_usage_scope_time ON shoal_usage (scope, recorded_at)""",
    """CREATE TABLE IF NOT EXISTS shoal_limits (
        scope TEXT PRIMARY KEY,
        limit_nanousd BIGINT NOT NULL,
        hard INTEGER NOT NULL,
        period TEXT,
        set_at DOUBLE PRECISION NOT NULL)""",
)

_USAGE_COLUMNS = (
    "id, scope, recorded_at, model, input_tokens, output_tokens, cached_input_tokens, "
    "cache_write_tokens, reasoning_tokens, cost_nanousd, line_items, catalog_date, decision_id, "
    "request_id, prices_as_of, price_file"
)
# Columns added to shoal_usage after schema version 1, which opening an older ledger adds.
_ADDED_USAGE_COLUMNS = ("prices_as_of", "price_file")
# A ledger's recorded version only goes up (a newer one is refused before this runs).
_RAISE_SCHEMA_VERSION = (
    "UPDATE shoal_meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?"
)
# SQLite's SUM of integers fails ("integer overflow") past 2**63 nano-dollars, which a scope's
# spend over many periods can pass: each period may hold up to MAX_NANOUSD. Summed apart, the
# whole dollars and the nano-dollars under them stay far inside it; Python adds the two exactly.
# (The remainder is spelt out: "%" would be a parameter to psycopg.)
_SPEND_SUMS = (
    "COALESCE(SUM(cost_nanousd / 1000000000), 0), "
    "COALESCE(SUM(cost_nanousd - cost_nanousd / 1000000000 * 1000000000), 0)"
)


# The first of the rows summed whose cost a sum would misread (text, a fraction, a negative or
# impossible amount), or NULL; the row reader (_stored) then says what is wrong with it. A NULL
# comparison falls to ELSE too.
_FIRST_DAMAGED_COST = (
    f"MIN(CASE WHEN cost_nanousd >= 0 AND cost_nanousd <= {_MOST_NANOUSD} "
    "AND cost_nanousd = CAST(cost_nanousd AS BIGINT) THEN NULL ELSE id END)"
)
# What a row's time must be, as the row reader checks it: a time that can be shown and whose
# calendar periods can be reached. Text, NaN (PostgreSQL's sorts above every number) and
# infinities fall outside.
_TIME_RANGE = (EARLIEST_MOMENT.timestamp(), LATEST_MOMENT.timestamp())


def _spend(dollars: Any, nanos: Any) -> int:
    """Nano-dollars from the two sums of ``_SPEND_SUMS`` (PostgreSQL gives them as Decimal)."""
    return int(dollars) * NANO_PER_USD + int(nanos)


def _check_schema_version(cursor: Any, where: str) -> None:
    """Refuse a ledger written by a newer shoal: its tables may hold what this one would break
    (a column it does not fill) or misread."""
    cursor.execute("SELECT value FROM shoal_meta WHERE key = 'schema_version'")
    row = cursor.fetchone()
    if row is None:
        return
    try:
        version = int(row[0])
    except ValueError:
        raise LedgerError(f"the ledger {where} has an unreadable schema version {row[0]!r:.40} "
                          "in shoal_meta") from None
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger {where} was written by a newer shoal (schema version {version}; this "
            f"shoal knows versions up to {SCHEMA_VERSION}): upgrade shoal to use it"
        )


def _add_missing_usage_columns(cursor: Any, present: set[str]) -> None:
    """Migrate an older ledger: add the usage columns its schema version lacked."""
    for column in _ADDED_USAGE_COLUMNS:
        if column not in present:
            cursor.execute(f"ALTER TABLE shoal_usage ADD COLUMN {column} TEXT")


class LedgerError(ShoalError, ValueError):
    """The ledger cannot be opened or used; the message says what to change."""


class BudgetExceededError(LedgerError):
    """A record would take a scope past its hard limit; nothing was recorded.

    Attributes:
        scope: The scope whose limit would be exceeded.
        limit_usd: The hard limit.
        spent_usd: Spend in the limit's period before this call.
        cost_usd: What the refused call costs.
    """

    def __init__(self, scope: str, limit: BudgetLimit, spent_usd: float, cost_usd: float) -> None:
        self.scope = scope
        self.limit_usd = limit.usd
        self.spent_usd = spent_usd
        self.cost_usd = cost_usd
        per = f" per {limit.period}" if limit.period else ""
        left = max(EXACT.subtract(exact_amount(limit.usd), exact_amount(spent_usd)), Decimal(0))
        places = limit_places(limit.usd, spent_usd, cost_usd=cost_usd)

        def money(amount: float | Decimal) -> str:
            return format_usd(amount, places=places)

        # The agent reading this may be on the CLI, MCP or Python: name the way on each. The
        # amounts read as budget_status shows them, so the two can be set side by side.
        super().__init__(
            f"refused: scope {scope!r} has a hard limit of {money(limit.usd)}{per}; "
            f"{money(spent_usd)} is spent, so {money(left)} is left, and this call "
            f"costs {money(cost_usd)}. Nothing was recorded. To go on, use a cheaper model, "
            "or raise the limit or make it soft: `shoal ledger limit --scope SCOPE --usd AMOUNT "
            "[--soft]`, "
            "MCP set_budget_limit with hard: false, or Python set_limit(scope, usd, hard=False)."
        )


class LedgerReplacedError(LedgerError):
    """The ledger file was removed or replaced after this process opened it; the transaction was
    refused before it began, so nothing was written or read (``outcome`` says which)."""

    def __init__(self, file: Path, change: str, outcome: str) -> None:
        super().__init__(
            f"the ledger file {file} was {change} after this process opened it; {outcome}. "
            "Open the ledger again to use the file its path names now"
        )
        self.file, self.change, self.outcome = file, change, outcome


class RequestConflictError(LedgerError):
    """A ``request_id`` was recorded before with different model or token counts."""


class RepeatedRequestError(RequestConflictError):
    """A ``request_id`` given twice in one import with different model or token counts.

    Attributes:
        earlier: The place (from 0) of the import's record that gave it first.
    """

    def __init__(self, earlier: int, first: StoredUsage, again: _UsageRow) -> None:
        self.earlier, self._first, self._again = earlier, first, again
        super().__init__(self.said(f"records[{earlier}]"))

    def said(self, earlier_place: str) -> str:
        """The refusal, naming the earlier record as ``earlier_place`` (``line 4``)."""
        first, again = self._first, self._again
        counts = (first.input_tokens, first.output_tokens, first.cached_input_tokens,
                  first.cache_write_tokens, first.reasoning_tokens)
        return (f"request_id {first.request_id!r} was given earlier in this import, by "
                f"{earlier_place}, for {first.model} with tokens (input, output, cached, cache "
                f"write, reasoning) = {counts}; this call says {again.model} with "
                f"{again.counts}. Use a new request_id for a different call.")


class ImportRecordError(LedgerError):
    """A record of an import was refused, so nothing of the import was written.

    Attributes:
        index: The record's place among those given, from 0.
        problem: Why it was refused, as :func:`record_usage` words it for that call (the
            field it names, the limit it would pass).
    """

    def __init__(self, index: int, problem: str) -> None:
        self.index, self.problem = index, problem
        super().__init__(f"records[{index}]: {nothing_imported(problem)}")


def nothing_imported(problem: str) -> str:
    """Why a record of an import was refused, saying that the import recorded nothing."""
    # A refusal over a limit is sentences already ("... Nothing was recorded. To go on, ...").
    if problem.endswith("."):
        return f"{problem} Nothing of the import was recorded."
    return f"{problem}; nothing of the import was recorded"


class DamagedLedgerError(LedgerError):
    """A ledger row holds a value shoal never writes there (the ledger was edited by hand or by
    another program, or damaged): text for a time or an amount, a negative count. Whatever
    would read it (a status, a report, a record in its scope) is refused, naming it, rather
    than crash on it or count it wrong.

    Attributes:
        ledger: The ledger's file (a PostgreSQL ledger's URL, without its password).
        table: The row's table: ``shoal_usage`` or ``shoal_limits``.
        row: The row as the message names it: ``row 12`` (its id), or ``row of scope 's'``.
        field: The column whose value is wrong.
    """

    def __init__(self, ledger: str, table: str, row: str, field: str, problem: str) -> None:
        self.ledger, self.table, self.row, self.field = ledger, table, row, field
        super().__init__(f"ledger {ledger}: {table} {row}: {field} {problem}. shoal never "
                         "writes that: correct the row, or restore the ledger from a backup")


@dataclass(frozen=True)
class UsageRecord:
    """One recorded call, priced when it was recorded.

    Attributes:
        id: Row id in the ledger.
        scope: Scope the call is charged to.
        model: Canonical catalog id of the model used.
        recorded_at: When it was recorded, ISO 8601 UTC.
        input_tokens: Prompt tokens, cached parts included.
        output_tokens: Visible output tokens.
        cached_input_tokens: Prompt tokens read from the cache.
        cache_write_tokens: Prompt tokens written to the cache.
        reasoning_tokens: Hidden reasoning tokens.
        cost_usd: Price of the call (whole nano-dollars).
        line_items: The priced lines, with the rates applied at record time.
        catalog_date: Date of the catalog the rates come from.
        prices_as_of: Date of the model's prices: its catalog row's ``as_of``, which a user price
            file may set (the catalog date for rows recorded before the ledger kept it).
        price_file: Name of the user price file the model's prices or date came from, or None
            when they were the shipped catalog's (or the row predates the ledger keeping it).
        decision_id: Routing decision the call followed, if given.
        request_id: Idempotency key, if given.
        duplicate: True when ``request_id`` had been recorded already and this is that record.
        spent_usd: The scope's spend in its limit's period (or ever, without a period) after
            this record.
        limit_usd: The scope's limit, if any.
        over_limit: True when the spend now exceeds the limit: a soft limit lets calls past
            it, and a hard one set below what was already spent leaves the scope over it.
        notes: What the price rests on, as :class:`shoal.cost.CostEstimate` says it (a model
            the catalog lists as retired, a prompt past the model's limits).
    """

    id: int
    scope: str
    model: str
    recorded_at: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float
    line_items: tuple[CostLine, ...]
    catalog_date: str
    prices_as_of: str
    price_file: str | None
    decision_id: str | None
    request_id: str | None
    duplicate: bool
    spent_usd: float
    limit_usd: float | None
    over_limit: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageImport:
    """What an import of many records did (see :func:`import_usage`).

    Attributes:
        records: Records given.
        added: Records written.
        already_present: Records whose ``request_id`` their scope held already, from an earlier
            record or import or from earlier in this one; charged nothing.
        cost_usd: What the records added cost, together.
        scopes: Scopes the records name.
        over_limit: Records added past a soft limit (each one's ``over_limit``, as
            :func:`record_usage` gives it).
        notes: What the records' prices rest on, as :func:`record_usage` says it with each (a
            model the catalog lists as retired), once per message and with the number of
            records it applies to when more than one (``(12 records)``); and what the ledger
            says with its next result (a file replaced since it was opened).
    """

    records: int
    added: int
    already_present: int
    cost_usd: float
    scopes: int
    over_limit: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BudgetLimit:
    """A scope's spending limit.

    Attributes:
        scope: The scope limited.
        usd: Most the scope may spend per period (or ever, without a period).
        hard: True: a record that would exceed it is refused. False: recorded and flagged.
        period: ``hour``, ``day``, ``week`` or ``month`` (calendar, UTC), or None for ever.
        set_at: When the limit was set, ISO 8601 UTC.
        notes: Warnings given when it was set: the scope has already spent more than it.
    """

    scope: str
    usd: float
    hard: bool
    period: str | None
    set_at: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BudgetStatus:
    """What a scope has spent, has left, and how fast it is spending.

    Every amount and count is of the calls recorded at or before ``as_of``.

    Attributes:
        scope: The scope.
        as_of: Time of the status, ISO 8601 UTC.
        spent_usd: Spend in the limit's current period, or ever without a period or limit.
        lifetime_spent_usd: Spend over the scope's whole life.
        records: Number of calls recorded in the scope, ever.
        limit: The limit, if one is set.
        period_start: Start of the current period (ISO 8601 UTC), or None.
        period_end: End of the current period (ISO 8601 UTC), or None.
        remaining_usd: Limit minus spend (negative past a soft limit), or None without a limit.
        window_hours: The burn-rate window asked for.
        window_spent_usd: Spend recorded in the last ``window_hours``.
        burn_span_hours: The time ``window_spent_usd`` was spent over: from the window's start,
            or from the scope's first record when that is later, to ``as_of`` (0 without
            records).
        burn_rate_usd_per_hour: ``window_spent_usd / burn_span_hours``, or None when the span is
            under ``MIN_BURN_SPAN_S`` (ten minutes): too little history for a rate.
        hours_to_limit: ``remaining_usd / burn_rate``, the hours until ``limit_reached_at``,
            or None when that is None: no limit, no burn rate or spending, a periodic limit
            not reached before its period ends (and its spend starts again from $0), or a
            limit not reached before ``LATEST_MOMENT`` (9999-01-01).
        limit_reached_at: When the limit is reached at this burn rate (ISO 8601 UTC), or None
            when it is not reached (no limit, no burn rate or spending, or not before the
            period ends or 9999-01-01).
        exceeded: True when the spend is past the limit, which only a soft limit allows;
            spend exactly at the limit has reached it (``remaining_usd`` 0) without
            exceeding it.
        notes: Caveats: that no ledger has been made yet where the status was read.
    """

    scope: str
    as_of: str
    spent_usd: float
    lifetime_spent_usd: float
    records: int
    limit: BudgetLimit | None
    period_start: str | None
    period_end: str | None
    remaining_usd: float | None
    window_hours: float
    window_spent_usd: float
    burn_span_hours: float
    burn_rate_usd_per_hour: float | None
    hours_to_limit: float | None
    limit_reached_at: str | None
    exceeded: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredUsage:
    """A ledger row as stored (used by reports); see :class:`UsageRecord` for the fields."""

    id: int
    scope: str
    recorded_at: float
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nanousd: int
    line_items: tuple[CostLine, ...]
    catalog_date: str
    decision_id: str | None
    request_id: str | None
    prices_as_of: str
    price_file: str | None


# ---- time -------------------------------------------------------------------------------------


def iso(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC with microseconds, e.g. ``2026-12-04T10:00:00.000000Z``."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    # Not strftime: its %Y leaves years before 1000 unpadded on some platforms.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def to_epoch(moment: datetime.datetime | float | str | None, name: str) -> float | None:
    """Accept a timezone-aware datetime, epoch seconds or an ISO 8601 string; None stays None.

    The moment must lie from ``EARLIEST_MOMENT`` up to ``LATEST_MOMENT`` (1970-01-01 to
    9999-01-01 UTC): outside it, dates cannot be shown or their calendar periods reached.
    """
    seconds = _seconds(moment, name)
    if seconds is None:
        return None
    if not EARLIEST_MOMENT.timestamp() <= seconds < LATEST_MOMENT.timestamp():
        raise InputError(f"{name} must be from {EARLIEST_MOMENT.date()} to before "
                         f"{LATEST_MOMENT.date()} (UTC), got {_moment_text(seconds)}")
    return seconds


def _parsed_moment(text: str, name: str) -> datetime.datetime:
    """An ISO 8601 date or time; one that names no zone is UTC, as the ledger keeps time (a
    naive ``datetime`` is refused instead: it is most often ``datetime.now()``, local time)."""
    # RFC 3339 lets the T and Z be written in lower case; no other letter is valid.
    written = text.strip().upper().replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(written)
    except ValueError:
        raise InputError(f"{name} must be ISO 8601 such as 2026-12-04 or 2026-12-04T10:00:00Z, "
                         f"got {excerpt(text)}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _seconds(moment: datetime.datetime | float | str | None, name: str) -> float | None:
    """:func:`to_epoch` without its range: the caller bounds the moment itself."""
    if moment is None:
        return None
    if isinstance(moment, bool):
        raise TypeError(f"{name} must be a datetime, epoch seconds or ISO 8601 text")
    seconds = real_number(moment)
    if seconds is not None:
        moment = seconds
    if isinstance(moment, int) and abs(moment) > sys.float_info.max:
        # float() would overflow, and showing every digit says nothing.
        raise InputError(f"{name} must be a time, got an integer of seconds too large for any "
                         "date")
    if isinstance(moment, (int, float)):
        if not math.isfinite(moment):
            raise InputError(f"{name} must be finite, got {moment}")
        return float(moment)
    if isinstance(moment, str):
        moment = _parsed_moment(moment, name)
    if not isinstance(moment, datetime.datetime):
        raise TypeError(f"{name} must be a datetime, epoch seconds or ISO 8601 text")
    if moment.tzinfo is None:
        raise InputError(f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)): a "
                         "naive datetime is most often local time")
    return moment.timestamp()


def period_bounds(period: str, seconds: float) -> tuple[float, float]:
    """Start and end (epoch seconds) of the calendar ``period`` in UTC that contains ``seconds``."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    if period == "hour":
        start = moment.replace(minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(hours=1)
    elif period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(days=1)
    elif period == "week":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - datetime.timedelta(days=day.weekday())
        end = start + datetime.timedelta(days=7)
    elif period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = start.replace(year=start.year + (start.month == 12),
                                  month=start.month % 12 + 1)
        end = following
    else:
        raise InputError(f"period must be one of {', '.join(PERIODS)} or None, got "
                         f"{excerpt(period)}")
    return start.timestamp(), end.timestamp()


# ---- where the ledger lives -------------------------------------------------------------------


def data_directory(*, log: logging.Logger = logger) -> Path:
    """The user's data directory for shoal, by platform convention.

    Args:
        log: Where a relative ``XDG_DATA_HOME`` is reported (once per logger): the logger of
            the module whose file is being placed, so the warning names what it affects.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "shoal"
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "shoal"
    return (_xdg_data_home(log) or _home() / ".local" / "share") / "shoal"


class NoDataDirectoryError(InputError):
    """The user's data directory cannot be found: HOME is empty or a relative path."""


def _home() -> Path:
    """The user's home folder from HOME, refused when that is set empty or relative: Python
    reads an empty HOME as the root folder, and a relative one would put a new ledger under
    whatever folder a command runs in, as a relative XDG_DATA_HOME would."""
    value = os.environ.get("HOME")
    if value is not None and not os.path.isabs(value):
        problem = "empty" if not value else f"{excerpt(value)}, not an absolute path"
        raise NoDataDirectoryError(f"the user's data directory is unknown: HOME is {problem}")
    return Path.home()


def is_data_directory(folder: Path, *, log: logging.Logger = logger) -> bool:
    """Whether ``folder`` is shoal's own data directory (False when there is none)."""
    try:
        return folder == data_directory(log=log)
    except NoDataDirectoryError:
        return False


def _xdg_data_home(log: logging.Logger) -> Path | None:
    """``XDG_DATA_HOME`` when it is an absolute path, else None (the default applies).

    The XDG Base Directory spec makes a relative value invalid, to be ignored: honoured, it would
    put the ledger under whatever folder a command runs in, splitting one user's spend and limits
    across as many ledgers.
    """
    value = os.environ.get("XDG_DATA_HOME", "")
    if not value:
        return None
    if not os.path.isabs(value):
        _warn_relative_xdg_data_home(log, value)
        return None
    return Path(value)


@functools.lru_cache(maxsize=8)
def _warn_relative_xdg_data_home(log: logging.Logger, value: str) -> None:
    # Once per logger and value: the data directory is looked up several times per command.
    log.warning("XDG_DATA_HOME=%s is ignored: it is not an absolute path", value)


def default_location() -> str:
    """``SHOAL_LEDGER`` when set, else ``ledger.sqlite3`` in :func:`data_directory`."""
    configured = os.environ.get("SHOAL_LEDGER", "").strip()
    if configured:
        return configured
    try:
        return str(data_directory() / "ledger.sqlite3")
    except NoDataDirectoryError as error:
        raise LedgerError(f"{error}; {LEDGER_ELSEWHERE}") from None


def is_postgres_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL server rather than a SQLite file."""
    return location.startswith(("postgresql://", "postgres://"))


def describe_location(location: str) -> str:
    """The location without a password, safe to log or show."""
    if not is_postgres_url(location):
        return location
    scheme, _, rest = location.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return location
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


# ---- storage back ends ------------------------------------------------------------------------


class _Store:
    """SQL shared by both back ends; subclasses open connections and run transactions.

    ``write`` and ``read`` turn a database error raised inside them into a :class:`LedgerError`
    that names the ledger and the problem: a damaged file, a busy or unwritable ledger, a lost
    server connection.
    """

    placeholder = "?"
    serial = "INTEGER"
    # The usage columns a query selects: a ledger read without being migrated may lack some.
    usage_columns = _USAGE_COLUMNS
    # The ledger as errors name it: its file, or its URL without a password.
    name = ""

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    @contextmanager
    def write(self, scope: str) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield None

    def write_scopes(self) -> AbstractContextManager[Any]:
        """A write transaction that locks its scopes itself (:meth:`lock_scope`): an import's
        records may name many."""
        return self.write("")

    def lock_scope(self, cursor: Any, scope: str) -> None:
        """Take ``scope``'s write lock in the transaction of :meth:`write_scopes` (SQLite's
        writer holds the whole database already)."""

    @contextmanager
    def read(self) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield None

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def outdated(self) -> bool:
        """Whether a new opening would give another store (see :func:`open_ledger`)."""
        return False

    def replaced(self) -> str | None:
        """How the location came to name another ledger than the one open (``removed``,
        ``replaced by another file``), or None."""
        return None


def _sqlite_store(location: str, *, must_exist: bool) -> _Store:
    """The store of a SQLite ledger: read-only when this process may not write the file."""
    file = Path(location).expanduser()
    # A reader makes nothing: a data directory missing (or on a read-only disk) holds no ledger.
    _check_folder(file, create=not must_exist)
    size = _file_size(file)
    if must_exist:
        # Reading: refused before anything is opened, so no side file is left behind.
        _refuse_missing_or_empty(file, size)
    unreadable = None if size is None else unreadable_cause(
        file, reads="see its spend and limits", writes="record calls or set limits")
    if unreadable is not None:
        # Said before the write advice a file unreadable and unwritable would otherwise get.
        raise LedgerError(f"cannot read the ledger {file}: {unreadable}")
    if size is not None and not is_writable(file):
        return _ReadOnlySqliteStore(file, must_exist=must_exist)
    return _SqliteStore(file, must_exist=must_exist)


class _SqliteStore(_Store):
    """A SQLite file in WAL mode; writers serialise on ``BEGIN IMMEDIATE``."""

    def __init__(self, file: Path, *, must_exist: bool = False) -> None:
        self.file = file
        self.name = str(file)
        # The lock serialises threads of one process on the one connection (MCP tools run on
        # worker threads); other processes are serialised by SQLite's own locks.
        self._lock = threading.Lock()
        writers = file.with_name(file.name + ".writers")
        writers_existed = writers.exists()
        connection: sqlite3.Connection | None = None
        queue: _WriterQueue | None = None
        try:
            connection = sqlite3.connect(
                str(file), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._connection = connection
            # The file the connection holds, to tell when the path names another one (see
            # replaced). Read once SQLite has it open; a file swapped between the two moments
            # is read as this one.
            self._identity = _file_identity(file)
            # Before anything is written: another program's database is left as it was.
            _refuse_foreign_database(connection, file, must_exist=must_exist)
            self._queue = queue = _WriterQueue(writers, file)
            self._configure()
        except (sqlite3.Error, LedgerError) as error:
            # Not a database, not a file, or not ours: release and remove what this opening
            # made before saying so.
            if connection is not None:
                connection.close()
            if queue is not None:
                queue.close()
            if not writers_existed:
                writers.unlink(missing_ok=True)
            if isinstance(error, LedgerError):
                raise
            raise _sqlite_failure(file, error, opening=True) from None
        self._closed = False
        self._start_log_watch()

    def _configure(self) -> None:
        connection = self._connection
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("ledger %s: journal mode is %s, not WAL", self.file, mode)
        # FULL syncs the WAL at every commit: an acknowledged record survives power loss too.
        connection.execute("PRAGMA synchronous = FULL")
        # A plain read first: in WAL mode it never waits for a writer, so a reader opening a
        # current ledger that another process is writing is not held up (or failed after
        # BUSY_TIMEOUT_S) by the write transaction that making or migrating tables needs.
        with self.read() as cursor:
            if _schema_is_current(cursor, str(self.file)):
                return
        with self.write("") as cursor:
            cursor.execute(_SCHEMA[0])
            _check_schema_version(cursor, str(self.file))
            for statement in _SCHEMA[1:]:
                cursor.execute(statement.format(serial="INTEGER"))
            present = {row[1] for row in cursor.execute("PRAGMA table_info(shoal_usage)")}
            _add_missing_usage_columns(cursor, present)
            cursor.execute(
                "INSERT OR IGNORE INTO shoal_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            cursor.execute(_RAISE_SCHEMA_VERSION, (str(SCHEMA_VERSION), SCHEMA_VERSION))

    @contextmanager
    def write(self, scope: str) -> Iterator[sqlite3.Cursor]:
        del scope  # SQLite locks the whole database for a writer.
        with self._lock, self._queue, _sqlite_errors(self.file):
            self._refuse_if_replaced("nothing was written")
            cursor = self._connection.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                cursor.execute("COMMIT")
            finally:
                _roll_back(self._connection)
            # Still in the writer queue, so other shoal writers wait there and not on the log;
            # after a write that changed nothing the log is empty, and this costs next to nothing.
            self._empty_log()

    def _empty_log(self) -> None:
        """Copy the write-ahead log into the file and truncate it, so that no record waits in it
        between writes.

        SQLite finds the log (and its index, ``-shm``) by the path's name, not by the file: a
        log left holding pages would be read into whatever file the path names next, a backup
        moved into place or another program's database, by the next process to open it, which
        would then hold this ledger's pages instead of its own. A reader still using the log
        keeps it from being truncated; the wait for it is short, and the next write tries again.
        """
        connection = self._connection
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(LOG_EMPTYING_WAIT_S * 1000)}")
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error as error:
            # The write is committed either way; a log left as it is holds nothing wrong.
            logger.debug("ledger %s: the write-ahead log was not emptied: %s", self.file, error)
        else:
            if busy:
                logger.debug("ledger %s: the write-ahead log was not emptied: a reader is using "
                             "it; the next write empties it", self.file)
        finally:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, _sqlite_errors(self.file):
            self._refuse_if_replaced("nothing was read")
            cursor = self._connection.cursor()
            try:
                # One snapshot for all the reads of a status or report.
                cursor.execute("BEGIN")
                yield cursor
            finally:
                _roll_back(self._connection)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._connection.close()
            self._queue.close()

    def _start_log_watch(self) -> None:
        """Empty, from now on, a log that other processes' writes leave holding pages.

        Each write empties the log before it returns, but a reader in the middle of a read (any
        process) keeps it from being emptied, and a process that writes and exits leaves it to
        the last connection to close. While this process holds the ledger open it is never that
        last one: without a look of its own, the pages would wait for the next write, however
        far off, and a backup moved onto the path meanwhile would take them in. So a thread
        looks every ``LOG_WATCH_INTERVAL_S`` and empties a log left holding pages once the
        reader is gone. It holds the store only weakly, and ends with it.
        """
        log = self.file.with_name(self.file.name + "-wal")
        watched = weakref.ref(self)
        thread = threading.Thread(target=_watch_log, args=(watched, log), daemon=True,
                                  name=f"shoal-ledger-log {self.file.name}")
        thread.start()

    def empty_left_log(self, log: Path) -> bool:
        """Empty ``log`` when it holds pages and nothing of this process is using the ledger;
        False once the store is closed or its path names another file (there is nothing left
        to watch: the log then belongs to that file)."""
        # A transaction of this process is running: a write empties the log itself, and a
        # read would make the emptying wait.
        if not self._lock.acquire(blocking=False):
            return True
        try:
            if self._closed or self.replaced() is not None:
                return False
            if _holds_pages(log):
                self._empty_log()
            return True
        finally:
            self._lock.release()

    def replaced(self) -> str | None:
        """How the path came to name another file than the one open, or None when it has not.

        A connection keeps the file it opened: once that file is deleted (or another is moved
        to its path) every record would go to a file no path reaches, lost when the connection
        closes, and limits would be read from it. One stat per transaction tells.
        """
        now = _file_identity(self.file)
        if now == self._identity:
            return None
        return "removed" if now is None else "replaced by another file"

    def outdated(self) -> bool:
        return self.replaced() is not None

    def _refuse_if_replaced(self, outcome: str) -> None:
        change = self.replaced()
        if change is not None:
            raise LedgerReplacedError(self.file, change, outcome)


def _watch_log(watched: weakref.ref[_SqliteStore], log: Path) -> None:
    """Empty ``log`` whenever it is left holding pages, while the store lives (see
    `_SqliteStore._start_log_watch`)."""
    while True:
        time.sleep(LOG_WATCH_INTERVAL_S)
        store = watched()
        if store is None:
            return
        try:
            if not store.empty_left_log(log):
                return
        except (sqlite3.Error, OSError) as error:
            # A look that failed ends nothing: the next one, or the next write, tries again.
            logger.debug("ledger %s: the write-ahead log was not looked at: %s", log, error)
        # Dropped before the sleep, so that the store can be collected meanwhile.
        del store


def _holds_pages(log: Path) -> bool:
    try:
        return os.stat(log).st_size > 0
    except OSError:
        return False


def _file_identity(file: Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``file`` (a link followed), or None when none is."""
    try:
        status = os.stat(file)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _schema_is_current(cursor: sqlite3.Cursor, where: str) -> bool:
    """Whether the ledger holds every table and index of this shoal's schema at its version, so
    that opening it needs no write; a newer version is refused here."""
    present = {row[0] for row in cursor.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    if not SHOAL_TABLES | {"shoal_usage_scope_time"} <= present:
        return False
    _check_schema_version(cursor, where)
    # Each version's columns are added in the transaction that records it.
    version = cursor.execute(
        "SELECT value FROM shoal_meta WHERE key = 'schema_version'").fetchone()
    return version is not None and version[0] == str(SCHEMA_VERSION)
    _check_schema_version(cursor, str(cursor.connection_file))  # type: ignore[attr-defined]
    return False


def _roll_back(connection: sqlite3.Connection) -> None:
    """End what is left of a transaction: after a failure, or a read's snapshot."""
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            # A damaged file can fail this too; the error that ended the transaction is the
            # one to report, and SQLite rolls back when the connection is next used.
            logger.debug("rollback failed: %s", error)


class _ReadOnlySqliteStore(_Store):
    """A SQLite ledger this process may read but not write (its file is read-only to the user,
    or its folder is and SQLite's side files are missing).

    Every read opens the file read-only and closes it after, so a later change by a writer (or
    the file becoming writable, see :meth:`outdated`) is seen. A ledger with no write-ahead log
    beside it holds all its records in the file, which is then read as ``immutable``: SQLite
    creates no ``-wal`` or ``-shm`` file, which a reader without write access would leave
    read-only behind it, breaking every later writer. With a log beside it (a writer has it
    open, or one ended without tidying up) SQLite reads the log through the files already
    there. Writes are refused, naming why.
    """

    def __init__(self, file: Path, *, must_exist: bool = False) -> None:
        self.file = file
        self.name = str(file)
        self._lock = threading.Lock()
        with self.read() as cursor:
            _refuse_foreign_database(cursor.connection, file, must_exist=must_exist)
            tables = {row[0] for row in cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "shoal_meta" in tables:
                _check_schema_version(cursor, str(file))
            if "shoal_usage" in tables:
                present = {row[1] for row in cursor.execute("PRAGMA table_info(shoal_usage)")}
                # An older ledger is read as it is: its rows lack the later columns anyway.
                self.usage_columns = ", ".join(
                    column if column in present or column not in _ADDED_USAGE_COLUMNS
                    else f"NULL AS {column}"
                    for column in _USAGE_COLUMNS.split(", ")
                )

    @contextmanager
    def write(self, scope: str) -> Iterator[sqlite3.Cursor]:
        del scope
        cause = _unwritable_cause(self.file) or "this user may not write it"
        raise LedgerError(f"cannot write the ledger {self.file}: {cause}")
        yield  # pragma: no cover - a generator that never yields

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, _sqlite_errors(self.file):
            uri, immutable = self._uri()
            before = file_state(self.file)
            connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S,
                                         isolation_level=None, check_same_thread=False)
            try:
                cursor = connection.cursor()
                cursor.execute("BEGIN")
                yield cursor
            finally:
                connection.close()
            if immutable and file_state(self.file) != before:
                # Read without locks: a writer that came meanwhile may have changed the file
                # under the read.
                raise LedgerError(f"the ledger {self.file} changed while it was read (it is "
                                  "read-only to this user, so read without locks); try again")

    def _uri(self) -> tuple[str, bool]:
        """The URI to read the file by, and whether it is read as immutable."""
        found = read_only_uri(self.file)
        if found is None:
            log, _ = side_files(self.file)
            raise LedgerError(
                f"cannot read the ledger {self.file}: records in its write-ahead log {log.name} "
                "need a process that can write the ledger to fold them in (run any shoal ledger "
                "command once as its owner)"
            )
        return found

    def close(self) -> None:
        pass

    def outdated(self) -> bool:
        return is_writable(self.file)


def _unwritable_cause(file: Path) -> str | None:
    """Why this process cannot write a SQLite ledger, with advice; None when no permission
    explains it."""
    return unwritable_cause(file, kind="ledger", writes="record calls or set limits")


@contextmanager
def _sqlite_errors(file: Path) -> Iterator[None]:
    """Turn a SQLite error into a LedgerError that names the ledger and the problem."""
    try:
        yield
    except sqlite3.Error as error:
        logger.debug("ledger %s failed", file, exc_info=True)
        raise _sqlite_failure(file, error) from None


def _sqlite_failure(file: Path, error: sqlite3.Error, *, opening: bool = False) -> LedgerError:
    """What a SQLite error means for the ledger ``file``, in one line."""
    text = str(error)
    # The error code where Python gives it (3.11 on); the message otherwise.
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return LedgerError(
            f"the ledger {file} is busy: another process has held it for {BUSY_TIMEOUT_S:g} s "
            f"({text}); nothing was changed, so try again once it is done"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or any(
        words in text for words in ("readonly database", "unable to open database")
    ):
        cause = _unwritable_cause(file) or text
        return LedgerError(f"cannot {'open' if opening else 'use'} the ledger {file}: {cause}")
    if opening:
        return LedgerError(f"cannot open the ledger {file}: {text}")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or any(
        words in text for words in ("malformed", "not a database")
    ):
        return LedgerError(
            f"the ledger {file} is damaged ({text}): restore it from a backup; "
            f"`sqlite3 {file} .recover` may save what is left"
        )
    return LedgerError(f"the ledger {file} failed: {text}")


def _check_folder(file: Path, *, create: bool = True) -> None:
    """Create shoal's own data directory when missing (with ``create``); any other folder must
    exist already."""
    folder = file.parent
    try:
        if folder.is_dir():
            return
        exists = folder.exists()
    except OSError as error:
        # A name too long for the file system, a loop of links.
        raise LedgerError(f"cannot open the ledger {shown_path(str(file))}: "
                          f"{error.strerror}") from None
    if not is_data_directory(folder):
        # A folder in a path the user gave: creating it would turn a typo into a new ledger.
        problem = "is not a folder" if exists else "does not exist"
        raise LedgerError(f"cannot open the ledger {file}: the folder {folder} {problem}")
    if not create:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LedgerError(f"cannot create the ledger directory {folder}: "
                          f"{error.strerror}; {LEDGER_ELSEWHERE}") from None


def _file_size(file: Path) -> int | None:
    """Bytes in the ledger file, or None when there is none; anything but a regular file (a
    folder, a device such as /dev/zero, a pipe) is refused, since SQLite would write beside it."""
    try:
        status = file.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LedgerError(f"cannot open the ledger {shown_path(str(file))}: "
                          f"{error.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise LedgerError(f"cannot open the ledger {file}: it is {kind}; give a SQLite file's "
                          "path")
    return status.st_size


def _refuse_missing_or_empty(file: Path, size: int | None) -> None:
    """For reading: refuse a ledger file that is missing or empty (a mistyped path)."""
    if size is None:
        raise LedgerError(f"no ledger at {file}: nothing has been recorded there. {CHECK_PATH}")
    if _not_made(file, size):
        raise LedgerError(f"{file} holds no ledger: the file is empty. {CHECK_PATH}")


def _not_made(file: Path, size: int | None) -> bool:
    """Whether no ledger has been made in ``file`` (of ``size`` bytes, None when missing)."""
    if size is None:
        return True
    # A database's first page reaches the file when it is made; an empty file beside a write-
    # ahead log with pages in it is a ledger whose pages are all still in the log.
    log = file.with_name(file.name + "-wal")
    return size == 0 and not (log.is_file() and log.stat().st_size > 0)


def _refuse_foreign_database(connection: sqlite3.Connection, file: Path, *,
                             must_exist: bool = False) -> None:
    """Refuse a database that has tables, none of them shoal's: it belongs to another program.
    With ``must_exist`` (reading), refuse one without tables too: it holds no ledger."""
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
        "ESCAPE '!' ORDER BY name"
    ).fetchall()
    tables = [row[0] for row in rows]
    if tables and SHOAL_TABLES.isdisjoint(tables):
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise LedgerError(
            f"cannot use {file} as a ledger: it is a database of something else (tables: "
            f"{shown}) with no shoal tables. Give the ledger a file of its own"
        )
    if not tables and must_exist:
        raise LedgerError(f"{file} holds no ledger: it is a database with no tables. {CHECK_PATH}")


class _WriterQueue:
    """An advisory ``flock`` that writer processes queue on before ``BEGIN IMMEDIATE``.

    Correctness rests on ``BEGIN IMMEDIATE`` alone; this only makes contention cheap. SQLite's
    busy handler polls with sleeps of up to 100 ms, so eight busy writers spend most of their
    time asleep; this queue polls from 1 ms up to ``_QUEUE_PAUSE_S``. A blocking ``flock`` would
    wake sooner but has no timeout: a writer stopped while it holds the lock would hold up every
    other writer for ever. So a writer gives up after ``BUSY_TIMEOUT_S``, as SQLite's own wait
    does. The kernel releases the lock when a holder dies, even by SIGKILL. Where ``fcntl`` is
    missing (Windows) or the lock file cannot be opened, the busy handler does all the waiting.
    """

    def __init__(self, path: Path, ledger: Path) -> None:
        self._handle: Any = None
        self._ledger = ledger
        try:
            import fcntl
        except ImportError:
            return
        try:
            self._handle = open(path, "a+b")
        except OSError as error:
            logger.debug("no writer queue at %s: %s", path, error.strerror)
            return
        self._flock = fcntl.flock
        self._exclusive, self._unlock = fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_UN

    def __enter__(self) -> None:
        if self._handle is None:
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.001
        while True:
            try:
                self._flock(self._handle.fileno(), self._exclusive)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LedgerError(
                        f"the ledger {self._ledger} is busy: another process has held it for "
                        f"{BUSY_TIMEOUT_S:g} s (a writer stopped or stuck mid-write holds it "
                        "until it ends); nothing was changed, so try again once it is done"
                    ) from None
            time.sleep(pause)
            pause = min(pause * 2, _QUEUE_PAUSE_S)

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._flock(self._handle.fileno(), self._unlock)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# The longest a queued writer sleeps between looks at the writer lock.
_QUEUE_PAUSE_S = 0.01


class _PostgresStore(_Store):
    """PostgreSQL through psycopg 3; writers to one scope serialise on an advisory lock.

    A connection the server dropped (a restart, an idle timeout) is found out by the first
    statement of the next transaction; that transaction has done nothing yet, so it begins again
    on a new connection. A connection lost later in a transaction is an error: before the commit
    nothing was written; during it, whether the write landed is unknown.
    """

    placeholder = "%s"
    serial = "BIGSERIAL"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise LedgerError(
                "a postgresql:// ledger needs psycopg 3: pip install 'shoal[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.url = url
        self.name = describe_location(url)
        self._lock = threading.Lock()
        self._connection = self._connect()
        try:
            self._make_tables()
        except BaseException:
            self._connection.close()
            raise

    def _make_tables(self) -> None:
        with self.write(None) as cursor:
            cursor.execute(_SCHEMA[0])
            _check_schema_version(cursor, describe_location(self.url))
            for statement in _SCHEMA[1:]:
                cursor.execute(statement.format(serial="BIGSERIAL"))
            # Looked up first: ALTER TABLE locks the table even when the column is there, and
            # would deadlock with writers already inserting.
            cursor.execute("SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND table_name = 'shoal_usage'")
            _add_missing_usage_columns(cursor, {row[0] for row in cursor.fetchall()})
            cursor.execute(
                "INSERT INTO shoal_meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            cursor.execute(self.sql(_RAISE_SCHEMA_VERSION), (str(SCHEMA_VERSION), SCHEMA_VERSION))

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as error:
            raise LedgerError(
                f"cannot connect to the ledger at {describe_location(self.url)}: "
                f"{str(error).strip()}"
            ) from None

    @contextmanager
    def write(self, scope: str | None) -> Iterator[Any]:
        # Writers to one scope take turns; each reads after the previous one committed, since
        # READ COMMITTED takes a fresh snapshot per statement. Schema set-up (scope None) takes
        # a lock of its own: concurrent CREATE TABLE IF NOT EXISTS can otherwise collide in the
        # catalog.
        key = "shoal-ledger-schema" if scope is None else _scope_lock_key(scope)
        with self._writing([(_ADVISORY_LOCK, key)]) as cursor:
            yield cursor

    def write_scopes(self) -> AbstractContextManager[Any]:
        return self._writing([])

    def lock_scope(self, cursor: Any, scope: str) -> None:
        cursor.execute(_ADVISORY_LOCK, (_scope_lock_key(scope),))

    @contextmanager
    def _writing(self, locks: list[tuple[str, str]]) -> Iterator[Any]:
        """A write transaction that takes ``locks`` (advisory lock statements and their keys)
        first."""
        with self._lock:
            cursor = self._begin(["BEGIN ISOLATION LEVEL READ COMMITTED", *locks], writing=True)
            committing = False
            try:
                yield cursor
                committing = True
                cursor.execute("COMMIT")
            except self._psycopg.Error as error:
                self._roll_back(cursor)
                raise self._failure(error, writing=True, committing=committing) from None
            except BaseException:
                self._roll_back(cursor)
                raise

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self._lock:
            cursor = self._begin(["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"],
                                 writing=False)
            try:
                yield cursor
                cursor.execute("COMMIT")
            except self._psycopg.Error as error:
                self._roll_back(cursor)
                raise self._failure(error, writing=False) from None
            except BaseException:
                self._roll_back(cursor)
                raise

    def _begin(self, statements: Sequence[str | tuple[str, str]], *, writing: bool) -> Any:
        """A cursor in a transaction begun by ``statements`` (text, or text and its one
        parameter), on a new connection when the server dropped the old one."""
        for attempt in (1, 2):
            if self._connection.closed:
                self._connection = self._connect()
            cursor = self._connection.cursor()
            try:
                for statement in statements:
                    if isinstance(statement, tuple):
                        cursor.execute(statement[0], (statement[1],))
                    else:
                        cursor.execute(statement)
                return cursor
            except self._psycopg.Error as error:
                self._roll_back(cursor)
                if attempt == 2 or not self._connection.closed:
                    raise self._failure(error, writing=writing) from None
                # Nothing had been done in the transaction, so it can begin again anywhere.
                logger.info("ledger at %s: the connection was lost (%s); connecting again",
                            describe_location(self.url), _first_line(error))
        raise AssertionError("unreachable")  # pragma: no cover

    def _roll_back(self, cursor: Any) -> None:
        if self._connection.closed:
            return
        try:
            cursor.execute("ROLLBACK")
        except self._psycopg.Error as error:
            logger.debug("rollback failed: %s", error)

    def _failure(self, error: Exception, *, writing: bool,
                 committing: bool = False) -> LedgerError:
        """What a psycopg error means for the ledger, in one line."""
        logger.debug("ledger at %s failed", describe_location(self.url), exc_info=error)
        where = f"the ledger at {describe_location(self.url)}"
        text = _first_line(error)
        if not self._connection.closed:
            return LedgerError(f"{where} failed: {text}")
        if committing and writing:
            return LedgerError(
                f"lost the connection to {where} while committing ({text}): whether the write "
                "landed is unknown; check with budget_status, or record again with the same "
                "request_id, which records once"
            )
        done = "nothing was written" if writing else "nothing was read"
        return LedgerError(f"lost the connection to {where} ({text}): {done}; try again")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


# A PostgreSQL writer's lock on a scope (or on the schema), held until its transaction ends.
_ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def _scope_lock_key(scope: str) -> str:
    return f"shoal-ledger:{scope}"


def _first_line(error: Exception) -> str:
    """An error's message without the detail lines a server adds."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---- the ledger -------------------------------------------------------------------------------


def _check_text(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    limit = MAX_SCOPE_LENGTH if name == "scope" else MAX_ID_LENGTH
    if not value.strip() or len(value) > limit:
        raise InputError(f"{name} must be 1 to {limit} characters, got {len(value):,}")
    undecodable = next((index for index, character in enumerate(value)
                        if "\ud800" <= character <= "\udfff"), None)
    if undecodable is not None:
        # What Python makes of a command-line argument's undecodable bytes: lone surrogates,
        # which no database can store as text.
        raise InputError(f"{name} is not valid UTF-8 (an undecodable byte or lone surrogate at "
                         f"character {undecodable})")
    # Stored names are printed back in every status and report, where a control character (a
    # newline, a terminal escape) or a format one (U+202E reverses the text after it) would make
    # the line read as something else. Router names are held to the same rule.
    hidden = next((character for character in value if not character.isprintable()), None)
    if hidden is not None:
        raise InputError(f"{name} must hold only printable characters (no control or format "
                         f"characters, no space but ' '), got {hidden!r} in {value!r}")
    return value


def _scope_name(scope: object) -> str:
    """A scope as the ledger stores it: checked, in Unicode's composed form (NFC).

    "café" typed with a combining accent (NFD) prints as the composed one; stored apart they
    would be two budgets, a limit on one not stopping records on the other. For the same reason
    a scope may not start or end with whitespace, which no output shows.
    """
    _check_text("scope", scope)
    assert isinstance(scope, str)
    if scope != scope.strip():
        raise InputError(f"scope must not start or end with whitespace, got {scope!r}; give "
                         f"{scope.strip()!r}")
    return unicodedata.normalize("NFC", scope)


def _scope_forms(scope: str) -> tuple[str, ...]:
    """The spellings of an NFC scope its rows may be stored under: NFC, and the decomposed form
    (NFD) rows recorded before scopes were normalised may hold."""
    return tuple(dict.fromkeys((scope, unicodedata.normalize("NFD", scope))))


def _scope_is(forms: tuple[str, ...]) -> str:
    """The SQL condition a row of one of ``forms`` meets (an index on scope serves it)."""
    return f"scope IN ({', '.join('?' * len(forms))})"


def _check_some_tokens(counts: Sequence[object]) -> None:
    """Refuse a call whose token counts are all 0: it would be recorded at $0."""
    if all(isinstance(count, int) and not isinstance(count, bool) and count == 0
           for count in counts):
        raise InputError(
            f"give the call's tokens: {', '.join(TOKEN_FIELDS[:-1])} or {TOKEN_FIELDS[-1]} "
            "above 0 (a call with none would be charged $0)"
        )


def _checked_call(scope: str, counts: Sequence[object], decision_id: str | None,
                  request_id: str | None) -> str | None:
    """The decision id of a call to record as kept, refusing a call whose scope, token counts or
    ids are malformed."""
    _check_some_tokens(counts)
    decision_id = _checked_decision_id(decision_id)
    _check_text("request_id", request_id, optional=True)
    return decision_id


@dataclass(frozen=True)
class _PricedCall:
    """A call to record, its arguments checked and its price known: what is left needs the
    ledger."""

    scope: str
    estimate: CostEstimate
    counts: tuple[int, int, int, int, int]
    cost_nanousd: int
    decision_id: str | None
    request_id: str | None
    recorded_at: float

    def row(self) -> _UsageRow:
        """The values of the call's ledger row."""
        estimate = self.estimate
        line_items = json.dumps([_line_dict(line) for line in estimate.line_items])
        return _UsageRow(self.scope, self.recorded_at, estimate.model, *self.counts,
                         self.cost_nanousd, line_items, estimate.catalog_date, self.decision_id,
                         self.request_id, estimate.prices_as_of, estimate.price_file)


class _UsageRow(NamedTuple):
    """A shoal_usage row to insert, its columns in the order of ``_INSERT_USAGE``."""

    scope: str
    recorded_at: float
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nanousd: int
    line_items: str
    catalog_date: str
    decision_id: str | None
    request_id: str | None
    prices_as_of: str
    price_file: str | None

    @property
    def counts(self) -> tuple[int, int, int, int, int]:
        return (self.input_tokens, self.output_tokens, self.cached_input_tokens,
                self.cache_write_tokens, self.reasoning_tokens)


_INSERT_USAGE = (
    "INSERT INTO shoal_usage (scope, recorded_at, model, input_tokens, output_tokens, "
    "cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nanousd, line_items, "
    "catalog_date, decision_id, request_id, prices_as_of, price_file) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


def _priced_call(
    scope: str,
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cache_write_tokens: int,
    reasoning_tokens: int,
    decision_id: str | None,
    request_id: str | None,
    at: datetime.datetime | float | str | None,
    catalog: Catalog | None,
) -> _PricedCall:
    """Check a call's arguments and price it, as :func:`record_usage` does before it writes."""
    # A count from numpy as an int, so that SQLite can store it; any other is refused below.
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens = (
        int_when_whole(count) for count in (input_tokens, output_tokens, cached_input_tokens,
                                             cache_write_tokens, reasoning_tokens))
    counts = (input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,
              reasoning_tokens)
    scope = _scope_name(scope)
    decision_id = _checked_call(scope, counts, decision_id, request_id)
    recorded_at = _record_time(at)

    estimate = estimate_cost(
        model, input_tokens=input_tokens, output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens,
        reasoning_tokens=reasoning_tokens, catalog=catalog or configured_catalog(),
    )
    cost = _cost_nanousd(estimate)
    return _PricedCall(scope, estimate, counts, cost, decision_id, request_id, recorded_at)


def _priced_record(index: int, record: object, catalog: Catalog) -> _PricedCall:
    """One record of an import checked and priced as :func:`record_usage` checks and prices its
    arguments; refused naming its place among the records."""
    try:
        arguments = _record_arguments(record)
        scope, model = arguments.pop("scope"), arguments.pop("model")
        return _priced_call(scope, model, **{**_NO_FIELDS, **arguments}, catalog=catalog)
    except (TypeError, ValueError) as error:
        raise ImportRecordError(index, str(error)) from error


# record_usage's defaults of the fields a record may leave out.
_NO_FIELDS: dict[str, Any] = {**dict.fromkeys(TOKEN_FIELDS, 0), "decision_id": None,
                              "request_id": None, "at": None}


def _record_arguments(record: object) -> dict[str, Any]:
    """A record's fields, refused when it is no mapping, names a field record_usage does not
    take, or leaves out the scope or the model."""
    if not isinstance(record, Mapping):
        raise TypeError(f"a record must be a mapping of record_usage's arguments (scope, model, "
                        f"token counts, ...), got {type(record).__name__}")
    unknown = next((key for key in record if key not in RECORD_FIELDS), None)
    if unknown is not None:
        raise InputError(f"unknown field {excerpt(unknown)}{_meant_field(unknown)}: a record's "
                         f"fields are {', '.join(RECORD_FIELDS)}")
    missing = next((key for key in ("scope", "model") if key not in record), None)
    if missing is not None:
        raise InputError(f"no {missing}: every record names its scope and model")
    return dict(record)


def _meant_field(unknown: object) -> str:
    """`` (did you mean 'input_tokens'?)`` for a field named as `shoal ledger record` names its
    option (``input``, ``cache-write``, ``request-id``); else nothing."""
    if not isinstance(unknown, str) or not unknown.strip("-_"):
        return ""
    stem = unknown.lstrip("-").replace("-", "_")
    meant = next((name for name in RECORD_FIELDS if name.startswith(stem)), None)
    return "" if meant is None else f" (did you mean {meant!r}?)"


@dataclass
class _ImportedScope:
    """A scope an import has come to: its limit, and its spend so far by limit period (the
    period's start; None for the scope's whole life), the import's records in it."""

    limit: BudgetLimit | None
    spent: dict[float | None, int] = field(default_factory=dict)


@dataclass
class _ImportTally:
    """What an import has done so far."""

    records: int = 0
    added: int = 0
    already_present: int = 0
    cost: int = 0
    over_limit: int = 0
    scopes: dict[str, _ImportedScope] = field(default_factory=dict)
    # The ids of the rows added with a request id, and their records' places: two arrays of
    # machine integers, not a dict, so that a log of millions holds little memory.
    _ids: array[int] = field(default_factory=lambda: array("q"))
    _places: array[int] = field(default_factory=lambda: array("q"))

    def added_with_request_id(self, row_id: int, index: int) -> None:
        self._ids.append(row_id)
        self._places.append(index)

    def index_of(self, row_id: int) -> int | None:
        """The place of the record this import added as row ``row_id``, or None."""
        # The rows of one transaction are numbered upwards (SQLite's next rowid, PostgreSQL's
        # sequence), so the ids are in order.
        found = bisect.bisect_left(self._ids, row_id)
        if found < len(self._ids) and self._ids[found] == row_id:
            return self._places[found]
        return None

    def summary(self) -> UsageImport:
        return UsageImport(records=self.records, added=self.added,
                           already_present=self.already_present, cost_usd=_usd(self.cost),
                           scopes=len(self.scopes), over_limit=self.over_limit)


class _CheckedRecords:
    """An import's records checked and priced, before the ledger is locked: their rows wait in
    a temporary file, so that memory holds one at a time and the ledger's writers wait only
    for the rows to be written, not for every record to be checked and priced."""

    def __init__(self, spool: IO[str], count: int, scopes: set[str],
                 notes: dict[str, int]) -> None:
        self._spool = spool
        self.count = count
        self.scopes = scopes
        self._notes = notes
        # Whether the import's transaction was committed: None from just before the commit to
        # just after it, where a stop may have come on either side of it.
        self.recorded: bool | None = False

    @property
    def notes(self) -> tuple[str, ...]:
        """What the records' prices rest on, as record_usage says it with each: one note per
        message, with how many records it was said of when more than one."""
        return tuple(note if times == 1 else f"{note} ({times:,} records)"
                     for note, times in self._notes.items())

    @classmethod
    def of(cls, records: Iterable[object], catalog: Catalog,
           progress: Progress | None) -> _CheckedRecords:
        """Check and price every record (``progress`` told as ``checking``), refusing the first
        that record_usage would refuse by its place."""
        total = len(records) if isinstance(records, Sized) else None
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        count = 0
        scopes: set[str] = set()
        # Counted by message: a log of one retired model says so once, not once a record.
        notes: dict[str, int] = {}
        try:
            for index, record in enumerate(records):
                call = _priced_record(index, record, catalog)
                row = call.row()
                spool.write(json.dumps(row) + "\n")
                scopes.add(row.scope)
                for note in call.estimate.notes:
                    notes[note] = notes.get(note, 0) + 1
                count += 1
                _report(progress, "checking", count, total)
        except BaseException as stop:
            spool.close()
            _said_of_stop(stop, recorded=False)
            raise
        if total is None and count % IMPORT_PROGRESS_EVERY:
            _report(progress, "checking", count, count)
        return cls(spool, count, scopes, notes)

    def rows(self) -> Iterator[_UsageRow]:
        """The rows, in the records' order; read again from the start at each call."""
        self._spool.seek(0)
        for line in self._spool:
            yield _UsageRow(*json.loads(line))

    def __enter__(self) -> _CheckedRecords:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        try:
            self._spool.close()
        except BaseException as stop:
            _said_of_stop(stop, recorded=self.recorded)
            raise
        if error is not None:
            _said_of_stop(error, recorded=self.recorded)


def _said_of_stop(stop: BaseException, *, recorded: bool | None) -> None:
    """Mark a Ctrl-C or SIGTERM that stopped an import with whether the import was recorded
    (``import_recorded``: False, True, or None when it came as the transaction committed),
    for the one line that says it stopped; an error says that itself."""
    if not isinstance(stop, Exception) and not hasattr(stop, "import_recorded"):
        stop.import_recorded = recorded  # type: ignore[attr-defined]


def _report(progress: Progress | None, step: str, done: int, total: int | None) -> None:
    """Tell ``progress`` every ``IMPORT_PROGRESS_EVERY`` records, and at the last one when the
    total is known (else as if the records so far were all)."""
    if progress is not None and (done % IMPORT_PROGRESS_EVERY == 0 or done == total):
        progress(step, done, total or done)


def canonical_decision_id(decision_id: str) -> str | None:
    """``decision_id`` as route_task writes it ('d-' and 24 lowercase hex digits), when it is a
    decision id in either case; else None."""
    if not DECISION_ID.fullmatch(decision_id):
        return None
    return decision_id.lower()


def _checked_decision_id(decision_id: str | None) -> str | None:
    # Decisions are not stored anywhere (an id is a hash of the decision's inputs), so the id's
    # form is what can be checked: a typo or a made-up id is refused, not counted as routed.
    _check_text("decision_id", decision_id, optional=True)
    if decision_id is None:
        return None
    canonical = canonical_decision_id(decision_id)
    if canonical is None:
        raise InputError(
            "decision_id must be a route_task decision id ('d-' and 24 hex digits), got "
            f"{decision_id!r}"
        )
    return canonical


def _record_time(at: datetime.datetime | float | str | None) -> float:
    """When a call happened: now, or ``at`` between ``EARLIEST_RECORD`` and a few minutes on."""
    now = time.time()
    moment = _seconds(at, "at")
    if moment is None:
        return now
    if moment < EARLIEST_RECORD.timestamp():
        raise InputError(f"at must be {EARLIEST_RECORD.date()} or later, got "
                         f"{_moment_text(moment)}")
    if moment > now + MAX_FUTURE_S:
        raise InputError(
            f"at must not be more than {MAX_FUTURE_S / 60:g} minutes in the future (now is "
            f"{iso(now)}), got {_moment_text(moment)}"
        )
    return moment


def _moment_text(seconds: float) -> str:
    try:
        return iso(seconds)
    except (OverflowError, OSError, ValueError):  # beyond the years datetime can show
        return f"{grouped_number(seconds)} seconds from 1970"


def call_cost_nanousd(estimate: CostEstimate) -> int:
    """What the ledger records as the cost of a call priced as ``estimate``: its exact total in
    whole nano-dollars, rounded half to even. The savings report rounds the baseline's price of
    a call by it too, so that a price and a recorded cost compare exactly."""
    return _nano(estimate.exact_total_usd)


def _cost_nanousd(estimate: CostEstimate) -> int:
    """A call's exact price in whole nano-dollars, refused when the ledger cannot hold it."""
    nanos = call_cost_nanousd(estimate)
    if nanos > _MOST_NANOUSD:
        raise LedgerError(
            f"this call costs {format_usd(estimate.exact_total_usd)} on {estimate.model}, more "
            f"than the ledger can hold (at most {format_usd(MAX_LIMIT_USD)} a record); check the "
            "model's prices"
        )
    return nanos


def _usd(nano: int) -> float:
    return nano / NANO_PER_USD


def _nano(usd: float | Decimal) -> int:
    """Whole nano-dollars, rounded half to even from the amount's decimal digits (see
    `exact_amount`): 2.5 nano-dollars are 2, however the float 2.5e-9 falls in binary."""
    return int(EXACT.quantize(exact_amount(usd).scaleb(9), Decimal(1)))


def _location_text(location: object) -> str:
    """The ledger location as text: :func:`default_location` for None, else a path or a URL."""
    if location is None:
        return default_location()
    if not isinstance(location, (str, os.PathLike)) or isinstance(os.fspath(location), bytes):
        # str() of anything else would name a SQLite file: ledger=5 would make a file "5".
        raise TypeError(f"ledger must be a SQLite file path (str or os.PathLike) or a "
                        f"postgresql:// URL, got {type(location).__name__}")
    return str(os.fspath(location))


def _check_location_form(location: str) -> None:
    """Refuse a location that is neither a PostgreSQL URL nor a plain SQLite file path."""
    if not location.strip():
        raise LedgerError("the ledger location is empty: give a SQLite file path or a "
                          "postgresql:// URL")
    if is_postgres_url(location):
        return
    check_file_name(location, "ledger", LedgerError)
    if location[:5].lower() == "file:":
        # SQLite reads such a name as a URI whose options (mode=ro, immutable) would leave
        # the ledger unwritable; the lock file beside it would land in a folder "file:".
        raise LedgerError(
            f"ledger location {location}: give the SQLite file's path, not a file: URI"
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        # Any other URL would otherwise become a SQLite file under a folder named "scheme:".
        scheme = location.split("://", 1)[0]
        raise LedgerError(
            f"ledger location {scheme}://...: only postgresql:// URLs or SQLite file paths "
            "are supported"
        )


class Ledger:
    """A ledger at one location (SQLite file or PostgreSQL URL). Safe to share between threads.

    Use :func:`open_ledger` to get the process-wide instance for a location.
    """

    def __init__(self, location: str | Path, *, must_exist: bool = False) -> None:
        """Open the ledger at ``location``, creating its tables when they are missing.

        Args:
            location: A SQLite file path or a ``postgresql://`` URL.
            must_exist: Refuse a SQLite file that does not exist yet (for reading: a missing
                file means a mistyped path, not a ledger with nothing in it).
        """
        self.location = _location_text(location)
        _check_location_form(self.location)
        if is_postgres_url(self.location):
            self._store: _Store = _PostgresStore(self.location)
        else:
            self._store = _sqlite_store(self.location, must_exist=must_exist)
        # Said once, with the next result of the module's functions (see open_ledger).
        self._notes: tuple[str, ...] = ()
        logger.info("ledger at %s", describe_location(self.location))

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if isinstance(self._store, _PostgresStore) else "sqlite"

    @property
    def read_only(self) -> bool:
        """True for a SQLite ledger this process may read but not write: it is read as it
        stands, and writes are refused saying why."""
        return isinstance(self._store, _ReadOnlySqliteStore)

    def close(self) -> None:
        """Close the connection."""
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing --

    def record_usage(
        self,
        scope: str,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        decision_id: str | None = None,
        request_id: str | None = None,
        at: datetime.datetime | float | str | None = None,
        catalog: Catalog | None = None,
    ) -> UsageRecord:
        """Price one call and charge it to ``scope``; see :func:`record_usage`."""
        call = _priced_call(
            scope, model, input_tokens=input_tokens, output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens, decision_id=decision_id, request_id=request_id,
            at=at, catalog=catalog,
        )
        return self._record_call(call)

    def _record_call(self, call: _PricedCall) -> UsageRecord:
        """Charge a checked, priced call to its scope (or return the earlier record of its
        request id)."""
        scope, row = call.scope, call.row()
        with self._store.write(scope) as cursor:
            self._refuse_timeless_rows(cursor, _scope_forms(scope))
            existing = self._recorded_request(cursor, row)
            if existing is not None:
                _check_same_request(existing, row.model, row.counts)
                limit = self._limit(cursor, scope)
                spent = self._spent(cursor, scope, limit, existing.recorded_at)
                return _record(existing, duplicate=True, spent=spent, limit=limit,
                               notes=call.estimate.notes)

            limit = self._limit(cursor, scope)
            spent = self._spent(cursor, scope, limit, call.recorded_at)
            _check_charge(row, limit, spent)
            row_id = self._insert(cursor, row)

        estimate = call.estimate
        stored = StoredUsage(row_id, scope, call.recorded_at, estimate.model, *call.counts,
                             call.cost_nanousd, estimate.line_items, estimate.catalog_date,
                             call.decision_id, call.request_id, estimate.prices_as_of,
                             estimate.price_file)
        return _record(stored, duplicate=False, spent=spent + call.cost_nanousd, limit=limit,
                       notes=estimate.notes)

    def _recorded_request(self, cursor: Any, row: _UsageRow) -> StoredUsage | None:
        """The row recorded before under the request id of ``row`` in its scope, or None."""
        if row.request_id is None:
            return None
        forms = _scope_forms(row.scope)
        cursor.execute(self._store.sql(f"SELECT {self._store.usage_columns} FROM shoal_usage "
                                       f"WHERE {_scope_is(forms)} AND request_id = ?"),
                       (*forms, row.request_id))
        existing = cursor.fetchone()
        return None if existing is None else _stored(existing, self._store.name)

    def _insert(self, cursor: Any, row: _UsageRow) -> int:
        """Write ``row``, whose limits the caller checked; its id."""
        cursor.execute(self._store.sql(_INSERT_USAGE), tuple(row))
        return int(cursor.fetchone()[0])

    def import_usage(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        catalog: Catalog | None = None,
        progress: Progress | None = None,
    ) -> UsageImport:
        """Record many calls in one transaction; see :func:`import_usage`."""
        check_callback("progress", progress)
        with _CheckedRecords.of(records, catalog or configured_catalog(), progress) as checked:
            return self._import(checked, progress)

    def _import(self, checked: _CheckedRecords, progress: Progress | None) -> UsageImport:
        """Charge each checked record as :meth:`_record_call` would, all in one transaction."""
        tally = _ImportTally()
        if not checked.count:
            return tally.summary()
        with self._store.write_scopes() as cursor:
            # In one order for every writer, so that two imports never wait for each other.
            for scope in sorted(checked.scopes):
                self._store.lock_scope(cursor, scope)
            for index, row in enumerate(checked.rows()):
                self._import_row(cursor, index, row, tally)
                _report(progress, "recording", tally.records, checked.count)
            # Left by a stop before here, the transaction is rolled back (either store's write
            # does so on any exception); from here the commit may be under way.
            checked.recorded = None
        checked.recorded = True
        return replace(tally.summary(), notes=checked.notes)

    def _import_row(self, cursor: Any, index: int, row: _UsageRow, tally: _ImportTally) -> None:
        """Charge one row of an import, against its scope's spend with the import's earlier rows
        in it."""
        scope = tally.scopes.get(row.scope)
        if scope is None:
            self._refuse_timeless_rows(cursor, _scope_forms(row.scope))
            scope = tally.scopes[row.scope] = _ImportedScope(self._limit(cursor, row.scope))
        tally.records += 1

        existing = self._recorded_request(cursor, row)
        if existing is not None:
            try:
                _check_same_request(existing, row.model, row.counts)
            except RequestConflictError as conflict:
                # Not recorded "at" a time when it is this import's own, uncommitted record.
                earlier = tally.index_of(existing.id)
                cause = (conflict if earlier is None
                         else RepeatedRequestError(earlier, existing, row))
                raise ImportRecordError(index, str(cause)) from cause
            tally.already_present += 1
            return

        limit = scope.limit
        period = (None if limit is None or limit.period is None
                  else period_bounds(limit.period, row.recorded_at)[0])
        spent = scope.spent.get(period)
        if spent is None:
            spent = self._spent(cursor, row.scope, limit, row.recorded_at)
        try:
            _check_charge(row, limit, spent)
        except LedgerError as error:
            raise ImportRecordError(index, str(error)) from error
        row_id = self._insert(cursor, row)
        if row.request_id is not None:
            tally.added_with_request_id(row_id, index)

        spent += row.cost_nanousd
        scope.spent[period] = spent
        tally.added += 1
        tally.cost += row.cost_nanousd
        tally.over_limit += limit is not None and spent > _nano(limit.usd)

    def set_limit(
        self, scope: str, usd: float, *, hard: bool = True, period: str | None = None
    ) -> BudgetLimit:
        """Set (or replace) ``scope``'s limit; see :func:`set_limit`."""
        usd = _check_limit(scope, usd, hard, period)
        scope = _scope_name(scope)
        set_at = time.time()

        with self._store.write(scope) as cursor:
            sql = self._store.sql
            self._refuse_timeless_rows(cursor, _scope_forms(scope))
            try:
                earlier = self._limit(cursor, scope)
            except DamagedLedgerError:
                # Setting the limit anew is one way to correct the row; what it held is lost.
                earlier = None
            forms = _scope_forms(scope)
            cursor.execute(sql(f"DELETE FROM shoal_limits WHERE {_scope_is(forms)}"), forms)
            cursor.execute(
                sql("INSERT INTO shoal_limits (scope, limit_nanousd, hard, period, set_at) "
                    "VALUES (?, ?, ?, ?, ?)"),
                (scope, _nano(usd), int(hard), period, set_at),
            )
            limit = BudgetLimit(scope, _usd(_nano(usd)), bool(hard), period, iso(set_at))
            spent = self._spent(cursor, scope, limit, set_at)
        notes = _over_limit_notes(limit, _usd(spent))
        if earlier is not None:
            notes = (*_replaced_limit_note(earlier, limit), *notes)
        return replace(limit, notes=notes)

    def remove_limit(self, scope: str) -> bool:
        """Remove ``scope``'s limit; True when there was one."""
        scope = _scope_name(scope)
        forms = _scope_forms(scope)
        with self._store.write(scope) as cursor:
            cursor.execute(self._store.sql(f"DELETE FROM shoal_limits WHERE {_scope_is(forms)}"),
                           forms)
            return bool(cursor.rowcount)

    # -- reading --

    def budget_status(
        self,
        scope: str,
        *,
        window_hours: float = 24.0,
        now: datetime.datetime | float | str | None = None,
    ) -> BudgetStatus:
        """Spend, remaining budget, burn rate and projection; see :func:`budget_status`."""
        moment, window_hours = _status_moment(scope, window_hours, now)
        scope = _scope_name(scope)
        forms = _scope_forms(scope)
        sql = self._store.sql

        with self._store.read() as cursor:
            self._refuse_timeless_rows(cursor, forms)
            limit = self._limit(cursor, scope)
            cursor.execute(
                sql(f"SELECT COUNT(*), MIN(recorded_at), {_SPEND_SUMS}, {_FIRST_DAMAGED_COST} "
                    f"FROM shoal_usage WHERE {_scope_is(forms)} AND recorded_at <= ?"),
                (*forms, moment),
            )
            records, first, dollars, nanos, damaged = cursor.fetchone()
            self._refuse_damaged_row(cursor, damaged)
            lifetime = _spend(dollars, nanos)
            spent = self._spent(cursor, scope, limit, moment, through=moment)
            window_start = moment - window_hours * 3600
            cursor.execute(
                sql(f"SELECT {_SPEND_SUMS} FROM shoal_usage "
                    f"WHERE {_scope_is(forms)} AND recorded_at >= ? AND recorded_at <= ?"),
                (*forms, window_start, moment),
            )
            # The window's rows are among the lifetime's, checked above.
            in_window = _spend(*cursor.fetchone())

        # The spend of the window was spent over the whole window, or since the first record.
        if first is None:
            span_hours = 0.0
        elif first <= window_start:
            span_hours = float(window_hours)
        else:
            span_hours = (moment - first) / 3600
        burn = _Burn(float(window_hours), _usd(in_window), span_hours)
        return _status(scope, moment, limit, int(records), lifetime, spent, burn)

    def usage(
        self,
        scope: str | None = None,
        *,
        since: datetime.datetime | float | str | None = None,
        until: datetime.datetime | float | str | None = None,
    ) -> list[StoredUsage]:
        """Recorded rows in time order: one scope or all, from ``since`` (inclusive) to ``until``
        (exclusive)."""
        if scope is not None:
            scope = _scope_name(scope)
        start = to_epoch(since, "since")
        end = to_epoch(until, "until")
        clauses: list[str] = []
        values: list[str | float] = []
        if scope is not None:
            forms = _scope_forms(scope)
            clauses.append(_scope_is(forms))
            values.extend(forms)
        if start is not None:
            clauses.append("recorded_at >= ?")
            values.append(start)
        if end is not None:
            clauses.append("recorded_at < ?")
            values.append(end)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._store.read() as cursor:
            self._refuse_timeless_rows(cursor, None if scope is None else _scope_forms(scope))
            cursor.execute(
                self._store.sql(f"SELECT {self._store.usage_columns} FROM shoal_usage{where} "
                                "ORDER BY recorded_at, id"),
                tuple(values),
            )
            return [_stored(row, self._store.name) for row in cursor.fetchall()]

    def limit(self, scope: str) -> BudgetLimit | None:
        """``scope``'s limit, or None."""
        scope = _scope_name(scope)
        with self._store.read() as cursor:
            return self._limit(cursor, scope)

    # -- inside a transaction --

    def _limit(self, cursor: Any, scope: str) -> BudgetLimit | None:
        forms = _scope_forms(scope)
        # The latest: a ledger from before scopes were normalised may hold one per form.
        cursor.execute(
            self._store.sql("SELECT scope, limit_nanousd, hard, period, set_at FROM shoal_limits "
                            f"WHERE {_scope_is(forms)} ORDER BY set_at DESC LIMIT 1"),
            forms,
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return _stored_limit(row, scope, self._store.name)

    def _spent(self, cursor: Any, scope: str, limit: BudgetLimit | None, moment: float, *,
               through: float | None = None) -> int:
        """Nano-dollars spent in the limit's period containing ``moment`` (or ever); with
        ``through``, only by calls recorded at or before it."""
        forms = _scope_forms(scope)
        clauses: list[str] = [_scope_is(forms)]
        values: list[str | float] = list(forms)
        if limit is not None and limit.period is not None:
            start, end = period_bounds(limit.period, moment)
            clauses += ["recorded_at >= ?", "recorded_at < ?"]
            values += [start, end]
        if through is not None:
            clauses.append("recorded_at <= ?")
            values.append(through)
        cursor.execute(
            self._store.sql(f"SELECT {_SPEND_SUMS}, {_FIRST_DAMAGED_COST} FROM shoal_usage "
                            f"WHERE {' AND '.join(clauses)}"),
            tuple(values),
        )
        dollars, nanos, damaged = cursor.fetchone()
        self._refuse_damaged_row(cursor, damaged)
        return _spend(dollars, nanos)

    def _refuse_timeless_rows(self, cursor: Any, forms: tuple[str, ...] | None) -> None:
        """Refuse a scope (spelt ``forms``; every scope for None) one of whose rows has a time
        that is no time: a sum over a period or up to a moment, or a report over dates, would
        leave that row out unseen.

        Such a time sorts before or after every time in range (text, and PostgreSQL's NaN, after
        every number), so the scope's index finds it at either end without reading the rest; the
        two ends are asked apart, as an OR of them would be a walk through the whole scope.
        """
        scope = "" if forms is None else f"{_scope_is(forms)} AND "
        end = f"SELECT MIN(id) AS id FROM shoal_usage WHERE {scope}recorded_at"
        cursor.execute(
            self._store.sql(f"SELECT MIN(id) FROM ({end} < ? UNION ALL {end} >= ?) AS ends"),
            (*(forms or ()), _TIME_RANGE[0], *(forms or ()), _TIME_RANGE[1]),
        )
        self._refuse_damaged_row(cursor, cursor.fetchone()[0])

    def _refuse_damaged_row(self, cursor: Any, row_id: int | None) -> None:
        """Refuse the usage row ``row_id`` (when not None), which a query found damaged; the row
        reader says what is wrong with it."""
        if row_id is None:
            return
        cursor.execute(
            self._store.sql(f"SELECT {self._store.usage_columns} FROM shoal_usage WHERE id = ?"),
            (row_id,))
        _stored(cursor.fetchone(), self._store.name)
        # The reader refuses every value those queries do; this says so should the two differ.
        raise DamagedLedgerError(self._store.name, "shoal_usage", f"row {row_id}",
                                 "recorded_at or cost_nanousd", "is out of its range")


def _check_limit(scope: str, given_usd: float, hard: bool, period: str | None) -> float:
    """The limit's amount, as an int or float, refused with the limit when its scope, amount,
    hardness or period is malformed."""
    _scope_name(scope)
    usd = real_number(given_usd)
    if usd is None:
        raise TypeError(f"usd must be a number, got {type(given_usd).__name__}")
    # An int is always finite, and math.isfinite would overflow on one beyond a float.
    if (isinstance(usd, float) and not math.isfinite(usd)) or usd < 0:
        raise InputError(f"usd must be a finite amount of at least 0, got {grouped_number(usd)}")
    # Compared in dollars: converting a huge amount to nano-dollars first would overflow.
    if usd > MAX_LIMIT_USD:
        raise InputError(
            f"usd must be at most {format_usd(MAX_LIMIT_USD)}, got {grouped_number(usd)}")
    if usd > 0 and _nano(usd) == 0:
        raise InputError(
            f"usd {grouped_number(usd)} rounds to $0: the ledger keeps whole nano-dollars, so give "
            "at least 0.000000001 (or 0 for a limit that refuses every paid call)"
        )
    if not isinstance(hard, bool):
        # Stored as an integer: 0.5 would read back as a soft limit, "no" as an error.
        raise TypeError(f"hard must be True or False, got {type(hard).__name__}")
    if period is not None:
        period_bounds(period, 0.0)  # validates the name
    return usd


def _status_moment(scope: str, given_window_hours: float,
                   now: datetime.datetime | float | str | None) -> tuple[float, float]:
    """The moment a status is asked for (now when None) and its window in hours, once the
    arguments are checked."""
    _scope_name(scope)
    window_hours = real_number(given_window_hours)
    if window_hours is None:
        raise TypeError("window_hours must be a number")
    if not MIN_WINDOW_HOURS <= window_hours <= MAX_WINDOW_HOURS:
        raise InputError("window_hours must be from one second (1/3600) to a year (8784), got "
                         f"{grouped_number(window_hours)}")
    moment = to_epoch(now, "now")
    return (time.time() if moment is None else moment), window_hours


def _line_dict(line: CostLine) -> dict[str, Any]:
    return {"kind": line.kind, "tokens": line.tokens, "usd_per_mtok": line.usd_per_mtok,
            "usd": line.usd}


# ---- rows read back ---------------------------------------------------------------------------


class _RowReader:
    """The values of one stored row, each checked as it is taken: one shoal never writes raises
    a :class:`DamagedLedgerError` naming the ledger, the table, the row and the field."""

    def __init__(self, ledger: str, table: str, row: str, values: dict[str, Any]) -> None:
        self._where = (ledger, table, row)
        self._values = values

    def damaged(self, field: str, problem: str) -> DamagedLedgerError:
        return DamagedLedgerError(*self._where, field, problem)

    def whole(self, field: str, most: int, unit: str) -> int:
        """A whole number from 0 to ``most`` (of ``unit``)."""
        value = self._values[field]
        if type(value) is not int:
            raise self.damaged(field, f"is {_shown(value)}, not a whole number")
        if not 0 <= value <= most:
            raise self.damaged(field, f"is {value:,}, not from 0 to {most:,} {unit}")
        return value

    def moment(self, field: str) -> float:
        """Epoch seconds from 1970 to before 9999 (see :data:`_TIME_RANGE`)."""
        value = self._values[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise self.damaged(field, f"is {_shown(value)}, not a time")
        if not _TIME_RANGE[0] <= value < _TIME_RANGE[1]:
            raise self.damaged(field, f"is {value!r}, not a time from {EARLIEST_MOMENT.date()} "
                                      f"to before {LATEST_MOMENT.date()}")
        return float(value)

    def text(self, field: str) -> str:
        """Text that is not blank."""
        value = self._values[field]
        if not isinstance(value, str):
            raise self.damaged(field, f"is {_shown(value)}, not text")
        if not value.strip():
            raise self.damaged(field, f"is {_shown(value)}, which is blank")
        return value

    def optional_text(self, field: str) -> str | None:
        value = self._values[field]
        return None if value is None else self.text(field)

    def date(self, field: str) -> str:
        """An ISO 8601 date, which is what a catalog's dates are checked to be."""
        value = self.text(field)
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise self.damaged(field, f"is {_shown(value)}, not a date") from None
        return value

    def optional_date(self, field: str) -> str | None:
        return None if self._values[field] is None else self.date(field)

    def optional_decision_id(self, field: str) -> str | None:
        """A route_task decision id (see :data:`DECISION_ID`), or None for a call routed by no
        decision."""
        value = self.optional_text(field)
        if value is not None and not DECISION_ID.fullmatch(value):
            raise self.damaged(field, f"is {_shown(value)}, not a route_task decision id ('d-' "
                                      "and 24 hex digits) or NULL")
        return value

    def one_of(self, field: str, allowed: Sequence[Any], said: str) -> Any:
        """One of ``allowed`` (compared by type too: 1.0 is no 1), which ``said`` names."""
        value = self._values[field]
        if not any(type(value) is type(choice) and value == choice for choice in allowed):
            raise self.damaged(field, f"is {_shown(value)}, not {said}")
        return value


def _shown(value: object) -> str:
    """A stored value as an error shows it: text quoted and cut, NULL as NULL."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"a blob of {len(value):,} bytes"
    return excerpt(value)


_USAGE_FIELDS = tuple(_USAGE_COLUMNS.split(", "))
_LINE_FIELDS = ("kind", "tokens", "usd_per_mtok", "usd")


def _stored(row: Sequence[Any], ledger: str) -> StoredUsage:
    """A ``shoal_usage`` row of ``ledger`` as read back, every value checked (see
    :class:`_RowReader`): every read of rows goes through here, and the queries that sum rows
    in SQL send the first row they find damaged here to be named."""
    values = dict(zip(_USAGE_FIELDS, row, strict=True))
    fields = _RowReader(ledger, "shoal_usage", f"row {values['id']}", values)
    counts = [fields.whole(name, MAX_TOKENS_PER_CALL, "tokens") for name in TOKEN_FIELDS]
    input_tokens, output_tokens, cached, written, reasoning = counts
    if cached + written > input_tokens:
        raise fields.damaged("cached_input_tokens", f"({cached:,}) and cache_write_tokens "
                             f"({written:,}) add up to more than input_tokens "
                             f"({input_tokens:,}), of which they are parts")
    catalog_date = fields.date("catalog_date")
    # Rows recorded before the ledger kept the price basis were priced as of the catalog date.
    prices_as_of = fields.optional_date("prices_as_of") or catalog_date
    return StoredUsage(
        id=values["id"], scope=fields.text("scope"), recorded_at=fields.moment("recorded_at"),
        model=fields.text("model"), input_tokens=input_tokens, output_tokens=output_tokens,
        cached_input_tokens=cached, cache_write_tokens=written, reasoning_tokens=reasoning,
        cost_nanousd=fields.whole("cost_nanousd", _MOST_NANOUSD, "nano-dollars"),
        line_items=_line_items(fields), catalog_date=catalog_date,
        decision_id=fields.optional_decision_id("decision_id"),
        request_id=fields.optional_text("request_id"), prices_as_of=prices_as_of,
        price_file=fields.optional_text("price_file"),
    )


def _line_items(fields: _RowReader) -> tuple[CostLine, ...]:
    """A row's priced lines, stored as a JSON list of objects of ``_LINE_FIELDS``."""
    text = fields.text("line_items")
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        raise fields.damaged("line_items", f"is {_shown(text)}, not JSON") from None
    if not isinstance(items, list):
        raise fields.damaged("line_items", f"is {_shown(text)}, not a list of priced lines")
    for item in items:
        if not _is_cost_line(item):
            raise fields.damaged("line_items", f"holds {_shown(item)}, not a priced line "
                                               f"({', '.join(_LINE_FIELDS)})")
    return tuple(CostLine(**item) for item in items)


def _is_cost_line(item: object) -> bool:
    if not isinstance(item, dict) or sorted(item) != sorted(_LINE_FIELDS):
        return False
    amounts = (item["usd_per_mtok"], item["usd"])
    return (isinstance(item["kind"], str) and type(item["tokens"]) is int and item["tokens"] >= 0
            and all(type(amount) in (int, float) and math.isfinite(amount) and amount >= 0
                    for amount in amounts))


def _stored_limit(row: Sequence[Any], scope: str, ledger: str) -> BudgetLimit:
    """A ``shoal_limits`` row (scope, limit_nanousd, hard, period, set_at) of ``ledger`` as read
    back for ``scope``, every value checked as :func:`_stored` checks a usage row's."""
    values = dict(zip(("scope", "limit_nanousd", "hard", "period", "set_at"), row, strict=True))
    fields = _RowReader(ledger, "shoal_limits", f"row of scope {values['scope']!r}", values)
    limit = fields.whole("limit_nanousd", _MOST_NANOUSD, "nano-dollars")
    hard = fields.one_of("hard", (0, 1), "0 (soft) or 1 (hard)")
    period = fields.one_of("period", (*PERIODS, None),
                           f"{', '.join(PERIODS)} or NULL (the scope's whole life)")
    return BudgetLimit(scope, _usd(limit), bool(hard), period, iso(fields.moment("set_at")))


def _check_same_request(stored: StoredUsage, model: str, counts: tuple[int, ...]) -> None:
    recorded = (stored.input_tokens, stored.output_tokens, stored.cached_input_tokens,
                stored.cache_write_tokens, stored.reasoning_tokens)
    if stored.model != model or recorded != counts:
        raise RequestConflictError(
            f"request_id {stored.request_id!r} was recorded in scope {stored.scope!r} at "
            f"{iso(stored.recorded_at)} for {stored.model} with tokens (input, output, cached, "
            f"cache write, reasoning) = {recorded}; this call says {model} with {counts}. "
            "Use a new request_id for a different call."
        )


def _check_charge(row: _UsageRow, limit: BudgetLimit | None, spent: int) -> None:
    """Refuse a call that would take its scope's spend (``spent`` before it, in the limit's
    period or ever) past a hard limit, or past what the ledger holds for a scope."""
    cost = row.cost_nanousd
    if limit is not None and limit.hard and spent + cost > _nano(limit.usd):
        raise BudgetExceededError(row.scope, limit, _usd(spent), _usd(cost))
    if spent + cost > _MOST_NANOUSD:
        # "The scope", not "scope": the CLI names a parameter leading a message by its option.
        per = f" in one {limit.period}" if limit is not None and limit.period else ""
        raise LedgerError(
            f"the scope {row.scope!r} has spent {format_usd(_usd(spent))}{per}; this call "
            f"({format_usd(_usd(cost))}) would take it past {format_usd(MAX_LIMIT_USD)}, the "
            f"most the ledger holds for a scope{per}"
        )


def limit_places(
    limit_usd: float, spent_usd: float | None = None, *, cost_usd: float | None = None
) -> int:
    """The decimals (at least, as :func:`format_usd` takes them) to show a limit and the
    amounts set against it with, so that what the figures say is true.

    A limit is shown with every digit it has: $1.005 is not $1.00. Spend beside it is shown
    with more digits where fewer would round it onto the limit or across it ($4.998 spent of
    $5.00 is not "$5.00 spent" with money left), and a call's cost where fewer would show it
    as no more than what is left, when it is more. The ledger keeps whole nano-dollars, so
    nine decimals always do; most limits and spends need only cents, and read as before.

    Args:
        limit_usd: The limit.
        spent_usd: What is spent against it, if the text says so.
        cost_usd: What a call costs, if the text sets it against what is left.
    """
    limit = exact_amount(limit_usd)
    exponent = limit.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # a finite amount: limits are checked when set
    places = max(2, -exponent)
    while places < 9 and not _reads_true(places, limit, spent_usd, cost_usd):
        places += 1
    return places


def _reads_true(places: int, limit: Decimal, spent_usd: float | None,
                cost_usd: float | None) -> bool:
    """Whether, shown to ``places`` decimals, spent reads as under, at or over the limit as it
    is, and a cost above what is left reads as above it."""
    if spent_usd is None:
        return True
    spent = exact_amount(spent_usd)
    shown_spent = rounded_usd(spent, places=places)
    if (shown_spent > limit) != (spent > limit) or (shown_spent < limit) != (spent < limit):
        return False
    if cost_usd is None:
        return True
    left = max(EXACT.subtract(limit, spent), Decimal(0))
    cost = exact_amount(cost_usd)
    return cost <= left or rounded_usd(cost, places=places) > rounded_usd(left, places=places)


def _over_limit_notes(limit: BudgetLimit, spent_usd: float) -> tuple[str, ...]:
    """A warning when a scope has already spent more than the limit just set on it."""
    if spent_usd <= limit.usd:
        return ()
    period = f" this {limit.period}" if limit.period else ""
    until = f"the {limit.period} ends or the limit" if limit.period else "the limit"
    outcome = (f"every call that costs anything is refused until {until} is raised" if limit.hard
               else "every call recorded is flagged as over it")
    places = limit_places(limit.usd, spent_usd)
    return (f"{limit.scope} has already spent {format_usd(spent_usd, places=places)}{period}, "
            f"over this limit of {format_usd(limit.usd, places=places)}: {outcome}",)


def _replaced_limit_note(earlier: BudgetLimit, limit: BudgetLimit) -> tuple[str, ...]:
    """A note when a new limit replaces a different one: a scope holds one limit, so a daily cap
    and a lifetime one cannot stand side by side, which a caller setting both may not expect."""
    if (earlier.usd, earlier.hard, earlier.period) == (limit.usd, limit.hard, limit.period):
        return ()
    return (f"replaces the earlier {_limit_words(earlier)}: a scope has one limit",)


def _limit_words(limit: BudgetLimit) -> str:
    per = f" per {limit.period}" if limit.period else ""
    shown = format_usd(limit.usd, places=limit_places(limit.usd))
    return f"{'hard' if limit.hard else 'soft'} limit of {shown}{per}"


def _record(stored: StoredUsage, *, duplicate: bool, spent: int,
            limit: BudgetLimit | None, notes: tuple[str, ...] = ()) -> UsageRecord:
    return UsageRecord(
        id=stored.id, scope=stored.scope, model=stored.model, recorded_at=iso(stored.recorded_at),
        input_tokens=stored.input_tokens, output_tokens=stored.output_tokens,
        cached_input_tokens=stored.cached_input_tokens,
        cache_write_tokens=stored.cache_write_tokens, reasoning_tokens=stored.reasoning_tokens,
        cost_usd=_usd(stored.cost_nanousd), line_items=stored.line_items,
        catalog_date=stored.catalog_date, prices_as_of=stored.prices_as_of,
        price_file=stored.price_file, decision_id=stored.decision_id,
        request_id=stored.request_id, duplicate=duplicate, spent_usd=_usd(spent),
        limit_usd=None if limit is None else limit.usd,
        over_limit=limit is not None and spent > _nano(limit.usd), notes=notes,
    )


@dataclass(frozen=True)
class _Burn:
    """What a scope spent in the burn-rate window, and over how long."""

    window_hours: float
    spent_usd: float
    span_hours: float

    @property
    def rate(self) -> float | None:
        """USD per hour, or None over less than ``MIN_BURN_SPAN_S`` of history."""
        if self.span_hours * 3600 < MIN_BURN_SPAN_S:
            return None
        return self.spent_usd / self.span_hours


def _status(scope: str, moment: float, limit: BudgetLimit | None, records: int, lifetime: int,
            spent: int, burn: _Burn, notes: tuple[str, ...] = ()) -> BudgetStatus:
    period_start = period_end = None
    if limit is not None and limit.period is not None:
        period_start, period_end = period_bounds(limit.period, moment)

    remaining = hours = reached = None
    rate = burn.rate
    if limit is not None:
        remaining = _usd(_nano(limit.usd) - spent)
        if remaining > 0 and rate:
            when = moment + remaining / rate * 3600
            # Past its period's end the limit is not reached: the period's spend starts again.
            # A date from 9999 on (a slow burn of a large limit) has no ISO 8601 form.
            if when < (LATEST_MOMENT.timestamp() if period_end is None else period_end):
                hours, reached = remaining / rate, iso(when)

    return BudgetStatus(
        scope=scope, as_of=iso(moment), spent_usd=_usd(spent), lifetime_spent_usd=_usd(lifetime),
        records=records, limit=limit,
        period_start=None if period_start is None else iso(period_start),
        period_end=None if period_end is None else iso(period_end),
        remaining_usd=remaining, window_hours=burn.window_hours,
        window_spent_usd=burn.spent_usd, burn_span_hours=burn.span_hours,
        burn_rate_usd_per_hour=rate, hours_to_limit=hours, limit_reached_at=reached,
        # Reaching a limit is allowed (a hard limit refuses only what would pass it).
        exceeded=limit is not None and spent > _nano(limit.usd), notes=notes,
    )


# ---- module-level API over the configured ledger ----------------------------------------------

_open: dict[tuple[str, int], Ledger] = {}
# Notes on a ledger found replaced, kept for the next opening when reopening it failed.
_unsaid_notes: dict[tuple[str, int], tuple[str, ...]] = {}
_open_lock = threading.Lock()
# How often one call of the module's functions opens the ledger again when its file is replaced
# between the opening and the transaction (a backup moved into place while records are written).
REPLACED_ATTEMPTS = 3
_Result = TypeVar("_Result")


def open_ledger(location: str | Path | None = None, *, must_exist: bool = False) -> Ledger:
    """The process's ledger at ``location`` (default :func:`default_location`), opened once.

    A forked child opens its own connection rather than sharing its parent's. With
    ``must_exist``, a SQLite file that does not exist yet is an error (see :class:`Ledger`).
    """
    key = (_location_text(location), os.getpid())
    with _open_lock:
        ledger = _open.get(key)
        change = None
        if ledger is not None and ledger._store.outdated():
            # A ledger read-only to this process when opened has since become writable, or its
            # file was removed or replaced: the path is what names the ledger, as it does for
            # every other process, so the file it names now is opened (a new one when removed).
            change = ledger._store.replaced()
            ledger.close()
            del _open[key]
            ledger = None
        if change is not None:
            note = (f"the ledger file {key[0]} was {change} after this process opened it, so "
                    "the file its path names now is used: limits and records kept only in the "
                    "earlier file are not in it")
            logger.warning("%s", note)
            # Kept apart until the opening succeeds: the file can be replaced again while it
            # is opened, and the retry that opens it then still owes the note.
            _unsaid_notes[key] = (*_unsaid_notes.get(key, ()), note)
        if ledger is None:
            ledger = Ledger(key[0], must_exist=must_exist)
            _open[key] = ledger
        ledger._notes = (*ledger._notes, *_unsaid_notes.pop(key, ()))
        return ledger


def _retried_if_replaced(attempt: Callable[[], _Result]) -> _Result:
    """``attempt()``, a call through :func:`open_ledger`, made again when the ledger file is
    replaced between the opening and the transaction.

    :func:`open_ledger` opens the file the path names now, but the file can be replaced after
    that check, and the transaction then refuses before it begins: nothing was written, so
    the attempt is made again on the file the path names now, which gives the usual note. Request
    ids keep a record from being made twice all the same. A file replaced at every attempt is
    refused with advice to try again, since leaving it in place is all it takes.
    """
    for _ in range(REPLACED_ATTEMPTS - 1):
        try:
            return attempt()
        except LedgerReplacedError as error:
            logger.info("%s; trying again on the file its path names now", error)
    try:
        return attempt()
    except LedgerReplacedError as error:
        # "try again" is what tells a server's client the problem passes (see
        # shoal.server_policy.server_file_problem).
        raise LedgerError(
            f"the ledger file {error.file} was {error.change} each of the {REPLACED_ATTEMPTS} "
            f"times this call opened it; {error.outcome}: try again once the file is left in "
            "place") from None


def _with_ledger_notes(ledger: Ledger, result: Any) -> Any:
    """``result`` (a record, limit or status) with the notes ``ledger`` holds for its next
    result, which are then given."""
    notes, ledger._notes = ledger._notes, ()
    return replace(result, notes=(*notes, *result.notes)) if notes else result


def check_location(location: str | Path | None = None) -> None:
    """Refuse, before a server starts, a ledger location that its first use would refuse.

    A SQLite file that is missing or empty is accepted and not created (the first record or
    limit makes it), but its folder must exist unless it is shoal's own data directory; a file
    that exists must be a regular file, and when it has content it is opened, so one that is
    not a shoal ledger is refused now. A PostgreSQL URL is connected to.

    Args:
        location: Ledger location; :func:`default_location` when None.

    Raises:
        LedgerError, ValueError: The message says what is wrong with the location.
    """
    location = _location_text(location)
    _check_location_form(location)
    if not is_postgres_url(location):
        file = Path(location).expanduser()
        _check_folder(file, create=False)
        if not _file_size(file):
            return
    open_ledger(location)


def write_refusal(location: str | Path | None = None) -> str | None:
    """Why this process could read the SQLite ledger at ``location`` but not record to it or set
    a limit (a read-only file, side file or folder), with advice; None when it may write, or
    when only a write would tell (a PostgreSQL URL, a folder not made yet). Nothing is created.

    Args:
        location: Ledger location; :func:`default_location` when None.
    """
    location = _location_text(location)
    if is_postgres_url(location):
        return None
    file = Path(location).expanduser()
    try:
        if not file.parent.is_dir():
            return None
        return _unwritable_cause(file)
    except OSError:
        return None


def unmade_ledger(location: str | Path | None = None) -> Path | None:
    """The SQLite file at ``location`` when no ledger has been made in it yet, else None.

    A SQLite ledger is made by its first record or limit; until then its file is missing, or
    empty with nothing in a write-ahead log. Opening it would make it (the file, its log, the
    writer lock, and shoal's data directory when that is missing), so a reader that must leave
    nothing behind asks here first and reads "nothing recorded" instead. Nothing is created
    here. A PostgreSQL location gives None: its tables are made when it is connected to.

    Args:
        location: Ledger location; :func:`default_location` when None.

    Raises:
        LedgerError, ValueError: The location is malformed, its folder (other than shoal's
            data directory) does not exist, or it is not a regular file.
    """
    location = _location_text(location)
    _check_location_form(location)
    if is_postgres_url(location):
        return None
    file = Path(location).expanduser()
    _check_folder(file, create=False)
    return file if _not_made(file, _file_size(file)) else None


def no_ledger_note(file: Path) -> str:
    """What a read of a ledger not made yet (see :func:`unmade_ledger`) says about it."""
    return (f"no ledger yet at {file}: nothing has been recorded there and no limit set (the "
            "first record or limit makes it)")


def check_scope(scope: object) -> None:
    """Refuse what the ledger does not take as a scope name.

    Raises:
        TypeError, ValueError: It is not text, is blank, longer than ``MAX_SCOPE_LENGTH`` or holds
            a character that does not print (a control or format character, a lone surrogate,
            a space other than ' '), or starts or ends with whitespace.
    """
    _scope_name(scope)


@atexit.register
def close_ledgers() -> None:
    """Close every ledger :func:`open_ledger` opened in this process."""
    with _open_lock:
        for key, ledger in list(_open.items()):
            if key[1] == os.getpid():
                ledger.close()
            del _open[key]


def record_usage(
    scope: str,
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    decision_id: str | None = None,
    request_id: str | None = None,
    at: datetime.datetime | float | str | None = None,
    ledger: str | Path | None = None,
    catalog: Catalog | None = None,
) -> UsageRecord:
    """Charge one model call to ``scope``, priced now from the catalog.

    Token counts follow :func:`shoal.cost.estimate_cost` (cached and cache-write tokens are
    parts of ``input_tokens``; reasoning tokens come on top of ``output_tokens``). The row
    stores the rates applied, the catalog date and the price basis (the model's ``as_of`` date,
    and the user price file it came from, if any). If the scope has a hard limit and this call
    would take the period's spend past it, nothing is recorded and
    :class:`BudgetExceededError` says by how much.

    Args:
        scope: What the call is charged to, e.g. ``session:4f2a`` or ``project:docs``.
        model: Catalog id of the model that answered.
        input_tokens: Prompt tokens, cached parts included.
        output_tokens: Visible output tokens.
        cached_input_tokens: Prompt tokens read from the cache.
        cache_write_tokens: Prompt tokens written to the cache.
        reasoning_tokens: Hidden reasoning tokens. Each count is 0 when left out; at least one
            must be above 0.
        decision_id: The route_task decision the call followed (``d-`` and 24 hex digits),
            kept for savings reports. Decisions are not stored, so the form is checked, not
            that the decision was made.
        request_id: Idempotency key: recording the same id in the same scope again returns the
            first record (``duplicate=True``) and charges nothing.
        at: When the call happened (timezone-aware datetime, epoch seconds or ISO 8601 text,
            which is UTC unless it names a zone, as on the command line); now when None. From
            2020-01-01 (UTC) to at most five minutes from now. Limits are checked against the
            period containing it.
        ledger: Ledger location; :func:`default_location` when None.
        catalog: Catalog to price from; the configured one when None (the shipped catalog with
            ``SHOAL_PRICES`` applied).

    Returns:
        The record, with the scope's spend after it.

    Raises:
        BudgetExceededError: A hard limit would be exceeded; nothing was recorded.
        LedgerError: The call's cost, or the scope's spend with it, is more than the ledger
            can hold (see ``MAX_NANOUSD``), or the ledger cannot be written: damaged, busy past
            ``BUSY_TIMEOUT_S``, read-only to this user, written by a newer shoal (the message
            says which).
        RequestConflictError: ``request_id`` was recorded with a different model or counts.
        UnknownModelError: The model is not in the catalog.
        ValueError, TypeError: A count, scope or id is malformed, or every count is 0 (the
            message names it).
    """
    # Every argument is checked, and the call priced, before the ledger is opened: opening a
    # new one would make its file for a call that is then refused.
    call = _priced_call(
        scope, model, input_tokens=input_tokens, output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens,
        reasoning_tokens=reasoning_tokens, decision_id=decision_id, request_id=request_id,
        at=at, catalog=catalog,
    )

    def attempt() -> UsageRecord:
        opened = open_ledger(ledger)
        return _with_ledger_notes(opened, opened._record_call(call))

    return _retried_if_replaced(attempt)


def import_usage(
    records: Iterable[Mapping[str, Any]],
    *,
    ledger: str | Path | None = None,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> UsageImport:
    """Charge many calls, each a mapping of :func:`record_usage`'s arguments, in one transaction.

    Each record is checked, priced and charged as :func:`record_usage` would charge it, in the
    order given: ``scope`` and ``model`` are required, the token counts are 0 when left out (at
    least one above 0), and ``decision_id``, ``request_id`` and ``at`` are optional (a record
    without ``at`` is dated when it is recorded). A record whose ``request_id`` its scope holds
    already, from an earlier record or import or from earlier in this one, is counted as
    already present and charged nothing, so importing the same log again records nothing twice
    (records without a ``request_id`` have no such guard).

    All or nothing: the import is one transaction, so a record refused (a malformed field, an
    unknown model, a request id recorded with other counts, a hard limit it would pass) stops
    it and nothing of it is written; the error names the record's place and, as record_usage
    does, the field or the limit. Each record is set against its scope's limit as a call of
    its own would be, with the spend of the records before it: a hard limit refuses the record
    that would pass it (so the whole import), a soft one lets it in and counts it in
    ``over_limit``. Every record is checked and priced first, before the ledger is opened
    (so a log refused there makes no ledger file), into a temporary file that holds the rows
    while memory holds one record at a time (a generator of records keeps it flat); the rows
    are then written in the one transaction, and the write-ahead log is emptied once, at its
    commit. Other writers of the ledger wait for that transaction (up to ``BUSY_TIMEOUT_S``),
    not for the checking; on PostgreSQL only writers to the import's scopes wait.

    Args:
        records: The calls, e.g. dicts read from a JSON Lines usage log.
        ledger: Ledger location; :func:`default_location` when None.
        catalog: Catalog to price from; the configured one when None.
        progress: Called as ``progress(step, done, total)`` every ``IMPORT_PROGRESS_EVERY``
            records and at the last, through the step ``checking`` and then ``recording``;
            ``total`` is ``len(records)`` when it has a length, else, while checking, the
            records read so far.

    Returns:
        Records given, added and already present, and what the added ones cost.

    Raises:
        ImportRecordError: A record was refused (``index`` says which, ``problem`` why, and
            the error it stood for is its ``__cause__``: a ``BudgetExceededError``,
            ``RequestConflictError``, ``UnknownModelError``, ``TypeError`` or ``ValueError``;
            a ``RepeatedRequestError``, whose ``earlier`` is the first record's place, when the
            request id came earlier in the import with other counts); nothing was recorded.
        LedgerError: The ledger cannot be written (as for :func:`record_usage`).
        KeyboardInterrupt: Ctrl-C stopped it; its ``import_recorded`` says what was left:
            False (nothing of the import), True (it came once the import was committed) or
            None (it came as the import was committed, so either).
    """
    check_callback("progress", progress)
    # Every record is checked and priced before the ledger is opened, as record_usage checks
    # its call: a log refused (the wrong file given) makes no ledger file, and neither does an
    # empty one.
    with _CheckedRecords.of(records, catalog or configured_catalog(), progress) as checked:
        if not checked.count:
            return _ImportTally().summary()

        def attempt() -> UsageImport:
            opened = open_ledger(ledger)
            return _with_ledger_notes(opened, opened._import(checked, progress))

        return _retried_if_replaced(attempt)


def set_limit(
    scope: str,
    usd: float,
    *,
    hard: bool = True,
    period: str | None = None,
    ledger: str | Path | None = None,
) -> BudgetLimit:
    """Set ``scope``'s spending limit, replacing any earlier one.

    Args:
        scope: The scope to limit.
        usd: Most the scope may spend, in USD, per period or ever: 0, or from $0.000000001
            (the ledger keeps whole nano-dollars) to ``MAX_LIMIT_USD`` ($4,611,686,018.42).
        hard: Refuse records that would exceed it (True), or record and flag them (False).
        period: ``hour``, ``day``, ``week`` (from Monday) or ``month``, calendar periods in UTC;
            None limits the scope's whole life.
        ledger: Ledger location; :func:`default_location` when None.

    Returns:
        The limit as stored.

    Raises:
        TypeError: ``usd`` is not a number, ``hard`` not a bool, or ``ledger`` not a path.
        LedgerError: The ledger cannot be written (as for :func:`record_usage`).
        ValueError: A malformed scope, amount or period (the message names it).
    """
    # Checked before the ledger is opened: opening a new one would make its file.
    usd = _check_limit(scope, usd, hard, period)

    def attempt() -> BudgetLimit:
        opened = open_ledger(ledger)
        return _with_ledger_notes(opened, opened.set_limit(scope, usd, hard=hard, period=period))

    return _retried_if_replaced(attempt)


def budget_status(
    scope: str,
    *,
    window_hours: float = 24.0,
    now: datetime.datetime | float | str | None = None,
    ledger: str | Path | None = None,
) -> BudgetStatus:
    """What ``scope`` has spent, has left, how fast it spends, and when it hits its limit.

    The burn rate is the spend of the last ``window_hours`` over the time it was spent in: from
    the window's start, or from the scope's first record when that is later. Over less than
    ``MIN_BURN_SPAN_S`` (ten minutes) of history there is no rate and no projection: a rate from
    seconds of data is the size of the last call, not a pace. The projection divides the
    remaining budget by the rate; with a periodic limit it is reported only when it falls
    before the period ends. A SQLite ledger not made yet (see :func:`unmade_ledger`) reads as
    empty (nothing spent, no limit, no records, and a note that says so) and is left unmade.

    Args:
        scope: The scope.
        window_hours: Burn-rate window in hours.
        now: The moment to report at (timezone-aware datetime, epoch seconds or ISO 8601 text,
            which is UTC unless it names a zone), from 1970-01-01 to before 9999-01-01 UTC; now
            when None.
        ledger: Ledger location; :func:`default_location` when None.

    Raises:
        LedgerError: The ledger cannot be read: damaged, written by a newer shoal, or not a
            ledger (the message says which).
    """

    def attempt() -> BudgetStatus:
        unmade = unmade_ledger(ledger)
        if unmade is None:
            opened = open_ledger(ledger)
            return _with_ledger_notes(
                opened, opened.budget_status(scope, window_hours=window_hours, now=now))
        moment, hours = _status_moment(scope, window_hours, now)
        nothing = _Burn(float(hours), 0.0, 0.0)
        return _status(scope, moment, None, 0, 0, 0, nothing, notes=(no_ledger_note(unmade),))

    return _retried_if_replaced(attempt)


def read_usage(
    scope: str | None = None,
    *,
    since: float | None = None,
    until: float | None = None,
    ledger: str | Path | None = None,
) -> tuple[list[StoredUsage], tuple[str, ...]]:
    """The rows :meth:`Ledger.usage` reads from the process's ledger at ``ledger``, with the
    notes it holds for its next result (a file replaced since it was opened), read again on the
    file the path names now when the file is replaced during the read."""

    def attempt() -> tuple[list[StoredUsage], tuple[str, ...]]:
        opened = open_ledger(ledger)
        rows = opened.usage(scope, since=since, until=until)
        notes, opened._notes = opened._notes, ()
        return rows, notes

    return _retried_if_replaced(attempt)
