"""A batch of configurations of one layer table: per-layer knobs as numpy arrays.

What a search varies, for N configurations over the L layers of a table (in table order, every
layer, costed or not): weight, membrane and BN bits, kept output-channel fractions, measured input
spike rates ([N, L] each) and timesteps ([N]). One configuration is a batch of one; that is how
``estimate_cost`` scores, so the scalar and the batch paths apply the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.layers import LayerActivity, LayerSpec
from mdsnn_search.precision import FULL_PRECISION_BITS, LayerPrecision

_BITS = ("w_bits", "u_bits", "bn_bits")


@dataclass(frozen=True)
class ConfigBatch:
    """N configurations of an L-layer table, every field checked on construction. Build it with
    :meth:`from_arrays` (broadcasts scalars and per-layer rows) or :meth:`of` (one configuration
    from per-layer mappings)."""

    w_bits: NDArray[np.int64]
    """[N, L] weight bits (32: full precision)."""
    u_bits: NDArray[np.int64]
    """[N, L] stored membrane bits."""
    bn_bits: NDArray[np.int64]
    """[N, L] folded batch-norm bits."""
    keep_fraction: NDArray[np.float64]
    """[N, L] fraction of output channels kept, in (0, 1]."""
    input_rate: NDArray[np.float64]
    """[N, L] measured input spike rate in [0, 1]; 1 where none was measured (dense)."""
    timesteps: NDArray[np.int64]
    """[N] timesteps."""

    def __post_init__(self) -> None:
        shape = np.shape(self.w_bits)
        if len(shape) != 2:
            raise ConfigError(f"w_bits: expected [N, L], got shape {shape}")
        for name in _BITS:
            object.__setattr__(self, name, _integers(name, np.asarray(getattr(self, name)), shape))
        object.__setattr__(
            self, "keep_fraction", _fractions("keep_fraction", self.keep_fraction, shape, True)
        )
        object.__setattr__(
            self, "input_rate", _fractions("input_rate", self.input_rate, shape, False)
        )
        object.__setattr__(self, "timesteps", _timesteps(np.asarray(self.timesteps), shape[0]))

    def __len__(self) -> int:
        return int(self.timesteps.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.w_bits.shape[1])

    @classmethod
    def from_arrays(
        cls,
        n_layers: int,
        *,
        timesteps: ArrayLike,
        w_bits: ArrayLike = FULL_PRECISION_BITS,
        u_bits: ArrayLike = FULL_PRECISION_BITS,
        bn_bits: ArrayLike = FULL_PRECISION_BITS,
        keep_fraction: ArrayLike = 1.0,
        input_rate: ArrayLike = 1.0,
    ) -> ConfigBatch:
        """Broadcast each knob to [N, L]: a scalar (every layer of every configuration), an [L] row
        (every configuration) or [N, L]; ``timesteps`` a scalar or [N]."""
        knobs = {
            "w_bits": np.asarray(w_bits),
            "u_bits": np.asarray(u_bits),
            "bn_bits": np.asarray(bn_bits),
            "keep_fraction": np.asarray(keep_fraction),
            "input_rate": np.asarray(input_rate),
        }
        t = np.atleast_1d(np.asarray(timesteps))
        for name, value in knobs.items():
            if value.ndim > 2 or (value.ndim >= 1 and value.shape[-1] != n_layers):
                raise ConfigError(
                    f"{name}: expected a scalar, [{n_layers}] or [N, {n_layers}], got shape "
                    f"{value.shape}"
                )
        if t.ndim != 1:
            raise ConfigError(f"timesteps: expected a scalar or [N], got shape {t.shape}")
        leading = [value.shape[:1] for value in knobs.values() if value.ndim == 2]
        try:
            (n,) = np.broadcast_shapes(t.shape, *leading)
        except ValueError:
            shapes = {name: value.shape for name, value in knobs.items()}
            raise ConfigError(
                f"configurations disagree on N: timesteps {t.shape}, {shapes}"
            ) from None
        shape = (n, n_layers)
        return cls(
            **{name: np.broadcast_to(value, shape) for name, value in knobs.items()},
            timesteps=np.broadcast_to(t, (n,)),
        )

    @classmethod
    def of(
        cls,
        layers: Sequence[LayerSpec],
        *,
        timesteps: int,
        precision: Mapping[str, LayerPrecision] | None = None,
        keep_fraction: Mapping[str, float] | None = None,
        activity: Mapping[str, LayerActivity] | None = None,
    ) -> ConfigBatch:
        """One configuration from per-layer mappings, as :func:`~.estimate.estimate_cost` takes it:
        a layer missing from ``precision`` is full precision, from ``keep_fraction`` unpruned, from
        ``activity`` dense. Keys are assumed checked against the table."""
        full = LayerPrecision()
        chosen = [(precision or {}).get(spec.name, full) for spec in layers]
        measured = activity or {}
        return cls(
            w_bits=np.array([[p.w_bits for p in chosen]], dtype=np.int64),
            u_bits=np.array([[p.u_bits for p in chosen]], dtype=np.int64),
            bn_bits=np.array([[p.bn_bits for p in chosen]], dtype=np.int64),
            keep_fraction=np.array(
                [[(keep_fraction or {}).get(spec.name, 1.0) for spec in layers]], dtype=np.float64
            ),
            input_rate=np.array(
                [
                    [
                        measured[spec.name].input_rate if spec.name in measured else 1.0
                        for spec in layers
                    ]
                ],
                dtype=np.float64,
            ),
            timesteps=np.array([timesteps]),
        )

    @classmethod
    def concat(cls, batches: Sequence[ConfigBatch]) -> ConfigBatch:
        """One batch of all the configurations of ``batches``, in order."""
        if not batches:
            raise ConfigError("no configurations to concatenate")
        if len({batch.n_layers for batch in batches}) != 1:
            raise ConfigError(
                f"batches differ in layers: {sorted({batch.n_layers for batch in batches})}"
            )
        fields = ("w_bits", "u_bits", "bn_bits", "keep_fraction", "input_rate", "timesteps")
        return cls(
            **{name: np.concatenate([getattr(batch, name) for batch in batches]) for name in fields}
        )


def _integers(name: str, value: np.ndarray, shape: tuple[int, ...]) -> NDArray[np.int64]:
    if value.shape != shape:
        raise ConfigError(f"{name}: expected shape {shape} like w_bits, got {value.shape}")
    if value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.integer):
        raise ConfigError(f"{name}: bits must be integers, got dtype {value.dtype}")
    if value.size and (value.min() < 1 or value.max() > FULL_PRECISION_BITS):
        raise ConfigError(
            f"{name}: bits must lie in [1, {FULL_PRECISION_BITS}], but got "
            f"{value.min()}..{value.max()}"
        )
    return value.astype(np.int64, copy=False)


def _fractions(
    name: str, value: ArrayLike, shape: tuple[int, ...], low_open: bool
) -> NDArray[np.float64]:
    array = np.asarray(value)
    if array.shape != shape:
        raise ConfigError(f"{name}: expected shape {shape} like w_bits, got {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ConfigError(f"{name}: expected numbers, got dtype {array.dtype}")
    floats = array.astype(np.float64, copy=False)
    inside = (floats > 0.0 if low_open else floats >= 0.0) & (floats <= 1.0)
    if not np.all(inside):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ConfigError(
            f"{name}: values must lie in {interval}, but got {float(floats[~inside].flat[0])!r}"
        )
    return floats


def _timesteps(value: np.ndarray, n: int) -> NDArray[np.int64]:
    if value.shape != (n,):
        raise ConfigError(
            f"timesteps: expected shape ({n},), one per configuration, got {value.shape}"
        )
    if (
        value.dtype == np.bool_
        or not np.issubdtype(value.dtype, np.integer)
        or (value.size and value.min() < 1)
    ):
        raise ConfigError(f"timesteps must be integers >= 1, but got {value.tolist()!r}")
    return value.astype(np.int64, copy=False)
