"""Differential fuzzing of shoal's core: the Rust extension against its pure-Python twin.

Every input becomes a text (and, for the embedder, a dimension) that goes through the
tokenizer, the embedder with its exemplar index, and the privacy scanner in both
``shoal._core`` and ``shoal._pure``. Results must be identical, refusals must raise the same
exception type, token ids must decode back to the text's bytes and counts must equal the number
of ids; anything else stops the run with the input saved. A panic in the Rust core would surface
here as a ``pyo3_runtime.PanicException`` and stop the run the same way.

With atheris installed (``pip install atheris``) the run is coverage-guided by libFuzzer over
the instrumented pure-Python twin, whose branches mirror the Rust core's; ``--random`` (or no
atheris) runs a seeded generator of mixed-script text, secrets and lone surrogates instead,
without coverage feedback. The Rust core alone is fuzzed with coverage by the cargo-fuzz
targets in ``bench/fuzz``.

Usage::

    python bench/fuzz_core.py --seconds 60                 # all targets, atheris if installed
    python bench/fuzz_core.py --seconds 300 --target tokens
    python bench/fuzz_core.py --seconds 60 --random --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

TARGETS = ("tokens", "embed", "privacy")
CORPUS = Path(__file__).parent / "fuzz" / "corpus" / "core-py"
ARTIFACTS = Path(__file__).parent / "fuzz" / "artifacts" / "core-py"
SEEDS = (
    "The quick brown fox jumps over the lazy dog.\n",
    "def f(x):\n    return x ** 2  # square\n",
    "日本語のテキストと English mixed, Привет мир, مرحبا بالعالم",
    "<|endoftext|> <|fim_prefix|>a<|fim_suffix|>",
    "contact jane.doe@example.com or +1 (555) 010-9999; card 4111 1111 1111 1111",
    "AKIAIOSFODNN7EXAMPLE sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z ghp_a1B2a1B2a1B2a1B2a1B2",
    "postgres://app:s3cret@db.internal:5432/x  Authorization: Bearer eyJhbGciOi.e30.x",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----",
    "IBAN GB82 WEST 1234 5698 7654 32, password=hunter2",
    "    \t\t\n\n\n" + "a" * 300 + " " * 200 + "1234567890" * 20,
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 e\u0301 \u00a0\u3000 'll 've n't",
)


class Mismatch(AssertionError):
    """Rust and pure Python disagree, or an invariant broke."""


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args, **kwargs)
    except Exception as error:  # the type is what is compared
        if type(error).__name__ == "PanicException":
            raise
        return "raised", type(error).__name__


class Checker:
    """Runs one input through both backends; counts executions per target."""

    def __init__(self, rust: Any, python: Any) -> None:
        self.rust = rust
        self.python = python
        self.runs = dict.fromkeys(TARGETS, 0)

    def same(self, name: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        rust = _outcome(getattr(self.rust, name), *args, **kwargs)
        python = _outcome(getattr(self.python, name), *args, **kwargs)
        if rust != python:
            raise Mismatch(f"{name}{args!r:.200}: Rust {rust!r:.300} != pure {python!r:.300}")
        return rust

    def tokens(self, text: str) -> None:
        self.runs["tokens"] += 1
        for encoding in self.rust.ENCODINGS:
            for allow_special in (False, True):
                ids = self.same("encode", encoding, text, allow_special=allow_special)
                count = self.same("count", encoding, text, allow_special=allow_special)
                if ids[0] != "ok":
                    continue
                if count[1] != len(ids[1]):
                    raise Mismatch(f"{encoding}: count {count[1]} != {len(ids[1])} ids")
                decoded = self.same("decode", encoding, ids[1])
                if decoded[1] != text.encode("utf-8"):
                    raise Mismatch(f"{encoding}: ids do not decode to the text")
            self.same("count_many", encoding, [text, text[: len(text) // 2], ""])

    def embed(self, text: str, dim: int) -> None:
        self.runs["embed"] += 1
        texts = text.split("\x01")[:4]
        vectors = self.same("embed", texts, dim=dim)
        if vectors[0] != "ok":
            return
        rows, query = vectors[1], vectors[1][-1]
        indexes = (self.rust.ExemplarIndex(rows, dim), self.python.ExemplarIndex(rows, dim))
        for method, arguments in (("scores", (query,)), ("top_k", (query, 3))):
            rust = _outcome(getattr(indexes[0], method), *arguments)
            python = _outcome(getattr(indexes[1], method), *arguments)
            if rust != python:
                raise Mismatch(
                    f"ExemplarIndex.{method}: Rust {rust!r:.200} != pure {python!r:.200}"
                )

    def privacy(self, text: str) -> None:
        self.runs["privacy"] += 1
        self.same("scan_privacy", text)

    def check(self, target: str, text: str, dim: int) -> None:
        if target == "tokens":
            self.tokens(text)
        elif target == "embed":
            self.embed(text, dim)
        else:
            self.privacy(text)


# ---- atheris (coverage-guided) ------------------------------------------------------------------


def run_atheris(arguments: argparse.Namespace) -> int:
    import atheris

    with atheris.instrument_imports(include=["shoal._pure"]):
        from shoal import _pure
    from shoal import _core

    checker = Checker(_core, _pure)
    targets = TARGETS if arguments.target == "all" else (arguments.target,)

    def one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        target = targets[provider.ConsumeIntInRange(0, len(targets) - 1)]
        dim = provider.ConsumeIntInRange(1, 300)
        # Mostly valid text; one input in eight may hold lone surrogates, which both must refuse.
        if provider.ConsumeIntInRange(0, 7) == 0:
            text = provider.ConsumeUnicode(provider.remaining_bytes())
        else:
            text = provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes())
        checker.check(target, text, dim)

    CORPUS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(SEEDS):
        for selector in range(len(targets)):
            path = CORPUS / f"seed-{number}-{selector}"
            if not path.exists():
                path.write_bytes(bytes([selector, 64, 1]) + seed.encode("utf-8"))

    print(
        f"atheris: fuzzing {', '.join(targets)} for {arguments.seconds} s; libFuzzer's final "
        "stats follow (a mismatch or panic stops the run and saves the input)",
        file=sys.stderr,
    )
    flags = [
        sys.argv[0],
        f"-max_total_time={arguments.seconds}",
        f"-max_len={arguments.max_len}",
        f"-artifact_prefix={ARTIFACTS}/",
        "-print_final_stats=1",
        str(CORPUS),
    ]
    atheris.Setup(flags, one_input)
    atheris.Fuzz()
    return 0


# ---- seeded random (no coverage) ----------------------------------------------------------------

RANGES = (
    (0x20, 0x7E),
    (0x09, 0x0D),
    (0xA0, 0x24F),
    (0x370, 0x3FF),
    (0x400, 0x4FF),
    (0x600, 0x6FF),
    (0x900, 0x97F),
    (0xE00, 0xE7F),
    (0x3040, 0x30FF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0x1F300, 0x1F64F),
    (0x2000, 0x206F),
    (0xFF00, 0xFFEF),
    (0xD800, 0xDFFF),
)


def _random_text(generator: random.Random, max_length: int) -> str:
    parts: list[str] = []
    length = generator.randint(0, max_length)
    while sum(map(len, parts)) < length:
        roll = generator.random()
        if roll < 0.25:
            seed = generator.choice(SEEDS)
            start = generator.randrange(len(seed))
            parts.append(seed[start : start + generator.randint(1, 60)])
        elif roll < 0.3:
            parts.append(generator.choice(" \n\ta0.'-_") * generator.randint(1, 400))
        else:
            low, high = generator.choice(RANGES[:-1] if generator.random() < 0.98 else RANGES)
            run = generator.randint(1, 24)
            parts.append("".join(chr(generator.randint(low, high)) for _ in range(run)))
    return "".join(parts)[:length]


def run_random(arguments: argparse.Namespace) -> int:
    from shoal import _core, _pure

    checker = Checker(_core, _pure)
    targets = TARGETS if arguments.target == "all" else (arguments.target,)
    generator = random.Random(arguments.seed)
    started = time.monotonic()
    while time.monotonic() - started < arguments.seconds:
        text = _random_text(generator, arguments.max_len)
        dim = generator.randint(1, 300)
        target = generator.choice(targets)
        try:
            checker.check(target, text, dim)
        except Mismatch:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            saved = ARTIFACTS / f"mismatch-{target}-{dim}.txt"
            saved.write_text(text, encoding="utf-8", errors="surrogatepass")
            print(f"mismatch on {target} (dim {dim}); input saved to {saved}", file=sys.stderr)
            raise
    elapsed = time.monotonic() - started
    total = sum(checker.runs.values())
    print(
        f"random (seed {arguments.seed}): {total:,} inputs in {elapsed:.0f} s "
        f"({total / elapsed:,.0f}/s); per target {checker.runs}; no mismatch"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long to fuzz")
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--max-len", type=int, default=2048, help="longest input, in bytes")
    parser.add_argument("--random", action="store_true", help="seeded random, no coverage")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random")
    arguments = parser.parse_args(argv)

    if not arguments.random:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print(
                "atheris is not installed (pip install atheris); running --random instead",
                file=sys.stderr,
            )
            arguments.random = True
    return run_random(arguments) if arguments.random else run_atheris(arguments)


if __name__ == "__main__":
    sys.exit(main())
