"""A figure of a report's energy and area breakdown by component (``mdsnn-search cost --plot``).

matplotlib is imported only here, and only when a plot is asked for. The figure is a bare
``matplotlib.figure.Figure`` (no pyplot), so no backend is chosen and the caller's matplotlib
setup is left as it was.
"""

from __future__ import annotations

from pathlib import Path

from mdsnn_search.errors import ConfigError
from mdsnn_search.files import write_atomic
from mdsnn_search.hardware.report import CostReport
from mdsnn_search.outputs import FIGURE_METADATA, FIGURE_SUFFIXES


def plot_breakdown(report: CostReport, path: str | Path) -> Path:
    """Save two bar charts (share of energy, share of area per component) to ``path``."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(
            f"--plot {path}: the file must end in one of {', '.join(FIGURE_SUFFIXES)}"
        )
    if not path.parent.is_dir():
        raise ConfigError(f"--plot {path}: no such folder {path.parent}")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    energy_axis, area_axis = figure.subplots(1, 2)
    for axis, breakdown, total, what in (
        (
            energy_axis,
            report.energy_breakdown_pj,
            report.energy_pj,
            f"energy ({report.energy_pj / 1e6:.4g} uJ)",
        ),
        (
            area_axis,
            report.area_breakdown_um2,
            report.area_um2,
            f"area ({report.area_um2 / 1e6:.4g} mm2)",
        ),
    ):
        names = [name for name, value in breakdown.items() if value > 0]
        shares = [100.0 * breakdown[name] / total for name in names]
        axis.barh(names[::-1], shares[::-1], color="tab:blue")
        axis.set_xlim(0, 1.15 * max(shares, default=1.0))
        axis.set_xlabel("% of total")
        axis.set_title(what)
        for y, share in enumerate(shares[::-1]):
            axis.annotate(
                f"{share:.1f}", (share, y), xytext=(3, 0), textcoords="offset points", va="center"
            )
    conventions = report.conventions
    figure.suptitle(
        f"{conventions.get('preset')} ({conventions.get('engine')}), T={report.timesteps}: "
        f"EDAP {report.edap:.3g} J s mm2, {report.tops_per_w:.3g} TOPS/W"
    )
    return write_atomic(
        path,
        lambda stream: figure.savefig(stream, format=path.suffix[1:], metadata=FIGURE_METADATA),
    )
