"""The Pareto view as one self-contained HTML file: plot (inline SVG), notes and front table.

No scripts, fonts or images are fetched, so the file can be mailed or opened offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from mdsnn_search.outputs import PAGE_META
from mdsnn_search.search.results.plotdata import PlotData
from mdsnn_search.search.results.svg import legend_items, pareto_svg
from mdsnn_search.search.results.tables import Rows
from mdsnn_search.tables import format_value

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 20px; margin-bottom: 4px; } h2 { font-size: 16px; margin-top: 28px; }
.notes { color: #555; font-size: 13px; margin: 2px 0; }
svg.plot { width: 100%; max-width: 860px; height: auto; border: 1px solid #ddd; }
svg text.tick { font-size: 11px; fill: #444; } svg text.label { font-size: 13px; fill: #222; }
svg text.note { font-size: 10px; fill: #555; } svg text.baseline { font-size: 11px; font-weight: bold; }
g.pt:hover > * { stroke: black; stroke-width: 2; }
.legend { display: flex; gap: 18px; flex-wrap: wrap; font-size: 12px; margin: 8px 0; align-items: center; }
.legend span { display: inline-flex; gap: 5px; align-items: center; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 9px; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f6f6f6; }
td.text { text-align: left; font-family: ui-monospace, monospace; }
tr:target { background: #fff3b0; }
"""


def pareto_html(data: PlotData, front: Rows, others: Rows | None = None) -> str:
    """The page; ``front`` and ``others`` (the remaining complete trials) are ``(columns, rows)``
    from :mod:`.tables`, each row starting with the trial number (rows are link targets)."""
    legend = "".join(f"<span>{icon}{escape(label)}</span>" for icon, label in legend_items(data))
    notes = "".join(f'<p class="notes">{escape(n)}</p>' for n in data.notes)
    sections = [
        f"<h1>{escape(data.title)}</h1>",
        notes,
        pareto_svg(data),
        f'<div class="legend">{legend}</div>',
        '<p class="notes">Hover a point for its values; click it to jump to its row.</p>',
        "<h2>Pareto front</h2>",
        _table(*front),
    ]
    if others is not None and others[1]:
        sections += ["<h2>Other complete trials</h2>", _table(*others)]
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{PAGE_META}'
        f"<title>{escape(data.title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def save_pareto_html(html: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    lines = []
    for row in rows:
        anchor = f' id="trial-{row[0]}"'
        cells = "".join(_cell(v, last=i == len(row) - 1) for i, v in enumerate(row))
        lines.append(f"<tr{anchor}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _cell(value: Any, *, last: bool) -> str:
    css = ' class="text"' if last else ""
    return f"<td{css}>{escape(format_value(value))}</td>"
