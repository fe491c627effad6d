"""The training loop, evaluation and checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mdsnn_search.checkpoint import load_checkpoint, save_checkpoint
from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model, layer_table
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.training_loop import (
    TrainConfig,
    classification_loss,
    deterministic_kernels,
    evaluate,
    fit,
    seed_everything,
)


def _train(
    bundle: DatasetBundle, seed: int, bits: tuple[int, int, int] = (4, 4, 8), epochs: int = 2
) -> SpikingNetwork:
    seed_everything(seed)
    config = ModelConfig(arch="vgg5", width=0.5, precision=PrecisionConfig.uniform(*bits))
    model = build_model(config, bundle.input_shape, bundle.num_classes)
    loader = make_loader(bundle.train, 16, shuffle=True, seed=seed)
    fit(model, loader, TrainConfig(epochs=epochs, lr=3e-3, seed=seed, device="cpu"), progress=False)
    return model


def test_training_beats_chance_and_reports_activity(digits_small: DatasetBundle) -> None:
    model = _train(digits_small, seed=0, epochs=5)
    result = evaluate(model, make_loader(digits_small.test, 128))
    assert result.accuracy > 0.6  # chance is 0.1
    assert result.samples == len(digits_small.test)
    assert set(result.layer_firing_rates) == set(model.neurons())
    assert all(0.0 <= r <= 1.0 for r in result.layer_firing_rates.values())
    assert set(result.layer_input_rates) == set(model.weight_layers())
    neurons = {row.name: row.c_out * row.h_out * row.w_out for row in layer_table(model)}
    timesteps = 2
    expected = (
        sum(rate * neurons[name] for name, rate in result.layer_firing_rates.items()) * timesteps
    )
    assert result.spikes_per_sample == pytest.approx(expected, rel=1e-4)


def test_same_seed_same_model(digits_small: DatasetBundle) -> None:
    a, b = _train(digits_small, seed=3, epochs=1), _train(digits_small, seed=3, epochs=1)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, msg=name)
    c = _train(digits_small, seed=4, epochs=1)
    assert not torch.equal(
        a.weight_layers()["conv2"].conv.weight, c.weight_layers()["conv2"].conv.weight
    )


def test_non_finite_loss_stops_training(digits_small: DatasetBundle) -> None:
    model = build_model(ModelConfig(arch="vgg5", width=0.25), digits_small.input_shape, 10)

    def nan_step(
        m: SpikingNetwork, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = m(x)
        return classification_loss(logits, y) * float("nan"), logits

    with pytest.raises(FloatingPointError, match="nan"):
        fit(
            model,
            make_loader(digits_small.train, 64),
            TrainConfig(epochs=1),
            step_loss=nan_step,
            progress=False,
        )


def test_per_timestep_ce_is_mean_of_step_losses() -> None:
    logits = torch.randn(3, 4, 5)
    y = torch.tensor([0, 1, 2, 3])
    expected = sum(torch.nn.functional.cross_entropy(logits[t], y) for t in range(3)) / 3
    torch.testing.assert_close(classification_loss(logits, y, per_timestep=True), expected)


def test_checkpoint_round_trip_with_weights_only(
    digits_small: DatasetBundle, tmp_path: Path
) -> None:
    model = _train(digits_small, seed=1, epochs=1)
    path = save_checkpoint(tmp_path / "m.pt", model, {"metrics": {"accuracy": 0.5}})
    payload = torch.load(path, weights_only=True)  # no pickled code inside
    assert payload["model"]["arch"] == "vgg5"
    loaded = load_checkpoint(path)
    assert loaded.metadata["metrics"]["accuracy"] == 0.5
    assert loaded.config == model.config
    x = next(iter(make_loader(digits_small.test, 16)))[0]
    model.eval(), loaded.model.eval()
    torch.testing.assert_close(model(x), loaded.model(x))


def test_bad_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"foo": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="not an mdsnn-search checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_a_job_on_a_bundle_with_validation_reports_both_splits_and_trains_on_neither(
    digits_small: DatasetBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdsnn_search.data import DataConfig
    from mdsnn_search.job import TrainSpec, run_job
    from mdsnn_search.metrics import TEST, TEST_ACCURACY, VAL_ACCURACY

    split = digits_small.with_validation(0.2, seed=0)
    seen: list[int] = []
    spec = TrainSpec(
        data=DataConfig(name="digits", timesteps=2, max_per_class=30),
        model=ModelConfig(arch="vgg5", width=0.25),
        training=TrainConfig(epochs=1, device="cpu", batch_size=len(split.train)),
    )
    import mdsnn_search.job as job

    real_fit = job.fit

    def counting_fit(model, loader, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(loader.dataset))
        return real_fit(model, loader, *args, **kwargs)

    monkeypatch.setattr(job, "fit", counting_fit)
    metrics = run_job(spec, bundle=split, progress=False, save=False).metrics
    assert seen == [len(split.train)] and len(split.train) < len(digits_small.train)
    # Everything a search chooses by is measured on validation; the test split is only reported.
    assert (
        metrics["samples"] == len(split.validation) and metrics[VAL_ACCURACY] == metrics["accuracy"]
    )
    assert (
        metrics[TEST]["samples"] == len(split.test)
        and metrics[TEST_ACCURACY] == metrics[TEST]["accuracy"]
    )
    plain = run_job(spec, bundle=digits_small, progress=False, save=False).metrics
    assert VAL_ACCURACY not in plain and plain[TEST_ACCURACY] == plain["accuracy"]


def test_deterministic_kernels_hold_inside_and_leave_the_process_settings() -> None:
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark)
    try:
        cudnn.deterministic, cudnn.benchmark = False, True  # a caller's own choice
        with deterministic_kernels():
            assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
        assert (cudnn.deterministic, cudnn.benchmark) == (False, True)
        with pytest.raises(RuntimeError), deterministic_kernels():
            raise RuntimeError("training failed")
        assert (cudnn.deterministic, cudnn.benchmark) == (False, True)
    finally:
        cudnn.deterministic, cudnn.benchmark = before
