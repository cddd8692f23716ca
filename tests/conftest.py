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
        yield path
