"""``mdsnn-search status``: trials table, counts, failures; read-only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from results_studies import Built

from mdsnn_search import cli
from mdsnn_search.tables import format_value


def test_status_table_counts_and_failures(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    before = built.db_digest()
    assert cli.main(["status", *built.args()]) == 0
    out = capsys.readouterr().out
    assert "8 complete, 1 running, 1 failed, 1 waiting" in out
    assert "NaN loss at epoch 1" in out
    assert "w4u4" in out and "fp32" in out
    assert "feasible" not in out  # no constraints, so no feasibility column
    assert built.db_digest() == before


def test_status_json(make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]) -> None:
    built = make_study()
    assert cli.main(["status", "--storage", built.url, "--study", built.name, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["objectives"] == ["accuracy", "edap"] and doc["directions"] == [
        "maximize",
        "minimize",
    ]
    assert doc["counts"] == {"complete": 8, "running": 1, "failed": 1, "waiting": 1, "pruned": 0}
    assert doc["failures"] == [{"number": 8, "reason": "NaN loss at epoch 1"}]
    trial = doc["trials"][6]
    assert trial["values"] == {"accuracy": 0.91, "edap": 0.8e-10}
    assert trial["student_summary"] == "W2/4 U4 BN8 D1"
    assert trial["metrics"]["layer_firing_rates"] == {"conv1": 0.1, "conv2": 0.05}
    assert trial["duration_s"] == pytest.approx(75.0)
    assert (
        doc["trials"][0]["baseline"] == "fp32"
        and doc["trials"][0]["student_summary"] == "W32 U32 BN32 D0"
    )


def test_student_summary_of_a_searched_student() -> None:
    """As the search space writes it: every layer overridden over a full-precision default; the
    linear layer leaves membrane and BN bits unset (it has neither), so 32 is not shown."""
    from mdsnn_search.results import student_summary

    student = {
        "precision": {
            "default": {"w_bits": 32, "u_bits": 32, "bn_bits": 32},
            "layers": {
                "conv1": {"w_bits": 8, "u_bits": 4, "bn_bits": 8},
                "conv2": {"w_bits": 4, "u_bits": 8, "bn_bits": 8},
                "fc": {"w_bits": 8, "u_bits": None, "bn_bits": None},
            },
        },
        "distill": {"layers": ["conv1", "conv2", "fc"], "membrane_weight": 2.0},
    }
    assert student_summary(student) == "W4/8 U4/8 BN8 D3"
    uniform = {
        "precision": {"default": {"w_bits": 4, "u_bits": 4, "bn_bits": 8}, "layers": {}},
        "distill": {"layers": "all"},
    }
    assert student_summary(uniform) == "W4 U4 BN8 Dall"


def test_status_on_an_80_column_terminal_splits_no_number(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """16 trials at 80 columns: every number of ``--json`` shows whole (as one word), lines fit,
    nothing is cut, and 16 trials take no 119 lines (each trial a block of three or four)."""
    from results_studies import Row

    from mdsnn_search.cli import status
    from mdsnn_search.terminal import console

    rows = [Row(0.9 + 0.005 * i, 1e-10 * (1 + i % 5)) for i in range(16)]
    built = make_study(rows)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(status, "console", console())
    assert cli.main(["status", *built.args()]) == 0
    lines = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in "".join(lines)
    assert len(lines) <= 2 + 16 * 4  # title, counts, at most four lines a trial
    words = set(" ".join(lines).split())
    assert cli.main(["status", *built.args(), "--json"]) == 0
    for trial in json.loads(capsys.readouterr().out)["trials"]:
        accuracy = format_value(trial["values"]["accuracy"] * 100.0)
        assert {f"#{trial['number']}", accuracy, format_value(trial["values"]["edap"])} <= words


def test_feasibility_and_the_broken_limit_show_wherever_a_trial_is_listed(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """status, pareto's table, the report's table and hover, and the JSON all carry one line:
    ``feasible`` or ``infeasible:`` with the limit broken and by how much."""
    from results_studies import CONSTRAINED_ROWS

    built = make_study(CONSTRAINED_ROWS, constraints={"max_edap": 4.5e-10})
    broken = "infeasible: EDAP 1 J s mm2 over max_edap"
    assert cli.main(["status", *built.args()]) == 0
    out = capsys.readouterr().out
    assert "feasibility" in out and broken in out and out.count("│ feasible ") == 3
    assert cli.main(["status", *built.args(), "--json"]) == 0
    trials = json.loads(capsys.readouterr().out)["trials"]
    assert [t["feasibility"] for t in trials] == [broken, "feasible", "feasible", "feasible"]
    page = tmp_path / "report.html"
    args = [*built.args(), "--html", str(page), "--plot", str(tmp_path / "p.png")]
    assert cli.main(["pareto", *args]) == 0
    out = capsys.readouterr().out
    assert "feasibility" in out and out.count("│ feasible ") == 2  # the front: trials 1 and 2
    html = page.read_text()
    assert "<th>feasibility</th>" in html and html.count("<td>feasible</td>") == 2
    assert '\\"feasibility\\": \\"infeasible: EDAP 1 J s mm2 over max_edap\\"' in html  # hover
