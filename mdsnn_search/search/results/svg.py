"""The Pareto plot as inline SVG, for the self-contained HTML page.

Each point carries a ``<title>`` (the browser shows it on hover) and links to its row of the
front table, so the page is interactive without scripts or network access. Ticks come from
matplotlib's locators, so the axes match the PNG.
"""

from __future__ import annotations

import math
from html import escape

from mdsnn_search.search.results.plotdata import (
    BASELINE_COLORS,
    BASELINE_MARKERS,
    Axis,
    PlotData,
    Point,
)

WIDTH, HEIGHT = 860, 520
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 16, 52
FRONT_COLOR = "#1f77b4"


class _Scale:
    """Data -> pixel along one axis (log10 when the axis is logarithmic), padded by 5%."""

    def __init__(self, axis: Axis, values: list[float], lo_px: float, hi_px: float) -> None:
        self.axis = axis
        t = [self.t(v) for v in values if not axis.log or v > 0] or [0.0, 1.0]
        lo, hi = min(t), max(t)
        pad = (hi - lo) * 0.05 or (abs(lo) * 0.05 or 0.5)
        self.lo, self.hi = lo - pad, hi + pad
        self.lo_px, self.hi_px = lo_px, hi_px

    def t(self, value: float) -> float:
        return math.log10(value) if self.axis.log else value

    def px(self, value: float) -> float:
        return self.lo_px + (self.t(value) - self.lo) / (self.hi - self.lo) * (
            self.hi_px - self.lo_px
        )

    def ticks(self) -> list[float]:
        from matplotlib.ticker import LogLocator, MaxNLocator

        if not self.axis.log:
            locator = MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10])
            return [
                float(v) for v in locator.tick_values(self.lo, self.hi) if self.lo <= v <= self.hi
            ]
        subs = (1.0, 2.0, 5.0) if self.hi - self.lo < 2.5 else (1.0,)
        lo, hi = 10**self.lo, 10**self.hi
        return [
            float(v)
            for v in LogLocator(base=10.0, subs=subs, numticks=12).tick_values(lo, hi)
            if lo <= v <= hi
        ]


def pareto_svg(data: PlotData) -> str:
    xs = [p.x for p in data.points] + [v for v, _ in data.vlines]
    ys = [p.y for p in data.points] + [v for v, _ in data.hlines]
    sx = _Scale(data.x, xs, LEFT, WIDTH - RIGHT)
    sy = _Scale(data.y, ys, HEIGHT - BOTTOM, TOP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="plot" role="img">'
    ]
    parts += _axes(sx, sy)
    parts += _reference_lines(data, sx, sy)
    if data.step:
        coords: list[str] = []
        for i, (x, y) in enumerate(data.step):
            if i:
                coords.append(f"{sx.px(x):.1f},{sy.px(data.step[i - 1][1]):.1f}")
            coords.append(f"{sx.px(x):.1f},{sy.px(y):.1f}")
        parts.append(
            f'<polyline points="{" ".join(coords)}" fill="none" stroke="{FRONT_COLOR}" stroke-width="1.6"/>'
        )
    order = {"trial": 0, "infeasible": 1, "front": 2}
    plain = sorted(
        (p for p in data.points if p.baseline is None), key=lambda p: order.get(p.kind, 0)
    )
    parts += [_point(p, sx, sy) for p in plain]
    parts += [_baseline(p, i, sx, sy) for i, p in enumerate(data.baselines())]
    parts.append("</svg>")
    return "\n".join(parts)


def legend_items(data: PlotData) -> list[tuple[str, str]]:
    """(small inline SVG icon, label) pairs for the page's legend."""
    items = [
        (_icon('<circle cx="8" cy="8" r="3.5" fill="#999"/>'), "dominated trial"),
        (
            _icon(f'<circle cx="8" cy="8" r="4.5" fill="{FRONT_COLOR}" stroke="white"/>'),
            "Pareto front (step line)",
        ),
    ]
    if any(p.kind == "infeasible" for p in data.points):
        items.append((_icon(_cross(8, 8, 4, "#d62728")), "infeasible"))
    for i, p in enumerate(data.baselines()):
        shape = _marker(BASELINE_MARKERS[i % len(BASELINE_MARKERS)], 8, 8, 6.5)
        items.append(
            (
                _icon(
                    f'<polygon points="{shape}" fill="{BASELINE_COLORS[i % len(BASELINE_COLORS)]}" stroke="#333"/>'
                ),
                f"baseline {p.baseline}",
            )
        )
    return items


def _axes(sx: _Scale, sy: _Scale) -> list[str]:
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    out = [
        f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="white" stroke="#444"/>'
    ]
    for v in sx.ticks():
        px = sx.px(v)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y1}" y2="{y0}" stroke="#eee"/>')
        out.append(
            f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" class="tick">{_tick_label(v, sx.axis)}</text>'
        )
    for v in sy.ticks():
        py = sy.px(v)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>')
        out.append(
            f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{_tick_label(v, sy.axis)}</text>'
        )
    out.append(
        f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 12}" text-anchor="middle" class="label">{escape(_axis_title(sx.axis))}</text>'
    )
    out.append(
        f'<text transform="translate(18 {(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" class="label">{escape(_axis_title(sy.axis))}</text>'
    )
    return out


def _reference_lines(data: PlotData, sx: _Scale, sy: _Scale) -> list[str]:
    out = []
    for y, label in data.hlines:
        py = sy.px(y)
        dash = "6 4" if label.startswith("teacher") else "2 3"
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#666" stroke-dasharray="{dash}"/>'
        )
        out.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{py - 4:.1f}" text-anchor="middle" class="note">{escape(label)}</text>'
        )
    for x, label in data.vlines:
        px = sx.px(x)
        out.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#666" stroke-dasharray="2 3"/>'
        )
        out.append(f'<text x="{px + 4:.1f}" y="{TOP + 12}" class="note">{escape(label)}</text>')
    return out


def _point(p: Point, sx: _Scale, sy: _Scale) -> str:
    x, y = sx.px(p.x), sy.px(p.y)
    if p.kind == "infeasible":
        shape = _cross(x, y, 4, "#d62728")
    elif p.kind == "front":
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{FRONT_COLOR}" stroke="white"/>'
    else:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#999"/>'
    return (
        f'<a href="#trial-{p.number}"><g class="pt"><title>{escape(p.text)}</title>{shape}</g></a>'
    )


def _baseline(p: Point, i: int, sx: _Scale, sy: _Scale) -> str:
    x, y = sx.px(p.x), sy.px(p.y)
    color = BASELINE_COLORS[i % len(BASELINE_COLORS)]
    shape = _marker(BASELINE_MARKERS[i % len(BASELINE_MARKERS)], x, y, 9)
    stroke = "black" if p.kind == "front" else "#666"
    return (
        f'<a href="#trial-{p.number}"><g class="pt"><title>{escape(p.text)}</title>'
        f'<polygon points="{shape}" fill="{color}" stroke="{stroke}"/>'
        f'<text x="{x + 10:.1f}" y="{y - 8:.1f}" class="baseline" fill="{color}">{escape(p.baseline or "")}</text></g></a>'
    )


def _marker(code: str, x: float, y: float, r: float) -> str:
    """Polygon points of a matplotlib-like marker, so PNG and SVG baselines look alike."""
    if code == "*":
        radii, n, start = [r, r * 0.42], 10, -90.0
    elif code in ("P", "X"):
        pts = [
            (-1, -3),
            (1, -3),
            (1, -1),
            (3, -1),
            (3, 1),
            (1, 1),
            (1, 3),
            (-1, 3),
            (-1, 1),
            (-3, 1),
            (-3, -1),
            (-1, -1),
        ]
        angle = math.radians(45 if code == "X" else 0)
        c, s = math.cos(angle), math.sin(angle)
        return " ".join(
            f"{x + r / 3 * (a * c - b * s):.1f},{y + r / 3 * (a * s + b * c):.1f}" for a, b in pts
        )
    else:
        n, start = {
            "D": (4, -90.0),
            "s": (4, -45.0),
            "^": (3, -90.0),
            "v": (3, 90.0),
            "h": (6, -90.0),
        }.get(code, (4, -90.0))
        radii = [r * (0.8 if code == "s" else 1.0)]
    points = []
    for k in range(n):
        angle = math.radians(start + 360.0 * k / n)
        rr = radii[k % len(radii)]
        points.append(f"{x + rr * math.cos(angle):.1f},{y + rr * math.sin(angle):.1f}")
    return " ".join(points)


def _cross(x: float, y: float, r: float, color: str) -> str:
    return (
        f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}L{x + r:.1f},{y - r:.1f}" '
        f'stroke="{color}" stroke-width="1.6" opacity="0.7"/>'
    )


def _icon(body: str) -> str:
    return f'<svg width="16" height="16" viewBox="0 0 16 16">{body}</svg>'


def _axis_title(axis: Axis) -> str:
    return axis.label + (", log scale" if axis.log else "")


def _tick_label(value: float, axis: Axis) -> str:
    if axis.log:
        exponent = math.floor(math.log10(value) + 1e-9)
        mantissa = value / 10**exponent
        return (
            f"10<tspan dy='-6' font-size='9'>{exponent}</tspan>"
            if abs(mantissa - 1) < 1e-6
            else f"{value:.0e}"
        )
    return f"{value:g}"
