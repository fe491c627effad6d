"""One configuration of the supernet: per-layer precision and keep ratio, T_s, thresholds.

It reads as the ``{layer: LayerPrecision}`` mapping that ``PrecisionConfig.resolve`` gives (what
the cost model's precision columns take), and carries the two elastic dimensions beside it.
Keep ratios go to the cost model unchanged as ``keep_fraction``: the cost model keeps
``max(1, round(r x C))`` channels of a layer, exactly the ``kept_count(r, C)`` the supernet's mask
keeps (:mod:`mdsnn_search.snn.pruning`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mdsnn_search.precision import LayerPrecision


@dataclass(frozen=True, eq=False)
class SubnetConfig(Mapping[str, LayerPrecision]):
    """``precision`` of every weight layer by name; ``keep_ratio`` of every weight layer (1.0
    for a layer that keeps all its channels, and for every layer without a neuron); ``timesteps``
    the student's T_s (None: the data's T); ``learnable_threshold``: learnt thresholds (LT-SNN)."""

    precision: Mapping[str, LayerPrecision]
    keep_ratio: Mapping[str, float]
    timesteps: int | None = None
    learnable_threshold: bool = False

    def __getitem__(self, name: str) -> LayerPrecision:
        return self.precision[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.precision)

    def __len__(self) -> int:
        return len(self.precision)

    def run_timesteps(self, data_timesteps: int) -> int:
        """Steps the configuration runs on data of ``data_timesteps`` frames (what the cost
        model charges)."""
        return data_timesteps if self.timesteps is None else min(self.timesteps, data_timesteps)

    @classmethod
    def full(cls, precision: Mapping[str, LayerPrecision]) -> SubnetConfig:
        """``precision`` with every channel kept, at the data's T."""
        return cls(precision, dict.fromkeys(precision, 1.0))
