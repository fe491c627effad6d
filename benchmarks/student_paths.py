"""Students through ``run_job``, the path every search trial takes: a regression check of how a
student is made from its teacher.

For each seed a full-precision vgg5 teacher (width 0.5, T=4) is trained on digits; students at
W8/U8, W4/U4 and W2/U2 (BN8) start from it and are distilled for a few epochs (MD-SNN's plain
recipe: every spiking layer, no KD), as the study's baselines are. Run it under the code before
and after a change to the student path and compare the tables: the student path changed nothing
if the means agree within the seeds' spread (the noise floor printed).

    python benchmarks/student_paths.py                # 3 seeds
    python benchmarks/student_paths.py --smoke        # 1 seed, 1 epoch each

The last line is the mean student accuracy over precisions and seeds, in percent.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from mdsnn_search.data import DataConfig, load_dataset
from mdsnn_search.distill import DistillConfig
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig
from mdsnn_search.training_loop import TrainConfig

PRECISIONS = {"W8/U8/BN8": (8, 8), "W4/U4/BN8": (4, 4), "W2/U2/BN8": (2, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 1 if args.smoke else args.seeds
    data = DataConfig(name="digits", timesteps=4)
    bundle = load_dataset(data)
    model = ModelConfig(arch="vgg5", width=0.5)
    teacher_training = TrainConfig(epochs=1 if args.smoke else 6, batch_size=32, lr=3e-3)
    student_training = TrainConfig(epochs=1 if args.smoke else 2, batch_size=32, lr=1e-3)
    accuracy: dict[str, list[float]] = {"FP32 teacher": [], **{label: [] for label in PRECISIONS}}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(seeds):
            teacher_path = Path(scratch) / f"teacher{seed}.pt"
            teacher = run_job(
                TrainSpec(
                    name="teacher",
                    data=data,
                    model=model,
                    training=teacher_training.model_copy(update={"seed": seed}),
                    output=teacher_path,
                ),
                bundle=bundle,
                progress=False,
            )
            accuracy["FP32 teacher"].append(teacher.metrics["accuracy"])
            for label, (w, u) in PRECISIONS.items():
                spec = TrainSpec(
                    name="student",
                    data=data,
                    model=model.model_copy(update={"precision": PrecisionConfig.uniform(w, u, 8)}),
                    training=student_training.model_copy(update={"seed": seed}),
                    teacher=teacher_path,
                    distill=DistillConfig(layers="all"),
                )
                result = run_job(spec, bundle=bundle, progress=False, save=False)
                accuracy[label].append(result.metrics["accuracy"])
                print(f"seed {seed} {label}: {100 * result.metrics['accuracy']:.2f} %", flush=True)
    print(f"\n{'model':<14} {'mean %':>8} {'std %':>7}   per seed %")
    for label, values in accuracy.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        per_seed = " ".join(f"{100 * v:.2f}" for v in values)
        print(f"{label:<14} {100 * statistics.mean(values):8.2f} {100 * spread:7.2f}   {per_seed}")
    students = [v for label in PRECISIONS for v in accuracy[label]]
    floor = max(statistics.stdev(accuracy[label]) if seeds > 1 else 0.0 for label in PRECISIONS)
    print(f"noise floor (largest std over seeds of one precision): {100 * floor:.2f} points")
    print(f"student_mean_accuracy={100 * statistics.mean(students):.2f}")


if __name__ == "__main__":
    main()
