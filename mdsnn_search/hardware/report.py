"""The cost report: totals, a per-layer table, per-component breakdowns and the conventions used.

Figures of merit SpikeSim does not compute are defined here, once:

- EDP  = E[J] x D[s];  EDAP = E[J] x D[s] x A[mm2]  (so EDAP is in J s mm2).
- ops  = 2 x sum_i MACs_i x T: dense MACs with kept channels at the real conv output side, a MAC
  counting as two operations, whatever the activity.
- TOPS/W = ops / E[pJ]  (ops per pJ is 1e12 ops per J);  TOPS/mm2 = ops / D[ps] / A[mm2].
- SynOps = sum_i MACs_i x (measured input spike rate of layer i) x T: the accumulates a spike-driven
  machine performs, as SNN papers quote them (equal to MACs x T where no rate was measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mdsnn_search.metrics import (
    AREA_UM2,
    COST_METRICS,
    EDAP,
    EDP,
    ENERGY_PJ,
    LATENCY_NS,
    OPS,
    SYNOPS,
    TOPS_PER_MM2,
    TOPS_PER_W,
)

Floats = NDArray[np.float64]

if TYPE_CHECKING:
    from mdsnn_search.hardware.mapping import MappedLayer

UNITS = {
    ENERGY_PJ: "pJ",
    LATENCY_NS: "ns",
    AREA_UM2: "um2",
    EDP: "J*s",
    EDAP: "J*s*mm2",
    OPS: "operations (MAC = 2)",
    SYNOPS: "accumulates",
    TOPS_PER_W: "TOPS/W",
    TOPS_PER_MM2: "TOPS/mm2",
}

ENERGY_COMPONENTS = (
    "crossbar", "adc", "mux", "subtractor", "shift_add", "temp_buffer",
    "tile_buffer", "htree", "memory_fetch", "neuron", "bn",
)  # fmt: skip
"""Energy components, in the order SpikeSim's PE-cycle energy lists them, then ours."""

AREA_COMPONENTS = (
    "crossbar", "adc", "mux", "shift_add", "subtractor", "temp_buffer",
    "tile_buffer", "htree", "input_buffer", "neuron_memory", "bn",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LayerCost:
    """One row of the per-layer table. ``area_um2`` is the layer's own share: its PEs, input
    buffer, neuron memory and BN; tile-level parts shared between layers are in the totals only."""

    name: str
    kind: str
    c_in: int
    c_out: int
    kernel: int
    h_out: int
    w_out: int
    w_bits: int | None
    """Bits costed (``None`` in the spikesim engine, which has no bit inputs)."""
    u_bits: int | None
    bn_bits: int | None
    cells_per_weight: int
    pes: int
    pe_cycles: int
    macs: int
    input_rate: float | None
    """Measured input spike rate (``None``: not measured, costed dense)."""
    output_rate: float | None
    energy_pj: float
    start_ns: float
    halt_ns: float
    area_um2: float
    energy_breakdown_pj: dict[str, float]


@dataclass(frozen=True)
class LayerRows:
    """What an engine knows per layer, turned into :class:`LayerCost` rows only when asked for:
    the search reads the totals of thousands of reports and the rows of few."""

    layers: Sequence[MappedLayer]
    cells_per_weight: Sequence[int]
    pes: Sequence[int]
    pe_cycles: Sequence[int]
    energy_terms_pj: Sequence[Sequence[float]]
    """Per layer, energy per component in :data:`ENERGY_COMPONENTS` order."""
    energy_pj: Sequence[float] | None
    """Per-layer energy when the engine sums it its own way; else the sum of its terms."""
    area_um2: Sequence[float]
    spans_cycles: Sequence[tuple[float, float]]
    """(start, halt) of each layer, in cycles of ``cycle_ns`` (PE cycles or clocks, by engine)."""
    cycle_ns: float
    report_bits: bool

    def build(self) -> tuple[LayerCost, ...]:
        rows = []
        for i, layer in enumerate(self.layers):
            p, spec = layer.precision, layer.spec
            start, halt = self.spans_cycles[i]
            terms = dict(zip(ENERGY_COMPONENTS, self.energy_terms_pj[i], strict=True))
            rows.append(
                LayerCost(
                    name=spec.name,
                    kind=spec.kind,
                    c_in=layer.c_in,
                    c_out=layer.c_out,
                    kernel=spec.kernel,
                    h_out=layer.h_out,
                    w_out=layer.w_out,
                    w_bits=p.w_bits if self.report_bits else None,
                    u_bits=p.u_bits if self.report_bits else None,
                    bn_bits=p.bn_bits if self.report_bits else None,
                    cells_per_weight=self.cells_per_weight[i],
                    pes=self.pes[i],
                    pe_cycles=self.pe_cycles[i],
                    macs=layer.macs,
                    input_rate=layer.activity.input_rate if layer.activity is not None else None,
                    output_rate=layer.activity.output_rate if layer.activity is not None else None,
                    energy_pj=math.fsum(terms.values())
                    if self.energy_pj is None
                    else self.energy_pj[i],
                    start_ns=start * self.cycle_ns,
                    halt_ns=halt * self.cycle_ns,
                    area_um2=self.area_um2[i],
                    energy_breakdown_pj=terms,
                )
            )
        return tuple(rows)


@dataclass(frozen=True)
class CostReport:
    """The cost of one configuration on one hardware preset. ``layers`` (the per-layer table) is
    built on first access."""

    energy_pj: float
    latency_ns: float
    area_um2: float
    edp: float
    edap: float
    ops: float
    synops: float
    tops_per_w: float
    tops_per_mm2: float
    tiles: int
    pes: int
    timesteps: int
    energy_breakdown_pj: dict[str, float]
    area_breakdown_um2: dict[str, float]
    conventions: dict[str, Any]
    warnings: tuple[str, ...]
    rows: LayerRows = field(repr=False, compare=False)

    @cached_property
    def layers(self) -> tuple[LayerCost, ...]:
        """The per-layer table."""
        return self.rows.build()

    def totals(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in COST_METRICS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the totals at the top level, then tables, breakdowns and conventions."""
        return {
            **self.totals(),
            "tiles": self.tiles,
            "pes": self.pes,
            "timesteps": self.timesteps,
            "energy_breakdown_pj": dict(self.energy_breakdown_pj),
            "area_breakdown_um2": dict(self.area_breakdown_um2),
            "layers": [asdict(layer) for layer in self.layers],
            "conventions": dict(self.conventions),
            "warnings": list(self.warnings),
            "units": dict(UNITS),
        }


def build_report(
    *,
    rows: LayerRows,
    timesteps: int,
    tiles: int,
    energy_breakdown_pj: Mapping[str, float],
    area_breakdown_um2: Mapping[str, float],
    energy_pj: float | None = None,
    area_um2: float | None = None,
    conventions: Mapping[str, Any],
    warnings: tuple[str, ...] = (),
) -> CostReport:
    """Assemble a report and derive the figures of merit (definitions in the module docstring).

    Latency is the last layer's halt. ``energy_pj``/``area_um2`` default to the sums of their
    breakdowns; the spikesim engine passes its own totals, summed the way SpikeSim sums them.
    """
    energy = sum(energy_breakdown_pj.values()) if energy_pj is None else energy_pj
    area = sum(area_breakdown_um2.values()) if area_um2 is None else area_um2
    latency_ns = rows.spans_cycles[-1][1] * rows.cycle_ns
    ops = 0.0
    synops = 0.0
    for layer in rows.layers:
        ops += layer.macs
        synops += layer.macs * (layer.activity.input_rate if layer.activity is not None else 1.0)
    ops *= 2.0 * timesteps
    synops *= timesteps
    merit = figures_of_merit(
        *(np.asarray(value, dtype=np.float64) for value in (energy, latency_ns, area, ops))
    )
    return CostReport(
        energy_pj=energy,
        latency_ns=latency_ns,
        area_um2=area,
        edp=float(merit[EDP]),
        edap=float(merit[EDAP]),
        ops=ops,
        synops=synops,
        tops_per_w=float(merit[TOPS_PER_W]),
        tops_per_mm2=float(merit[TOPS_PER_MM2]),
        tiles=tiles,
        pes=sum(rows.pes),
        timesteps=timesteps,
        energy_breakdown_pj=dict(energy_breakdown_pj),
        area_breakdown_um2=dict(area_breakdown_um2),
        conventions=dict(conventions),
        warnings=warnings,
        rows=rows,
    )


def figures_of_merit(
    energy_pj: Floats, latency_ns: Floats, area_um2: Floats, ops: Floats
) -> dict[str, Floats]:
    """EDP, EDAP, TOPS/W and TOPS/mm2 (module docstring), elementwise: one definition for a report
    and for a batch of configurations. A zero energy, latency or area gives a zero figure."""
    edp = (energy_pj * 1e-12) * (latency_ns * 1e-9)
    area_mm2 = area_um2 * 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        per_w = np.where(energy_pj > 0, ops / energy_pj, 0.0)
        per_mm2 = np.where(
            (latency_ns > 0) & (area_um2 > 0), ops / (latency_ns * 1e3) / area_mm2, 0.0
        )
    return {EDP: edp, EDAP: edp * area_mm2, TOPS_PER_W: per_w, TOPS_PER_MM2: per_mm2}
