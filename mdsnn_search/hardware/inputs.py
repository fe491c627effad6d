"""Reading the cost model's inputs from YAML/JSON files, with errors that name the file and field.

Formats (JSON is the same structure):

- layer table: a list (or ``{layers: [...]}``) of ``{name, c_in, c_out, kernel, h_in, h_out}`` with
  optional ``w_in``/``w_out`` (default: square), ``kind`` (conv | linear), ``spiking`` (default:
  true for conv, false for linear) and ``pool`` (pooling factor after the layer);
- precision: a :class:`~mdsnn_search.precision.PrecisionConfig` (``default`` + per-layer ``layers``
  overrides by name or pattern);
- activity: ``{layer name: {input_rate: r, output_rate: r}}``;
- keep fractions: ``{layer name: fraction}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mdsnn_search.errors import ConfigError
from mdsnn_search.files import read_document, read_mapping
from mdsnn_search.hardware.layers import LayerActivity, LayerKind, LayerSpec
from mdsnn_search.hardware.messages import unknown_layer_message, validation_message
from mdsnn_search.precision import LayerPrecision, PrecisionConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LayerEntry(_Strict):
    """One layer of a layer-table file."""

    name: str | None = None
    c_in: int = Field(ge=1)
    c_out: int = Field(ge=1)
    kernel: int = Field(ge=1)
    h_in: int = Field(ge=1)
    h_out: int = Field(ge=1)
    w_in: int | None = Field(None, ge=1)
    w_out: int | None = Field(None, ge=1)
    kind: LayerKind = "conv"
    spiking: bool | None = None
    pool: int | None = Field(None, ge=1)

    def to_spec(self, index: int) -> LayerSpec:
        return LayerSpec(
            name=self.name if self.name is not None else f"layer{index}",
            c_in=self.c_in,
            c_out=self.c_out,
            kernel=self.kernel,
            h_in=self.h_in,
            w_in=self.w_in if self.w_in is not None else self.h_in,
            h_out=self.h_out,
            w_out=self.w_out if self.w_out is not None else self.h_out,
            spiking=self.spiking if self.spiking is not None else self.kind == "conv",
            kind=self.kind,
            pool=self.pool,
        )


class _LayerFile(_Strict):
    layers: list[LayerEntry] = Field(min_length=1)


class _Rates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_rate: float = Field(ge=0.0, le=1.0)
    output_rate: float = Field(ge=0.0, le=1.0)


_ACTIVITY = TypeAdapter(dict[str, _Rates])
_KEEP = TypeAdapter(dict[str, float])


def read_layer_table(path: str | Path) -> list[LayerSpec]:
    """A layer table from a file; names default to ``layer0``, ``layer1``, ... and must be
    unique."""
    document = read_document(path)
    if isinstance(document, list):
        document = {"layers": document}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a list of layers, got {type(document).__name__}")
    try:
        entries = _LayerFile.model_validate(document).layers
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    specs = [entry.to_spec(i) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{path}: layer name {spec.name!r} appears twice")
        seen.add(spec.name)
    return specs


def read_precision(path: str | Path, layer_names: Sequence[str]) -> dict[str, LayerPrecision]:
    """Per-layer precision from a PrecisionConfig file, resolved against the layer names."""
    data = read_mapping(path)
    try:
        config = PrecisionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    try:
        return config.resolve(layer_names)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def read_activity(path: str | Path, layer_names: Sequence[str]) -> dict[str, LayerActivity]:
    """Measured spike rates per layer (``{name: {input_rate, output_rate}}``)."""
    rates = _validated(path, _ACTIVITY, layer_names, "activity")
    return {
        name: LayerActivity(input_rate=r.input_rate, output_rate=r.output_rate)
        for name, r in rates.items()
    }


def read_keep_fraction(path: str | Path, layer_names: Sequence[str]) -> dict[str, float]:
    """Kept output-channel fraction per layer (``{name: fraction in (0, 1]}``)."""
    fractions: dict[str, float] = _validated(path, _KEEP, layer_names, "keep fraction")
    for name, fraction in fractions.items():
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(
                f"{path}: {name}: keep fraction must lie in (0, 1], but got {fraction!r}"
            )
    return fractions


def _validated(
    path: str | Path, adapter: TypeAdapter[Any], layer_names: Sequence[str], what: str
) -> Any:
    data = read_mapping(path)
    try:
        value = adapter.validate_python(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    for name in value:
        if name not in layer_names:
            raise ConfigError(f"{path}: {unknown_layer_message(what, name, layer_names)}")
    return value
