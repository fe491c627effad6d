"""Per-layer precision: the bit-widths a student layer is quantized to.

Torch-free, because both the SNN builders and the crossbar cost model read it. A layer is
addressed by its stable name (``features.0``, ``classifier``); a :class:`PrecisionConfig` gives a
default and per-layer overrides by exact name or shell-style pattern, in the spirit of torchao's
``FqnToConfig``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

FULL_PRECISION_BITS = 32
"""Bits meaning "not quantized". Any width >= :data:`MIN_FP_BITS` is treated as full precision."""

MIN_FP_BITS = 16


def is_full_precision(bits: int) -> bool:
    return bits >= MIN_FP_BITS


class LayerPrecision(BaseModel):
    """Bit-widths of one layer: weights, stored membrane potential, folded batch norm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_bits: int = Field(FULL_PRECISION_BITS, ge=1, le=32, description="weight bits")
    u_bits: int = Field(FULL_PRECISION_BITS, ge=1, le=32, description="membrane-potential bits")
    bn_bits: int = Field(FULL_PRECISION_BITS, ge=1, le=32, description="folded batch-norm bits")

    @classmethod
    def uniform(cls, w_bits: int, u_bits: int, bn_bits: int) -> LayerPrecision:
        return cls(w_bits=w_bits, u_bits=u_bits, bn_bits=bn_bits)

    @property
    def label(self) -> str:
        """Short form used in tables, e.g. ``W4/U4/BN8``."""
        return f"W{self.w_bits}/U{self.u_bits}/BN{self.bn_bits}"


class LayerPrecisionOverride(BaseModel):
    """Some of a layer's bit-widths; unset fields fall back to the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_bits: int | None = Field(None, ge=1, le=32)
    u_bits: int | None = Field(None, ge=1, le=32)
    bn_bits: int | None = Field(None, ge=1, le=32)


class PrecisionConfig(BaseModel):
    """A default precision plus per-layer overrides (exact names or fnmatch patterns).

    Overrides apply in the order written; a later match wins, so ``"*": ...`` followed by
    ``classifier: {w_bits: 32}`` reads naturally.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: LayerPrecision = LayerPrecision()
    layers: dict[str, LayerPrecisionOverride] = Field(default_factory=dict)

    def for_layer(self, name: str) -> LayerPrecision:
        """Precision of the layer called ``name``: the default with every matching override applied."""
        precision = self.default
        for pattern, override in self.layers.items():
            if name == pattern or fnmatch.fnmatchcase(name, pattern):
                precision = precision.model_copy(update=override.model_dump(exclude_none=True))
        return precision

    def unmatched_patterns(self, layer_names: Iterable[str]) -> list[str]:
        """Override keys that match none of ``layer_names`` (most likely typos)."""
        names = list(layer_names)
        return [
            pattern
            for pattern in self.layers
            if not any(n == pattern or fnmatch.fnmatchcase(n, pattern) for n in names)
        ]

    def resolve(self, layer_names: Iterable[str]) -> dict[str, LayerPrecision]:
        """Precision of every named layer. Raises ValueError if an override matches no layer."""
        names = list(layer_names)
        unmatched = self.unmatched_patterns(names)
        if unmatched:
            raise ValueError(
                f"precision override {unmatched[0]!r} matches no layer (layers: {', '.join(names)})"
            )
        return {name: self.for_layer(name) for name in names}

    @classmethod
    def uniform(cls, w_bits: int, u_bits: int, bn_bits: int) -> PrecisionConfig:
        return cls(default=LayerPrecision.uniform(w_bits, u_bits, bn_bits))
