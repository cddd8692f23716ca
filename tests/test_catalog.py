"""The shipped model catalog: every row well formed and sourced; lookups; user override files."""

from __future__ import annotations

import datetime
import json
import math
import re
from importlib import resources
from pathlib import Path

import pytest

from shoal._build.catalog import ARENA_REFERENCE, expected_win_rate, read_arena_elo
from shoal.catalog import (
    MAX_USD_PER_MTOK,
    REQUIRED_FIELDS,
    Catalog,
    CatalogError,
    ModelEntry,
    UnknownModelError,
    configured_catalog,
    load_catalog,
)

OPEN_WEIGHT_IDS = (
    "llama-3.1-8b-instruct", "llama-3.1-70b-instruct", "llama-3.3-70b-instruct",
    "llama-3.2-1b-instruct", "llama-3.2-3b-instruct", "qwen2.5-7b-instruct",
    "qwen2.5-14b-instruct", "qwen2.5-32b-instruct", "qwen2.5-72b-instruct", "qwen3-8b",
    "qwen3-30b-a3b", "gemma-2-9b-it", "gemma-3-4b-it", "gemma-3-12b-it", "gemma-3-27b-it",
    "mistral-7b-instruct-v0.3", "mistral-nemo-12b-instruct", "mixtral-8x7b-instruct-v0.1",
    "mixtral-8x22b-instruct-v0.1", "phi-4", "gpt-oss-20b", "gpt-oss-120b", "deepseek-v3",
    "codegemma-7b", "llama3-chatqa-1.5-8b", "llama3-chatqa-1.5-70b",
    "llama-3.1-nemotron-51b-instruct", "llama-3.3-nemotron-super-49b-v1",
)

RAW = json.loads((resources.files("shoal") / "data" / "models.json").read_text(encoding="utf-8"))
CATALOG = load_catalog()


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


# ---- the shipped file ----------------------------------------------------------------------


def test_document_is_dated_and_sourced() -> None:
    assert _is_date(RAW["catalog_date"])
    assert CATALOG.catalog_date == RAW["catalog_date"]
    assert RAW["sources"] and all(isinstance(v, str) and v for v in RAW["sources"].values())


def test_size_and_provider_spread() -> None:
    assert len(CATALOG) >= 25
    assert len({entry.provider for entry in CATALOG}) >= 5
    closed = {entry.provider for entry in CATALOG if not entry.open_weights}
    assert {"openai", "anthropic", "google", "mistral", "xai"} <= closed


def test_every_open_weight_id_is_present_with_its_size() -> None:
    for model_id in OPEN_WEIGHT_IDS:
        entry = CATALOG.model(model_id)
        assert entry.id == model_id
        assert entry.open_weights
        assert entry.params_b is not None and entry.active_params_b is not None
        assert 0 < entry.active_params_b <= entry.params_b
        assert entry.hosted_by, f"{model_id}: the price must say which host it is from"


@pytest.mark.parametrize("row", RAW["models"], ids=[row["id"] for row in RAW["models"]])
def test_row_schema(row: dict) -> None:
    for name in REQUIRED_FIELDS:
        assert name in row, f"missing {name}"

    assert row["id"] == row["id"].lower() and " " not in row["id"]
    for name in ("provider", "name", "quality_source", "price_source"):
        assert isinstance(row[name], str) and row[name].strip()
    assert _is_date(row["as_of"])

    for name in ("input_per_mtok", "output_per_mtok"):
        assert isinstance(row[name], float | int) and not isinstance(row[name], bool)
        assert math.isfinite(row[name]) and row[name] > 0
    # Output never costs less than input at any listed vendor; catches swapped columns.
    assert row["output_per_mtok"] >= row["input_per_mtok"]
    cached = row["cached_input_per_mtok"]
    assert cached is None or 0 <= cached <= row["input_per_mtok"]
    write = row["cache_write_per_mtok"]
    # A token written to the cache is processed as input: no vendor bills it below plain input
    # (a price source's 0.0 means "no separate rate", which the catalog spells null).
    assert write is None or write >= row["input_per_mtok"]

    assert isinstance(row["context_window"], int) and row["context_window"] >= 4096
    assert isinstance(row["max_output_tokens"], int)
    assert 0 < row["max_output_tokens"] <= row["context_window"]
    if row.get("max_input_tokens") is not None:
        assert row["max_input_tokens"] < row["context_window"]

    assert row["encoding"] in (None, "o200k_base", "cl100k_base", "tekken_240718")
    assert 0.5 <= row["token_ratio"] <= 2.0
    assert row.get("token_ratio_source")
    if row["encoding"] is None:
        assert "estimate" in row["token_ratio_source"] or "measured" in row["token_ratio_source"]

    assert isinstance(row["open_weights"], bool)
    assert row["quality"] is None or 0 < row["quality"] < 1
    if row["quality"] is None:
        assert row["quality_source"].startswith("no public figure")

    assert isinstance(row["reasoning"], bool)
    assert row.get("deprecation_date") is None or _is_date(row["deprecation_date"])


def test_long_context_tiers_are_complete_and_dearer() -> None:
    tiered = [entry for entry in CATALOG if entry.long_context_threshold is not None]
    assert {"gemini-2.5-pro", "gpt-5.4", "grok-4.3"} <= {entry.id for entry in tiered}
    for entry in tiered:
        assert entry.input_per_mtok_long is not None and entry.output_per_mtok_long is not None
        assert entry.input_per_mtok_long > entry.input_per_mtok
        assert entry.output_per_mtok_long >= entry.output_per_mtok
        assert entry.long_context_threshold < entry.context_window


def test_ids_and_aliases_are_unique() -> None:
    names = [entry.id for entry in CATALOG] + [a for entry in CATALOG for a in entry.aliases]
    assert len(names) == len(set(names))


def test_known_prices_and_windows() -> None:
    mini = CATALOG.model("gpt-4.1-mini")
    prices = (mini.input_per_mtok, mini.output_per_mtok, mini.cached_input_per_mtok)
    assert prices == (0.4, 1.6, 0.1)
    assert mini.context_window == 1_047_576 and mini.encoding == "o200k_base"

    # GPT-5: LiteLLM's 272k is the input cap of a 400k window.
    gpt5 = CATALOG.model("gpt-5")
    limits = (gpt5.context_window, gpt5.max_input_tokens, gpt5.input_limit)
    assert limits == (400_000, 272_000, 272_000)
    assert gpt5.reasoning

    sonnet = CATALOG.model("claude-sonnet-4-5")
    assert (sonnet.input_per_mtok, sonnet.output_per_mtok) == (3.0, 15.0)
    assert (sonnet.cached_input_per_mtok, sonnet.cache_write_per_mtok) == (0.3, 3.75)
    assert sonnet.encoding is None and sonnet.token_ratio > 1

    assert CATALOG.model("gpt-4").encoding == "cl100k_base"
    opus_47, opus_46 = CATALOG.model("claude-opus-4-7"), CATALOG.model("claude-opus-4-6")
    assert opus_47.token_ratio > opus_46.token_ratio  # the Opus 4.7 tokenizer change


# ---- quality priors: one lmarena snapshot, Elo mapped to the win rate against gpt-4o-2024-05-13


ARENA = read_arena_elo()
REFERENCE_ELO = 1301  # GPT-4o-2024-05-13 in the lmarena text leaderboard of 2025-07-14
ELO_IN_SOURCE = re.compile(r"^lmarena text Elo (\d+) \+\d+/-\d+ \(([^,]+), snapshot 2025-07-14, ")


def _win_rate(elo: int) -> float:
    return 1 / (1 + 10 ** ((REFERENCE_ELO - elo) / 400))


def test_quality_prior_by_hand() -> None:
    # GPT-4.1-2025-04-14 has Elo 1384: 10^((1301 - 1384) / 400) = 10^-0.2075 = 0.62016, and
    # 1 / 1.62016 = 0.61722.
    gpt41 = CATALOG.model("gpt-4.1")
    assert gpt41.quality == 0.6172
    assert gpt41.quality_source.startswith("lmarena text Elo 1384 +3/-4 (GPT-4.1-2025-04-14, ")
    assert "cherry-studio-docs@013d2e04c3225512630a307059cd5df975c4a8d5" in gpt41.quality_source

    # gpt-4o is priced as gpt-4o-2024-08-06 (Elo 1281), not the dearer 2024-05-13 reference.
    assert CATALOG.model("gpt-4o").quality == 0.4712
    assert "GPT-4o-2024-08-06" in CATALOG.model("gpt-4o").quality_source


def test_reference_model_scores_one_half() -> None:
    assert ARENA[ARENA_REFERENCE].score == REFERENCE_ELO
    assert expected_win_rate(ARENA[ARENA_REFERENCE].score, REFERENCE_ELO) == 0.5
    # Ten Elo points either side of the reference stay close to a coin toss.
    assert _win_rate(REFERENCE_ELO + 10) == pytest.approx(0.5144, abs=1e-4)


def test_every_prior_is_the_win_rate_of_its_shipped_elo() -> None:
    with_prior = [entry for entry in CATALOG if entry.quality is not None]
    for entry in with_prior:
        match = ELO_IN_SOURCE.match(entry.quality_source)
        assert match, f"{entry.id}: {entry.quality_source!r}"
        elo, arena_model = int(match.group(1)), match.group(2)
        assert ARENA[arena_model].score == elo, entry.id
        assert entry.quality == round(_win_rate(elo), 4), entry.id
        assert 0 < entry.quality < 1


def test_prior_coverage() -> None:
    missing = {entry.id for entry in CATALOG if entry.quality is None}
    assert len(CATALOG) - len(missing) == 30
    # Released after the snapshot, or never ranked: these stay null rather than borrow a figure.
    assert {"gpt-5", "claude-sonnet-4-5", "gemini-3.1-pro-preview", "gpt-oss-120b",
            "mistral-7b-instruct-v0.3", "qwen2.5-7b-instruct"} <= missing
    for entry in CATALOG:
        if entry.quality is None:
            assert "not on the lmarena text leaderboard of 2025-07-14" in entry.quality_source


def test_priors_share_one_scale() -> None:
    quality_sources = [key for key in RAW["sources"] if "arena" in key]
    assert quality_sources == ["lmarena_text_2025_07_14"]
    assert "win rate against gpt-4o-2024-05-13" in RAW["sources"]["lmarena_text_2025_07_14"]


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ("gpt-4.1", "gpt-4.1-mini"), ("gpt-4.1-mini", "gpt-4.1-nano"), ("o3", "o4-mini"),
        ("gemini-2.5-pro", "gemini-2.5-flash"), ("gemma-3-27b-it", "gemma-3-12b-it"),
        ("gemma-3-12b-it", "gemma-3-4b-it"), ("llama-3.1-70b-instruct", "llama-3.1-8b-instruct"),
        ("llama-3.2-3b-instruct", "llama-3.2-1b-instruct"),
        ("mixtral-8x22b-instruct-v0.1", "mixtral-8x7b-instruct-v0.1"),
        ("gpt-4-turbo", "gpt-4"), ("gpt-4", "gpt-3.5-turbo"),
    ],
)
def test_priors_order_flagships_above_their_smaller_siblings(stronger: str, weaker: str) -> None:
    assert CATALOG.model(stronger).quality > CATALOG.model(weaker).quality


def test_order_is_stable() -> None:
    assert CATALOG.ids == tuple(row["id"] for row in RAW["models"])
    assert load_catalog() is CATALOG


# ---- lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("  GPT-4.1-Mini ", "gpt-4.1-mini"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct"),
    ],
)
def test_lookup_forms(query: str, expected: str) -> None:
    assert CATALOG.model(query).id == expected
    assert query in CATALOG


def test_dated_snapshot_with_a_different_price_is_not_aliased() -> None:
    # gpt-4o-2024-05-13 costs $5/$15, not gpt-4o's $2.50/$10: it must not resolve silently.
    assert "gpt-4o-2024-05-13" not in CATALOG


def test_unknown_model_lists_near_matches() -> None:
    with pytest.raises(UnknownModelError) as caught:
        CATALOG.model("gpt-4.2-mini")
    message = str(caught.value)
    assert "'gpt-4.2-mini'" in message and "did you mean" in message
    assert "'gpt-4.1-mini'" in message
    assert caught.value.suggestions[0] == "gpt-4.1-mini"
    assert isinstance(caught.value, ValueError)


def test_unknown_model_without_near_match() -> None:
    with pytest.raises(UnknownModelError, match="no close match"):
        CATALOG.model("zzzzzz")


def test_model_id_must_be_text() -> None:
    with pytest.raises(TypeError, match="a model id must be a string"):
        CATALOG.model(42)  # type: ignore[arg-type]


def test_entries_are_frozen() -> None:
    entry = CATALOG.model("gpt-4o")
    with pytest.raises(AttributeError):
        entry.input_per_mtok = 0.0  # type: ignore[misc]


# ---- user files ----------------------------------------------------------------------------


def _write(tmp_path: Path, document: object, name: str = "mine.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


NEW_ROW = {
    "id": "my-finetune", "provider": "acme", "name": "My fine-tune",
    "input_per_mtok": 0.5, "output_per_mtok": 1.5, "cached_input_per_mtok": None,
    "cache_write_per_mtok": None, "context_window": 32768, "max_output_tokens": 4096,
    "encoding": None, "token_ratio": 1.1, "open_weights": True, "params_b": 8.0,
    "active_params_b": 8.0, "quality": None, "quality_source": "none yet",
    "price_source": "our invoice", "as_of": "2026-11-30",
}


def test_user_file_overrides_fields_and_adds_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, {"models": [{"id": "openai/gpt-4o", "input_per_mtok": 2.0}, NEW_ROW]})
    catalog = load_catalog(path)

    gpt4o = catalog.model("gpt-4o")
    assert gpt4o.input_per_mtok == 2.0
    assert gpt4o.output_per_mtok == 10.0  # kept from the shipped row
    assert gpt4o.price_source == "user file mine.json"
    assert catalog.ids[: len(CATALOG)] == CATALOG.ids  # order kept, new rows at the end
    assert catalog.ids[-1] == "my-finetune"
    assert catalog.model("MY-FINETUNE").params_b == 8.0
    assert CATALOG.model("gpt-4o").input_per_mtok == 2.5  # the shipped catalog is untouched


def test_a_plain_price_file_reprices_catalog_models_as_fit_and_eval_read_it(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, {"_note": "comments start with _",
                             "openai/gpt-4o": {"input_per_mtok": 2.0, "output_per_mtok": 8.0,
                                               "source": "our invoice"},
                             "gemma-2-9b-it": {"input_price": 0.1, "output_price": 0.1,
                                               "size": "9B"}})

    catalog = load_catalog(path)

    gpt4o = catalog.model("gpt-4o")
    assert (gpt4o.input_per_mtok, gpt4o.output_per_mtok) == (2.0, 8.0)
    assert gpt4o.price_source == "our invoice" and catalog.price_files["gpt-4o"] == "mine.json"
    assert catalog.model("gemma-2-9b-it").input_per_mtok == 0.1
    assert catalog.ids == CATALOG.ids


@pytest.mark.parametrize(("document", "expected"), [
    ({"gpt-4o": {"input_per_mtok": 2.0}}, "mine.json: 'gpt-4o': needs input_per_mtok and "
                                          "output_per_mtok"),
    ({"gpt-4o": {"input_per_mtok": 2.0, "output_per_mtk": 8.0}},
     "mine.json: 'gpt-4o': unknown field(s) 'output_per_mtk'; an entry has input_per_mtok, "
     "output_per_mtok and an optional source only"),
    ({"gpt-4o": {"input_price": 1, "output_price": 2, "cached_input_per_mtok": 0.01}},
     "mine.json: 'gpt-4o': 'cached_input_per_mtok' would not be read: an entry in LLMRouter's "
     "form is priced by input_price and output_price only"),
    ({"gpt-4o": {"input_price": 1, "output_per_mtok": 2}},
     "mine.json: 'gpt-4o': gives input_price and output_per_mtok: give input_per_mtok and "
     "output_per_mtok, or LLMRouter's input_price and output_price, not both"),
    ({"acme-7b": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
     "mine.json model #1 (id 'acme-7b'): not in the catalog, and an entry of a {model: prices} "
     "file reprices a catalog model; add a new model as a full row of a catalog-shaped file"),
    ({"gpt-4o": {"input_per_mtok": 2.0, "output_per_mtok": 8.0},
      "openai/GPT-4o": {"input_per_mtok": 2.0, "output_per_mtok": 8.0}},
     "mine.json model #2 (id 'openai/GPT-4o'): names gpt-4o, as mine.json model #1"),
])
def test_a_plain_price_file_is_refused_by_entry(
    tmp_path: Path, document: dict, expected: str,
) -> None:
    with pytest.raises(CatalogError) as refused:
        load_catalog(_write(tmp_path, document))

    assert expected in str(refused.value)


def test_a_refused_configured_price_file_is_named_by_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", str(_write(tmp_path, {"gpt-4o": {}})))

    with pytest.raises(CatalogError, match=r"^SHOAL_PRICES: mine\.json: 'gpt-4o': needs"):
        configured_catalog()


def test_the_catalog_names_the_user_file_of_each_row_it_prices_or_dates(tmp_path: Path) -> None:
    path = _write(tmp_path, {"models": [
        {"id": "gpt-4o", "input_per_mtok": 2.0},
        {"id": "gpt-4.1", "as_of": "2026-11-30"},
        {"id": "gpt-4.1-mini", "context_window": 100_000},
        NEW_ROW,
    ]})

    catalog = load_catalog(path)

    # A row that changes neither prices nor their date is still priced as shipped.
    assert dict(catalog.price_files) == {
        "gpt-4o": "mine.json", "gpt-4.1": "mine.json", "my-finetune": "mine.json"
    }
    assert catalog.model("gpt-4.1").as_of == "2026-11-30"
    assert dict(CATALOG.price_files) == {}


def test_user_file_is_cached_until_it_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"id": "gpt-4o", "input_per_mtok": 2.0}])
    first = load_catalog(path)
    assert load_catalog(str(path)) is first

    path.write_text(json.dumps([{"id": "gpt-4o", "input_per_mtok": 1.75}]), encoding="utf-8")
    assert load_catalog(path).model("gpt-4o").input_per_mtok == 1.75


MALFORMED_ROWS = [
    ([{"id": "gpt-4o", "input_per_mtok": -1}],
     r"#1 \(id 'gpt-4o'\): field 'input_per_mtok' must not be negative"),
    ([{"id": "gpt-4o", "input_per_mtok": "cheap"}],
     r"field 'input_per_mtok' must be a finite number, got 'cheap'"),
    ([{"id": "gpt-4o", "output_per_mtok": 1e308}],
     r"field 'output_per_mtok' must be at most 1,000,000 USD per million tokens, got "
     r"100000000000000000\.\.\.00000000000000000\.0"),
    ([dict(NEW_ROW, cache_write_per_mtok=2e6)], r"field 'cache_write_per_mtok' must be at most"),
    ([{"id": "gpt-4o", "long_context_threshold": 100000, "input_per_mtok_long": 5.0,
       "output_per_mtok_long": 1e7}], r"field 'output_per_mtok_long' must be at most"),
    ([{"id": "gpt-4o", "context_window": 1000, "max_output_tokens": 16384}],
     r"field 'max_output_tokens' must not exceed context_window 1000"),
    ([{"id": "gpt-4o", "quality": 79.2}], r"field 'quality' must be between 0 and 1"),
    ([{"id": "gpt-4o", "as_of": "04/12/2026"}], r"field 'as_of' must be a date written YYYY-MM-DD"),
    ([{"id": "gpt-4o", "encoding": "p50k_base"}], r"field 'encoding' must be null or one of"),
    ([{"id": "gpt-4o", "input_per_mtoks": 1.0}], r"unknown field\(s\) 'input_per_mtoks'"),
    ([{"id": "gpt-4o", "open_weights": "yes"}], r"field 'open_weights' must be true or false"),
    ([{"id": "gpt-4o", "long_context_threshold": 100000}],
     r"field 'input_per_mtok_long' is needed"),
    ([dict(NEW_ROW, context_window=0)],
     r"#1 \(id 'my-finetune'\): field 'context_window' must be a positive whole number"),
    ([{k: v for k, v in NEW_ROW.items() if k != "price_source"}],
     r"#1 \(id 'my-finetune'\): missing field\(s\) 'price_source'"),
    ([NEW_ROW, NEW_ROW],
     r"#2 \(id 'my-finetune'\): names my-finetune, as mine.json model #1 \(id 'my-finetune'\) "
     "does; give each model one row"),
    # Values as the file spells them: Python's nan, None and True read as other words.
    ([{"id": "gpt-4o", "input_per_mtok": math.nan}],
     r"field 'input_per_mtok' must be a finite number, got NaN$"),
    ([{"id": "gpt-4o", "open_weights": None}],
     r"field 'open_weights' must be true or false, got null$"),
    ([{"id": "gpt-4o", "quality": True}], r"field 'quality' must be a finite number, got true$"),
    # Ids, aliases and names are printed in every listing: a terminal escape, a newline or
    # U+202E in a user file rewrote `shoal models` and `shoal cost` lines, a 300-character id
    # was taken that no other command accepts as a model id.
    ([dict(NEW_ROW, id="my-\x1b[31mfinetune")],
     r"field 'id' must hold only printable characters \(no control or format characters, no "
     r"space but ' '\); '\\x1b' is not"),
    ([dict(NEW_ROW, id="my-finetune\u202egnp")], r"field 'id' must hold only printable"),
    ([dict(NEW_ROW, id="x" * 201)],
     r"#1 \(id 'xxxxxxxxxxxxxxxxx\.\.\.xxxxxxxxxxxxxxxxxx'\): field 'id' must be at most 200 "
     r"characters"),
    ([dict(NEW_ROW, name="Fine\ntune")], r"field 'name' must hold only printable characters"),
    ([dict(NEW_ROW, aliases=["mine\x1b[2J"])],
     r"field 'aliases' must hold only printable characters"),
    ([dict(NEW_ROW, aliases=["m" * 201])], r"field 'aliases' must each be at most 200 characters"),
    ([{"input_per_mtok": 1.0}], r"#1: each model needs a string 'id'"),
    (["gpt-4o"], r"#1: each model needs a string 'id'"),
]


@pytest.mark.parametrize(("rows", "expected"), MALFORMED_ROWS)
def test_malformed_user_rows_name_row_and_field(tmp_path: Path, rows: list, expected: str) -> None:
    path = _write(tmp_path, {"models": rows})
    with pytest.raises(CatalogError, match=expected) as caught:
        load_catalog(path)
    assert str(caught.value).startswith("mine.json model #")


@pytest.mark.parametrize("spelled", ["1e400", "-1E+400", "2.5e999"])
def test_a_price_past_a_float_s_range_is_quoted_as_the_file_spells_it(
    tmp_path: Path, spelled: str
) -> None:
    path = tmp_path / "mine.json"
    path.write_text(f'[{{"id": "gpt-4o", "input_per_mtok": {spelled}}}]', encoding="utf-8")

    # Not "got Infinity": the file says no such word.
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(caught.value) == ("mine.json model #1 (id 'gpt-4o'): field 'input_per_mtok' must "
                                 f"be a finite number, got {spelled}")


def test_the_dearest_accepted_price_gives_a_finite_cost(tmp_path: Path) -> None:
    from shoal.cost import estimate_cost

    catalog = load_catalog(_write(tmp_path, [{"id": "gpt-4o", "input_per_mtok": MAX_USD_PER_MTOK}]))
    cost = estimate_cost("gpt-4o", input_tokens=100_000_000, calls=1_000_000_000, catalog=catalog)
    assert math.isfinite(cost.total_usd)


README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_price_paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**Your own prices and models.**")
    return text[start:text.index("```", text.index("```json", start) + 1)]


def test_the_readme_lists_the_required_fields_and_its_example_loads(tmp_path: Path) -> None:
    paragraph = _readme_price_paragraph()
    prose, example = paragraph.split("```json")
    listed = prose[prose.index("every required field"):prose.index("(YYYY-MM-DD)")]
    assert re.findall(r"`(\w+)`", listed) == list(REQUIRED_FIELDS)
    assert f"0 to {MAX_USD_PER_MTOK:,.0f}" in prose

    catalog = load_catalog(_write(tmp_path, json.loads(example)))
    assert catalog.model("gpt-4o").input_per_mtok == 2.0
    assert catalog.model("gpt-4o").price_source == "user file mine.json"
    assert catalog.ids[-1] == "my-finetune"

    added = next(row for row in json.loads(example)["models"] if row["id"] == "my-finetune")
    for name in REQUIRED_FIELDS[1:]:  # each is needed: leaving one out is an error (id aside,
        # which decides whether a row overrides or adds)
        with pytest.raises(CatalogError, match=f"missing field\\(s\\) '{name}'"):
            load_catalog(_write(tmp_path, [{k: v for k, v in added.items() if k != name}],
                                name=f"without-{name}.json"))


def test_the_llama_3_ratio_has_one_source_in_the_catalog_and_the_readme() -> None:
    # Meta's tokenizer is not shipped (its licence), and no count with it is on record: neither
    # the catalog nor the README's table of ratios may cite a measurement with it, or differ.
    llama = [row for row in RAW["models"] if re.match(r"llama-?3", row["id"])]
    sources = {row["token_ratio_source"] for row in llama}
    row = next(line for line in README.read_text(encoding="utf-8").splitlines()
               if line.startswith("| Llama 3 ("))

    assert len(llama) == 9 and len(sources) == 1
    (source,) = sources
    assert source.startswith("estimate, not measured: ")
    assert "| 1.05 | estimate, not measured: " in row
    for text in (source, row):
        assert "a tiktoken BPE of 128,000 ranks with cl100k's split pattern" in text
        assert "0.99-1.01" in text and "1.39 on CJK" in text and "over-count except on CJK" in text
        assert "measured here" not in text.lower()


def test_an_unknown_model_points_to_the_readme_on_price_files() -> None:
    with pytest.raises(UnknownModelError) as caught:
        CATALOG.model("zzzzzz")
    assert "add yours with a user price file, --prices FILE or SHOAL_PRICES: see 'Your own " \
           "prices and models' in shoal's README" in str(caught.value)
    assert _readme_price_paragraph()


def test_malformed_user_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"broken\.json: not valid JSON \(line 1"):
        load_catalog(broken)

    with pytest.raises(CatalogError, match=r"mine\.json: 'rows': expected an object "
                       r"\{input_per_mtok, output_per_mtok\}, got array \(a catalog file's rows "
                       r"go in a 'models' list\)"):
        load_catalog(_write(tmp_path, {"rows": []}))
    with pytest.raises(CatalogError, match="expected an object with a 'models' list, a list"):
        load_catalog(_write(tmp_path, "models"))

    with pytest.raises(CatalogError, match="cannot read catalog file"):
        load_catalog(tmp_path / "absent.json")
    assert issubclass(CatalogError, ValueError)


MALFORMED_DOCUMENTS = [
    ({"models": [], "sources": [1]},
     "mine.json: field 'sources' must be an object mapping each source name to its description, "
     "got array"),
    ({"models": [], "sources": "x"}, "mine.json: field 'sources' must be an object mapping"),
    ({"models": [], "sources": {"a": 1}},
     "mine.json: field 'sources' entry 'a' must be a non-empty string describing the source, "
     "got 1"),
    ({"models": [], "sources": {"a": " "}}, "mine.json: field 'sources' entry 'a' must be"),
    ({"models": [], "sources": {"a": True}},
     "mine.json: field 'sources' entry 'a' must be a non-empty string describing the source, "
     "got true"),
    ({"models": [], "sources": {"": "our invoice"}},
     "mine.json: field 'sources' has an empty source name"),
    ({"models": [], "source": {"a": "our invoice"}},
     "mine.json: unknown top-level field(s) 'source'; allowed are catalog_date, sources, models"),
    ({"models": [], "catalog_date": 20261204},
     "mine.json: field 'catalog_date' must be a non-empty string, got 20261204"),
    ({"models": [], "catalog_date": "04/12/2026"},
     "mine.json: field 'catalog_date' must be a date written YYYY-MM-DD"),
]


@pytest.mark.parametrize(("document", "expected"), MALFORMED_DOCUMENTS)
def test_a_malformed_top_level_field_is_refused_naming_file_and_field(
    tmp_path: Path, document: dict, expected: str
) -> None:
    # A sources list raised AttributeError from deep inside; a description that was no string
    # was dropped unseen.
    with pytest.raises(CatalogError) as caught:
        load_catalog(_write(tmp_path, document))
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"models": [{"id": "gpt-4o", "input_per_mtok": 1.0, "input_per_mtok": 200.0}]}',
         "mine.json model #1 (id 'gpt-4o'): the field 'input_per_mtok' is given more than once"),
        ('[{"id": "gpt-4o", "aliases": ["a"]}, {"id": "gpt-4.1", "id": "gpt-4.1-mini"}]',
         "mine.json model #2 (id 'gpt-4.1-mini'): the field 'id' is given more than once"),
        ('{"models": [], "models": [{"id": "gpt-4o", "input_per_mtok": 200.0}]}',
         "mine.json: the top level gives 'models' more than once"),
        ('{"models": [], "sources": {"invoice": "May", "invoice": "June"}}',
         "mine.json: field 'sources' gives 'invoice' more than once"),
    ],
)
def test_a_key_given_twice_in_a_price_file_is_refused_by_where_it_is(
    tmp_path: Path, text: str, expected: str
) -> None:
    # A reader keeps the last value: the first row priced gpt-4o at $200 per Mtok unseen.
    path = tmp_path / "mine.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    assert str(caught.value) == (
        f"{expected}; give each field once (only the last would be read)")


def test_a_files_sources_and_a_copy_of_the_shipped_catalog_load(tmp_path: Path) -> None:
    sourced = _write(tmp_path, {"models": [], "sources": {"invoice": "our invoice of 2026-11"}})
    assert load_catalog(sourced).sources["invoice"] == "our invoice of 2026-11"
    assert "invoice" not in load_catalog(_write(tmp_path, {"models": [], "sources": None},
                                                name="unsourced.json")).sources

    copy = load_catalog(_write(tmp_path, RAW, name="copy.json"))
    assert copy.ids == CATALOG.ids
    assert copy.catalog_date == CATALOG.catalog_date


def test_catalog_can_be_built_directly() -> None:
    entry = ModelEntry(**{**NEW_ROW, "aliases": ("acme/ft",)})  # type: ignore[arg-type]
    catalog = Catalog(catalog_date="2026-12-04", models=(entry,))
    assert catalog.model("acme/ft") is entry
    assert catalog.model("x/my-finetune") is entry
    assert len(catalog) == 1 and list(catalog) == [entry]


def test_a_model_named_twice_by_two_spellings_is_refused_naming_both_rows(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, {"models": [{"id": "gpt-4o", "input_per_mtok": 2.0},
                                        {"id": "gpt-4o-2024-08-06", "input_per_mtok": 9.0}]})

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    assert str(caught.value) == (
        "mine.json model #2 (id 'gpt-4o-2024-08-06'): names gpt-4o, as mine.json model #1 "
        "(id 'gpt-4o') does; give each model one row"
    )


ALIAS_CONFLICTS = [
    # An alias that is another model's id or alias was dropped unseen: the name kept leading
    # to the other model.
    ([{"id": "gpt-4o", "aliases": ["gpt-4.1"]}],
     "mine.json model #1 (id 'gpt-4o'): alias 'gpt-4.1' already names model gpt-4.1"),
    ([{"id": "gpt-4o", "aliases": ["GPT-4.1-2025-04-14"]}],
     "mine.json model #1 (id 'gpt-4o'): alias 'gpt-4.1-2025-04-14' already names model gpt-4.1"),
    ([{"id": "gpt-4o", "aliases": ["my-4o"]}, {"id": "o3", "aliases": ["My-4o"]}],
     "mine.json model #2 (id 'o3'): alias 'my-4o' already names model gpt-4o"),
    ([dict(NEW_ROW, aliases=["gpt-4o-mini"])],
     "mine.json model #1 (id 'my-finetune'): alias 'gpt-4o-mini' already names model "
     "gpt-4o-mini"),
    ([dict(NEW_ROW, aliases=["ft"]), dict(NEW_ROW, id="ft")],
     "mine.json model #1 (id 'my-finetune'): alias 'ft' already names model ft"),
    # Behind a provider prefix a name falls back to the model it ends with.
    ([{"id": "gpt-4o", "aliases": ["openai/gpt-4.1"]}],
     "mine.json model #1 (id 'gpt-4o'): alias 'openai/gpt-4.1' already names model gpt-4.1 (as "
     "'gpt-4.1' behind a prefix)"),
]


@pytest.mark.parametrize(("rows", "expected"), ALIAS_CONFLICTS)
def test_an_alias_that_already_names_another_model_is_refused_naming_row_alias_and_model(
    tmp_path: Path, rows: list, expected: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(_write(tmp_path, {"models": rows}))

    assert str(caught.value) == expected + "; give each name to one model"


def test_a_row_may_repeat_its_own_names_and_add_new_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"id": "gpt-4o",
                              "aliases": ["gpt-4o", "gpt-4o-2024-08-06", "our-4o", "acme/our-4o"]}])

    catalog = load_catalog(path)

    assert catalog.model("our-4o").id == catalog.model("acme/our-4o").id == "gpt-4o"
    assert catalog.model("gpt-4.1").id == "gpt-4.1"


def test_a_catalog_built_directly_refuses_a_name_shared_by_two_models() -> None:
    first = ModelEntry(**{**NEW_ROW, "aliases": ("ft",)})  # type: ignore[arg-type]
    second = ModelEntry(**{**NEW_ROW, "id": "other", "aliases": ("ft",)})  # type: ignore[arg-type]

    with pytest.raises(CatalogError) as caught:
        Catalog(catalog_date="2026-12-04", models=(first, second))

    assert str(caught.value) == (
        "model 'other': alias 'ft' already names model my-finetune; give each name to one model"
    )


def test_a_price_date_after_tomorrow_is_refused_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal import catalog

    monkeypatch.setattr(catalog, "_wall_clock_today", lambda: datetime.date(2026, 12, 5))
    future = _write(tmp_path, [{"id": "gpt-4o", "input_per_mtok": 2.0, "as_of": "2030-01-01"}])
    tomorrow = _write(tmp_path, [{"id": "gpt-4o", "input_per_mtok": 2.0, "as_of": "2026-12-06"}],
                      name="tomorrow.json")

    with pytest.raises(CatalogError) as caught:
        load_catalog(future)

    assert str(caught.value) == (
        "mine.json model #1 (id 'gpt-4o'): field 'as_of' must not be later than 2026-12-06 "
        "(prices are taken on a day that has come), got '2030-01-01'"
    )
    # A day's leeway: the file may come from where the date has already changed.
    assert load_catalog(tomorrow).model("gpt-4o").as_of == "2026-12-06"
    # Replaying an earlier day judges retirements then, but a file dated now is still valid.
    monkeypatch.setattr(catalog, "today", lambda: datetime.date(2026, 11, 1))
    replayed = _write(tmp_path, [{"id": "gpt-4o", "input_per_mtok": 2.0, "as_of": "2026-12-06"}],
                      name="replayed.json")
    assert load_catalog(replayed).model("gpt-4o").as_of == "2026-12-06"


def test_a_model_is_retired_from_its_deprecation_date_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal import catalog

    sonnet = load_catalog().model("claude-sonnet-4-5")  # deprecation_date 2026-11-30
    for day, expected in ((datetime.date(2026, 11, 29), None),
                          (datetime.date(2026, 11, 30), "claude-sonnet-4-5 was retired on "
                           "2026-11-30 per the catalog; its prices may no longer apply")):
        monkeypatch.setattr(catalog, "today", lambda day=day: day)
        assert catalog.retirement_note(sonnet) == expected
    assert catalog.retirement_note(load_catalog().model("gpt-5.5")) is None  # none announced


def test_shoal_today_fixes_the_date_retirements_are_judged_on(monkeypatch):
    from shoal import catalog

    monkeypatch.setenv("SHOAL_TODAY", "2026-11-01")
    assert catalog.today() == datetime.date(2026, 11, 1)
    assert catalog.retirement_note(catalog.load_catalog().model("claude-sonnet-4-5")) is None

    monkeypatch.setenv("SHOAL_TODAY", "2026-12-01")
    assert "retired on 2026-11-30" in catalog.retirement_note(
        catalog.load_catalog().model("claude-sonnet-4-5")
    )

    monkeypatch.setenv("SHOAL_TODAY", "soon")
    with pytest.raises(catalog.CatalogError, match="SHOAL_TODAY must be a date like 2026-12-05"):
        catalog.today()


def test_a_retirement_date_from_a_price_file_is_credited_to_it(tmp_path: Path) -> None:
    # The note said "per the catalog" for a date only the user's file gave.
    path = tmp_path / "dates.json"
    path.write_text(json.dumps({"models": [{"id": "gpt-4o", "deprecation_date": "2026-12-01"}]}),
                    encoding="utf-8")
    from shoal.catalog import retirement_note

    mine = load_catalog(path)

    assert retirement_note(mine.model("gpt-4o")) == (
        "gpt-4o was retired on 2026-12-01 per the user price file; its prices may no longer apply"
    )
    assert "per the catalog" in retirement_note(mine.model("claude-sonnet-4-5"))
