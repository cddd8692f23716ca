"""The argument parser class of every shoal command line."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from shoal.excerpts import as_typed, escaped, excerpt
from shoal.files import not_utf8

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# The longest id (a model, device, node, format or request id) a command takes, as the MCP tools'
# id arguments are capped: no real id comes near, and an error that quoted a longer one whole
# would bury what it says.
MAX_ID_CHARACTERS = 200


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes options only by their full names.

    argparse's default accepts any unambiguous prefix, so a mistyped ``--out`` silently became
    ``--output-tokens`` and failed with an unrelated message. Subcommand parsers are built from
    the parent's class, so they inherit this too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # Every `type=Path` option goes through `named_path`, so '' is an error, not the
        # current folder; every `type=int` and `type=float` one through `whole_number` and
        # `decimal_number`, which take plain notation only.
        self.register("type", Path, named_path)
        self.register("type", int, whole_number)
        self.register("type", float, decimal_number)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse, and reject arguments this parser does not know with its own usage line.

        Left to argparse, an unknown option of a subcommand travels up and is reported under
        the top-level usage (``shoal [-h] ... COMMAND``), which does not show the options the
        subcommand has. No shoal command passes arguments through, so nothing is lost.
        """
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """Write ``message`` (help, usage, the version) and flush it, letting a failed write
        raise: argparse's own ignores it, so ``shoal --help > /dev/full`` succeeded with
        nothing written."""
        if message:
            stream = file or sys.stderr
            stream.write(message)
            flush = getattr(stream, "flush", None)
            if flush is not None:
                flush()

    def error(self, message: str) -> NoReturn:
        """argparse's error, with what the user typed escaped where it is not printable (see
        `shoal.excerpts.escaped`): argparse quotes unknown arguments and bad choices raw."""
        super().error(escaped(message))


def named_path(value: str) -> Path:
    """A path typed on the command line. ``Path('')`` is ``.``, so an empty value (a shell
    variable that was never set) would quietly name the current folder."""
    if not value:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return Path(value)


# What `int` and `float` take and a number typed for shoal must not be: digit separators
# ('1_000'), digits of other scripts ('١٢'), spaces around, and for `float` an exponent
# ('1e-10', which an error would echo back in the same notation), 'inf' and 'nan'.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_DECIMAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


# Far past what any option takes (tokens, bytes, neighbours), yet short enough for an option's
# own bound to quote whole and to convert to a float: more digits are refused as they are.
MAX_WHOLE_NUMBER_DIGITS = 36


def whole_number(value: str) -> int:
    """A whole number typed on the command line: ASCII digits with an optional sign."""
    if not _WHOLE_NUMBER.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"not a whole number: {excerpt(value)}; write plain digits, such as 4096")
    digits = len(value.lstrip("+-").lstrip("0"))
    if digits > MAX_WHOLE_NUMBER_DIGITS:
        # Refused here, before an option's own bound quotes it whole or a float() of it fails.
        raise argparse.ArgumentTypeError(
            f"{excerpt(value)} ({digits:,} digits) is larger than any option takes")
    return int(value)


class TypedNumber(float):
    """A number of the command line, kept with the digits typed: an error quoting it (through
    :func:`shoal.excerpts.grouped_number`) shows 99,999,999,999,999,999,999, not the float's
    100,000,000,000,000,000,000."""

    spelling: str

    def __new__(cls, spelling: str) -> TypedNumber:
        number = super().__new__(cls, spelling)
        number.spelling = spelling
        return number


def decimal_number(value: str) -> float:
    """A number typed on the command line in plain decimal notation: ASCII digits with an
    optional sign and decimal point; its errors quote the digits typed."""
    if not _DECIMAL_NUMBER.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"not a plain decimal number: {excerpt(value)}; write digits with an optional sign "
            "and decimal point, such as 0.25 (no exponent, no '_')")
    number = float(value)
    # Past a float's range the digits would read as inf, or as 0 for a figure that is not.
    if math.isinf(number) or (number == 0 and value.strip("+-0.")):
        raise argparse.ArgumentTypeError(
            f"{excerpt(value)} is too {'large' if number else 'small'} to read as a number")
    return TypedNumber(value)


def identifier(value: str) -> str:
    """An id typed on the command line, refused past `MAX_ID_CHARACTERS` before a lookup that
    fails quotes it whole."""
    if len(value) > MAX_ID_CHARACTERS:
        raise argparse.ArgumentTypeError(too_long_an_id(value))
    return value


def too_long_an_id(value: str) -> str:
    """What is wrong with an id past `MAX_ID_CHARACTERS`, quoting an excerpt of it."""
    return (f"an id is at most {MAX_ID_CHARACTERS} characters, got {len(value):,} "
            f"({excerpt(value)})")


def split_ids(value: str | None, option: str) -> list[str]:
    """The comma-separated ids of ``option``; an empty one (``a,,b``, ``a,``, ``,a``) is
    refused, as an id lost in editing more often than a wish for none. A value of nothing but
    commas names nothing, which each command refuses or reads as its default."""
    items = [item.strip() for item in (value or "").split(",")]
    too_long = next((item for item in items if len(item) > MAX_ID_CHARACTERS), None)
    if too_long is not None:
        raise ValueError(f"{option}: {too_long_an_id(too_long)}")
    if any(items) and not all(items):
        raise ValueError(f"{option} has an empty entry ({excerpt(value)}); list ids separated by "
                         "single commas, with no comma before the first or after the last")
    return [item for item in items if item]


def once_each(ids: list[str], option: str) -> list[str]:
    """``ids`` as given, refused when one is named twice: a repeat is more often a slip for
    another id than a wish to count one twice (a sweep would run it twice)."""
    repeated = sorted({item for item in ids if ids.count(item) > 1})
    if repeated:
        raise ValueError(f"{option} names {', '.join(repeated)} more than once; list each once")
    return ids


def decode_text_arguments(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    file_name_types: Collection[object] = (),
) -> None:
    """Decode again, as UTF-8, the text arguments (not the paths, see `undecodable_argument`)
    that an ASCII-only locale made Python read as lone surrogates (see
    `shoal.excerpts.as_typed`); a path keeps the form the system opens it by."""
    for action in _text_actions(parser, args, file_name_types):
        value = getattr(args, action.dest, None)
        if isinstance(value, str):
            setattr(args, action.dest, as_typed(value))
        elif isinstance(value, list):
            setattr(args, action.dest,
                    [as_typed(word) if isinstance(word, str) else word for word in value])


def _text_actions(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    file_name_types: Collection[object],
) -> Iterator[argparse.Action]:
    """The chosen actions whose values are text, not paths; a ``REMAINDER`` positional is
    parsed again by its command."""
    for action in _chosen_actions(parser, args):
        if action.type not in file_name_types and action.nargs != argparse.REMAINDER:
            yield action


def undecodable_argument(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    file_name_types: Collection[object] = (),
) -> str | None:
    """Why an argument of the command ``args`` parsed is not UTF-8 text, naming it as the usage
    line does (``TEXT``, ``--note``, ``TEXT argument 2`` of several); None when all are text.

    Python hands over an argument's bytes that are not UTF-8 as lone surrogates, which no text
    function takes; the message gives the byte and its offset instead, as standard input's
    does. Paths (options of ``type=Path``, and the ``file_name_types`` that keep a path as a
    str) are not checked: the system opens a name whatever its bytes. A ``REMAINDER`` positional
    is parsed again by its command, which checks it against its own parser.
    """
    for action in _text_actions(parser, args, file_name_types):
        value = getattr(args, action.dest, None)
        words = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for number, word in enumerate(words, start=1):
            problem = _not_text(word) if isinstance(word, str) else None
            if problem is not None:
                name = _argument_name(action)
                return f"{name}{f' argument {number}' if len(words) > 1 else ''} is {problem}"
    return None


def _chosen_actions(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> Iterator[argparse.Action]:
    """The actions of ``parser`` and of the subcommands ``args`` chose, level by level."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                yield from _chosen_actions(chosen, args)
        else:
            yield action


def _argument_name(action: argparse.Action) -> str:
    if action.option_strings:
        return max(action.option_strings, key=len)
    return action.metavar if isinstance(action.metavar, str) else action.dest.upper()


def _not_text(word: str) -> str | None:
    """Why an argument is not text (the first byte that is not UTF-8), or None."""
    try:
        word.encode("utf-8")
        return None
    except UnicodeEncodeError as error:
        surrogate = error.start
    try:
        # Undoes what Python did to the bytes it could not decode (surrogateescape).
        word.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as error:
        return not_utf8(error)
    except UnicodeEncodeError:
        pass
    # No command line makes this: a caller of main() gave a lone surrogate of its own.
    return f"not valid Unicode (an unpaired surrogate at character {surrogate})"
