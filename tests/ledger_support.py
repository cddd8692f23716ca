"""Ledger locations for tests: a SQLite file, or a fresh database on a real PostgreSQL server.

The server is the one named by SHOAL_TEST_POSTGRES_URL (.ci/run starts one); without it, a
private server is started from the local PostgreSQL binaries for the test session when they
exist (with fsync=off: the tests kill clients, never the server). Only when neither works are
the PostgreSQL tests skipped, with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be reached or started; the message says why."""


def _run_as_server_user(command: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def start_private_server() -> tuple[str, Path]:
    """Start a throwaway server on 127.0.0.1; returns its URL and directory."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = binaries[-1] if binaries else shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    bindir = Path(initdb).parent
    directory = Path(tempfile.mkdtemp(prefix="shoal-test-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    steps = [
        [str(bindir / "initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres",
         "-E", "UTF8", "--no-sync"],
        [str(bindir / "pg_ctl"), "-D", str(directory / "data"), "-l", str(directory / "log"),
         "-w", "-t", "60", "-o",
         f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c max_connections=60 "
         "-c fsync=off",
         "start"],
    ]
    for step in steps:
        try:
            done = _run_as_server_user(step)
        except (OSError, subprocess.SubprocessError) as error:
            shutil.rmtree(directory, ignore_errors=True)
            raise PostgresUnavailable(f"{Path(step[0]).name} could not run: {error}") from None
        if done.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)
            raise PostgresUnavailable(
                f"{Path(step[0]).name} failed: {(done.stderr or done.stdout).strip()[-300:]}"
            )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", directory


def stop_private_server(directory: Path) -> None:
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]).parent
    _run_as_server_user([str(bindir / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate",
                         "stop"])
    shutil.rmtree(directory, ignore_errors=True)


def server_url() -> Iterator[str]:
    """Yield a server URL for the session (starting a private server when none is named)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable(
            "psycopg is not installed (pip install 'shoal[postgres]')"
        ) from None

    named = os.environ.get("SHOAL_TEST_POSTGRES_URL", "").strip()
    if named:
        yield named
        return
    url, directory = start_private_server()
    try:
        yield url
    finally:
        stop_private_server(directory)


def fresh_database(server: str) -> Iterator[str]:
    """Create an empty database on ``server``, yield its URL, drop it afterwards."""
    import psycopg

    name = f"shoal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the session, or the test is skipped with the reason."""
    try:
        yield from server_url()
    except PostgresUnavailable as error:
        pytest.skip(f"no PostgreSQL server: {error}")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ledger location of each kind: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.sqlite3")
        return
    server = request.getfixturevalue("postgres_server")
    yield from fresh_database(server)
