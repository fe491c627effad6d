"""``estimate_batch``: the cost of many configurations of one layer table, in one call.

A search that scores thousands of candidates (a sampler's proposals, a sensitivity sweep) hands
the cost model a :class:`~.configs.ConfigBatch` and reads arrays back. Each configuration's
totals equal what :func:`~.estimate.estimate_cost` reports for it, to 1e-12 relative (a tested
property): the aware engine is the same numpy code for both, and the spikesim engine, which
cannot see bits or activity, is scored once per distinct (kept channels, timesteps).

    >>> from mdsnn_search.hardware import ConfigBatch, LayerSpec, estimate_batch, load_preset
    >>> layers = [LayerSpec("c", 64, 64, 3, 8, 8, 8, 8)]
    >>> batch = ConfigBatch.from_arrays(1, timesteps=4, w_bits=[[4], [2]], u_bits=4, bn_bits=8)
    >>> costs = estimate_batch(layers, load_preset("rram_64"), batch)
    >>> bool(costs.edap[1] < costs.edap[0])
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import aware
from mdsnn_search.hardware.configs import ConfigBatch
from mdsnn_search.hardware.estimate import (
    check_layers,
    estimate_cost,
    is_event_mode,
    nothing_to_cost,
)
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.hardware.mapping import TableGeometry, kept_channel_arrays, table_geometry
from mdsnn_search.hardware.preset import HardwarePreset
from mdsnn_search.hardware.report import AREA_COMPONENTS, ENERGY_COMPONENTS, figures_of_merit
from mdsnn_search.metrics import COST_METRICS, EDAP, EDP, TOPS_PER_MM2, TOPS_PER_W

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class BatchCost:
    """Totals of N configurations, each an [N] array with the meaning of the same
    :class:`~.report.CostReport` field; breakdowns map a component to an [N] array."""

    energy_pj: Floats
    latency_ns: Floats
    area_um2: Floats
    edp: Floats
    edap: Floats
    ops: Floats
    synops: Floats
    tops_per_w: Floats
    tops_per_mm2: Floats
    tiles: Ints
    pes: Ints
    energy_breakdown_pj: dict[str, Floats]
    area_breakdown_um2: dict[str, Floats]

    def __len__(self) -> int:
        return int(self.energy_pj.shape[0])

    def totals(self, index: int) -> dict[str, float]:
        """Configuration ``index``'s totals, keyed as :meth:`CostReport.totals`."""
        return {key: float(getattr(self, key)[index]) for key in COST_METRICS}


def estimate_batch(
    layers: Sequence[LayerSpec], preset: HardwarePreset, batch: ConfigBatch
) -> BatchCost:
    """Score every configuration of ``batch`` (over the L layers of ``layers``) on ``preset``.

    Conventions are the preset's, as in :func:`~.estimate.estimate_cost`; measured input rates
    are costed only on an ``event`` preset with the aware engine (SynOps always use them).
    Raises :class:`ConfigError` on an invalid table or a batch of another length.
    """
    check_layers(layers)
    if batch.n_layers != len(layers):
        raise ConfigError(
            f"the batch has {batch.n_layers} layers per configuration, the table {len(layers)}"
        )
    conventions = preset.conventions
    geometry = table_geometry(tuple(layers), conventions.output_side, conventions.include_linear)
    if not len(geometry.costed):
        raise nothing_to_cost(preset)
    if preset.engine == "spikesim":
        costs = _spikesim(layers, preset, batch)
    else:
        scores = aware.score(geometry, batch, preset, is_event_mode(preset))
        costs = _Costs(
            energy_pj=scores.energy_total(),
            latency_ns=scores.latency_ns(),
            area_um2=scores.area_total(),
            tiles=scores.tiles,
            pes=scores.pes.sum(axis=1),
            energy_breakdown_pj=scores.energy_breakdown,
            area_breakdown_um2=scores.area_um2,
        )
    ops, synops = _operations(geometry, batch)
    merit = figures_of_merit(costs.energy_pj, costs.latency_ns, costs.area_um2, ops)
    return BatchCost(
        energy_pj=costs.energy_pj,
        latency_ns=costs.latency_ns,
        area_um2=costs.area_um2,
        edp=merit[EDP],
        edap=merit[EDAP],
        ops=ops,
        synops=synops,
        tops_per_w=merit[TOPS_PER_W],
        tops_per_mm2=merit[TOPS_PER_MM2],
        tiles=costs.tiles,
        pes=costs.pes,
        energy_breakdown_pj=costs.energy_breakdown_pj,
        area_breakdown_um2=costs.area_breakdown_um2,
    )


@dataclass(frozen=True)
class _Costs:
    """What an engine gives for a batch, before the operation counts and figures of merit."""

    energy_pj: Floats
    latency_ns: Floats
    area_um2: Floats
    tiles: Ints
    pes: Ints
    energy_breakdown_pj: dict[str, Floats]
    area_breakdown_um2: dict[str, Floats]


def _operations(geometry: TableGeometry, batch: ConfigBatch) -> tuple[Floats, Floats]:
    """Dense ops (2 x MACs x T) and SynOps (MACs x input rate x T), as :mod:`.report` defines
    them."""
    c_in, c_out = kept_channel_arrays(geometry.layers, batch.keep_fraction)
    cols = geometry.costed
    macs = c_in[:, cols] * geometry.taps * c_out[:, cols] * geometry.conv_area
    timesteps = batch.timesteps.astype(np.float64)
    ops = macs.sum(axis=1).astype(np.float64) * (2.0 * timesteps)
    synops = (macs * batch.input_rate[:, cols]).sum(axis=1) * timesteps
    return ops, synops


def _spikesim(layers: Sequence[LayerSpec], preset: HardwarePreset, batch: ConfigBatch) -> _Costs:
    """SpikeSim's ELA sees only kept channels and timesteps: score each distinct pair once."""
    keys = np.column_stack([batch.keep_fraction, batch.timesteps.astype(np.float64)])
    distinct, which = np.unique(keys, axis=0, return_inverse=True)
    reports = [
        estimate_cost(
            layers,
            preset,
            timesteps=int(row[-1]),
            keep_fraction={spec.name: float(f) for spec, f in zip(layers, row[:-1], strict=True)},
        )
        for row in distinct
    ]
    which = which.reshape(-1)

    def spread(values: list[float], dtype: type = np.float64) -> NDArray:  # type: ignore[type-arg]
        return np.asarray(values, dtype=dtype)[which]

    return _Costs(
        energy_pj=spread([r.energy_pj for r in reports]),
        latency_ns=spread([r.latency_ns for r in reports]),
        area_um2=spread([r.area_um2 for r in reports]),
        tiles=spread([r.tiles for r in reports], np.int64),
        pes=spread([r.pes for r in reports], np.int64),
        energy_breakdown_pj={
            name: spread([r.energy_breakdown_pj[name] for r in reports])
            for name in ENERGY_COMPONENTS
        },
        area_breakdown_um2={
            name: spread([r.area_breakdown_um2[name] for r in reports]) for name in AREA_COMPONENTS
        },
    )
