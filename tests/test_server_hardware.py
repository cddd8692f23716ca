"""The hardware tools over MCP answer as `shoal hw` and the Python functions do: the same
arguments, the same refusals, a verdict that leads when a model does not fit, and figures
without float noise."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from typing import Any

import pytest
from mcp import Client
from test_cli_hw import floats_in, rounded

from shoal import hardware
from shoal.json_output import rounded_figures
from shoal.server import KV_CACHE_DESCRIPTION, WEIGHT_FORMATS, build_server
from shoal.server_policy import MAX_RESULT_TOKENS, answer_tokens

pytestmark = pytest.mark.anyio

SMALL_SWEEP = {"models": ["llama-3.2-1b-instruct", "qwen3-8b"], "devices": ["rtx-4090", "h100-sxm"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _call(tool: str, arguments: dict[str, Any]) -> Any:
    async with Client(build_server()) as client:
        return await client.call_tool(tool, arguments)


async def test_a_model_that_does_not_fit_leads_with_the_memory_it_lacks() -> None:
    result = await _call("check_hardware_fit",
                         {"model": "llama-3.3-70b-instruct", "device": "rtx-4090"})
    lines = result.content[0].text.splitlines()

    assert result.structured_content["fits"] is False
    assert " does NOT fit: needs 45.0 GB, 24.5 GB available (20.5 GB short) " in lines[0]
    assert lines[1].startswith("  if it fitted ") and lines[2].startswith("    decode ")


async def test_check_hardware_fit_takes_the_kv_cache_format() -> None:
    arguments = {"model": "gemma-3-27b-it", "device": "rtx-5090", "context_tokens": 32768}
    result = await _call("check_hardware_fit", {**arguments, "kv_cache_type": "q8_0"})
    expected = hardware.hardware_fit("gemma-3-27b-it", "rtx-5090", context_tokens=32768,
                                     kv_cache_type="Q8_0")

    assert not result.is_error
    assert result.structured_content == rounded_figures(asdict(expected), every_float=True)
    assert result.structured_content["kv_cache_type"] == "Q8_0"
    f16 = hardware.hardware_fit("gemma-3-27b-it", "rtx-5090", context_tokens=32768)
    assert expected.breakdown.kv_cache_gb < f16.breakdown.kv_cache_gb


async def test_sweep_hardware_takes_batch_kv_cache_and_sram_pinning() -> None:
    options = {"batch": 4, "kv_cache_type": "Q8_0", "pin_sram": True}
    result = await _call("sweep_hardware", {**SMALL_SWEEP, **options})
    expected = hardware.pareto_front(SMALL_SWEEP["models"], SMALL_SWEEP["devices"], **options)

    assert not result.is_error
    assert result.structured_content == {
        **rounded_figures(asdict(expected), every_float=True), "points_omitted": 0
    }
    front = result.structured_content
    assert (front["batch"], front["kv_cache_type"], front["pin_sram"]) == (4, "Q8_0", True)


@pytest.mark.parametrize(
    ("arguments", "argument", "problem"),
    [
        ({"mode": "iso-area"}, "mode", "iso-area is how a node change is spent, and no node is "
                                       "changed (as-built only): add a node to nodes, or leave "
                                       "mode out"),
        # Refused by the schema's minItems, as an empty list of formats, contexts or nodes is,
        # in the words of Python and the command line (not pydantic's "array should have...").
        ({"models": []}, "models", "must not be empty"),
        ({"devices": []}, "devices", "must not be empty"),
        ({"nodes": []}, "nodes", "must not be empty"),
        ({"quantisations": []}, "quantisations", "must not be empty"),
        ({"quantisations": ["Q4_K_M", "q4_k"]}, "quantisations",
         "names Q4_K_M (as Q4_K_M, q4_k) more than once; list each once"),
        ({"contexts": [4096, 4096]}, "contexts", "names 4096 more than once; list each once"),
        ({"devices": ["rtx-3090"], "nodes": ["nanostack-claimed"]}, "nodes",
         "name only nodes to port to (nanostack-claimed), and rtx-3090 has no known "
         "process node to port from"),
    ],
)
async def test_sweep_hardware_refuses_as_python_and_the_cli_do(
    arguments: dict[str, Any], argument: str, problem: str
) -> None:
    result = await _call("sweep_hardware", {**SMALL_SWEEP, **arguments})

    # Python says "models must not be empty", the command line "--models must not be empty".
    assert result.is_error
    assert result.content[0].text.startswith(f"sweep_hardware: argument '{argument}': {problem}")


async def test_sweep_hardware_left_without_models_sweeps_every_model() -> None:
    result = await _call("sweep_hardware", {"devices": ["rtx-4090"]})
    refused = await _call("sweep_hardware", {"devices": ["rtx-4090"], "models": None})

    assert not result.is_error
    assert len(result.structured_content["models"]) == len(hardware.list_architectures())
    # Null is not "left out": a host that sends it is told to leave the argument out.
    assert refused.is_error and "models" in refused.content[0].text


async def test_hardware_answers_carry_no_float_noise() -> None:
    # The A18 Pro's 8 W at iso-area: the arithmetic gives 4.001999999999999 W.
    port = await _call("port_chip", {"device": "iphone-16-pro", "mode": "iso-area",
                                             "to_node": "nanostack-claimed", "sram_mb": 400})
    fit = await _call("check_hardware_fit",
                      {"model": "gemma-3-27b-it", "device": "rtx-5090"})
    sweep = await _call("sweep_hardware", {**SMALL_SWEEP, "nodes": ["as-built", "n2"]})

    assert port.structured_content["power_w"] == 4.002
    for result in (port, fit, sweep):
        figures = floats_in(result.structured_content)
        assert figures and all(figure == rounded(figure) for figure in figures)


async def test_route_task_names_an_unknown_device_as_the_hardware_tools_do() -> None:
    # route_task led with "device: " where the hardware tools lead with "argument 'device': ".
    routed = await _call("route_task", {"prompt": "Hello", "device": "rtx-409"})
    fitted = await _call("check_hardware_fit", {"model": "qwen3-8b", "device": "rtx-409"})

    routed_problem = routed.content[0].text.removeprefix("route_task: ")
    assert routed_problem == fitted.content[0].text.removeprefix("check_hardware_fit: ")
    assert routed_problem.startswith("argument 'device': unknown device 'rtx-409'; near matches: ")


def test_the_format_descriptions_list_every_format_the_estimates_know() -> None:
    weights = ", ".join(quantisation.id for quantisation in hardware.list_quantisations())
    kv_caches = ", ".join(hardware.list_kv_cache_types())

    assert WEIGHT_FORMATS == f"{weights}, any case, '-' or '_' alike (INT4 is INT4-AWQ)"
    assert hardware.get_quantisation("INT4").id == "INT4-AWQ"
    assert KV_CACHE_DESCRIPTION == f"KV-cache format: {kv_caches}, any case."



async def test_a_sweep_with_no_device_to_port_points_the_model_at_the_devices_resource() -> None:
    result = await _call("sweep_hardware", {"models": ["qwen3-8b"], "devices": ["rtx-3090"],
                                            "nodes": ["nanostack-claimed"]})

    assert result.is_error
    assert "the resource shoal://devices shows each one's node" in result.content[0].text
    assert "shoal hw" not in result.content[0].text


PORT_4090 = {"device": "rtx-4090", "to_node": "nanostack-claimed", "models": ["gemma-3-1b-it"]}


@pytest.mark.parametrize("sram_mb", [0, 0.0, 8.5, None])
async def test_port_chip_takes_sram_mb_as_python_and_the_cli_do(sram_mb: float | None) -> None:
    # 0 MB meant "use the table" (72 MB for the RTX 4090) here, and 0 MB in Python and on the
    # command line: the same request estimated 668.2 tok/s here and 639.4 there.
    arguments = PORT_4090 if sram_mb is None else {**PORT_4090, "sram_mb": sram_mb}
    result = await _call("port_chip", arguments)
    expected = hardware.port_chip("rtx-4090", to_node="nanostack-claimed",
                                  models=["gemma-3-1b-it"], sram_mb=sram_mb)

    assert not result.is_error, result.content[0].text
    assert result.structured_content == rounded_figures(asdict(expected), every_float=True)
    assert result.structured_content["sram_mb"] == (72.0 if sram_mb is None else sram_mb)


async def test_port_chip_refuses_a_null_sram_mb_rather_than_reading_it_as_left_out() -> None:
    result = await _call("port_chip", {**PORT_4090, "sram_mb": None})

    assert result.is_error
    text = result.content[0].text
    assert "sram_mb" in text and "leave the argument out" in text


def test_the_command_line_takes_sram_mb_0_as_0_mb(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main

    code = main(["hw", "port", "rtx-4090", "--to", "nanostack-claimed", "--sram-mb", "0",
                 "--models", "gemma-3-1b-it", "--json"])

    assert code == 0
    assert json.loads(capsys.readouterr().out)["sram_mb"] == 0.0


@pytest.fixture
def hundred_devices_on_the_front(tmp_path, monkeypatch) -> Any:  # type: ignore[no-untyped-def]
    """A device file of 100 devices whose power grows with the square of their bandwidth: each
    is faster and costlier per token than the last, so every one is on the front."""
    rows = [
        {"id": f"box-{i:03d}", "name": f"Box {i}", "device_class": "discrete_gpu",
         "memory_gb": 48, "bandwidth_gbs": 100.0 * (i + 1), "fp16_tflops": 1000,
         "power_w": 1 + (100.0 * (i + 1)) ** 2 / 1e4}
        for i in range(100)
    ]
    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"devices": rows}), encoding="utf-8")
    monkeypatch.setenv(hardware.DEVICES_ENVIRONMENT_VARIABLE, str(path))
    hardware.reset_tables()
    yield [row["id"] for row in rows]
    monkeypatch.delenv(hardware.DEVICES_ENVIRONMENT_VARIABLE)
    hardware.reset_tables()


async def test_a_front_longer_than_an_answer_holds_is_spread_and_counted(
    hundred_devices_on_the_front: list[str],
) -> None:
    # The default max_points (40) was refused after the work: 9,268 tokens, over the cap.
    arguments = {"models": ["llama-3.1-8b-instruct"], "devices": hundred_devices_on_the_front}
    full = hardware.pareto_front(**arguments)
    async with Client(build_server()) as client:
        result = await client.call_tool("sweep_hardware", arguments)

    assert len(full.points) == 100
    assert not result.is_error, result.content[0].text
    wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert answer_tokens(wire) <= MAX_RESULT_TOKENS
    shown = [point["device"] for point in result.structured_content["points"]]
    assert 10 < len(shown) < 40
    assert result.structured_content["points_omitted"] == 100 - len(shown)
    # Spread along the front: both ends, in the front's order.
    everything = [point.device for point in full.points]
    assert shown[0] == everything[0] and shown[-1] == everything[-1]
    assert shown == sorted(shown, key=everything.index)
    assert (f"shortened: {len(shown)} of the 100 front points shown, spread evenly from the "
            "least energy per token to the fastest") in result.content[0].text
    assert (f"100 configurations, 100 fit in memory, 100 on the Pareto front ({len(shown)} "
            "shown)") in result.content[0].text


@pytest.mark.parametrize(("max_points", "devices"),
                         [(1, [0]), (2, [0, 99]), (3, [0, 50, 99]), (5, [0, 25, 50, 74, 99])])
async def test_max_points_keeps_both_ends_of_the_front(
    hundred_devices_on_the_front: list[str], max_points: int, devices: list[int]
) -> None:
    arguments = {"models": ["llama-3.1-8b-instruct"], "devices": hundred_devices_on_the_front}
    result = await _call("sweep_hardware", {**arguments, "max_points": max_points})

    shown = [point["device"] for point in result.structured_content["points"]]
    assert shown == [f"box-{index:03d}" for index in devices]
    assert result.structured_content["points_omitted"] == 100 - max_points


async def test_a_front_that_fits_is_returned_whole_with_nothing_omitted() -> None:
    result = await _call("sweep_hardware", SMALL_SWEEP)
    expected = hardware.pareto_front(SMALL_SWEEP["models"], SMALL_SWEEP["devices"])

    assert result.structured_content["points_omitted"] == 0
    assert len(result.structured_content["points"]) == len(expected.points)
    assert not any(note.startswith("shortened") for note in result.structured_content["notes"])


async def test_sweep_hardware_takes_as_built_in_any_case_and_names_it_for_an_unknown_node() -> None:
    built = await _call("sweep_hardware", {**SMALL_SWEEP, "nodes": ["As-Built", "N2"]})
    unknown = await _call("sweep_hardware", {**SMALL_SWEEP, "nodes": ["xyzzy"]})

    assert not built.is_error, built.content[0].text
    assert built.structured_content["nodes"] == ["as-built", "n2"]
    # shoal://nodes lists the node table, where as-built is not: the error names it.
    assert unknown.is_error
    assert unknown.content[0].text.endswith(
        "unknown process node 'xyzzy'; no close match; the resource shoal://nodes lists them; "
        "as-built keeps a device as built"
    )


async def test_a_model_page_address_that_leads_elsewhere_is_refused_naming_the_argument() -> None:
    address = "https://huggingface.co/Qwen/Qwen3-8B/../../meta-llama/Llama-3.1-8B-Instruct"
    leading_elsewhere = await _call("check_hardware_fit", {"model": address, "device": "rtx-4090"})
    with_suffix = await _call("check_hardware_fit",
                              {"model": "Qwen3-8B-Instruct", "device": "rtx-4090"})

    assert leading_elsewhere.is_error
    assert leading_elsewhere.content[0].text.startswith(
        "check_hardware_fit: argument 'model': unknown model 'https://huggingfa...ma-3.1-8B-"
        "Instruct': not the address of a model page, as its path has a '.' or '..' segment"
    )
    assert with_suffix.is_error
    assert "unknown model 'Qwen3-8B-Instruct'; near matches: qwen3-8b, " in (
        with_suffix.content[0].text)


@pytest.mark.parametrize(
    ("arguments", "quoted"),
    [
        ({"context_tokens": 10_000_001}, "must be at most 10,000,000 (got 10,000,001)"),
        # A float of 1e300 read as the integer it holds: 1000000000000000052504... whole.
        ({"context_tokens": 1e300}, "must be at most 10,000,000 (got 1e+300)"),
        ({"context_tokens": 10**400}, "must be at most 10,000,000 (got 1e+400)"),
        ({"batch": 4096.5}, "must be an integer (got 4,096.5)"),
    ],
)
async def test_a_refused_number_is_quoted_as_the_command_line_quotes_it(
    arguments: dict[str, Any], quoted: str
) -> None:
    result = await _call("check_hardware_fit",
                         {"model": "qwen3-8b", "device": "rtx-4090", **arguments})

    (argument,) = arguments
    assert result.is_error
    assert result.content[0].text == f"check_hardware_fit: argument '{argument}': {quoted}"


async def test_sram_mb_is_refused_in_the_same_words_over_mcp_and_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    result = await _call("port_chip",
                         {"device": "iphone-16-pro", "to_node": "n2", "sram_mb": 1_000_001})
    assert main(["hw", "port", "iphone-16-pro", "--to", "n2", "--sram-mb", "1000001"]) == 2

    assert result.content[0].text.endswith("must be at most 1,000,000 (got 1,000,001)")
    assert capsys.readouterr().err.endswith(
        "--sram-mb must be a number of MB from 0 to 1,000,000, got 1,000,001\n")


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        # Empty and blank values quote as '' or '  ', which names no argument by itself.
        ("check_hardware_fit", {"quantisation": ""}, "quantisation': unknown quantisation ''"),
        ("check_hardware_fit", {"kv_cache_type": " "}, "kv_cache_type': unknown KV-cache type"),
        # The message quotes the repository the address names, not the address sent.
        ("check_hardware_fit", {"model": "https://huggingface.co/Qwen/Qwen3-8B-GGUF"},
         "model': unknown model 'Qwen/Qwen3-8B-GGUF'; near matches: qwen3-8b"),
        ("port_chip", {"from_node": "  "}, "from_node': unknown process node '  '"),
        # A device id given as the node: two arguments hold the value the message quotes.
        ("port_chip", {"to_node": "iphone-16-pro"}, "to_node': unknown process node"),
        ("port_chip", {"quantisation": ""}, "quantisation': unknown quantisation ''"),
        # A node in the table without a figure every port needs.
        ("port_chip", {"from_node": "ibm-2nm"},
         "from_node': names process node 'ibm-2nm', which has no SRAM density"),
        ("port_chip", {"to_node": "intel-18a"},
         "to_node': names process node 'intel-18a', which has no performance at iso-power or "
         "power at iso-performance"),
        ("port_chip", {"models": [""]}, "models': unknown model ''"),
        ("port_chip", {"models": ["qwen3-8b", "QWEN3-8B"]}, "models': names qwen3-8b"),
        ("sweep_hardware", {"quantisations": [""]}, "quantisations': unknown quantisation ''"),
        ("sweep_hardware", {"nodes": [""]}, "nodes': unknown process node ''"),
        ("sweep_hardware", {"nodes": ["intel-18a"]},
         "nodes': names process node 'intel-18a', which has no performance"),
        ("sweep_hardware", {"kv_cache_type": " "}, "kv_cache_type': unknown KV-cache type"),
        ("sweep_hardware", {"contexts": [4096, 4096]}, "contexts': names 4096 more than once"),
    ],
)
async def test_every_hardware_refusal_names_its_argument(
    tool: str, arguments: dict[str, Any], named: str
) -> None:
    base = {
        "check_hardware_fit": {"model": "qwen3-8b", "device": "rtx-4090"},
        "port_chip": {"device": "iphone-16-pro", "to_node": "n2"},
        "sweep_hardware": SMALL_SWEEP,
    }[tool]
    result = await _call(tool, {**base, **arguments})

    assert result.is_error
    assert result.content[0].text.startswith(f"{tool}: argument '{named}")


async def test_a_model_without_open_weights_points_to_the_architectures_resource() -> None:
    # The advice was `shoal hw models`, a command the model cannot run.
    result = await _call("port_chip", {"device": "h100-sxm", "to_node": "n2",
                                       "models": ["gpt-4o"]})

    assert result.is_error
    assert result.content[0].text.endswith(
        "gpt-4o has no open weights, so it cannot run on your own hardware; the resource "
        "shoal://architectures lists the models that can"
    )


@pytest.mark.parametrize("listing", ["devices", "models", "nodes"])
async def test_the_table_resources_carry_the_figures_of_the_command_line_json(
    capsys: pytest.CaptureFixture[str], listing: str
) -> None:
    from shoal.cli import main

    resource = {"devices": "shoal://devices", "models": "shoal://architectures",
                "nodes": "shoal://nodes"}[listing]
    async with Client(build_server()) as client:
        served = json.loads((await client.read_resource(resource)).contents[0].text)
    assert main(["hw", listing, "--json"]) == 0

    # The node table's cumulative figures are products: 2.8800000000000003 here, 2.88 there.
    assert served == json.loads(capsys.readouterr().out)


async def test_a_node_without_the_figures_a_port_needs_is_named_by_its_argument() -> None:
    # The same node on both sides: the message quoted both arguments' value, and named neither.
    result = await _call("port_chip", {"device": "h100-sxm", "from_node": "intel-18a",
                                       "to_node": "intel-18a"})

    assert result.is_error
    assert result.content[0].text.startswith(
        "port_chip: argument 'from_node': names process node 'intel-18a', which has no "
        "performance at iso-power or power at iso-performance figure")


async def test_port_chip_warns_of_a_context_past_the_model_maximum_as_fit_does() -> None:
    warning = "context 10,000,000 exceeds the model's maximum of 32,768"
    fit = await _call("check_hardware_fit", {"model": "gemma-3-1b-it", "device": "h100-sxm",
                                             "context_tokens": 10_000_000})
    port = await _call("port_chip", {"device": "h100-sxm", "to_node": "nanostack-claimed",
                                     "models": ["gemma-3-1b-it"], "context_tokens": 10_000_000})

    assert warning in fit.structured_content["notes"]
    assert warning in port.structured_content["notes"]
    assert f"  warning: {warning}" in port.content[0].text.splitlines()


async def test_port_chip_without_models_shows_the_smallest_that_fit_and_warns_of_them() -> None:
    # An empty list is the tool's default: the smallest models that fit, not none.
    arguments = {"device": "h100-sxm", "to_node": "nanostack-claimed", "context_tokens": 100_000}
    result = await _call("port_chip", {**arguments, "models": []})

    rows = result.structured_content["inference"]
    shown = [row["model"] for row in rows]
    (warning,) = [n for n in result.structured_content["notes"] if n.startswith("context ")]
    everything = hardware.port_chip("h100-sxm", to_node="nanostack-claimed",
                                    context_tokens=100_000)
    smallest = sorted((row for row in everything.inference if row.fits),
                      key=lambda row: row.resident_set_gb)[:len(rows)]

    assert not result.is_error and len(rows) == 8 and all(row["fits"] for row in rows)
    assert shown == [row.model for row in smallest]
    # The warning names the models shown, not every model estimated on the way.
    over = [hardware.get_architecture(model) for model in shown]
    named = [f"{arch.id} ({arch.max_context:,})" for arch in over if arch.max_context < 100_000]
    assert warning.endswith(f"of the 8 models compared: {', '.join(named)}")


async def test_port_chip_with_no_model_that_fits_keeps_its_notes_and_says_why() -> None:
    # The text was three lines: the notes, and why no model was compared, were dropped.
    arguments = {"device": "iphone-16-pro", "to_node": "nanostack-claimed",
                 "context_tokens": 10_000_000}
    result = await _call("port_chip", arguments)

    lines = result.content[0].text.splitlines()
    notes = result.structured_content["notes"]
    assert not result.is_error and result.structured_content["inference"] == []
    assert len(notes) == 9
    shown = [line.split(": ", 1)[1] for line in lines if line.startswith(("  warning: ",
                                                                        "  note: "))]
    assert sorted(shown) == sorted(notes)
    (none_fits,) = [line for line in lines if line.startswith("  no model fits ")]
    assert none_fits.startswith(
        "  no model fits the 5.2 GB of usable memory at Q4_K_M and 10,000,000 tokens of context: "
        "gemma-3-1b-it needs 41.9 GB, ")
    # Eight named, the rest counted: the structured answer holds none of them to point to.
    assert none_fits.endswith(", and 29 more models")


async def test_a_format_tag_against_the_default_format_names_models_alone() -> None:
    # It named two arguments, one the caller never sent: "argument 'models': argument
    # 'quantisation': Q4_K_M (the default format, when none is given) clashes with Q8_0...".
    model = "hf.co/google/gemma-3-1b-it:Q8_0"
    port = await _call("port_chip", {"device": "h100-sxm", "to_node": "n2", "models": [model]})
    sweep = await _call("sweep_hardware", {"models": [model], "devices": ["h100-sxm"]})

    problem = (f"argument 'models': name '{model}', whose tag names Q8_0, while the format "
               "compared is Q4_K_M, the default when none is given: give Q8_0 as the format, or "
               "drop the tag")
    assert port.is_error and port.content[0].text == f"port_chip: {problem}"
    assert sweep.is_error and sweep.content[0].text == f"sweep_hardware: {problem}"

    given = await _call("port_chip", {"device": "h100-sxm", "to_node": "n2", "models": [model],
                                      "quantisation": "Q6_K"})
    assert given.content[0].text.startswith("port_chip: argument 'quantisation': Q6_K clashes")
    assert given.content[0].text.count("argument '") == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        # Quoted as typed, not in the capitals it was looked up in ('BOGUS').
        ({"quantisation": "bogus"}, "argument 'quantisation': unknown quantisation 'bogus'; "),
        # In JSON's spelling, as the caller sent them, not Python's (['n2'], {'a': 1}).
        ({"to_node": ["n2"]}, "argument 'to_node': must be a string (got [\"n2\"])"),
        ({"sram_mb": {"a": 1}}, "argument 'sram_mb': must be a number (got {\"a\": 1})"),
    ],
)
async def test_port_chip_quotes_a_refused_value_as_the_caller_sent_it(
    arguments: dict[str, Any], message: str
) -> None:
    result = await _call("port_chip", {"device": "h100-sxm", "to_node": "n2", **arguments})

    assert result.is_error and result.content[0].text.startswith(f"port_chip: {message}")


async def test_check_hardware_fit_takes_the_format_an_ollama_address_names() -> None:
    # The tag was dropped and Q4_K_M estimated; a garbage tag passed as well.
    tagged = await _call("check_hardware_fit",
                         {"model": "hf.co/Qwen/Qwen3-8B:Q8_0", "device": "rtx-4090"})
    clash = await _call("check_hardware_fit", {"model": "hf.co/Qwen/Qwen3-8B:Q8_0",
                                               "device": "rtx-4090", "quantisation": "Q4_K_M"})
    garbage = await _call("check_hardware_fit",
                          {"model": "hf.co/Qwen/Qwen3-8B:garbage", "device": "rtx-4090"})
    expected = hardware.hardware_fit("qwen3-8b", "rtx-4090", quantisation="Q8_0")

    assert tagged.structured_content == rounded_figures(asdict(expected), every_float=True)
    assert clash.is_error and clash.content[0].text == (
        "check_hardware_fit: argument 'quantisation': Q4_K_M clashes with Q8_0, the format the "
        "tag of model 'hf.co/Qwen/Qwen3-8B:Q8_0' names: give the format once, or the same in "
        "both")
    assert garbage.is_error and garbage.content[0].text.startswith(
        "check_hardware_fit: argument 'model': unknown format tag ':garbage' in "
        "'hf.co/Qwen/Qwen3-8B:garbage'; no close match; choose among BF16, FP16, ")


async def test_check_hardware_fit_text_says_a_batch_s_time_to_first_token_is_one_prompt_s() -> None:
    result = await _call("check_hardware_fit", {"model": "qwen3-8b", "device": "h100-sxm",
                                                "batch": 64, "kv_cache_type": "fp16"})

    assert not result.is_error and result.structured_content["kv_cache_type"] == "F16"
    assert ("  note: time to first token is one prompt's alone (64 prompts arriving together "
            "take up to 64x as long to prefill)") in result.content[0].text.splitlines()


async def test_sweep_hardware_leaves_out_a_context_past_a_models_maximum() -> None:
    # gemma-3-1b-it (32,768 tokens at most) was on the front at 100,000.
    arguments = {"models": ["gemma-3-1b-it", "qwen3-8b"], "devices": ["rtx-4090"],
                 "contexts": [100000]}
    result = await _call("sweep_hardware", arguments)
    expected = hardware.pareto_front(arguments["models"], arguments["devices"],
                                     contexts=arguments["contexts"])

    assert not result.is_error
    assert result.structured_content == {
        **rounded_figures(asdict(expected), every_float=True), "points_omitted": 0
    }
    assert {point["model"] for point in result.structured_content["points"]} == {"qwen3-8b"}
    assert result.structured_content["beyond_max_context"] == 1
    assert ("note: 1 configuration left out, not estimated: their context exceeds the model's "
            "maximum (gemma-3-1b-it 32,768)") in result.content[0].text.splitlines()


def test_an_answer_holding_a_figure_json_cannot_hold_is_refused_naming_it() -> None:
    # The SDK sent inf as null, which the output schema refuses: the client raised.
    from mcp.server.mcpserver.exceptions import ToolError

    from shoal.server import _answer

    fit = hardware.hardware_fit("qwen3-8b", "rtx-4090")
    broken = replace(fit, joules_per_token=math.inf)

    with pytest.raises(ToolError, match=r"^the result's joules_per_token \(inf\) is not a finite "
                                        "number, which JSON cannot hold"):
        _answer(broken, "summary", every_float=True)
