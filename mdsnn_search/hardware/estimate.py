"""``estimate_cost``: validate one configuration, map it, and score it with the preset's engine.

The aware engine scores it as a batch of one (:mod:`.aware` is numpy over configurations), so this
report and :func:`~.batch.estimate_batch` apply the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.aware import estimate_aware
from mdsnn_search.hardware.configs import ConfigBatch
from mdsnn_search.hardware.layers import LayerActivity, LayerSpec
from mdsnn_search.hardware.mapping import map_layers, table_geometry
from mdsnn_search.hardware.messages import unknown_layer_message
from mdsnn_search.hardware.preset import HardwarePreset
from mdsnn_search.hardware.report import CostReport
from mdsnn_search.hardware.spikesim import estimate_spikesim
from mdsnn_search.precision import LayerPrecision

_EMPTY: Mapping[str, Any] = {}


def estimate_cost(
    layers: Sequence[LayerSpec],
    preset: HardwarePreset,
    *,
    timesteps: int,
    precision: Mapping[str, LayerPrecision] | None = None,
    keep_fraction: Mapping[str, float] | None = None,
    activity: Mapping[str, LayerActivity] | None = None,
) -> CostReport:
    """Energy, latency, area and figures of merit of a layer table on a crossbar preset.

    ``precision``, ``keep_fraction`` and ``activity`` are keyed by layer name; a layer missing from
    ``precision`` is full precision (W32/U32/BN32), from ``keep_fraction`` unpruned, from
    ``activity`` dense. Activity is used only when the preset's ``activity_mode`` is ``event``.
    Pure and fast: no I/O, no torch. Raises :class:`ConfigError` on any invalid input.
    """
    precision = _EMPTY if precision is None else precision
    keep_fraction = _EMPTY if keep_fraction is None else keep_fraction
    activity = _EMPTY if activity is None else activity
    names = check_layers(layers)
    _check_timesteps(timesteps)
    _check_keys("precision", precision, names)
    _check_keys("keep_fraction", keep_fraction, names)
    _check_keys("activity", activity, names)
    _check_values(precision, keep_fraction, activity)

    conventions = preset.conventions
    mapped = map_layers(
        layers,
        output_side=conventions.output_side,
        include_linear=conventions.include_linear,
        precision=precision,
        keep_fraction=keep_fraction,
        activity=activity,
    )
    if not mapped:
        raise nothing_to_cost(preset)
    stated = stated_conventions(preset, bool(activity), len(mapped) != len(layers))
    if preset.engine == "spikesim":
        return estimate_spikesim(mapped, preset, timesteps, stated)
    geometry = table_geometry(tuple(layers), conventions.output_side, conventions.include_linear)
    batch = ConfigBatch.of(
        layers,
        timesteps=timesteps,
        precision=precision,
        keep_fraction=keep_fraction,
        activity=activity,
    )
    return estimate_aware(mapped, geometry, batch, preset, is_event_mode(preset), stated)


def is_event_mode(preset: HardwarePreset) -> bool:
    """Whether measured spike rates are costed: the aware engine on an ``event`` preset."""
    return preset.engine == "aware" and preset.conventions.activity_mode == "event"


def nothing_to_cost(preset: HardwarePreset) -> ConfigError:
    return ConfigError(
        f"layers: nothing to cost: every layer is linear and preset {preset.name!r} has "
        "include_linear: false"
    )


def stated_conventions(
    preset: HardwarePreset, measured: bool, skipped_linear: bool
) -> dict[str, Any]:
    """What a report states about how it was computed (engines add their own entries)."""
    event = is_event_mode(preset)
    conventions = preset.conventions
    if preset.engine == "spikesim":
        activity = "dense (SpikeSim's ELA has no activity input)"
    elif not event:
        activity = "dense" + (
            " (measured rates ignored: preset activity_mode is dense)" if measured else ""
        )
    else:
        activity = (
            "event (measured input rates; dense where none given)"
            if measured
            else "event, but no rates given: dense"
        )
    return {
        "engine": preset.engine,
        "preset": preset.name,
        "device": preset.device,
        "crossbar_size": preset.crossbar.size,
        "bits_per_cell": preset.crossbar.bits_per_cell,
        "adc_bits": preset.adc.bits,
        "output_side": conventions.output_side,
        "include_linear": conventions.include_linear,
        "linear_layers_skipped": skipped_linear,
        "activity": activity,
    }


def _check_timesteps(timesteps: int) -> None:
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ConfigError(f"timesteps must be an integer >= 1, but got {timesteps!r}")


def check_layers(layers: Sequence[LayerSpec]) -> list[str]:
    """Layer names, after checking the table is non-empty with unique names (LayerSpec checks its
    own fields when it is built)."""
    if not layers:
        raise ConfigError("layers: the layer table is empty")
    names = []
    for i, spec in enumerate(layers):
        if not isinstance(spec, LayerSpec):
            raise ConfigError(f"layers[{i}]: expected a LayerSpec, got {type(spec).__name__}")
        names.append(spec.name)
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ConfigError(
            f"layers: layer names must be unique, but got duplicates {', '.join(duplicates)}"
        )
    return names


def _check_keys(what: str, mapping: Mapping[str, Any], names: list[str]) -> None:
    for key in mapping:
        if key not in names:
            raise ConfigError(unknown_layer_message(what, key, names))


def _check_values(
    precision: Mapping[str, LayerPrecision],
    keep_fraction: Mapping[str, float],
    activity: Mapping[str, LayerActivity],
) -> None:
    for name, value in precision.items():
        if not isinstance(value, LayerPrecision):
            raise ConfigError(
                f"precision[{name}]: expected a LayerPrecision, got {type(value).__name__}"
            )
    for name, fraction in keep_fraction.items():
        if not _is_number(fraction) or not 0.0 < fraction <= 1.0:
            raise ConfigError(f"keep_fraction[{name}]: must lie in (0, 1], but got {fraction!r}")
    for name, rates in activity.items():
        if not isinstance(rates, LayerActivity):  # LayerActivity checks its rates when built
            raise ConfigError(
                f"activity[{name}]: expected a LayerActivity, got {type(rates).__name__}"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
