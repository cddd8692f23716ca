"""A hand-written SVG of an evaluation: quality against cost for the router and its baselines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from shoal.render import plural
from shoal.router_eval import Evaluation, OperatingPoint, non_decreasing_hull

_WIDTH, _HEIGHT = 820, 480
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 250, 30, 60
_COLOURS = {"router": "#1f77b4", "oracle": "#2ca02c", "singles": "#7f7f7f", "random": "#d62728"}


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


class _Axes:
    def __init__(self, points: Sequence[OperatingPoint]) -> None:
        costs = [p.cost_usd for p in points]
        qualities = [p.quality for p in points]
        # Candidates that all cost nothing (local models) still need an axis to stand on.
        self.cost_high = max(costs) * 1.05 or 1.0
        self.quality_low = max(0.0, min(qualities) - 0.05)
        self.quality_high = min(1.0, max(qualities) + 0.05)

    def x(self, cost: float) -> float:
        return _LEFT + cost / self.cost_high * (_WIDTH - _LEFT - _RIGHT)

    def y(self, quality: float) -> float:
        span = self.quality_high - self.quality_low
        return _HEIGHT - _BOTTOM - (quality - self.quality_low) / span * (_HEIGHT - _TOP - _BOTTOM)


def _polyline(axes: _Axes, points: Sequence[tuple[float, float]], colour: str,
              dashed: bool = False) -> str:
    coordinates = " ".join(f"{axes.x(c):.1f},{axes.y(q):.1f}" for c, q in points)
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return (f'<polyline points="{coordinates}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash}/>')


def _dot(axes: _Axes, point: OperatingPoint, colour: str, radius: float = 3.5) -> str:
    return (f'<circle cx="{axes.x(point.cost_usd):.1f}" cy="{axes.y(point.quality):.1f}" '
            f'r="{radius}" fill="{colour}"/>')


def _frame(axes: _Axes) -> list[str]:
    parts = []
    bottom, right = _HEIGHT - _BOTTOM, _WIDTH - _RIGHT
    parts.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{right - _LEFT}" '
                 f'height="{bottom - _TOP}" fill="none" stroke="#333"/>')
    for tick in _nice_ticks(0.0, axes.cost_high):
        x = axes.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" '
                     'stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{tick:.3g}</text>')
    for tick in _nice_ticks(axes.quality_low, axes.quality_high):
        y = axes.y(tick)
        parts.append(f'<line x1="{_LEFT - 5}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    parts.append(f'<text x="{(_LEFT + right) / 2}" y="{_HEIGHT - 15}" text-anchor="middle">'
                 'mean cost per prompt (USD)</text>')
    parts.append(f'<text x="18" y="{(_TOP + bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 18 {(_TOP + bottom) / 2})">mean quality</text>')
    return parts


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    x = _WIDTH - _RIGHT + 15
    for row, (label, colour) in enumerate(entries):
        y = _TOP + 10 + row * 20
        parts.append(f'<rect x="{x}" y="{y - 8}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{y + 2}">{escape(label)}</text>')
    return parts


def _with_aiq(label: str, evaluation: Evaluation, policy: str) -> str:
    """``router (AIQ 0.590)``, or the label alone when the evaluation has no AIQ (every
    candidate costs the same)."""
    if evaluation.aiq is None:
        return label
    return f"{label} (AIQ {evaluation.aiq[policy]:.3f})"


def evaluation_svg(evaluation: Evaluation) -> str:
    """The SVG text: router curve, oracle curve, single models (labelled), random and hulls."""
    everything = [*evaluation.router_curve, *evaluation.oracle_curve, *evaluation.singles,
                  evaluation.random]
    axes = _Axes(everything)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
        *_frame(axes),
    ]
    router = sorted((p.cost_usd, p.quality) for p in evaluation.router_curve)
    oracle = sorted((p.cost_usd, p.quality) for p in evaluation.oracle_curve)
    singles_hull = non_decreasing_hull((p.cost_usd, p.quality) for p in evaluation.singles)
    parts.append(_polyline(axes, oracle, _COLOURS["oracle"]))
    parts.append(_polyline(axes, router, _COLOURS["router"]))
    parts.append(_polyline(axes, singles_hull, _COLOURS["singles"], dashed=True))
    parts += [_dot(axes, p, _COLOURS["router"], 2.5) for p in evaluation.router_curve]
    for single in evaluation.singles:
        parts.append(_dot(axes, single, _COLOURS["singles"]))
        parts.append(f'<text x="{axes.x(single.cost_usd) + 5:.1f}" '
                     f'y="{axes.y(single.quality) - 5:.1f}" fill="#555" font-size="9">'
                     f'{escape(single.policy.removeprefix("single:"))}</text>')
    parts.append(_dot(axes, evaluation.random, _COLOURS["random"], 4.5))
    parts += _legend([
        (_with_aiq("router", evaluation, "router"), _COLOURS["router"]),
        (_with_aiq("oracle", evaluation, "oracle"), _COLOURS["oracle"]),
        (_with_aiq("single models, hull", evaluation, "singles_hull"), _COLOURS["singles"]),
        ("random choice", _COLOURS["random"]),
    ])
    parts.append(f'<text x="{_LEFT}" y="18" font-size="12">'
                 f'{plural(evaluation.prompts, "held-out prompt")}, '
                 f'{len(evaluation.models)} candidates</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
