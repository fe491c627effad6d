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

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from pydantic import BaseModel, ConfigDict, Field

from mdsnn_search.data import DataConfig
from mdsnn_search.data.config import STATIC_DATASETS
from mdsnn_search.distill import DistillConfig
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.precision import (
    LayerPrecisionOverride,
    PrecisionConfig,
    is_full_precision,
    matches_layer,
    membrane_code,
    parse_membrane_code,
)
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.in_the_loop import CrossbarLoopConfig
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.spec.schema import BASELINE_PATTERN, HardwareConfig
from mdsnn_search.spec.search_space import FloatDimension, FloatRange, SearchSpaceConfig

BASELINE_BN_BITS = 8
"""Folded-BN bits of a uniform baseline (or the space's widest choice below that)."""


@dataclass(frozen=True)
class UniformBaseline:
    """A hand-picked configuration: every searched layer at ``w_bits`` and ``u_bits``, every
    spiking layer keeping ``keep_ratio`` of its channels, the student at ``timesteps`` (None: the
    data's T), trained with MD-SNN's plain recipe (every spiking layer distilled, no logit KD).
    Named ``w2u2``, ``w1u2k50`` (keep 0.5), ``w2u2t2`` (T_s = 2), ``w1u2k50t2``."""

    name: str
    w_bits: int
    u_bits: int
    keep_ratio: float
    timesteps: int | None


def parse_baseline(name: str) -> UniformBaseline | None:
    """The baseline ``name`` stands for; None for ``fp32``, the full-precision reference, which
    the runner measures once and stores on the study instead of running as a trial."""
    match = BASELINE_PATTERN.fullmatch(name)
    if match is None:
        raise ValueError(f"baseline {name!r} is not fp32 or wWuU[kK][tT] (e.g. w2u2, w1u2k50t2)")
    if name == "fp32":
        return None
    w, u, keep, timesteps = match.group("w", "u", "k", "t")
    return UniformBaseline(
        name=name,
        w_bits=int(w),
        u_bits=int(u),
        keep_ratio=1.0 if keep is None else int(keep) / 100,
        timesteps=None if timesteps is None else int(timesteps),
    )


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
    trial: optuna.trial.BaseTrial, space: SearchSpaceConfig, roles: LayerRoles
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
    baseline: UniformBaseline,
    space: SearchSpaceConfig,
    roles: LayerRoles,
    data_timesteps: int,
) -> dict[str, Any]:
    """Every searched parameter at ``baseline``'s value: enqueued with these, the baseline is an
    ordinary trial of the space, so every sampler models it with the searched trials and it
    counts in parameter importances. Distillation weights take their defaults, clipped into the
    space's range.

    Raises ValueError naming the search_space field when the space cannot express the baseline.
    """
    bn = max((b for b in space.bn_bits if b <= BASELINE_BN_BITS), default=min(space.bn_bits))
    timesteps = data_timesteps if baseline.timesteps is None else baseline.timesteps
    wanted: dict[str, tuple[str, Any]] = {
        "w_bits": ("w_bits", baseline.w_bits),
        "u_bits": ("u_bits", baseline.u_bits),
        "membrane": ("u_bits", membrane_code(baseline.u_bits)),
        "bn_bits": ("bn_bits", bn),
        "keep_ratio": ("keep_ratio", baseline.keep_ratio),
        "timesteps": ("timesteps", timesteps),
        "learnable_threshold": ("learnable_threshold", False),
        "distill": ("distill_layers", True),
        # The finest resolution offered: a hand-picked baseline does not trade accuracy for ADC.
        "adc_bits": ("adc_bits", max(space.adc_bits, default=0)),
    }
    defaults = DistillConfig()
    params: dict[str, Any] = {}
    for param, distribution in search_distributions(space, roles).items():
        knob = param.partition(":")[0]
        if knob in wanted:
            field, value = wanted[knob]
            choices = getattr(distribution, "choices", ())
            if value not in choices:
                raise ValueError(
                    f"search_space.{field}: baseline {baseline.name} needs {value!r}, which is "
                    f"not a choice ({list(choices)})"
                )
        elif isinstance(distribution, FloatDistribution):
            value = min(distribution.high, max(distribution.low, getattr(defaults, knob)))
        else:
            raise ValueError(f"search_space: baseline {baseline.name} sets no value of {param}")
        params[param] = value
    fixed: dict[str, tuple[list[Any], Any]] = {
        "w_bits": (space.w_bits, baseline.w_bits),
        "u_bits": (space.u_bits if not space.u_levels else [], baseline.u_bits),
        "keep_ratio": (space.keep_ratio, baseline.keep_ratio),
        "timesteps": (space.timesteps or [data_timesteps], timesteps),
    }
    for field, (choices, value) in fixed.items():
        if len(choices) == 1 and choices[0] != value:
            raise ValueError(
                f"search_space.{field}: baseline {baseline.name} needs {value}, but the space "
                f"fixes {choices[0]}"
            )
    return params


def is_full_precision_student(student: StudentConfig, layer_names: list[str]) -> bool:
    """The teacher itself: every width at full precision, nothing pruned, the teacher's T and
    thresholds."""
    if student.pruning.active or student.timesteps is not None or student.learnable_threshold:
        return False
    return all(
        is_full_precision(min(p.w_bits, p.u_bits, p.bn_bits))
        for p in student.precision.resolve(layer_names).values()
    )


def _bits(trial: optuna.trial.BaseTrial, name: str, choices: list[int]) -> int:
    if len(choices) == 1:
        return choices[0]
    return int(trial.suggest_categorical(name, sorted(choices)))


def _membrane(trial: optuna.trial.BaseTrial, name: str, space: SearchSpaceConfig) -> dict[str, int]:
    """One categorical over uniform widths (``u4``) and integer level counts (``int3``)."""
    options = [membrane_code(b) for b in sorted(space.u_bits)]
    options += [membrane_code(0, n) for n in sorted(space.u_levels)]
    choice = options[0] if len(options) == 1 else str(trial.suggest_categorical(name, options))
    return parse_membrane_code(choice)


def _flag(trial: optuna.trial.BaseTrial, name: str, choices: list[bool]) -> bool:
    if len(choices) == 1:
        return choices[0]
    return bool(trial.suggest_categorical(name, [False, True]))


def _float(trial: optuna.trial.BaseTrial, name: str, dimension: FloatDimension) -> float:
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
    trial: optuna.trial.BaseTrial, space: SearchSpaceConfig, roles: LayerRoles
) -> list[str] | str:
    if space.distill_layers == "search":
        return [
            n for n in roles.spiking if trial.suggest_categorical(f"distill:{n}", [True, False])
        ]
    if space.distill_layers == "none":
        return []
    return space.distill_layers


def baseline_queue(
    space: SearchSpaceConfig, roles: LayerRoles, names: list[str], data_timesteps: int
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The baselines to enqueue (name -> parameters, in the spec's order) and a note for each
    listed one the space cannot express (``fp32`` is the study's reference, never a trial)."""
    queue: dict[str, dict[str, Any]] = {}
    left_out: list[str] = []
    for name in names:
        baseline = parse_baseline(name)
        if baseline is None:
            continue
        try:
            queue[name] = baseline_params(baseline, space, roles, data_timesteps)
        except ValueError as exc:
            left_out.append(f"study.baselines: {name} is left out: {exc}")
    return queue, left_out
