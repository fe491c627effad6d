"""How much each searched knob moves energy, latency, area and EDAP around one configuration.

Each knob is stepped down on its own (bits halved, half the channels of every spiking layer kept,
half the timesteps, half the input spikes) and every variant is scored in one
:func:`~.batch.estimate_batch` call. ``mdsnn-search cost --sensitivity`` prints the table; the rule
column names the aware-model rule (:mod:`.aware`) that makes the knob move the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.batch import estimate_batch
from mdsnn_search.hardware.configs import ConfigBatch
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.hardware.preset import HardwarePreset


@dataclass(frozen=True)
class Sensitivity:
    """One knob stepped down from the base: relative changes (-0.25 = 25 % lower)."""

    knob: str
    change: str
    energy: float
    latency: float
    area: float
    edap: float
    rule: str


@dataclass(frozen=True)
class _Knob:
    name: str
    field: str
    label: str
    """How the change column names a value (or a range ``2..8``), e.g. ``W{}``."""
    step: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """New values of ``field`` from the old ones and the spiking mask of the layers."""
    rule: str
    ignored_by_spikesim: bool


def _halve_bits(bits: np.ndarray, spiking: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(bits, dtype=np.int64) // 2, 1)


KNOBS = (
    _Knob("weight bits", "w_bits", "W{}", _halve_bits,
          "1-2, 4-6: fewer cells per weight or ADC bits: conversions, partial-sum width, cycle, "
          "ADC area", True),
    _Knob("membrane bits", "u_bits", "U{}", _halve_bits,
          "7: b_u-bit read-modify-write per neuron; b_u bits of neuron memory per neuron", True),
    _Knob("BN bits", "bn_bits", "BN{}", _halve_bits,
          "8: integer multiply-add (~bits^2) per neuron and timestep; b_bn-bit parameters per "
          "channel", True),
    _Knob("kept channels", "keep_fraction", "keep {}",
          lambda keep, spiking: np.where(spiking, keep / 2, keep),
          "1, 3, 6, 7: fewer columns, conversions, neurons and PEs here, fewer rows in the next "
          "layer", False),
    _Knob("timesteps", "timesteps", "T{}", lambda t, spiking: np.maximum(1, t // 2),
          "every energy term and the latency are per timestep", False),
    _Knob("input spikes", "input_rate", "rate {}", lambda rate, spiking: rate / 2,
          "3-4 (event mode): silent rows draw no read and send no spike; silent patches skip "
          "conversions", True),
)  # fmt: skip


def sensitivity(
    layers: Sequence[LayerSpec], preset: HardwarePreset, base: ConfigBatch
) -> list[Sensitivity]:
    """Every knob of :data:`KNOBS` stepped down from ``base`` (a batch of one configuration)."""
    if len(base) != 1:
        raise ConfigError(f"sensitivity: the base must be one configuration, but got {len(base)}")
    spiking = np.array([spec.spiking for spec in layers])
    variants = [_stepped(base, knob, spiking) for knob in KNOBS]
    costs = estimate_batch(layers, preset, ConfigBatch.concat([base, *variants]))
    rows = []
    for i, (knob, variant) in enumerate(zip(KNOBS, variants, strict=True), start=1):
        rows.append(
            Sensitivity(
                knob=knob.name,
                change=_change(knob, getattr(base, knob.field), getattr(variant, knob.field)),
                energy=_relative(costs.energy_pj, i),
                latency=_relative(costs.latency_ns, i),
                area=_relative(costs.area_um2, i),
                edap=_relative(costs.edap, i),
                rule=_rule(knob, preset),
            )
        )
    return rows


def _relative(values: np.ndarray, i: int) -> float:
    """Change of ``values[i]`` against the base ``values[0]`` (0 where both are 0: a silent
    network)."""
    return 0.0 if values[0] == 0.0 == values[i] else float(values[i] / values[0] - 1.0)


def _rule(knob: _Knob, preset: HardwarePreset) -> str:
    if knob.ignored_by_spikesim and preset.engine == "spikesim":
        return "ignored: SpikeSim's ELA has no such input"
    if knob.field == "input_rate" and preset.conventions.activity_mode != "event":
        return "ignored: the preset's activity_mode is dense"
    return knob.rule


def _stepped(base: ConfigBatch, knob: _Knob, spiking: np.ndarray) -> ConfigBatch:
    fields = {
        name: getattr(base, name)
        for name in ("w_bits", "u_bits", "bn_bits", "keep_fraction", "input_rate")
    }
    fields["timesteps"] = base.timesteps
    fields[knob.field] = knob.step(getattr(base, knob.field), spiking)
    return ConfigBatch(**fields)


def _change(knob: _Knob, before: np.ndarray, after: np.ndarray) -> str:
    """``W4 -> W2`` over the values that changed (``W2..W8`` where layers differ)."""
    moved = before != after
    if not moved.any():
        return f"{_span(knob, before)} (already at its floor)"
    return f"{_span(knob, before[moved])} -> {_span(knob, after[moved])}"


def _span(knob: _Knob, values: np.ndarray) -> str:
    low, high = (f"{value:.3g}" for value in (values.min(), values.max()))
    return knob.label.format(low if low == high else f"{low}..{high}")
