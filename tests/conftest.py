"""Session-wide test settings."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures several test modules share: ledger locations of each kind (ledger_support) and a
# folder anyone may write in (permission_support).
pytest_plugins = ("ledger_support", "permission_support")

# The date the catalog's retirements are judged against in every test (SHOAL_TODAY, set for the
# session, so server subprocesses see it too): the catalog's models retire on dates of their own,
# and no result may change with the wall clock. A test that needs another date sets SHOAL_TODAY
# or patches shoal.catalog.today.
TEST_TODAY = datetime.date(2026, 12, 5)


@pytest.fixture(scope="session", autouse=True)
def private_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point every ledger write of the session, in-process or in a server subprocess that
    inherits the environment, at a temporary file rather than the user's data directory; the
    outcomes record_outcome keeps too."""
    folder = tmp_path_factory.mktemp("session-ledger")
    path = folder / "ledger.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOAL_LEDGER", str(path))
        # The user's own files would change what the tests expect; a test sets what it needs.
        for variable in USER_FILE_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("SHOAL_FEEDBACK_DB", str(folder / "feedback.sqlite3"))
        # Every test, in-process or in a server subprocess, judges retirements on TEST_TODAY.
        patch.setenv("SHOAL_TODAY", TEST_TODAY.isoformat())
        yield path


USER_FILE_VARIABLES = ("SHOAL_PRICES", "SHOAL_ROUTER", "SHOAL_DEVICES", "SHOAL_ARCHITECTURES",
                       "SHOAL_FEEDBACK_DB")


@pytest.fixture(autouse=True)
def shoal_environment_restored() -> Iterator[None]:
    """Put the SHOAL_* variables back after each test: a command run in-process sets
    SHOAL_PRICES and SHOAL_LEDGER from its options, as the CLI does for its one process."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("SHOAL_")}
    yield
    for name in [name for name in os.environ if name.startswith("SHOAL_")]:
        if name not in saved:
            del os.environ[name]
    os.environ.update(saved)
