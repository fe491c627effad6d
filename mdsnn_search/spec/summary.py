"""A trial in short, as tables, hover text and the dashboard show it: its student
(``W2/4/8 U4 BN8 D3``) and its feasibility (``infeasible: validation accuracy drop ...``).

They read what a study stores (the student's JSON form, ``StudentConfig.model_dump(mode="json")``,
and the constraint slacks by name), so a stored trial is summarised without rebuilding its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdsnn_search.precision import FULL_PRECISION_BITS, is_full_precision


def student_summary(student: dict[str, Any]) -> str:
    """Short form of a student: the distinct bit-widths in use and the distilled layer count.

    ``W2/4/8 U4 BN8 D3`` reads: weights at 2, 4 or 8 bits, membranes at 4, BN at 8, three
    distilled layers (``Dall``: every spiking layer; ``D0``: no membrane distillation). Widths
    are those the precision config names; a full-precision default that only fills fields the
    per-layer entries leave unset (a linear layer's BN, say) is left out, since without the
    layer table it cannot be told whether any layer uses it. SpQuant-SNN's dimensions add, when
    used: integer membranes among the U widths (``U4/3lv``), ``K0.5/1`` (keep ratios), ``T2``
    (student timesteps) and ``LT`` (learnable thresholds).
    """
    precision = student.get("precision")
    parts: list[str] = []
    if isinstance(precision, dict):
        default = precision.get("default") or {}
        overrides = list((precision.get("layers") or {}).values())
        for key, tag in (("w_bits", "W"), ("u_bits", "U"), ("bn_bits", "BN")):
            bits = {int(layer[key]) for layer in overrides if layer.get(key) is not None}
            levels = (
                {int(layer["u_levels"]) for layer in overrides if layer.get("u_levels")}
                if key == "u_bits"
                else set()
            )
            fallback = default.get(key, FULL_PRECISION_BITS)
            if (
                not (bits or levels)
                or not is_full_precision(fallback)
                and not _overrides_cover_all(precision, key)
            ):
                bits.add(int(fallback))
            parts.append(
                tag + "/".join([str(b) for b in sorted(bits)] + [f"{n}lv" for n in sorted(levels)])
            )
    distill = student.get("distill")
    if isinstance(distill, dict):
        layers = distill.get("layers", [])
        off = distill.get("membrane_weight", 1.0) == 0.0
        parts.append("D0" if off else ("Dall" if layers == "all" else f"D{len(layers)}"))
    parts += _spquant_tags(student)
    return " ".join(parts) or "-"


def _spquant_tags(student: dict[str, Any]) -> list[str]:
    tags = []
    pruning = student.get("pruning")
    if isinstance(pruning, dict) and (
        pruning.get("layers") or pruning.get("keep_ratio", 1.0) != 1.0
    ):
        ratios = {
            float(pruning.get("keep_ratio", 1.0)),
            *map(float, (pruning.get("layers") or {}).values()),
        }
        tags.append("K" + "/".join(f"{r:g}" for r in sorted(ratios)))
    if student.get("timesteps") is not None:
        tags.append(f"T{student['timesteps']}")
    if student.get("learnable_threshold"):
        tags.append("LT")
    return tags


def _overrides_cover_all(precision: dict[str, Any], key: str) -> bool:
    """Whether a ``"*"`` override sets ``key``, so the default is never used for it."""
    star = (precision.get("layers") or {}).get("*") or {}
    return star.get(key) is not None


def feasibility(constraints: Mapping[str, float]) -> str:
    """What a person reads of a trial's constraints, wherever it is listed (the tables, the
    report, the dashboard's trial attributes): ``feasible``, or ``infeasible:`` and by how much
    each violated limit is exceeded (the accuracy drop in points of validation accuracy, the
    split the constraint is judged on)."""
    violated = [_violation(name, slack) for name, slack in constraints.items() if slack > 0.0]
    return "infeasible: " + "; ".join(violated) if violated else "feasible"


def _violation(name: str, slack: float) -> str:
    if name == "accuracy_drop":
        return f"validation accuracy drop {100.0 * slack:.2f} points over max_accuracy_drop"
    if name == "edap":
        return f"EDAP {slack:.3g} J s mm2 over max_edap"
    return f"{name} {slack:.4g} over its limit"
