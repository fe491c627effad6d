"""Where output goes decides its width: a narrow terminal folds cells, a log never cuts them."""

from __future__ import annotations

import re

import pytest

from mdsnn_search.tables import rich_table
from mdsnn_search.terminal import console

COLUMNS = ["#", "val accuracy (%)", "EDAP (J s mm2)", "reason"]
ROWS = [[1, 93.33, 2.0912e-10, "bad shape [conv1] of layer [red]"]]


def test_a_narrow_terminal_folds_cells_instead_of_cutting_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's own switch: treat stdout as a terminal
    monkeypatch.setenv("COLUMNS", "30")
    out = console()
    assert out.is_terminal and out.width == 30
    out.print(rich_table("trials", COLUMNS, ROWS))
    lines = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()  # no styles
    assert max(len(line) for line in lines) <= 30 and "…" not in "".join(lines)
    body = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    assert len(body) > 1  # the row folded onto more lines
    cells = ["".join(parts) for parts in zip(*body, strict=True)]
    assert [c.replace(" ", "") for c in cells] == [
        "1",
        "93.33",
        "2.091e-10",
        "badshape[conv1]oflayer[red]",
    ]


def test_a_log_gets_whole_lines_and_text_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "30")  # ignored: nobody resizes a log
    out = console()
    assert not out.is_terminal
    out.print(rich_table("trials", COLUMNS, ROWS))
    lines = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in lines[2].split("┃")[1:-1]] == COLUMNS
    assert [c.strip() for c in lines[4].split("│")[1:-1]] == [
        "1",
        "93.33",
        "2.091e-10",
        "bad shape [conv1] of layer [red]",
    ]
