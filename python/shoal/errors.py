"""The base of every error shoal raises on purpose, so that one ``except`` catches them all.

Each of shoal's error classes derives from :class:`ShoalError` and from the built-in exception
it has always been (``ValueError``, for all but a damaged install's ``DamagedInstallError``, an
``OSError`` as an unreadable file is), so code that catches ``ValueError`` keeps working. An
argument of the wrong type (``None`` for a text) is a plain ``TypeError``, as in Python's own
functions; ``route`` alone raises its ``RoutingError`` for those too.
"""

from __future__ import annotations


class ShoalError(Exception):
    """An input, file or setting shoal refuses; the message names what to fix."""


class InputError(ShoalError, ValueError):
    """A refused argument or input for which no more specific class applies; the message names
    the parameter and the value (cut to an excerpt)."""


def refusal(error: ValueError) -> ValueError:
    """``error`` as a :class:`ShoalError`: the cores (Rust and pure) raise plain ``ValueError``
    for an input they refuse (an unpaired surrogate, a token id no encoding defines), which the
    library passes on as :class:`InputError` with the same message."""
    return error if isinstance(error, ShoalError) else InputError(str(error))
