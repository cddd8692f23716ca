"""The data files shoal ships and reads at run time, checked against their SHA-256 digests.

A file damaged or edited in an install (a truncated download, a hand edit, a bad merge) would
otherwise fail deep inside a call, with a parser's message naming no file, or, worse, give other
answers without a word: an IANA list without ``COM`` finds no address at ``acme-corp.com``. Each
file is checked the first time it is read, and ``shoal serve`` checks them all before it starts,
so that a damaged install stops with one line naming the file and saying to reinstall.

The vocabularies and the Unicode class table are checked the same way by ``shoal._pure.tokens``,
which holds their digests beside the Rust build's. ``mt_bench_questions.jsonl`` is an example
input that shoal itself never reads, so it has no digest here.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from shoal.errors import ShoalError

DATA_DIR = Path(__file__).resolve().parent / "data"

# SHA-256 of each data file as shipped. A change to a file must come with its new digest here;
# tests/test_shipped_data.py fails with the digest to write when they differ.
SHIPPED_SHA256 = {
    "architectures.json": "fe8a91c3fc0efb79687ac8e92ce984ba949facf6a06a6a2bf303acf74bd09d5a",
    "confidence_calibration.json":
        "13abe180e50760e57565446b7925f158c4e99acc6b885febd9d48950890612c0",
    "devices.json": "05027c00ceec560d89eccef227e5d1673718397f242f6c4faa5bcca06c63fd97",
    "measured.json": "2d29ce2d818376b732700cfff2971f60579d0a8db98029d1711542b2a2d59323",
    "models.json": "adff760f2f87952832a6b624e0192ce387e064cd0fbeee358fe9af5d66e0b94a",
    "nodes.json": "6da4cee738e395c15d38629c1ea4eba416138a165a8a3e1b0201ef2edcaa478e",
    "quantisations.json": "6dc92b4018a805bc05948563579c829c6e29430d675d82b58ae941593636f5b8",
    "router_default.json": "a1ff13437aec0d0530f0fa201b67d23e9cdd319c68d669de60d62e41db69b0d4",
    "tlds-alpha-by-domain.txt":
        "16e0914a32c468d918df00db2220cd77a93d2b7bff90789c77a29e6a6422071f",
}


class DamagedInstallError(ShoalError, OSError):
    """A data file shipped with shoal is missing, unreadable or not the genuine one; the message
    names the file and says to reinstall. An OSError, as a file that cannot be read is, so
    callers handle the two alike."""


def check_digest(path: Path, contents: bytes, expected: str, *, kind: str = "data file",
                 decompressed: bool = False) -> None:
    """Raise :class:`DamagedInstallError` unless ``contents`` (of ``path``, decompressed if
    ``decompressed``) has the SHA-256 ``expected``."""
    digest = hashlib.sha256(contents).hexdigest()
    if digest != expected:
        raise DamagedInstallError(
            f"{kind} {path} has SHA-256 {digest}{' once decompressed' if decompressed else ''}, "
            f"expected {expected}; reinstall shoal to restore the genuine file"
        )


def unreadable(path: Path, error: BaseException, *, kind: str = "data file") -> DamagedInstallError:
    """The error for a shipped file that cannot be read: one line, the file named once."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return DamagedInstallError(
        f"{kind} {path} cannot be read ({reason}); reinstall shoal to restore it"
    )


def read_bytes(name: str) -> bytes:
    """The contents of the shipped data file ``name``, after checking its digest.

    Raises:
        DamagedInstallError: The file is missing, unreadable or not the genuine one.
    """
    path = DATA_DIR / name
    try:
        contents = path.read_bytes()
    except OSError as error:
        raise unreadable(path, error) from None
    check_digest(path, contents, SHIPPED_SHA256[name])
    return contents


def read_text(name: str) -> str:
    """The text of the shipped data file ``name`` (UTF-8), after checking its digest."""
    return read_bytes(name).decode("utf-8")


@functools.cache
def verify(name: str) -> None:
    """Check the shipped data file ``name`` once per process, for a reader that opens the file
    itself (a parser with a file's own error messages). A failed check is not remembered."""
    read_bytes(name)


def verify_all() -> None:
    """Check every shipped data file, as ``shoal serve`` does before it starts."""
    for name in SHIPPED_SHA256:
        verify(name)
