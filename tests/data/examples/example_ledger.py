"""Record the README's example calls in a ledger, for `shoal report` to summarise.

    python tests/data/examples/example_ledger.py example-ledger.sqlite3

Sixteen calls of one project over five days, routed among gpt-4.1-mini, claude-sonnet-4-5 and
gpt-5. Each call has a request id, so running the script again records nothing new.

The ledger functions raise ``LedgerError`` (a ``ValueError``) with a message that says what to
change, such as a folder that does not exist; catch it and show the message, as here: one line
on stderr and exit status 2, as ``shoal ledger record`` does.
"""

from __future__ import annotations

import sys

from shoal.ledger import LedgerError, record_usage

SCOPE = "project:docs"

# When (UTC), the model the router chose, and the call's input, cached-input and output tokens.
CALLS = [
    ("2026-11-23T09:12:00Z", "gpt-4.1-mini", 14_000, 0, 900),
    ("2026-11-23T09:40:00Z", "gpt-4.1-mini", 16_500, 12_000, 1_100),
    ("2026-11-23T14:05:00Z", "claude-sonnet-4-5", 22_000, 0, 1_800),
    ("2026-11-24T08:30:00Z", "gpt-4.1-mini", 9_000, 0, 600),
    ("2026-11-24T10:15:00Z", "gpt-4.1-mini", 12_000, 8_000, 750),
    ("2026-11-24T11:50:00Z", "gpt-5", 30_000, 0, 4_000),
    ("2026-11-24T16:20:00Z", "gpt-4.1-mini", 11_000, 0, 500),
    ("2026-11-25T09:05:00Z", "claude-sonnet-4-5", 18_000, 15_000, 1_200),
    ("2026-11-25T09:45:00Z", "claude-sonnet-4-5", 25_000, 20_000, 2_100),
    ("2026-11-25T13:30:00Z", "gpt-4.1-mini", 7_500, 0, 400),
    ("2026-11-26T10:00:00Z", "gpt-4.1-mini", 13_000, 9_000, 800),
    ("2026-11-26T15:10:00Z", "gpt-4.1-mini", 10_500, 0, 650),
    ("2026-11-27T08:45:00Z", "gpt-5", 26_000, 18_000, 3_500),
    ("2026-11-27T11:25:00Z", "gpt-4.1-mini", 15_000, 10_000, 950),
    ("2026-11-27T14:40:00Z", "claude-sonnet-4-5", 20_000, 0, 1_500),
    ("2026-11-27T17:55:00Z", "gpt-4.1-mini", 8_000, 0, 450),
]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: example_ledger.py LEDGER_FILE", file=sys.stderr)
        return 2

    ledger = argv[0]
    try:
        record_calls(ledger)
    except LedgerError as error:
        print(f"example_ledger.py: error: {error}", file=sys.stderr)
        return 2
    print(f"{len(CALLS)} example calls of {SCOPE} are in {ledger}")
    return 0


def record_calls(ledger: str) -> None:
    for number, (at, model, input_tokens, cached_input_tokens, output_tokens) in enumerate(CALLS):
        record_usage(
            SCOPE,
            model,
            input_tokens=input_tokens,
            cached_input_tokens=cached_input_tokens,
            output_tokens=output_tokens,
            # A stand-in for the id `shoal route` prints, so that the report counts it as routed.
            decision_id=f"d-{number + 1:024x}",
            request_id=f"example-call-{number + 1}",
            at=at,
            ledger=ledger,
        )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
