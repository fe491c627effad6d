"""The one-shot strategy's measurements for ``bench_search.py`` (see its docstring, part 3)."""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import yaml
from scipy.stats import kendalltau

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle, load_dataset
from mdsnn_search.search.run import run_study
from mdsnn_search.search.teacher import ensure_teacher
from mdsnn_search.spec.objectives import ATTR_BASELINE
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.proxy import (
    STUDY_RANK_NOISE,
    STUDY_SCORING,
    ProxyScorer,
    proxy_study_name,
)
from mdsnn_search.strategies.oneshot.sandwich import Params, PrecisionSpace
from mdsnn_search.strategies.oneshot.strategy import STUDY_ONESHOT
from mdsnn_search.strategies.oneshot.supernet_training import (
    SupernetJob,
    load_supernet,
    supernet_path,
    train_supernet,
)
from mdsnn_search.strategies.sensitivity import FORWARD_PER_TRAINING_SAMPLE

Trial = optuna.trial.FrozenTrial
BN_MODES = ("switchable", "recalibrate")


@dataclass
class OneShotRuns:
    """One seed's oneshot study."""

    trials: list[Trial]
    """The main study's complete trials, by number."""
    upfront: float
    """Compute before the first trial: supernet training samples and the proxy's forward
    passes in training-sample equivalents."""
    supernet_samples: int
    proxy: dict[str, list[float]]
    """Per BN mode, the proxy's validation accuracy of each fine-tuned configuration."""
    finetuned: list[float]
    """The fine-tuned validation accuracy of the same configurations."""
    scoring_per_min: float
    rank_noise: dict[str, float]
    """The proxy study's :data:`STUDY_RANK_NOISE` (rank noise, spread, split-half tau)."""

    def tau(self, mode: str) -> float:
        return kendall(self.proxy[mode], self.finetuned)


def report_oneshot(print_line: Callable[[str], None], name: str, runs: list[OneShotRuns]) -> None:
    """Per seed and pooled over seeds: proxy-vs-fine-tuned Kendall tau per BN mode, the proxy
    search's scoring rate and its rank noise against the spread of what it scored."""
    for seed, run in enumerate(runs):
        noise = run.rank_noise
        print_line(
            f"{name} seed {seed}: {len(run.finetuned)} fine-tuned; tau "
            + ", ".join(f"{mode} {run.tau(mode):.3f}" for mode in BN_MODES)
            + f"; scoring {run.scoring_per_min:,.0f} configurations/min; rank noise "
            f"{100 * noise.get('rank_noise', math.nan):.2f} points, spread "
            f"{100 * noise.get('spread', math.nan):.2f}, split-half tau "
            f"{noise.get('split_half_tau', math.nan):.2f}"
        )
    finetuned = [a for run in runs for a in run.finetuned]
    pooled = {m: kendall([a for r in runs for a in r.proxy[m]], finetuned) for m in BN_MODES}
    print_line(
        f"{name} pooled over {len(finetuned)} fine-tuned configurations: Kendall tau "
        + ", ".join(f"{mode} {tau:.3f}" for mode, tau in pooled.items())
        + f"; scoring rate {statistics.mean(r.scoring_per_min for r in runs):,.0f}"
        " configurations/min (mean over seeds)"
    )


def kendall(a: list[float], b: list[float]) -> float:
    if len(a) < 2:
        return math.nan
    return float(kendalltau(a, b).statistic)


def oneshot_study(spec: StudySpec, bundle: DatasetBundle) -> OneShotRuns:
    """Run ``spec`` (strategy oneshot) and measure what part 3 reports."""
    summary = run_study(spec, progress=False)
    study = summary.study
    trials = sorted(
        (t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE),
        key=lambda t: t.number,
    )
    record = study.user_attrs[STUDY_ONESHOT]
    teacher = load_checkpoint(study.user_attrs["teacher"]["checkpoint"]).model
    supernet, space, _ = load_supernet(record["supernet"], spec, teacher)
    front = [t for t in trials if ATTR_BASELINE not in t.user_attrs]
    configurations = [{name: t.params[name] for name in space.distributions} for t in front]
    proxy = {}
    for mode in BN_MODES:
        scorer = ProxyScorer(spec, supernet, space, bundle, batch_norm=mode)
        proxy[mode] = [m["val_accuracy"] for m in scorer.score(configurations)]
    stored = optuna.load_study(
        study_name=proxy_study_name(spec.study.name), storage=spec.study.storage_url()
    )
    scoring = stored.user_attrs.get(STUDY_SCORING, {"configurations": 0, "seconds": 0.0})
    assert bundle.validation is not None
    # Each configuration on the whole validation split, scaled by the share of its stages the
    # prefix cache ran (a stage's share of the forward pass taken as equal).
    ran = scoring.get("stages_run", 1) / max(scoring.get("stages", 1), 1)
    forward = scoring["configurations"] * len(bundle.validation) * ran
    return OneShotRuns(
        trials=trials,
        upfront=int(record["supernet_training_samples"]) + forward / FORWARD_PER_TRAINING_SAMPLE,
        supernet_samples=int(record["supernet_training_samples"]),
        proxy=proxy,
        finetuned=[float(t.values[0]) for t in front],
        scoring_per_min=60 * scoring["configurations"] / max(scoring["seconds"], 1e-9),
        rank_noise=dict(stored.user_attrs.get(STUDY_RANK_NOISE, {})),
    )


def digits_scorer(
    supernet_batches: int | None = 4,
    *,
    supernet_epochs: int = 1,
    teacher_epochs: int = 1,
    workdir: Path | None = None,
    precision_only: bool = False,
) -> tuple[StudySpec, ProxyScorer]:
    """A proxy scorer on digits: ``search_spaces/digits.yaml`` as a oneshot study, its whole
    space (bits, keep ratios, T_s) or, ``precision_only``, at keep ratio 1 and the data's T (the
    space the scoring rate was first measured on). By default the teacher is trained 1
    epoch and the supernet a few batches, since the rate does not depend on how well they are
    trained (rank noise and spread do). ``workdir`` keeps the teacher and supernet caches."""
    doc = yaml.safe_load((Path(__file__).parents[1] / "search_spaces" / "digits.yaml").read_text())
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tmp.mkdir(parents=True, exist_ok=True)
        doc["study"].update(strategy="oneshot", storage=f"sqlite:///{tmp.resolve() / 'digits.db'}")
        if precision_only:
            doc["search_space"].update(keep_ratio=[1.0], timesteps=[])
        doc["teacher"]["training"]["epochs"] = teacher_epochs
        doc["execution"] = {"backend": "inline"}
        doc["oneshot"] = {
            "training": {
                "epochs": supernet_epochs,
                "batch_size": 32,
                "max_batches_per_epoch": supernet_batches,
            }
        }
        spec = StudySpec.model_validate(doc)
        bundle = load_dataset(spec.data).with_validation(
            spec.data.val_fraction, spec.data.split_seed
        )
        with contextlib.chdir(tmp):  # the teacher and supernet caches go to tmp/studies
            teacher = ensure_teacher(spec, bundle, progress=False)
            path = supernet_path(spec, teacher.checkpoint)
            if not path.exists():
                job = SupernetJob(
                    spec.model_dump(mode="json"), str(teacher.checkpoint.resolve()), None, str(path)
                )
                train_supernet(job, report=lambda line: None)
            model = load_checkpoint(teacher.checkpoint).model
            supernet, space, _ = load_supernet(path, spec, model)
        return spec, ProxyScorer(spec, supernet, space, bundle)


def scoring_rate(scorer: ProxyScorer, configurations: list[Params], population: int) -> float:
    """Configurations per minute ``scorer`` scores, given them ``population`` at a time (as the
    proxy search does; its prefix cache carries over from one population to the next)."""
    start = time.perf_counter()
    for first in range(0, len(configurations), population):
        scorer.score(configurations[first : first + population])
    return 60 * len(configurations) / (time.perf_counter() - start)


def plain_rate(scorer: ProxyScorer, configurations: list[Params]) -> float:
    """Configurations per minute by a plain forward pass each (the scorer before stages)."""
    start = time.perf_counter()
    measured = [scorer.measure_plain(scorer.configuration(p)) for p in configurations]
    scorer.metrics(configurations, measured)
    return 60 * len(configurations) / (time.perf_counter() - start)


def random_configurations(space: PrecisionSpace, count: int, seed: int = 0) -> list[Params]:
    rng = np.random.default_rng(seed)
    return [space.random(rng) for _ in range(count)]
