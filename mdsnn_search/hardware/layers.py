"""The layer table: what the cost model needs to know of a network, and nothing more.

Produced by the SNN model builders (``mdsnn_search.snn.layer_table``) or read from a YAML/JSON
file; consumed by the crossbar cost model. Pure Python: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

from mdsnn_search.errors import ConfigError

LayerKind = Literal["conv", "linear"]


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer mapped onto crossbars.

    ``h_out``/``w_out`` are the real conv output sides (before any pooling). A linear layer is a
    1x1 conv on a 1x1 input. ``spiking`` says whether the layer's output feeds a LIF neuron (the
    classifier head usually does not). ``pool`` is the pooling factor applied to the layer's output
    (2 for a 2x2 max pool), needed only for SpikeSim's "pooled output side" convention; ``None``
    means "not stated": the cost model then infers it from the next layer's input side.
    """

    name: str
    c_in: int
    c_out: int
    kernel: int
    h_in: int
    w_in: int
    h_out: int
    w_out: int
    spiking: bool = True
    kind: LayerKind = "conv"
    pool: int | None = None

    def __post_init__(self) -> None:
        # Checked once here, so the cost model need not re-check a table on every call.
        for field in ("c_in", "c_out", "kernel", "h_in", "w_in", "h_out", "w_out"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ConfigError(
                    f"layer {self.name!r}: {field} must be an integer >= 1, but got {value!r}"
                )
        pool = self.pool
        if pool is not None and (
            isinstance(pool, bool) or not isinstance(pool, Integral) or pool < 1
        ):
            raise ConfigError(
                f"layer {self.name!r}: pool must be an integer >= 1, but got {self.pool!r}"
            )
        if self.kind not in ("conv", "linear"):
            raise ConfigError(
                f"layer {self.name!r}: kind must be 'conv' or 'linear', but got {self.kind!r}"
            )

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of one timestep."""
        return self.c_in * self.kernel * self.kernel * self.c_out * self.h_out * self.w_out


@dataclass(frozen=True)
class LayerActivity:
    """Measured spike rates of one layer, each the fraction of (neuron, timestep) pairs active.

    ``input_rate`` is the rate of the spikes the layer reads (the crossbar rows driven);
    ``output_rate`` that of the spikes its neurons emit.
    """

    input_rate: float
    output_rate: float

    def __post_init__(self) -> None:
        for field in ("input_rate", "output_rate"):
            rate = getattr(self, field)
            if (
                isinstance(rate, bool)
                or not isinstance(rate, Real)
                or not 0.0 <= float(rate) <= 1.0
            ):
                raise ConfigError(f"{field} must be a number in [0, 1], but got {rate!r}")
