"""Run a call that must return promptly: a read that blocks on a pipe or device fails the test
instead of hanging the suite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def promptly(call: Callable[[], Any], seconds: float) -> Any:
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
