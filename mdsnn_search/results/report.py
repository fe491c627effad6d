"""The Pareto report: one self-contained HTML page of Optuna's plotly figures.

The figures are ``optuna.visualization``'s, so they zoom, pan and hover like every Optuna plot:
the Pareto front (``plot_pareto_front``: feasible front, dominated and infeasible trials told
apart by the constraints Optuna holds; baselines drawn on top as open markers, so the trials
under them stay visible; the teacher, the accuracy floor and an EDAP limit as lines), the
hypervolume history (``plot_hypervolume_history``, normalised like ``pareto``'s figure) and the
parameter importances (``plot_param_importances``), then the front as a table. plotly.js is
inlined once, so the page needs no network and can be mailed.

The front table is a plain HTML ``<table>``, not a plotly table: a plotly figure has a fixed
height, and its rows (wrapped student codes make them taller than any fixed guess) scroll out of
sight under it, so a page could show the table's header alone. An HTML table grows with its rows,
every one of them visible.

The front's hover shows each trial's number, values, parameters and a short per-layer view of
its student (bits per layer, distilled layers, loss weights), not every stored attribute.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState, create_trial

from mdsnn_search.files import write_text_atomic
from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.outputs import PAGE_META
from mdsnn_search.results.front import FrontSummary
from mdsnn_search.results.plotdata import BASELINE_COLORS, PlotData, Point
from mdsnn_search.results.records import TrialRecord, is_feasible
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.results.tables import Rows
from mdsnn_search.results.terminal import gain_lines
from mdsnn_search.study.trial_attrs import (
    ATTR_ACCURACY_DROP,
    ATTR_CODE,
    ATTR_DISTILL,
    BITS_PREFIX,
    distill_line,
)
from mdsnn_search.tables import counted, format_value

BASELINE_SYMBOLS = ("star", "diamond", "square", "triangle-up", "triangle-down", "pentagon")
INFEASIBLE_COLOR = "#7f7f7f"
TABLE_STYLE = (
    "<style>table.front{border-collapse:collapse;font-family:sans-serif;font-size:14px}"
    "table.front th,table.front td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "table.front th{background:#f3f3f3}</style>"
)
MIN_IMPORTANCE_TRIALS = 2
"""Optuna's importance evaluators need two complete trials with parameters (fewer: a note)."""


def pareto_report(
    stored: StoredStudy,
    records: Sequence[TrialRecord],
    data: PlotData,
    summary: FrontSummary,
    front: Rows,
) -> str:
    """The page for ``stored``; ``front`` is the front table from :mod:`.tables`."""
    figures = [
        pareto_figure(stored, records, data),
        hypervolume_figure(stored, summary),
    ]
    importances, note = importance_figure(stored)
    notes = list(data.notes) + gain_lines(summary) + ([note] if note else [])
    if importances is not None:
        figures.append(importances)
    parts = [
        figure.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
        for i, figure in enumerate(figures)
    ]
    parts.append(front_table_html(*front))
    body = "\n".join([f"<h1>{escape(data.title)}</h1>", *(f"<p>{escape(n)}</p>" for n in notes)])
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{PAGE_META}'
        f"<title>{escape(data.title)}</title>{TABLE_STYLE}</head>\n<body>\n{body}\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def save_report(html: str, path: str | Path) -> Path:
    return write_text_atomic(path, html)


def pareto_figure(stored: StoredStudy, records: Sequence[TrialRecord], data: PlotData) -> go.Figure:
    """Optuna's Pareto-front plot of the drawn axes, with baselines and reference lines added."""
    coordinates = {p.number: (p.x, p.y) for p in data.points}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        figure = optuna.visualization.plot_pareto_front(
            _hover_study(stored, records),
            targets=lambda t: coordinates[t.number],
            target_names=[data.x.title, data.y.title],
        )
    names = (
        ["infeasible", "feasible, dominated", "Pareto front"]
        if len(figure.data) == 3
        else ["dominated", "Pareto front"]
    )
    for trace, name in zip(figure.data, names, strict=True):
        trace.update(name=name, showlegend=True)
    for i, point in enumerate(data.baselines()):
        figure.add_trace(_baseline_trace(point, i, records))
    for y, label in data.hlines:
        figure.add_hline(
            y=y,
            line_dash="dash" if label.startswith("teacher") else "dot",
            line_color="#555",
            annotation_text=label,
        )
    for x, label in data.vlines:
        figure.add_vline(x=x, line_dash="dot", line_color="#555", annotation_text=label)
    figure.update_layout(
        title=data.title,
        legend={"orientation": "h", "y": -0.2},
        height=620,
    )
    if data.x.log:
        figure.update_xaxes(type="log")
    if data.y.log:
        figure.update_yaxes(type="log")
    return figure


def hypervolume_figure(stored: StoredStudy, summary: FrontSummary) -> go.Figure:
    """The front's hypervolume in the region of interest after each trial (by number), the same
    measure as ``pareto``'s."""
    complete = [
        t
        for t in stored.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and is_feasible(t) is not False
    ]
    complete.sort(key=lambda t: t.number)
    numbers = [t.number for t in complete]
    history = [
        summary.region.hypervolume([t.values for t in complete[: i + 1]])
        for i in range(len(complete))
    ]
    figure = go.Figure(go.Scatter(x=numbers, y=history, mode="lines+markers", name="hypervolume"))
    figure.update_layout(
        title="Hypervolume history (region of interest)",
        xaxis_title="trial",
        yaxis_title="hypervolume",
    )
    return figure


def importance_figure(stored: StoredStudy) -> tuple[go.Figure | None, str | None]:
    """Optuna's parameter importances, one bar set per objective (each towards its better end),
    or a note saying why there are none."""
    complete = stored.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    # Optuna takes the parameters every trial holds; name them all instead, so the trials that
    # hold every one count (an FP32 baseline holds no bit widths).
    names = sorted(set().union(*(t.params for t in complete)))
    with_params = [t for t in complete if names and set(t.params) == set(names)]
    if len(with_params) < MIN_IMPORTANCE_TRIALS:
        return None, (
            f"parameter importances need {MIN_IMPORTANCE_TRIALS} complete trials with every "
            f"parameter; the study has {len(with_params)}"
        )
    figure: go.Figure | None = None
    for i, (name, direction) in enumerate(zip(stored.objectives, stored.directions, strict=True)):
        sign = -1.0 if direction == "maximize" else 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the evaluators warn about small studies
            part = optuna.visualization.plot_param_importances(
                stored.study,
                params=names,
                target=_objective(i, sign),
                target_name=stored.label(name),
            )
        if figure is None:
            figure = part
        else:
            figure.add_traces(part.data)
    assert figure is not None
    figure.update_layout(title="Parameter importances (PED-ANOVA), per objective", showlegend=True)
    return figure, None


def _objective(index: int, sign: float) -> Callable[[FrozenTrial], float]:
    return lambda t: sign * t.values[index]


def _hover_study(stored: StoredStudy, records: Sequence[TrialRecord]) -> optuna.Study:
    """An in-memory copy of the study whose trials carry only what a hover should show.

    Every trial keeps its number (unfinished ones are copied as failed placeholders) and its
    constraints, so Optuna tells the front, dominated and infeasible trials apart as in the study.
    """
    view = optuna.create_study(directions=stored.study.directions)
    by_number = {r.number: r for r in records}
    for trial in stored.study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE:
            shown = copy.copy(trial)
            shown.user_attrs = hover_attrs(trial, by_number[trial.number])
            # Optuna's hover lists the values as stored: accuracy in percent, as everywhere.
            shown.values = [
                100.0 * v if name == "accuracy" else v
                for name, v in zip(stored.objectives, trial.values, strict=True)
            ]
        else:
            shown = create_trial(state=TrialState.FAIL)
        view.add_trial(shown)
    return view


def hover_attrs(trial: FrozenTrial, record: TrialRecord) -> dict[str, Any]:
    """What the front's hover shows of a trial besides number, values and parameters: its short
    stored attributes (code, bits per layer, distillation; read from the student for trials
    stored before them), validation and test accuracy in percent, and feasibility."""
    attrs: dict[str, Any] = {"baseline": record.baseline} if record.baseline else {}
    shown = {
        k: v
        for k, v in trial.user_attrs.items()
        if k in (ATTR_CODE, ATTR_DISTILL, ATTR_ACCURACY_DROP) or k.startswith(BITS_PREFIX)
    }
    if ATTR_CODE not in shown:
        shown[ATTR_CODE] = record.student_summary
        if isinstance(record.student.get("distill"), dict):
            shown[ATTR_DISTILL] = distill_line(record.student["distill"])
    attrs.update(shown)
    if "accuracy" in record.values:
        attrs["validation accuracy (%)"] = round(100 * record.values["accuracy"], 2)
    if isinstance(record.metrics.get(TEST_ACCURACY), (int, float)):
        attrs["test accuracy (%)"] = round(100 * record.metrics[TEST_ACCURACY], 2)
    if record.constrained:
        attrs["feasibility"] = record.feasibility
        attrs.update({f"constraint {k}": v for k, v in record.constraints.items()})
    return attrs


def _baseline_trace(point: Point, index: int, records: Sequence[TrialRecord]) -> go.Scatter:
    """An open marker over the baseline's own point, so the point stays visible under it."""
    record = next(r for r in records if r.number == point.number)
    infeasible = record.feasible is False
    color = INFEASIBLE_COLOR if infeasible else BASELINE_COLORS[index % len(BASELINE_COLORS)]
    state = " (infeasible)" if infeasible else " (on front)" if point.kind == "front" else ""
    label = f"{point.baseline}{state}"
    return go.Scatter(
        x=[point.x],
        y=[point.y],
        mode="markers+text",
        name=f"baseline {label}",
        text=[label],
        textposition="top right",
        textfont={"color": color},
        marker={
            "symbol": f"{BASELINE_SYMBOLS[index % len(BASELINE_SYMBOLS)]}-open",
            "size": 18,
            "color": color,
            "line": {"width": 2, "color": color},
        },
        hovertext=[point.text],
        hoverinfo="text",
    )


def front_table_html(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The front as an HTML table, one ``<tr>`` per front trial: as tall as its rows."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(format_value(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return (
        f'<h2>Pareto front ({counted(len(rows), "trial")})</h2>\n<table class="front">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    )
