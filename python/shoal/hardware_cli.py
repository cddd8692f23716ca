"""The `shoal hw` subcommands: fit, devices, models, nodes, validate, port and sweep.

`shoal hw MODEL DEVICE` is kept as a shortcut for `shoal hw fit MODEL DEVICE`. Tables go to
stdout; ``--json`` prints the structured result instead (the dataclasses of
:mod:`shoal.hardware`, as dicts).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from shoal import atomic_file, hardware
from shoal._cli_parser import (
    CommandParser,
    decimal_number,
    identifier,
    once_each,
    split_ids,
    undecodable_argument,
    whole_number,
)
from shoal.errors import ShoalError
from shoal.excerpts import escaped, excerpt
from shoal.output_files import check_output_file

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("fit", "devices", "models", "nodes", "validate", "port", "sweep")

# The library's name of each argument given by an option, and the option that sets it here.
OPTION_OF_PARAMETER = {
    "context_tokens": "--context",
    "contexts": "--contexts",
    "batch": "--batch",
    "sram_mb": "--sram-mb",
    "from_node": "--from",
    "to_node": "--to",
    "models": "--models",
    "devices": "--devices",
    "quantisation": "--quant",
    "quantisations": "--quants",
    "kv_cache_type": "--kv-cache",
    "nodes": "--nodes",
}


def _ids(values: Sequence[str] | None, option: str) -> list[str] | None:
    """Ids given space- or comma-separated, or ``None`` when the option was not given (see
    :func:`split_ids` for empty entries)."""
    if values is None:
        return None
    return [item for value in values for item in split_ids(value, option)]


def _contexts(values: Sequence[str] | None) -> list[int]:
    items = ["4096"] if values is None else _ids(values, "--contexts") or []
    contexts = []
    for item in items:
        try:
            contexts.append(whole_number(item))
        except argparse.ArgumentTypeError:
            raise ValueError(f"--contexts takes whole numbers of tokens, got {excerpt(item)}"
                             ) from None
    return contexts


def _megabytes(value: str) -> float:
    """A number of MB as typed: a whole number stays an int, so that a refusal quotes it as
    given (1000001, not 1e+06)."""
    try:
        return whole_number(value)
    except argparse.ArgumentTypeError:
        return decimal_number(value)


def _print_json(payload: object) -> None:
    from shoal.json_output import json_text

    # Every figure here is an estimate or a table figure: rounded as the MCP tools round them.
    print(json_text(payload, every_float=True))


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print structured JSON")


def _add_count(
    parser: argparse.ArgumentParser, option: str, what: str, limit: int, default: int
) -> None:
    """A whole-number option whose help gives the range the library accepts."""
    parser.add_argument(
        option, type=int, default=default, help=f"{what}, 1 to {limit:,} (default: %(default)s)"
    )


def _add_context(parser: argparse.ArgumentParser) -> None:
    _add_count(parser, "--context", "context tokens", hardware.MAX_CONTEXT_TOKENS, 4096)


def _add_batch(parser: argparse.ArgumentParser) -> None:
    _add_count(parser, "--batch", "concurrent sequences", hardware.MAX_BATCH, 1)


def _weight_formats() -> str:
    """The weight formats the estimates know, as a help text lists them."""
    return ", ".join(quantisation.id for quantisation in hardware.list_quantisations())


def _add_kv_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kv-cache",
        default="F16",
        type=identifier,
        help=f"KV-cache format: {', '.join(hardware.list_kv_cache_types())}, any case, or as "
        "--quant names the same format (FP16, Q8, Q4) (default: %(default)s)",
    )


def _add_fit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fit = commands.add_parser(
        "fit",
        help="memory fit, decode/prefill speed and energy of a model on a device",
        description="Whether MODEL fits DEVICE, with its decode and prefill speed and energy per "
        "token (estimates with ranges). `shoal hw MODEL DEVICE` is the same.",
    )
    fit.add_argument("model", type=identifier,
                     help="open-weight model id, e.g. llama-3.1-8b-instruct, or its Hugging Face "
                     "repository (meta-llama/Llama-3.1-8B-Instruct), its page address or "
                     "Ollama's hf.co/OWNER/NAME:FORMAT")
    fit.add_argument("device", type=identifier,
                     help="device id, e.g. apple-m4-pro (see `shoal hw devices`)")
    fit.add_argument(
        "--quant",
        type=identifier,
        metavar="FORMAT",
        help=f"weight format: {_weight_formats()}, any case, '-' or '_' alike (INT4 is "
        "INT4-AWQ; default: the format an Ollama "
        f"address's tag names, hf.co/OWNER/NAME:FORMAT, else {hardware.DEFAULT_QUANTISATION})",
    )
    _add_context(fit)
    _add_batch(fit)
    _add_kv_cache(fit)
    _add_json(fit)
    fit.set_defaults(run=_fit)


def _add_lists(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_text, run in (
        ("devices", "the device table (memory, bandwidth, compute, power, node)", _devices),
        ("models", "models with an architecture (parameters, layers, KV heads, experts)", _models),
        ("nodes", "process nodes against TSMC N7 = 1 (density, performance, power)", _nodes),
    ):
        command = commands.add_parser(name, help=help_text, description=f"List {help_text}.")
        _add_json(command)
        command.set_defaults(run=run)


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate",
        help="predicted against measured decode speed, prefill speed and energy, with the median "
        "errors",
        description="Run the estimate over the shipped measured runs and print each row's decode "
        "error, then the energy per token of the runs that measured their power (their watts "
        "over their tokens/s), then for decode tokens/s, prefill tokens/s and energy the median "
        "absolute percentage error (MdAPE) and the share of measurements inside the predicted "
        "range. Figures get more decimals where fewer would hide a measurement outside its range.",
    )
    validate.add_argument(
        "--leave-one-out",
        action="store_true",
        help="refit each row's device class without that row first (an out-of-sample check)",
    )
    _add_json(validate)
    validate.set_defaults(run=_validate)


def _add_port(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    port = commands.add_parser(
        "port",
        help="move a device's chip to another process node, and what that does to inference",
        description="Port DEVICE's chip to another process node at iso-power, iso-performance or "
        "iso-area: new power, performance, area and on-die SRAM, then which models become "
        "resident in SRAM and their decode speed and energy per token before and after.",
    )
    port.add_argument("device", type=identifier, help="device id, e.g. h100-sxm or iphone-16-pro")
    port.add_argument("--to", required=True, dest="to_node", type=identifier,
                      help="target node, e.g. nanostack-claimed")
    port.add_argument("--from", dest="from_node", type=identifier,
                      help="source node (default: the device's own)")
    port.add_argument(
        "--mode",
        default="iso-power",
        choices=("iso-power", "iso-performance", "iso-area"),
        help="how the node change is spent (default: %(default)s)",
    )
    port.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help="models to compare, space- or comma-separated (a b, or a,b; default: every model)",
    )
    port.add_argument("--quant", default="Q4_K_M", type=identifier,
                      help="weight format (default: %(default)s)")
    _add_context(port)
    port.add_argument(
        "--sram-mb",
        type=_megabytes,
        help=f"on-die SRAM in MB, binary as cache sizes are quoted (0 to "
        f"{hardware.MAX_SRAM_MB:,}), when the table has none, or a what-if",
    )
    _add_json(port)
    port.set_defaults(run=_port)


def _add_sweep(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="Pareto front of decode tokens/s against joules per token over a sweep",
        description="Estimate every combination of models x devices x nodes x formats x "
        "contexts (in Rust) and print the Pareto front: the configurations that fit and that "
        "no other beats on both decode speed and energy per token. A context past a model's "
        "maximum is left out for that model, and a note counts what was left out. Lists take "
        "ids separated by spaces or commas (--models a b, or --models a,b); models and devices "
        "default to every known one.",
    )
    # The metavar names one item: argparse's "MODEL [MODEL ...]" shows only the spaced form.
    sweep.add_argument(
        "--models", nargs="+", metavar="MODEL",
        help="model ids, space- or comma-separated (default: all)",
    )
    sweep.add_argument(
        "--devices", nargs="+", metavar="DEVICE",
        help="device ids, space- or comma-separated (default: all)",
    )
    sweep.add_argument(
        "--quants", nargs="+", metavar="FORMAT",
        help=f"weight formats, space- or comma-separated: {_weight_formats()}, any case "
        "(default: Q4_K_M)",
    )
    sweep.add_argument(
        "--contexts", nargs="+", metavar="TOKENS",
        help="context lengths in tokens, space- or comma-separated (default: 4096); each "
        "model is swept only at those within its maximum context",
    )
    sweep.add_argument(
        "--nodes",
        nargs="+",
        metavar="NODE",
        help=f"process nodes to port each device to, space- or comma-separated, any case; "
        f"'{hardware.AS_BUILT}' keeps it as built (default: {hardware.AS_BUILT})",
    )
    # No default here, so that a --mode given without a node to port to can be refused.
    sweep.add_argument(
        "--mode",
        choices=("iso-power", "iso-performance", "iso-area"),
        help="how a node change is spent; needs --nodes naming a node to port to (default: "
        "iso-power)",
    )
    _add_batch(sweep)
    _add_kv_cache(sweep)
    sweep.add_argument(
        "--pin-sram",
        action="store_true",
        help="let the runtime pin what fits of the weights and KV cache in on-die SRAM",
    )
    sweep.add_argument(
        "--plot", type=Path,
        help=("write an SVG plot of the front to this file (a new file, or an SVG to replace); "
              "none when nothing fits"),
    )
    _add_json(sweep)
    sweep.set_defaults(run=_sweep)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `shoal hw`'s subcommands."""
    parser: argparse.ArgumentParser = CommandParser(
        prog="shoal hw",
        description="Can a model run on a device, how fast and at what energy; what a new "
        "process node changes. `shoal hw MODEL DEVICE` is short for `shoal hw fit MODEL DEVICE`.",
    )
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    _add_fit(commands)
    _add_lists(commands)
    _add_validate(commands)
    _add_port(commands)
    _add_sweep(commands)
    return parser


def run(words: Sequence[str]) -> int:
    """Parse and run one `shoal hw` command line (the words after ``hw``)."""
    from shoal.cli import summaries_kept_off_stdout  # shoal.cli imports this module

    words = list(words)
    parser = build_parser()
    if words and words[0] not in SUBCOMMANDS and not words[0].startswith("-"):
        _refuse_unknown_subcommand(parser, words)
        words.insert(0, "fit")
    args = parser.parse_args(words)
    problem = undecodable_argument(parser, args)
    if problem is not None:
        raise SubcommandError(args.subcommand, problem)
    handler: Callable[[argparse.Namespace], int] = args.run
    try:
        with summaries_kept_off_stdout(args):
            return handler(args)
    except hardware.ParameterError as error:
        # The library names its arguments (sram_mb, contexts[2]); here the user typed options.
        option = OPTION_OF_PARAMETER.get(error.parameter.split("[")[0])
        if option is None:
            raise SubcommandError(args.subcommand, str(error)) from None
        raise SubcommandError(args.subcommand, f"{option} {error.problem}") from None
    except hardware.UnknownNameError as error:
        # Several options take names of one kind (--from and --to, nodes): say which one.
        option = OPTION_OF_PARAMETER.get(error.parameter or "")
        message = str(error) if option is None else f"{option}: {error}"
        raise SubcommandError(args.subcommand, message) from None
    except ValueError as error:
        raise SubcommandError(args.subcommand, str(error)) from None


def _refuse_unknown_subcommand(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    """Refuse a first word that is no subcommand and no model id of the `shoal hw MODEL DEVICE`
    shortcut: a near miss of a subcommand (``fitt``), or a word followed by no device (alone, or
    by options such as ``--help``).

    Taken as the shortcut's model, a mistyped subcommand was reported as an extra argument
    ("unrecognized arguments: rtx-4090"), and an unknown one as a fit lacking its device, with
    fit's help for ``--help``. A first word followed by another is the shortcut's, whose own
    errors name an unknown model with its near matches.
    """
    word = words[0]
    near = difflib.get_close_matches(word.lower(), SUBCOMMANDS, n=3, cutoff=0.75)
    followed_by_a_device = len(words) > 1 and not words[1].startswith("-")
    if (followed_by_a_device and not near) or _is_model(word):
        return
    if near:
        parser.error(f"unknown hw command {excerpt(word)}; did you mean {' or '.join(near)}?")
    parser.error(f"unknown hw command {excerpt(word)}; choose among {', '.join(SUBCOMMANDS)}, or "
                 "give MODEL DEVICE (short for `shoal hw fit MODEL DEVICE`)")


def _is_model(word: str) -> bool:
    try:
        hardware.get_architecture(word)
    except hardware.UnknownNameError:
        return False
    return True


class SubcommandError(ShoalError, ValueError):
    """A refused `shoal hw` command line; its error leads with the subcommand, as argparse's
    own errors do (``shoal hw port: error: ...``)."""

    def __init__(self, subcommand: str, message: str) -> None:
        super().__init__(message)
        self.subcommand = subcommand


# ---------------------------------------------------------------------------------------------
# Handlers


def _fit(args: argparse.Namespace) -> int:
    from shoal import render

    result = hardware.hardware_fit(
        args.model,
        args.device,
        quantisation=args.quant,
        context_tokens=args.context,
        batch=args.batch,
        kv_cache_type=args.kv_cache,
    )
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.hardware_fit(result))
    return 0


def _devices(args: argparse.Namespace) -> int:
    devices = hardware.list_devices()
    if args.json:
        _print_json([dataclasses.asdict(device) for device in devices])
        return 0
    # Memory as vendors quote it, in binary GB; estimates convert it to GB of 1e9 bytes.
    print(
        f"{'device':24} {'class':15} {'memory':>8} {'GB/s':>6} {'TFLOPS':>7} {'W':>5}  node   name"
    )
    for d in devices:
        print(
            f"{d.id:24} {d.device_class:15} {d.memory_gb:4.0f} GiB {d.bandwidth_gbs:6.0f} "
            f"{d.fp16_tflops:7.1f} {d.power_w:5.0f}  {d.node or '-':6} {d.name}"
        )
    return 0


def _models(args: argparse.Namespace) -> int:
    archs = hardware.list_architectures()
    if args.json:
        _print_json([dataclasses.asdict(arch) for arch in archs])
        return 0
    print(
        f"{'model':34} {'params B':>9} {'active B':>9} {'layers':>6} {'KV heads':>8} "
        f"{'experts':>8}  context"
    )
    for a in archs:
        experts = f"{a.active_experts}/{a.experts}" if a.experts else "-"
        print(
            f"{a.id:34} {a.params_b:9.2f} {a.active_params_b:9.2f} {a.layers:6d} "
            f"{a.kv_heads:8d} {experts:>8}  {a.max_context:,}"
        )
    return 0


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _nodes(args: argparse.Namespace) -> int:
    nodes = hardware.list_nodes()
    if args.json:
        _print_json([dataclasses.asdict(node) for node in nodes])
        return 0
    print("figures are cumulative against TSMC N7 = 1")
    print(f"{'node':24} {'logic':>6} {'SRAM':>6} {'perf@P':>7} {'P@perf':>7}  claim")
    for n in nodes:
        print(
            f"{n.id:24} {_figure(n.logic_density):>6} {_figure(n.sram_density):>6} "
            f"{_figure(n.perf_iso_power):>7} {_figure(n.power_iso_perf, 3):>7}  "
            f"{n.claim_type}, confidence {n.confidence}"
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    report = hardware.validate(leave_one_out=args.leave_one_out)
    if args.json:
        _print_json(dataclasses.asdict(report))
        return 0
    print(
        f"{'row':40} {'device':22} {'model':28} {'format':8} {'measured':>8} "
        f"{'predicted':>9} {'range':>13} {'error':>7}"
    )
    for row in report.rows:
        figures = _figures_apart(row.measured_tokens_per_s, row.predicted_tokens_per_s,
                                 row.predicted_low, row.predicted_high, decimals=1)
        print(
            f"{row.id:40} {row.device:22} {row.model:28} {row.quantisation:8} "
            f"{figures[0]:>8} {figures[1]:>9} {figures[2]:>13} "
            f"{row.error_pct:+6.1f}%{'' if row.within_range else '  outside'}"
        )
    _print_energy_rows(report)
    how = "leave-one-out" if report.leave_one_out else "in-sample"
    print()
    print(
        f"decode MdAPE {report.decode_mdape:.1f} % ({how}, {len(report.rows)} rows); "
        f"MAPE {report.decode_mape:.1f} %; measured inside the predicted range for "
        f"{report.within_range_fraction:.0%} of rows"
    )
    _print_coverage("prefill", report.prefill_mdape, report.prefill_within_range_fraction,
                    sum(row.prefill_within_range is not None for row in report.rows))
    _print_coverage("energy", report.energy_mdape, report.energy_within_range_fraction,
                    sum(row.energy is not None for row in report.rows))
    by_class = ", ".join(f"{k} {v:.1f} %" for k, v in report.decode_mdape_by_class.items())
    print(f"by device class: {by_class}")
    for row_id, reason in report.excluded:
        print(f"excluded {row_id}: {reason}")
    return 0


def _print_energy_rows(report: hardware.ValidationReport) -> None:
    """The runs that measured their power: joules per token measured (power over decode
    speed) against the estimate's."""
    checked = [(row, row.energy) for row in report.rows if row.energy is not None]
    if not checked:
        return
    print()
    print("energy per token, measured as the run's power over its decode speed:")
    print(f"{'row':40} {'device':22} {'power W':>8} {'J/token':>8} {'predicted':>9} "
          f"{'range':>13} {'error':>7}")
    for row, energy in checked:
        figures = _figures_apart(energy.measured_joules_per_token,
                                 energy.predicted_joules_per_token, energy.predicted_low,
                                 energy.predicted_high, decimals=2)
        print(
            f"{row.id:40} {row.device:22} {energy.measured_power_w:8.1f} {figures[0]:>8} "
            f"{figures[1]:>9} {figures[2]:>13} {energy.error_pct:+6.1f}%"
            f"{'' if energy.within_range else '  outside'}"
        )


def _figures_apart(
    measured: float, predicted: float, low: float, high: float, *, decimals: int
) -> tuple[str, str, str]:
    """A row's measured figure, prediction and range with ``decimals`` places, or more where
    fewer would show a measurement outside the range on one of its ends (19.9 against
    19.9-26.3 for 19.89 against 19.895)."""
    outside = not low <= measured <= high
    places = decimals
    while outside and places < 6 and _shown(measured, places) in (
        _shown(low, places), _shown(high, places)
    ):
        places += 1
    return (_shown(measured, places), _shown(predicted, places),
            f"{_shown(low, places)}-{_shown(high, places)}")


def _shown(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def _print_coverage(what: str, mdape: float | None, inside: float | None, count: int) -> None:
    """One summary line of a checked quantity, when some run measured it."""
    if mdape is None or inside is None:
        return
    print(f"{what} MdAPE {mdape:.1f} % ({count} row{'s' * (count != 1)}); measured inside the "
          f"predicted range for {inside:.0%} of them")


def _port(args: argparse.Namespace) -> int:
    from shoal import render

    models = _ids(args.models, "--models")
    if models is not None:
        once_each(models, "--models")
    if models == []:
        # Most likely an empty shell variable: comparing no model would look like a result.
        raise ValueError("--models names no model: list model ids, or leave the option out to "
                         "compare every model")
    result = hardware.port_chip(
        args.device,
        from_node=args.from_node,
        to_node=args.to_node,
        mode=args.mode,
        models=models,
        quantisation=args.quant,
        context_tokens=args.context,
        sram_mb=args.sram_mb,
    )
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.ported_chip(result))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    # Passed as written (as-built in any case): the library names a repeat by its spellings.
    nodes: list[str | None] = [None]
    if args.nodes is not None:
        nodes = list(_ids(args.nodes, "--nodes") or [])
        if not nodes:
            raise ValueError(f"--nodes names no node: list nodes ({hardware.AS_BUILT} keeps a "
                             "device as built), or leave the option out")
    if args.mode is not None and all(hardware.is_as_built(node) for node in nodes):
        raise ValueError(f"--mode {args.mode} is how a node change is spent, and no node is "
                         f"changed ({hardware.AS_BUILT} only): add --nodes NODE, or drop --mode")
    if args.plot is not None:
        _check_plot(args.plot)
    # The library refuses an id named twice (by its canonical id: Q4_K_M and q4_k are one).
    front = hardware.pareto_front(
        _ids(args.models, "--models"),
        _ids(args.devices, "--devices"),
        quantisations=["Q4_K_M"] if args.quants is None else _ids(args.quants, "--quants") or [],
        contexts=_contexts(args.contexts),
        nodes=nodes,
        mode=args.mode,
        batch=args.batch,
        kv_cache_type=args.kv_cache,
        pin_sram=args.pin_sram,
    )
    if args.plot is not None:
        _write_plot(front, args.plot)
    if args.json:
        _print_json(dataclasses.asdict(front))
    else:
        print(front_table(front))
    return 0


def _check_plot(path: Path) -> None:
    """Refuse, before the sweep, a --plot path that is a user data file or holds no SVG."""
    check_output_file(path, "--plot", "the plot", kind="svg", inputs=hardware.user_data_files())


def _write_plot(front: hardware.ParetoFront, path: Path) -> None:
    from shoal.hardware_plot import pareto_svg

    if not front.points:
        # The table and its notes still say why nothing fits; an existing file is left as it is.
        print(f"shoal hw sweep: no plot written to {path}: nothing fits in memory, so the front "
              "has no point to plot", file=sys.stderr)
        return
    try:
        atomic_file.write_text(path, pareto_svg(front))
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror}") from None
    print(f"shoal hw sweep: wrote {path}", file=sys.stderr)


def front_table(front: hardware.ParetoFront, *, omitted: int = 0) -> str:
    """A readable summary of a front: counts, one line per point by rising energy, notes.
    ``omitted`` counts points of the front left out of ``front.points`` (over MCP)."""
    from shoal.render import joules, plural

    on_front = f"{len(front.points) + omitted:,} on the Pareto front"
    if omitted:
        on_front += f" ({len(front.points):,} shown)"
    lines = [
        (
            f"{plural(front.evaluated, 'configuration')}, {front.fitting:,} fit in memory, "
            f"{on_front} (decode tokens/s against joules per token):"
        ),
        (
            f"{'J/token':>9} {'tok/s':>8}  {'model':28} {'format':8} {'device':22} "
            f"{'node':22} {'context':>7}"
        ),
    ]
    for p in front.points:
        lines.append(
            f"{joules(p.joules_per_token):>9} {p.decode_tokens_per_s:8.1f}  {p.model:28} "
            f"{p.quantisation:8} {p.device:22} {p.node:22} {p.context_tokens:7d}"
        )
    if front.skipped:
        lines.append(
            f"{plural(front.skipped, 'configuration')} skipped (device node unknown)"
        )
    lines.extend(f"note: {note}" for note in front.notes)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `shoal hw` on its own (``python -m shoal.hardware_cli ...``)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except SubcommandError as error:
        print(f"shoal hw {error.subcommand}: error: {escaped(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
