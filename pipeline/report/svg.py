"""Inline SVG charts on the unit square (ROC, precision-recall, calibration): no script, no external file."""
from __future__ import annotations

import dataclasses
import math
from html import escape
from typing import List, Optional, Sequence, Tuple

SIZE = 240  # plot area, px
MARGIN = 44
TOP = 30  # room for the title
LEGEND = 96
TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclasses.dataclass
class Series:
    name: str
    points: Sequence[Tuple[float, float]]
    color: str
    markers: bool = False  # a dot per point (calibration bins) instead of a plain line
    dashed: bool = False


def _xy(x: float, y: float) -> Tuple[float, float]:
    return MARGIN + x * SIZE, TOP + (1.0 - y) * SIZE


def _polyline(points: Sequence[Tuple[float, float]], color: str, dashed: bool) -> str:
    coords = " ".join("{:.1f},{:.1f}".format(*_xy(x, y)) for x, y in points)
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'


def _axes(x_label: str, y_label: str) -> List[str]:
    parts = []
    for t in TICKS:
        x, y = _xy(t, t)
        x0, y0 = _xy(0, 0)
        x1, y1 = _xy(1, 1)
        parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y1:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x:.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    x0, y0 = _xy(0, 0)
    parts.append(f'<rect x="{x0:.1f}" y="{TOP}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#888"/>')
    parts.append(f'<text x="{x0 + SIZE / 2:.1f}" y="{y0 + 32:.1f}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(12,{TOP + SIZE / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    return parts


def _legend(series: Sequence[Series]) -> List[str]:
    parts = []
    for i, s in enumerate(series):
        x, y = MARGIN + SIZE + 12, TOP + 14 + 18 * i
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 1}">{escape(s.name)}</text>')
    return parts


def chart(title: str, series: Sequence[Series], x_label: str, y_label: str,
          reference: Optional[Sequence[Tuple[float, float]]] = None) -> str:
    """An SVG element plotting each series on [0, 1] x [0, 1]; `reference` is drawn as a grey dashed line."""
    parts = _axes(x_label, y_label)
    if reference:
        parts.append(_polyline(reference, "#aaa", dashed=True))
    for s in series:
        parts.append(_polyline(s.points, s.color, s.dashed))
        if s.markers:
            parts += [f'<circle cx="%.1f" cy="%.1f" r="3.5" fill="{s.color}"/>' % _xy(x, y) for x, y in s.points]
    parts += _legend(series)
    parts.append(f'<text x="{MARGIN + SIZE / 2}" y="18" text-anchor="middle" font-size="13" '
                 f'font-weight="600">{escape(title)}</text>')
    width, height = MARGIN + SIZE + LEGEND, TOP + SIZE + MARGIN
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" xmlns="http://www.w3.org/2000/svg" font-size="11" '
            f'font-family="sans-serif"><title>{escape(title)}</title>{"".join(parts)}</svg>')


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above value (a y axis that ends on a round number)."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in (1.0, 2.0, 2.5, 5.0, 10.0) if step * scale >= value - 1e-12)


def timeline(title: str, labels: Sequence[str], series: Sequence[Series], y_label: str,
             marked: Sequence[bool] = ()) -> str:
    """An SVG line chart of one value per period: series points are (period index, value or None); a gap where a
    value is None; periods marked True get a triangle on the x axis (e.g. a push)."""
    values = [y for s in series for _, y in s.points if y is not None]
    top = _nice_top(max(values, default=0.0))
    count = max(len(labels), 1)
    width = max(SIZE, 60 * count)

    def xy(index: float, value: float) -> Tuple[float, float]:
        return MARGIN + (index + 0.5) / count * width, TOP + (1.0 - value / top) * SIZE

    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, tick * top)
        parts.append(f'<line x1="{MARGIN}" y1="{y:.1f}" x2="{MARGIN + width}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{MARGIN - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * top:.3g}</text>')
    parts.append(f'<rect x="{MARGIN}" y="{TOP}" width="{width}" height="{SIZE}" fill="none" stroke="#888"/>')
    for index, label in enumerate(labels):
        x, _ = xy(index, 0)
        parts.append(f'<text x="{x:.1f}" y="{TOP + SIZE + 14}" text-anchor="middle">{escape(label)}</text>')
        if index < len(marked) and marked[index]:
            parts.append(f'<path class="push" d="M{x - 5:.1f},{TOP + SIZE:.1f} l5,-9 l5,9 z" fill="#2a7"/>')
    for s in series:
        runs: List[List[Tuple[float, float]]] = [[]]
        for index, value in s.points:
            if value is None:
                runs.append([])
            else:
                runs[-1].append(xy(index, value))
        for run in runs:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            dash = ' stroke-dasharray="5,4"' if s.dashed else ""
            if len(run) > 1:
                parts.append(f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.color}"/>' for x, y in run]
    for i, s in enumerate(series):
        x, y = MARGIN + width + 12, TOP + 14 + 18 * i
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 1}">{escape(s.name)}</text>')
    parts.append(f'<text transform="translate(12,{TOP + SIZE / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    parts.append(f'<text x="{MARGIN + width / 2}" y="18" text-anchor="middle" font-size="13" '
                 f'font-weight="600">{escape(title)}</text>')
    total_width, height = MARGIN + width + LEGEND + 40, TOP + SIZE + MARGIN
    return (f'<svg class="chart timeline" role="img" aria-label="{escape(title)}" width="{total_width}" '
            f'height="{height}" viewBox="0 0 {total_width} {height}" xmlns="http://www.w3.org/2000/svg" '
            f'font-size="11" font-family="sans-serif"><title>{escape(title)}</title>{"".join(parts)}</svg>')
