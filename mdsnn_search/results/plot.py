"""The Pareto plot as a PNG (matplotlib's object API: no pyplot state, no display, no backend to
select)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mdsnn_search.files import write_atomic
from mdsnn_search.outputs import FIGURE_METADATA
from mdsnn_search.results.plotdata import BASELINE_COLORS, BASELINE_MARKERS, PlotData

NOTE_WIDTH = 110
"""Characters per line of the notes under the plot (they fit the axes' width at 7.5 pt)."""

FRONT_COLOR = "#1f77b4"


def save_pareto_png(data: PlotData, path: str | Path) -> Path:
    """Draw ``data`` into ``path`` (parent folders are created), signed as ours; returns it."""
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(8.5, 5.8), dpi=150, layout="constrained")
    _draw(fig.add_subplot(), data)
    return write_atomic(
        path,
        lambda stream: fig.savefig(stream, format=path.suffix[1:], metadata=FIGURE_METADATA),
    )


def _draw(ax, data: PlotData) -> None:  # type: ignore[no-untyped-def]
    groups = {
        "trial": {
            "s": 16,
            "c": "0.6",
            "marker": "o",
            "linewidths": 0,
            "label": "dominated trial",
            "zorder": 2,
        },
        "infeasible": {
            "s": 26,
            "c": "#d62728",
            "marker": "x",
            "alpha": 0.55,
            "linewidths": 1.0,
            "label": "infeasible",
            "zorder": 2,
        },
        "front": {
            "s": 42,
            "c": FRONT_COLOR,
            "marker": "o",
            "edgecolors": "white",
            "linewidths": 0.6,
            "label": "Pareto front",
            "zorder": 4,
        },
    }
    for kind, style in groups.items():
        pts = [p for p in data.points if p.kind == kind]
        if pts:
            ax.scatter([p.x for p in pts], [p.y for p in pts], **style)
    if data.step:
        ax.step(
            [x for x, _ in data.step],
            [y for _, y in data.step],
            where="post",
            color=FRONT_COLOR,
            lw=1.4,
            zorder=3,
        )
    for p in data.points:
        if p.kind == "front" and p.baseline is None:
            ax.annotate(
                str(p.number),
                (p.x, p.y),
                xytext=(4, -9),
                textcoords="offset points",
                fontsize=6.5,
                color=FRONT_COLOR,
            )
    for i, p in enumerate(data.baselines()):
        marker, color = (
            BASELINE_MARKERS[i % len(BASELINE_MARKERS)],
            BASELINE_COLORS[i % len(BASELINE_COLORS)],
        )
        size = 260 if marker == "*" else 120
        state = {"front": " (on front)", "infeasible": " (infeasible)"}.get(p.kind, "")
        # Hollow, over the trial's own point: what lies under a baseline stays visible.
        ax.scatter(
            [p.x],
            [p.y],
            s=size,
            marker=marker,
            facecolors="none",
            edgecolors=color,
            linewidths=1.4,
            linestyles="--" if p.kind == "infeasible" else "-",
            label=f"baseline {p.baseline}{state}",
            zorder=5,
        )
        offset = (
            (7, 5) if i % 2 == 0 else (7, -13)
        )  # alternate, so baselines close together stay legible
        ax.annotate(
            p.baseline,
            (p.x, p.y),
            xytext=offset,
            textcoords="offset points",
            fontsize=8,
            color=color,
            weight="bold",
        )
    for y, label in data.hlines:
        ax.axhline(
            y, color="0.35", ls="--" if label.startswith("teacher") else ":", lw=0.9, zorder=1
        )
        ax.annotate(
            label,
            (0.5, y),
            xycoords=("axes fraction", "data"),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize=7.5,
            color="0.3",
        )
    for x, label in data.vlines:
        ax.axvline(x, color="0.35", ls=":", lw=0.9, zorder=1)
        ax.annotate(
            label,
            (x, 0.01),
            xycoords=("data", "axes fraction"),
            xytext=(3, 2),
            textcoords="offset points",
            fontsize=7.5,
            color="0.3",
            rotation=90,
        )
    for axis, log in ((ax.xaxis, data.x.log), (ax.yaxis, data.y.log)):
        if log:
            _log_axis(ax, axis)
    ax.margins(x=0.06, y=0.06)
    ax.set_xlabel(data.x.title)
    ax.set_ylabel(data.y.title)
    ax.set_title(data.title, loc="left", fontsize=11, weight="bold")
    ax.grid(True, which="major", color="0.92", lw=0.6)
    ax.legend(loc="best", fontsize=7.5, framealpha=0.9)
    if data.notes:
        # Wrapped to the axes' width: a longer line would make the constrained layout shrink the
        # axes to keep the text inside the figure.
        lines = [line for note in data.notes for line in textwrap.wrap(note, NOTE_WIDTH)]
        ax.text(
            0.0,
            -0.13 - 0.035 * (len(lines) - 1),
            "\n".join(lines),
            transform=ax.transAxes,
            fontsize=7.5,
            color="0.3",
            va="top",
        )


def _log_axis(ax, axis) -> None:  # type: ignore[no-untyped-def]
    """Log scale; label 2x and 5x ticks too when the data spans less than ~2.5 decades."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator

    (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
    axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
    axis.set_minor_formatter(
        LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2.5, 2.5))
    )
