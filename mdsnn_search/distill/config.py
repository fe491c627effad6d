"""What a student's distillation minimises: :class:`DistillConfig` (docs/design/methods.md
section 3).

Every weight, temperature and the layer set are plain values, so a search can sample them and an
exported trial can write them back out as YAML. The per-batch objective is

    L = CE + lambda_mem * sum_{l in D} w_l * L_mem(l) + lambda_kd * L_kd + lambda_spk * L_spk

``layers`` names the distilled set D by the spiking layer names of the network (``conv1``,
``layer1.0.conv2``...), shell-style patterns, or ``"all"``; see :meth:`resolve_layers`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import matches_layer

MembraneNorm = Literal["teacher_power", "threshold", "none"]
"""How :func:`~mdsnn_search.distill.losses.membrane_loss` makes L_mem(l) scale-free per layer:

- ``teacher_power``: divide by the teacher's mean H^2 at that layer on the batch (a relative
  error, so a layer whose membrane swings widely weighs no more than a quiet one);
- ``threshold``: divide by theta^2 of the teacher's neuron (membrane in threshold units);
- ``none``: the raw MSE.
"""

TeacherBatchNorm = Literal["running", "batch"]
"""What the frozen teacher's batch norm normalises with during a training step:

- ``running``: its running statistics (evaluation mode, as at inference);
- ``batch``: the statistics of the batch at hand, as the training student's batch norm does, so
  a student identical to its teacher has zero membrane loss in training too. The teacher's running
  statistics are not updated either way.
"""

ALL_LAYERS = "all"
"""``layers: all`` distils every spiking layer (same as the pattern ``"*"``)."""


class DistillConfig(BaseModel):
    """Distillation from a frozen full-precision teacher into a (quantized) student."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: list[str] | Literal["all"] = Field(
        default_factory=list,
        description="distilled spiking layers: exact names or fnmatch patterns, or 'all'; "
        "[] switches the membrane loss off",
    )
    layer_weights: dict[str, float] = Field(
        default_factory=dict,
        description="per-layer w_l by exact name or pattern (later keys win); unset layers get 1.0",
    )
    membrane_weight: float = Field(
        0.3,
        ge=0.0,
        description="lambda_mem (0.3: the digits ablation's pick, docs/distillation.md)",
    )
    membrane_norm: MembraneNorm = Field(
        "teacher_power", description="per-layer normalisation of L_mem"
    )
    kd_weight: float = Field(0.0, ge=0.0, description="lambda_kd; 0 switches logit KD off")
    teacher_temperature: float = Field(
        4.0, gt=0.0, description="tau_t, softens the teacher's logits"
    )
    student_temperature: float = Field(
        4.0, gt=0.0, description="tau_s; equal to tau_t = conventional KD"
    )
    spike_weight: float = Field(
        0.0, ge=0.0, description="lambda_spk on the student's overall firing rate"
    )
    teacher_bn: TeacherBatchNorm = Field(
        "running",
        description="the teacher's batch norm in training steps: "
        "running (eval) or batch statistics",
    )
    init_from_teacher: bool = Field(
        True, description="student starts from the teacher's weights (else scratch)"
    )

    @field_validator("layers")
    @classmethod
    def _no_duplicate_layers(cls, layers: list[str] | str) -> list[str] | str:
        if isinstance(layers, list):
            repeated = sorted({name for name in layers if layers.count(name) > 1})
            if repeated:
                raise ValueError(
                    f"layers must not repeat a name, but got {repeated} more than once"
                )
        return layers

    @field_validator("layer_weights")
    @classmethod
    def _non_negative_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        negative = {name: w for name, w in weights.items() if not w >= 0.0}
        if negative:
            raise ValueError(f"layer weights must be >= 0, but got {negative}")
        return weights

    @property
    def uses_membrane(self) -> bool:
        """Whether the membrane term can be nonzero (before resolving names against a network)."""
        return self.membrane_weight > 0.0 and self.layers != []

    @property
    def uses_kd(self) -> bool:
        return self.kd_weight > 0.0

    @property
    def uses_teacher(self) -> bool:
        """Whether a step needs the teacher's forward pass at all."""
        return self.uses_membrane or self.uses_kd

    def resolve_layers(
        self, spiking_layers: Sequence[str], *, where: str = "the network"
    ) -> dict[str, float]:
        """The distilled set D with its weights w_l, in the order of ``spiking_layers``.

        Each entry of ``layers`` and each key of ``layer_weights`` must match at least one of
        ``spiking_layers`` (else ConfigError listing them: a name that matches nothing is a typo).
        A weight for a spiking layer outside D is allowed and unused, so a search may sample a
        weight for every layer and a membership flag separately. Layers whose weight is 0 are
        dropped, so they cost nothing. With ``membrane_weight == 0`` the set is empty.
        """
        names = list(spiking_layers)
        patterns = [ALL_LAYERS] if self.layers == ALL_LAYERS else list(self.layers)
        for pattern in patterns:
            _require_match(pattern, names, "distill.layers", where)
        for pattern in self.layer_weights:
            _require_match(pattern, names, "distill.layer_weights", where)
        if self.membrane_weight == 0.0:
            return {}
        chosen = [name for name in names if any(_matches(name, p) for p in patterns)]
        weights = {name: self._weight(name) for name in chosen}
        return {name: w for name, w in weights.items() if w > 0.0}

    def _weight(self, name: str) -> float:
        weight = 1.0
        for pattern, value in self.layer_weights.items():
            if _matches(name, pattern):
                weight = value
        return weight


def _matches(name: str, pattern: str) -> bool:
    return pattern == ALL_LAYERS or matches_layer(name, pattern)


def _require_match(pattern: str, names: list[str], field: str, where: str) -> None:
    if any(_matches(name, pattern) for name in names):
        return
    close = difflib.get_close_matches(pattern, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"{field}: {pattern!r} matches no spiking layer of {where}{hint} "
        f"(spiking layers: {', '.join(names)})"
    )
