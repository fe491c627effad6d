"""What a trial shows in optuna-dashboard besides its parameters: short, flat attributes.

The dashboard lists user attributes one per line and cuts a JSON value at 1,024 characters, so
the student is also stored readable at a glance: a short code of the whole (``W2/4/8 U4 BN8 D3``,
as the ``status`` and ``pareto`` tables show it), one attribute per layer (``bits.conv2 =
"W4/U4/BN8"``, only the fields the layer has: ``fc`` has no neuron and no batch norm), and the
distillation settings on one line. Constraints go where Optuna and the dashboard both read them
(:func:`store_constraints`), with the accuracy drop beside the slack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna

from mdsnn_search.spec.objectives import ATTR_CONSTRAINTS, ATTR_FEASIBLE
from mdsnn_search.spec.summary import feasibility, student_summary

if TYPE_CHECKING:
    from mdsnn_search.precision import LayerPrecision
    from mdsnn_search.spec.space import LayerRoles, StudentConfig

ATTR_CODE = "code"
"""The student in short, e.g. ``W2/4/8 U4 BN8 D3`` (:func:`student_summary`)."""
BITS_PREFIX = "bits."
"""``bits.<layer>``: that layer's precision, e.g. ``W4/U4/BN8`` (``W2`` for a layer without neuron
or batch norm)."""
ATTR_DISTILL = "distill"
"""The distillation settings on one line: distilled layers, loss weights, temperatures."""
ATTR_FEASIBILITY = "feasibility"
"""``feasible``, or ``infeasible:`` and the violated constraints, as every listing shows it
(:func:`~mdsnn_search.results.records.feasibility`): the dashboard's trial table and trial page
show it beside the state, which says only "Complete"."""
ATTR_ACCURACY_DROP = "validation accuracy drop (points)"
"""Teacher accuracy minus the trial's on the validation split, in percentage points: the quantity
``max_accuracy_drop`` limits (as a fraction there)."""
MAX_ATTR_CHARS = 1024
"""optuna-dashboard 0.21 cuts a (JSON) attribute value at this many characters."""
OPTUNA_CONSTRAINTS = "constraints"
"""The trial system attribute that holds the constraint values as a list: what Optuna's samplers
write from ``constraints_func``, what ``Trial.constraints`` and ``best_trials`` read, and the
only form optuna-dashboard 0.21 reads (it ignores ``Trial.set_constraint``'s per-name keys)."""


def student_attrs(student: StudentConfig, roles: LayerRoles) -> dict[str, str]:
    """The short attributes of a student: its code, each layer's bits, its distillation."""
    attrs = {ATTR_CODE: student_summary(student.model_dump(mode="json"))}
    for name, precision in student.precision.resolve(roles.layers).items():
        attrs[f"{BITS_PREFIX}{name}"] = layer_code(precision, roles.knobs(name))
    attrs[ATTR_DISTILL] = distill_line(student.distill.model_dump(mode="json"))
    return attrs


def layer_code(precision: LayerPrecision, knobs: Sequence[str]) -> str:
    """``W4/U4/BN8``: the layer's weight, membrane and BN bits, those it has (``knobs``)."""
    parts = [f"W{precision.w_bits}"]
    if "u_bits" in knobs:
        parts.append(f"U{precision.u_levels}lv" if precision.u_levels else f"U{precision.u_bits}")
    if "bn_bits" in knobs:
        parts.append(f"BN{precision.bn_bits}")
    return "/".join(parts)


def distill_line(distill: Mapping[str, Any]) -> str:
    """``layers conv2,conv3; membrane 1.5; kd 0.5 at T 3/4`` (KD and spike terms when on)."""
    layers = distill.get("layers", [])
    shown = layers if isinstance(layers, str) else ",".join(layers) or "none"
    parts = [f"layers {shown}", f"membrane {distill.get('membrane_weight', 0):.3g}"]
    if distill.get("kd_weight"):
        parts.append(
            f"kd {distill['kd_weight']:.3g} at T {distill.get('teacher_temperature', 0):.3g}"
            f"/{distill.get('student_temperature', 0):.3g}"
        )
    if distill.get("spike_weight"):
        parts.append(f"spikes {distill['spike_weight']:.3g}")
    return "; ".join(parts)


def store_constraints(trial: optuna.Trial, constraints: Mapping[str, float]) -> None:
    """Constraint values (<= 0 holds) where Optuna and optuna-dashboard both read them, in the
    order given; their names, the feasibility (a boolean) and its readable line as user
    attributes."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    values = [float(v) for v in constraints.values()]
    storage.set_trial_system_attr(trial_id, OPTUNA_CONSTRAINTS, values)
    for key, value in constraint_attrs(constraints).items():
        trial.set_user_attr(key, value)


def constraint_attrs(constraints: Mapping[str, float]) -> dict[str, Any]:
    """The user attributes of a trial's constraints: by name, whether all hold, and (when there
    are any) the readable line."""
    attrs: dict[str, Any] = {
        ATTR_CONSTRAINTS: {k: float(v) for k, v in constraints.items()},
        ATTR_FEASIBLE: all(v <= 0 for v in constraints.values()),
    }
    if constraints:
        attrs[ATTR_FEASIBILITY] = feasibility(constraints)
    return attrs


SHOWN_METRICS = (
    "edap",
    "energy_pj",
    "latency_ns",
    "area_um2",
    "spikes_per_sample",
    "tops_per_w",
)
"""Metrics shown one per attribute as stored; every metric is in the trial's ``metrics``
document."""
SHOWN_ACCURACIES = {
    "val_accuracy": "validation accuracy (%)",
    "test_accuracy": "test accuracy (%)",
}
"""Accuracies shown one per attribute, in percent and named by their split, as every table
shows them (stored as fractions in ``metrics``)."""


def shown_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    shown = {
        label: 100.0 * metrics[key]
        for key, label in SHOWN_ACCURACIES.items()
        if isinstance(metrics.get(key), (int, float))
    }
    shown.update({k: metrics[k] for k in SHOWN_METRICS if isinstance(metrics.get(k), (int, float))})
    return shown


def short(text: str) -> str:
    """``text`` cut to what the dashboard shows whole (the full text goes to the log)."""
    if len(text) <= MAX_ATTR_CHARS:
        return text
    return text[: MAX_ATTR_CHARS - 1] + "…"


def too_long(attrs: Mapping[str, Any]) -> dict[str, int]:
    """Attributes whose value the dashboard would cut: name -> length of the shown text."""
    lengths = {k: len(v if isinstance(v, str) else json.dumps(v)) for k, v in attrs.items()}
    return {k: n for k, n in lengths.items() if n > MAX_ATTR_CHARS}
