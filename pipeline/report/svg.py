"""Inline SVG charts on the unit square (ROC, precision-recall, calibration): no script, no external file."""
from __future__ import annotations

import dataclasses
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
