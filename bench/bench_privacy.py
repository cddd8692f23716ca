"""Privacy scan speed: the Rust core against the pure-Python twin, side by side on the same texts.

Run ``pytest bench/bench_privacy.py --benchmark-json=privacy.json`` and then
``python bench/bench_privacy.py privacy.json`` for the tables in the README.

Both sides are the backends' ``scan_privacy`` (``shoal._core`` and ``shoal._pure.privacy``), the
call ``shoal.privacy.scan_text`` makes (which adds about 0.5 µs); their findings are checked equal
before timing. Times are CPU time of the process (``time.process_time``), so that other jobs on a
shared machine, which make a wall clock wait, change them less. Groups:

- ``text <name>``: one whole text per call: each file of ``tests/data/corpus`` (English prompts,
  Python, C, minified JSON, CJK) and the distinct prompts of ``tests/data/llmrouter`` joined by
  blank lines. ``extra_info["mb_per_s"]``: UTF-8 megabytes (10^6 bytes) per second at the mean
  time of 5 rounds (3 on the pure path).
- ``per-prompt <set>``: each prompt of a set scanned by a call of its own, as ``route`` scans a
  prompt: the first turns of the 80 MT-Bench questions shipped in ``shoal/data``, and the
  llmrouter prompts. ``extra_info["us_per_prompt"]``: microseconds per prompt at the mean time.
- ``pathological <shape>``: the shapes ``tests/test_privacy.py`` checks for linear time, repeated
  to 1 MB (Rust at 10 MB too, the pure path at 0.1 MB too, to show the time per MB stays put).
  ``extra_info["s_per_mb"]``: seconds per UTF-8 megabyte at the mean of 3 rounds (2 for the pure
  path at 1 MB).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shoal._pure import privacy as pure_privacy

_core = pytest.importorskip("shoal._core")

pytestmark = pytest.mark.benchmark(timer=time.process_time)

REPOSITORY = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPOSITORY / "tests" / "data" / "corpus"
LLMROUTER_FILES = (REPOSITORY / "tests" / "data" / "llmrouter" / "train.json",
                   REPOSITORY / "tests" / "data" / "llmrouter" / "test.json")
MT_BENCH = REPOSITORY / "python" / "shoal" / "data" / "mt_bench_questions.jsonl"

ENGINES: dict[str, Callable[[str], list[tuple[str, str, int, int]]]] = {
    "rust": _core.scan_privacy,
    "pure": pure_privacy.scan_privacy,
}
# The shapes tests/test_privacy.py times for linear growth: each makes a backtracking engine,
# or a check that reads too far, take quadratic time.
PATHOLOGICAL = (
    "a", "1 ", "a@", "eyJ", "://a:", "AB12", "-----BEGIN PRIVATE KEY-----", "pwd:ü",
    "://a:1/x@b,", "://a:1@b:1", "://a:1@sha256:",
)


def _llmrouter_prompts() -> list[str]:
    """The distinct prompts of the llmrouter train and test files, in first-seen order."""
    prompts: dict[str, None] = {}
    for path in LLMROUTER_FILES:
        for row in json.loads(path.read_text(encoding="utf-8")):
            prompts.setdefault(row["question"], None)
    return list(prompts)


def _mt_bench_prompts() -> list[str]:
    lines = MT_BENCH.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["turns"][0] for line in lines if line.strip()]


TEXTS: dict[str, Callable[[], str]] = {
    **{path.name: (lambda path=path: path.read_text(encoding="utf-8"))  # type: ignore[misc]
       for path in sorted(CORPUS_DIR.glob("*.txt"))},
    "llmrouter prompts": lambda: "\n\n".join(_llmrouter_prompts()),
}
PROMPT_SETS: dict[str, Callable[[], list[str]]] = {
    "mt-bench first turns": _mt_bench_prompts,
    "llmrouter prompts": _llmrouter_prompts,
}


def _utf8_bytes(texts: list[str]) -> int:
    return sum(len(text.encode("utf-8")) for text in texts)


def _measure(benchmark: Any, group: str, work: Callable[[], object], rounds: int) -> None:
    benchmark.group = group
    # A warm-up round compiles each pattern set first (the Rust regexes build on first use).
    benchmark.pedantic(work, rounds=rounds, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", TEXTS)
def test_text(benchmark: Any, name: str, engine: str) -> None:
    text = TEXTS[name]()
    assert _core.scan_privacy(text) == pure_privacy.scan_privacy(text)
    scan = ENGINES[engine]

    _measure(benchmark, f"text {name}", lambda: scan(text), rounds=5 if engine == "rust" else 3)

    size = _utf8_bytes([text])
    benchmark.extra_info["bytes"] = size
    benchmark.extra_info["mb_per_s"] = round(size / benchmark.stats.stats.mean / 1e6, 2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("prompt_set", PROMPT_SETS)
def test_per_prompt(benchmark: Any, prompt_set: str, engine: str) -> None:
    prompts = PROMPT_SETS[prompt_set]()
    assert [_core.scan_privacy(p) for p in prompts] == [
        pure_privacy.scan_privacy(p) for p in prompts]
    scan = ENGINES[engine]

    def work() -> None:
        for prompt in prompts:
            scan(prompt)

    _measure(benchmark, f"per-prompt {prompt_set}", work, rounds=5)

    benchmark.extra_info["prompts"] = len(prompts)
    benchmark.extra_info["bytes"] = _utf8_bytes(prompts)
    benchmark.extra_info["us_per_prompt"] = round(
        benchmark.stats.stats.mean / len(prompts) * 1e6, 1)


SIZES = {"rust": (1_000_000, 10_000_000), "pure": (100_000, 1_000_000)}


@pytest.mark.parametrize(("engine", "size"),
                         [(engine, size) for engine, sizes in SIZES.items() for size in sizes])
@pytest.mark.parametrize("shape", PATHOLOGICAL)
def test_pathological(benchmark: Any, shape: str, engine: str, size: int) -> None:
    text = (shape * (size // len(shape) + 1))[:size]
    if size <= 1_000_000:
        assert _core.scan_privacy(text) == pure_privacy.scan_privacy(text)
    scan = ENGINES[engine]
    ENGINES[engine](shape * 10)  # build the patterns outside the timing
    rounds = 2 if (engine, size) == ("pure", 1_000_000) else 3

    benchmark.group = f"pathological {shape!r}"
    benchmark.pedantic(lambda: scan(text), rounds=rounds, iterations=1)

    utf8 = _utf8_bytes([text])
    benchmark.extra_info["bytes"] = utf8
    benchmark.extra_info["s_per_mb"] = round(benchmark.stats.stats.mean * 1e6 / utf8, 3)


# ---- README tables from a --benchmark-json file ----


def _table(header: str, columns: list[str], rows: dict[str, dict[str, str]]) -> list[str]:
    """One markdown table; no lines at all when there are no rows (a run of some groups only)."""
    if not rows:
        return []
    lines = [f"| {header} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for key, row in rows.items():
        lines.append(f"| {key} | " + " | ".join(row.get(column, "-") for column in columns) + " |")
    return lines


def _cell(row: dict[str, float], column: str, spec: str) -> str:
    return format(row[column], spec) if column in row else "-"


def _ratio(row: dict[str, float], slow: str, fast: str, *, rates: bool) -> str:
    """How many times slower ``slow`` is than ``fast``; ``rates``: the figures are MB/s, not
    times."""
    if slow not in row or fast not in row:
        return "-"
    ratio = row[fast] / row[slow] if rates else row[slow] / row[fast]
    return f"{ratio:.1f}x"


def _tables(results: dict[str, Any]) -> str:
    """Markdown tables of one run: throughput per text, time per prompt, pathological input."""
    texts: dict[str, dict[str, float]] = {}
    prompts: dict[str, dict[str, float]] = {}
    shapes: dict[str, dict[str, float]] = {}
    for bench in results["benchmarks"]:
        info, params = bench["extra_info"], bench["params"]
        test = bench["name"].split("[")[0]
        if test == "test_text":
            texts.setdefault(params["name"], {})[params["engine"]] = info["mb_per_s"]
        elif test == "test_per_prompt":
            prompts.setdefault(params["prompt_set"], {})[params["engine"]] = info["us_per_prompt"]
        elif test == "test_pathological":
            column = f"{params['engine']} {params['size'] / 1e6:g} MB"
            shapes.setdefault(f"`{params['shape']}`", {})[column] = info["s_per_mb"]

    # Each ratio is of the figures as shown (extra_info holds them rounded so), so that the
    # README's tables can be checked against each other.
    text_rows = {name: {"rust MB/s": _cell(row, "rust", ",.2f"),
                        "pure MB/s": _cell(row, "pure", ",.2f"),
                        "pure slower": _ratio(row, "pure", "rust", rates=True)}
                 for name, row in texts.items()}
    prompt_rows = {name: {"rust µs": _cell(row, "rust", ",.1f"),
                          "pure µs": _cell(row, "pure", ",.1f"),
                          "pure slower": _ratio(row, "pure", "rust", rates=False)}
                   for name, row in prompts.items()}
    shape_columns = ["rust 1 MB", "rust 10 MB", "pure 0.1 MB", "pure 1 MB"]
    shape_rows = {name: {column: _cell(row, column, ".3f") for column in shape_columns}
                  | {"pure slower": _ratio(row, "pure 1 MB", "rust 1 MB", rates=False)}
                  for name, row in shapes.items()}
    sections = [
        _table("text (one call)", ["rust MB/s", "pure MB/s", "pure slower"], text_rows),
        _table("prompts (a call each)", ["rust µs", "pure µs", "pure slower"], prompt_rows),
        _table("repeated (s per MB)", [*shape_columns, "pure slower"], shape_rows),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


if __name__ == "__main__":
    tables = _tables(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    if not tables:
        sys.exit(f"{sys.argv[1]}: no results of bench/bench_privacy.py to tabulate")
    print(tables)
