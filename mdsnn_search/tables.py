"""Numbers as text and rich tables: one look for every table the CLI and the results print."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

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
        t.add_column(column, justify="left" if i == 0 or column in text_columns else "right")
    for row in rows:
        t.add_row(*(format_value(v) for v in row))
    return t
