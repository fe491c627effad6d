"""Accuracy with the crossbar in the loop against ADC resolution, and each resolution's EDAP.

For each seed a full-precision teacher is trained (vgg5, T=4, the digits study's recipe); W4/U4/BN8
and W2/U2/BN8 students are then measured with every layer but the encoding one computed as rram_64
maps it (methods.md section 10: 4-bit cells, 64-row groups of 3x3 taps, an ideal ADC per slice,
calibrated range), at ADC bits 3, 4, 5, 6, 8, and ideal:

- copied: copied from the teacher, BN re-estimated (as every search trial starts), evaluated;
- trained with: distilled from the teacher with the ADC in the loop (a job with ``crossbar``);
- trained without, evaluated with: distilled ideally, then evaluated with the ADC in the loop.

The ideal row is the ideally trained student evaluated ideally. EDAP is the student's on rram_64
at that ADC resolution (``cost --adc-bits``), dense activity; the ideal row's is at the preset's
4 bits, which is what a search pairs with ideal accuracy today. Cells are mean ± std over seeds;
the noise floor is the largest seed std of the ideal row.

    python benchmarks/crossbar_adc_table.py                   # digits, 3 seeds
    python benchmarks/crossbar_adc_table.py --data mnist5k    # also mnist5k
    python benchmarks/crossbar_adc_table.py --smoke           # 1 seed, 1 epoch, 2 resolutions
    python benchmarks/crossbar_adc_table.py --sigma 0.1 0.3 --draws 5   # + device variation

With ``--sigma`` each "trained with" student is also evaluated under each device variation
(lognormal, ``crossbar.variation_sigma``), ``--draws`` seeded draws per seed; such a column is
the mean ± std over all (seed, draw) pairs.

The last line is the W4 student's accuracy at the preset's 4-bit ADC trained with the ADC in the
loop, less trained without it (both evaluated with it), in points, on the first data set.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import torch
from spikingjelly.activation_based import functional

from mdsnn_search.checkpoint import save_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.distill import DistillConfig
from mdsnn_search.hardware import estimate_cost, load_preset
from mdsnn_search.hardware.preset import with_adc_bits
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, layer_table
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.in_the_loop import (
    CrossbarLoopConfig,
    draw_variation_,
    put_crossbar_in_loop_for,
)
from mdsnn_search.snn.models import student_from_teacher
from mdsnn_search.training_loop import TrainConfig, evaluate, fit, seed_everything

IDEAL = "ideal"
COLUMNS = ("copied", "trained with", "trained without, evaluated with")
VARIED = "trained with, sigma {sigma:g}"
STUDENTS = (4, 2)


def _with_adc(model: SpikingNetwork, bits: int, calibration: torch.Tensor) -> SpikingNetwork:
    """A copy of ``model`` with the ADC in the loop, its ranges calibrated on a training batch."""
    mapped = copy.deepcopy(model)
    put_crossbar_in_loop_for(mapped, layer_table(mapped), CrossbarLoopConfig(adc_bits=bits))
    mapped.eval()
    functional.reset_net(mapped)
    with torch.no_grad():
        mapped(calibration)
    functional.reset_net(mapped)
    return mapped


def measure(
    data: DataConfig,
    bundle: DatasetBundle,
    seed: int,
    adc_bits: list[int],
    teacher_training: TrainConfig,
    student_training: TrainConfig,
    scratch: Path,
    sigmas: list[float],
    draws: int,
) -> dict[tuple[int, str, str], list[float]]:
    """(student bits, row, column) -> test accuracies for one seed (one, or one per draw)."""
    seed_everything(seed)
    train = make_loader(bundle.train, teacher_training.batch_size, shuffle=True, seed=seed)
    test = make_loader(bundle.test, 512, shuffle=False)
    model = ModelConfig(arch="vgg5", width=0.5)
    teacher = build_model(model, bundle.input_shape, bundle.num_classes)
    fit(teacher, train, teacher_training.model_copy(update={"seed": seed}), progress=False)
    teacher_path = save_checkpoint(scratch / f"teacher-{seed}.pt", teacher, {})
    teacher.eval()
    calibration = next(iter(make_loader(bundle.train, 256, shuffle=True, seed=seed)))[0]
    cells: dict[tuple[int, str, str], list[float]] = {}
    for w in STUDENTS:
        config = model.model_copy(update={"precision": PrecisionConfig.uniform(w, w, 8)})

        def job(bits: int | None, config: ModelConfig = config) -> SpikingNetwork:
            spec = TrainSpec(
                data=data,
                model=config,
                training=student_training.model_copy(update={"seed": seed}),
                teacher=teacher_path,
                distill=DistillConfig(),
                crossbar=None if bits is None else CrossbarLoopConfig(adc_bits=bits),
            )
            return run_job(spec, teacher=teacher, bundle=bundle, progress=False, save=False).model

        copied = student_from_teacher(teacher, config)
        recalibrate_bn_(copied, train)
        ideal = job(None)
        cells[(w, IDEAL, COLUMNS[0])] = [evaluate(copied, test).accuracy]
        cells[(w, IDEAL, COLUMNS[1])] = cells[(w, IDEAL, COLUMNS[2])] = [
            evaluate(ideal, test).accuracy
        ]
        for bits in adc_bits:
            row = str(bits)
            cells[(w, row, COLUMNS[0])] = [
                evaluate(_with_adc(copied, bits, calibration), test).accuracy
            ]
            trained = job(bits)
            cells[(w, row, COLUMNS[1])] = [evaluate(trained, test).accuracy]
            cells[(w, row, COLUMNS[2])] = [
                evaluate(_with_adc(ideal, bits, calibration), test).accuracy
            ]
            for sigma in sigmas:
                varied = []
                for draw in range(draws):
                    draw_variation_(trained, seed * draws + draw, sigma)
                    varied.append(evaluate(trained, test).accuracy)
                cells[(w, row, VARIED.format(sigma=sigma))] = varied
    return cells


def edap(bundle: DatasetBundle, w: int, bits: int, timesteps: int) -> float:
    table = layer_table(
        build_model(ModelConfig(arch="vgg5", width=0.5), bundle.input_shape, bundle.num_classes)
    )
    precision = PrecisionConfig.uniform(w, w, 8).resolve([row.name for row in table])
    preset = with_adc_bits(load_preset("rram_64"), bits)
    return estimate_cost(table, preset, timesteps=timesteps, precision=precision).edap


def _cell(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):5.1f} ± {100 * spread:4.1f}"


def report(
    title: str,
    runs: list[dict[tuple[int, str, str], list[float]]],
    bundle: DatasetBundle,
    adc_bits: list[int],
    timesteps: int,
    sigmas: list[float],
) -> dict[tuple[int, str, str], float]:
    """Print one data set's table (markdown); return the mean of every cell."""
    rows = [str(b) for b in adc_bits] + [IDEAL]
    columns = COLUMNS + tuple(VARIED.format(sigma=sigma) for sigma in sigmas)
    print(f"\n{title}: {len(runs)} seed(s), test accuracy % mean ± std over seeds")
    header = ["ADC bits"]
    for w in STUDENTS:
        header += [f"W{w}/U{w}/BN8 {column}" for column in columns] + [f"W{w} EDAP (J s mm2)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    means = {}
    floor = 0.0
    for row in rows:
        line = [row]
        for w in STUDENTS:
            for column in columns:
                if (w, row, column) not in runs[0]:
                    line.append("-")
                    continue
                values = [value for run in runs for value in run[(w, row, column)]]
                means[(w, row, column)] = statistics.mean(values)
                line.append(_cell(values))
                if row == IDEAL and len(values) > 1:
                    floor = max(floor, statistics.stdev(values))
            bits = 4 if row == IDEAL else int(row)
            line.append(f"{edap(bundle, w, bits, timesteps):.3e}")
        print("| " + " | ".join(line) + " |")
    print(f"noise floor (largest seed std of the ideal row): {100 * floor:.1f} points")
    return means


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", nargs="+", default=["digits"], choices=["digits", "mnist5k"])
    parser.add_argument("--adc-bits", type=int, nargs="+", default=[3, 4, 5, 6, 8])
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--student-epochs", type=int, default=2)
    parser.add_argument(
        "--sigma", type=float, nargs="*", default=[], help="device variations (lognormal)"
    )
    parser.add_argument("--draws", type=int, default=5, help="variation draws per seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 1 if args.smoke else args.seeds
    adc_bits = [3, 4] if args.smoke else args.adc_bits
    teacher_training = TrainConfig(
        epochs=1 if args.smoke else args.teacher_epochs, batch_size=32, lr=3e-3, device="cpu"
    )
    student_training = TrainConfig(
        epochs=1 if args.smoke else args.student_epochs, batch_size=32, lr=2e-3, device="cpu"
    )
    headline = None
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.data:
            data = DataConfig(name=name, timesteps=4)
            bundle = load_dataset(data)
            runs = [
                measure(
                    data,
                    bundle,
                    seed,
                    adc_bits,
                    teacher_training,
                    student_training,
                    Path(scratch),
                    args.sigma,
                    args.draws,
                )
                for seed in range(seeds)
            ]
            title = f"{name} (vgg5 x0.5, T=4)"
            means = report(title, runs, bundle, adc_bits, data.timesteps, args.sigma)
            if headline is None and 4 in adc_bits:
                headline = 100 * (means[(4, "4", COLUMNS[1])] - means[(4, "4", COLUMNS[2])])
    if headline is not None:
        print(f"w4_adc4_trained_with_minus_without_points={headline:.2f}")


if __name__ == "__main__":
    main()
