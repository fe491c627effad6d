"""Search quality and throughput on digits.

1. Quality: one study per sampler (nsga2, tpe, random) at the same trial budget and seeds, all
   against one shared teacher and one fixed hypervolume reference (accuracy 0, the FP32
   baseline's EDAP). Reports each sampler's normalised hypervolume, its ratio to random's, and
   whether each quantized uniform baseline is dominated by a searched (non-baseline) trial.
2. Throughput: trials per hour on Ray Tune with 1 and 2 concurrent trials (1 CPU each).

    python benchmarks/bench_search.py                  # 16 trials per sampler, 1 seed
    python benchmarks/bench_search.py --smoke          # tiny, to check that it runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from rich.console import Console
from rich.table import Table

from mdsnn_search.data import load_dataset
from mdsnn_search.search.objectives import ATTR_BASELINE
from mdsnn_search.search.results import hypervolume, pareto_front
from mdsnn_search.search.run import run_study
from mdsnn_search.search.spec import StudySpec
from mdsnn_search.search.teacher import ensure_teacher

SPEC = Path(__file__).parents[1] / "search_spaces" / "digits.yaml"


def _spec(base: dict, workdir: Path, name: str, **study: object) -> StudySpec:
    document = {**base, "study": {**base["study"], "name": name, "storage": f"sqlite:///{workdir / 'bench.db'}", **study}}
    return StudySpec.model_validate(document)


def _study(spec: StudySpec) -> optuna.Study:
    return optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())


def quality(base: dict, workdir: Path, samplers: list[str], seeds: list[int], n_trials: int) -> dict[str, list[float]]:
    directions = ["maximize", "minimize"]
    hv: dict[str, list[float]] = {name: [] for name in samplers}
    dominated: dict[str, list[str]] = {name: [] for name in samplers}
    reference: list[float] | None = None
    for seed in seeds:
        for sampler in samplers:
            spec = _spec(base, workdir, f"{sampler}-{seed}", sampler=sampler, seed=seed, n_trials=n_trials)
            run_study(spec, progress=False)
            trials = [t for t in _study(spec).get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
            if reference is None:
                fp32 = next(t for t in trials if t.user_attrs.get(ATTR_BASELINE) == "fp32")
                reference = [0.0, fp32.values[1]]
            box = 1.0 * reference[1]  # ideal (accuracy 1, EDAP 0) to reference
            hv[sampler].append(hypervolume([t.values for t in trials], directions, reference) / box)
            searched = [t for t in trials if ATTR_BASELINE not in t.user_attrs]
            for baseline in (t for t in trials if t.user_attrs.get(ATTR_BASELINE) not in (None, "fp32")):
                if any(pareto_front([s, baseline], directions) == [s] for s in searched):
                    dominated[sampler].append(baseline.user_attrs[ATTR_BASELINE])
            print(f"seed {seed} {sampler}: normalised hypervolume {hv[sampler][-1]:.4f}", flush=True)
    table = Table(title=f"sampler quality on digits, {n_trials} trials per study, seeds {seeds}")
    for column in ("sampler", "norm. hypervolume", "ratio vs random", "baselines dominated by a searched trial"):
        table.add_column(column, justify="right")
    random_hv = statistics.mean(hv["random"])
    for sampler in samplers:
        mean = statistics.mean(hv[sampler])
        table.add_row(sampler, f"{mean:.4f}", f"{mean / random_hv:.3f}", ", ".join(sorted(set(dominated[sampler]))) or "none")
    Console().print(table)
    return hv


def throughput(base: dict, workdir: Path, n_trials: int) -> dict[int, float]:
    rates = {}
    for concurrent in (1, 2):
        document = {**base, "execution": {**base["execution"], "backend": "ray", "cpus_per_trial": 1, "max_concurrent": concurrent}}
        spec = _spec(document, workdir, f"throughput-{concurrent}", baselines=[], sampler="random", n_trials=n_trials)
        start = time.perf_counter()
        run_study(spec, progress=False)
        rates[concurrent] = n_trials / (time.perf_counter() - start) * 3600
    print(f"trials per hour on Ray (after the teacher is cached): 1 concurrent {rates[1]:.0f}, 2 concurrent {rates[2]:.0f}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--throughput-trials", type=int, default=6)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = yaml.safe_load(SPEC.read_text())
    base["execution"]["backend"] = "inline"
    if args.smoke:
        base["teacher"]["training"]["epochs"] = 1
        base["training"]["epochs"] = 1
        args.trials, args.seeds, args.throughput_trials = 5, 1, 2
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seed_spec = _spec(base, workdir, "teacher")
        teacher = ensure_teacher(seed_spec, load_dataset(seed_spec.data), progress=False)
        base["teacher"] = {"checkpoint": str(teacher.checkpoint.resolve())}
        hv = quality(base, workdir, ["nsga2", "tpe", "random"], list(range(args.seeds)), args.trials)
        throughput(base, workdir, args.throughput_trials)
    best = max(statistics.mean(hv["nsga2"]), statistics.mean(hv["tpe"]))
    print(f"hv_ratio_vs_random={best / statistics.mean(hv['random']):.3f}")


if __name__ == "__main__":
    main()
