"""Where output goes decides its width: a narrow terminal never splits a number, a log never
cuts a line."""

from __future__ import annotations

import re

import pytest

from mdsnn_search.tables import rich_table
from mdsnn_search.terminal import console

COLUMNS = ["#", "val accuracy (%)", "EDAP (J s mm2)", "reason"]
ROWS = [[1, 93.33, 2.0912e-10, "bad shape [conv1] of layer [red]"]]


def test_a_narrow_terminal_shows_each_row_as_a_block_without_splitting_a_number(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 30 columns the table cannot give each cell its longest word, so each row is a block
    wrapped at the spaces between values: every number whole, nothing cut."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's own switch: treat stdout as a terminal
    monkeypatch.setenv("COLUMNS", "30")
    out = console()
    assert out.is_terminal and out.width == 30
    out.print(rich_table("trials", COLUMNS, ROWS))
    lines = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()  # no styles
    assert max(len(line) for line in lines) <= 30 and "…" not in "".join(lines)
    words = " ".join(lines).split()
    assert lines[0] == "trials" and lines[1].startswith("#1  val accuracy (%) 93.33")
    assert {"93.33", "2.091e-10", "[conv1]"} <= set(words)


def test_a_terminal_wide_enough_for_every_word_keeps_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "40")
    out = console()
    out.print(rich_table("trials", COLUMNS, ROWS))
    lines = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()
    assert max(len(line) for line in lines) <= 40 and "…" not in "".join(lines)
    body = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert body[0][:3] == ["1", "93.33", "2.091e-10"]  # numbers whole; the reason wraps


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
