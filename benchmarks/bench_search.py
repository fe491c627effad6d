"""Does the search beat random search and a researcher's uniform bits? Measured over seeds.

On mnist5k (real MNIST, offline) at reduced cost (14x14 frames, vgg5 at width 0.25, T=2, 250
images of each digit per split, one epoch per trial), with one shared teacher:

1. Noise floor: one configuration (the uniform W4/U4/BN8 baseline) trained with several
   training seeds, against the spread of the same metrics over the random sampler's searched
   trials. The comparison below means something only when the space spreads at least 3x the
   noise; both are printed.
2. Samplers (nsga2, tpe, random) at an equal trial budget and the same seeds: validation
   hypervolume (accuracy on the validation split against EDAP, reference accuracy 0 and the FP32
   baseline's EDAP, normalised by that box), its mean and spread over seeds, hypervolume against
   trials (PNG), and per seed whether a searched trial dominates each uniform baseline on
   validation and, for the same trial, on test. Training compute is counted in training
   samples processed.

3. One-shot (``--strategies oneshot``, docs/design/methods.md section 6): per seed one study with
   ``study.strategy: oneshot`` (a supernet trained for ``--supernet-epochs`` with the sandwich
   rule, ``--proxy-trials`` configurations scored by it, the best ``--front`` fine-tuned for
   the trials' epochs, the four baselines as always). Reported: Kendall tau between the proxy's
   validation accuracy and the fine-tuned validation accuracy over the fine-tuned configurations
   (per seed and pooled), for the switchable BN statistics and for per-configuration
   re-estimation; the final front's hypervolume against the train-every-trial samplers' at their
   full budget and at equal or smaller training compute (their first k trials); training samples
   processed by each; the proxy's scoring rate; and the scoring rate on digits.

    python benchmarks/bench_search.py                       # 3 seeds x 36 trials per sampler
    python benchmarks/bench_search.py --smoke               # tiny, to check that it runs
    python benchmarks/bench_search.py --strategies oneshot trials --samplers nsga2 random

The last line is the best sampler's mean hypervolume over random's (with only the oneshot
strategy: oneshot's mean hypervolume over nsga2's prior figure is not known, so its own).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from oneshot_bench import OneShotRuns, digits_scoring_rate, kendall, oneshot_study  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from mdsnn_search.data import load_dataset  # noqa: E402
from mdsnn_search.metrics import TEST_ACCURACY  # noqa: E402
from mdsnn_search.results import hypervolume  # noqa: E402
from mdsnn_search.search.run import run_study  # noqa: E402
from mdsnn_search.search.teacher import ensure_teacher  # noqa: E402
from mdsnn_search.spec.objectives import ATTR_BASELINE, ATTR_METRICS  # noqa: E402
from mdsnn_search.spec.schema import StudySpec  # noqa: E402
from mdsnn_search.study.documents import trial_document  # noqa: E402
from mdsnn_search.terminal import console as make_console  # noqa: E402

SPEC = Path(__file__).parents[1] / "search_spaces" / "mnist5k.yaml"
DIRECTIONS = ["maximize", "minimize"]
UNIFORM = ("w8u8", "w4u4", "w2u2")
Trial = optuna.trial.FrozenTrial
STRATEGIES = ("trials", "oneshot")


def bench_document(smoke: bool) -> dict[str, Any]:
    """The mnist5k spec at the benchmark's reduced cost (every change written here)."""
    doc = yaml.safe_load(SPEC.read_text())
    doc["data"].update(frame_size=14, timesteps=2, max_per_class=250)
    doc["model"]["width"] = 0.25
    doc["teacher"]["training"].update(epochs=6)
    doc["training"].update(epochs=1)
    doc["execution"] = {"backend": "inline"}
    if smoke:
        doc["data"]["max_per_class"] = 30
        doc["teacher"]["training"]["epochs"] = 1
        doc["training"]["epochs"] = 1
    return doc


def study_spec(doc: dict[str, Any], workdir: Path, name: str, **changes: Any) -> StudySpec:
    study = {**doc["study"], "name": name, "storage": f"sqlite:///{workdir / 'bench.db'}"}
    for section, values in changes.items():
        if section == "study":
            study.update(values)
    document = {**doc, "study": study}
    for section, values in changes.items():
        if section != "study":
            document[section] = {**doc.get(section, {}), **values}
    return StudySpec.model_validate(document)


def completed(spec: StudySpec) -> list[Trial]:
    study = optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())
    return sorted(
        (t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE),
        key=lambda t: t.number,
    )


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(accuracy, EDAP): ``a`` is no worse in both and better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def test_point(trial: Trial) -> tuple[float, float]:
    return float(trial_document(trial, ATTR_METRICS)[TEST_ACCURACY]), float(trial.values[1])


def noise_floor(doc: dict[str, Any], workdir: Path, seeds: int) -> list[Trial]:
    """The W4/U4/BN8 baseline trained with ``seeds`` training seeds, one study each."""
    runs = []
    for seed in range(seeds):
        spec = study_spec(
            doc,
            workdir,
            f"noise-{seed}",
            study={"baselines": ["w4u4"], "n_trials": 1},
            training={"seed": seed},
        )
        run_study(spec, progress=False)
        runs.extend(completed(spec))
    return runs


def spread_row(label: str, trials: list[Trial]) -> tuple[str, float, float]:
    accuracy = [100 * t.values[0] for t in trials]
    log_edap = [float(np.log10(t.values[1])) for t in trials]
    return label, statistics.stdev(accuracy), statistics.stdev(log_edap)


def hypervolume_curve(trials: list[Trial], reference: list[float], box: float) -> list[float]:
    """Normalised validation hypervolume of the first k trials, k = 1..n."""
    return [
        hypervolume([t.values for t in trials[:k]], DIRECTIONS, reference) / box
        for k in range(1, len(trials) + 1)
    ]


def domination(trials: list[Trial]) -> dict[str, str]:
    """Per uniform baseline: 'val+test' when one searched trial dominates it on both splits,
    'val' when only on validation, '-' otherwise."""
    searched = [t for t in trials if ATTR_BASELINE not in t.user_attrs]
    result = {}
    for baseline in (t for t in trials if t.user_attrs.get(ATTR_BASELINE) in UNIFORM):
        on_val = [s for s in searched if dominates(tuple(s.values), tuple(baseline.values))]  # type: ignore[arg-type]
        on_both = [s for s in on_val if dominates(test_point(s), test_point(baseline))]
        result[baseline.user_attrs[ATTR_BASELINE]] = (
            "val+test" if on_both else "val" if on_val else "-"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--trials", type=int, default=36, help="trials per study, baselines included"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise-seeds", type=int, default=4)
    parser.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "random"])
    parser.add_argument("--plot", type=Path, default=Path("docs/bench_search_hv.png"))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--front", type=int, default=8, help="oneshot: configurations fine-tuned")
    parser.add_argument("--supernet-epochs", type=int, default=2)
    parser.add_argument(
        "--sandwich-random", type=int, default=2, help="oneshot: random configurations per step"
    )
    parser.add_argument("--proxy-trials", type=int, default=1000)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--digits-configs", type=int, default=300, help="0: skip the digits rate")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.seeds, args.noise_seeds = 6, 1, 2
        args.front, args.supernet_epochs, args.proxy_trials, args.population = 2, 1, 40, 20
        args.digits_configs = min(args.digits_configs, 20)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = make_console()
    doc = bench_document(args.smoke)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        first = study_spec(doc, workdir, "teacher")
        bundle = load_dataset(first.data).with_validation(
            first.data.val_fraction, first.data.split_seed
        )
        teacher = ensure_teacher(first, bundle, progress=False)
        doc["teacher"] = {"checkpoint": str(teacher.checkpoint.resolve())}
        samples_per_epoch = len(bundle.train)
        console.print(
            f"teacher: {teacher.checkpoint.name}; {samples_per_epoch} training samples per epoch"
        )

        oneshot: list[OneShotRuns] = []
        for seed in range(args.seeds if "oneshot" in args.strategies else 0):
            spec = study_spec(
                doc,
                workdir,
                f"oneshot-{seed}",
                study={
                    "strategy": "oneshot",
                    "sampler": "nsga2",
                    "seed": seed,
                    "n_trials": len(doc["study"]["baselines"]) + args.front,
                },
                oneshot={
                    "training": {**doc["training"], "epochs": args.supernet_epochs, "seed": seed},
                    "proxy_trials": args.proxy_trials,
                    "population": args.population,
                    "sandwich_random": args.sandwich_random,
                },
            )
            oneshot.append(oneshot_study(spec, bundle, samples_per_epoch))
            run = oneshot[-1]
            console.print(
                f"seed {seed} oneshot: {len(run.trials)} trials complete, "
                f"{run.training_samples:,} training samples ({run.supernet_samples:,} supernet), "
                f"tau switchable {run.tau('switchable'):.3f} "
                f"recalibrate {run.tau('recalibrate'):.3f}, "
                f"proxy {run.scoring_per_min:,.0f} configurations/min"
            )
        studies: dict[str, list[list[Trial]]] = {
            name: [] for name in (args.samplers if "trials" in args.strategies else [])
        }
        for seed in range(args.seeds):
            for sampler in studies:
                spec = study_spec(
                    doc,
                    workdir,
                    f"{sampler}-{seed}",
                    study={"sampler": sampler, "seed": seed, "n_trials": args.trials},
                )
                run_study(spec, progress=False)
                studies[sampler].append(completed(spec))
                console.print(f"seed {seed} {sampler}: {len(studies[sampler][-1])} trials complete")
        noise = noise_floor(doc, workdir, args.noise_seeds if studies else 0)

    first_run = next(iter(studies.values()))[0] if studies else oneshot[0].trials
    fp32 = next(t for t in first_run if t.user_attrs.get(ATTR_BASELINE) == "fp32")
    reference = [0.0, float(fp32.values[1])]
    box = 1.0 * reference[1]
    per_trial = doc["training"]["epochs"] * samples_per_epoch
    if oneshot:
        oneshot_table(console, oneshot, studies, reference, box, per_trial)
    if args.digits_configs:
        rate, samples = digits_scoring_rate(args.digits_configs)
        console.print(
            f"proxy scoring on digits ({samples} validation samples per configuration, "
            f"{torch.get_num_threads()} threads): {rate:,.0f} configurations/min (target >= 1,000)"
        )
    if not studies:
        mean = statistics.mean(hypervolume_curve(r.trials, reference, box)[-1] for r in oneshot)
        print(f"oneshot_hv={mean:.4f}")
        return

    if noise:
        noise_table(console, noise, studies)
    trials_table(console, args, studies, curves_of(studies, reference, box), per_trial, doc)
    headline = sampler_headline(studies, reference, box, args)
    if oneshot:
        mean = statistics.mean(hypervolume_curve(r.trials, reference, box)[-1] for r in oneshot)
        best = max(
            statistics.mean(c[:, -1].tolist()) for c in curves_of(studies, reference, box).values()
        )
        headline = f"oneshot_hv_vs_best_trials={mean / best:.3f}"
    print(headline)


def noise_table(
    console: Console, noise: list[Trial], studies: dict[str, list[list[Trial]]]
) -> None:
    floor = Table(
        title="noise floor against the search space's spread (std; accuracy on validation)"
    )
    for column in ("", "accuracy (points)", "log10 EDAP"):
        floor.add_column(column, justify="right")
    rows = [spread_row(f"W4/U4/BN8 over {len(noise)} training seeds", noise)]
    if "random" in studies:
        searched = [
            t for run in studies["random"] for t in run if ATTR_BASELINE not in t.user_attrs
        ]
        rows.append(spread_row(f"random sampler's {len(searched)} searched trials", searched))
        rows.append(
            (
                "space / noise",
                rows[1][1] / max(rows[0][1], 1e-9),
                rows[1][2] / max(rows[0][2], 1e-9),
            )
        )
    for label, accuracy, edap in rows:
        floor.add_row(label, f"{accuracy:.2f}", f"{edap:.4f}")
    console.print(floor)


def curves_of(
    studies: dict[str, list[list[Trial]]], reference: list[float], box: float
) -> dict[str, np.ndarray]:
    return {
        sampler: np.array([hypervolume_curve(run, reference, box) for run in runs], dtype=float)
        for sampler, runs in studies.items()
    }


def trials_table(
    console: Console,
    args: argparse.Namespace,
    studies: dict[str, list[list[Trial]]],
    curves: dict[str, np.ndarray],
    per_trial: int,
    doc: dict[str, Any],
) -> None:
    table = Table(
        title=f"samplers: {args.trials} trials per study, seeds 0..{args.seeds - 1}; "
        "validation hypervolume"
    )
    for column in (
        "sampler",
        "HV mean",
        "HV std",
        "per seed",
        "vs random",
        "uniform baselines dominated per seed",
        "training samples",
    ):
        table.add_column(column, justify="right")
    finals = {sampler: curve[:, -1].tolist() for sampler, curve in curves.items()}
    means = {sampler: statistics.mean(values) for sampler, values in finals.items()}
    for sampler, runs in studies.items():
        trained = sum(
            1 for run in runs for t in run if t.user_attrs.get(ATTR_BASELINE) != "fp32"
        ) / len(runs)
        dominated = "; ".join(
            ", ".join(f"{name} {how}" for name, how in sorted(domination(run).items()))
            for run in runs
        )
        spread = statistics.stdev(finals[sampler]) if len(finals[sampler]) > 1 else 0.0
        table.add_row(
            sampler,
            f"{means[sampler]:.4f}",
            f"{spread:.4f}",
            " ".join(f"{hv:.4f}" for hv in finals[sampler]),
            f"{means[sampler] / means['random']:.3f}" if "random" in means else "-",
            dominated,
            f"{trained * per_trial:,.0f}",
        )
    console.print(table)

    figure, axis = plt.subplots(figsize=(6, 4))
    for sampler, curve in curves.items():
        x = np.arange(1, curve.shape[1] + 1)
        axis.plot(x, curve.mean(0), label=sampler)
        axis.fill_between(x, curve.min(0), curve.max(0), alpha=0.2)
    axis.set(
        xlabel="trials (first 4: baselines)",
        ylabel="validation hypervolume (normalised)",
        title=f"mnist5k, {args.seeds} seeds: mean, band = min..max",
    )
    axis.legend()
    figure.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=120)
    console.print(f"plot: {args.plot}")


def sampler_headline(
    studies: dict[str, list[list[Trial]]],
    reference: list[float],
    box: float,
    args: argparse.Namespace,
) -> str:
    means = {
        sampler: statistics.mean(curve[:, -1].tolist())
        for sampler, curve in curves_of(studies, reference, box).items()
    }
    best = (
        max(means[s] for s in means if s != "random") if len(means) > 1 else means[args.samplers[0]]
    )
    return f"hv_ratio_vs_random={best / means.get('random', best):.3f}"


def equal_compute_hv(
    run: list[Trial], budget: int, per_trial: int, reference: list[float], box: float
) -> tuple[float, int]:
    """Hypervolume of the longest prefix of ``run`` trained within ``budget`` samples, and its
    trial count (the FP32 baseline, the teacher itself, trains nothing)."""
    spent, k = 0, 0
    for trial in run:
        cost = 0 if trial.user_attrs.get(ATTR_BASELINE) == "fp32" else per_trial
        if spent + cost > budget:
            break
        spent += cost
        k += 1
    if k == 0:
        return 0.0, 0
    return hypervolume([t.values for t in run[:k]], DIRECTIONS, reference) / box, k


def oneshot_table(
    console: Console,
    runs: list[OneShotRuns],
    studies: dict[str, list[list[Trial]]],
    reference: list[float],
    box: float,
    per_trial: int,
) -> None:
    """Part 3: per seed and pooled, with the train-every-trial samplers beside it."""
    table = Table(
        title="oneshot against train-every-trial "
        "(validation hypervolume, compute in training samples)"
    )
    columns = ["seed", "oneshot HV", "oneshot samples"]
    for sampler in studies:
        columns += [
            f"{sampler} HV (full)",
            f"{sampler} samples",
            f"{sampler} HV at <= oneshot samples",
        ]
    columns += ["tau switchable", "tau recalibrate", "proxy configs/min"]
    for column in columns:
        table.add_column(column, justify="right")
    hvs, ratios = [], []
    equal: dict[str, list[float]] = {s: [] for s in studies}
    for seed, run in enumerate(runs):
        hv = hypervolume_curve(run.trials, reference, box)[-1]
        hvs.append(hv)
        row = [str(seed), f"{hv:.4f}", f"{run.training_samples:,}"]
        for sampler, seeds in studies.items():
            trials = seeds[seed]
            full = hypervolume_curve(trials, reference, box)[-1]
            samples = sum(per_trial for t in trials if t.user_attrs.get(ATTR_BASELINE) != "fp32")
            at, k = equal_compute_hv(trials, run.training_samples, per_trial, reference, box)
            equal[sampler].append(at)
            ratios.append(run.training_samples / samples)
            row += [f"{full:.4f}", f"{samples:,}", f"{at:.4f} ({k} trials)"]
        row += [
            f"{run.tau('switchable'):.3f}",
            f"{run.tau('recalibrate'):.3f}",
            f"{run.scoring_per_min:,.0f}",
        ]
        table.add_row(*row)
    console.print(table)
    pooled_final = [a for r in runs for a in r.finetuned]
    for mode in ("switchable", "recalibrate"):
        pooled = [a for r in runs for a in r.proxy[mode]]
        console.print(
            f"Kendall tau, proxy ({mode} BN) vs fine-tuned validation accuracy, pooled over "
            f"{len(pooled)} configurations of {len(runs)} seeds: "
            f"{kendall(pooled, pooled_final):.3f}; "
            f"per seed mean {statistics.mean(r.tau(mode) for r in runs):.3f}"
        )
    spread = statistics.stdev(hvs) if len(hvs) > 1 else 0.0
    console.print(f"oneshot HV mean {statistics.mean(hvs):.4f} +- {spread:.4f} (std over seeds)")
    for sampler, values in equal.items():
        finals = [hypervolume_curve(run, reference, box)[-1] for run in studies[sampler]]
        console.print(
            f"{sampler}: HV mean {statistics.mean(finals):.4f} at full budget, "
            f"{statistics.mean(values):.4f} at oneshot's compute; oneshot / {sampler} compute "
            f"{statistics.mean(ratios):.3f} "
            "(target: oneshot reaches the full-budget mean at <= 0.2)"
        )


if __name__ == "__main__":
    main()
