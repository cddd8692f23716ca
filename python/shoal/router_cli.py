"""The `shoal fit` and `shoal eval` subcommands: learn a router from labels, and measure one."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from shoal import atomic_file
from shoal._cli_parser import once_each, split_ids, whole_number
from shoal.catalog import (
    PRICES_ENVIRONMENT_VARIABLE,
    Catalog,
    configured_catalog,
    did_you_mean,
    retired,
)
from shoal.cli import add_max_file_bytes, options_named, price_file_input
from shoal.cost import format_usd
from shoal.excerpts import excerpt, grouped_number
from shoal.files import DEFAULT_MAX_DATA_FILE_BYTES
from shoal.json_output import without_surrogates
from shoal.output_files import check_output_file
from shoal.progress import Progress, ProgressLine, add_progress_option
from shoal.router import MAX_OUTPUT_TOKENS
from shoal.router_eval import (
    Evaluation,
    EvaluationError,
    LabelledPrompt,
    conflicting_label_count,
    cross_validate,
    evaluate_router,
    long_rows,
    price_file_catalog,
    read_catalog_labelled,
    read_label_rows,
    read_labelled,
    read_prices,
)
from shoal.router_model import (
    MAX_ROUTER_NAME_CHARS,
    MAX_ROUTER_SOURCE_CHARS,
    MIN_CONFIDENCE_PAIRS,
    MIN_CONFIDENCE_PROMPTS,
    Router,
    RouterFileError,
    canonical_model_names,
    canonical_model_rows,
    check_label_row,
    conflicting_labels,
    fit_router,
)

logger = logging.getLogger(__name__)

# The library's parameters as fit and eval name them: a file over the limit is refused with
# "raise max_file_bytes", and the user typed --max-file-bytes.
DATA_OPTIONS = {"max_file_bytes": "--max-file-bytes"}

# Stands for "the default feedback database" when --outcomes is given without a path.
DEFAULT_OUTCOMES = Path("-")
SQLITE_HEADER = b"SQLite format 3\x00"


def add_fit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `shoal fit`."""
    fit = commands.add_parser(
        "fit",
        help="learn a router file from your own labelled prompts",
        description="Fit a router from JSONL rows {prompt, model, score in [0, 1], optional "
        "cost_usd, input_tokens, output_tokens, task} (the rows `shoal feedback export` prints "
        "also pass; any other field is an error), and with --outcomes the outcomes recorded by "
        "`shoal feedback record`. A model name is an id as elsewhere (at most 200 printable "
        "characters, no space around it) and is read through the catalog "
        "(openai/gpt-4.1 and GPT-4.1 are gpt-4.1). `shoal route --router FILE` then uses it, "
        "still among every catalog model not retired unless --candidates names the labelled "
        "ones. Prices: route prices a catalog model from the catalog with each prompt's own "
        "token count; a model the catalog lacks is priced at the mean cost_usd of its rows "
        f"(without cost_usd it is not a candidate). Confidence: with {MIN_CONFIDENCE_PAIRS} or "
        f"more labelled scores on {MIN_CONFIDENCE_PROMPTS} or more prompts the fit maps route's "
        "confidence to the expected agreement 1 - |observed - predicted|, from leave-one-out "
        "predictions of the labels; with fewer it stays the raw value.",
    )
    fit.add_argument("data", type=Path, nargs="?",
                     help="labelled rows (.jsonl), or an LLMRouter .json list; optional with "
                     "--outcomes")
    fit.add_argument("--outcomes", type=Path, nargs="?", const=DEFAULT_OUTCOMES, default=None,
                     metavar="DB",
                     help="also learn from recorded outcomes that carry a prompt: the feedback "
                     "database DB, or SHOAL_FEEDBACK_DB / the default one when DB is omitted "
                     "(put DATA first: `shoal fit labels.jsonl --outcomes --out r.json`)")
    fit.add_argument("--no-calibration", dest="calibrate", action="store_false",
                     help="skip the isotonic calibrations: of predicted quality (per model) and "
                     "of confidence (route then reports the raw confidence)")
    fit.add_argument("--out", type=Path, required=True,
                     help="router file to write (a new file, or a shoal router file to replace; "
                     "not one of the input files, not '-')")
    fit.add_argument("--name", default="custom",
                     help="name recorded in the file and in each decision's router version "
                     f"(non-empty, at most {MAX_ROUTER_NAME_CHARS} printable characters, "
                     "no '@', no space around it)")
    fit.add_argument("--source", default="user-supplied labels",
                     help="where the labels come from (recorded in the file; at most "
                     f"{MAX_ROUTER_SOURCE_CHARS:,} printable characters with the note "
                     "--outcomes adds)")
    fit.add_argument("--prices", type=Path,
                     help="price file (a catalog file as elsewhere, or JSON {model: "
                     "{input_per_mtok, output_per_mtok, optional source}}, each price 0 to "
                     "1,000,000 USD per million tokens): checked to cover every model without a "
                     "catalog price or observed cost (default: SHOAL_PRICES, if set, read alike)")
    fit.add_argument("--k", type=_neighbours, default=40,
                     help="neighbours per prediction, 1 to 1000 (default 40)")
    add_max_file_bytes(fit, "refuse a larger DATA file", DEFAULT_MAX_DATA_FILE_BYTES)
    add_progress_option(fit)
    fit.set_defaults(handler=run_fit)


def add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `shoal eval`."""
    evaluate = commands.add_parser(
        "eval",
        help="measure a router: quality-vs-cost curve, AIQ, APGR/CPT, baselines",
        description="Fit on --train (or load --router) and evaluate on --test; or "
        "cross-validate on --data with --folds N or --folds task. The models evaluated are "
        "those scored on every held-out prompt (every prompt of --data), and there must be at "
        "least two: every policy is compared on the same prompts, so a model scored on only "
        "some of them is left out, with a note saying so. Model names are read through the "
        "catalog as `shoal fit` reads them (openai/gpt-4.1 and GPT-4.1 are gpt-4.1, in every "
        "file given; a name the catalog lacks matches in any case, Acme-7B in --train "
        "labelling acme-7b of --test): a note names the spellings counted as one model, and "
        "another every name the catalog lacks.",
    )
    evaluate.add_argument("--train", type=Path, help="labelled training data")
    evaluate.add_argument("--router", type=Path, help="an existing router file instead of --train")
    evaluate.add_argument("--test", type=Path, help="labelled held-out data")
    evaluate.add_argument("--data", type=Path,
                          help="labelled data to cross-validate on, with --folds")
    evaluate.add_argument("--folds", default=None,
                          help="with --data: a number of folds, or 'task' (one fold per task)")
    evaluate.add_argument("--prices", type=Path,
                          help="price file overriding the catalog (a catalog file as elsewhere, "
                          "or JSON {model: {input_per_mtok, output_per_mtok, optional source}}, "
                          "each price 0 to 1,000,000 USD per million tokens; default: "
                          "SHOAL_PRICES, if set, read alike)")
    evaluate.add_argument("--holdout-models",
                          help="with --train: comma-separated models whose training labels are "
                          "dropped; every model, in the catalog or not, gets its mean training "
                          "score as its quality prior")
    evaluate.add_argument("--output-tokens", type=whole_number, default=256,
                          help=f"output tokens per call when costing from prices, 0 to "
                          f"{MAX_OUTPUT_TOKENS:,} as for `shoal route` (default 256); a row's "
                          "own output_tokens (and input_tokens) take precedence for its prompt "
                          "and model, and its cost_usd over both")
    evaluate.add_argument("--json", type=Path, dest="json_out",
                          help="write the evaluation here as JSON (a new file, or an earlier "
                          "`shoal eval --json` result to replace; not one of the input files, "
                          "not '-')")
    evaluate.add_argument("--plot", type=Path,
                          help="write an SVG of the curves here (a new file, or an SVG to "
                          "replace; not one of the input files, not '-')")
    add_max_file_bytes(evaluate, "refuse a larger --train, --test or --data file",
                       DEFAULT_MAX_DATA_FILE_BYTES)
    add_progress_option(evaluate)
    evaluate.set_defaults(handler=run_eval)


def _whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (no upper end when None)."""

    def parse(value: str) -> int:
        number = whole_number(value)
        if number < low or (high is not None and number > high):
            bound = f"{low:,} or more" if high is None else f"{low:,} to {high:,}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {grouped_number(number)}")
        return number

    return parse


_neighbours = _whole_number(1, 1000)


def run_fit(args: argparse.Namespace) -> int:
    """Fit and save a router; print a one-line summary."""
    from shoal.feedback import outcomes_without_prompt, without_prompt_note
    from shoal.render import plural

    if args.data is None and args.outcomes is None:
        raise EvaluationError("give labelled data, --outcomes, or both")
    if not args.name.strip():
        raise EvaluationError("--name must not be empty: it names the router in every decision")
    if len(args.name) > MAX_ROUTER_NAME_CHARS:
        raise EvaluationError(f"--name must be at most {MAX_ROUTER_NAME_CHARS} characters (it "
                              f"names the router in every decision), got {len(args.name):,}")
    database = (_outcomes_database(args.outcomes, args.data) if args.outcomes is not None
                else None)
    named_database = "the feedback database" if args.outcomes == DEFAULT_OUTCOMES else None
    check_output_file(args.out, "--out", "the router", kind="router",
                      inputs=[(None, args.data), (named_database, database),
                              *price_file_input(args.prices)])
    rows = []
    if args.data is not None:
        with options_named(DATA_OPTIONS):
            rows = _fit_rows(args.data, args.max_file_bytes)
    source = args.source
    folded = ""
    left_out = 0
    if database is not None:
        outcomes = _outcome_rows(database)
        left_out = outcomes_without_prompt(database)
        rows += outcomes
        # The file name only: the router's content hash (its version) must not depend on how
        # the path was spelt, and the file must not carry a local folder.
        source = f"{source}; {plural(len(outcomes), 'recorded outcome')} from {database.name}"
        folded = f", {plural(len(outcomes), 'recorded outcome')} folded in"
    if not rows:
        raise EvaluationError(_no_rows_message(args.data, database))
    prices = _user_prices(args.prices)
    # Names as every other command reads them, through the catalog the command prices with.
    labels, spellings = canonical_model_rows(rows, configured_catalog())
    if prices is not None:
        _check_prices(labels, prices)
    logger.info("fitting a router on %s", plural(len(labels), "labelled row"))
    with options_named({"name": "--name", "source": "--source"}), \
            shown_progress(args.progress) as progress:
        router = fit_router(labels, name=args.name, source=source, k=args.k,
                            calibrate=args.calibrate, calibrate_confidence=args.calibrate,
                            catalog=configured_catalog(), progress=progress)
    router.save(args.out)
    print(f"wrote {args.out}: {router.version}, {plural(len(router), 'exemplar')}, "
          f"{plural(len(router.models), 'model')} ({', '.join(router.models)}){folded}")
    _print_fit_notes(router, args.out, labels, spellings, prices or {})
    if left_out:
        print(without_prompt_note(left_out), file=sys.stderr)
    if not router.confidence_calibration:
        why = "--no-calibration" if not args.calibrate else _too_few_for_confidence(router)
        print(f"note: confidence stays raw ({why}): `shoal route` reports neighbour evidence "
              "times their mean similarity, not the expected agreement 1 - |observed - "
              "predicted|", file=sys.stderr)
    return 0


def _too_few_for_confidence(router: Router) -> str:
    """Why a calibrated fit has no confidence map: too few labels, or too few prompts."""
    from shoal.render import plural

    scores = sum(score is not None for row in router.scores for score in row)
    if scores < MIN_CONFIDENCE_PAIRS:
        return f"fewer than {MIN_CONFIDENCE_PAIRS} labelled scores to calibrate it on"
    return (f"labels on {plural(len(router), 'prompt')}, fewer than {MIN_CONFIDENCE_PROMPTS} to "
            "calibrate it on: each prompt is predicted from the others")


def _print_fit_notes(
    router: Router, out: Path, rows: Sequence[Mapping[str, Any]],
    spellings: Mapping[str, Sequence[str]], prices: Mapping[str, Any],
) -> None:
    """What the summary line leaves out: spellings counted as one model, which models `shoal
    route` chooses among with this router, and (on stderr) labels averaged or not routable."""
    if spellings:
        print(_counted_as(spellings))
    catalog = configured_catalog()
    outside = [(model, cost) for model, cost in zip(router.models, router.costs_usd, strict=True)
               if model not in catalog]
    observed = [model for model, cost in outside if cost is not None]
    unpriced = [model for model, cost in outside if cost is None]
    # The models route can choose: the catalog's, and the others by their mean observed cost.
    labelled = [model for model in router.models if model not in unpriced]
    gone = [model for model in labelled if model in catalog and retired(catalog.model(model))]
    current = [model for model in labelled if model not in gone]
    # New models stay routable by their catalog prior (by design), which a team fitting on its
    # own few models does not expect.
    keep_to = (f"; add --candidates {','.join(current)} to keep to the labelled ones"
               if current else "")
    if gone:
        keep_to += (f" ({', '.join(gone)}, labelled too, {'is' if len(gone) == 1 else 'are'} "
                    "retired per the catalog)")
    # /dev/null or /dev/stdout keep no router to route with: no command is offered for them.
    route_with = (f"`shoal route --router {shlex.quote(str(out))}`" if out.is_file() else
                  "`shoal route` with this router, once saved to a file,")
    print(f"{route_with} still chooses among every catalog model not retired, placing the ones "
          f"without labels by their catalog quality prior{keep_to}")

    conflicts = conflicting_labels(rows)
    if conflicts:
        print(f"note: {_averaged_labels(conflicts)}", file=sys.stderr)
    if observed:
        print(f"note: {_named_with_near_matches(observed)} not in the catalog: `shoal route` "
              f"prices {'it' if len(observed) == 1 else 'each'} at the mean cost_usd of its "
              "rows, whatever the prompt's length", file=sys.stderr)
    if unpriced:
        price_file_only = [model for model in unpriced if model in prices]
        also = (f" ({', '.join(price_file_only)} priced by --prices, which prices `shoal eval` "
                "only unless it is a catalog file)" if price_file_only else "")
        print(f"note: {_named_with_near_matches(unpriced)} not in the catalog and no cost_usd "
              f"in the rows: `shoal route` cannot price {'it' if len(unpriced) == 1 else 'them'}"
              f", so never chooses {'it' if len(unpriced) == 1 else 'them'}{also}; give "
              f"{'it' if len(unpriced) == 1 else 'each'} a row in a catalog file (--prices, "
              "SHOAL_PRICES) or cost_usd in its rows", file=sys.stderr)
    costed = sorted({str(row["model"]) for row in rows if row.get("cost_usd") is not None
                     and row["model"] in catalog})
    if costed:
        print(f"note: cost_usd of {', '.join(costed)} kept in the router file; `shoal route` "
              "prices catalog models from the catalog with each prompt's own token count",
              file=sys.stderr)


def _named_with_near_matches(models: Sequence[str]) -> str:
    """``gpt-4.1-mimi (did you mean 'gpt-4.1-mini', ...?)``: a misspelt label is written to the
    router as it stands, so the note is where the slip can be caught."""
    catalog = configured_catalog()
    shown = []
    for model in models:
        suggestions = catalog.suggest(model)
        shown.append(f"{model} ({did_you_mean(suggestions)})" if suggestions else model)
    return ", ".join(shown)


def _counted_as(spellings: Mapping[str, Sequence[str]]) -> str:
    """``labels for GPT-4.1 and openai/gpt-4.1 counted as gpt-4.1``: the spellings read as one
    catalog model (see `canonical_model_names`)."""
    return "; ".join(f"labels for {' and '.join(names)} counted as {model}"
                     for model, names in spellings.items())


def _no_rows_message(data: Path | None, database: Path | None) -> str:
    """What held no training rows: the DATA file, the feedback database, or both."""
    empty = []
    if data is not None:
        empty.append(f"{data} holds no labelled rows")
    if database is not None:
        # Outcomes recorded without --prompt cannot teach a router and are not read.
        empty.append(f"no outcome recorded in {database} carries a prompt (record outcomes "
                     "with --prompt or --prompt-file to learn from them)")
    return "nothing to fit: " + "; ".join(empty)


def _outcomes_database(db: Path, data: Path | None) -> Path:
    """The feedback database --outcomes names (the default one when no path was given);
    ``data`` is the DATA argument, if one was given."""
    from shoal.feedback import default_db_path

    if db == DEFAULT_OUTCOMES:
        return default_db_path()
    if not _may_be_sqlite(db):
        if data is None:
            # `fit --outcomes labels.jsonl --out r.json` hands the labels to --outcomes.
            raise EvaluationError(
                f"--outcomes {db}: not a feedback database (SQLite); if it holds labelled "
                f"rows, put DATA first: `shoal fit {db} --outcomes --out ROUTER`"
            )
        raise EvaluationError(
            f"--outcomes {db}: not a feedback database (SQLite); DATA ({data}) takes labelled "
            "rows, --outcomes the database `shoal feedback record` writes (leave its path out "
            "for the default one)"
        )
    return db


def _may_be_sqlite(path: Path) -> bool:
    """False for an existing file that does not start like an SQLite database (an empty file
    becomes one)."""
    if not path.is_file():
        return True  # missing, a folder, a pipe or a device: the feedback module names that
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError:
        return True  # unreadable: the feedback module names that problem
    return not header or header == SQLITE_HEADER


def _outcome_rows(path: Path) -> list[dict[str, Any]]:
    """Training rows from the feedback database (redacted prompts), each checked as a DATA
    file's row is and named by its decision: a database written by an earlier shoal, or edited,
    may hold a model name no command takes."""
    from shoal.feedback import outcomes_as_rows

    rows = outcomes_as_rows(path)
    for row in rows:
        try:
            check_label_row(row, f"{path}: the outcome of decision {excerpt(row['decision_id'])}")
        except RouterFileError as error:
            raise EvaluationError(str(error)) from None
    logger.info("%d recorded outcomes with a prompt in %s", len(rows), path)
    return rows


def _check_output_tokens(count: int) -> None:
    """Refuse an answer length `shoal route --output-tokens` would refuse, in its words: a
    negative count priced every call below nothing, and one beyond any model's output limit
    (100,000,000,000) is a typo that made every cost absurd."""
    if not 0 <= count <= MAX_OUTPUT_TOKENS:
        raise EvaluationError(f"--output-tokens must be an int from 0 to {MAX_OUTPUT_TOKENS:,}, "
                              f"got {grouped_number(count)}")


def _check_eval_outputs(args: argparse.Namespace) -> None:
    """Refuse --json or --plot files that are inputs or hold something else, or the same file
    for both."""
    inputs = [*((None, path) for path in (args.train, args.test, args.data, args.router)),
              *price_file_input(args.prices)]
    if args.json_out is not None:
        check_output_file(args.json_out, "--json", "the evaluation", kind="evaluation",
                          inputs=inputs)
    if args.plot is not None:
        check_output_file(args.plot, "--plot", "the plot", kind="svg", inputs=inputs)
        if args.json_out is not None and args.plot.resolve() == args.json_out.resolve():
            raise EvaluationError(f"--json and --plot both name {args.plot}: the plot would "
                                  "overwrite the evaluation; give each its own file")


def _fit_rows(path: Path, max_file_bytes: int) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return read_label_rows(path, max_file_bytes=max_file_bytes)
    return long_rows(read_labelled(path, max_file_bytes=max_file_bytes))


def _check_prices(
    rows: Sequence[Mapping[str, Any]], prices: dict[str, tuple[float, float]],
) -> None:
    catalog = configured_catalog()
    costed = {row["model"] for row in rows if row.get("cost_usd") is not None}
    missing = sorted({row["model"] for row in rows} - costed - set(prices) - {
        e.id for e in catalog.models
    })
    if missing:
        raise EvaluationError(f"no price for {', '.join(missing)}: add them to the price file")


@contextmanager
def shown_progress(mode: str) -> Iterator[Progress]:
    """A progress line on stderr for the block's long steps (see :mod:`shoal.progress`), ended
    however the block ends, so an error or the summary starts on a line of its own."""
    line = ProgressLine(mode)
    try:
        yield line
    finally:
        line.close()


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate, write JSON and SVG when asked, then print the summary table."""
    _check_output_tokens(args.output_tokens)
    _check_eval_outputs(args)
    with options_named(DATA_OPTIONS), shown_progress(args.progress) as progress:
        evaluation = _evaluate(args, progress)

    # The files first: a reader that closes stdout early (`| head`) must not cost them.
    if args.json_out is not None:
        document = without_surrogates(evaluation.to_dict())
        atomic_file.write_text(
            args.json_out,
            json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        )
    if args.plot is not None:
        from shoal.router_plot import evaluation_svg

        atomic_file.write_text(args.plot, evaluation_svg(evaluation))

    print(format_evaluation(evaluation))
    return 0


def _user_prices(path: Path | None) -> dict[str, tuple[float, float]] | None:
    """The prices of --prices, else of the file SHOAL_PRICES names, each read alike (None
    without either): a ``{model: prices}`` file may price models the catalog lacks, which the
    command prices from it while its catalog stays the shipped one, and a catalog-shaped file
    applies as a whole (:func:`_use_catalog_prices`)."""
    if path is not None:
        prices = read_prices(path)
        _use_catalog_prices(path)
        return prices
    configured = os.environ.get(PRICES_ENVIRONMENT_VARIABLE, "").strip()
    if not configured:
        return None
    try:
        if price_file_catalog(configured) is None:
            # Read here as --prices would be: the catalog would refuse an entry of a model it
            # lacks, so the command's catalog is the shipped one.
            del os.environ[PRICES_ENVIRONMENT_VARIABLE]
        return read_prices(configured)
    except EvaluationError as error:
        raise EvaluationError(f"{PRICES_ENVIRONMENT_VARIABLE}: {error}") from None


def _use_catalog_prices(path: Path | None) -> None:
    """A catalog-shaped --prices applies as SHOAL_PRICES would, for the whole command: its
    models are known to the token counter and its quality priors route the models the training
    data lacks, not only its prices. A ``{model: prices}`` file carries prices only."""
    if path is not None and price_file_catalog(path) is not None:
        os.environ[PRICES_ENVIRONMENT_VARIABLE] = str(path.resolve())


def _evaluate(args: argparse.Namespace, progress: Progress) -> Evaluation:
    from shoal.render import plural

    prices = _user_prices(args.prices)
    catalog = configured_catalog()
    if prices is not None:
        prices = _prices_by_catalog_id(prices, catalog)
    held_out = _held_out_models(args.holdout_models)
    if held_out and args.train is None:
        raise EvaluationError("--holdout-models goes with --train (and --test): it drops those "
                              "models' labels from the training data")
    if args.data is not None:
        if args.test or args.train or args.router:
            raise EvaluationError("--data goes with --folds only (not --train/--test/--router)")
        if args.folds is None:
            raise EvaluationError("--data needs --folds N or --folds task")
        folds = args.folds if args.folds == "task" else _int_folds(args.folds)
        data, spellings = read_catalog_labelled(args.data, catalog,
                                                max_file_bytes=args.max_file_bytes)
        with options_named({"folds='task'": "--folds task"}):
            evaluation = cross_validate(data, folds=folds, fit_options={}, catalog=catalog,
                                        prices=prices, output_tokens=args.output_tokens,
                                        progress=progress)
        evaluation = _with_name_notes(evaluation, spellings, data)
        return _with_averaged_label_notes(evaluation, {"--data": data})
    if args.folds is not None:
        raise EvaluationError("--folds goes with --data (cross-validation), not --train/--test")
    if args.test is None or (args.train is None) == (args.router is None):
        raise EvaluationError("give --test with exactly one of --train or --router (or --data "
                              "with --folds)")
    # Both files' names are read through the catalog, so a model spelt differently in each is
    # one model, as `shoal fit` would count it.
    test, spellings = read_catalog_labelled(args.test, catalog,
                                            max_file_bytes=args.max_file_bytes)
    train: list[Any] = []
    priors: dict[str, float] | None = None
    if args.router is not None:
        from shoal.router import load_router

        router = load_router(args.router)
        spellings = _merged_spellings(spellings, _spellings_across(test, router.models, catalog))
    else:
        train, trained_as = read_catalog_labelled(args.train, catalog,
                                                  max_file_bytes=args.max_file_bytes)
        trained = [model for item in train for model in item.scores]
        spellings = _merged_spellings(trained_as, spellings,
                                      _spellings_across(test, trained, catalog))
        names, _ = canonical_model_names(held_out, catalog)
        held_out = once_each([names[model] for model in held_out], "--holdout-models")
        if held_out:
            _check_held_out(held_out, train)
            priors = mean_scores(train)
        logger.info("fitting a router on the %d prompts of --train", len(train))
        router = fit_router(long_rows(train, without=held_out), name="eval", progress=progress)
    evaluation = evaluate_router(test, router=router, catalog=catalog, prices=prices,
                                 output_tokens=args.output_tokens, priors=priors,
                                 progress=progress)
    seen = _seen_in_training(test, train)
    of_the_test = f"of the {plural(len(test), 'held-out prompt')}"
    if seen:
        evaluation = _with_note(evaluation, (
            f"{seen:,} {of_the_test} also {'occurs' if seen == 1 else 'occur'} in --train: the "
            f"router was fitted on {'it' if seen == 1 else 'them'}, so these figures flatter it; "
            "test on prompts the training data lacks"
        ))
    stored = 0
    if args.router is not None:
        stored = sum(router.stored_exemplar(item.prompt) is not None for item in test)
    if stored:
        evaluation = _with_note(evaluation, (
            f"{stored:,} {of_the_test} {'appears' if stored == 1 else 'appear'} to occur in "
            "--router's exemplars (judged by the 80-character preview and the int8 embedding "
            "code the file keeps of each, both equal): the router was likely fitted on "
            f"{'it' if stored == 1 else 'them'}, so these figures flatter it; test on prompts its "
            "training data lacks"
        ))
    if held_out:
        note = (f"labels of {', '.join(held_out)} dropped from training; every model's quality "
                "prior is its mean training score")
        evaluation = _with_note(evaluation, note)
    evaluation = _with_name_notes(evaluation, spellings, [*test, *train])
    return _with_averaged_label_notes(evaluation, {"--train": train, "--test": test})


def _averaged_labels(count: int) -> str:
    """What fit and eval note of prompt-model pairs labelled with several scores."""
    from shoal.render import plural

    return (f"{plural(count, 'prompt-model pair')} labelled more than once with different "
            "scores; each pair's scores were averaged")


def _with_averaged_label_notes(
    evaluation: Evaluation, files: Mapping[str, Sequence[LabelledPrompt]],
) -> Evaluation:
    """The evaluation with a note for each file (by its option) that labels a prompt-model
    pair more than once with different scores, as `shoal fit` notes them."""
    for option, prompts in files.items():
        count = conflicting_label_count(prompts)
        if count:
            evaluation = _with_note(evaluation, f"{option}: {_averaged_labels(count)}")
    return evaluation


def _held_out_models(value: str | None) -> list[str]:
    """The --holdout-models ids; none when the option is left out, refused when it is given
    empty (most likely an empty shell variable: the evaluation would silently hold out none)."""
    if value is None:
        return []
    held_out = split_ids(value, "--holdout-models")
    if not held_out:
        raise EvaluationError("--holdout-models is empty: list at least one model id, or leave "
                              "the option out to train on every model's labels")
    return once_each(held_out, "--holdout-models")


def _prices_by_catalog_id(
    prices: Mapping[str, tuple[float, float]], catalog: Catalog,
) -> dict[str, tuple[float, float]]:
    """``prices`` found under the catalog id of each model too, as the data's names are read
    (:func:`shoal.router_eval.read_prices` refuses a file naming one model twice)."""
    names, _ = canonical_model_names(prices, catalog)
    found = dict(prices)
    for model, price in prices.items():
        found.setdefault(names[model], price)
    return found


def _spellings_across(
    test: Sequence[Any], trained: Iterable[str], catalog: Catalog,
) -> dict[str, tuple[str, ...]]:
    """The names of the training data (or the router file) read as a model --test spells
    otherwise: each file's names are read on their own, and routing then matches a name the
    catalog lacks in any case, so ``Acme-7B`` in --train labels ``acme-7b`` of --test, which is
    the name the evaluation reports."""
    tested = [model for item in test for model in item.scores]
    # The test's names lead, so each model keeps the spelling the evaluation reports.
    _, spellings = canonical_model_names([*tested, *trained], catalog)
    return spellings


def _merged_spellings(
    *found: Mapping[str, Sequence[str]],
) -> dict[str, tuple[str, ...]]:
    """The spellings each catalog id was read from in several files, each once, in the order
    first seen."""
    merged: dict[str, list[str]] = {}
    for spellings in found:
        for model, names in spellings.items():
            known = merged.setdefault(model, [])
            known += [name for name in names if name not in known]
    return {model: tuple(names) for model, names in merged.items()}


def _with_name_notes(
    evaluation: Evaluation, spellings: Mapping[str, Sequence[str]], prompts: Sequence[Any],
) -> Evaluation:
    """The evaluation with notes on how the data's model names were read, as `shoal fit` notes
    them: the spellings counted as one model, and every name the catalog lacks, with its near
    matches (a misspelt label is evaluated as a model of its own) and how it is costed; one
    that ``prompts`` spell in two cases (--test's first) is named as the evaluation names it."""
    if spellings:
        evaluation = _with_note(evaluation, f"{_counted_as(spellings)} (model names are read "
                                            "through the catalog, as `shoal fit` reads them)")
    catalog = configured_catalog()
    first_spelt: dict[str, str] = {}
    for item in prompts:
        for model in item.scores:
            if model not in catalog:
                first_spelt.setdefault(model.casefold(), model)
    if not first_spelt:
        return evaluation
    unknown = sorted(first_spelt.values())
    return _with_note(evaluation, f"{_named_with_near_matches(unknown)} not in the catalog: "
                                  f"{'it is' if len(unknown) == 1 else 'each is'} a model of its "
                                  "own, costed by the cost_usd of its rows, else by its --prices "
                                  "entry")


def _seen_in_training(test: Sequence[Any], train: Sequence[Any]) -> int:
    """How many held-out prompts (the same text) are also training prompts."""
    trained = {item.prompt for item in train}
    return sum(item.prompt in trained for item in test)


def _check_held_out(held_out: Sequence[str], train: Sequence[Any]) -> None:
    """Every held-out model must be labelled in the training data, and one must stay labelled."""
    labelled = sorted({model for item in train for model in item.scores})
    unknown = [model for model in held_out if model not in labelled]
    if unknown:
        raise EvaluationError(f"--holdout-models: {', '.join(unknown)} not in the training data; "
                              f"its models are {', '.join(labelled)}")
    if set(labelled) <= set(held_out):
        raise EvaluationError("--holdout-models names every model of the training data: at "
                              "least one model must keep its labels to train the router on")


def _int_folds(value: str) -> int:
    try:
        folds = whole_number(value)
    except argparse.ArgumentTypeError:
        raise EvaluationError(f"--folds must be a whole number or 'task', got {excerpt(value)}"
                              ) from None
    if folds < 2:
        raise EvaluationError(f"--folds must be 2 or more (or 'task'), got "
                              f"{grouped_number(folds)}")
    return folds


def mean_scores(prompts: list[Any]) -> dict[str, float]:
    """Each model's mean score over labelled prompts (the prior of the hold-out experiment)."""
    totals: dict[str, list[float]] = {}
    for item in prompts:
        for model, score in item.scores.items():
            totals.setdefault(model, []).append(score)
    return {model: math.fsum(values) / len(values) for model, values in totals.items()}


def _trade_off(willingness_to_pay: float | None) -> str:
    """``wtp $0.00316``: the router's willingness to pay, in USD per quality point, at a curve
    point; the first point weighs cost only, the last quality only."""
    if willingness_to_pay is None or math.isinf(willingness_to_pay):
        return "quality only"
    if willingness_to_pay == 0:
        return "cost only"
    return f"wtp {format_usd(willingness_to_pay)}"


def _with_note(evaluation: Evaluation, note: str) -> Evaluation:
    return replace(evaluation, notes=(*evaluation.notes, note))


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text summary: baselines, router points at budget fractions, AIQ, APGR/CPT.

    Costs are dollars per prompt as every other shoal table writes them (``$0.000308``); the
    ``--json`` file keeps them as numbers.
    """
    from shoal.render import plural

    best = evaluation.best_single
    lines = [
        f"{plural(evaluation.prompts, 'held-out prompt')}, {len(evaluation.models)} "
        f"candidates; router {evaluation.router_version}",
        "",
        f"{'policy':54} {'quality':>8} {'cost/prompt':>12}",
    ]
    # The best single model may be the cheapest too: one row, marked as both.
    cheapest = evaluation.cheapest
    both = cheapest.policy == best.policy
    fixed = [
        (best, " (best single, cheapest)" if both else " (best single)"),
        *([] if both else [(cheapest, "")]),
        (evaluation.random, ""),
        (evaluation.oracle, ""),
    ]
    for point, mark in fixed:
        label = point.policy + mark
        lines.append(f"{label:54} {point.quality:8.4f} {format_usd(point.cost_usd):>12}")
    for fraction in (1.0, 0.5, 0.2):
        within = evaluation.best_quality_within(best.cost_usd * fraction)
        label = f"router, cost <= {fraction:.0%} of best single"
        if within is None:
            lines.append(f"{label:54} {'-':>8} {'-':>12}")
        else:
            lines.append(f"{label:54} {within.quality:8.4f} {format_usd(within.cost_usd):>12}"
                         f"  ({_trade_off(within.willingness_to_pay)})")
    top = max(evaluation.router_curve, key=lambda p: (p.quality, -p.cost_usd))
    lines.append(f"{'router, highest quality':54} {top.quality:8.4f} "
                 f"{format_usd(top.cost_usd):>12}")
    if evaluation.aiq is not None:
        lines += ["", "AIQ (cost normalised cheapest -> most expensive candidate):"]
        lines += [f"  {name:14} {value:.4f}" for name, value in evaluation.aiq.items()]
    if evaluation.pair:
        lines += ["", f"{'two-model':14} {'APGR':>7} {'CPT(50%)':>9} {'CPT(80%)':>9}"]
        for pair in evaluation.pair:
            cpt = [f"{v:8.1f}%" if v is not None else f"{'-':>9}" for v in pair.cpt.values()]
            lines.append(f"{pair.policy:14} {pair.apgr:7.4f} {cpt[0]} {cpt[1]}")
    lines += [f"note: {note}" for note in evaluation.notes]
    return "\n".join(lines)
