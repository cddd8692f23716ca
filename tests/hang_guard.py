"""A bound on how long a test waits for a call, a command or a server: it stops a hung test, it
does not time one.

HANG_GUARD_S is far longer than anything it bounds takes on a machine ten times slower than an
idle one (the slowest, a refused split of 2,000,001 tokens on the pure-Python path, takes 7 s
idle), so reaching it means a hang: a read blocked on a pipe or a device, a wait for a writer or
an answer that never comes. What a test checks (a refusal and its message, the memory a command
may use, that no work is left running) it checks directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

HANG_GUARD_S = 120.0


def without_hanging(call: Callable[[], Any], seconds: float = HANG_GUARD_S) -> Any:
    """Run `call` on a daemon thread; fail the test if it has not returned within `seconds`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # re-raised on the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s (blocked on a read?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
