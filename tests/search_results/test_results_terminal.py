"""``status`` and ``pareto`` as a log sees them (no terminal, ``COLUMNS=80``): every header and
every number whole, and the same numbers as their ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from results_studies import FRONT, Built

from mdsnn_search.results.tables import format_duration
from mdsnn_search.tables import format_value

STATUS_HEADERS = [
    "#",
    "state",
    "baseline",
    "val accuracy (%)",
    "EDAP (J s mm2)",
    "test accuracy (%)",
    "energy (pJ)",
    "latency (ns)",
    "spikes/sample",
    "duration",
    "student",
]
FRONT_HEADERS = [h for h in STATUS_HEADERS if h not in ("state", "duration")]


def logged(*args: str, cwd: Path) -> str:
    """stdout of ``mdsnn-search ARGS`` run as its own process into a pipe, as under CI or nohup."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-m", "mdsnn_search.cli", *args],
        cwd=cwd,
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def table(out: str, title: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table whose title starts with ``title``, one list of cells per
    printed line: a wrapped header or cell shows as an extra line and fails the comparison."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    headers: list[list[str]] = []
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("┃"):
            headers.append([cell.strip() for cell in line.split("┃")[1:-1]])
        elif line.startswith("│"):
            rows.append([cell.strip() for cell in line.split("│")[1:-1]])
        elif line.startswith("└"):
            break
    assert len(headers) == 1, headers
    return headers[0], rows


def minutes(duration: str) -> int:
    """Whole minutes of a long duration as the tables print it (``16925h03m``)."""
    hours, _, rest = duration.partition("h")
    return int(hours) * 60 + int(rest.removesuffix("m"))


def cells(trial: dict[str, Any], headers: list[str]) -> list[str]:
    """What each column shows of a trial of the ``--json`` document."""
    values, metrics = trial["values"], trial["metrics"] or {}

    def percent(value: float | None) -> float | None:
        return None if value is None else value * 100.0

    shown = {
        "#": trial["number"],
        "state": trial["state"],
        "baseline": trial["baseline"],
        "val accuracy (%)": percent(values.get("accuracy")),
        "EDAP (J s mm2)": values.get("edap"),
        "test accuracy (%)": percent(metrics.get("test_accuracy")),
        "energy (pJ)": metrics.get("energy_pj"),
        "latency (ns)": metrics.get("latency_ns"),
        "spikes/sample": metrics.get("spikes_per_sample"),
        "duration": format_duration(trial["duration_s"]),
        "student": trial["student_summary"] if trial["student"] else None,
    }
    return [format_value(shown[h]) for h in headers]


def test_status_in_a_log_shows_every_header_and_number_whole(
    make_study: Callable[..., Built], tmp_path: Path
) -> None:
    built = make_study()
    out = logged("status", *built.args(), cwd=tmp_path)
    headers, rows = table(out, "study t: trials")
    assert headers == STATUS_HEADERS
    doc = json.loads(logged("status", *built.args(), "--json", cwd=tmp_path))
    # a running trial's duration runs on between the two calls: compared apart, to the minute
    expected = [cells(trial, headers) for trial in doc["trials"]]
    at = headers.index("duration")
    running = [i for i, trial in enumerate(doc["trials"]) if trial["state"] == "running"]
    assert running
    for i in running:
        shown, later = minutes(rows[i][at]), minutes(expected[i][at])
        assert shown <= later <= shown + 1
        rows[i][at] = expected[i][at]
    assert rows == expected
    assert rows[5][4] == "2.500e-10" and rows[0][-1] == "W32 U32 BN32 D0"
    assert table(out, "failed trials") == (["#", "reason"], [["8", "NaN loss at epoch 1"]])
    assert "…" not in out and max(map(len, out.splitlines())) > 80


def test_pareto_in_a_log_shows_every_header_and_number_whole(
    make_study: Callable[..., Built], tmp_path: Path
) -> None:
    built = make_study()
    out = logged("pareto", *built.args(), "--no-files", cwd=tmp_path)
    headers, rows = table(out, "Pareto front: 5 trials")
    assert headers == FRONT_HEADERS
    doc = json.loads(logged("pareto", *built.args(), "--no-files", "--json", cwd=tmp_path))
    by_number = {trial["number"]: trial for trial in doc["front"]}
    assert sorted(by_number) == FRONT
    assert rows == [cells(by_number[int(row[0])], headers) for row in rows]
    assert [int(row[0]) for row in rows] == [0, 1, 4, 6, 3]  # best validation accuracy first
    assert f"hypervolume {doc['hypervolume']:.4f} in the region of interest" in out
    assert "vs w4u4 (EDAP 1e-10): trial 6 at no more EDAP" in out  # the iso-cost gains, whole
    assert "…" not in out
