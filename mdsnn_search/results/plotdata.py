"""What a Pareto plot shows, worked out once for both renderers (PNG and the HTML report).

Axes: the first two objectives. When exactly one of them is maximised (accuracy), it goes on the
y axis, so the front rises to the upper left; cost axes are logarithmic when all their values are
positive. Accuracy is drawn in percent and on the validation split, the one the front is chosen
on and the accuracy constraint judged on, and so are its reference lines: the teacher's
validation accuracy and the floor ``max_accuracy_drop`` sets below it, so a point under the floor
is exactly an infeasible trial. The test split's accuracy, which a front reports
(docs/design/methods.md section 7), is in each point's hover and the tables.
Studies with more than two objectives get a note that only the first two are drawn; their front
is still the front over all objectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.results.front import FrontSummary
from mdsnn_search.results.records import TrialRecord
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.spec.objectives import STUDY_REFERENCE
from mdsnn_search.tables import percent

BASELINE_MARKERS = ("*", "D", "s", "^", "v", "P", "X", "h")
BASELINE_COLORS = (
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
)


@dataclass(frozen=True)
class Axis:
    objective: str
    index: int
    label: str
    log: bool
    scale: float
    """Stored value x scale = drawn value (100 for accuracy in percent)."""

    @property
    def title(self) -> str:
        """The axis title of both figures: the label, and whether the scale is logarithmic."""
        return self.label + (", log scale" if self.log else "")


@dataclass(frozen=True)
class Point:
    number: int
    x: float
    y: float
    kind: str
    """``front``, ``trial`` (dominated), or ``infeasible``."""
    baseline: str | None
    text: str
    """Hover text / annotation: trial number, values and student summary."""


@dataclass
class PlotData:
    title: str
    x: Axis
    y: Axis
    points: list[Point]
    step: list[tuple[float, float]]
    """The front's attainment line (front points non-dominated in 2-D, by x; drawn as steps)."""
    hlines: list[tuple[float, str]] = field(default_factory=list)
    vlines: list[tuple[float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def baselines(self) -> list[Point]:
        return [p for p in self.points if p.baseline is not None]


def plot_data(
    stored: StoredStudy, records: Sequence[TrialRecord], summary: FrontSummary
) -> PlotData:
    """Layout-free content of the Pareto plot of ``stored`` (needs two or more objectives)."""
    objectives, directions = stored.objectives, stored.directions
    if len(objectives) < 2:
        raise ValueError("a Pareto plot needs at least two objectives")
    xi, yi = (1, 0) if directions[0] == "maximize" and directions[1] == "minimize" else (0, 1)
    complete = [r for r in records if r.state == "complete" and len(r.values) == len(objectives)]
    front_numbers = {t.number for t in summary.front}
    x = _axis(
        stored, objectives[xi], xi, [r.values[objectives[xi]] for r in complete], directions[xi]
    )
    y = _axis(
        stored, objectives[yi], yi, [r.values[objectives[yi]] for r in complete], directions[yi]
    )
    points = [
        Point(
            number=r.number,
            x=r.values[x.objective] * x.scale,
            y=r.values[y.objective] * y.scale,
            kind="front"
            if r.number in front_numbers
            else ("infeasible" if r.feasible is False else "trial"),
            baseline=r.baseline,
            text=_hover(r),
        )
        for r in complete
    ]
    front_points = [p for p in points if p.kind == "front"]
    step = _step_line(front_points, (directions[xi], directions[yi]))
    data = PlotData(title=f"{stored.name}: Pareto front", x=x, y=y, points=points, step=step)
    _add_reference_lines(data, stored)
    data.notes.append(
        f"{len(summary.front)} of {summary.n_complete} complete trials on the front; hypervolume "
        f"{summary.hypervolume:.4f} in the region of interest ({summary.region.describe()})"
    )
    if summary.constrained:
        marked = (
            f"{summary.n_infeasible} infeasible, drawn apart"
            if summary.n_infeasible
            else "none infeasible"
        )
        data.notes.append(f"front of feasible trials only ({marked})")
    if len(objectives) > 2:
        data.notes.append(f"{len(objectives)} objectives: only the first two are drawn")
    return data


def _axis(stored: StoredStudy, name: str, index: int, values: list[float], direction: str) -> Axis:
    if name == "accuracy":
        return Axis(name, index, "validation accuracy (%)", log=False, scale=100.0)
    log = direction == "minimize" and bool(values) and min(values) > 0
    return Axis(name, index, stored.label(name), log=log, scale=1.0)


def _hover(record: TrialRecord) -> str:
    head = f"trial {record.number}" + (f" [{record.baseline}]" if record.baseline else "")
    values = [
        f"validation accuracy {percent(v)}" if k == "accuracy" else f"{k} {v:.4g}"
        for k, v in record.values.items()
    ]
    test = record.metrics.get(TEST_ACCURACY)
    if "accuracy" in record.values and isinstance(test, (int, float)):
        values.insert(1, f"test accuracy {percent(test)}")
    return f"{head}: {', '.join(values)}; {record.student_summary}"


def _step_line(points: list[Point], directions: tuple[str, str]) -> list[tuple[float, float]]:
    """The staircase through the front points that no other front point beats in both drawn
    coordinates (the front is chosen on validation and drawn on test), sorted by x."""
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    stairs: list[tuple[float, float]] = []
    best = float("inf")
    for p in sorted(points, key=lambda p: (sign[0] * p.x, sign[1] * p.y)):
        if sign[1] * p.y < best:
            best = sign[1] * p.y
            stairs.append((p.x, p.y))
    return sorted(set(stairs))


def _add_reference_lines(data: PlotData, stored: StoredStudy) -> None:
    """The full-precision reference (the teacher on the validation split, as the points are drawn,
    and its FP32 EDAP when stored) and the limits."""
    teacher_accuracy = stored.teacher.get("accuracy")
    limits = stored.constraints
    reference = stored.study.user_attrs.get(STUDY_REFERENCE)
    fp32 = reference.get("fp32", {}) if isinstance(reference, dict) else {}
    if isinstance(fp32.get("edap"), (int, float)):
        data.notes.append(f"FP32 reference (the teacher, not a trial): EDAP {fp32['edap']:.3g}")
    for axis, lines in ((data.y, data.hlines), (data.x, data.vlines)):
        if axis.objective == "accuracy" and isinstance(teacher_accuracy, (int, float)):
            lines.append(
                (teacher_accuracy * axis.scale, f"teacher {percent(teacher_accuracy)} (validation)")
            )
            if "max_accuracy_drop" in limits:
                floor = teacher_accuracy - limits["max_accuracy_drop"]
                lines.append((floor * axis.scale, f"accuracy floor {percent(floor)} (validation)"))
        if axis.objective == "edap" and "max_edap" in limits:
            lines.append((limits["max_edap"] * axis.scale, f"max EDAP {limits['max_edap']:.3g}"))
