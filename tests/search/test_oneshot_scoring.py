"""Proxy scoring by stages: the same measurements as a plain forward pass, each shared stage run
once; and the proxy's rank noise against its spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from study_runs import tiny_spec

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle, load_dataset, make_loader
from mdsnn_search.metrics import VAL_ACCURACY
from mdsnn_search.search.trial import cost_metrics
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.models import build_model
from mdsnn_search.snn.monitor import SpikeMonitor
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.prefix_cache import (
    Measured,
    PrefixEvaluator,
    network_stages,
)
from mdsnn_search.strategies.oneshot.proxy import (
    STUDY_RANK_NOISE,
    STUDY_SCORING,
    ProxyScorer,
    run_proxy_search,
)
from mdsnn_search.strategies.oneshot.rank_noise import rank_noise
from mdsnn_search.strategies.oneshot.sandwich import PrecisionSpace
from mdsnn_search.strategies.oneshot.supernet import Supernet
from mdsnn_search.strategies.oneshot.supernet_training import (
    SupernetJob,
    load_supernet,
    train_supernet,
)
from mdsnn_search.training_loop import evaluate

pytestmark = pytest.mark.xdist_group("oneshot-scoring")
"""One worker builds the module's shared fixture once (under ``--dist loadgroup``)."""

Scored = tuple[StudySpec, Supernet, PrecisionSpace, DatasetBundle]


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> Scored:
    """A briefly trained supernet over weight, membrane (uniform and integer) and BN bits, keep
    ratios, student timesteps and learnt thresholds: every knob a stage key must hold."""
    tmp = tmp_path_factory.mktemp("scoring")
    document = tiny_spec(
        tmp,
        study={"strategy": "oneshot"},
        teacher={"checkpoint": str(tiny_teacher)},
        search_space={
            "w_bits": [2, 4, 8],
            "u_bits": [2, 4],
            "u_levels": [3],
            "bn_bits": [4, 8],
            "keep_ratio": [0.5, 1.0],
            "timesteps": [1, 2],
            "learnable_threshold": [False, True],
        },
        oneshot={"training": {"epochs": 1, "batch_size": 16, "max_batches_per_epoch": 3}},
    )
    spec = StudySpec.model_validate(document)
    job = SupernetJob(spec.model_dump(mode="json"), str(tiny_teacher), None, str(tmp / "s.pt"))
    train_supernet(job, lambda line: None)
    supernet, space, _ = load_supernet(tmp / "s.pt", spec, load_checkpoint(tiny_teacher).model)
    bundle = load_dataset(spec.data).with_validation(spec.data.val_fraction, spec.data.split_seed)
    return spec, supernet, space, bundle


def population(space: PrecisionSpace, count: int, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    extremes = [space.extreme(highest=True), space.extreme(highest=False)]
    randoms = [space.random(rng) for _ in range(count)]
    return extremes + randoms + randoms[:3]  # and three scored twice


def assert_same(fast: Measured, plain: Measured) -> None:
    assert torch.equal(fast.correct, plain.correct)
    assert fast.accuracy == plain.accuracy
    assert fast.spikes_per_sample == plain.spikes_per_sample
    assert fast.input_rates == plain.input_rates
    assert fast.timesteps == plain.timesteps


def test_scoring_by_stages_equals_the_plain_forward_pass(scored: Scored) -> None:
    spec, supernet, space, bundle = scored
    scorer = ProxyScorer(spec, supernet, space, bundle)
    assert scorer.evaluator is not None
    configurations = population(space, 40)
    fast = scorer.measure(configurations)
    for params, measured in zip(configurations, fast, strict=True):
        assert_same(measured, scorer.measure_plain(scorer.configuration(params)))
    # Each stage ran once per distinct prefix, none again.
    evaluator = scorer.evaluator
    keys = []
    for params in configurations:
        supernet.configure_(scorer.configuration(params))
        keys.append(evaluator.keys(scorer.configuration(params)))
    prefixes = {k[: depth + 2] for k in keys for depth in range(len(evaluator.stages))}
    assert evaluator.stages_run == len(prefixes) < len(evaluator.stages) * len(set(keys))
    assert scorer.score(configurations[:5]) == scorer.metrics(configurations[:5], fast[:5])


def test_several_batches_and_a_cache_too_small_for_one_output(scored: Scored) -> None:
    """Counts add over batches as the monitor adds them; evicted outputs are recomputed."""
    _, supernet, space, bundle = scored
    assert bundle.validation is not None
    samples = [bundle.validation[i] for i in range(len(bundle.validation))]
    chunks = [samples[i : i + 13] for i in range(0, len(samples), 13)]
    batches = [
        (torch.stack([x for x, _ in chunk], 1), torch.tensor([int(y) for _, y in chunk]))
        for chunk in chunks
    ]
    stages = network_stages(supernet.network)
    assert stages is not None
    evaluator = PrefixEvaluator(
        supernet.network, stages, supernet.configure_, batches, cache_bytes=1
    )
    configurations = [space.configuration(p) for p in population(space, 12, seed=1)]
    for configuration, fast in zip(configurations, evaluator.evaluate(configurations), strict=True):
        supernet.configure_(configuration)
        correct = []
        with torch.no_grad(), SpikeMonitor(supernet.network) as monitor:
            for x, y in batches:
                correct.append(supernet.network(x).mean(0).argmax(1) == y)
        steps = supernet.network.run_timesteps(int(batches[0][0].shape[0]))
        plain = Measured(torch.cat(correct), monitor.spikes_per_sample, monitor.input_rates, steps)
        assert_same(fast, plain)
    assert len(evaluator.outputs) < len(stages)  # only the last path's own


def test_a_change_in_one_layer_reruns_only_the_stages_from_there(scored: Scored) -> None:
    spec, supernet, space, bundle = scored
    scorer = ProxyScorer(spec, supernet, space, bundle)
    assert scorer.evaluator is not None
    stages = scorer.evaluator.stages
    names = [stage.layer for stage in stages]
    base = space.extreme(highest=True)
    scorer.measure([base])
    assert scorer.evaluator.stages_run == len(names)
    last = [n for n in space.distributions if n.startswith("w_bits:")][-1]  # the classifier's
    scorer.measure([{**base, last: min(space.distributions[last].choices)}])
    assert scorer.evaluator.stages_run == len(names) + 1
    # A membrane of the second spiking layer: its synapse's output is shared, not rerun.
    membrane = next(
        n for n in space.distributions if n.endswith(":conv2") and "bits" not in n.split(":")[0]
    )  # membrane:conv2
    choice = next(c for c in space.distributions[membrane].choices if c != base[membrane])
    scorer.measure([{**base, membrane: choice}])
    neuron = next(i for i, s in enumerate(stages) if s.layer == "conv2" and s.neuron)
    reran = len(stages) - neuron  # the neuron and every stage after it
    assert scorer.evaluator.stages_run == len(names) + 1 + reran


def test_a_network_with_shortcuts_is_scored_plainly() -> None:
    resnet = build_model(ModelConfig(arch="resnet18", width=0.25), (1, 8, 8), 10)
    assert network_stages(resnet) is None


def test_rank_noise_is_the_sampling_noise_and_spread_the_population_std() -> None:
    rng = np.random.default_rng(0)
    samples = 2000
    levels = np.linspace(0.5, 0.95, 30)  # 30 configurations, accuracies 50-95 %
    correct = rng.random((len(levels), samples)) < levels[:, None]
    measured = rank_noise(correct, seed=1)
    expected_noise = np.mean(np.sqrt(levels * (1 - levels) / samples))
    assert measured.sample_noise == pytest.approx(expected_noise, rel=0.15)
    assert measured.rank_noise == pytest.approx(expected_noise, rel=0.15)  # independent errors
    assert measured.spread == pytest.approx(np.std(correct.mean(1), ddof=1))
    assert measured.split_half_tau > 0.6  # 1.5 points apart, ~1.3 points of noise per half
    alike = rank_noise(np.tile(correct[:1], (10, 1)), seed=1)
    assert alike.spread == 0.0 and alike.rank_noise < 1e-12 and np.isnan(alike.split_half_tau)


def test_errors_on_the_same_samples_move_no_rank() -> None:
    """Configurations that fail the same hard samples and differ on a few: the sampling noise
    of each is large, the noise of their order small."""
    rng = np.random.default_rng(0)
    shared = rng.random(1000) < 0.8
    correct = np.tile(shared, (20, 1))
    for i in range(20):
        correct[i, :i] = True  # configuration i also gets the first i samples right
    measured = rank_noise(correct, seed=0)
    assert measured.rank_noise < measured.sample_noise / 5
    assert measured.rank_noise < measured.spread


def test_the_proxy_study_stores_its_rank_noise(scored: Scored) -> None:
    spec, supernet, space, bundle = scored
    oneshot = spec.oneshot.model_copy(update={"proxy_trials": 20, "population": 10})
    spec = spec.model_copy(update={"oneshot": oneshot})
    scorer = ProxyScorer(spec, supernet, space, bundle)
    run = run_proxy_search(spec, optuna.storages.InMemoryStorage(), scorer)
    stored = run.study.user_attrs[STUDY_RANK_NOISE]
    distinct = {tuple(sorted(t.params.items())) for t in run.study.trials}
    assert run.noise is not None and stored == run.noise.as_attr()
    assert stored["configurations"] == len(distinct) and stored["samples"] == len(bundle.validation)
    assert f"rank noise {100 * stored['rank_noise']:.2f}" in run.summary()
    scoring = run.study.user_attrs[STUDY_SCORING]
    assert scoring["stages"] == 20 * len(scorer.evaluator.stages)  # type: ignore[union-attr]
    assert 0 < scoring["stages_run"] < scoring["stages"]  # shared prefixes ran once


def test_the_proxy_charges_what_a_trial_of_the_same_student_is_charged(scored: Scored) -> None:
    """Keep ratios, timesteps and measured activity reach the proxy's cost as they reach a
    trial's (``search.trial.cost_metrics`` on the standalone student, kept-channel rates)."""
    spec, supernet, space, bundle = scored
    scorer = ProxyScorer(spec, supernet, space, bundle)
    params = space.extreme(highest=False)  # keep 0.5, T_s 1, the fewest bits
    configuration = scorer.configuration(params)
    assert min(configuration.keep_ratio.values()) == 0.5 and configuration.timesteps == 1
    proxy = scorer.score([params])[0]
    student = supernet.student(configuration)
    assert bundle.validation is not None
    evaluated = evaluate(student, make_loader(bundle.validation, 1024, shuffle=False))
    measured = {
        "layer_input_rates": evaluated.layer_input_rates,
        "layer_firing_rates": evaluated.layer_firing_rates,
    }
    trial = cost_metrics(spec, student, space.student(params), measured)
    assert proxy[VAL_ACCURACY] == evaluated.accuracy
    for key in ("energy_pj", "latency_ns", "area_um2", "edap"):
        assert proxy[key] == pytest.approx(trial[key], rel=1e-9), key
    full = scorer.score([{**params, **{k: 1.0 for k in params if k.startswith("keep_ratio")}}])
    assert full[0]["edap"] > proxy["edap"]
