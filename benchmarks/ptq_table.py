"""Post-training quantization: students copied from a trained teacher, before any fine-tuning.

Where every search trial starts. For each seed a full-precision teacher is trained (precise BN
on), then students at each precision are copied from it and evaluated on the test split as they
are, and once more after re-estimating their BN statistics on the training set (precise BN, no
gradient step). Two data sets: scikit-learn's digits (vgg5 at width 0.5, T=4, the digits study's
teacher recipe) and an event folder in N-MNIST's layout that the tests generate (34x34 sensor
binned to 17x17, 10 overlapping classes, vgg5 at width 0.25, T=4).

    python benchmarks/ptq_table.py                # 3 seeds
    python benchmarks/ptq_table.py --smoke        # 1 seed, 1 teacher epoch

The last line is the worst drop of W8/U8 below its teacher over both data sets, in points.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, student_from_teacher
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.terminal import console as make_console
from mdsnn_search.training_loop import TrainConfig, evaluate, fit, seed_everything

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
from data_formats import make_learnable_event_folder  # noqa: E402  (the tests' own event writer)

PRECISIONS: list[tuple[int, int]] = [
    (32, 32),
    (8, 8),
    (4, 4),
    (2, 2),
    (8, 32),
    (4, 32),
    (2, 32),
    (32, 4),
    (32, 2),
]
"""(weight bits, membrane bits); BN is 8 bits wherever the weights are quantized."""


def _label(w: int, u: int) -> str:
    return f"W{w}/U{u}" + ("/BN8" if w < 32 else "")


def _student(teacher: SpikingNetwork, bundle: DatasetBundle, w: int, u: int) -> SpikingNetwork:
    precision = PrecisionConfig.uniform(w, u, 8 if w < 32 else 32)
    config = teacher.config.model_copy(update={"precision": precision})
    return student_from_teacher(teacher, config)


def measure(
    bundle: DatasetBundle, width: float, training: TrainConfig, seed: int
) -> dict[str, tuple[float, float, float]]:
    """Per precision: (accuracy and spikes per sample as copied, accuracy with re-estimated BN)."""
    seed_everything(seed)
    train = make_loader(bundle.train, training.batch_size, shuffle=True, seed=seed)
    test = make_loader(bundle.test, 512, shuffle=False)
    teacher = build_model(
        ModelConfig(arch="vgg5", width=width), bundle.input_shape, bundle.num_classes
    )
    fit(teacher, train, training.model_copy(update={"seed": seed}), progress=False)
    rows = {}
    for w, u in PRECISIONS:
        student = _student(teacher, bundle, w, u)
        copied = evaluate(student, test)
        recalibrate_bn_(student, train)
        rows[_label(w, u)] = (
            copied.accuracy,
            copied.spikes_per_sample,
            evaluate(student, test).accuracy,
        )
    return rows


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f}"


def report(
    console: Console, title: str, runs: list[dict[str, tuple[float, float, float]]]
) -> float:
    """Print one data set's table; return W8/U8's mean drop below the teacher in points."""
    table = Table(title=f"{title}: {len(runs)} seed(s), mean ± std over seeds")
    for column in ("precision", "accuracy as copied %", "spikes/sample", "with precise BN %"):
        table.add_column(column, justify="left" if column == "precision" else "right")
    for label in runs[0]:
        copied = [run[label][0] for run in runs]
        table.add_row(
            label,
            _mean_std(copied),
            f"{statistics.mean(run[label][1] for run in runs):.0f}",
            _mean_std([run[label][2] for run in runs]),
        )
    console.print(table)
    teacher = statistics.mean(run[_label(32, 32)][0] for run in runs)
    return 100 * (teacher - statistics.mean(run[_label(8, 8)][0] for run in runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 1 if args.smoke else args.seeds
    console = make_console()
    with tempfile.TemporaryDirectory() as scratch:
        events_root = make_learnable_event_folder(
            Path(scratch) / "events", classes=10, per_class=30, events=200, spread=6.0, noise=0.6
        )
        datasets: dict[str, tuple[Callable[[], DatasetBundle], float, TrainConfig]] = {
            "digits (vgg5 x0.5, T=4)": (
                lambda: load_dataset(DataConfig(name="digits", timesteps=4)),
                0.5,
                TrainConfig(epochs=8, batch_size=32, lr=3e-3),
            ),
            "events, N-MNIST layout (vgg5 x0.25, T=4, 10 classes)": (
                lambda: load_dataset(
                    DataConfig(
                        name="events",
                        root=events_root,
                        timesteps=4,
                        frame_size=17,
                        sensor_size=(34, 34),
                        test_fraction=0.3,
                        cache_dir=Path(scratch) / "cache",
                    )
                ),
                0.25,
                TrainConfig(epochs=10, batch_size=8, lr=3e-3),
            ),
        }
        drops = []
        for title, (load, width, training) in datasets.items():
            if args.smoke:
                training = training.model_copy(update={"epochs": 1})
            bundle = load()
            runs = [measure(bundle, width, training, seed) for seed in range(seeds)]
            drops.append(report(console, title, runs))
    print(f"w8u8_worst_drop_points={max(drops):.2f}")


if __name__ == "__main__":
    main()
