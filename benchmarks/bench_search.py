"""Does the search earn its compute? Strategies against random search and hand-picked uniform
baselines, over seeds, at equal compute counted in training samples.

On mnist5k (real MNIST, offline) at reduced cost (14x14 frames, vgg5 at width 0.25, T=2, a
few hundred images of each digit per split), one shared teacher, the shipped mnist5k space at
T=2 (W1-W8, U2-U8, keep 0.5-1, T_s 1-2) with its uniform baselines (w8u8, w4u4, w2u2, w1u2k50,
w2u2t1). Strategies: ``random``, ``tpe``, ``nsga2``, ``gp`` (train every trial, that sampler),
``sensitivity`` (its pass, then NSGA-II), ``oneshot`` (one supernet over the whole space,
bits, keep ratios and T_s, trained with in-place distillation; a proxy search over it; its front
fine-tuned as trials, after the same baselines) and ``oneshot-plain`` (the same without in-place
distillation, so its effect on the proxy's Kendall tau is measured). A one-shot study's compute
is its supernet's training samples, its proxy's forward passes (each configuration on the whole
validation split, times the share of its stages the prefix cache ran; a forward pass counted as
1/3 of a training sample, as the sensitivity pass's) and then its trials.

A seed is the search's and the trials' training seed alike (``study.seed`` and
``training.seed``), so the spread over seeds holds the training noise too; the teacher is shared.

Measured with the one front measure (docs/design/methods.md section 8,
:mod:`mdsnn_search.results.front`) in one region for every study: accuracy from the teacher
less the spec's allowed drop to the teacher; log10 EDAP from the costliest uniform baseline to
the space's cheapest configuration. Per strategy: hypervolume mean and std over seeds; the
iso-cost gain over each uniform baseline on validation and on test; hypervolume against compute
(one PNG); the compute at which it first reaches random search's final mean hypervolume. First,
the noise floor: the W4/U4 baseline trained with several seeds against the spread of random
search's trials (accuracy, points), since samplers can differ only where the space spreads
beyond seed noise.

    python benchmarks/bench_search.py                 # 3 seeds x 40 trials, every strategy
    python benchmarks/bench_search.py --smoke         # tiny, to check that it runs
    python benchmarks/bench_search.py --seeds 2 --trials 16 --strategies random nsga2 sensitivity
    python benchmarks/bench_search.py --workdir runs/bench --strategies random oneshot

``--workdir`` keeps the studies (one SQLite file) there: a rerun with the same settings reads the
studies it finds finished instead of running them again, so strategies can be added later and
measured in one table with those already run.

The last line is ``hv_ratio_vs_random=<best strategy's mean / random's mean>``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from oneshot_bench import OneShotRuns, oneshot_study, report_oneshot  # noqa: E402
from rich.table import Table  # noqa: E402

from mdsnn_search.data import load_search_dataset  # noqa: E402
from mdsnn_search.results import Region, iso_cost_gains, region_of_interest  # noqa: E402
from mdsnn_search.search.run import run_study  # noqa: E402
from mdsnn_search.search.teacher import ensure_teacher  # noqa: E402
from mdsnn_search.spec.objectives import ATTR_BASELINE  # noqa: E402
from mdsnn_search.spec.schema import StudySpec  # noqa: E402
from mdsnn_search.strategies.sensitivity import STUDY_SENSITIVITY  # noqa: E402
from mdsnn_search.terminal import console as make_console  # noqa: E402

SPEC = Path(__file__).parents[1] / "search_spaces" / "mnist5k.yaml"
OBJECTIVES = ["accuracy", "edap"]
DIRECTIONS = ["maximize", "minimize"]
SAMPLERS = ("random", "tpe", "nsga2", "gp")
ONESHOT = ("oneshot", "oneshot-plain")
"""The one-shot strategy with in-place distillation, and without it (``oneshot-plain``)."""
STRATEGIES = (*SAMPLERS, "sensitivity", *ONESHOT)
Trial = optuna.trial.FrozenTrial


def bench_document(args: argparse.Namespace) -> dict[str, Any]:
    """The mnist5k spec at the benchmark's reduced cost (every change written here)."""
    doc = yaml.safe_load(SPEC.read_text())
    doc["data"].update(frame_size=14, timesteps=2, max_per_class=args.max_per_class)
    doc["model"]["width"] = 0.25
    doc["teacher"]["training"].update(epochs=args.teacher_epochs)
    doc["training"].update(epochs=args.trial_epochs)
    doc["search_space"]["timesteps"] = [1, 2]  # T_s below the teacher's T=2
    doc["study"]["baselines"] = ["w8u8", "w4u4", "w2u2", "w1u2k50", "w2u2t1"]
    doc["execution"] = {"backend": "inline"}
    return doc


def study_spec(doc: dict[str, Any], workdir: Path, name: str, **changes: Any) -> StudySpec:
    document = {**doc, "study": {**doc["study"], "name": name}}
    document["study"]["storage"] = f"sqlite:///{workdir / 'bench.db'}"
    for section, values in changes.items():
        document[section] = {**document.get(section, {}), **values}
    return StudySpec.model_validate(document)


def load(spec: StudySpec) -> optuna.Study:
    return optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())


@dataclass
class Run:
    """One study: its complete trials by number and the compute before each trial counts."""

    study: optuna.Study
    trials: list[Trial]
    compute: list[float]
    """Training samples spent once trial k is done (pass or supernet included)."""
    hv: list[float] = field(default_factory=list)


def trials_run(spec: StudySpec, per_trial: int) -> Run:
    study = load(spec)
    trials = _complete(study)
    upfront = float(
        study.user_attrs.get(STUDY_SENSITIVITY, {}).get("training_sample_equivalents", 0)
    )
    compute = [upfront + per_trial * (k + 1) for k in range(len(trials))]
    return Run(study, trials, compute)


def _complete(study: optuna.Study) -> list[Trial]:
    return sorted(
        (t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE),
        key=lambda t: t.number,
    )


def measure(run: Run, region: Region) -> None:
    run.hv = [
        region.hypervolume([t.values for t in run.trials[: k + 1]]) for k in range(len(run.trials))
    ]


def noise_floor(doc: dict[str, Any], workdir: Path, seeds: int) -> list[float]:
    """Validation accuracy of the W4/U4 baseline trained with ``seeds`` training seeds."""
    accuracies = []
    for seed in range(seeds):
        spec = study_spec(
            doc,
            workdir,
            f"noise-{seed}",
            study={"baselines": ["w4u4"], "n_trials": 1, "strategy": "trials"},
            training={"seed": seed},
        )
        run_study(spec, progress=False)
        accuracies.extend(t.values[0] for t in _complete(load(spec)))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--trials", type=int, default=40, help="trials per study, baselines included"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise-seeds", type=int, default=4)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--max-per-class", type=int, default=250)
    parser.add_argument("--teacher-epochs", type=int, default=6)
    parser.add_argument("--trial-epochs", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=Path("docs/bench_search_hv.png"))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the studies here and reuse finished ones (default: a temporary folder)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--front", type=int, default=8, help="oneshot: configurations fine-tuned")
    parser.add_argument("--supernet-epochs", type=int, default=2)
    parser.add_argument("--proxy-trials", type=int, default=1000)
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.seeds, args.noise_seeds = 8, 1, 2
        args.max_per_class, args.teacher_epochs, args.trial_epochs = 30, 1, 1
        args.front, args.supernet_epochs, args.proxy_trials = 2, 1, 40
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = make_console()
    doc = bench_document(args)
    runs: dict[str, list[Run]] = {name: [] for name in args.strategies}
    oneshot_runs: dict[str, list[OneShotRuns]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir.resolve() if args.workdir is not None else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        first = study_spec(doc, workdir, "teacher")
        bundle = load_search_dataset(first.data)
        teacher = ensure_teacher(first, bundle, progress=False)
        doc["teacher"] = {"checkpoint": str(teacher.checkpoint.resolve())}
        per_trial = args.trial_epochs * len(bundle.train)
        console.print(f"teacher {teacher.accuracy:.4f} (validation); {per_trial:,} samples a trial")
        for seed in range(args.seeds):
            for name in args.strategies:
                study: dict[str, Any] = {"seed": seed, "n_trials": args.trials}
                if name in SAMPLERS:
                    study.update(strategy="trials", sampler=name)
                elif name == "sensitivity":
                    study.update(strategy="sensitivity", sampler="nsga2")
                if name in ONESHOT:
                    spec = study_spec(
                        doc,
                        workdir,
                        f"{name}-{seed}",
                        study={
                            "strategy": "oneshot",
                            "sampler": "nsga2",
                            "seed": seed,
                            "n_trials": len(doc["study"]["baselines"]) + args.front,
                        },
                        training={"seed": seed},
                        oneshot={
                            "training": {
                                **doc["training"],
                                "epochs": args.supernet_epochs,
                                "seed": seed,
                            },
                            "inplace_distillation": name == "oneshot",
                            "proxy_trials": args.proxy_trials,
                            "population": 50,
                        },
                    )
                    result = oneshot_study(spec, bundle)
                    oneshot_runs.setdefault(name, []).append(result)
                    trials = _complete(load(spec))
                    compute = [result.upfront + per_trial * (k + 1) for k in range(len(trials))]
                    runs[name].append(Run(load(spec), trials, compute))
                else:
                    spec = study_spec(
                        doc, workdir, f"{name}-{seed}", study=study, training={"seed": seed}
                    )
                    run_study(spec, progress=False)
                    runs[name].append(trials_run(spec, per_trial))
                console.print(f"seed {seed} {name}: {len(runs[name][-1].trials)} trials complete")
        noise = noise_floor(doc, workdir, args.noise_seeds)
        reference = next(iter(runs.values()))[0].study
        drop = doc["study"]["constraints"]["max_accuracy_drop"]
        region = region_of_interest(reference, OBJECTIVES, DIRECTIONS, drop)  # type: ignore[arg-type]
        for strategy_runs in runs.values():
            for run in strategy_runs:
                measure(run, region)
        for name, results in oneshot_runs.items():
            report_oneshot(console.print, name, results)
        report(console, args, runs, region, noise)


def report(
    console: Any,
    args: argparse.Namespace,
    runs: dict[str, list[Run]],
    region: Region,
    noise: list[float],
) -> None:
    console.print(f"region: {region.describe()}")
    if "random" in runs:
        searched = [
            100 * t.values[0]
            for r in runs["random"]
            for t in r.trials
            if ATTR_BASELINE not in t.user_attrs
        ]
        seed_noise = statistics.stdev(100 * a for a in noise) if len(noise) > 1 else float("nan")
        spread = statistics.stdev(searched) if len(searched) > 1 else float("nan")
        console.print(
            f"noise floor: W4/U4 over {len(noise)} training seeds {seed_noise:.2f} points (std); "
            f"random search's {len(searched)} searched trials {spread:.2f}; space / noise "
            f"{spread / seed_noise if seed_noise > 0 else float('inf'):.2f} "
            "(the comparison needs >= 3)"
        )
    finals = {name: [r.hv[-1] for r in rs] for name, rs in runs.items()}
    means = {name: statistics.mean(v) for name, v in finals.items()}
    target = means.get("random")
    table = Table(
        title=f"{args.trials} trials per study, {args.seeds} seeds; "
        "hypervolume in the region of interest"
    )
    for column in (
        "strategy",
        "HV mean",
        "HV std",
        "per seed",
        "vs random",
        "compute to random's final HV",
        "compute (samples)",
        "iso-cost gain val/test (points) per seed",
    ):
        table.add_column(column, justify="right")
    for name, strategy_runs in runs.items():
        std = statistics.stdev(finals[name]) if len(finals[name]) > 1 else 0.0
        reach = []
        for run in strategy_runs:
            hit = next(
                (
                    c
                    for c, hv in zip(run.compute, run.hv, strict=True)
                    if target is not None and hv >= target
                ),
                None,
            )
            reach.append("-" if hit is None else f"{hit:,.0f}")
        gains = "; ".join(
            ", ".join(
                f"{g.baseline} "
                + (
                    "none"
                    if g.val_gain is None
                    else f"{100 * g.val_gain:+.1f}/{100 * (g.test_gain or 0):+.1f}"
                )
                for g in iso_cost_gains(run.trials, OBJECTIVES)
            )
            for run in strategy_runs
        )
        table.add_row(
            name,
            f"{means[name]:.4f}",
            f"{std:.4f}",
            " ".join(f"{v:.4f}" for v in finals[name]),
            f"{means[name] / target:.3f}" if target else "-",
            " ".join(reach),
            f"{statistics.mean(r.compute[-1] for r in strategy_runs):,.0f}",
            gains,
        )
    console.print(table)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, strategy_runs in runs.items():
        for i, run in enumerate(strategy_runs):
            axis.plot(
                run.compute,
                run.hv,
                color=f"C{list(runs).index(name)}",
                label=name if i == 0 else None,
                alpha=0.8,
                drawstyle="steps-post",
            )
    axis.set(
        xlabel="compute (training samples)",
        ylabel="hypervolume (region of interest)",
        title=f"mnist5k (reduced), {args.seeds} seed(s): hypervolume against compute",
    )
    axis.legend()
    figure.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=120)
    console.print(f"plot: {args.plot}")
    others = [means[n] for n in means if n != "random"] or [means.get("random", float("nan"))]
    print(f"hv_ratio_vs_random={max(others) / means.get('random', max(others)):.3f}")


if __name__ == "__main__":
    main()
