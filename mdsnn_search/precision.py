"""Per-layer precision: the bit-widths a student layer is quantized to.

Torch-free, because both the SNN builders and the crossbar cost model read it. A layer is
addressed by its stable name (``features.0``, ``classifier``); a :class:`PrecisionConfig` gives a
default and per-layer overrides by exact name or shell-style pattern, in the spirit of torchao's
``FqnToConfig``.

The membrane is either uniform (``u_bits``, a symmetric b-bit grid with a learnt range) or
integer-level (``u_levels``, SpQuant-SNN): n levels ``2-n, ..., 0, 1`` in units of the firing
threshold, so 3 is the ternary "1.58-bit" membrane {-1, 0, 1} and 5 is {-3, ..., 1}. Either way
``u_bits`` is the word the neuron memory stores, which is all the cost model reads: for an
integer membrane it is derived, ``ceil(log2(n))``, and cannot be set to anything else.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

FULL_PRECISION_BITS = 32
"""Bits meaning "not quantized". Any width >= :data:`MIN_FP_BITS` is treated as full precision."""

MIN_FP_BITS = 16


MAX_INTEGER_LEVELS = 256
"""Most levels an integer membrane may have (an 8-bit word)."""

BitWidth = Annotated[int, Strict(), Field(ge=1, le=FULL_PRECISION_BITS)]
"""A bit-width, 1..32, written as an integer: strict, because YAML ``true`` would otherwise read
as a 1-bit layer and ``4.0`` as 4."""


def is_full_precision(bits: int) -> bool:
    return bits >= MIN_FP_BITS


def matches_layer(name: str, pattern: str) -> bool:
    """Whether a per-layer setting keyed by ``pattern`` (an exact name or an fnmatch pattern)
    applies to layer ``name``: the one addressing rule of every per-layer config."""
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def integer_membrane_bits(levels: int) -> int:
    """Bits a memory word needs to hold one of ``levels`` integer levels: ``ceil(log2(levels))``."""
    return math.ceil(math.log2(levels))


def integer_membrane_lower(levels: int) -> int:
    """Lowest level lb of a ``levels``-level integer membrane whose top level is the threshold 1."""
    return 2 - levels


def membrane_code(u_bits: int, u_levels: int | None = None) -> str:
    """A membrane choice as the search space offers it and the supernet keys it: ``u4`` for a
    4-bit uniform membrane, ``int3`` for three integer levels (:func:`parse_membrane_code`
    reads it back)."""
    return f"int{u_levels}" if u_levels is not None else f"u{u_bits}"


def parse_membrane_code(code: str) -> dict[str, int]:
    """``{"u_levels": n}`` for ``intN``, ``{"u_bits": b}`` for ``uB``."""
    if code.startswith("int"):
        return {"u_levels": int(code.removeprefix("int"))}
    if code.startswith("u"):
        return {"u_bits": int(code.removeprefix("u"))}
    raise ValueError(f"membrane code {code!r} is neither uB nor intN")


def _check_integer_bits(data: Any, *, derive: bool) -> Any:
    """An integer membrane's ``u_bits`` is ``ceil(log2(u_levels))``: fill it in or refuse others."""
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("u_levels"), int)
        or isinstance(data["u_levels"], bool)
    ):
        return data
    levels = data["u_levels"]
    if not 2 <= levels <= MAX_INTEGER_LEVELS:
        return data  # the field's own bounds report it
    bits = integer_membrane_bits(levels)
    given = data.get("u_bits")
    if given is None:
        return {**data, "u_bits": bits} if derive else data
    if given != bits:
        raise ValueError(
            f"an integer membrane of u_levels={levels} is stored in "
            f"ceil(log2({levels})) = {bits} bits, so u_bits "
            f"must be {bits} or left out, but got u_bits={given}"
        )
    return data


class LayerPrecision(BaseModel):
    """Bit-widths of one layer: weights, stored membrane potential, folded batch norm.

    ``u_levels`` set makes the membrane integer-level (see the module docstring); ``u_bits`` is
    then derived from it, so every reader of ``u_bits`` (the cost model above all) charges the
    bits the levels need without knowing about membrane modes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_bits: BitWidth = Field(FULL_PRECISION_BITS, description="weight bits")
    u_bits: BitWidth = Field(
        FULL_PRECISION_BITS,
        description="stored membrane-potential bits (derived when u_levels is set)",
    )
    bn_bits: BitWidth = Field(FULL_PRECISION_BITS, description="folded batch-norm bits")
    u_levels: int | None = Field(
        None,
        ge=2,
        le=MAX_INTEGER_LEVELS,
        description="integer-level membrane with this many levels 2-n..1 in threshold units "
        "(3: ternary {-1,0,1}, 5: -3..1); None: the uniform u_bits membrane",
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_integer_bits(cls, data: Any) -> Any:
        return _check_integer_bits(data, derive=True)

    @classmethod
    def uniform(cls, w_bits: int, u_bits: int, bn_bits: int) -> LayerPrecision:
        return cls(w_bits=w_bits, u_bits=u_bits, bn_bits=bn_bits)

    def label(self, *, membrane: bool = True, bn: bool = True) -> str:
        """Short form used in tables, e.g. ``W4/U4/BN8``, of the parts a layer has: a classifier
        with no neuron and no batch norm reads ``W4``. An integer membrane reads ``U3lv``."""
        parts = [f"W{self.w_bits}"]
        if membrane:
            parts.append(f"U{self.u_bits}" if self.u_levels is None else f"U{self.u_levels}lv")
        if bn:
            parts.append(f"BN{self.bn_bits}")
        return "/".join(parts)

    def with_override(self, override: LayerPrecisionOverride) -> LayerPrecision:
        """This precision with the fields ``override`` sets replaced.

        The membrane is one setting: an override naming ``u_levels`` makes it integer-level (and
        sets ``u_bits`` to the bits the levels need); one naming only ``u_bits`` makes it uniform.
        """
        update = override.model_dump(exclude_none=True)
        if "u_levels" in update:
            update["u_bits"] = integer_membrane_bits(update["u_levels"])
        elif "u_bits" in update:
            update["u_levels"] = None
        return self.model_copy(update=update)


class LayerPrecisionOverride(BaseModel):
    """Some of a layer's bit-widths; unset fields fall back to the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_bits: BitWidth | None = None
    u_bits: BitWidth | None = None
    bn_bits: BitWidth | None = None
    u_levels: int | None = Field(None, ge=2, le=MAX_INTEGER_LEVELS)

    @model_validator(mode="before")
    @classmethod
    def _consistent_integer_bits(cls, data: Any) -> Any:
        return _check_integer_bits(data, derive=False)


class PrecisionConfig(BaseModel):
    """A default precision plus per-layer overrides (exact names or fnmatch patterns).

    Overrides apply in the order written; a later match wins, so ``"*": ...`` followed by
    ``classifier: {w_bits: 32}`` reads naturally.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: LayerPrecision = LayerPrecision()
    layers: dict[str, LayerPrecisionOverride] = Field(default_factory=dict)

    def for_layer(self, name: str) -> LayerPrecision:
        """Precision of the layer ``name``: the default with every matching override applied."""
        precision = self.default
        for pattern, override in self.layers.items():
            if matches_layer(name, pattern):
                precision = precision.with_override(override)
        return precision

    def unmatched_patterns(self, layer_names: Iterable[str]) -> list[str]:
        """Override keys that match none of ``layer_names`` (most likely typos)."""
        names = list(layer_names)
        return [
            pattern for pattern in self.layers if not any(matches_layer(n, pattern) for n in names)
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
