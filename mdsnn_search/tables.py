"""Numbers as text and rich tables: one look for every table the CLI and the results print.

A cell that does not fit a narrow terminal folds onto more lines instead of being cut, so no
number or header is ever shown as ``2.091e-…``; off a terminal the console is wide enough that
nothing folds (:mod:`mdsnn_search.terminal`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table


def format_value(value: Any) -> str:
    """4 significant digits, scientific outside [1e-3, 1e6); ``None`` is ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


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
    t = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        justify: JustifyMethod = "left" if i == 0 or column in text_columns else "right"
        t.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        t.add_row(*(format_value(v) for v in row))
    return t
