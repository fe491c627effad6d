"""How fast does the one-shot proxy score configurations on digits? Plain against by stages.

A digits supernet (``search_spaces/digits.yaml`` as a oneshot study: its whole space, or with
``--precision-only`` keep ratio 1 and the data's T, 8 knobs and 20,736 configurations; teacher
1 epoch, supernet a few batches, since the rate does not depend on training), then, in one run
on the same machine and threads:

- plain: a forward pass under the spike monitor per configuration (the scorer before stages);
- by stages, random configurations given a population at a time (as the proxy search gives
  them), the prefix cache carried from one population to the next;
- rank noise against spread over those random configurations (the space);
- by stages, the proxy search itself (NSGA-II populations, in-memory storage), and its rank
  noise against the spread of what it scored.

    python benchmarks/bench_proxy.py                     # 2,000 configurations, torch's threads
    python benchmarks/bench_proxy.py --configs 500 --plain 100 --threads 1
    python benchmarks/bench_proxy.py --teacher-epochs 8 --supernet-epochs 2 --supernet-batches 0
                                                         # trained: rank noise against spread

The last line is ``scoring_rate=<configurations/min by stages, random populations>``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from oneshot_bench import digits_scorer, plain_rate, random_configurations, scoring_rate

from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.proxy import ProxyScorer, run_proxy_search
from mdsnn_search.strategies.oneshot.rank_noise import rank_noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", type=int, default=2000, help="configurations by stages")
    parser.add_argument("--plain", type=int, default=300, help="configurations scored plainly")
    parser.add_argument("--population", type=int, default=50, help="configurations per call")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--supernet-batches", type=int, default=4, help="per epoch; 0: every batch")
    parser.add_argument("--supernet-epochs", type=int, default=1)
    parser.add_argument("--teacher-epochs", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep teacher and supernet")
    parser.add_argument(
        "--precision-only",
        action="store_true",
        help="keep ratio 1 and the data's T (the space of the first measurement)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec, scorer = digits_scorer(
        args.supernet_batches or None,
        supernet_epochs=args.supernet_epochs,
        teacher_epochs=args.teacher_epochs,
        workdir=args.workdir,
        precision_only=args.precision_only,
    )
    space = scorer.space
    samples = sum(int(x.shape[1]) for x, _ in scorer.batches)
    print(
        f"digits: {spec.model.arch} width {spec.model.width}, T={spec.data.timesteps}, "
        f"{samples} validation samples, {len(space.distributions)} knobs; "
        f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}"
    )
    configurations = random_configurations(space, args.configs)
    plain = plain_rate(scorer, configurations[: args.plain])
    print(f"plain: {args.plain} configurations, {plain:,.0f}/min")
    fresh = ProxyScorer(spec, scorer.supernet, space, scorer.bundle)
    staged = scoring_rate(fresh, configurations, args.population)
    evaluator = fresh.evaluator
    assert evaluator is not None
    print(
        f"by stages, random, {args.population} a call: {args.configs} configurations, "
        f"{staged:,.0f}/min ({staged / plain:.2f}x plain); stages run "
        f"{evaluator.stages_run:,} of {len(evaluator.stages) * args.configs:,}"
    )
    measured = fresh.measure(configurations)  # every stage cached: no stage runs again
    space_noise = rank_noise(np.stack([m.correct.numpy() for m in measured]))
    print(f"random configurations: {space_noise.describe()}")
    searched = _proxy_search(spec, scorer, args.configs, args.population)
    print(f"by stages, {searched}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"scoring_rate={staged:.0f}")


def _proxy_search(spec: StudySpec, scorer: ProxyScorer, trials: int, population: int) -> str:
    """The proxy search as the strategy runs it, on a fresh scorer and in-memory storage."""
    config = spec.oneshot.model_copy(update={"proxy_trials": trials, "population": population})
    searched = spec.model_copy(update={"oneshot": config})
    fresh = ProxyScorer(searched, scorer.supernet, scorer.space, scorer.bundle)
    start = time.perf_counter()
    run = run_proxy_search(searched, optuna.storages.InMemoryStorage(), fresh)
    wall = time.perf_counter() - start
    assert fresh.evaluator is not None
    stages = (
        f"stages run {fresh.evaluator.stages_run:,} of {len(fresh.evaluator.stages) * trials:,}"
    )
    return f"NSGA-II proxy search ({wall:.0f} s with storage, {stages}): {run.summary()}"


if __name__ == "__main__":
    main()
