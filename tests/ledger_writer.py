"""A ledger writer process for the concurrency and crash tests.

    python ledger_writer.py LOCATION SCOPE PREFIX COUNT ACK_FILE [SHARED_EVERY]

Records COUNT calls (gpt-4o-mini, 1,000 input and 100 output tokens each) to SCOPE with request
ids PREFIX-0, PREFIX-1, ...; COUNT 0 means until killed. After each commit it appends a line to
ACK_FILE: ``ok <request id>``, ``dup <request id>`` or ``refused <request id>``. With
SHARED_EVERY n, every n-th call also records ``shared-<i>``, an id every writer sends, which must
be recorded once in all. The first line, ``ready``, is written once the ledger is open.
"""

from __future__ import annotations

import itertools
import sys

from shoal.ledger import BudgetExceededError, open_ledger


def main(argv: list[str]) -> int:
    location, scope, prefix, count_text, ack_path = argv[:5]
    shared_every = int(argv[5]) if len(argv) > 5 else 0
    count = int(count_text)
    ledger = open_ledger(location)

    with open(ack_path, "a", encoding="utf-8", buffering=1) as acks:
        acks.write("ready\n")
        numbers = itertools.count() if count == 0 else range(count)
        for number in numbers:
            request_ids = [f"{prefix}-{number}"]
            if shared_every and number % shared_every == 0:
                request_ids.append(f"shared-{number}")
            for request_id in request_ids:
                try:
                    record = ledger.record_usage(
                        scope, "gpt-4o-mini", input_tokens=1_000, output_tokens=100,
                        request_id=request_id,
                    )
                except BudgetExceededError:
                    acks.write(f"refused {request_id}\n")
                    continue
                # Written only after the record's transaction has committed.
                acks.write(f"{'dup' if record.duplicate else 'ok'} {request_id}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
