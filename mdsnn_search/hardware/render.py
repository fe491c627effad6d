"""Terminal rendering of a :class:`CostReport` with rich tables (used by ``mdsnn-search cost``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mdsnn_search import terminal
from mdsnn_search.hardware.report import CostReport
from mdsnn_search.hardware.sensitivity import Sensitivity
from mdsnn_search.tables import rich_table

_PREFIXES = {  # (from this magnitude on, divide by, unit name)
    "pJ": (
        (1e12, 1e12, "J"),
        (1e9, 1e9, "mJ"),
        (1e6, 1e6, "uJ"),
        (1e3, 1e3, "nJ"),
        (0.0, 1.0, "pJ"),
    ),
    "ns": ((1e9, 1e9, "s"), (1e6, 1e6, "ms"), (1e3, 1e3, "us"), (0.0, 1.0, "ns")),
    "um2": ((1e4, 1e6, "mm2"), (0.0, 1.0, "um2")),
}


def human(value: float, unit: str) -> str:
    """``15906934.0, "pJ"`` -> ``"15.91 uJ"``; areas from 0.01 mm2 on are shown in mm2."""
    for threshold, scale, name in _PREFIXES[unit]:
        if abs(value) >= threshold:
            return f"{value / scale:.4g} {name}"
    return f"{value:.4g} {unit}"


def totals_table(report: CostReport) -> Table:
    rows = [
        ("energy", human(report.energy_pj, "pJ")),
        ("latency", human(report.latency_ns, "ns")),
        ("area", human(report.area_um2, "um2")),
        ("EDP", f"{report.edp:.4g} J s"),
        ("EDAP", f"{report.edap:.4g} J s mm2"),
        ("ops (MAC = 2)", f"{report.ops:.4g}"),
        ("SynOps", f"{report.synops:.4g}"),
        ("TOPS/W", f"{report.tops_per_w:.4g}"),
        ("TOPS/mm2", f"{report.tops_per_mm2:.4g}"),
        ("tiles / PEs", f"{report.tiles} / {report.pes}"),
        ("timesteps", str(report.timesteps)),
    ]
    return rich_table("Totals", ["metric", "value"], rows)


def layers_table(report: CostReport) -> Table:
    columns = ["layer", "C_in>C_out", "k", "H_out x W_out", "W/U/BN", "cells", "PEs", "in rate"]
    columns += ["energy", "E %", "area", "start > halt"]
    rows = []
    for row in report.layers:
        bits = "-" if row.w_bits is None else f"{row.w_bits}/{row.u_bits}/{row.bn_bits}"
        share = 100.0 * row.energy_pj / report.energy_pj if report.energy_pj else 0.0
        rows.append(
            (
                row.name,
                f"{row.c_in}>{row.c_out}",
                str(row.kernel),
                f"{row.h_out}x{row.w_out}",
                bits,
                str(row.cells_per_weight),
                str(row.pes),
                "-" if row.input_rate is None else f"{row.input_rate:.3f}",
                human(row.energy_pj, "pJ"),
                f"{share:.1f}",
                human(row.area_um2, "um2"),
                f"{human(row.start_ns, 'ns')} > {human(row.halt_ns, 'ns')}",
            )
        )
    return rich_table("Per layer", columns, rows)


def breakdown_table(report: CostReport) -> Table:
    components = list(dict.fromkeys([*report.energy_breakdown_pj, *report.area_breakdown_um2]))
    rows = []
    for name in components:
        energy = report.energy_breakdown_pj.get(name)
        area = report.area_breakdown_um2.get(name)
        rows.append(
            (
                name,
                "-" if energy is None else human(energy, "pJ"),
                "-" if energy is None else _percent(energy, report.energy_pj),
                "-" if area is None else human(area, "um2"),
                "-" if area is None else _percent(area, report.area_um2),
            )
        )
    return rich_table("Breakdown by component", ["component", "energy", "E %", "area", "A %"], rows)


def _percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "0.0"


def conventions_text(report: CostReport) -> Text:
    """The conventions, one per line; a group of them (the quirks) as one indented line each."""
    text = Text("Conventions\n", style="bold")
    for key, value in report.conventions.items():
        if isinstance(value, dict):
            text.append(f"  {key}:\n")
            for name, setting in value.items():
                text.append(f"    {name}: {_setting(setting)}\n")
        else:
            text.append(f"  {key}: {_setting(value)}\n")
    for warning in report.warnings:
        text.append(f"warning: {warning}\n", style="yellow")
    return text


def _setting(value: object) -> str:
    """A convention's value as a person reads it: a switch is on or off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def render(report: CostReport, console: Console | None = None) -> None:
    """Print totals, the per-layer table, the component breakdown and the conventions."""
    console = console or terminal.console()
    console.print(
        Group(
            totals_table(report),
            layers_table(report),
            breakdown_table(report),
            conventions_text(report),
        )
    )


def sensitivity_table(rows: Sequence[Sensitivity]) -> Table:
    cells = [
        (
            row.knob,
            row.change,
            *(f"{100.0 * v:+.1f} %" for v in (row.energy, row.latency, row.area, row.edap)),
            row.rule,
        )
        for row in rows
    ]
    return rich_table(
        "Sensitivity: each knob stepped down on its own",
        ["knob", "change", "energy", "latency", "area", "EDAP", "rule"],
        cells,
        text_columns={"change", "rule"},
    )


def render_sensitivity(
    report: CostReport, rows: Sequence[Sensitivity], console: Console | None = None
) -> None:
    """Print the base configuration's totals, the sensitivity table and the conventions."""
    console = console or terminal.console()
    console.print(Group(totals_table(report), sensitivity_table(rows), conventions_text(report)))
