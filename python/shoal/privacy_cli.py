"""The `shoal privacy` subcommand: scan or redact text, or score the scanner on labelled rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shoal.cli import _print_json, _read_input, add_max_file_bytes, byte_count
from shoal.files import DEFAULT_MAX_DATA_FILE_BYTES, DEFAULT_MAX_FILE_BYTES, read_text_file
from shoal.privacy import evaluate_labelled_text, redact, render_evaluation, scan_text
from shoal.router_policy import finding_counts

# Exit status of --fail-on-findings when something was found, as grep -q's "match" inverted:
# a pre-commit hook or CI step stops on it.
FOUND_STATUS = 1


def add_privacy(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `shoal privacy`."""
    privacy = commands.add_parser(
        "privacy",
        help="find secrets and personal data in text, or redact them",
        description="Find secrets and personal data in TEXT, standard input ('-') or --file "
        "(kinds and character offsets, never the values), print the text with each finding "
        "replaced by [kind] (--redact), or score the scanner on a labelled JSONL file "
        "(--evaluate).",
    )
    privacy.add_argument("text", nargs="?", help="text to scan; '-' reads standard input")
    privacy.add_argument(
        "--file", type=Path, help="scan this text file instead of TEXT (a binary one, with a "
        "NUL byte in its first 8 KiB, is refused as count skips it; UTF-16 or UTF-32, here or on "
        "standard input, is refused with the iconv command that converts it)"
    )
    privacy.add_argument(
        "--redact",
        action="store_true",
        help="print the text with every finding replaced by [kind] instead of the findings",
    )
    privacy.add_argument(
        "--fail-on-findings",
        action="store_true",
        help=f"exit with status {FOUND_STATUS} when anything is found (for hooks and CI)",
    )
    privacy.add_argument(
        "--evaluate",
        type=Path,
        metavar="FILE",
        help="labelled JSONL rows {id, text, expected: [{kind, category, start, end}]} to "
        "measure precision and recall on",
    )
    privacy.add_argument(
        "--json", action="store_true",
        help="print one JSON object: findings, finding_counts (findings of each kind) and "
        "redacted (the redacted text with --redact, else null); with --evaluate, the scores")
    add_max_file_bytes(
        privacy, "refuse a larger --file, stdin or --evaluate file",
        other_defaults=f"{byte_count(DEFAULT_MAX_DATA_FILE_BYTES)} for --evaluate")
    privacy.set_defaults(handler=_privacy)


def _privacy(args: argparse.Namespace) -> int:
    if args.evaluate is not None:
        return _evaluate(args)

    text, location = _text_to_scan(args)
    findings = scan_text(text, location=location)
    redacted = redact(text, findings, location=location) if args.redact else None
    if args.json:
        # One shape with and without --redact, the fields scan_private_data answers with.
        _print_json({"findings": [vars(f) for f in findings],
                     "finding_counts": dict(finding_counts(findings)),
                     "redacted": redacted})
    elif redacted is not None:
        if location == "text":
            print(redacted)
        else:
            # A file or stream comes back byte for byte apart from the findings, so that
            # `shoal privacy --redact - < in > out` changes nothing else.
            sys.stdout.write(redacted)
    else:
        print("\n".join(f"{f.category:<8} {f.describe()}" for f in findings) or "nothing found")
    return FOUND_STATUS if findings and args.fail_on_findings else 0


def _text_to_scan(args: argparse.Namespace) -> tuple[str, str]:
    """The text named by TEXT, '-' or --file, and the location findings are reported in."""
    if (args.text is None) == (args.file is None):
        raise ValueError("give TEXT, '-' for standard input, or --file FILE (one of them)")
    limit = args.max_file_bytes or DEFAULT_MAX_FILE_BYTES
    if args.file is not None:
        return _read_file(args.file, limit), str(args.file)
    if args.text == "-":
        return _read_input(Path("-"), max_bytes=limit, raise_with="--max-file-bytes"), "stdin"
    if args.max_file_bytes is not None:
        raise ValueError("--max-file-bytes limits a file or standard input, not TEXT")
    return args.text, "text"


def _read_file(path: Path, limit: int) -> str:
    """The text of --file ('-': standard input); a binary file is refused as `shoal count
    --file` skips it, so the two commands name the same file alike."""
    if str(path) == "-":
        return _read_input(path, "--file", max_bytes=limit, raise_with="--max-file-bytes")
    try:
        return read_text_file(path, max_file_bytes=limit, raise_with="--max-file-bytes",
                              refuse_binary=True)
    except ValueError as error:
        raise ValueError(f"--file: {error}") from None


def _evaluate(args: argparse.Namespace) -> int:
    given = [name for name, value in (("TEXT", args.text), ("--file", args.file),
                                      ("--redact", args.redact),
                                      ("--fail-on-findings", args.fail_on_findings))
             if value]
    if given:
        raise ValueError(f"--evaluate scores a labelled file; it takes no {', '.join(given)}")
    where = "standard input" if str(args.evaluate) == "-" else str(args.evaluate)
    text = _read_input(args.evaluate, "--evaluate",
                       max_bytes=args.max_file_bytes or DEFAULT_MAX_DATA_FILE_BYTES,
                       raise_with="--max-file-bytes")
    try:
        evaluation = evaluate_labelled_text(text, where)
    except ValueError as error:
        raise ValueError(f"--evaluate: {error}") from None
    if args.json:
        _print_json({
            "rows": evaluation.rows,
            "scores": {s.category: {"precision": s.precision, "recall": s.recall,
                                    "labelled": s.labelled, "found": s.found,
                                    "same_kind": s.same_kind}
                       for s in evaluation.scores},
            "false_positives": list(evaluation.false_positives),
            "misses": list(evaluation.misses),
        })
    else:
        print(render_evaluation(evaluation))
    return 0
