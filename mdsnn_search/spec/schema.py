"""The study spec: one YAML document describing a whole search (``StudySpec``).

Sections: ``study`` (name, storage, objectives, sampler, trial count, seed, constraints,
baselines), ``data``, ``model``, ``teacher``, ``training`` (each trial's student training),
``search_space``, ``hardware`` and ``execution``. Every key is checked (unknown keys are errors)
and :func:`load_spec` reports each problem as ``file: field.path: message``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mdsnn_search.data import DataConfig
from mdsnn_search.data.config import STATIC_DATASETS
from mdsnn_search.files import load_config
from mdsnn_search.outputs import PlainName
from mdsnn_search.precision import (
    BitWidth,
    PrecisionConfig,
    is_full_precision,
)
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.crossbar import AdcRange
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.spec.objectives import OBJECTIVES, Direction, ObjectiveName
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.training_loop import TrainConfig

SamplerName = Literal["nsga2", "nsga3", "tpe", "gp", "random"]
BASELINE_PATTERN = re.compile(
    r"fp32|w(?P<w>[1-8])u(?P<u>[1-8])(?:k(?P<k>[1-9][0-9]?))?(?:t(?P<t>[1-9][0-9]*))?"
)
"""Uniform baselines (:func:`mdsnn_search.spec.space.parse_baseline`): ``fp32`` (the reference,
measured once, no trial) or ``wWuU`` with an optional keep percentage ``kK`` and student
timesteps ``tT``."""
BaselineName = Annotated[str, Field(pattern="^(?:" + BASELINE_PATTERN.pattern + ")$")]
DEFAULT_OBJECTIVES: tuple[ObjectiveName, ...] = ("accuracy", "edap")
DEFAULT_BASELINES: tuple[str, ...] = ("w8u8", "w4u4", "w2u2")
SupernetBatchNorm = Literal["switchable", "recalibrate"]

_STRICT = ConfigDict(extra="forbid", frozen=True)
Bits = BitWidth


class ConstraintsConfig(BaseModel):
    """Feasibility limits, given to Optuna with ``Trial.set_constraint`` (value <= 0 is
    feasible)."""

    model_config = _STRICT

    max_accuracy_drop: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="largest allowed teacher accuracy minus student accuracy (0.02 = 2 points)",
    )
    max_edap: float | None = Field(None, gt=0.0, description="largest allowed EDAP in J s mm2")


class StudyConfig(BaseModel):
    model_config = _STRICT

    name: PlainName = Field(
        description="study name in the storage; names its folder studies/NAME/ too "
        "(studies/NAME-<hash>/ for a storage other than the default)"
    )
    storage: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///studies/NAME.db"
    )
    objectives: list[ObjectiveName] = Field(
        default_factory=lambda: list(DEFAULT_OBJECTIVES), min_length=1
    )
    sampler: SamplerName = "nsga2"
    strategy: str = Field(
        "trials",
        min_length=1,
        max_length=64,
        description="a registered strategy (mdsnn_search.search.strategy): trials, train every "
        "trial from the teacher; oneshot, train one any-precision supernet, score thousands of "
        "configurations with it (study NAME-proxy) and fine-tune only its front (section oneshot); "
        "sensitivity, measure each layer's loss increase per cheaper choice on the "
        "teacher-copied student (no training), queue allocations over the EDAP range as the first "
        "searched trials, then the sampler",
    )
    n_trials: int = Field(
        ge=1,
        description="finished trials wanted, baselines included "
        "(oneshot: the baselines plus the fine-tuned front)",
    )
    seed: int = Field(0, ge=0)
    heartbeat_interval_s: int = Field(
        10,
        ge=1,
        le=3600,
        description="how often a run records that its trials are alive (Optuna heartbeat)",
    )
    grace_period_s: int = Field(
        60,
        ge=2,
        le=86400,
        description="a trial whose run sent no heartbeat for this long is failed and queued again",
    )
    constraints: ConstraintsConfig = ConstraintsConfig()
    baselines: list[BaselineName] = Field(
        default_factory=lambda: list(DEFAULT_BASELINES),
        description="uniform configurations evaluated first, as ordinary trials of the space, so "
        "the front is compared with them: wWuU, optionally kK (keep K %) and tT (T_s); those the "
        "space cannot express are left out (validate says which); fp32 is the reference, "
        "measured once without a trial",
    )

    @model_validator(mode="after")
    def _distinct_objectives(self) -> StudyConfig:
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives must be distinct, but got {self.objectives}")
        return self

    @model_validator(mode="after")
    def _grace_outlasts_heartbeat(self) -> StudyConfig:
        if self.grace_period_s <= self.heartbeat_interval_s:
            raise ValueError(
                "grace_period_s > heartbeat_interval_s must hold, but got "
                f"(grace_period_s={self.grace_period_s}, "
                f"heartbeat_interval_s={self.heartbeat_interval_s})"
            )
        return self

    @property
    def directions(self) -> list[Direction]:
        return [OBJECTIVES[name].direction for name in self.objectives]

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///studies/{self.name}.db"


class TeacherConfig(BaseModel):
    """The full-precision teacher: a given checkpoint, or trained once and cached under studies/."""

    model_config = _STRICT

    checkpoint: Path | None = Field(None, description="use this teacher instead of training one")
    training: TrainConfig = Field(
        TrainConfig(), description="how to train the teacher when no checkpoint is given"
    )
    output_cache_mb: float = Field(
        1024.0,
        ge=0.0,
        description="memory budget for the teacher's logits and membranes on the training set, "
        "computed once and shared by every trial when the inputs are deterministic; above it (or "
        "0) each step runs the teacher",
    )

    @model_validator(mode="after")
    def _checkpoint_exists(self) -> TeacherConfig:
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise ValueError(f"checkpoint: no such file {self.checkpoint}")
        return self


class HardwareConfig(BaseModel):
    model_config = _STRICT

    preset: str = Field("rram_64", description="preset name under simulators/ or a preset file")
    use_measured_activity: bool = Field(
        True, description="cost with each trial's measured spike rates (event mode)"
    )
    in_the_loop: bool = Field(
        False,
        description="train and score each student with the crossbar in the loop: every mapped "
        "layer's partial sums through the preset's ADC (docs/design/methods.md section 10)",
    )
    adc_range: AdcRange = Field(
        "calibrated",
        description="in the loop, each ADC's range: calibrated on the first batch, or full",
    )


class ExecutionConfig(BaseModel):
    model_config = _STRICT

    backend: Literal["ray", "inline"] = Field(
        "ray", description="ray: Ray Tune trials; inline: in this process"
    )
    cpus_per_trial: float = Field(1.0, gt=0.0)
    gpus_per_trial: Annotated[float, Field(ge=0.0)] | Literal["auto"] = Field(
        0.0,
        description="GPUs per trial (a fraction shares one); auto: a share of a GPU where the "
        "cluster has one, else 0",
    )
    max_concurrent: int = Field(2, ge=1)
    address: str | None = Field(None, description="Ray cluster to join (None: start a local Ray)")
    ray_dir: Path = Field(Path("studies/ray"), description="where Ray Tune keeps trial directories")
    keep_students: bool = Field(
        True,
        description="keep each trial's trained student as studies/NAME/students/trial-N.pt "
        "(export --nir reads it); false keeps none",
    )

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> ExecutionConfig:
        gpus = self.gpus_per_trial
        if gpus != "auto" and gpus > 1 and not float(gpus).is_integer():
            raise ValueError(f"gpus_per_trial: above 1 a trial takes whole GPUs, but got {gpus}")
        return self


class OneShotConfig(BaseModel):
    """``study.strategy: oneshot`` (docs/design/methods.md section 6): supernet, proxy search,
    front."""

    model_config = _STRICT

    training: TrainConfig = Field(
        TrainConfig(epochs=4),
        description="the supernet's training (epochs, batch size, lr, seed); each step trains "
        "several configurations",
    )
    sandwich_random: int = Field(
        2, ge=0, description="random configurations per step besides the highest and the lowest"
    )
    membrane_weight: float = Field(1.0, ge=0.0, description="lambda_mem of the supernet's steps")
    kd_weight: float = Field(1.0, ge=0.0, description="lambda_kd of the supernet's steps")
    temperature: float = Field(4.0, gt=0.0, description="KD temperature (teacher and student)")
    inplace_distillation: bool = Field(
        True,
        description="the sandwich's smaller configurations learn from its largest one's logits "
        "and membranes on the same batch (the largest from the teacher); false: all from the "
        "teacher",
    )
    batch_norm: SupernetBatchNorm = Field(
        "switchable",
        description="switchable: BN statistics kept per layer and bit-width; recalibrate: "
        "re-estimated for each scored configuration on recalibration_batches training batches",
    )
    recalibration_batches: int = Field(4, ge=1)
    proxy_trials: int = Field(2000, ge=1, description="configurations the proxy search scores")
    population: int = Field(64, ge=2, description="NSGA-II population of the proxy search")
    cpus: float | None = Field(
        None, gt=0.0, description="CPUs of the supernet's Ray job (None: execution.cpus_per_trial)"
    )
    gpus: float = Field(0.0, ge=0.0, description="GPUs of the supernet's Ray job")


class StudySpec(BaseModel):
    """A whole search, as written in ``search_spaces/*.yaml``."""

    model_config = ConfigDict(extra="forbid")

    study: StudyConfig
    data: DataConfig
    model: ModelConfig
    teacher: TeacherConfig = TeacherConfig()
    training: TrainConfig = Field(
        TrainConfig(epochs=2), description="each trial's student training"
    )
    search_space: SearchSpaceConfig = SearchSpaceConfig()
    hardware: HardwareConfig = HardwareConfig()
    execution: ExecutionConfig = ExecutionConfig()
    oneshot: OneShotConfig = OneShotConfig()

    @model_validator(mode="after")
    def _adc_bits_need_the_loop(self) -> StudySpec:
        """Searched ADC bits move the cost; only an accuracy measured in the loop sees them."""
        if self.search_space.adc_bits and not self.hardware.in_the_loop:
            raise ValueError(
                "search_space.adc_bits: needs hardware.in_the_loop: true (ideal accuracy does "
                "not see the ADC, so the search would just take the fewest bits)"
            )
        if not self.hardware.in_the_loop:
            return self
        # A crossbar stores integer weight levels: full-precision weights cannot be mapped, and
        # a trial must not be scored ideally in a study that claims the crossbar in the loop.
        if "fp32" in self.study.baselines:
            raise ValueError(
                "study.baselines: fp32 cannot be computed as mapped with hardware.in_the_loop "
                "(a crossbar stores integer weight levels); leave it out"
            )
        if any(is_full_precision(bits) for bits in self.search_space.w_bits):
            raise ValueError(
                "search_space.w_bits: full-precision weights cannot be computed as mapped with "
                "hardware.in_the_loop (a crossbar stores integer weight levels)"
            )
        return self

    @model_validator(mode="after")
    def _precision_is_searched(self) -> StudySpec:
        if self.model.precision != PrecisionConfig():
            raise ValueError(
                "model.precision: the search chooses precision; use search_space.fixed_layers to "
                "pin layers"
            )
        return self

    @model_validator(mode="after")
    def _student_dimensions_are_searched(self) -> StudySpec:
        """The model section is the teacher's too: pruning, T_s and thresholds belong to the
        space."""
        searched = {
            "model.pruning": (self.model.pruning != PruningConfig(), "search_space.keep_ratio"),
            "model.timesteps": (self.model.timesteps is not None, "search_space.timesteps"),
            "model.neuron.learnable_threshold": (
                self.model.neuron.learnable_threshold,
                "search_space.learnable_threshold",
            ),
        }
        for field, (set_here, instead) in searched.items():
            if set_here:
                raise ValueError(f"{field}: the search chooses the student's; use {instead}")
        too_many = [t for t in self.search_space.timesteps if t > self.data.timesteps]
        if too_many:
            raise ValueError(
                "search_space.timesteps: a student runs at most the teacher's "
                f"data.timesteps={self.data.timesteps}, but got {too_many}"
            )
        if self.data.name not in STATIC_DATASETS:  # event frames are re-binned: T_s must divide T_t
            uneven = [t for t in self.search_space.timesteps if self.data.timesteps % t]
            if uneven:
                raise ValueError(
                    "search_space.timesteps: event frames are merged in windows of T_t / T_s, so "
                    f"each choice must divide data.timesteps={self.data.timesteps}, but got "
                    f"{uneven}"
                )
        return self


def absolute_paths(spec: StudySpec) -> StudySpec:
    """Ray runs trials in their own folders: every path a trial reads must be absolute."""
    data = spec.data.model_copy(
        update={
            k: Path(v).resolve()
            for k, v in (("root", spec.data.root), ("cache_dir", spec.data.cache_dir))
            if v is not None
        }
    )
    preset = spec.hardware.preset
    if Path(preset).suffix in (".yaml", ".yml", ".json"):
        preset = str(Path(preset).resolve())
    return spec.model_copy(
        update={"data": data, "hardware": spec.hardware.model_copy(update={"preset": preset})}
    )


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec; ConfigError names the file and every bad field."""
    return load_config(StudySpec, path)
