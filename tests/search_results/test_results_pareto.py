"""``mdsnn-search pareto``: front, hypervolume, PNG, HTML, JSON; constraints; >2 objectives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import pytest
from results_studies import DEFAULT_ROWS, FRONT, Built, Row

from mdsnn_search import cli
from mdsnn_search.search.results import open_stored_study, summarize_front
from mdsnn_search.search.results.html import pareto_html
from mdsnn_search.search.results.plotdata import plot_data
from mdsnn_search.search.results.tables import front_rows
from mdsnn_search.search.results.terminal import front_table, records_of


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert cli.main(["pareto", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_front_and_hypervolume(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    doc = run_json(capsys, *built.args(), "--no-files")
    assert [t["number"] for t in doc["front"]] == FRONT  # type: ignore[index]
    hv = doc["hypervolume"]
    assert hv["reference"] == [0.0, 1.0e-9] and hv["ideal"] == [1.0, 0.0]  # type: ignore[index]
    # by hand, sweeping the front by EDAP: 0.6 x (1e-9 - 4e-11) + (0.91 - 0.6) x (1e-9 - 8e-11)
    # + (0.93 - 0.91) x (1e-9 - 2e-10) + (0.94 - 0.93) x (1e-9 - 3e-10); FP32 sits on the edge
    raw = 0.6 * 9.6e-10 + 0.31 * 9.2e-10 + 0.02 * 8e-10 + 0.01 * 7e-10
    assert hv["raw"] == pytest.approx(raw)  # type: ignore[index]
    assert hv["normalized"] == pytest.approx(raw / 1e-9)  # type: ignore[index]
    trial = doc["front"][1]  # type: ignore[index]
    assert trial["student"]["precision"]["default"]["w_bits"] == 8 and "edap" in trial["metrics"]
    assert doc["files"] == {}


def test_writes_png_and_html(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--plot`` moves the PNG; the page goes to its default place, studies/NAME/pareto.html."""
    built = make_study()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = built.db_digest()
    png = tmp_path / "out" / "front.png"
    png.parent.mkdir()  # an explicit path's folder must exist (a default one is created)
    assert cli.main(["pareto", *built.args(), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "hypervolume 0.8842 normalised" in out and "the FP32 baseline, trial 0" in out
    assert "feasible" not in out  # the runner's feasible=True without constraints is no constraint
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 500 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05  # not a blank canvas
    page = (work / "studies" / "t" / "pareto.html").read_text()
    assert page.count("<svg") >= 2 and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    for number in FRONT:
        assert f'id="trial-{number}"' in page and f'href="#trial-{number}"' in page
    assert "w2u2" in page and "EDAP (J s mm2), log scale" in page and "teacher 95.0%" in page
    assert not (work / "studies" / "t" / "pareto.png").exists()
    assert built.db_digest() == before


def test_reference_point_option(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    doc = run_json(capsys, *built.args(), "--no-files", "--reference", "0", "2e-9")
    assert doc["hypervolume"]["reference_source"] == "given"  # type: ignore[index]
    assert doc["hypervolume"]["normalized"] == pytest.approx((0.8842e-9 + 0.95e-9) / 2e-9)  # type: ignore[index]
    assert cli.main(["pareto", *built.args(), "--reference", "0"]) == 2
    assert "one value per objective" in capsys.readouterr().err


def test_constrained_front_is_feasible_only(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        Row(0.99, 5e-10, constraint=1.0),  # best accuracy, but infeasible
        Row(0.90, 4e-10, constraint=-0.5),
        Row(0.80, 3e-10, constraint=-1.0),
        Row(0.70, 5e-10, constraint=-0.1),  # dominated
    ]
    built = make_study(rows, constraints={"max_edap": 4.5e-10})
    doc = run_json(capsys, *built.args(), "--no-files")
    assert doc["constrained"] is True and doc["n_infeasible"] == 1
    assert [t["number"] for t in doc["front"]] == [1, 2]  # type: ignore[index]
    assert "worst observed" in doc["hypervolume"]["reference_source"]  # type: ignore[index]
    assert cli.main(["pareto", *built.args(), "--no-files"]) == 0
    assert "feasible trials only" in capsys.readouterr().out


def test_three_objectives_plot_first_two(make_study: Callable[..., Built]) -> None:
    built = make_study(DEFAULT_ROWS[:8], objectives=("accuracy", "edap", "spikes"))
    stored = open_stored_study(built.spec_path)
    trials = stored.study.get_trials()
    summary = summarize_front(trials, stored.objectives, stored.directions)
    data = plot_data(stored, records_of(stored, trials), summary)
    assert (data.x.objective, data.y.objective) == ("edap", "accuracy")
    assert any("only the first two are drawn" in note for note in data.notes)
    assert "only the first two are drawn" in pareto_html(data, front_rows(stored, []))


def test_front_table_for_live_study(make_study: Callable[..., Built]) -> None:
    from rich.console import Console

    built = make_study()
    console = Console(width=200, record=True)
    console.print(front_table(built.study, max_rows=3))
    text = console.export_text()
    assert "Pareto front: 5 trials (8 complete, 1 running, 1 failed, 1 waiting)" in text
    assert "first 3 shown" in text and "fp32" in text
