"""Ablation of two SpQuant-SNN dimensions on digits: integer membrane and membrane-guided pruning.

Per seed, one full-precision teacher (vgg5, T = 4) is trained on digits; then four W2/BN8
students, each initialised from that teacher and trained the same way (membrane distillation at
every spiking layer plus logit KD, the same epochs and batches), in a 2 x 2 grid:

    membrane:    uniform 2-bit (U2: {-a, 0, a}, learnt a)
             vs  ternary integer (U3lv: {-1, 0, 1} x theta)
    keep ratio:  1.0 (dense)
             vs  0.5 (half the channels of every spiking layer)

Each student goes through :func:`mdsnn_search.job.run_job` (what ``mdsnn-search train`` and every
search trial run: init from the teacher, prune, distil, evaluate) and is costed by the search
trial's own :func:`mdsnn_search.search.trial.cost_metrics` (rram_64 preset, measured activity,
kept channels, stored membrane bits, T_s). The table gives mean and sample standard deviation
over seeds of test accuracy, spikes per sample, EDAP and ops (dense ops at kept channels).

    python benchmarks/spquant_ablation.py                # 3 seeds, the documented run
    python benchmarks/spquant_ablation.py --smoke        # seconds: 1 seed, tiny model and data

The last line is ``ternary_minus_uniform_pp=...``: accuracy of the ternary membrane minus the
uniform 2-bit one at keep ratio 1.0, in percentage points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ablation
import torch
from rich.table import Table

from mdsnn_search.checkpoint import save_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset
from mdsnn_search.distill import DistillConfig
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import LayerPrecision, PrecisionConfig
from mdsnn_search.search.trial import cost_metrics
from mdsnn_search.snn import ModelConfig
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.terminal import console as make_console
from mdsnn_search.training_loop import TrainConfig

TEACHER = "teacher"
MEMBRANES = {
    "U2": LayerPrecision(w_bits=2, u_bits=2, bn_bits=8),
    "U3lv": LayerPrecision(w_bits=2, u_levels=3, bn_bits=8),
}
KEEP_RATIOS = (1.0, 0.5)
VARIANTS = tuple((membrane, keep) for keep in KEEP_RATIOS for membrane in MEMBRANES)
console = make_console()


@dataclass(frozen=True)
class Setup(ablation.Setup):
    preset: str


def label(membrane: str, keep: float) -> str:
    kind = "uniform" if membrane == "U2" else "ternary"
    return f"{membrane} {kind}, keep {keep:.1f}"


def study_spec(s: Setup, data: DataConfig) -> StudySpec:
    """The minimal study whose hardware section the trial's cost function reads."""
    return StudySpec.model_validate(
        {
            "study": {"name": "spquant-ablation", "n_trials": 1},
            "data": data.model_dump(mode="json"),
            "model": {"arch": "vgg5", "width": s.width},
            "hardware": {"preset": s.preset, "use_measured_activity": True},
        }
    )


def run_seed(
    s: Setup, data: DataConfig, bundle: DatasetBundle, seed: int, folder: Path
) -> dict[str, dict[str, object]]:
    model = ModelConfig(arch="vgg5", width=s.width)
    training = TrainConfig(
        epochs=s.teacher_epochs, batch_size=s.batch_size, lr=s.lr, seed=seed, device="cpu"
    )
    teacher = run_job(
        TrainSpec(name=f"teacher{seed}", data=data, model=model, training=training),
        bundle=bundle,
        progress=False,
        save=False,
    )
    teacher_path = save_checkpoint(folder / f"teacher{seed}.pt", teacher.model)
    spec = study_spec(s, data)
    fp = StudentConfig(precision=PrecisionConfig(), distill=DistillConfig())
    runs = {TEACHER: {**teacher.metrics, **cost_metrics(spec, teacher.model, fp, teacher.metrics)}}
    distill = DistillConfig(layers="all", membrane_weight=s.membrane_weight, kd_weight=s.kd_weight)
    for membrane, keep in VARIANTS:
        student = StudentConfig(
            precision=PrecisionConfig(default=MEMBRANES[membrane]),
            distill=distill,
            pruning=PruningConfig(keep_ratio=keep),
        )
        job = TrainSpec(
            name=f"{membrane}-{keep}",
            data=data,
            model=student.model_for(model, data),
            training=training.model_copy(update={"epochs": s.epochs}),
            teacher=teacher_path,
            distill=distill,
        )
        result = run_job(job, teacher=teacher.model, bundle=bundle, progress=False, save=False)
        runs[f"{membrane}@{keep}"] = {
            **result.metrics,
            **cost_metrics(spec, result.model, student, result.metrics),
        }
        console.log(
            f"seed {seed}: {label(membrane, keep):44s} acc {result.metrics['accuracy']:.2%} "
            f"spikes {result.metrics['spikes_per_sample']:.0f}"
        )
    return runs


def summarise(runs: dict[str, list[dict[str, object]]], s: Setup, seeds: int) -> Table:
    table = Table(
        title=f"digits, vgg5 width {s.width}, T={s.timesteps}, "
        f"W2/BN8 students distilled {s.epochs} epochs, {seeds} seed(s), preset {s.preset}"
    )
    columns = (
        "variant",
        "accuracy %",
        "spikes / sample",
        "EDAP (pJ s mm²)",
        "ops (M)",
        "SynOps (M)",
        "EDAP / dense U2",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    reference = [float(r["edap"]) for r in runs["U2@1.0"]]
    names = [(TEACHER, "FP teacher (32 bit)")] + [(f"{m}@{k}", label(m, k)) for m, k in VARIANTS]
    for key, title in names:
        rows = runs[key]
        edap = [float(r["edap"]) for r in rows]
        table.add_row(
            title,
            ablation.fmt([float(r["accuracy"]) for r in rows], 100.0),
            ablation.fmt([float(r["spikes_per_sample"]) for r in rows], digits=0),
            ablation.fmt(edap, 1e12, digits=3),
            ablation.fmt([float(r["ops"]) for r in rows], 1e-6, digits=2),
            ablation.fmt([float(r["synops"]) for r in rows], 1e-6, digits=3),
            ablation.fmt([e / ref for e, ref in zip(edap, reference, strict=True)], digits=3),
        )
    return table


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = ablation.parser(
        __doc__, epochs=6, teacher_epochs=12, width=0.5, batch_size=32, lr=2e-3
    )
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument(
        "--kd-weight", type=float, default=1.0, help="lambda_kd (tau_t = tau_s = 4)"
    )
    parser.add_argument("--preset", default="rram_64")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    setup = Setup(
        **ablation.training_setup(args, timesteps=args.timesteps, smoke_teacher_epochs=2),
        preset=args.preset,
    )
    seeds = ablation.seeds(args)
    data = DataConfig(name="digits", timesteps=setup.timesteps, max_per_class=setup.max_per_class)
    bundle = load_dataset(data)
    keys = [TEACHER] + [f"{m}@{k}" for m, k in VARIANTS]
    runs: dict[str, list[dict[str, object]]] = {key: [] for key in keys}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            for key, metrics in run_seed(setup, data, bundle, seed, Path(folder)).items():
                runs[key].append(metrics)
    console.print(summarise(runs, setup, len(seeds)))
    console.print(
        f"{len(seeds)} seed(s) in {time.perf_counter() - start:.0f} s, {args.threads} thread(s)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    uniform = [float(r["accuracy"]) for r in runs["U2@1.0"]]
    ternary = [float(r["accuracy"]) for r in runs["U3lv@1.0"]]
    gain = statistics.fmean(t - u for t, u in zip(ternary, uniform, strict=True)) * 100.0
    print(f"ternary_minus_uniform_pp={gain:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
