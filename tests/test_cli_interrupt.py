"""Ctrl-C (SIGINT) sent to a real `shoal` process in the middle of its work: one line and the
shell's status 130, no traceback and no output file; `shoal serve` stops quietly with status 0,
after a quick double Ctrl-C too. SIGTERM stops a command the same way with status 143.

Each command runs with -v and is interrupted once its log says the long step has begun, so
the signal lands in the work, not in start-up.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S, without_hanging

from shoal.cli import main
from shoal.ledger import Ledger

LLMROUTER_TRAIN = Path(__file__).parent / "data" / "llmrouter" / "train.json"


@pytest.fixture(autouse=True)
def children_take_ctrl_c() -> Iterator[None]:
    """A shell that starts the tests in the background (`pytest &`) has them ignore SIGINT, and
    a child inherits that: its Python would then never see the signal these tests send."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """50,472 label rows (5,608 prompts x 9 models) and 5,000 prompts to route: seconds of
    work on either path, of which the tests see only the start."""
    folder = tmp_path_factory.mktemp("big")
    items = json.loads(LLMROUTER_TRAIN.read_text(encoding="utf-8"))
    labels = folder / "big.jsonl"
    labels.write_text("".join(
        json.dumps({"prompt": item["question"], "model": model, "score": score,
                    "task": f"cluster {item['cluster_id']}"}) + "\n"
        for item in items for model, score in item["scores"].items()
    ), encoding="utf-8")
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": item["question"]}) + "\n"
                               for item in items[:5000]), encoding="utf-8")
    return labels, prompts


def interrupted(
    folder: Path, started: str, *argv: str, stop: signal.Signals = signal.SIGINT,
) -> tuple[int, str, str]:
    """Run `shoal -v ARGV` in ``folder``, send ``stop`` once a stderr line holds ``started``,
    and return its status, stdout and stderr."""
    with subprocess.Popen(
        [sys.executable, "-m", "shoal", "-v", *argv], cwd=folder,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            log = without_hanging(lambda: read_until(process, started))
            process.send_signal(stop)
            out, err = process.communicate(timeout=HANG_GUARD_S)
        finally:
            process.kill()
    return process.returncode, out, log + err


def read_until(process: subprocess.Popen[str], wanted: str) -> str:
    """The stderr of ``process`` up to and including the first line that holds ``wanted``."""
    assert process.stderr is not None
    log = ""
    for line in process.stderr:
        log += line
        if wanted in line:
            return log
    raise AssertionError(f"the command ended before {wanted!r}: {log[-2000:]}")


def test_ctrl_c_stops_fit_with_one_line_and_keeps_the_router_it_would_replace(
    tmp_path: Path, big_inputs: tuple[Path, Path],
) -> None:
    labels, _ = big_inputs
    small = tmp_path / "small.jsonl"
    with labels.open(encoding="utf-8") as rows:
        small.write_text("".join(next(rows) for _ in range(18)), encoding="utf-8")  # 2 prompts
    out = tmp_path / "router.json"
    assert main(["fit", str(small), "--out", str(out)]) == 0
    before = out.read_bytes()

    status, stdout, stderr = interrupted(tmp_path, "fitting a router on 50,472 labelled rows",
                                         "fit", str(labels), "--out", str(out))

    assert status == 130
    assert stderr.splitlines()[-1] == "shoal fit: interrupted"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout == ""
    assert out.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["router.json", "small.jsonl"]


def test_sigterm_stops_fit_as_ctrl_c_does_and_keeps_the_router_it_would_replace(
    tmp_path: Path, big_inputs: tuple[Path, Path],
) -> None:
    labels, _ = big_inputs
    small = tmp_path / "small.jsonl"
    with labels.open(encoding="utf-8") as rows:
        small.write_text("".join(next(rows) for _ in range(18)), encoding="utf-8")
    out = tmp_path / "router.json"
    assert main(["fit", str(small), "--out", str(out)]) == 0
    before = out.read_bytes()

    status, stdout, stderr = interrupted(tmp_path, "fitting a router on 50,472 labelled rows",
                                         "fit", str(labels), "--out", str(out),
                                         stop=signal.SIGTERM)

    # Killed by the signal's default action, the process left no line and, mid-write, a
    # hidden temporary file beside the router.
    assert status == 143
    assert stderr.splitlines()[-1] == "shoal fit: terminated"
    assert "Traceback" not in stderr and stdout == ""
    assert out.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["router.json", "small.jsonl"]


# Runs `shoal fit` in a process whose standard output sends the process a signal as the
# summary starts: a stop that comes once the router is in place.
STOPPED_AS_THE_SUMMARY_PRINTS = """
import signal, sys
from shoal.cli import main
from shoal.ledger import Ledger

class SignalOnWrite:
    def __init__(self, stream, stop):
        self.stream, self.stop = stream, stop
    def write(self, text):
        if self.stop is not None:
            stop, self.stop = self.stop, None
            signal.raise_signal(stop)
        return self.stream.write(text)
    def flush(self):
        self.stream.flush()

sys.stdout = SignalOnWrite(sys.stdout, getattr(signal, sys.argv[1]))
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(("stop", "status", "said"), [
    ("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated"),
])
def test_a_stop_once_the_router_is_in_place_says_it_was_written(
    tmp_path: Path, big_inputs: tuple[Path, Path], stop: str, status: int, said: str,
) -> None:
    from shoal.router import load_router

    labels, _ = big_inputs
    small = tmp_path / "small.jsonl"
    with labels.open(encoding="utf-8") as rows:
        small.write_text("".join(next(rows) for _ in range(90)), encoding="utf-8")

    finished = subprocess.run(
        [sys.executable, "-c", STOPPED_AS_THE_SUMMARY_PRINTS, stop, "fit", str(small),
         "--out", "router.json"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=HANG_GUARD_S, check=False,
    )

    # It said "shoal fit: interrupted", as if the router had not been written.
    assert finished.returncode == status
    assert finished.stderr.splitlines()[-1] == (
        f"shoal fit: {said} after writing router.json in full")
    assert len(load_router(tmp_path / "router.json")) == 10
    assert sorted(path.name for path in tmp_path.iterdir()) == ["router.json", "small.jsonl"]


def test_ctrl_c_stops_a_cross_validation_before_it_writes_anything(
    tmp_path: Path, big_inputs: tuple[Path, Path],
) -> None:
    labels, _ = big_inputs

    status, stdout, stderr = interrupted(
        tmp_path, "fold 0: fitting", "eval", "--data", str(labels), "--folds", "5",
        "--json", "evaluation.json", "--plot", "curves.svg")

    assert status == 130
    assert stderr.splitlines()[-1] == "shoal eval: interrupted"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_stops_routing_a_batch_with_one_line(
    tmp_path: Path, big_inputs: tuple[Path, Path],
) -> None:
    _, prompts = big_inputs

    status, stdout, stderr = interrupted(tmp_path, "routing 5,000 prompts",
                                         "route", "--file", str(prompts))

    assert status == 130
    assert stderr.splitlines()[-1] == "shoal route: interrupted"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    # Rows are printed as they are routed: those before the interrupt, whole, and no summary.
    assert stdout == "" or stdout.endswith("\n")
    assert "routed:" not in stdout


def test_ctrl_c_stops_the_stdio_server_quietly(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve"], cwd=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            without_hanging(lambda: read_until(process, "ready"))
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=HANG_GUARD_S)  # stdin is open until now
        finally:
            process.kill()

    assert process.returncode == 0
    assert (out, err) == ("", "")


def test_ctrl_c_stops_the_http_server_quietly(tmp_path: Path) -> None:
    from mcp_load import start_http_server

    log = tmp_path / "server.log"
    process, _ = start_http_server(log)  # returns once the server takes connections
    with process:
        try:
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=HANG_GUARD_S)
        finally:
            process.kill()

    assert status == 0
    assert "Traceback" not in log.read_text() and "interrupted" not in log.read_text()


# A double press of Ctrl-C: within the server's own shutdown, and during Python's exit after it.
DOUBLE_PRESS_GAPS_S = [0.05, 0.3]


def pressed_twice(process: subprocess.Popen[str], gap_s: float) -> int:
    """Send ``process`` two SIGINTs ``gap_s`` apart; its exit status."""
    process.send_signal(signal.SIGINT)
    time.sleep(gap_s)
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=HANG_GUARD_S)


@pytest.mark.parametrize("gap_s", DOUBLE_PRESS_GAPS_S)
def test_a_double_ctrl_c_stops_the_stdio_server_quietly(tmp_path: Path, gap_s: float) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve"], cwd=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            without_hanging(lambda: read_until(process, "ready"))
            status = pressed_twice(process, gap_s)
            out, err = process.communicate(timeout=HANG_GUARD_S)
        finally:
            process.kill()

    # The second press met the default action Python restores as it exits: status 130.
    assert status == 0
    assert (out, err) == ("", "")


@pytest.mark.parametrize("gap_s", DOUBLE_PRESS_GAPS_S)
def test_a_double_ctrl_c_stops_the_http_server_quietly(tmp_path: Path, gap_s: float) -> None:
    from mcp_load import start_http_server

    log = tmp_path / "server.log"
    process, _ = start_http_server(log)
    with process:
        try:
            status = pressed_twice(process, gap_s)
        finally:
            process.kill()

    # A press within the shutdown forced it, and starlette logged the cancelled lifespan as a
    # failed shutdown: ERROR, a traceback of KeyboardInterrupt and CancelledError.
    assert status == 0
    logged = log.read_text()
    assert "Traceback" not in logged and "ERROR" not in logged, logged
    assert "interrupted" not in logged


def test_a_double_ctrl_c_cancels_a_request_still_running_with_one_line(tmp_path: Path) -> None:
    from mcp_load import start_http_server

    log = tmp_path / "server.log"
    process, url = start_http_server(log)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    # A request whose body has not wholly arrived holds one Ctrl-C's shutdown, which waits for
    # the requests still running; the second forces the stop.
    with process, socket.create_connection(("127.0.0.1", port)) as unfinished:
        unfinished.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        try:
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            assert process.poll() is None, "one Ctrl-C waits for the request still running"
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=HANG_GUARD_S)
        finally:
            process.kill()

    # The request, cancelled as the event loop closed, was logged as an ERROR with a traceback.
    assert status == 0
    logged = log.read_text()
    assert "Traceback" not in logged and "ERROR" not in logged, logged
    assert "INFO shoal.http_transport: a request still running was cancelled by the forced stop" \
        in logged


@pytest.mark.parametrize(("stop", "said"), [(signal.SIGINT, "interrupted"),
                                            (signal.SIGTERM, "terminated")])
def test_a_stop_in_the_middle_of_an_import_says_nothing_of_it_was_recorded(
    tmp_path: Path, stop: signal.Signals, said: str
) -> None:
    # Seconds of writing on either path: the stop lands in the import's one transaction.
    log = tmp_path / "usage.jsonl"
    log.write_text("".join(json.dumps({"scope": f"team:{number % 3}", "model": "gpt-4o-mini",
                                       "input_tokens": 1_000 + number,
                                       "request_id": f"call-{number}"}) + "\n"
                           for number in range(40_000)), encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"

    # The ledger is opened once every line is checked, just before the rows are written.
    status, stdout, stderr = interrupted(tmp_path, "ledger at", "ledger", "import", str(log),
                                         "--ledger", str(ledger), stop=stop)

    assert status == (130 if stop == signal.SIGINT else 143)
    assert stderr.splitlines()[-1] == (f"shoal ledger import: {said}; nothing of the import "
                                       "was recorded")
    assert "Traceback" not in stderr
    assert stdout == ""
    with Ledger(ledger) as opened:
        assert opened.usage() == []
