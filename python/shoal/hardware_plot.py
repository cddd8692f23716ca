"""A hand-written SVG plot of a Pareto front of decode speed against energy per token.

Both axes are logarithmic: configurations on one front span phones to datacenter GPUs, orders of
magnitude apart. The front is drawn as the staircase it is (each point is the fastest at or under
its energy), each point coloured by process node and numbered; a key beside the plot names each
number's configuration, so labels never overlap. The output depends only on the front, so the
same front gives the same bytes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from shoal.hardware import AS_BUILT, ParetoFront, ParetoPoint
from shoal.render import joules, plural

logger = logging.getLogger(__name__)

WIDTH = 1100
HEIGHT = 640
KEY_ROW = 32
MARGIN_LEFT = 80
MARGIN_RIGHT = 480
MARGIN_TOP = 50
MARGIN_BOTTOM = 60
MAX_KEYED = 16
"""Points beyond this many are drawn but not numbered (the JSON output lists them all)."""

NODE_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
AS_BUILT_COLOUR = "#555555"


def _decades(low: float, high: float) -> tuple[float, float]:
    """Log10 bounds padded to include 1-2-5 ticks around the data."""
    if low == high:
        low, high = low / 2.0, high * 2.0
    return math.floor(math.log10(low) * 4.0) / 4.0, math.ceil(math.log10(high) * 4.0) / 4.0


def _ticks(log_low: float, log_high: float) -> list[float]:
    """1-2-5 ticks per decade, or every integer multiple when that gives fewer than four."""
    for steps in ((1.0, 2.0, 5.0), tuple(float(n) for n in range(1, 10))):
        ticks = [
            step * 10.0**decade
            for decade in range(math.floor(log_low), math.ceil(log_high) + 1)
            for step in steps
            if log_low - 1e-9 <= math.log10(step * 10.0**decade) <= log_high + 1e-9
        ]
        if len(ticks) >= 4:
            break
    return ticks


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:g}"
    return f"{value:.3g}"


def _label(point: ParetoPoint) -> str:
    node = "" if point.node == AS_BUILT else f" @ {point.node}"
    return f"{point.model} {point.quantisation} on {point.device}{node}"


class _Axes:
    """Maps (joules per token, tokens/s) to SVG pixel coordinates on log scales."""

    def __init__(self, points: Sequence[ParetoPoint]) -> None:
        self.x_low, self.x_high = _decades(
            min(p.joules_per_token for p in points), max(p.joules_per_token for p in points)
        )
        self.y_low, self.y_high = _decades(
            min(p.decode_tokens_per_s for p in points), max(p.decode_tokens_per_s for p in points)
        )
        self.width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        self.height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(self, joules: float) -> float:
        share = (math.log10(joules) - self.x_low) / (self.x_high - self.x_low)
        return MARGIN_LEFT + share * self.width

    def y(self, tokens_per_s: float) -> float:
        share = (math.log10(tokens_per_s) - self.y_low) / (self.y_high - self.y_low)
        return MARGIN_TOP + (1.0 - share) * self.height


def _grid(axes: _Axes) -> list[str]:
    parts = []
    bottom = MARGIN_TOP + axes.height
    for value in _ticks(axes.x_low, axes.x_high):
        x = axes.x(value)
        parts.append(
            f'<line x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" y2="{bottom}" class="grid"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{_number(value)}</text>'
        )
    for value in _ticks(axes.y_low, axes.y_high):
        y = axes.y(value)
        right = MARGIN_LEFT + axes.width
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    parts.append(
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{axes.width}" height="{axes.height}" '
        'class="frame"/>'
    )
    parts.append(
        f'<text x="{MARGIN_LEFT + axes.width / 2:.1f}" y="{HEIGHT - 15}" text-anchor="middle">'
        "energy per token (J, log scale) - lower is better</text>"
    )
    parts.append(
        f'<text transform="translate(20 {MARGIN_TOP + axes.height / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">decode tokens/s per sequence (log scale) - higher is better</text>'
    )
    return parts


def _staircase(axes: _Axes, points: Sequence[ParetoPoint]) -> str:
    # Each point holds until the next, cheaper-to-faster step: horizontal then vertical.
    coordinates: list[str] = []
    for index, point in enumerate(points):
        x, y = axes.x(point.joules_per_token), axes.y(point.decode_tokens_per_s)
        if index:
            coordinates.append(f"{x:.1f},{coordinates[-1].split(',')[1]}")
        coordinates.append(f"{x:.1f},{y:.1f}")
    return f'<polyline points="{" ".join(coordinates)}" class="front"/>'


def _colours(front: ParetoFront) -> dict[str, str]:
    colours = {}
    ported = [node for node in front.nodes if node != AS_BUILT]
    for index, node in enumerate(ported):
        colours[node] = NODE_COLOURS[index % len(NODE_COLOURS)]
    colours[AS_BUILT] = AS_BUILT_COLOUR
    return colours


def _legend(front: ParetoFront, colours: dict[str, str], keyed: int) -> list[str]:
    x = WIDTH - MARGIN_RIGHT + 20
    nodes = ", ".join(front.nodes)
    parts = [
        (
            f'<text x="{x}" y="{MARGIN_TOP + 4}" class="small">{front.evaluated:,} configurations, '
            f"{front.fitting:,} fit in memory, {len(front.points)} on the front</text>"
        ),
        (
            f'<text x="{x}" y="{MARGIN_TOP + 20}" class="small">nodes: {escape(nodes)}; '
            f"{escape(front.mode)}, batch {front.batch}</text>"
        ),
    ]
    for row, point in enumerate(front.points[:keyed]):
        y = MARGIN_TOP + 46 + row * KEY_ROW
        parts.append(f'<circle cx="{x + 7}" cy="{y - 4}" r="7" fill="{colours[point.node]}"/>')
        parts.append(
            f'<text x="{x + 7}" y="{y - 0.5}" text-anchor="middle" class="number">{row + 1}</text>'
        )
        figures = (
            f"{point.decode_tokens_per_s:.1f} tok/s, {joules(point.joules_per_token)} J/token, "
            f"context {point.context_tokens:,}, {point.memory_needed_gb:.1f} GB"
        )
        parts.append(f'<text x="{x + 20}" y="{y}" class="label">{escape(_label(point))}</text>')
        parts.append(f'<text x="{x + 20}" y="{y + 13}" class="small">{escape(figures)}</text>')
    if len(front.points) > keyed:
        y = MARGIN_TOP + 46 + keyed * KEY_ROW
        rest = len(front.points) - keyed
        parts.append(f'<text x="{x}" y="{y}" class="small">and {rest} more (see --json)</text>')
    return parts


def pareto_svg(front: ParetoFront, *, title: str | None = None) -> str:
    """An SVG document plotting ``front`` (decode tokens/s against joules per token).

    Raises:
        ValueError: the front is empty (no configuration fits in memory).
    """
    if not front.points:
        raise ValueError(
            "the front is empty: no configuration fits in memory; add devices or smaller models"
        )
    points = front.points
    axes = _Axes(points)
    colours = _colours(front)
    heading = title or (
        f"Pareto front: decode speed against energy per token ({plural(len(front.models), 'model')}"
        f", {plural(len(front.devices), 'device')}, {plural(len(front.nodes), 'node')})"
    )

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" '
            'font-size="12">'
        ),
        (
            "<style>.grid{stroke:#e4e4e4;stroke-width:1}.frame{fill:none;stroke:#333}"
            ".front{fill:none;stroke:#333;stroke-width:1.5;stroke-dasharray:4 3}"
            ".heading{font-weight:bold}.small{font-size:11px;fill:#444}"
            ".label{font-size:11px;fill:#222}"
            ".number{font-size:9px;fill:white;font-weight:bold}</style>"
        ),
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{MARGIN_LEFT}" y="28" class="heading" font-size="15">{escape(heading)}</text>',
        *_grid(axes),
        _staircase(axes, points),
    ]
    keyed = min(len(points), MAX_KEYED)
    for index, point in enumerate(points):
        x, y = axes.x(point.joules_per_token), axes.y(point.decode_tokens_per_s)
        tip = (
            f"{_label(point)}, context {point.context_tokens:,}: "
            f"{point.decode_tokens_per_s:.1f} tok/s, {joules(point.joules_per_token)} J/token"
        )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{colours[point.node]}" '
            f'stroke="white"><title>{escape(tip)}</title></circle>'
        )
        if index < keyed:
            parts.append(
                f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" class="number">'
                f"{index + 1}</text>"
            )
    parts.extend(_legend(front, colours, keyed))
    parts.append("</svg>")
    logger.debug("plotted %d front points", len(points))
    return "\n".join(parts) + "\n"
