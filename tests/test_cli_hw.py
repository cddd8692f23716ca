"""The `shoal hw` subcommands, through ``shoal.cli.main`` and once through a real subprocess."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest
from hang_guard import HANG_GUARD_S

from shoal import hardware
from shoal.cli import main
from shoal.json_output import ROUNDED_DIGITS


def rounded(value: float) -> float:
    """A figure as --json prints it (and the MCP hardware tools send it)."""
    return float(f"{value:.{ROUNDED_DIGITS}g}")


def floats_in(value: object) -> list[float]:
    """Every float in a JSON-shaped value."""
    if isinstance(value, dict):
        return [number for item in value.values() for number in floats_in(item)]
    if isinstance(value, list):
        return [number for item in value for number in floats_in(item)]
    return [value] if isinstance(value, float) else []


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["hw", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_and_its_shortcut_print_the_same(capsys):
    code, explicit, _ = _run(capsys, "fit", "llama-3.1-8b-instruct", "apple-m4-pro")
    assert code == 0
    assert explicit.startswith("llama-3.1-8b-instruct Q4_K_M on apple-m4-pro: fits")
    assert _run(capsys, "llama-3.1-8b-instruct", "apple-m4-pro")[1] == explicit


@pytest.mark.parametrize(
    ("joules", "shown"),
    [(1.0037, "1.00"), (2.2449, "2.24"), (0.07659, "0.0766"), (0.051, "0.0510"), (12.34, "12.3"),
     (9.996, "10.0"), (123.4, "123"), (999.6, "1,000"), (2063.4, "2,063"), (0.0, "0")],
)
def test_energy_figures_have_three_significant_figures(joules, shown):
    from shoal.render import joules as joules_text

    assert joules_text(joules) == shown


def test_fit_sweep_and_plot_print_one_energy_figure_alike(capsys, tmp_path):
    # 0.9996 J/token: a figure near 1 once printed "1" by the fit and "1.004" by the sweep.
    model, device = "qwen3-8b", "apple-m5-max"
    assert round(hardware.hardware_fit(model, device).joules_per_token, 4) == 0.9996
    plot = tmp_path / "front.svg"

    fit = _run(capsys, model, device)[1]
    sweep = _run(capsys, "sweep", "--models", model, "--devices", device, "--plot", str(plot))[1]

    assert "  energy 1.00 J/token at about 72 W (estimate)\n" in fit
    assert sweep.splitlines()[2].split()[0] == "1.00"
    assert plot.read_text(encoding="utf-8").count("1.00 J/token") == 2


@pytest.mark.parametrize(
    ("context", "verdict"),
    [
        # 14 kB over: once "needs 22.8 GB, 22.8 GB available (0.0 GB short)".
        (54_303, "needs 24.481 GB, 24.481 GB available (less than 0.001 GB short)"),
        (54_400, "needs 24.49 GB, 24.48 GB available (0.01 GB short)"),
    ],
)
def test_a_model_just_over_the_memory_is_not_shown_needing_what_is_available(
    capsys, context, verdict
):
    code, out, _ = _run(capsys, "fit", "qwen3-30b-a3b", "rtx-4090", "--context", str(context))
    assert code == 0
    assert f": does NOT fit: {verdict} at {context:,} tokens of context" in out.splitlines()[0]


def test_one_token_of_context_is_singular(capsys):
    code, out, _ = _run(capsys, "fit", "llama-3.2-1b-instruct", "iphone-16-pro", "--context", "1")
    assert code == 0 and out.splitlines()[0].endswith(" at 1 token of context")
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "n2", "--context", "1", "--models",
                        "llama-3.2-1b-instruct,llama-3.1-405b-instruct")
    assert code == 0 and "tokens of context" not in out
    assert "  Q4_K_M at 1 token of context, before -> after (estimates):" in out
    assert "at Q4_K_M and 1 token of context: llama-3.1-405b-instruct needs" in out


@pytest.mark.parametrize("sram_mb", ["0", "-0.0"])
def test_a_chip_without_sram_says_so_rather_than_a_share_of_0_percent(capsys, sram_mb):
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "n2", f"--sram-mb={sram_mb}",
                        "--models", "llama-3.2-1b-instruct")
    assert code == 0
    # -0.0 printed "(-0 MB)"; none read "no model becomes resident ... at 0%".
    assert "SRAM capacity x1.00 (0 MB)" in out
    assert "  no on-die SRAM (0 MB), so no model is held in SRAM" in out
    assert "no model becomes resident" not in out and "SRAM 0% -> 0%" not in out
    assert str(hardware.port_chip("h100-sxm", to_node="n2", sram_mb=-1e-400).sram_mb) == "0.0"


def test_fit_options_and_json(capsys):
    code, out, _ = _run(
        capsys,
        "fit",
        "gemma-3-27b-it",
        "rtx-5090",
        "--quant",
        "Q8_0",
        "--context",
        "32768",
        "--batch",
        "2",
        "--kv-cache",
        "q8_0",
        "--json",
    )
    payload = json.loads(out)
    expected = hardware.hardware_fit(
        "gemma-3-27b-it",
        "rtx-5090",
        quantisation="Q8_0",
        context_tokens=32768,
        batch=2,
        kv_cache_type="q8_0",
    )
    assert code == 0
    assert payload["decode_tokens_per_s"] == rounded(expected.decode_tokens_per_s)
    assert payload["kv_cache_type"] == "Q8_0" and payload["batch"] == 2


def test_a_model_that_does_not_fit_leads_with_the_memory_it_lacks(capsys):
    code, out, _ = _run(capsys, "fit", "llama-3.3-70b-instruct", "rtx-4090")
    fit = hardware.hardware_fit("llama-3.3-70b-instruct", "rtx-4090")
    lines = out.splitlines()

    assert code == 0 and not fit.fits
    assert lines[0] == (
        f"llama-3.3-70b-instruct Q4_K_M on rtx-4090: does NOT fit: needs "
        f"{fit.memory_needed_gb:.1f} GB, {fit.memory_available_gb:.1f} GB available "
        f"({-fit.margin_gb:.1f} GB short) at 4,096 tokens of context"
    )
    assert lines[1].startswith("  if it fitted ")
    # Speed and energy come only under that label, never as headline lines of their own.
    assert [line[:11] for line in lines[2:5]] == ["    decode ", "    prefill", "    energy "]
    assert not any(line.startswith(("  decode", "  energy")) for line in lines)

    code, out, _ = _run(capsys, "fit", "llama-3.3-70b-instruct", "rtx-4090", "--json")
    assert code == 0 and json.loads(out)["fits"] is False


def test_json_figures_carry_no_float_noise(capsys):
    # The A18 Pro's 8 W at iso-area: the arithmetic gives 4.001999999999999 W.
    code, out, _ = _run(capsys, "port", "iphone-16-pro", "--to", "nanostack-claimed", "--mode",
                        "iso-area", "--sram-mb", "400", "--models", "gemma-3-1b-it", "--json")
    port = json.loads(out)
    assert code == 0 and port["power_w"] == 4.002 and port["power_ratio"] == 0.50025
    # LPDDR5X has no DRAM energy per bit in the table: its interface's power is unknown, not 0.
    assert port["memory_interface_power_w"] is None

    code, out, _ = _run(capsys, "fit", "gemma-3-27b-it", "rtx-5090", "--json")
    figures = floats_in(json.loads(out))
    assert figures and all(figure == rounded(figure) for figure in figures)


@pytest.mark.parametrize(
    ("listing", "expected"),
    [("devices", "h100-sxm"), ("models", "gpt-oss-120b"), ("nodes", "nanostack-claimed")],
)
def test_listings_as_tables_and_json(capsys, listing, expected):
    code, out, _ = _run(capsys, listing)
    assert code == 0 and expected in out
    code, out, _ = _run(capsys, listing, "--json")
    assert code == 0 and expected in {row["id"] for row in json.loads(out)}


def test_validate_prints_rows_and_the_median_error(capsys):
    code, out, _ = _run(capsys, "validate")
    report = hardware.validate()
    assert code == 0
    assert f"decode MdAPE {report.decode_mdape:.1f} % (in-sample, {len(report.rows)} rows)" in out
    assert f"inside the predicted range for {report.within_range_fraction:.0%}" in out
    assert all(row.id in out for row in report.rows)
    energy = [row for row in report.rows if row.energy is not None]
    prefill = [row for row in report.rows if row.prefill_within_range is not None]
    assert (f"prefill MdAPE {report.prefill_mdape:.1f} % ({len(prefill)} rows); measured inside "
            f"the predicted range for {report.prefill_within_range_fraction:.0%} of them") in out
    assert (f"energy MdAPE {report.energy_mdape:.1f} % ({len(energy)} rows); measured inside "
            f"the predicted range for {report.energy_within_range_fraction:.0%} of them") in out


def test_validate_shows_a_measurement_outside_its_range_with_the_digits_that_say_so(capsys):
    # 19.89 tokens/s against a range from 19.895 once read "19.9 ... 19.9-26.3 ... outside".
    code, out, _ = _run(capsys, "validate")
    line = next(line for line in out.splitlines()
                if line.startswith("m3ultra-ollama-deepseek-r1 ") and "Q4_K_M" in line)
    assert code == 0 and line.endswith("outside")
    measured, _, span = line.split()[4:7]
    low = span.split("-")[0]
    assert measured == "19.890" and float(measured) < float(low)
    # Inside its range, a row keeps one decimal.
    assert " 14.4 " in next(line for line in out.splitlines()
                            if line.startswith("macstudio-llamabench-llama-3.3-70b ")
                            and "Q4_K_M" in line)


def test_validate_checks_measured_energy_against_the_predicted_range(capsys):
    # measured.json gives the power of six runs; validate ignored it.
    code, out, _ = _run(capsys, "validate")
    assert code == 0
    assert "energy per token, measured as the run's power over its decode speed:" in out
    line = next(line for line in out.splitlines()
                if line.startswith("m3ultra-ollama-gpt-oss-20b ") and " 227.0 " in line)
    # 227 W over 115.29 tokens/s.
    assert line.split()[3] == "1.97"
    code, out, _ = _run(capsys, "validate", "--leave-one-out", "--json")
    assert json.loads(out)["leave_one_out"] is True


def test_port_reports_the_chip_and_the_inference_consequences(capsys):
    code, out, _ = _run(
        capsys,
        "port",
        "iphone-16-pro",
        "--to",
        "nanostack-claimed",
        "--mode",
        "iso-area",
        "--sram-mb",
        "400",
        "--models",
        "gemma-3-1b-it,llama-3.2-1b-instruct",
    )
    assert code == 0
    assert "n3e -> nanostack-claimed at iso-area" in out
    assert "resident in on-die SRAM after the move: gemma-3-1b-it" in out
    assert "llama-3.2-1b-instruct: SRAM 47% -> 94%" in out

    code, out, _ = _run(
        capsys, "port", "h100-sxm", "--to", "n2", "--from", "n5", "--models", "qwen3-8b", "--json"
    )
    payload = json.loads(out)
    assert payload["from_node"] == "n5" and payload["mode"] == "iso-power"
    assert [row["model"] for row in payload["inference"]] == ["qwen3-8b"]


def test_sweep_prints_the_front_writes_a_plot_and_json(capsys, tmp_path):
    plot = tmp_path / "front.svg"
    argv = [
        "sweep",
        "--models",
        "llama-3.2-1b-instruct",
        "gpt-oss-20b",
        "--devices",
        "apple-m4-pro,rtx-4090,h100-sxm",
        "--quants",
        "Q4_K_M",
        "MXFP4",
        "--contexts",
        "4096,32768",
        "--nodes",
        "as-built",
        "nanostack-claimed",
        "--mode",
        "iso-performance",
    ]
    code, out, err = _run(capsys, *argv, "--plot", str(plot))
    assert code == 0
    assert out.startswith("48 configurations, 48 fit in memory")
    assert err == f"shoal hw sweep: wrote {plot}\n"
    assert ElementTree.parse(plot).getroot().tag == "{http://www.w3.org/2000/svg}svg"

    code, out, _ = _run(capsys, *argv, "--json")
    payload = json.loads(out)
    front = hardware.pareto_front(
        ["llama-3.2-1b-instruct", "gpt-oss-20b"],
        ["apple-m4-pro", "rtx-4090", "h100-sxm"],
        quantisations=["Q4_K_M", "MXFP4"],
        contexts=[4096, 32768],
        nodes=[None, "nanostack-claimed"],
        mode="iso-performance",
    )
    assert [p["joules_per_token"] for p in payload["points"]] == [
        rounded(p.joules_per_token) for p in front.points
    ]
    assert payload["nodes"] == ["as-built", "nanostack-claimed"]


def test_a_sweep_where_nothing_fits_prints_its_table_and_writes_no_plot(capsys, tmp_path):
    # With --plot it exited 2 ("the front is empty") and printed no table; without, it exited 0.
    plot = tmp_path / "front.svg"
    argv = ["sweep", "--models", "llama-3.1-70b-instruct", "--devices", "iphone-16-pro"]
    code, table, err = _run(capsys, *argv)
    assert (code, err) == (0, "")

    assert _run(capsys, *argv, "--plot", str(plot)) == (0, table, (
        f"shoal hw sweep: no plot written to {plot}: nothing fits in memory, so the front has "
        "no point to plot\n"))
    assert "note: nothing fits in memory" in table
    assert not plot.exists()


def test_user_errors_exit_2_with_a_message(capsys):
    code, _, err = _run(capsys, "fit", "llama-3.1-8b", "apple-m4-pro")
    assert code == 2 and "llama-3.1-8b-instruct" in err
    code, _, err = _run(capsys, "sweep", "--nodes", "intel-18a", "--models", "qwen3-8b")
    assert code == 2
    assert "--nodes names process node 'intel-18a', which has no performance at iso-power" in err
    code, _, err = _run(capsys, "sweep", "--contexts", "4k")
    assert code == 2 and "--contexts" in err
    with pytest.raises(SystemExit) as exit_info:
        _run(capsys, "port", "h100-sxm")  # --to is required
    assert exit_info.value.code == 2


def test_a_model_named_with_a_variant_ending_is_offered_its_family_and_size(capsys):
    code, out, err = _run(capsys, "fit", "Qwen3-8B-Instruct", "rtx-4090")

    assert (code, out) == (2, "")
    assert "unknown model 'Qwen3-8B-Instruct'; near matches: qwen3-8b, " in err


def test_a_port_from_or_to_a_node_without_a_figure_names_the_option_and_what_to_ask(capsys):
    code, out, err = _run(capsys, "port", "h100-sxm", "--from", "ibm-2nm", "--to",
                          "nanostack-claimed")
    assert (code, out) == (2, "")
    assert err.startswith("shoal hw port: error: --from names process node 'ibm-2nm', which has "
                          "no SRAM density figure ")
    assert "so use n2 in its place (port from n2 to a nanostack row for IBM's claims)" in err

    code, out, err = _run(capsys, "port", "h100-sxm", "--to", "intel-18a")
    assert (code, out) == (2, "")
    assert err.startswith("shoal hw port: error: --to names process node 'intel-18a', which has "
                          "no performance at iso-power or power at iso-performance figure ")
    assert "nothing can be ported to or from it" in err


def test_a_page_address_that_leads_elsewhere_is_refused_not_fitted(capsys):
    address = "https://huggingface.co/Qwen/Qwen3-8B/../../meta-llama/Llama-3.1-8B-Instruct"
    code, out, err = _run(capsys, "fit", address, "rtx-4090")

    assert (code, out) == (2, "")
    assert "not the address of a model page, as its path has a '.' or '..' segment" in err


@pytest.mark.parametrize(
    ("option", "values", "repeated"),
    [
        ("--models", ["qwen3-8b", "gemma-3-1b-it,qwen3-8b"], "qwen3-8b"),
        ("--devices", ["rtx-4090", "RTX-4090"], "rtx-4090 (as rtx-4090, RTX-4090)"),
        ("--quants", ["Q4_K_M,q4_k"], "Q4_K_M (as Q4_K_M, q4_k)"),
        ("--contexts", ["4096,4096"], "4096"),
        ("--nodes", ["as-built", "n2,as-built"], "as-built"),
    ],
)
def test_sweep_refuses_an_id_named_twice_in_any_list(capsys, option, values, repeated):
    lists = {"--models": ["qwen3-8b"], "--devices": ["rtx-4090"], option: values}
    argv = ["sweep", *(word for name, given in lists.items() for word in (name, *given))]

    code, out, err = _run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err == (f"shoal hw sweep: error: {option} names {repeated} more than once; "
                   "list each once\n")


def test_sweep_that_ports_only_devices_without_a_node_says_why(capsys):
    code, out, err = _run(capsys, "sweep", "--devices", "rtx-3090", "--nodes", "nanostack-claimed")

    assert (code, out) == (2, "")
    assert err.startswith(
        "shoal hw sweep: error: --nodes name only nodes to port to (nanostack-claimed), and "
        "rtx-3090 has no known process node to port from, so nothing was estimated: add "
        "as-built to the nodes"
    )


@pytest.mark.parametrize(("word", "near"), [("fitt", "fit"), ("sweeep", "sweep"),
                                            ("model", "models"), ("devics", "devices")])
def test_a_mistyped_subcommand_is_named_with_its_near_match(capsys, word, near):
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", word, "llama-3.1-8b-instruct", "rtx-4090"])

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.endswith(f"shoal hw: error: unknown hw command '{word}'; did you mean {near}?\n")


def test_a_model_id_near_a_subcommand_is_still_the_fit_shortcut(capsys, tmp_path, monkeypatch):
    row = json.loads((hardware.DATA_DIR / "architectures.json").read_text())["architectures"][0]
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps({"architectures": [{**row, "id": "sweeps"}]}))
    monkeypatch.setenv(hardware.ARCHITECTURES_ENVIRONMENT_VARIABLE, str(archs))
    hardware.reset_tables()
    try:
        code, out, _ = _run(capsys, "sweeps", "rtx-4090")
    finally:
        monkeypatch.delenv(hardware.ARCHITECTURES_ENVIRONMENT_VARIABLE)
        hardware.reset_tables()

    assert code == 0 and out.startswith("sweeps Q4_K_M on rtx-4090: fits")


@pytest.mark.parametrize("argv", [("compare",), ("compare", "--help"), ("compare", "--json")])
def test_an_unknown_subcommand_is_refused_by_name_with_the_subcommands(capsys, argv):
    # Read as fit's model: "compare" alone lacked a device, and --help showed fit's help.
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", *argv])

    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""
    assert err.endswith(
        "shoal hw: error: unknown hw command 'compare'; choose among fit, devices, models, "
        "nodes, validate, port, sweep, or give MODEL DEVICE (short for `shoal hw fit MODEL "
        "DEVICE`)\n"
    )


def test_a_model_alone_is_still_the_fit_shortcut_lacking_its_device(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", "qwen3-8b"])

    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "shoal hw fit: error: the following arguments are required: device\n")


@pytest.mark.parametrize(("subcommand", "option"), [("fit", "--quant"), ("sweep", "--quants")])
def test_weight_format_help_lists_every_format(capsys, subcommand, option):
    with pytest.raises(SystemExit):
        main(["hw", subcommand, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    formats = ", ".join(q.id for q in hardware.list_quantisations())

    assert re.search(rf"{option} FORMAT.*{re.escape(formats)}, any case", text), text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["port", "iphone-16-pro", "--to", "n2", "--sram-mb", "2000000"],
         "--sram-mb must be a number of MB from 0 to 1,000,000, got 2,000,000"),
        (["port", "iphone-16-pro", "--to", "n2", "--sram-mb", "1000000.5"],
         "--sram-mb must be a number of MB from 0 to 1,000,000, got 1,000,000.5"),
        (["port", "iphone-16-pro", "--to", "n2", "--context", "0"], "--context must be > 0"),
        (["fit", "qwen3-8b", "rtx-4090", "--batch", "65536"],
         "--batch must be at most 4,096, got 65,536"),
        (["fit", "qwen3-8b", "rtx-4090", "--context", "20000000"],
         "--context must be at most 10,000,000, got 20,000,000"),
        # Quoted ungrouped (1000001) where --context quoted 10,000,001.
        (["port", "iphone-16-pro", "--to", "n2", "--sram-mb", "1000001"],
         "--sram-mb must be a number of MB from 0 to 1,000,000, got 1,000,001"),
        (["sweep", "--models", "qwen3-8b", "--contexts", "4096,100000000000"],
         "--contexts must be at most 10,000,000, got 100,000,000,000"),
        (["sweep", "--models", "qwen3-8b", "--batch", "5000"], "--batch must be at most 4,096"),
    ],
)
def test_out_of_range_numbers_name_the_option(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"shoal hw {argv[0]}: error: {message}")


def test_port_splits_a_device_power_and_shows_the_die_power_density(capsys):
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "nanostack-claimed", "--mode",
                        "iso-performance", "--models", "llama-3.1-8b-instruct")

    assert code == 0
    lines = out.splitlines()
    assert "  power x0.41 (286.2 W), performance x1.00 (989.4 TFLOPS)" in lines
    assert "    die 485.6 -> 71.8 W (x0.15), memory interface 214.4 W (unchanged)" in lines
    assert "  die power density 0.60 -> 0.26 W/mm2 (x0.43)" in lines
    assert "2.18 -> 0.888 J/token" in out

    # At iso-power the die keeps its power on a third of the area.
    out = _run(capsys, "port", "h100-sxm", "--to", "nanostack-claimed", "--models",
               "llama-3.1-8b-instruct")[1]
    assert "  die power density 0.60 -> 1.75 W/mm2 (x2.94)" in out.splitlines()
    assert "note: die power density rises x2.94" in out
    assert "2.18 -> 1.42 J/token" in out  # the same work at 1/P the energy per operation


def test_port_names_the_models_that_do_not_fit(capsys):
    code, out, _ = _run(capsys, "port", "rtx-4090", "--to", "nanostack-claimed", "--models",
                        "llama-3.1-8b-instruct,llama-3.1-70b-instruct")

    assert code == 0
    assert "    llama-3.1-8b-instruct: SRAM 1% -> 1%, decode" in out
    assert ("  too large for the 24.5 GB of usable memory at Q4_K_M and 4,096 tokens of "
            "context: llama-3.1-70b-instruct needs 45.0 GB") in out.splitlines()

    # Resident in a huge SRAM is no use to a model the device's memory cannot load.
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "nanostack-claimed", "--sram-mb",
                        "1000000", "--models", "llama-3.2-1b-instruct,llama-3.1-405b-instruct")
    resident = next(line for line in out.splitlines() if "resident in on-die SRAM" in line)
    assert resident.endswith(": llama-3.2-1b-instruct")
    assert "llama-3.1-405b-instruct needs 251.2 GB" in out


def test_port_says_when_no_model_fits_and_keeps_its_notes(capsys):
    code, out, _ = _run(capsys, "port", "iphone-16-pro", "--to", "nanostack-claimed",
                        "--context", "10000000", "--models", "gemma-3-1b-it,llama-3.2-1b-instruct")

    assert code == 0
    assert ("  no model fits the 5.2 GB of usable memory at Q4_K_M and 10,000,000 tokens of "
            "context: gemma-3-1b-it needs 41.9 GB, llama-3.2-1b-instruct needs 328.7 GB"
            ) in out.splitlines()
    assert "  warning: context 10,000,000 exceeds the maximum context of 2 of the 2 models" in out
    assert "  note: IBM NanoStack 0.7 nm, vendor claim: vendor figures" in out


def test_port_of_a_device_without_a_node_asks_for_the_from_option(capsys):
    code, out, err = _run(capsys, "port", "rtx-3090", "--to", "n2")

    assert (code, out) == (2, "")
    assert err == ("shoal hw port: error: --from is needed: the device's process (Samsung 8N) "
                   "has no node in the node table to port from\n")


def test_port_writes_large_figures_with_thousands_separators(capsys):
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "nanostack-claimed", "--sram-mb",
                        "1000000", "--models", "llama-3.2-1b-instruct")

    assert code == 0 and "SRAM capacity x1.00 (1,000,000 MB)" in out
    figures = re.findall(r"\(([\d.,]+) (?:W|TFLOPS|MB)\)", out)
    assert len(figures) == 3
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d+)?", figure) for figure in figures)


def test_port_to_an_older_node_at_iso_area_costs_more_energy_per_token(capsys):
    # Fewer transistors at N7 draw less, but each operation costs 1.43x: it printed 1.87.
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "n7", "--mode", "iso-area",
                        "--models", "llama-3.1-8b-instruct")

    assert code == 0
    assert "    die 485.6 -> 385.4 W (x0.79), memory interface 214.4 W (unchanged)" in out
    assert "decode 224.8 -> 224.4 tok/s, 2.18 -> 2.83 J/token" in out
    assert "energy per token: the die's work per token costs x1.43 (the energy per operation at " \
           "iso-area" in out


def test_port_json_writes_every_figure_as_a_float(capsys):
    # power_w_before was the table's whole 700, where every other figure, and MCP, has 700.0.
    code, out, _ = _run(capsys, "port", "h100-sxm", "--to", "n2", "--json")

    assert code == 0
    payload = json.loads(out)
    assert payload["power_w_before"] == 700.0 and isinstance(payload["power_w_before"], float)
    assert isinstance(payload["die_power_w_before"], float)


def test_port_shows_a_small_device_s_figures_in_significant_digits(capsys, tmp_path,
                                                                    monkeypatch):
    # A tiny device printed "(0.0 TFLOPS)", "memory interface 0.0 W" and an ungrouped density.
    tiny = {
        "id": "tiny", "name": "Tiny", "device_class": "discrete_gpu", "memory_gb": 1,
        "memory_type": "GDDR6", "bandwidth_gbs": 1, "fp16_tflops": 0.001, "int8_tops": 0,
        "power_w": 0.1, "process": "N4", "node": "n5", "die_area_mm2": 1, "sram_mb": 1,
        "source": "a test", "as_of": "2026-12-01",
    }
    dense = {**tiny, "id": "dense", "name": "Dense", "memory_type": "LPDDR5X",
             "power_w": 1_000_000, "die_area_mm2": 1}
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps({"devices": [tiny, dense]}), encoding="utf-8")
    monkeypatch.setenv("SHOAL_DEVICES", str(devices))
    hardware.reset_tables()
    try:
        code, out, _ = _run(capsys, "port", "tiny", "--to", "n7", "--models", "gemma-3-1b-it")
        dense_out = _run(capsys, "port", "dense", "--to", "n7", "--models", "gemma-3-1b-it")[1]
    finally:
        hardware.reset_tables()

    lines = out.splitlines()
    assert code == 0
    assert "  power x1.00 (0.1 W), performance x0.87 (0.00087 TFLOPS)" in lines
    assert "    die 0.04 -> 0.04 W (x1.00), memory interface 0.06 W (unchanged)" in lines
    assert "  die power density 0.04 -> 0.024 W/mm2 (x0.61)" in lines
    assert "the memory interface draws 0.06 W at full bandwidth" in out
    assert "  die power density 1,000,000.00 -> 607,638.89 W/mm2 (x0.61)" in dense_out


def test_port_says_how_to_give_the_sram_on_each_surface(capsys):
    code, out, _ = _run(capsys, "port", "iphone-16-pro", "--to", "n2", "--models", "qwen3-8b")
    assert code == 0
    assert ("no on-die SRAM figure in the device table: give one (sram_mb in Python and over "
            "MCP, --sram-mb on the command line)") in out


def test_port_without_an_sram_figure_says_it_is_missing_not_that_shares_are_zero(capsys):
    code, out, _ = _run(capsys, "port", "iphone-16-pro", "--to", "nanostack-claimed")

    assert code == 0
    assert ("  SRAM residency not estimated: the device table has no on-die SRAM figure for "
            "iPhone 16 Pro (A18 Pro); give one with --sram-mb (sram_mb in Python and over MCP)"
            ) in out.splitlines()
    assert "largest share" not in out and "SRAM 0% -> 0%" not in out
    assert "    gemma-3-1b-it: decode " in out


@pytest.mark.parametrize("subcommand", ["fit", "sweep"])
def test_kv_cache_help_lists_every_accepted_format(capsys, subcommand):
    with pytest.raises(SystemExit):
        main(["hw", subcommand, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"KV-cache format: {', '.join(hardware.list_kv_cache_types())}, any case" in text
    assert "BF16" in text


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for name in ("fit", "devices", "models", "nodes", "validate", "port", "sweep"):
        assert name in out


def test_real_process_prints_json_on_stdout_only():
    completed = subprocess.run(
        [sys.executable, "-m", "shoal", "hw", "fit", "qwen3-30b-a3b", "apple-m4-max", "--json"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=True,
    )
    assert json.loads(completed.stdout)["model"] == "qwen3-30b-a3b"
    assert completed.stderr == ""


@pytest.mark.parametrize("option", ["--quants", "--contexts"])
def test_a_sweep_option_that_names_nothing_is_refused_not_defaulted(capsys, option):
    # `--quants ,` ran the Q4_K_M default as if the option had been left out.
    code, out, err = _run(capsys, "sweep", "--models", "qwen3-8b", "--devices", "rtx-4090",
                          option, ",")

    assert (code, out) == (2, "")
    assert err == f"shoal hw sweep: error: {option} must not be empty\n"


def test_fit_text_names_the_batch_and_kv_cache_and_says_decode_is_per_sequence(capsys):
    # The text said "decode 32.6 tok/s" at batch 64 with no batch in sight: read as batching
    # making decode twelve times slower.
    code, out, _ = _run(capsys, "fit", "qwen3-30b-a3b", "h100-sxm", "--batch", "64",
                        "--kv-cache", "q8_0")
    first, decode = out.splitlines()[:2]

    assert code == 0
    assert first.endswith("at 4,096 tokens of context, a batch of 64 sequences, a Q8_0 KV cache")
    assert " per sequence, " in decode and " tok/s summed, bound by " in decode
    single = _run(capsys, "fit", "qwen3-30b-a3b", "h100-sxm")[1].splitlines()
    assert single[0].endswith("at 4,096 tokens of context") and "summed" not in single[1]


def test_port_refuses_a_model_named_twice_and_an_empty_entry(capsys):
    # Port listed the repeat twice, and 'a,,b' read as the unknown model 'a'.
    port = ["port", "rtx-4090", "--to", "nanostack-claimed", "--models"]

    twice = _run(capsys, *port, "qwen3-30b-a3b,Qwen/Qwen3-30B-A3B")
    gap = _run(capsys, *port, "qwen3-8b,,qwen3-4b")

    assert twice[0] == 2 and "--models names qwen3-30b-a3b (as qwen3-30b-a3b, " in twice[2]
    assert gap[0] == 2 and "--models has an empty entry" in gap[2]


def test_a_context_that_is_not_a_number_is_named_alone(capsys):
    code, _, err = _run(capsys, "sweep", "--models", "qwen3-8b", "--devices", "rtx-4090",
                        "--contexts", "4096,4k")

    assert code == 2
    assert err == "shoal hw sweep: error: --contexts takes whole numbers of tokens, got '4k'\n"


def test_a_context_past_the_model_maximum_is_warned_in_separated_figures(capsys):
    code, out, _ = _run(capsys, "fit", "llama-3.1-8b-instruct", "h100-sxm", "--context",
                        "10000000")

    assert code == 0
    assert "warning: context 10,000,000 exceeds the model's maximum of 131,072" in out


def test_port_warns_of_a_context_past_the_model_maximum_as_fit_does(capsys):
    port = ["port", "h100-sxm", "--to", "nanostack-claimed", "--models", "gemma-3-1b-it",
            "--context", "10000000"]

    code, out, _ = _run(capsys, *port)
    json_code, json_out, _ = _run(capsys, *port, "--json")

    warning = "context 10,000,000 exceeds the model's maximum of 32,768"
    assert (code, json_code) == (0, 0)
    assert f"  warning: {warning}" in out.splitlines()
    assert warning in json.loads(json_out)["notes"]


@pytest.mark.parametrize("option", ["--to", "--from"])
def test_a_node_without_the_figures_a_port_needs_names_its_option(capsys, option):
    # --to and --from were refused in the same words, naming neither.
    other = ["--to", "n2"] if option == "--from" else []
    code, out, err = _run(capsys, "port", "h100-sxm", option, "intel-18a", *other)

    assert (code, out) == (2, "")
    assert err.startswith(f"shoal hw port: error: {option} names process node 'intel-18a', "
                          "which has no performance at iso-power or power at iso-performance "
                          "figure")


HIDDEN_ROW = {
    "id": "ctl", "name": "evil\u001b[2J\u202ename\u0000", "device_class": "discrete_gpu",
    "memory_gb": 24, "memory_type": "X\u001b[2J", "bandwidth_gbs": 1000, "fp16_tflops": 100,
    "power_w": 300, "node": "n5",
}


@pytest.mark.parametrize(
    ("argv", "field"),
    [(("devices",), "name"), (("port", "ctl", "--to", "n2", "--from", "n5"), "name")],
)
def test_a_device_file_whose_texts_hold_terminal_escapes_is_refused_not_printed(
    capsys, tmp_path, monkeypatch, argv, field
):
    # The name and memory type reached the terminal raw: ESC [2J cleared it, U+202E reversed the
    # text after it and a NUL ended the line early.
    devices = tmp_path / "ctl.json"
    devices.write_text(json.dumps({"devices": [HIDDEN_ROW]}))
    monkeypatch.setenv(hardware.DEVICES_ENVIRONMENT_VARIABLE, str(devices))
    hardware.reset_tables()
    try:
        code, out, err = _run(capsys, *argv)
    finally:
        monkeypatch.delenv(hardware.DEVICES_ENVIRONMENT_VARIABLE)
        hardware.reset_tables()

    assert code == 2 and out == ""
    assert f"{devices}: devices row 1 is malformed: field '{field}' must hold only printable" in err
    assert not any(character in err for character in "\u001b\u202e\u0000")


def test_sweep_takes_as_built_in_any_case(capsys):
    code, out, err = _run(capsys, "sweep", "--models", "gemma-3-1b-it", "--devices", "rtx-4090",
                          "--nodes", "AS-BUILT,N2", "--json")

    assert code == 0, err
    assert json.loads(out)["nodes"] == ["as-built", "n2"]
    code, _, err = _run(capsys, "sweep", "--devices", "rtx-4090", "--nodes", "AS-BUILT",
                        "--mode", "iso-area")
    assert code == 2 and "--mode iso-area is how a node change is spent" in err


def test_fit_text_says_a_batch_s_time_to_first_token_is_one_prompt_s(capsys):
    # Said in --json's notes only: the text read as 64 prompts answered in 0.21 s.
    code, out, _ = _run(capsys, "fit", "qwen3-30b-a3b", "h100-sxm", "--batch", "64")

    assert code == 0
    assert out.splitlines().count(
        "  note: time to first token is one prompt's alone (64 prompts arriving together take "
        "up to 64x as long to prefill)") == 1
    assert "note:" not in _run(capsys, "fit", "qwen3-30b-a3b", "h100-sxm")[1]


def test_sweep_leaves_out_a_context_past_a_models_maximum_and_says_so(capsys):
    code, out, _ = _run(capsys, "sweep", "--models", "llama-3-8b,qwen3-8b", "--devices",
                        "rtx-4090", "--contexts", "4096,131072")
    lines = out.splitlines()

    assert code == 0
    assert not [line for line in lines[2:] if "llama-3-8b" in line and "131072" in line]
    assert ("note: 1 configuration left out, not estimated: their context exceeds the model's "
            "maximum (llama-3-8b 8,192)") in lines
    code, _, err = _run(capsys, "sweep", "--models", "llama-3-8b,phi-4", "--devices",
                        "rtx-4090", "--contexts", "131072")
    assert code == 2
    assert err == ("shoal hw sweep: error: --contexts all exceed the maximum context of every "
                   "model: llama-3-8b 8,192, phi-4 16,384; nothing to estimate\n")


def test_fit_takes_the_format_an_ollama_address_names(capsys):
    code, out, _ = _run(capsys, "fit", "hf.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090")
    assert code == 0 and out.startswith("qwen3-8b Q8_0 on rtx-4090: fits")

    code, _, err = _run(capsys, "fit", "hf.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090", "--quant",
                        "Q4_K_M")
    assert code == 2
    assert err == ("shoal hw fit: error: --quant Q4_K_M clashes with Q8_0, the format the tag of "
                   "model 'hf.co/Qwen/Qwen3-8B:Q8_0' names: give the format once, or the same in "
                   "both\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # Each named no option, though two options of sweep and port take node names.
        (["sweep", "--nodes", "bogus"],
         "--nodes: unknown process node 'bogus'; no close match; `shoal hw nodes` lists them; "
         "as-built keeps a device as built"),
        (["port", "rtx-4090", "--to", "n22"], "--to: unknown process node 'n22'; near matches: "),
        (["fit", "qwen3-8b", "rtx-4090", "--kv-cache", "q9_0"],
         "--kv-cache: unknown KV-cache type 'q9_0'; near matches: Q8_0, Q4_0"),
        # Quoted as typed, not in the capitals the name is looked up in.
        (["sweep", "--quants", "q4_k_s"], "--quants: unknown quantisation 'q4_k_s'; near matches"),
        (["port", "h100-sxm", "--to", "n2", "--quant", "bogus"],
         "--quant: unknown quantisation 'bogus'; no close match"),
    ],
)
def test_an_unknown_name_given_by_an_option_names_the_option(capsys, argv, message):
    code, out, err = _run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err.startswith(f"shoal hw {argv[0]}: error: {message}"), err


@pytest.mark.parametrize(("given", "shown"), [("fp16", None), ("q8", "Q8_0"), ("Q4", "Q4_0")])
def test_kv_cache_takes_the_spellings_quant_takes(capsys, given, shown):
    # --quant fp16 and --quant q8 were taken while --kv-cache refused them.
    code, out, err = _run(capsys, "fit", "qwen3-8b", "rtx-4090", "--kv-cache", given)

    assert code == 0, err
    first = out.splitlines()[0]
    assert first.endswith("tokens of context" if shown is None else f"a {shown} KV cache")


def test_a_device_file_from_the_environment_is_named_by_its_variable(capsys, tmp_path,
                                                                      monkeypatch):
    # "cannot read table file: missing.json does not exist" left the user to guess where the
    # file came from (serve --devices names its option).
    missing = tmp_path / "missing.json"
    monkeypatch.setenv(hardware.DEVICES_ENVIRONMENT_VARIABLE, str(missing))
    hardware.reset_tables()
    try:
        code, out, err = _run(capsys, "fit", "qwen3-8b", "rtx-4090")
    finally:
        monkeypatch.delenv(hardware.DEVICES_ENVIRONMENT_VARIABLE)
        hardware.reset_tables()

    assert (code, out) == (2, "")
    assert err == (f"shoal hw fit: error: SHOAL_DEVICES: cannot read table file: {missing} does "
                   "not exist\n")


def test_json_output_refuses_a_figure_json_cannot_hold():
    from shoal.json_output import json_line, json_text

    payload = {"points": [{"joules_per_token": 1.0}, {"joules_per_token": math.inf}]}
    for write in (json_text, json_line):
        with pytest.raises(ValueError) as refused:
            write(payload)
        assert str(refused.value).startswith(
            "the result's points[1].joules_per_token (inf) is not a finite number, which JSON "
            "cannot hold")
    assert json_line({"nan": "NaN", "x": 1.5}) == '{"nan":"NaN","x":1.5}'
