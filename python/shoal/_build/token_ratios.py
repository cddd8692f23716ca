"""Measure tokens per o200k_base token for Mistral's tokenizers (the figures in TOKEN_RATIOS).

Maintainer script; needs ``tiktoken``, ``sentencepiece`` and the tokenizer files shipped in the
``mistral-common`` wheel (1.12.0 was used), none of which shoal needs at run time::

    python -m shoal._build.token_ratios --mistral-data .../mistral_common/data \\
        --vocab .../vocab --corpus .../corpus

Counts are of plain text (no special tokens, no BOS) on the first 400,000 characters of each
corpus file. Results are logged to stderr.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

SAMPLE_CHARS = 400_000
CORPUS_FILES = ("prompts_en.txt", "code_python.txt", "data_json.txt", "cjk.txt")
# The packages this script needs that shoal does not depend on (import name = pip name).
OPTIONAL_PACKAGES = ("tiktoken", "sentencepiece")


# tiktoken's offline cache names for the two rank files (sha1 of their download URLs).
TIKTOKEN_CACHE_NAMES = {
    "cl100k_base.tiktoken": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base.tiktoken": "fb374d419588a4632f3f557e76b4b70aebbca790",
}


def _openai_encodings(vocab: Path, cache: Path):  # noqa: ANN202
    """Load o200k_base and cl100k_base offline by seeding tiktoken's cache folder."""
    for file_name, cache_name in TIKTOKEN_CACHE_NAMES.items():
        shutil.copyfile(vocab / file_name, cache / cache_name)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)

    import tiktoken

    return tiktoken.get_encoding("o200k_base"), tiktoken.get_encoding("cl100k_base")


def _tekken(path: Path):  # noqa: ANN202
    import tiktoken

    data = json.loads(path.read_text(encoding="utf-8"))
    config = data["config"]

    # Tekken keeps the first (vocab size - special tokens) entries as ordinary byte ranks.
    ordinary = config["default_vocab_size"] - config["default_num_special_tokens"]
    ranks = {
        base64.b64decode(item["token_bytes"]): item["rank"] for item in data["vocab"][:ordinary]
    }
    return tiktoken.Encoding("tekken", pat_str=config["pattern"], mergeable_ranks=ranks,
                             special_tokens={})


def main(argv: Sequence[str] | None = None) -> int:
    """Count each corpus sample with o200k, cl100k, Tekken and Mistral SentencePiece v1/v3."""
    parser = argparse.ArgumentParser(prog="python -m shoal._build.token_ratios",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--mistral-data", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    # Checked after the arguments, so that --help works without them.
    for package in OPTIONAL_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError:
            print(f"{parser.prog}: error: this script needs the {package} package, which shoal "
                  f"does not install: pip install {package}", file=sys.stderr)
            return 2
    import sentencepiece

    with tempfile.TemporaryDirectory() as cache:
        o200k, cl100k = _openai_encodings(args.vocab, Path(cache))
    counters = {
        "cl100k": cl100k.encode_ordinary,
        "tekken": _tekken(args.mistral_data / "tekken_240718.json").encode_ordinary,
    }
    for label, model_file in (("sp_v1", "tokenizer.model.v1"),
                              ("sp_v3", "mistral_instruct_tokenizer_240323.model.v3")):
        processor = sentencepiece.SentencePieceProcessor(
            model_file=str(args.mistral_data / model_file))
        counters[label] = processor.encode

    for file_name in CORPUS_FILES:
        text = (args.corpus / file_name).read_text(encoding="utf-8")[:SAMPLE_CHARS]
        base = len(o200k.encode_ordinary(text))
        ratios = {label: round(len(count(text)) / base, 3) for label, count in counters.items()}
        logger.info("%s: %d o200k tokens; per o200k token %s", file_name, base, ratios)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
