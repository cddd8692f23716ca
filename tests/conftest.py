"""Session-wide test settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point every ledger write of the session, in-process or in a server subprocess that
    inherits the environment, at a temporary file rather than the user's data directory."""
    path = tmp_path_factory.mktemp("session-ledger") / "ledger.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOAL_LEDGER", str(path))
        # The user's own files would change what the tests expect; a test sets what it needs.
        for variable in USER_FILE_VARIABLES:
            patch.delenv(variable, raising=False)
        yield path


USER_FILE_VARIABLES = ("SHOAL_PRICES", "SHOAL_ROUTER", "SHOAL_DEVICES", "SHOAL_ARCHITECTURES",
                       "SHOAL_FEEDBACK_DB")
