"""Python API: an argument of the wrong type is a TypeError that names the parameter, never an
error about one letter of a string or a message from deep inside."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from shoal import (
    compare_costs,
    count_files,
    count_tokens,
    encode,
    fit_router,
    hardware,
    load_catalog,
    load_router,
    redact,
    savings_report,
    scan_text,
)
from shoal.token_budget import count_till_limit, split_chunks, truncate

EMAIL_TEXT = "mail bob.smith@gmail.com"
ROWS = [{"prompt": f"task {i}", "model": model, "score": 1.0}
        for i in range(5) for model in ("a", "b")]


def _finding_starting_at(start: object) -> Any:
    """The email finding of EMAIL_TEXT, its start replaced as a caller's hand might."""
    return dataclasses.replace(scan_text(EMAIL_TEXT)[0], start=start)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hardware.port_chip("iphone-16-pro", to_node="n2", models="gemma-3-1b-it"),
         "models must be a list of ids, not one string ('gemma-3-1b-it')"),
        # "process node must be a string id, got NoneType", naming neither the argument nor
        # the item; a dict of ids was taken for its keys, without a word.
        (lambda: hardware.port_chip("h100-sxm", to_node=None),  # type: ignore[arg-type]
         "to_node must be a string id, got None"),
        (lambda: hardware.port_chip("h100-sxm", to_node="n2", models=[None]),  # type: ignore[list-item]
         "models[0] must be a string id, got None"),
        (lambda: hardware.port_chip("h100-sxm", to_node="n2", models=["qwen3-8b", 8]),  # type: ignore[list-item]
         "models[1] must be a string id, got int"),
        (lambda: hardware.port_chip("h100-sxm", to_node="n2", models={"gemma-3-1b-it": 1}),  # type: ignore[arg-type]
         "models must be a list of ids, got dict"),
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], nodes=[None, 2]),  # type: ignore[list-item]
         "nodes[1] must be a string id, got int"),
        (lambda: hardware.port_chip(None, to_node="n2"),  # type: ignore[arg-type]
         "device_or_chip must be a device id (str) or a Chip, got None"),
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], nodes="n2"),
         "nodes must be a list of ids, not one string ('n2')"),
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], contexts=4096),  # type: ignore[arg-type]
         "contexts must be a list of token counts, got int"),
        (lambda: hardware.sweep("gemma-3-1b-it", ["apple-m4-pro"]),
         "models must be a list of ids, not one string"),
        (lambda: hardware.sweep(["gemma-3-1b-it"], "apple-m4-pro"),
         "devices must be a list of ids, not one string"),
        (lambda: hardware.sweep(["gemma-3-1b-it"], ["apple-m4-pro"], quantisations="Q8_0"),
         "quantisations must be a list of ids, not one string"),
        # pin_sram 'yes', 1 or None ran, and the front reported it back as given.
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], pin_sram="yes"),  # type: ignore[arg-type]
         "pin_sram must be True or False, got str"),
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], pin_sram=1),
         "pin_sram must be True or False, got int"),
        (lambda: hardware.pareto_front(["gemma-3-1b-it"], ["apple-m4-pro"], pin_sram=None),  # type: ignore[arg-type]
         "pin_sram must be True or False, got None"),
        (lambda: hardware.validate(leave_one_out="no"),  # type: ignore[arg-type]
         "leave_one_out must be True or False, got str"),
        (lambda: count_tokens(None), "text must be str, not NoneType"),  # type: ignore[arg-type]
        (lambda: count_tokens(5, model="claude-sonnet-4-5"), "text must be str, not int"),  # type: ignore[arg-type]
        (lambda: encode(b"bytes"), "text must be str, not bytes"),  # type: ignore[arg-type]
        (lambda: count_till_limit(None, 5), "text must be a str, not NoneType"),  # type: ignore[arg-type]
        (lambda: truncate(b"bytes", 5), "text must be a str, not bytes"),  # type: ignore[arg-type]
        (lambda: split_chunks(["a"], 5), "text must be a str, not list"),  # type: ignore[arg-type]
        # The Rust core said "'str' object is not an instance of 'bool'"; the pure one named it.
        (lambda: truncate("abc", 3, allow_special="x"), "allow_special must be bool, not str"),  # type: ignore[arg-type]
        (lambda: split_chunks("abc", 3, allow_special=1), "allow_special must be bool, not int"),  # type: ignore[arg-type]
        (lambda: count_till_limit("abc", 3, allow_special=None),  # type: ignore[arg-type]
         "allow_special must be bool, not NoneType"),
        # These failed deep inside, naming no parameter: "'NoneType' object is not iterable",
        # "'int' object has no attribute 'catalog_date'", "expected str, bytes or os.PathLike".
        (lambda: compare_costs(None, input_tokens=1),  # type: ignore[arg-type]
         "models must be a list of model ids, not NoneType"),
        (lambda: fit_router(None), "rows must be a list of labelled rows (dicts), not NoneType"),  # type: ignore[arg-type]
        (lambda: savings_report(catalog=5),  # type: ignore[arg-type]
         "catalog must be a Catalog (shoal.catalog.load_catalog()) or None, got int"),
        (lambda: load_router(5), "path must be the path of a router file (str or os.PathLike) "  # type: ignore[arg-type]
         "or None for the shipped router, got int"),
        (lambda: load_catalog(5), "path must be the path of a catalog file (str or os.PathLike) "  # type: ignore[arg-type]
         "or None for the shipped catalog, got int"),
        # A callback that is no function failed only when it was first called, after the work.
        (lambda: count_files(["."], progress=5), "progress must be a function or None, not int"),  # type: ignore[arg-type]
        (lambda: fit_router(ROWS, progress=5), "progress must be a function or None, not int"),  # type: ignore[arg-type]
        # Offsets were used as they came: "slice indices must be integers".
        (lambda: redact(EMAIL_TEXT, [_finding_starting_at(1.5)]),
         "findings[0].start must be an int, not float"),
        (lambda: redact(EMAIL_TEXT, [_finding_starting_at(None)]),
         "findings[0].start must be an int, not NoneType"),
    ],
)
def test_a_wrong_type_names_the_parameter(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value).startswith(message)


def test_an_empty_list_is_a_range_error_a_command_line_can_name() -> None:
    with pytest.raises(hardware.ParameterError) as raised:
        hardware.pareto_front(["gemma-3-1b-it"], [])
    assert (raised.value.parameter, raised.value.problem) == ("devices", "must not be empty")


def test_an_out_of_range_sram_is_quoted_unrounded() -> None:
    with pytest.raises(hardware.ParameterError) as raised:
        hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=1_000_001)
    # Every digit, grouped as the limit and the other counts are.
    assert str(raised.value).endswith(", got 1,000,001")
