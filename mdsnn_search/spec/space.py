"""The search space as an Optuna define-by-run function, and the uniform baselines.

A trial's student is a :class:`StudentConfig`: per-layer precision plus the distillation settings,
and SpQuant-SNN's dimensions when the space opens them (pruning, learnable threshold, T_s).
Parameter names are stable and readable in the dashboard: ``w_bits:conv2`` (or ``w_bits`` when
layers are tied), ``distill:conv3``, ``membrane_weight``... With ``u_levels`` choices the membrane
is one categorical ``membrane:conv2`` over ``u2``, ``u4``... (uniform bits) and ``int3``,
``int5``... (integer levels); ``keep_ratio:conv2``, ``learnable_threshold`` and ``timesteps`` are
sampled only when they have more than one choice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from pydantic import BaseModel, ConfigDict, Field

from mdsnn_search.data import DataConfig
from mdsnn_search.data.config import STATIC_DATASETS
from mdsnn_search.distill import DistillConfig
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.precision import (
    LayerPrecision,
    LayerPrecisionOverride,
    PrecisionConfig,
    is_full_precision,
    matches_layer,
)
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.in_the_loop import CrossbarLoopConfig
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.spec.schema import (
    FloatDimension,
    FloatRange,
    HardwareConfig,
    SearchSpaceConfig,
)

BASELINES: dict[str, LayerPrecision] = {
    "fp32": LayerPrecision.uniform(32, 32, 32),
    "w8u8": LayerPrecision.uniform(8, 8, 8),
    "w4u4": LayerPrecision.uniform(4, 4, 8),
    "w2u2": LayerPrecision.uniform(2, 2, 8),
}
"""Uniform configurations every study evaluates first. Quantized baselines are trained like
searched trials with MD-SNN's plain recipe: every spiking layer distilled, no logit KD."""


class StudentConfig(BaseModel):
    """What one trial trains: stored in the study and written back out by ``export``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision: PrecisionConfig
    distill: DistillConfig
    pruning: PruningConfig = PruningConfig()
    timesteps: int | None = Field(None, ge=1, description="student T_s; None: the data's T")
    learnable_threshold: bool = False
    adc_bits: int | None = Field(
        None, ge=1, description="ADC resolution of every mapped layer; None: the preset's"
    )

    def model_for(self, model: ModelConfig, data: DataConfig) -> ModelConfig:
        """The study's ``model`` section as this student: what a trial trains and ``export`` writes.

        A student below the data's T takes the first T_s frames of still images (direct or Poisson
        coding) and re-bins event frames in windows (see :mod:`mdsnn_search.snn.timesteps`).
        """
        update: dict[str, Any] = {
            "precision": self.precision,
            "pruning": self.pruning,
            "neuron": model.neuron.model_copy(
                update={"learnable_threshold": self.learnable_threshold}
            ),
            "timesteps": self.timesteps,
        }
        if self.timesteps is not None:
            update["frame_merge"] = "first" if data.name in STATIC_DATASETS else "mean"
        return model.model_copy(update=update)

    def crossbar_for(self, hardware: HardwareConfig) -> CrossbarLoopConfig | None:
        """This student's crossbar in the loop, when the study asks for it: the study's preset
        at the student's ADC bits. What a trial trains with and ``export`` writes."""
        if not hardware.in_the_loop:
            return None
        return CrossbarLoopConfig(
            preset=hardware.preset, adc_bits=self.adc_bits, adc_range=hardware.adc_range
        )


@dataclass(frozen=True)
class LayerRoles:
    """Which of a network's layers carry which searchable knobs."""

    layers: list[str]
    """Every weight layer, in forward order."""
    spiking: list[str]
    """Layers with their own neuron (a membrane to quantize and to distil), in forward order."""
    with_bn: set[str]
    """Conv layers (they have batch norm to fold); linear layers have none."""

    @classmethod
    def from_table(cls, table: list[LayerSpec]) -> LayerRoles:
        return cls(
            layers=[row.name for row in table],
            spiking=[row.name for row in table if row.spiking],
            with_bn={row.name for row in table if row.kind == "conv"},
        )

    def knobs(self, name: str) -> list[str]:
        """The precision fields that mean something for layer ``name``."""
        return (
            ["w_bits"]
            + (["u_bits"] if name in self.spiking else [])
            + (["bn_bits"] if name in self.with_bn else [])
        )


def pinned_fields(name: str, space: SearchSpaceConfig) -> dict[str, int]:
    """Bits ``fixed_layers`` pins for layer ``name`` (later patterns win)."""
    pinned: dict[str, int] = {}
    for pattern, override in space.fixed_layers.items():
        if matches_layer(name, pattern):
            pinned.update(override.model_dump(exclude_none=True))
    return pinned


def suggest_student(
    trial: optuna.Trial, space: SearchSpaceConfig, roles: LayerRoles
) -> StudentConfig:
    """Sample one student. Bits that ``fixed_layers`` pins, and dimensions the space fixes, are
    not sampled (and so are no parameters); every other knob of every layer is."""
    choices = {"w_bits": space.w_bits, "u_bits": space.u_bits, "bn_bits": space.bn_bits}
    overrides: dict[str, LayerPrecisionOverride] = {}
    keep: dict[str, float] = {}
    for name in roles.layers:
        bits: dict[str, int] = pinned_fields(name, space)
        suffix = "" if space.tie_layers else f":{name}"
        for knob in roles.knobs(name):
            if knob == "u_bits" and ("u_bits" in bits or "u_levels" in bits):
                continue  # the membrane is pinned, uniform or integer
            if knob == "u_bits" and space.u_levels:
                bits.update(_membrane(trial, f"membrane{suffix}", space))
            elif knob not in bits:
                bits[knob] = _bits(trial, f"{knob}{suffix}", choices[knob])
        overrides[name] = LayerPrecisionOverride(**bits)
        if name in roles.spiking:
            keep[name] = _float(trial, f"keep_ratio{suffix}", space.keep_ratio)
    precision = PrecisionConfig(layers=overrides)
    distill = DistillConfig(
        layers=_distill_layers(trial, space, roles),
        membrane_weight=_float(trial, "membrane_weight", space.membrane_weight),
        membrane_norm=space.membrane_norm,
        kd_weight=_float(trial, "kd_weight", space.kd_weight),
        teacher_temperature=_float(trial, "teacher_temperature", space.teacher_temperature),
        student_temperature=_float(trial, "student_temperature", space.student_temperature),
        spike_weight=_float(trial, "spike_weight", space.spike_weight),
        init_from_teacher=space.init_from_teacher,
    )
    return StudentConfig(
        precision=precision,
        distill=distill,
        pruning=PruningConfig(layers={name: ratio for name, ratio in keep.items() if ratio < 1.0}),
        timesteps=_bits(trial, "timesteps", space.timesteps) if space.timesteps else None,
        learnable_threshold=_flag(trial, "learnable_threshold", space.learnable_threshold),
        adc_bits=_bits(trial, "adc_bits", space.adc_bits) if space.adc_bits else None,
    )


def baseline_student(name: str, space: SearchSpaceConfig) -> StudentConfig:
    """A uniform baseline. ``fixed_layers`` apply to the quantized ones, as they would to any
    searched student; ``fp32`` is the teacher itself, all layers at full precision."""
    pinned = {} if name == "fp32" else dict(space.fixed_layers)
    return StudentConfig(
        precision=PrecisionConfig(default=BASELINES[name], layers=pinned),
        distill=DistillConfig(
            layers="all",
            membrane_norm=space.membrane_norm,
            init_from_teacher=space.init_from_teacher,
        ),
    )


def search_distributions(
    space: SearchSpaceConfig, roles: LayerRoles
) -> dict[str, BaseDistribution]:
    """The parameters a searched trial samples and their distributions: :func:`suggest_student`'s
    own, recorded on a throwaway in-memory trial (so they cannot drift apart)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created in memory" line
    try:
        trial = optuna.create_study().ask()
    finally:
        optuna.logging.set_verbosity(verbosity)
    suggest_student(trial, space, roles)
    return trial.distributions


def baseline_params(
    name: str,
    space: SearchSpaceConfig,
    roles: LayerRoles,
    distributions: dict[str, BaseDistribution],
) -> dict[str, Any]:
    """The searched parameters (``distributions``, :func:`search_distributions`) at baseline
    ``name``'s values, those the space can hold (FP32's 32 bits are no choice of any space; its
    distillation settings may be): stored on the baseline trial, they show its configuration and
    let it count in parameter importances."""
    student = baseline_student(name, space)
    layers = student.precision.resolve(roles.layers)
    uniform = BASELINES[name]
    distill = student.distill
    params: dict[str, Any] = {}
    for param, distribution in distributions.items():
        knob, _, layer = param.partition(":")
        bits = layers[layer] if layer else uniform
        value: Any
        if knob in ("w_bits", "u_bits", "bn_bits"):
            value = getattr(bits, knob)
        elif knob == "membrane":
            value = f"u{bits.u_bits}"
        elif knob == "distill":
            value = distill.layers == "all" or layer in distill.layers
        elif knob == "keep_ratio":
            value = 1.0
        elif knob == "learnable_threshold":
            value = student.learnable_threshold
        elif hasattr(distill, knob):
            value = getattr(distill, knob)
        else:
            continue  # timesteps: a baseline runs at the data's T, which the space may not offer
        if _holds(distribution, value):
            params[param] = value
    return params


def record_baseline(
    trial: optuna.Trial, name: str, space: SearchSpaceConfig, roles: LayerRoles
) -> StudentConfig:
    """Baseline ``name``'s student, its configuration stored as the trial's parameters (those the
    space holds, :func:`baseline_params`), fixed through Optuna's ``PartialFixedSampler``."""
    student = baseline_student(name, space)
    distributions = search_distributions(space, roles)
    params = baseline_params(name, space, roles, distributions)
    with warnings.catch_warnings():
        # Every recorded parameter is fixed; an independent base sampler keeps the study's own
        # (NSGA-II's generations) out of the baseline.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        trial.study.sampler = optuna.samplers.PartialFixedSampler(
            params, optuna.samplers.RandomSampler()
        )
    for param in params:
        distribution = distributions[param]
        if isinstance(distribution, CategoricalDistribution):
            trial.suggest_categorical(param, distribution.choices)
        elif isinstance(distribution, FloatDistribution):
            trial.suggest_float(
                param,
                distribution.low,
                distribution.high,
                log=distribution.log,
                step=distribution.step,
            )
    return student


def _holds(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(distribution, FloatDistribution):
        return bool(distribution.low <= value <= distribution.high)
    return False


def is_full_precision_student(student: StudentConfig, layer_names: list[str]) -> bool:
    """The teacher itself: every width at full precision, nothing pruned, the teacher's T and
    thresholds."""
    if student.pruning.active or student.timesteps is not None or student.learnable_threshold:
        return False
    return all(
        is_full_precision(min(p.w_bits, p.u_bits, p.bn_bits))
        for p in student.precision.resolve(layer_names).values()
    )


def _bits(trial: optuna.Trial, name: str, choices: list[int]) -> int:
    if len(choices) == 1:
        return choices[0]
    return int(trial.suggest_categorical(name, sorted(choices)))


def _membrane(trial: optuna.Trial, name: str, space: SearchSpaceConfig) -> dict[str, int]:
    """One categorical over uniform widths (``u4``) and integer level counts (``int3``)."""
    options = [f"u{b}" for b in sorted(space.u_bits)] + [f"int{n}" for n in sorted(space.u_levels)]
    choice = options[0] if len(options) == 1 else str(trial.suggest_categorical(name, options))
    if choice.startswith("int"):
        return {"u_levels": int(choice.removeprefix("int"))}
    return {"u_bits": int(choice.removeprefix("u"))}


def _flag(trial: optuna.Trial, name: str, choices: list[bool]) -> bool:
    if len(choices) == 1:
        return choices[0]
    return bool(trial.suggest_categorical(name, [False, True]))


def _float(trial: optuna.Trial, name: str, dimension: FloatDimension) -> float:
    if isinstance(dimension, FloatRange):
        if dimension.low == dimension.high:
            return dimension.low
        return trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log)
    if isinstance(dimension, list):
        return (
            dimension[0]
            if len(dimension) == 1
            else float(trial.suggest_categorical(name, sorted(dimension)))
        )
    return float(dimension)


def _distill_layers(
    trial: optuna.Trial, space: SearchSpaceConfig, roles: LayerRoles
) -> list[str] | str:
    if space.distill_layers == "search":
        return [
            n for n in roles.spiking if trial.suggest_categorical(f"distill:{n}", [True, False])
        ]
    if space.distill_layers == "none":
        return []
    return space.distill_layers
