"""Fit the per-device-class efficiency factors of :mod:`shoal.hardware` on measured runs.

Decode time per token is modelled as ``t = x / efficiency + overhead`` where ``x`` is the bytes
read per step divided by the peak bandwidth. For each device class the two constants are fitted
by least squares on the relative error of ``t`` over that class's measured rows. A class whose
rows do not spread enough in ``x`` (fewer than four rows, or the largest ``x`` under 1.5× the
smallest) cannot separate the two, so its overhead is fixed to a prior: the class's own figure,
or the fitted overhead of the class it borrows from (same engine and driver stack).

The decode range scales the efficiency by the class's lowest and highest measured / predicted
speed (at least ±15 %), at the fitted overhead. The high end may pass 1 where a class's fastest
runs had less overhead than its fit; the estimate never goes past the roofline, the bytes read
at full bandwidth, whatever the factor.

The prefill efficiency is the median over the class's rows of measured / peak-bound prefill, its
range the class's lowest and highest (at least -25 % and +25 %), each at most 1: a share of the
compute peak, which no estimate passes. Classes without measured rows keep their priors. No
factor is specific to a row or a device.

Rows the device profile cannot model are left out of the fit (``include: false`` in
``measured.json``, with the reason): a model that spills out of VRAM, an NPU or CPU backend, or
an engine that reaches past the profile's compute peak (llama.cpp with the M5 Max's Neural
Accelerators, whose prefill is 3.4 times what the GPU shaders' FP16 peak allows).

Re-fit after changing the measured rows with::

    python -m shoal.hardware_calibration --write
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shoal import atomic_file, hardware
from shoal._cli_parser import CommandParser
from shoal.errors import InputError

logger = logging.getLogger(__name__)

MIN_ROWS_FOR_TWO_TERMS = 4
MIN_SPREAD_FOR_TWO_TERMS = 1.5
RANGE_FLOOR = 0.15
"""The decode range spans at least ±15 % of the efficiency even when a class fits tightly."""


def _class_configs() -> dict[str, dict[str, Any]]:
    document = hardware._read_json(hardware.DATA_DIR / "devices.json")
    return {row["id"]: row for row in document["device_classes"]}


def _unit_class(config: Mapping[str, Any]) -> hardware.DeviceClass:
    # Efficiency 1 and no overhead: the estimate then returns the pure roofline bounds.
    return hardware.DeviceClass(
        id=config["id"],
        description=config["description"],
        usable_fraction=config["usable_fraction"],
        runtime_overhead_gb=config["runtime_overhead_gb"],
        prefill_peak=config["prefill_peak"],
        decode_efficiency=1.0,
        decode_efficiency_low=1.0,
        decode_efficiency_high=1.0,
        overhead_ms=0.0,
        overhead_ms_low=0.0,
        overhead_ms_high=0.0,
        prefill_efficiency=1.0,
        prefill_efficiency_low=1.0,
        prefill_efficiency_high=1.0,
        power_fraction=config["power_fraction"],
        source="",
    )


def _weighted_fit(
    xs: Sequence[float], ys: Sequence[float], fixed_b: float | None
) -> tuple[float, float]:
    """Least squares of ``y ~ a*x + b`` on relative error (weights 1/y**2), a >= 1, b >= 0."""
    ws = [1.0 / (y * y) for y in ys]

    def slope_for(b: float) -> float:
        numerator = sum(w * x * (y - b) for w, x, y in zip(ws, xs, ys, strict=False))
        return max(1.0, numerator / sum(w * x * x for w, x in zip(ws, xs, strict=False)))

    if fixed_b is not None:
        return slope_for(fixed_b), fixed_b

    sw = sum(ws)
    swx = sum(w * x for w, x in zip(ws, xs, strict=False))
    swxx = sum(w * x * x for w, x in zip(ws, xs, strict=False))
    swy = sum(w * y for w, y in zip(ws, ys, strict=False))
    swxy = sum(w * x * y for w, x, y in zip(ws, xs, ys, strict=False))
    determinant = sw * swxx - swx * swx
    a = (sw * swxy - swx * swy) / determinant
    b = (swxx * swy - swx * swxy) / determinant
    if b < 0.0:
        return slope_for(0.0), 0.0
    if a < 1.0:
        return 1.0, max(0.0, sum(w * (y - x) for w, x, y in zip(ws, xs, ys, strict=False)) / sw)
    return a, b


def _fit_class(
    config: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    borrowed_overhead_ms: float | None,
) -> hardware.DeviceClass:
    unit = _unit_class(config)
    xs, ys, prefill_ratios = [], [], []
    for row in rows:
        decode, prefill = hardware._predict(row, unit)
        xs.append(1.0 / decode["decode_tokens_per_s"])
        ys.append(1.0 / float(row["decode_tokens_per_s"]))
        if prefill is not None:
            prefill_ratios.append(
                float(row["prefill_tokens_per_s"]) / prefill["prefill_tokens_per_s"]
            )

    if not xs:
        efficiency = config["decode_efficiency_prior"]
        overhead_s = _overhead_prior_s(config, borrowed_overhead_ms)
        how = "prior (no measured rows)"
    else:
        spread = max(xs) / min(xs)
        two_terms = len(xs) >= MIN_ROWS_FOR_TWO_TERMS and spread >= MIN_SPREAD_FOR_TWO_TERMS
        fixed_overhead_s = None if two_terms else _overhead_prior_s(config, borrowed_overhead_ms)
        a, overhead_s = _weighted_fit(xs, ys, fixed_overhead_s)
        efficiency = 1.0 / a
        fitted = "efficiency and overhead" if two_terms else "efficiency; overhead fixed"
        how = f"fitted on {_rows(len(xs))} ({fitted})"

    # Range: the spread of measured/predicted over the class, at least ±RANGE_FLOOR.
    ratios = [
        (x / efficiency + overhead_s) / y for x, y in zip(xs, ys, strict=False)
    ]  # predicted time / measured time = measured speed / predicted speed
    low = min([1.0 - RANGE_FLOOR, *ratios])
    high = max([1.0 + RANGE_FLOOR, *ratios])

    if prefill_ratios:
        prefill = statistics.median(prefill_ratios)
        prefill_low = min([0.75 * prefill, *prefill_ratios])
        prefill_high = max([1.25 * prefill, *prefill_ratios])
        how += f"; prefill from {_rows(len(prefill_ratios))}"
    else:
        prefill = config["prefill_efficiency_prior"]
        prefill_low, prefill_high = 0.5 * prefill, 1.5 * prefill
        how += "; prefill prior"
    # A share of the compute peak: no end of the range passes the peak itself.
    prefill, prefill_low, prefill_high = (
        min(1.0, share) for share in (prefill, prefill_low, prefill_high)
    )

    overhead_ms = overhead_s * 1000.0
    return hardware.DeviceClass(
        id=config["id"],
        description=config["description"],
        usable_fraction=config["usable_fraction"],
        runtime_overhead_gb=config["runtime_overhead_gb"],
        prefill_peak=config["prefill_peak"],
        decode_efficiency=efficiency,
        decode_efficiency_low=efficiency * low,
        decode_efficiency_high=efficiency * high,
        overhead_ms=overhead_ms,
        overhead_ms_low=overhead_ms,
        overhead_ms_high=overhead_ms,
        prefill_efficiency=prefill,
        prefill_efficiency_low=prefill_low,
        prefill_efficiency_high=prefill_high,
        power_fraction=config["power_fraction"],
        source=how,
    )


def _rows(count: int) -> str:
    return f"{count} row{'s' * (count != 1)}"


def _overhead_prior_s(config: Mapping[str, Any], borrowed_overhead_ms: float | None) -> float:
    """The overhead a class falls back on: its own prior, else the fit of the class it borrows from.

    Only a class whose rows cannot separate overhead from efficiency needs one, so a class with
    neither is refused here, when the prior is wanted, rather than in the arithmetic.
    """
    prior_ms = config.get("overhead_prior_ms")
    if prior_ms is None:
        prior_ms = borrowed_overhead_ms
    if prior_ms is None:
        raise InputError(
            f"device class {config['id']!r} needs an overhead prior (too few measured rows to fit "
            "one): give it overhead_prior_ms or overhead_prior_from"
        )
    return prior_ms / 1000.0


def _class_of(row: Mapping[str, Any]) -> str:
    return hardware.get_device(row["device"]).device_class


def calibrate(rows: Sequence[Mapping[str, Any]] | None = None) -> dict[str, hardware.DeviceClass]:
    """Fit every device class on the included measured rows (the shipped ones by default)."""
    rows = hardware.measured_rows() if rows is None else rows
    included = [row for row in rows if row.get("include", True)]
    configs = _class_configs()
    fitted: dict[str, hardware.DeviceClass] = {}

    # Classes with their own overhead prior first, so borrowers can use their fit.
    order = sorted(configs, key=lambda k: configs[k].get("overhead_prior_ms") is None)
    for class_id in order:
        config = configs[class_id]
        lender = config.get("overhead_prior_from")
        borrowed = fitted[lender].overhead_ms if lender else None
        class_rows = [row for row in included if _class_of(row) == class_id]
        fitted[class_id] = _fit_class(config, class_rows, borrowed)
    return {class_id: fitted[class_id] for class_id in configs}


def refit_without(
    row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> hardware.DeviceClass:
    """The row's device class fitted on ``rows`` minus that row (for out-of-sample checks)."""
    others = [other for other in rows if other["id"] != row["id"]]
    return calibrate(others)[_class_of(row)]


def write(classes: Mapping[str, hardware.DeviceClass], as_of: str) -> Path:
    """Store fitted factors in the shipped ``devices.json`` (a development step); returns its
    path."""
    path = hardware.DATA_DIR / "devices.json"
    document = hardware._read_json(path)
    for config in document["device_classes"]:
        fitted = classes[config["id"]]
        for name in hardware.DeviceClass.__dataclass_fields__:
            if name.startswith(("decode_", "overhead_ms", "prefill_efficiency")):
                config[name] = round(getattr(fitted, name), 4)
        config["source"] = f"{fitted.source} (shoal.hardware_calibration, {as_of})"
    atomic_file.write_text(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    hardware.reset_tables()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the classes on the shipped rows; print them to stderr, and store them with --write."""
    parser = CommandParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the fit in devices.json")
    parser.add_argument("--as-of", default="2026-12-04", help="date recorded with the fit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    classes = calibrate()
    for fitted in classes.values():
        logger.info(
            "%-15s decode %.3f (%.3f-%.3f) overhead %.2f ms prefill %.3f  [%s]",
            fitted.id,
            fitted.decode_efficiency,
            fitted.decode_efficiency_low,
            fitted.decode_efficiency_high,
            fitted.overhead_ms,
            fitted.prefill_efficiency,
            fitted.source,
        )
    if args.write:
        path = write(classes, args.as_of)
        logger.info("wrote the fit of %d device classes to %s", len(classes), path)
    else:
        logger.info("not written: --write stores this fit in %s",
                    hardware.DATA_DIR / "devices.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
