"""``mdsnn-search pareto``: front table, hypervolume, PNG and plotly report, JSON; constraints;
>2 objectives."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.image
import optuna
import pytest
from results_studies import CONSTRAINED_ROWS, DEFAULT_ROWS, FRONT, TEACHER_ACCURACY, Built, Row

from mdsnn_search import cli
from mdsnn_search.results import open_stored_study, summarize_stored
from mdsnn_search.results.plotdata import plot_data
from mdsnn_search.results.terminal import front_table, records_of
from mdsnn_search.study.folder import study_folder


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert cli.main(["pareto", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_front_and_hypervolume(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    doc = run_json(capsys, *built.args(), "--no-files")
    assert [t["number"] for t in doc["front"]] == FRONT  # type: ignore[index]
    # A study stored before the FP32 reference moved onto the study: its fp32 trial is the
    # reference, not a baseline. Accuracy from the teacher less 10 points; EDAP (log10) from the
    # costliest quantized baseline (w8u8, 3e-10) to the cheapest trial (w2u2, 4e-11).
    acc = doc["region"]["accuracy"]  # type: ignore[index]
    assert (acc["worst"], acc["best"]) == pytest.approx((TEACHER_ACCURACY - 0.1, TEACHER_ACCURACY))
    edap = doc["region"]["edap"]  # type: ignore[index]
    assert (edap["worst"], edap["best"]) == pytest.approx((3e-10, 4e-11))

    def score(a: float, e: float) -> tuple[float, float]:
        x = min(1.0, max(0.0, (a - acc["worst"]) / 0.1))
        y = (math.log10(3e-10) - math.log10(e)) / (math.log10(3e-10) - math.log10(4e-11))
        return x, min(1.0, max(0.0, y))

    # sweep the front from cheapest to costliest: each adds its score box above the last accuracy
    front = sorted([score(0.6, 4e-11), score(0.91, 8e-11), score(0.93, 2e-10), score(0.94, 3e-10)])
    by_hand, top = 0.0, 0.0
    for x, y in sorted(front, key=lambda p: -p[1]):
        by_hand += max(0.0, x - top) * y
        top = max(top, x)
    assert doc["hypervolume"] == pytest.approx(by_hand) and by_hand > 0  # type: ignore[index]
    gains = {g["baseline"]: g for g in doc["iso_cost_gains"]}  # type: ignore[union-attr]
    assert set(gains) == {"w8u8", "w4u4", "w2u2"}
    assert gains["w4u4"]["trial"] == 6 and gains["w4u4"]["val_gain"] == pytest.approx(0.01)
    assert gains["w2u2"]["trial"] is None
    trial = doc["front"][1]  # type: ignore[index]
    assert trial["student"]["precision"]["default"]["w_bits"] == 8 and "edap" in trial["metrics"]
    assert doc["files"] == {}


def page_figures(page: str) -> list[dict[str, Any]]:
    """The plotly figures of a report page: the arguments of each ``Plotly.newPlot`` call."""
    decoder = json.JSONDecoder()
    figures = []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, re.compile(r",\s*").match(page, end).end())  # type: ignore[union-attr]
        figures.append({"data": data, "layout": layout})
    return figures


def front_table_rows(page: str) -> list[str]:
    """The trial numbers (first cells) of the page's front table, one per ``<tr>`` of its body."""
    body = re.search(r'<table class="front">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, "no front table"
    return re.findall(r"<tr><td>([^<]*)</td>", body.group(1))


def test_report_front_table_shows_every_row_whatever_their_number(
    make_study: Callable[..., Built], tmp_path: Path
) -> None:
    """A front of 30 trials: the table holds 30 rows in a plain HTML table, which grows with its
    rows (a plotly table's fixed height hid all but its header)."""
    rows = [Row(0.50 + 0.01 * i, 1e-11 * (i + 1)) for i in range(30)]
    built = make_study(rows)
    page_path = tmp_path / "report.html"
    args = ["--html", str(page_path), "--plot", str(tmp_path / "p.png")]
    assert cli.main(["pareto", *built.args(), *args]) == 0
    page = page_path.read_text()
    assert front_table_rows(page) == [str(n) for n in range(29, -1, -1)]
    assert "Pareto front (30 trials)" in page
    assert all(f["data"][0].get("type") != "table" for f in page_figures(page))


def test_writes_png_and_html_report(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--plot`` moves the PNG; the report goes to its default place, studies/NAME/pareto.html:
    Optuna's plotly figures, plotly.js inlined (nothing fetched), the baselines marked and every
    front trial's configuration in its hover."""
    built = make_study()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = built.db_digest()
    png = tmp_path / "out" / "front.png"
    png.parent.mkdir()  # an explicit path's folder must exist (a default one is created)
    assert cli.main(["pareto", *built.args(), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "hypervolume 0.4338 in the region of interest" in out
    assert "vs w4u4 (EDAP 1e-10): trial 6 at no more EDAP, accuracy validation +1.00" in out
    assert "feasible" not in out  # the runner's feasible=True without constraints is no constraint
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 500 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05  # not a blank canvas
    folder = work / study_folder("t", built.url)
    assert folder.name.startswith("t-")  # not the default storage: a folder of its own
    page = (folder / "pareto.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page) and "plotly.js v" in page.lower()
    front, history, importances = page_figures(page)
    traces = {trace.get("name"): trace for trace in front["data"]}
    assert (
        front["layout"]["xaxis"]["type"] == "log"
        and "EDAP" in front["layout"]["xaxis"]["title"]["text"]
    )
    on_front = traces["Pareto front"]
    shown = [json.loads(text.replace("<br>", "\n")) for text in on_front["text"]]
    assert sorted(t["number"] for t in shown) == FRONT
    stored = {t.number: t for t in built.study.get_trials()}
    for trial in shown:
        attrs = stored[trial["number"]].user_attrs
        assert trial["params"] == stored[trial["number"]].params
        assert trial["user_attrs"]["code"] == attrs["code"] and "distill" in trial["user_attrs"]
        assert trial["user_attrs"]["bits.features.0"] == attrs["bits.features.0"]
        assert trial["user_attrs"]["bits.conv2"] == attrs["bits.conv2"]
    for name in ("fp32", "w8u8", "w2u2"):
        assert f"baseline {name} (on front)" in traces
    baseline = traces["baseline w4u4"]
    assert baseline["marker"]["symbol"].endswith("-open")  # the trial under it stays visible
    assert (baseline["x"], baseline["y"]) == ([1e-10], [90.0])
    assert any("teacher 95.00 % (validation)" in a["text"] for a in front["layout"]["annotations"])
    assert history["data"][0]["y"][-1] == pytest.approx(0.4338, abs=1e-4)  # pareto's measure
    assert {trace["name"] for trace in importances["data"]} >= {"validation accuracy"}
    assert front_table_rows(page) == [str(n) for n in (0, 1, 4, 6, 3)]
    assert not (folder / "pareto.png").exists()
    assert built.db_digest() == before


def test_report_tells_feasible_infeasible_and_marks_infeasible_baselines(
    make_study: Callable[..., Built], tmp_path: Path
) -> None:
    built = make_study(CONSTRAINED_ROWS, constraints={"max_edap": 4.5e-10})
    page_path = tmp_path / "report.html"
    assert (
        cli.main(
            ["pareto", *built.args(), "--html", str(page_path), "--plot", str(tmp_path / "p.png")]
        )
        == 0
    )
    traces = {t.get("name"): t for t in page_figures(page_path.read_text())[0]["data"]}
    numbers = {
        name: sorted(
            json.loads(text.replace("<br>", "\n"))["number"] for text in traces[name]["text"]
        )
        for name in ("infeasible", "feasible, dominated", "Pareto front")
    }
    assert numbers == {"infeasible": [0], "feasible, dominated": [3], "Pareto front": [1, 2]}
    assert "baseline w8u8 (infeasible)" in traces


def test_constrained_front_is_feasible_only(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study(CONSTRAINED_ROWS, constraints={"max_edap": 4.5e-10})
    doc = run_json(capsys, *built.args(), "--no-files")
    assert doc["constrained"] is True and doc["n_infeasible"] == 1
    assert [t["number"] for t in doc["front"]] == [1, 2]  # type: ignore[index]
    assert 0.0 <= doc["hypervolume"] <= 1.0  # type: ignore[operator]
    assert doc["region"]["accuracy"]["source"] == "teacher"  # type: ignore[index]
    assert cli.main(["pareto", *built.args(), "--no-files"]) == 0
    assert "feasible trials only" in capsys.readouterr().out


def test_three_objectives_plot_first_two(make_study: Callable[..., Built]) -> None:
    built = make_study(DEFAULT_ROWS[:8], objectives=("accuracy", "edap", "spikes"))
    stored = open_stored_study(built.spec_path)
    summary = summarize_stored(stored)
    data = plot_data(stored, records_of(stored), summary)
    assert (data.x.objective, data.y.objective) == ("edap", "accuracy")
    assert any("only the first two are drawn" in note for note in data.notes)


def test_front_table_for_live_study(make_study: Callable[..., Built]) -> None:
    from rich.console import Console

    from mdsnn_search.results import StoredStudy

    built = make_study()
    console = Console(width=200, record=True)
    live = StoredStudy(built.study, "", storage=optuna.storages.RDBStorage(built.url))
    console.print(front_table(live, max_rows=3))
    text = console.export_text()
    assert "Pareto front: 5 trials (8 complete, 1 running, 1 failed, 1 waiting)" in text
    assert "first 3 shown" in text and "fp32" in text


def test_report_of_a_study_too_small_for_importances(
    make_study: Callable[..., Built], tmp_path: Path
) -> None:
    built = make_study(DEFAULT_ROWS[:1] + DEFAULT_ROWS[8:])  # one complete trial
    page_path = tmp_path / "report.html"
    args = ["--html", str(page_path), "--plot", str(tmp_path / "p.png")]
    assert cli.main(["pareto", *built.args(), *args]) == 0
    page = page_path.read_text()
    assert "parameter importances need 2 complete trials with every parameter" in page
    front, history = page_figures(page)
    assert front_table_rows(page) == ["0"] and "Pareto front (1 trial)" in page


def test_a_plot_draws_points_and_reference_lines_on_one_split(
    make_study: Callable[..., Built],
) -> None:
    """Validation accuracy, the split the front is chosen on and the floor judged on, for the
    points, the teacher line and the floor line alike, in percent; each hover adds the test
    accuracy. A point under the floor is an infeasible trial, and only those are."""
    rows = [
        Row(0.93, 2e-10, test_accuracy=0.97, constraint=-0.03),  # drop 0.02: feasible
        Row(0.89, 1e-10, test_accuracy=0.96, constraint=0.01),  # drop 0.06: infeasible
    ]
    built = make_study(rows, constraints={"max_accuracy_drop": 0.05})
    stored = open_stored_study(built.spec_path)
    records = records_of(stored)
    data = plot_data(stored, records, summarize_stored(stored))
    assert data.y.title == "validation accuracy (%)"
    assert [(p.number, p.y) for p in data.points] == [
        (0, pytest.approx(93.0)),
        (1, pytest.approx(89.0)),
    ]
    assert data.hlines == [
        (pytest.approx(95.0), "teacher 95.00 % (validation)"),
        (pytest.approx(90.0), "accuracy floor 90.00 % (validation)"),
    ]
    floor = data.hlines[1][0]
    assert [p.y < floor for p in data.points] == [r.feasible is False for r in records]
    assert "validation accuracy 89.00 %, test accuracy 96.00 %" in data.points[1].text
