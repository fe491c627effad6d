"""``study.strategy: sensitivity``: HAWQ-V3's idea on our objectives (docs/design/methods.md s. 9).

Before any trial trains, one pass over the space without training:

1. **Sensitivity.** The student copied from the teacher at the space's highest choice everywhere
   (precise BN re-estimated on training batches, channels pruned where it keeps fewer) gives the
   validation loss L0. For each layer and knob (weight bits, membrane, keep ratio) and each
   cheaper choice, the same student with that layer alone at that choice gives
   Omega = loss - L0; the student's timesteps are one more knob of the whole network.
2. **Cost.** The cost model (default activity) prices each single change as its log10-EDAP
   difference from the highest configuration.
3. **Allocation.** For a sweep of log-EDAP budgets from the highest configuration's to the
   cheapest's, ``scipy.optimize.milp`` picks one choice per (layer, knob) minimising the summed
   Omega within the budget (a multiple-choice knapsack). Log EDAP is only nearly additive over
   single changes, so each allocation's EDAP is then computed by the full cost model.
4. **Iso-cost anchors.** Each quantized uniform baseline of the study is a budget too: the
   allocation the program picks within its EDAP, tightened until the full cost model agrees, is
   the mixed-precision answer to "what is best at no more cost than W4/U4?" (HAWQ-V3 sets its
   budgets from uniform models the same way). Anchors are always queued; the sweep fills the rest.

The distinct allocations are queued as the study's first searched trials (after the baselines);
the spec's sampler proposes the rest, learning from them like from any trial. The pass's cost,
in seconds and in training-sample equivalents (a forward pass ~ 1/3 of a training step), is
stored on the study (:data:`STUDY_SENSITIVITY`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from scipy.optimize import Bounds, LinearConstraint, milp

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.distill import DistillConfig
from mdsnn_search.errors import ConfigError
from mdsnn_search.search.strategy import STRATEGIES, Strategy, StrategySetup
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.models import layer_table
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.registry import student_from_teacher
from mdsnn_search.snn.pruning import prune_channels_
from mdsnn_search.spec.objectives import ATTR_BASELINE
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import LayerRoles, baseline_queue, search_distributions
from mdsnn_search.training_loop import evaluate

STUDY_SENSITIVITY = "sensitivity"
"""Study attribute: the pass's cost and its allocations (``{"seconds", "forward_samples",
"training_sample_equivalents", "configurations": [...]}``)."""
ATTR_ALLOCATION = "sensitivity_allocation"
"""Trial attribute of a trial the pass queued: ``{"rank", "predicted_loss_increase", "edap",
"baselines"}`` (``baselines``: the uniform baselines it is the iso-cost anchor of)."""
ANCHOR_TIGHTENINGS = 8
"""Re-solves with a tighter budget while the full cost model puts an anchor above its baseline."""
KNOBS = ("w_bits", "u_bits", "membrane", "keep_ratio", "timesteps")
"""The parameters the pass allocates; every other one takes the highest (or default) value."""
FORWARD_PER_TRAINING_SAMPLE = 3.0
"""A training step (forward, backward, update) costs about three forward passes."""
CALIBRATION_BATCHES = 8
"""Precise-BN batches per scored student when ``training.precise_bn_batches`` is unset (the
whole training set): the pass scores dozens of students."""


@dataclass(frozen=True)
class Allocation:
    params: dict[str, Any]
    predicted_loss_increase: float
    edap: float
    baselines: tuple[str, ...] = ()
    """The uniform baselines whose EDAP bounds this allocation (it is their iso-cost anchor)."""


def _order(distribution: CategoricalDistribution) -> list[Any]:
    """Choices from the most to the least expensive."""

    def size(choice: Any) -> float:
        if isinstance(choice, str) and choice.startswith("int"):
            return math.log2(int(choice.removeprefix("int")))
        if isinstance(choice, str):
            return float(choice.removeprefix("u"))
        return float(choice)

    return sorted(distribution.choices, key=size, reverse=True)


def highest_params(spec: StudySpec, roles: LayerRoles) -> dict[str, Any]:
    """Every allocated knob at its most expensive choice, distillation flags on, loss weights
    at their defaults (clipped into the space)."""
    defaults = DistillConfig()
    params: dict[str, Any] = {}
    for name, distribution in search_distributions(spec.search_space, roles).items():
        knob = name.partition(":")[0]
        if isinstance(distribution, FloatDistribution):
            value = getattr(defaults, knob, distribution.low)
            params[name] = min(distribution.high, max(distribution.low, value))
        elif knob in KNOBS:
            params[name] = _order(distribution)[0]  # type: ignore[arg-type]
        elif knob == "distill":
            params[name] = True
        else:  # learnable_threshold and any other flag: the teacher's own
            params[name] = False if False in distribution.choices else distribution.choices[0]  # type: ignore[attr-defined]
    return params


class _Scorer:
    """Validation loss of teacher-copied students, precise BN, no training."""

    def __init__(
        self, spec: StudySpec, roles: LayerRoles, bundle: DatasetBundle, teacher_path: str
    ):
        from mdsnn_search.search.reference import student_of

        self.spec, self.roles, self.student_of = spec, roles, student_of
        self.teacher: SpikingNetwork = load_checkpoint(teacher_path).model
        self.teacher.eval()
        assert bundle.validation is not None, "a search bundle holds a validation split"
        self.validation = make_loader(bundle.validation, 256, shuffle=False)
        self.calibration = list(
            itertools.islice(
                make_loader(bundle.train, spec.training.batch_size, shuffle=True, seed=0),
                spec.training.precise_bn_batches or CALIBRATION_BATCHES,
            )
        )
        self.forward_samples = 0
        self.n_validation = len(bundle.validation)  # type: ignore[arg-type]

    def loss(self, params: dict[str, Any]) -> float:
        student = self.student_of(params, self.spec, self.roles)
        model = student_from_teacher(
            self.teacher, student.model_for(self.spec.model, self.spec.data)
        )
        model.eval()
        calibration_samples = sum(int(x.shape[1]) for x, *_ in self.calibration)
        if student.pruning.layers:
            prune_channels_(model, (x for x, *_ in self.calibration))
            self.forward_samples += calibration_samples
        recalibrate_bn_(model, self.calibration)
        self.forward_samples += calibration_samples + self.n_validation
        return evaluate(model, self.validation).loss


def sensitivity_allocations(
    spec: StudySpec,
    roles: LayerRoles,
    bundle: DatasetBundle,
    teacher_checkpoint: str,
    count: int,
    report: Callable[[str], None] = lambda line: None,
) -> tuple[list[Allocation], dict[str, Any]]:
    """One iso-cost anchor per quantized uniform baseline of the study and, up to ``count`` in
    all (at least the cheapest), distinct allocations spanning the budget range; and the pass's
    record."""
    import torch

    from mdsnn_search.search.reference import student_cost, student_of

    started = time.perf_counter()
    torch.set_num_threads(max(1, int(spec.execution.cpus_per_trial)))
    scorer = _Scorer(spec, roles, bundle, teacher_checkpoint)
    table = layer_table(scorer.teacher)

    def log_edap(params: dict[str, Any]) -> float:
        return math.log10(student_cost(spec, table, student_of(params, spec, roles), None)["edap"])

    baselines, _ = baseline_queue(
        spec.search_space, roles, list(spec.study.baselines), spec.data.timesteps
    )
    top = highest_params(spec, roles)
    base_loss, base_cost = scorer.loss(top), log_edap(top)
    groups: list[tuple[str, list[Any], list[float], list[float]]] = []
    for name, distribution in search_distributions(spec.search_space, roles).items():
        if name.partition(":")[0] not in KNOBS or distribution.single():
            continue
        choices = _order(distribution)  # type: ignore[arg-type]
        omegas, costs = [0.0], [0.0]
        for choice in choices[1:]:
            changed = {**top, name: choice}
            omegas.append(scorer.loss(changed) - base_loss)
            costs.append(log_edap(changed) - base_cost)
        groups.append((name, choices, omegas, costs))
        report(
            f"sensitivity: {name} "
            + ", ".join(f"{c}: {o:+.4f}" for c, o in zip(choices, omegas, strict=True))
        )

    def allocate(budget: float, baseline: str | None = None) -> Allocation | None:
        chosen = _solve(groups, budget)
        if chosen is None:
            return None
        params = {
            **top,
            **{name: choices[k] for (name, choices, _, _), k in zip(groups, chosen, strict=True)},
        }
        predicted = sum(g[2][k] for g, k in zip(groups, chosen, strict=True))
        named = () if baseline is None else (baseline,)
        return Allocation(params, predicted, 10 ** log_edap(params), named)

    anchors: dict[str, Allocation] = {}
    for name, params in baselines.items():
        target = log_edap(params) - base_cost
        budget = target
        for _ in range(ANCHOR_TIGHTENINGS):
            anchor = allocate(budget, name)
            if anchor is None:
                break
            excess = math.log10(anchor.edap) - base_cost - target
            if excess <= 0.0:
                key = _key(anchor.params)
                if key in anchors:  # the same answer for a cheaper baseline too
                    anchor = replace(anchor, baselines=(*anchors[key].baselines, name))
                anchors[key] = anchor
                break
            budget -= excess
    lowest = sum(min(c) for *_, c in groups)
    swept: dict[str, Allocation] = {}
    for budget in np.linspace(0.0, lowest, num=max(count * 2, 2))[1:]:
        allocation = allocate(float(budget))
        if allocation is not None and _key(allocation.params) not in anchors:
            swept.setdefault(_key(allocation.params), allocation)
    # Spread the rest over the range: every k-th of the distinct allocations, the cheapest always
    # (it is where the front must reach below every baseline).
    rest = sorted(swept.values(), key=lambda a: a.edap)
    room = max(count - len(anchors), 1)
    if len(rest) > room:
        picks = np.linspace(0, len(rest) - 1, num=room).round().astype(int).tolist()
        rest = [rest[i] for i in sorted(set(picks))]
    ordered = sorted([*anchors.values(), *rest], key=lambda a: a.edap)
    seconds = time.perf_counter() - started
    record = {
        "seconds": seconds,
        "forward_samples": scorer.forward_samples,
        "training_sample_equivalents": scorer.forward_samples / FORWARD_PER_TRAINING_SAMPLE,
        "base_loss": base_loss,
        "configurations": [
            {
                "predicted_loss_increase": a.predicted_loss_increase,
                "edap": a.edap,
                "baselines": list(a.baselines),
            }
            for a in ordered
        ],
    }
    return ordered, record


def _key(params: dict[str, Any]) -> str:
    return repr(sorted(params.items()))


def _solve(
    groups: list[tuple[str, list[Any], list[float], list[float]]], budget: float
) -> list[int] | None:
    """One choice per group minimising the summed Omega with summed log-EDAP change <= budget
    (a negative number: the saving asked for), by ``scipy.optimize.milp``; None if infeasible."""
    sizes = [len(g[1]) for g in groups]
    n = sum(sizes)
    omega = np.concatenate([g[2] for g in groups])
    cost = np.concatenate([g[3] for g in groups])
    one_hot = np.zeros((len(groups), n))
    start = 0
    for row, size in enumerate(sizes):
        one_hot[row, start : start + size] = 1.0
        start += size
    constraints = [
        LinearConstraint(one_hot, lb=1.0, ub=1.0),
        LinearConstraint(cost.reshape(1, -1), lb=-np.inf, ub=budget),
    ]
    result = milp(c=omega, constraints=constraints, integrality=np.ones(n), bounds=Bounds(0.0, 1.0))
    if result.x is None:
        return None
    chosen, start = [], 0
    for size in sizes:
        chosen.append(int(np.argmax(result.x[start : start + size])))
        start += size
    return chosen


def queue_allocations(
    study: optuna.Study,
    spec: StudySpec,
    roles: LayerRoles,
    bundle: DatasetBundle,
    teacher_checkpoint: str,
    report: Callable[[str], None],
) -> None:
    """Run the pass once per study and enqueue its allocations as the first searched trials
    (``enqueue_trial``: each samples its configuration as fixed parameters); a resumed study
    keeps what it has (its record says the pass ran; an allocation already queued by a run that
    died before recording it is not queued twice)."""
    if STUDY_SENSITIVITY in study.user_attrs:
        return
    trials = study.get_trials(deepcopy=False)
    baselines = {t.user_attrs[ATTR_BASELINE] for t in trials if ATTR_BASELINE in t.user_attrs}
    given = {
        t.user_attrs[ATTR_ALLOCATION]["rank"] for t in trials if ATTR_ALLOCATION in t.user_attrs
    }
    # Half the searched budget at most: the sampler needs room to learn from them.
    count = max(1, (spec.study.n_trials - len(baselines)) // 2)
    allocations, record = sensitivity_allocations(
        spec, roles, bundle, teacher_checkpoint, count, report
    )
    for rank, allocation in enumerate(allocations):
        if rank in given:
            continue
        study.enqueue_trial(
            allocation.params,
            user_attrs={
                ATTR_ALLOCATION: {
                    "rank": rank,
                    "predicted_loss_increase": allocation.predicted_loss_increase,
                    "edap": allocation.edap,
                    "baselines": list(allocation.baselines),
                }
            },
        )
    study.set_user_attr(STUDY_SENSITIVITY, record)
    report(
        f"sensitivity: {len(allocations)} allocations queued in {record['seconds']:.1f} s "
        f"({record['training_sample_equivalents']:,.0f} training-sample equivalents)"
    )


@STRATEGIES.register("sensitivity")
class Sensitivity(Strategy):
    """The sensitivity pass before the trials, then the spec's sampler."""

    def check(self, spec: StudySpec) -> None:
        """The pass allocates a choice per layer and scores students without training."""
        if spec.search_space.tie_layers:
            raise ConfigError(
                "search_space.tie_layers: study.strategy sensitivity allocates per layer; use false"
            )
        if spec.search_space.learnable_threshold != [False]:
            raise ConfigError(
                "search_space.learnable_threshold: study.strategy sensitivity measures students "
                "without training, so learnt thresholds cannot be scored; use [false]"
            )

    def prepare(self, setup: StrategySetup) -> None:
        queue_allocations(
            setup.study,
            setup.spec,
            setup.roles,
            setup.bundle,
            str(setup.teacher_checkpoint),
            setup.report,
        )
