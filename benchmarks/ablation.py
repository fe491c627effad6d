"""What the ablation scripts (distill_ablation.py, spquant_ablation.py) share: the training set-up
of a vgg5 teacher and its students on digits, its command-line flags (``--smoke`` among them),
the seeds, and mean ± std over seeds."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setup:
    """One ablation's training: the teacher's and each student's."""

    width: float
    timesteps: int
    max_per_class: int | None
    teacher_epochs: int
    epochs: int
    batch_size: int
    lr: float
    membrane_weight: float
    kd_weight: float


def parser(
    doc: str | None, *, epochs: int, teacher_epochs: int, width: float, batch_size: int, lr: float
) -> argparse.ArgumentParser:
    """The flags every ablation takes, with its own defaults; a script adds its own."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=epochs, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=teacher_epochs)
    parser.add_argument("--width", type=float, default=width, help="vgg5 channel-width multiplier")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--membrane-weight", type=float, default=0.3, help="lambda_mem")
    parser.add_argument("--json", type=Path, help="also write every run's metrics here")
    parser.add_argument(
        "--smoke", action="store_true", help="seconds: 1 seed, width 0.25, 20 digits per class"
    )
    return parser


def training_setup(
    args: argparse.Namespace, *, timesteps: int, smoke_teacher_epochs: int
) -> dict[str, Any]:
    """The :class:`Setup` fields the flags give (``--smoke`` overriding the sizes)."""
    smoke = args.smoke
    return {
        "width": 0.25 if smoke else args.width,
        "timesteps": timesteps,
        "max_per_class": 20 if smoke else None,
        "teacher_epochs": smoke_teacher_epochs if smoke else args.teacher_epochs,
        "epochs": 1 if smoke else args.epochs,
        "batch_size": 16 if smoke else args.batch_size,
        "lr": 1e-2 if smoke else args.lr,
        "membrane_weight": args.membrane_weight,
        "kd_weight": args.kd_weight,
    }


def seeds(args: argparse.Namespace) -> list[int]:
    if args.smoke:
        return [args.first_seed]
    return list(range(args.first_seed, args.first_seed + args.seeds))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
