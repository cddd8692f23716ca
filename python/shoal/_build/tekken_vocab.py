"""Write Mistral's Tekken rank file, as shoal ships it, from the ``mistral-common`` wheel.

Maintainer script (nothing at run time imports it)::

    pip download mistral-common==1.13.1 --no-deps -d /tmp/mc
    unzip /tmp/mc/mistral_common-1.13.1-py3-none-any.whl 'mistral_common/data/*' -d /tmp/mc
    python -m shoal._build.tekken_vocab /tmp/mc/mistral_common/data/tekken_240718.json \\
        --out python/shoal/data/vocab/tekken_240718.tiktoken.gz

``tekken_240718.json`` (Mistral NeMo) and ``tekken_240911.json`` (Pixtral 12B) hold the same
150,000 ranks and the same pattern. mistral-common keeps the first ``default_vocab_size -
default_num_special_tokens`` = 130,072 of them as ordinary byte-level BPE ranks and puts 1,000
control tokens in front, so the model's id of rank ``r`` is ``r + 1000``. This script writes those
130,072 ranks in tiktoken's text format (``base64-bytes rank`` per line), gzip-compressed with a
zero timestamp so that the output is byte-for-byte reproducible, and logs the SHA-256 values that
``shoal.vendor_tokens`` pins.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def rank_file(tekken: dict) -> bytes:
    """The ordinary ranks of a parsed ``tekken_*.json`` in tiktoken's text format."""
    config = tekken["config"]
    ordinary = config["default_vocab_size"] - config["default_num_special_tokens"]
    lines = []
    for index, entry in enumerate(tekken["vocab"][:ordinary]):
        if entry["rank"] != index:
            raise ValueError(f"vocab entry {index} has rank {entry['rank']}; expected {index}")
        lines.append(f"{entry['token_bytes']} {index}\n")
    return "".join(lines).encode("ascii")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: read a Tekken JSON file, write the gzipped rank file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tekken_json", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    source = args.tekken_json.read_bytes()
    ranks = rank_file(json.loads(source))
    # Re-encoding the base64 checks that every entry is canonical, as tiktoken's loader expects.
    for line in ranks.splitlines():
        encoded = line.split()[0]
        if base64.b64encode(base64.b64decode(encoded)) != encoded:
            raise ValueError(f"non-canonical base64 entry {encoded!r}")

    args.out.write_bytes(gzip.compress(ranks, compresslevel=9, mtime=0))
    logger.info("source %s sha256 %s", args.tekken_json.name, hashlib.sha256(source).hexdigest())
    logger.info(
        "rank file sha256 %s, %d ranks", hashlib.sha256(ranks).hexdigest(), ranks.count(b"\n")
    )
    logger.info("wrote %s (%d bytes)", args.out, args.out.stat().st_size)


if __name__ == "__main__":
    main()
