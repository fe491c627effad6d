"""The crossbar cost model: energy, latency, area and EDAP of a quantized SNN on compute-in-memory.

Python and numpy (never torch). Two engines share one report: ``spikesim`` reproduces SpikeSim's
ELA exactly, ``aware`` extends it with weight/membrane/BN bits, pruning and measured spike
activity. ``estimate_cost`` reports one configuration; ``estimate_batch`` scores a
:class:`ConfigBatch` of many in one call. Shipped presets are package data (``presets/``); see
``docs/cost-model-study.md``.

    >>> from mdsnn_search.hardware import LayerSpec, estimate_cost, load_preset
    >>> layer = LayerSpec("conv", c_in=64, c_out=64, kernel=3, h_in=8, w_in=8, h_out=8, w_out=8)
    >>> report = estimate_cost([layer], load_preset("spikesim_rram_64"), timesteps=1)
    >>> round(report.energy_pj, 4), report.latency_ns
    (53023.1134, 425984.0)
"""

from mdsnn_search.hardware.batch import BatchCost, estimate_batch
from mdsnn_search.hardware.configs import ConfigBatch
from mdsnn_search.hardware.estimate import estimate_cost
from mdsnn_search.hardware.inputs import (
    read_activity,
    read_keep_fraction,
    read_layer_table,
    read_precision,
)
from mdsnn_search.hardware.layers import LayerActivity, LayerKind, LayerSpec
from mdsnn_search.hardware.preset import DEFAULT_PRESET, HardwarePreset, load_preset, preset_names
from mdsnn_search.hardware.report import CostReport, LayerCost
from mdsnn_search.hardware.sensitivity import Sensitivity, sensitivity

__all__ = [
    "DEFAULT_PRESET",
    "BatchCost",
    "ConfigBatch",
    "CostReport",
    "HardwarePreset",
    "LayerActivity",
    "LayerCost",
    "LayerKind",
    "LayerSpec",
    "Sensitivity",
    "estimate_batch",
    "estimate_cost",
    "load_preset",
    "preset_names",
    "read_activity",
    "read_keep_fraction",
    "read_layer_table",
    "read_precision",
    "sensitivity",
]
