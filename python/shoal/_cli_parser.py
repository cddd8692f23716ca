"""The argument parser class of every shoal command line."""

from __future__ import annotations

import argparse
from typing import Any


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes options only by their full names.

    argparse's default accepts any unambiguous prefix, so a mistyped ``--out`` silently became
    ``--output-tokens`` and failed with an unrelated message. Subcommand parsers are built from
    the parent's class, so they inherit this too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
