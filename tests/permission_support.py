"""Files this user may only read: a folder anyone may write in, and a function run as a user
whom file permissions bind (root may write any file)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.catalog import configured_catalog


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder anyone may write in, as /tmp is: SQLite would make its side files there."""
    folder = Path(tempfile.mkdtemp(prefix="shoal-read-only-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def as_another_user(function: Callable[[], Any]) -> Any:
    """``function()`` run where file permissions apply: in this process for a user other than
    root, else in a child process that has dropped to the unprivileged user 65534 (root may
    write any file). The result travels back as JSON."""
    if os.geteuid() != 0:
        return function()
    configured_catalog()  # read now: the package folder may be closed to that user
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns of forking beside other threads (an MCP test's idle workers): the
        # child only runs shoal's own code, which holds none of their locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = ["ok", function()]
        except BaseException as error:  # reported to the parent
            payload = ["error", f"{type(error).__name__}: {error}"]
        os.write(writer, json.dumps(payload).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        kind, result = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert kind == "ok", result
    return result


def owned_by_that_user(*paths: Path) -> None:
    """Give files to the user :func:`as_another_user` runs as, so that it may change their mode."""
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, 65534, 65534)
