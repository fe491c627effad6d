"""Numbers as text and rich tables: one look for every table the CLI and the results print.

A table never cuts a cell (``2.091e-…``) and never splits a number across lines (``99.6`` over
``5``). Where the console is wide enough to give every cell its longest word, it is a table whose
text cells wrap at spaces; where it is not (a narrow terminal), each row becomes a short block,
``#3  state complete  val accuracy (%) 93.33 ...``, wrapped between its name-value pairs. Off a
terminal the console is wide enough for every table (:mod:`mdsnn_search.terminal`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.table import Table
from rich.text import Text


def format_value(value: Any) -> str:
    """4 significant digits, scientific outside [1e-3, 1e6); ``None`` is ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def percent(fraction: float) -> str:
    """An accuracy as a person reads it: ``99.65 %`` (stored as a fraction, read in percent)."""
    return f"{100.0 * fraction:.2f} %"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 trial``, ``2 trials``: every count a message prints goes through here, so none reads
    "1 trials" (``plural`` for nouns that do not take an ``s``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def rich_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    text_columns: Collection[str] = (),
) -> Table:
    """The first column and ``text_columns`` left-aligned, the rest (numbers) right-aligned."""
    t = FittingTable(title=title, title_justify="left")
    for i, column in enumerate(columns):
        justify: JustifyMethod = "left" if i == 0 or column in text_columns else "right"
        t.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        t.add_row(*(format_value(v) for v in row))
    t.cells = [[format_value(v) for v in row] for row in rows]
    return t


class FittingTable(Table):
    """A table whose columns are never narrower than their longest word, so no number is split;
    one block per row where the width cannot hold that."""

    cells: list[list[str]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        texts = [
            [str(c.header), *cells]
            for c, cells in zip(self.columns, self._by_column(), strict=True)
        ]
        natural = [max(len(t) for t in column) for column in texts]
        narrowest = [max(len(w) for t in column for w in t.split() or [""]) for column in texts]
        room = options.max_width - 3 * len(texts) - 1  # a space each side of a cell, borders
        if sum(natural) <= room:
            yield from super().__rich_console__(console, options)
        elif sum(narrowest) > room:
            yield from _blocks(self, options.max_width)
        else:
            yield _with_widths(self, _share(room, narrowest, natural))

    def _by_column(self) -> list[list[str]]:
        return [list(cells) for cells in zip(*self.cells, strict=True)] or [
            [] for _ in self.columns
        ]


def _share(room: int, narrowest: list[int], natural: list[int]) -> list[int]:
    """Column widths that fill ``room``: each its longest word, the rest shared in proportion to
    what each column would take beyond that."""
    wants = [n - m for m, n in zip(narrowest, natural, strict=True)]
    spare = room - sum(narrowest)
    total = sum(wants) or 1
    widths = [m + want * spare // total for m, want in zip(narrowest, wants, strict=True)]
    return widths


def _with_widths(table: FittingTable, widths: list[int]) -> Table:
    """A copy of ``table`` with fixed column widths (wrapping at spaces, never inside a word)."""
    fixed = Table(title=table.title, title_justify=table.title_justify)
    for column, width in zip(table.columns, widths, strict=True):
        fixed.add_column(column.header, justify=column.justify, overflow="fold", width=width)
    for row in table.cells:
        fixed.add_row(*row)
    return fixed


def _blocks(table: FittingTable, width: int) -> list[Text]:
    """Each row as ``#N  name value  name value ...``, wrapped between the pairs (a pair wider
    than the line stands alone), continuation lines indented: no value is split from its name,
    no number split at all."""
    headers = [str(column.header) for column in table.columns]
    lines = [Text(str(table.title or ""), style="bold")]
    for row in table.cells:
        first = f"{headers[0]}{row[0]}" if headers[0] == "#" else f"{headers[0]} {row[0]}"
        pairs = [f"{h} {v}" for h, v in zip(headers[1:], row[1:], strict=True) if v != "-"]
        line = first
        for pair in pairs:
            if len(line) + 2 + len(pair) > width:
                lines.append(Text(line))
                line = "    " + pair
            else:
                line += "  " + pair
        lines.append(Text(line))
    return lines
