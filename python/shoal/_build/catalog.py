"""Regenerate ``shoal/data/models.json`` from a LiteLLM price map and the curated list below.

Usage (maintainers only; nothing at run time imports this module)::

    python -m shoal._build.catalog \\
        --litellm model_prices_and_context_window.json \\
        --llmrouter llm_candidates.json \\
        --as-of 2026-12-04 --out python/shoal/data/models.json

The arena table (``--arena``) defaults to ``arena_elo_2025-07-14.csv`` beside this module.

What comes from where:

* Prices, cached-read and cache-write prices, long-context tiers, output limits and the
  ``reasoning`` flag come from the LiteLLM map (MIT), converted from USD per token to USD per
  million tokens and rounded to 6 decimals to drop binary noise (``1.25e-06 * 1e6``).
* Open-weight models are priced at one hosted provider each. The host is chosen by a fixed
  preference, DeepInfra > Together AI > Fireworks AI > Nebius, among the hosts the LiteLLM map
  lists for the model; models that none of them lists take NVIDIA's hosted price from the LLMRouter
  candidate table (MIT). ``hosted_by`` names the host.
* Context windows: LiteLLM's ``max_input_tokens`` means the whole window for most OpenAI and
  Anthropic models but "input only" for the GPT-5 family (272k of a 400k window). The curated
  list overrides the window where the map is known to disagree with the vendor and records the
  separate input limit in ``max_input_tokens``.
* ``reasoning`` is LiteLLM's ``supports_reasoning`` (hidden thinking billed as output tokens),
  set by hand for the open reasoning models whose host entry lacks the flag (gpt-oss, Qwen3).
* Quality prior: one Chatbot Arena (lmarena) text leaderboard snapshot, 2025-07-14, for every
  row, so all priors share one scale. The Elo score R becomes the expected win rate against a
  fixed reference model of the same snapshot, gpt-4o-2024-05-13 (R_ref = 1301)::

      quality = 1 / (1 + 10 ** ((R_ref - R) / 400))

  This is the Elo model's own reading of a score difference: 0.5 is a coin toss against the
  reference, and the scale keeps the leaderboard's order. The rows used are shipped beside this
  module (``arena_elo_2025-07-14.csv``, with their source); each catalog row names its leaderboard
  row in ``CURATED`` (``arena``), chosen as the checkpoint that the row's price applies to, with
  the reason in ``arena_note`` where the match needs one. Models that are not on that snapshot
  keep a null prior: no other benchmark is mixed in.
* ``token_ratio``: tokens of the model per o200k_base token, per tokenizer generation
  (``TOKEN_RATIOS``), each with its source. Measured ratios came from
  ``shoal._build.token_ratios``; the rest are labelled estimates that lean towards over-counting.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PER_MILLION = 1_000_000

LITELLM_CITATION = (
    "LiteLLM model_prices_and_context_window.json as shipped in PyPI litellm==1.110.2 "
    "(BerriAI/litellm, MIT licence)"
)
ARENA_SNAPSHOT = "2025-07-14"
ARENA_COMMIT = "013d2e04c3225512630a307059cd5df975c4a8d5"
ARENA_TABLE = Path(__file__).with_name(f"arena_elo_{ARENA_SNAPSHOT}.csv")
ARENA_REFERENCE = "GPT-4o-2024-05-13"
ARENA_CITATION = (
    f"Chatbot Arena (lmarena.ai) text leaderboard, data update time {ARENA_SNAPSHOT} 11:44:01 "
    "UTC, as published in CherryHQ/cherry-studio-docs "
    f"i18n/english/other/model_rank/lmarena.md at commit {ARENA_COMMIT} (generated from "
    "fboulnois/llm-leaderboard-csv); quality = expected win rate against gpt-4o-2024-05-13 "
    "under the Elo model, 1 / (1 + 10^((R_ref - R) / 400)) with R_ref = that model's score in "
    "the same snapshot"
)
ARENA_CITATION_KEY = f"lmarena_text_{ARENA_SNAPSHOT.replace('-', '_')}"
LLMROUTER_CITATION = (
    "LLMRouter candidate table (ulab-uiuc/LLMRouter, data/example_data/llm_candidates, MIT): "
    "NVIDIA-hosted USD per million tokens"
)

# Tokenizer generations: (tokens per o200k_base token, where the figure comes from).
TOKEN_RATIOS: dict[str, tuple[float, str]] = {
    "o200k": (1.0, "exact: o200k_base encoding"),
    "cl100k": (
        1.0,
        "exact: cl100k_base encoding; cl100k/o200k measured 0.99-1.01 on English prose, Python "
        "and JSON, 1.39 on CJK text",
    ),
    "claude": (
        1.3,
        "estimate: no local Claude tokenizer exists; pr-agent uses tiktoken x1.3 "
        "(qodo-ai/pr-agent#3612) and o200k x1.15 under-counted (caozhiyuan/copilot-api PR#134)",
    ),
    "claude-4.7": (
        1.75,
        "estimate: Claude 1.3 x Anthropic's 'up to ~35% more tokens' for the Opus 4.7 "
        "tokenizer (measured 1.15-1.47x on prose, code and docs: "
        "sol.ava.dev/writings/2026-04-17-opus-4-7-tokenizer.html)",
    ),
    "gemini": (
        1.0,
        "estimate: Google states ~4 characters per token; o200k measures 3.54 characters per "
        "token on English prose (ratio ~0.89), rounded up to 1.0 so budgets err on the safe side",
    ),
    "gemma": (
        1.0,
        "estimate: Gemma's 256k-262k SentencePiece vocabulary is the one Gemini uses; same "
        "figure as Gemini",
    ),
    "llama-3": (
        1.05,
        "estimate, not measured: Llama 3's tokenizer (meta-llama/llama3 llama/tokenizer.py; not "
        "shipped, under the Llama 3 Community License) is a tiktoken BPE of 128,000 ranks with "
        "cl100k's split pattern; cl100k/o200k measured 0.99-1.01 on English, code and JSON, 1.39 "
        "on CJK, so 1.05 leans to over-count except on CJK",
    ),
    "qwen": (
        1.05,
        "estimate, not measured: Qwen's 151k byte-level BPE vocabulary; same figure as Llama 3",
    ),
    "deepseek": (
        1.05,
        "estimate, not measured: DeepSeek-V3's 128k byte-level BPE vocabulary; same figure as "
        "Llama 3",
    ),
    "mistral-tekken": (
        1.1,
        "measured: Tekken (tekken_240718, mistral-common 1.12.0) per o200k token = 1.04 English "
        "prose, 1.05 Python, 1.14 JSON, 1.07 CJK",
    ),
    "mistral-sentencepiece": (
        1.25,
        "measured: Mistral SentencePiece v1/v3 (32k vocabulary, mistral-common 1.12.0) per o200k "
        "token = 1.15 English prose, 1.25 Python, 1.41 JSON, 1.46 CJK",
    ),
    "grok": (
        1.1,
        "estimate, not measured: xAI publishes no tokenizer; 1.1 leans to over-count",
    ),
}


@dataclass(frozen=True)
class Curated:
    """One catalog row as chosen by hand: identity and facts that the price map does not hold."""

    id: str
    provider: str
    name: str
    price_key: str | None
    tokenizer: str
    encoding: str | None = None
    hosted_by: str | None = None
    open_weights: bool = False
    params_b: float | None = None
    active_params_b: float | None = None
    arena: str | None = None
    arena_note: str = ""
    context_window: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    context_note: str = ""
    reasoning: bool | None = None


def _open(
    model_id: str,
    provider: str,
    name: str,
    price_key: str | None,
    host: str,
    tokenizer: str,
    params_b: float,
    active_params_b: float | None = None,
    **more: Any,
) -> Curated:
    return Curated(
        id=model_id,
        provider=provider,
        name=name,
        price_key=price_key,
        tokenizer=tokenizer,
        hosted_by=host,
        open_weights=True,
        params_b=params_b,
        active_params_b=active_params_b if active_params_b is not None else params_b,
        **more,
    )


GEMINI_STABLE = "the stable model, not the preview checkpoints ranked separately"
GPT5_WINDOW = "OpenAI: 400,000-token window, of which at most 272,000 input (LiteLLM lists 272k)"

CURATED: tuple[Curated, ...] = (
    # OpenAI
    Curated("gpt-5.5", "openai", "GPT-5.5", "gpt-5.5", "o200k", "o200k_base"),
    Curated("gpt-5.4", "openai", "GPT-5.4", "gpt-5.4", "o200k", "o200k_base"),
    Curated("gpt-5.4-mini", "openai", "GPT-5.4 mini", "gpt-5.4-mini", "o200k", "o200k_base"),
    Curated("gpt-5", "openai", "GPT-5", "gpt-5", "o200k", "o200k_base",
            context_window=400_000, max_input_tokens=272_000, context_note=GPT5_WINDOW),
    Curated("gpt-5-mini", "openai", "GPT-5 mini", "gpt-5-mini", "o200k", "o200k_base",
            context_window=400_000, max_input_tokens=272_000, context_note=GPT5_WINDOW),
    Curated("gpt-5-nano", "openai", "GPT-5 nano", "gpt-5-nano", "o200k", "o200k_base",
            context_window=400_000, max_input_tokens=272_000, context_note=GPT5_WINDOW),
    Curated("gpt-4.1", "openai", "GPT-4.1", "gpt-4.1", "o200k", "o200k_base",
            arena="GPT-4.1-2025-04-14"),
    Curated("gpt-4.1-mini", "openai", "GPT-4.1 mini", "gpt-4.1-mini", "o200k", "o200k_base",
            arena="GPT-4.1-mini-2025-04-14"),
    Curated("gpt-4.1-nano", "openai", "GPT-4.1 nano", "gpt-4.1-nano", "o200k", "o200k_base",
            arena="GPT-4.1-nano-2025-04-14"),
    Curated("gpt-4o", "openai", "GPT-4o", "gpt-4o", "o200k", "o200k_base",
            arena="GPT-4o-2024-08-06",
            arena_note="gpt-4o's $2.50/$10 price is gpt-4o-2024-08-06's (gpt-4o-2024-05-13, the "
            "reference, costs $5/$15)"),
    Curated("gpt-4o-mini", "openai", "GPT-4o mini", "gpt-4o-mini", "o200k", "o200k_base",
            arena="GPT-4o-mini-2024-07-18"),
    Curated("o3", "openai", "o3", "o3", "o200k", "o200k_base", arena="o3-2025-04-16"),
    Curated("o4-mini", "openai", "o4-mini", "o4-mini", "o200k", "o200k_base",
            arena="o4-mini-2025-04-16"),
    Curated("gpt-4-turbo", "openai", "GPT-4 Turbo", "gpt-4-turbo", "cl100k", "cl100k_base",
            arena="GPT-4-Turbo-2024-04-09", arena_note="gpt-4-turbo is gpt-4-turbo-2024-04-09"),
    Curated("gpt-4-1106-preview", "openai", "GPT-4 Turbo preview (1106)", "gpt-4-1106-preview",
            "cl100k", "cl100k_base", arena="GPT-4-1106-preview"),
    Curated("gpt-4", "openai", "GPT-4", "gpt-4", "cl100k", "cl100k_base",
            arena="GPT-4-0613", arena_note="gpt-4 is gpt-4-0613"),
    Curated("gpt-3.5-turbo", "openai", "GPT-3.5 Turbo", "gpt-3.5-turbo", "cl100k", "cl100k_base",
            arena="GPT-3.5-Turbo-0125", arena_note="gpt-3.5-turbo is gpt-3.5-turbo-0125"),
    # Anthropic
    Curated("claude-opus-4-7", "anthropic", "Claude Opus 4.7", "claude-opus-4-7", "claude-4.7"),
    Curated("claude-opus-4-6", "anthropic", "Claude Opus 4.6", "claude-opus-4-6", "claude"),
    Curated("claude-opus-4-5", "anthropic", "Claude Opus 4.5", "claude-opus-4-5", "claude"),
    Curated("claude-sonnet-4-6", "anthropic", "Claude Sonnet 4.6", "claude-sonnet-4-6", "claude"),
    Curated("claude-sonnet-4-5", "anthropic", "Claude Sonnet 4.5", "claude-sonnet-4-5", "claude"),
    Curated("claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", "claude-haiku-4-5", "claude"),
    # Google
    Curated("gemini-3.1-pro-preview", "google", "Gemini 3.1 Pro (preview)",
            "gemini/gemini-3.1-pro-preview", "gemini"),
    Curated("gemini-3-flash-preview", "google", "Gemini 3 Flash (preview)",
            "gemini/gemini-3-flash-preview", "gemini"),
    Curated("gemini-2.5-pro", "google", "Gemini 2.5 Pro", "gemini/gemini-2.5-pro", "gemini",
            arena="Gemini-2.5-Pro", arena_note=GEMINI_STABLE),
    Curated("gemini-2.5-flash", "google", "Gemini 2.5 Flash", "gemini/gemini-2.5-flash", "gemini",
            arena="Gemini-2.5-Flash", arena_note=GEMINI_STABLE),
    Curated("gemini-2.5-flash-lite", "google", "Gemini 2.5 Flash-Lite",
            "gemini/gemini-2.5-flash-lite", "gemini"),
    # Mistral (API models use the Tekken tokenizer)
    Curated("mistral-large-3", "mistral", "Mistral Large 3", "mistral/mistral-large-3",
            "mistral-tekken"),
    Curated("mistral-medium-3.5", "mistral", "Mistral Medium 3.5", "mistral/mistral-medium-3.5",
            "mistral-tekken", arena_note="the ranked Mistral Medium 3 is an earlier model"),
    Curated("mistral-small-4", "mistral", "Mistral Small 4", "mistral/mistral-small-2603",
            "mistral-tekken",
            arena_note="the ranked Mistral-Small-2506 (Small 3.2) is an earlier model"),
    Curated("codestral-2508", "mistral", "Codestral 25.08", "mistral/codestral-2508",
            "mistral-tekken"),
    # DeepSeek API (weights published: many hosts in the map serve deepseek-ai/DeepSeek-V4-*)
    Curated("deepseek-v4-pro", "deepseek", "DeepSeek V4 Pro", "deepseek-v4-pro", "deepseek",
            open_weights=True),
    Curated("deepseek-v4-flash", "deepseek", "DeepSeek V4 Flash", "deepseek-v4-flash",
            "deepseek", open_weights=True),
    # xAI
    Curated("grok-4.7", "xai", "Grok 4.7", "xai/grok-4.7", "grok"),
    Curated("grok-4.3", "xai", "Grok 4.3", "xai/grok-4.3", "grok"),
    # Open-weight models, priced at one host each (see module docstring for the host rule).
    _open("llama-3.1-8b-instruct", "meta", "Llama 3.1 8B Instruct",
          "deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct", "deepinfra", "llama-3", 8.03,
          arena="Meta-Llama-3.1-8B-Instruct"),
    _open("llama-3.1-70b-instruct", "meta", "Llama 3.1 70B Instruct",
          "deepinfra/meta-llama/Meta-Llama-3.1-70B-Instruct", "deepinfra", "llama-3", 70.6,
          arena="Meta-Llama-3.1-70B-Instruct"),
    _open("llama-3.3-70b-instruct", "meta", "Llama 3.3 70B Instruct",
          "deepinfra/meta-llama/Llama-3.3-70B-Instruct", "deepinfra", "llama-3", 70.6,
          arena="Llama-3.3-70B-Instruct"),
    _open("llama-3.2-1b-instruct", "meta", "Llama 3.2 1B Instruct",
          "together_ai/meta-llama/Llama-3.2-1B-Instruct", "together_ai", "llama-3", 1.24,
          arena="Meta-Llama-3.2-1B-Instruct"),
    _open("llama-3.2-3b-instruct", "meta", "Llama 3.2 3B Instruct",
          "deepinfra/meta-llama/Llama-3.2-3B-Instruct", "deepinfra", "llama-3", 3.21,
          arena="Meta-Llama-3.2-3B-Instruct"),
    _open("qwen2.5-7b-instruct", "qwen", "Qwen2.5 7B Instruct",
          "deepinfra/Qwen/Qwen2.5-7B-Instruct", "deepinfra", "qwen", 7.61),
    _open("qwen2.5-14b-instruct", "qwen", "Qwen2.5 14B Instruct",
          "together_ai/Qwen/Qwen2.5-14B-Instruct", "together_ai", "qwen", 14.7),
    _open("qwen2.5-32b-instruct", "qwen", "Qwen2.5 32B Instruct",
          "nebius/Qwen/Qwen2.5-32B-Instruct", "nebius", "qwen", 32.5,
          arena_note="the ranked Qwen2.5-Coder-32B-Instruct is the code model"),
    _open("qwen2.5-72b-instruct", "qwen", "Qwen2.5 72B Instruct",
          "deepinfra/Qwen/Qwen2.5-72B-Instruct", "deepinfra", "qwen", 72.7,
          arena="Qwen2.5-72B-Instruct"),
    _open("qwen3-8b", "qwen", "Qwen3 8B", "fireworks_ai/accounts/fireworks/models/qwen3-8b",
          "fireworks_ai", "qwen", 8.2),
    _open("qwen3-30b-a3b", "qwen", "Qwen3 30B-A3B", "deepinfra/Qwen/Qwen3-30B-A3B", "deepinfra",
          "qwen", 30.5, 3.3, reasoning=True, arena="Qwen3-30B-A3B",
          arena_note="the April 2025 hybrid-thinking release the host serves, not the 2507 "
          "updates"),
    _open("gemma-2-9b-it", "google", "Gemma 2 9B IT",
          "fireworks_ai/accounts/fireworks/models/gemma2-9b-it", "fireworks_ai", "gemma", 9.24,
          arena="Gemma-2-9B-it"),
    _open("gemma-3-4b-it", "google", "Gemma 3 4B IT", "deepinfra/google/gemma-3-4b-it",
          "deepinfra", "gemma", 4.3, arena="Gemma-3-4B-it"),
    _open("gemma-3-12b-it", "google", "Gemma 3 12B IT", "deepinfra/google/gemma-3-12b-it",
          "deepinfra", "gemma", 12.2, arena="Gemma-3-12B-it"),
    _open("gemma-3-27b-it", "google", "Gemma 3 27B IT", "deepinfra/google/gemma-3-27b-it",
          "deepinfra", "gemma", 27.4, arena="Gemma-3-27B-it"),
    _open("codegemma-7b", "google", "CodeGemma 7B",
          "fireworks_ai/accounts/fireworks/models/codegemma-7b", "fireworks_ai", "gemma", 8.54),
    _open("mistral-7b-instruct-v0.3", "mistral", "Mistral 7B Instruct v0.3",
          "together_ai/mistralai/Mistral-7B-Instruct-v0.3", "together_ai",
          "mistral-sentencepiece", 7.25,
          arena_note="only v0.1 and v0.2 are ranked"),
    _open("mistral-nemo-12b-instruct", "mistral", "Mistral NeMo 12B Instruct",
          "deepinfra/mistralai/Mistral-Nemo-Instruct-2407", "deepinfra", "mistral-tekken", 12.2,
          encoding="tekken_240718"),
    _open("mixtral-8x7b-instruct-v0.1", "mistral", "Mixtral 8x7B Instruct v0.1",
          "deepinfra/mistralai/Mixtral-8x7B-Instruct-v0.1", "deepinfra", "mistral-sentencepiece",
          46.7, 12.9, arena="Mixtral-8x7B-Instruct-v0.1"),
    _open("mixtral-8x22b-instruct-v0.1", "mistral", "Mixtral 8x22B Instruct v0.1",
          "fireworks_ai/accounts/fireworks/models/mixtral-8x22b-instruct", "fireworks_ai",
          "mistral-sentencepiece", 140.6, 39.1, arena="Mixtral-8x22b-Instruct-v0.1"),
    _open("phi-4", "microsoft", "Phi-4", "deepinfra/microsoft/phi-4", "deepinfra", "cl100k",
          14.7, encoding="cl100k_base", arena="Phi-4"),
    _open("gpt-oss-20b", "openai", "gpt-oss-20b", "deepinfra/openai/gpt-oss-20b", "deepinfra",
          "o200k", 20.9, 3.6, encoding="o200k_base", reasoning=True),
    _open("gpt-oss-120b", "openai", "gpt-oss-120b", "deepinfra/openai/gpt-oss-120b", "deepinfra",
          "o200k", 116.8, 5.1, encoding="o200k_base", reasoning=True),
    _open("deepseek-v3", "deepseek", "DeepSeek-V3", "deepinfra/deepseek-ai/DeepSeek-V3",
          "deepinfra", "deepseek", 671.0, 37.0, arena="DeepSeek-V3",
          arena_note="the December 2024 weights the host serves, not DeepSeek-V3-0324"),
    _open("llama-3.3-nemotron-super-49b-v1", "nvidia", "Llama 3.3 Nemotron Super 49B v1",
          "nebius/nvidia/Llama-3.3-Nemotron-Super-49B-v1", "nebius", "llama-3", 49.9,
          arena="Llama-3.3-Nemotron-Super-49B-v1"),
    # Not listed by any preferred host in the map: NVIDIA's hosted price from LLMRouter.
    _open("llama-3.1-nemotron-51b-instruct", "nvidia", "Llama 3.1 Nemotron 51B Instruct", None,
          "nvidia", "llama-3", 51.5, arena="Llama-3.1-Nemotron-51B-Instruct",
          context_window=131_072,
          context_note="model card: 128k window inherited from Llama 3.1"),
    _open("llama3-chatqa-1.5-8b", "nvidia", "Llama3-ChatQA-1.5 8B", None, "nvidia", "llama-3",
          8.03, context_window=8192, context_note="model card: Llama 3 base, 8k window"),
    _open("llama3-chatqa-1.5-70b", "nvidia", "Llama3-ChatQA-1.5 70B", None, "nvidia", "llama-3",
          70.6, context_window=8192, context_note="model card: Llama 3 base, 8k window"),
)

@dataclass(frozen=True)
class ArenaScore:
    """One leaderboard row: Elo score, its published 95 % interval and the votes behind it."""

    model: str
    score: int
    ci: str
    votes: int


# The encoding field holds the exact tokenizer for the generations where one is known.
EXACT_ENCODINGS = {"o200k": "o200k_base", "cl100k": "cl100k_base"}


def _per_million(per_token: float | None) -> float | None:
    if per_token is None:
        return None
    return round(float(per_token) * PER_MILLION, 6)


def _long_context(entry: dict[str, Any]) -> dict[str, Any]:
    """Return the long-context price tier of a LiteLLM entry, if it has one."""
    for threshold in (128_000, 200_000, 272_000):
        suffix = f"_above_{threshold // 1000}k_tokens"
        input_long = entry.get("input_cost_per_token" + suffix)
        if input_long is None:
            continue
        return {
            "long_context_threshold": threshold,
            "input_per_mtok_long": _per_million(input_long),
            "output_per_mtok_long": _per_million(
                entry.get("output_cost_per_token" + suffix, entry["output_cost_per_token"])
            ),
            "cached_input_per_mtok_long": _per_million(
                entry.get("cache_read_input_token_cost" + suffix)
            ),
        }
    return {}


def expected_win_rate(score: float, reference: float) -> float:
    """Elo expected score of a model rated ``score`` against one rated ``reference``."""
    return 1 / (1 + 10 ** ((reference - score) / 400))


def _quality(curated: Curated, arena: Mapping[str, ArenaScore]) -> tuple[float | None, str]:
    note = f"; {curated.arena_note}" if curated.arena_note else ""
    if curated.arena is None:
        absent = f"no public figure: not on the lmarena text leaderboard of {ARENA_SNAPSHOT}"
        return None, absent + note
    if curated.arena not in arena:
        raise ValueError(f"{curated.id}: arena row {curated.arena!r} is not in the arena table")

    row = arena[curated.arena]
    reference = arena[ARENA_REFERENCE]
    quality = round(expected_win_rate(row.score, reference.score), 4)
    return quality, (
        f"lmarena text Elo {row.score} {row.ci} ({row.model}, snapshot {ARENA_SNAPSHOT}, via "
        f"CherryHQ/cherry-studio-docs@{ARENA_COMMIT}), win rate vs gpt-4o-2024-05-13 "
        f"(Elo {reference.score}){note}"
    )


def _hosted_price(curated: Curated, litellm: dict[str, Any], nvidia: dict[str, Any]) -> dict:
    """Prices, limits and provenance for one row, from LiteLLM or, failing that, LLMRouter."""
    if curated.price_key is None:
        listed = nvidia[curated.id]
        return {
            "input_per_mtok": float(listed["input_price"]),
            "output_per_mtok": float(listed["output_price"]),
            "cached_input_per_mtok": None,
            "cache_write_per_mtok": None,
            "context_window": curated.context_window,
            "max_output_tokens": curated.context_window,
            "reasoning": False,
            "price_source": f"llmrouter: NVIDIA-hosted {listed['model']}",
        }

    entry = litellm[curated.price_key]
    window = curated.context_window or entry["max_input_tokens"]
    return {
        "input_per_mtok": _per_million(entry["input_cost_per_token"]),
        "output_per_mtok": _per_million(entry["output_cost_per_token"]),
        "cached_input_per_mtok": _per_million(entry.get("cache_read_input_token_cost")),
        "cache_write_per_mtok": _per_million(entry.get("cache_creation_input_token_cost")),
        "context_window": window,
        "max_output_tokens": curated.max_output_tokens or entry.get("max_output_tokens") or window,
        "reasoning": bool(entry.get("supports_reasoning", False)),
        "deprecation_date": entry.get("deprecation_date"),
        "price_source": f"litellm_1.110.2: {curated.price_key}",
        **_long_context(entry),
    }


def _aliases(curated: Curated, litellm: dict[str, Any]) -> list[str]:
    """Other names that mean this row: the host's model name and same-priced dated snapshots."""
    names: set[str] = set()
    if curated.price_key is not None:
        names.add(curated.price_key.rsplit("/", 1)[-1].lower())
        entry = litellm[curated.price_key]
        prefix = curated.price_key + "-"
        for key, other in litellm.items():
            snapshot = key[len(prefix):].replace("-", "")
            same_price = all(
                other.get(name) == entry.get(name)
                for name in ("input_cost_per_token", "output_cost_per_token",
                             "cache_read_input_token_cost", "max_input_tokens")
            )
            if key.startswith(prefix) and snapshot.isdigit() and len(snapshot) == 8 and same_price:
                names.add(key.rsplit("/", 1)[-1].lower())
    names.discard(curated.id)
    return sorted(names)


def build_row(
    curated: Curated,
    litellm: dict[str, Any],
    arena: Mapping[str, ArenaScore],
    nvidia: dict[str, Any],
    as_of: str,
) -> dict[str, Any]:
    """Assemble one catalog row in the catalog contract's field order."""
    price = _hosted_price(curated, litellm, nvidia)
    ratio, ratio_source = TOKEN_RATIOS[curated.tokenizer]
    quality, quality_source = _quality(curated, arena)
    encoding = curated.encoding or EXACT_ENCODINGS.get(curated.tokenizer)

    row: dict[str, Any] = {
        "id": curated.id,
        "provider": curated.provider,
        "name": curated.name,
        "input_per_mtok": price["input_per_mtok"],
        "output_per_mtok": price["output_per_mtok"],
        "cached_input_per_mtok": price["cached_input_per_mtok"],
        "cache_write_per_mtok": price["cache_write_per_mtok"],
        "context_window": price["context_window"],
        "max_output_tokens": price["max_output_tokens"],
        "encoding": encoding,
        "token_ratio": ratio,
        "open_weights": curated.open_weights,
        "params_b": curated.params_b,
        "active_params_b": curated.active_params_b,
        "quality": quality,
        "quality_source": quality_source,
        "price_source": price["price_source"],
        "as_of": as_of,
        "max_input_tokens": curated.max_input_tokens,
        "reasoning": price["reasoning"] if curated.reasoning is None else curated.reasoning,
        "hosted_by": curated.hosted_by,
        "deprecation_date": price.get("deprecation_date"),
        "token_ratio_source": ratio_source,
        "aliases": _aliases(curated, litellm),
    }
    for key in ("long_context_threshold", "input_per_mtok_long", "output_per_mtok_long",
                "cached_input_per_mtok_long"):
        if key in price:
            row[key] = price[key]
    if curated.context_note:
        row["context_source"] = curated.context_note
    return row


def read_arena_elo(path: Path = ARENA_TABLE) -> dict[str, ArenaScore]:
    """Read the shipped arena table (``#`` lines are its source note) into {model: row}."""
    with path.open(newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    table = {
        row["model"]: ArenaScore(row["model"], int(row["score"]), row["ci"], int(row["votes"]))
        for row in csv.DictReader(lines)
    }
    if ARENA_REFERENCE not in table:
        raise ValueError(f"{path.name}: the reference model {ARENA_REFERENCE} is missing")
    return table


def build_catalog(
    litellm: dict[str, Any], arena: Mapping[str, ArenaScore], nvidia: dict[str, Any], as_of: str
) -> dict[str, Any]:
    """Build the whole catalog document from loaded sources."""
    models = [build_row(curated, litellm, arena, nvidia, as_of) for curated in CURATED]
    return {
        "catalog_date": as_of,
        "sources": {
            "litellm_1.110.2": LITELLM_CITATION,
            ARENA_CITATION_KEY: ARENA_CITATION,
            "llmrouter": LLMROUTER_CITATION,
            "token_ratios": (
                "tokens per o200k_base token by tokenizer generation; measured ones were counted "
                "on the first 400,000 characters of shoal's benchmark corpus (English prompts, "
                "CPython stdlib, LiteLLM JSON, CJK codec tests)"
            ),
            "params": "parameter counts (billions) from each model's Hugging Face model card",
            "context_windows": (
                "context_window from the price source unless context_source says otherwise; "
                "max_input_tokens is set only where the vendor caps input below the window"
            ),
        },
        "models": models,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: read the sources, write models.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--litellm", type=Path, required=True)
    parser.add_argument("--arena", type=Path, default=ARENA_TABLE)
    parser.add_argument("--llmrouter", type=Path, required=True)
    parser.add_argument("--as-of", required=True, help="date the prices were taken, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    litellm = json.loads(args.litellm.read_text(encoding="utf-8"))
    nvidia = json.loads(args.llmrouter.read_text(encoding="utf-8"))
    catalog = build_catalog(litellm, read_arena_elo(args.arena), nvidia, args.as_of)

    args.out.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logging.basicConfig(level=logging.INFO)
    logger.info("wrote %d models to %s", len(catalog["models"]), args.out)


if __name__ == "__main__":
    main()
