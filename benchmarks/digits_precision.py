"""Digits accuracy at full precision and at uniform W4/U4/BN8 and W2/U2/BN8, without distillation.

Each precision is trained from scratch with the same recipe (vgg5 at width 0.5, T=4, Adam, cosine)
for every seed; the table gives mean and spread over seeds.

    python benchmarks/digits_precision.py                 # 3 seeds, 10 epochs
    python benchmarks/digits_precision.py --smoke         # 1 seed, 1 epoch
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from rich.table import Table

from mdsnn_search.data import DataConfig
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig
from mdsnn_search.terminal import console
from mdsnn_search.training_loop import TrainConfig

PRECISIONS = {"FP32 teacher": (32, 32, 32), "W4/U4/BN8": (4, 4, 8), "W2/U2/BN8": (2, 2, 8)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    seeds, epochs = (1, 1) if args.smoke else (args.seeds, args.epochs)
    torch.set_num_threads(args.threads)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in PRECISIONS}
    start = time.perf_counter()
    for seed in range(seeds):
        for name, bits in PRECISIONS.items():
            spec = TrainSpec(
                name=f"digits-{'-'.join(map(str, bits))}-seed{seed}",
                data=DataConfig(name="digits", timesteps=4),
                model=ModelConfig(arch="vgg5", width=0.5, precision=PrecisionConfig.uniform(*bits)),
                training=TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=seed),
            )
            metrics = run_job(spec, progress=False, save=False).metrics
            results[name].append((metrics["accuracy"], metrics["spikes_per_sample"]))
            print(f"seed {seed} {name}: accuracy {metrics['accuracy']:.4f}", flush=True)
    table = Table(
        title=f"digits, vgg5 (width 0.5), T=4, {epochs} epochs, {seeds} seeds, no distillation"
    )
    for column in ("precision", "accuracy mean", "std", "min", "spikes/sample"):
        table.add_column(column, justify="right")
    for name, runs in results.items():
        accuracies = [a for a, _ in runs]
        table.add_row(
            name,
            f"{statistics.mean(accuracies):.2%}",
            f"{statistics.pstdev(accuracies):.2%}",
            f"{min(accuracies):.2%}",
            f"{statistics.mean(s for _, s in runs):.0f}",
        )
    console().print(table)
    print(f"elapsed_s={time.perf_counter() - start:.0f}")
    print(f"w4_accuracy={statistics.mean(a for a, _ in results['W4/U4/BN8']):.4f}")


if __name__ == "__main__":
    main()
