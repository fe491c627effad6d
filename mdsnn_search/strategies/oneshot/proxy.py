"""The proxy search: NSGA-II over thousands of configurations, each scored by the supernet.

A configuration's proxy accuracy is the supernet evaluated at it on the validation split (never
the test split); its cost comes from the vectorised cost model
(:func:`~mdsnn_search.hardware.estimate_batch`, a whole population per call) with the input
activity measured in that evaluation. BN statistics are the configuration's switchable slots,
or (``oneshot.batch_norm: recalibrate``) those re-estimated on a few training batches. With
switchable statistics a population is evaluated stage by stage (:mod:`.prefix_cache`), each
stage once per distinct prefix of layer configurations, to the same figures as a plain pass.
After each run the proxy study stores its rank noise against its spread (:mod:`.rank_noise`).

The search is its own Optuna study, ``NAME-proxy``, in the main study's storage, every trial
marked ``proxy``; it is written a scored population at a time, so a killed run loses at most
one population and a rerun continues to ``oneshot.proxy_trials``.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.hardware import ConfigBatch, estimate_batch, load_preset
from mdsnn_search.metrics import VAL_ACCURACY
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.models import layer_table
from mdsnn_search.snn.monitor import SpikeMonitor
from mdsnn_search.snn.pruning import kept_input_rates
from mdsnn_search.spec.objectives import ATTR_METRICS, OBJECTIVES
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.prefix_cache import Measured, PrefixEvaluator, network_stages
from mdsnn_search.strategies.oneshot.rank_noise import RankNoise, rank_noise
from mdsnn_search.strategies.oneshot.sandwich import Params, PrecisionSpace
from mdsnn_search.strategies.oneshot.subnet import SubnetConfig
from mdsnn_search.strategies.oneshot.supernet import Supernet

PROXY_SUFFIX = "-proxy"
ATTR_PROXY = "proxy"
"""Trial user attribute: True on every trial of a proxy study."""
STUDY_SCORING = "scoring"
"""Proxy study user attribute: configurations scored, seconds spent scoring (not storing), and
the stages a plain pass would have run against those the prefix cache ran."""
STUDY_RANK_NOISE = "rank_noise"
"""Proxy study user attribute: :class:`~.rank_noise.RankNoise` of the distinct configurations
the last run scored (rank noise, spread, split-half tau, validation samples)."""


def proxy_study_name(name: str) -> str:
    return f"{name}{PROXY_SUFFIX}"


class ProxyScorer:
    """Scores configurations with a trained supernet: validation accuracy, activity, cost."""

    def __init__(
        self,
        spec: StudySpec,
        supernet: Supernet,
        space: PrecisionSpace,
        bundle: DatasetBundle,
        *,
        batch_norm: str | None = None,
    ) -> None:
        assert bundle.validation is not None, "the proxy scores on the validation split"
        self.spec = spec
        self.bundle = bundle
        self.supernet = supernet.eval()
        self.space = space
        self.batch_norm = batch_norm or spec.oneshot.batch_norm
        self.device = next(supernet.parameters()).device
        loader = make_loader(bundle.validation, 1024, shuffle=False)
        self.batches = [(x.to(self.device), y.to(self.device)) for x, y in loader]
        recalibration = make_loader(
            bundle.train,
            spec.oneshot.training.batch_size,
            shuffle=True,
            seed=spec.oneshot.training.seed,
        )
        self.recalibration = [
            (x.to(self.device), y)
            for x, y in itertools.islice(recalibration, spec.oneshot.recalibration_batches)
        ]
        self.table = layer_table(supernet.network)
        self.preset = load_preset(spec.hardware.preset)
        self._decoded: dict[tuple[tuple[str, Any], ...], SubnetConfig] = {}
        stages = network_stages(supernet.network)
        self.evaluator = (
            PrefixEvaluator(supernet.network, stages, supernet.configure_, self.batches)
            if stages is not None and self.batch_norm == "switchable"
            else None
        )
        """Scores by stages, sharing prefixes; ``None``: each configuration a plain forward
        pass (a network that does not run by stages; statistics re-estimated per
        configuration, which a whole forward pass gives)."""

    @torch.no_grad()
    def measure_plain(self, configuration: SubnetConfig) -> Measured:
        """One configuration by a plain forward pass under the spike monitor."""
        network = self.supernet.network
        self.supernet.configure_(configuration)
        if self.batch_norm == "recalibrate":
            recalibrate_bn_(network, self.recalibration)
        correct = []
        with SpikeMonitor(network) as monitor:
            for x, y in self.batches:
                correct.append(network(x).mean(0).argmax(1) == y)
        steps = network.run_timesteps(int(self.batches[0][0].shape[0]))
        return Measured(torch.cat(correct), monitor.spikes_per_sample, monitor.input_rates, steps)

    def configuration(self, params: Params) -> SubnetConfig:
        """The per-layer configuration of ``params`` (decoded once per distinct ``params``)."""
        key = tuple(sorted(params.items()))
        if key not in self._decoded:
            self._decoded[key] = self.space.configuration(params)
        return self._decoded[key]

    def measure(self, configurations: Sequence[Params]) -> list[Measured]:
        """Validation correctness, spikes per sample and input rates of each configuration."""
        layers = [self.configuration(params) for params in configurations]
        if self.evaluator is None:
            return [self.measure_plain(configuration) for configuration in layers]
        return self.evaluator.evaluate(layers)

    def metrics(
        self, configurations: Sequence[Params], measured: Sequence[Measured]
    ) -> list[dict[str, Any]]:
        """Metrics of each measured configuration, keyed as a trial's (``val_accuracy``,
        ``edap``...), the cost of the whole population in one call of the cost model."""
        layers = [self.configuration(params) for params in configurations]
        names = [row.name for row in self.table]
        keep = [[c.keep_ratio.get(n, 1.0) for n in names] for c in layers]
        rates = None
        if self.spec.hardware.use_measured_activity:
            # Masked channels were measured as silent; the cost model wants the kept rows' rates.
            kept = [
                kept_input_rates(self.table, m.input_rates, dict(zip(names, k, strict=True)))
                for m, k in zip(measured, keep, strict=True)
            ]
            rates = [[r[n] for n in names] for r in kept]
        batch = ConfigBatch.from_arrays(
            len(names),
            timesteps=[m.timesteps for m in measured],
            w_bits=[[c[n].w_bits for n in names] for c in layers],
            u_bits=[[c[n].u_bits for n in names] for c in layers],
            bn_bits=[[c[n].bn_bits for n in names] for c in layers],
            keep_fraction=keep,
            input_rate=1.0 if rates is None else rates,
        )
        costs = estimate_batch(self.table, self.preset, batch)
        return [
            {VAL_ACCURACY: m.accuracy, "spikes_per_sample": m.spikes_per_sample, **costs.totals(i)}
            for i, m in enumerate(measured)
        ]

    def score(self, configurations: Sequence[Params]) -> list[dict[str, Any]]:
        """Metrics of each configuration (:meth:`measure`, then :meth:`metrics`)."""
        return self.metrics(configurations, self.measure(configurations))


@dataclass(frozen=True)
class ProxyRun:
    study: optuna.Study
    scored_now: int
    scoring_s: float
    """Seconds spent scoring (supernet and cost model), without storage."""
    noise: RankNoise | None = None
    """Rank noise against spread over the configurations scored now (None: none scored)."""

    def summary(self) -> str:
        """The ``proxy:`` report line: how many, how fast, and whether the proxy ranks."""
        rate = 60 * self.scored_now / max(self.scoring_s, 1e-9)
        line = (
            f"proxy: scored {self.scored_now} configurations in {self.scoring_s:.1f} s "
            f"({rate:,.0f}/min)"
        )
        return line if self.noise is None else f"{line}; {self.noise.describe()}"


def run_proxy_search(
    spec: StudySpec, storage: optuna.storages.BaseStorage, scorer: ProxyScorer
) -> ProxyRun:
    """Run (or finish) the proxy study until it holds ``oneshot.proxy_trials`` complete trials.

    NSGA-II samples from an in-memory copy of the stored study (its sampler rereads every trial
    at each ask, which on an RDB storage costs more than scoring); each scored population is
    then written to the stored study, complete with its values and attributes.
    """
    config = spec.oneshot
    directions = list(spec.study.directions)
    stored = optuna.create_study(
        study_name=proxy_study_name(spec.study.name),
        storage=storage,
        directions=directions,
        load_if_exists=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        stored.set_metric_names(list(spec.study.objectives))
    working = optuna.create_study(
        directions=directions,
        sampler=optuna.samplers.NSGAIISampler(
            population_size=config.population, seed=spec.study.seed
        ),
    )
    working.add_trials(stored.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    metrics_keys = [OBJECTIVES[name].metric for name in spec.study.objectives]
    scored, spent = 0, 0.0
    evaluator = scorer.evaluator
    stages_before = 0 if evaluator is None else evaluator.stages_run
    correct: dict[tuple[tuple[str, Any], ...], np.ndarray] = {}
    while True:
        wanted = min(config.population, config.proxy_trials - len(working.trials))
        if wanted <= 0:
            break
        trials = [working.ask() for _ in range(wanted)]
        params = [_suggest(trial, scorer.space) for trial in trials]
        start = time.perf_counter()
        measured = scorer.measure(params)
        results = scorer.metrics(params, measured)
        spent += time.perf_counter() - start
        for p, m in zip(params, measured, strict=True):
            correct[tuple(sorted(p.items()))] = m.correct.cpu().numpy()
        for trial, metrics in zip(trials, results, strict=True):
            trial.set_user_attr(ATTR_PROXY, True)
            trial.set_user_attr(ATTR_METRICS, metrics)
            working.tell(trial, [float(metrics[key]) for key in metrics_keys])
        stored.add_trials(working.trials[-wanted:])
        scored += wanted
    if not scored:
        return ProxyRun(stored, 0, 0.0)
    before = stored.user_attrs.get(STUDY_SCORING, {"configurations": 0, "seconds": 0.0})
    # Stages: what a plain pass would run (every stage of every configuration) and what ran.
    per_configuration = 1 if evaluator is None else len(evaluator.stages)
    ran = scored if evaluator is None else evaluator.stages_run - stages_before
    stored.set_user_attr(
        STUDY_SCORING,
        {
            "configurations": before["configurations"] + scored,
            "seconds": before["seconds"] + spent,
            "stages": before.get("stages", 0) + scored * per_configuration,
            "stages_run": before.get("stages_run", 0) + ran,
        },
    )
    noise = rank_noise(np.stack(list(correct.values())), seed=spec.study.seed)
    stored.set_user_attr(STUDY_RANK_NOISE, noise.as_attr())
    return ProxyRun(stored, scored, spent, noise)


def _suggest(trial: optuna.Trial, space: PrecisionSpace) -> Params:
    """Let the study's sampler choose every precision parameter of ``trial``."""
    for name, distribution in space.distributions.items():
        trial.suggest_categorical(name, distribution.choices)
    return trial.params
