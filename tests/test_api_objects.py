"""What the Python API hands out can be kept, shared and sent to other processes: the tables it
caches are read-only through every object they hand out, results hash and pickle, and reprs stay
readable. Computed results are checked on the backend the session runs (both in CI)."""

from __future__ import annotations

import copy
import dataclasses
import json
import multiprocessing
import pickle
from pathlib import Path

import pytest

import shoal
from shoal import hardware
from shoal.catalog import Catalog, load_catalog
from shoal.frozen_mapping import FrozenDict, FrozenList

PROMPT = "Translate 'good morning' into French."


def _mutable_containers(value: object, path: str = "result") -> list[str]:
    """Where ``value`` (a frozen dataclass and everything in it) holds a list, set or dict that
    a caller could change."""
    if isinstance(value, FrozenDict):
        return [found for key, item in value.items()
                for found in _mutable_containers(item, f"{path}[{key!r}]")]
    if isinstance(value, FrozenList):
        return [found for position, item in enumerate(value)
                for found in _mutable_containers(item, f"{path}[{position}]")]
    if isinstance(value, (list, set, dict, bytearray)):
        return [path]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [found for item in dataclasses.fields(value)
                for found in _mutable_containers(getattr(value, item.name),
                                                 f"{path}.{item.name}")]
    if isinstance(value, tuple):
        return [found for position, item in enumerate(value)
                for found in _mutable_containers(item, f"{path}[{position}]")]
    return []


# ---- read-only tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("listing", ["list_devices", "list_device_classes", "list_nodes",
                                     "list_architectures", "list_quantisations"])
def test_the_hardware_tables_hand_out_nothing_a_caller_can_change(listing: str) -> None:
    rows = getattr(hardware, listing)()

    assert _mutable_containers(rows, listing) == []
    assert hash(rows) == hash(getattr(hardware, listing)())


def test_changing_a_devices_claim_types_is_refused_and_later_calls_are_unchanged() -> None:
    device = shoal.list_devices()[0]
    before = dict(device.claim_type)

    for change in (lambda: device.claim_type.__setitem__("memory", "HACKED"),
                   lambda: device.claim_type.update(memory="HACKED"),
                   lambda: device.claim_type.pop(next(iter(before))),
                   device.claim_type.clear):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert shoal.list_devices()[0].claim_type == before
    assert json.loads(json.dumps(dataclasses.asdict(device)))["claim_type"] == before
    assert hash(device) == hash(shoal.list_devices()[0])


def test_the_catalog_hands_out_nothing_a_caller_can_change() -> None:
    catalog = load_catalog()

    assert _mutable_containers(catalog, "catalog") == []
    with pytest.raises(TypeError, match="read-only"):
        catalog.sources["mine"] = "x"  # type: ignore[index]
    assert hash(catalog) == hash(load_catalog())


# ---- results ------------------------------------------------------------------------------------

CHAT = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": "Hi", "name": "ann"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "42"},
]

RESULTS = {
    "count_tokens": lambda: shoal.count_tokens("Hello, shoal!"),
    "count_chat": lambda: shoal.count_chat(CHAT),
    "split_chunks": lambda: shoal.split_chunks("Hello, shoal! " * 20, 8),
    "route": lambda: shoal.route(PROMPT, history=CHAT),
    "estimate_cost": lambda: shoal.estimate_cost("gpt-4o", input_tokens=1_000),
    "fit_budget": lambda: shoal.fit_budget([{"id": "a", "text": "x"}], budget_tokens=10,
                                           model="gpt-4o"),
    "trim_chat": lambda: shoal.trim_chat(CHAT, budget_tokens=1_000, model="gpt-4o"),
    "hardware_fit": lambda: shoal.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro"),
    "port_chip": lambda: shoal.port_chip("iphone-16-pro", to_node="n2",
                                         models=["gemma-3-1b-it"]),
}


@pytest.mark.parametrize("function", RESULTS)
def test_results_hold_nothing_a_caller_can_change_and_hash(function: str) -> None:
    result = RESULTS[function]()

    assert _mutable_containers(result, function) == []
    assert hash(result) == hash(RESULTS[function]())


def test_a_trimmed_chats_messages_refuse_changes_and_read_as_the_chat_given() -> None:
    # The kept messages were the caller's dicts copied one level: unhashable, and changing
    # one changed the result.
    trimmed = shoal.trim_chat(CHAT, budget_tokens=1_000, model="gpt-4o")

    for change in (lambda: trimmed.messages[1].__setitem__("content", "X"),
                   lambda: trimmed.messages[0]["content"][0].update(text="X"),
                   lambda: trimmed.messages[2]["tool_calls"][0].pop("id"),
                   lambda: trimmed.messages[2]["tool_calls"].append({}),
                   lambda: trimmed.messages[0]["content"].__setitem__(0, {})):
        with pytest.raises(TypeError, match="read-only"):
            change()
    # Read as the chat given: equal to its lists, and lists to a caller's isinstance.
    assert list(trimmed.messages) == CHAT and isinstance(trimmed.messages[0]["content"], list)
    assert json.loads(json.dumps(trimmed.messages)) == CHAT
    assert json.loads(json.dumps(dataclasses.asdict(trimmed)))["messages"] == CHAT
    for copied in (pickle.loads(pickle.dumps(trimmed)), copy.deepcopy(trimmed)):
        assert copied == trimmed and hash(copied) == hash(trimmed)
    assert shoal.count_chat(trimmed.messages).tokens == shoal.count_chat(CHAT).tokens
    again = shoal.trim_chat(trimmed.messages, budget_tokens=1_000, model="gpt-4o")
    assert again.messages == trimmed.messages


# ---- repr ---------------------------------------------------------------------------------------


def test_a_router_and_a_catalog_have_short_reprs() -> None:
    router = shoal.load_router()
    catalog = load_catalog()

    assert len(repr(router)) < 2_000
    assert repr(router).startswith(f"Router(name={router.name!r}, ")
    assert "vectors_int8" not in repr(router) and "previews" not in repr(router)
    assert repr(catalog) == ("Catalog(catalog_date='2026-12-04', models=<64 models>, "
                             "price_files=<none>)")


def test_a_catalogs_repr_counts_the_rows_of_each_price_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 3.0},
                                             {"id": "gpt-4.1", "input_per_mtok": 3.0}]}))

    assert repr(load_catalog(prices)).endswith("price_files=<2 from 'prices.json'>)")


# ---- pickling -----------------------------------------------------------------------------------


def test_a_router_round_trips_through_pickle_and_deepcopy_and_routes_alike() -> None:
    router = shoal.load_router()
    router.neighbours(PROMPT)  # the index is built: the copy must not carry it
    expected = shoal.route(PROMPT, router=router).to_dict()

    for copied in (pickle.loads(pickle.dumps(router)), copy.deepcopy(router)):
        assert copied.content_hash == router.content_hash
        assert copied.vectors_int8 == router.vectors_int8 and copied.scores == router.scores
        assert shoal.route(PROMPT, router=copied).to_dict() == expected


def test_a_catalog_round_trips_through_pickle_deepcopy_and_asdict(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 99.0}]}))
    catalog = load_catalog(prices)

    for copied in (pickle.loads(pickle.dumps(catalog)), copy.deepcopy(catalog)):
        assert copied == catalog and isinstance(copied, Catalog)
        assert copied.model("openai/GPT-4o").input_per_mtok == 99.0
        assert copied.price_files == {"gpt-4o": "prices.json"}
        assert shoal.estimate_cost("gpt-4o", input_tokens=1_000_000,
                                   catalog=copied).total_usd == 99.0
    as_dict = dataclasses.asdict(catalog)
    assert set(as_dict) == {"catalog_date", "models", "sources", "price_files"}
    assert json.loads(json.dumps(as_dict))["price_files"] == {"gpt-4o": "prices.json"}


def _route_in_worker(router: shoal.router.Router, catalog: Catalog) -> str:
    return shoal.route(PROMPT, router=router, catalog=catalog).decision_id


def test_a_router_and_a_catalog_go_to_a_spawned_worker() -> None:
    router, catalog = shoal.load_router(), load_catalog()
    expected = shoal.route(PROMPT, router=router, catalog=catalog).decision_id

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_route_in_worker, (router, catalog)) == expected


def test_hardware_results_pickle_and_hash() -> None:
    fit = shoal.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro")
    device = shoal.list_devices()[0]

    assert pickle.loads(pickle.dumps(fit)) == fit
    assert pickle.loads(pickle.dumps(device)) == device
    assert hash(pickle.loads(pickle.dumps(device))) == hash(device)
