"""Precise BN: re-estimated running statistics are the data's, for plain and folded layers."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.training_loop import TrainConfig, fit, seed_everything


def _trained(
    digits_small: DatasetBundle, precision: PrecisionConfig, *, precise_bn: bool
) -> SpikingNetwork:
    seed_everything(0)
    model = build_model(
        ModelConfig(arch="vgg5", width=0.25, precision=precision), digits_small.input_shape, 10
    )
    loader = make_loader(digits_small.train, 16, shuffle=True, seed=0)
    fit(
        model,
        loader,
        TrainConfig(epochs=1, lr=1e-2, device="cpu", precise_bn=precise_bn),
        progress=False,
    )
    return model


@torch.no_grad()
def _output_moments(
    model: SpikingNetwork, digits_small: DatasetBundle
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel mean and variance of every conv+BN layer's output in evaluation mode, over
    the whole training set in one batch: what the running statistics should normalise."""
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        layer.register_forward_hook(
            lambda m, a, out, name=name: outputs.__setitem__(name, out.flatten(0, 1))
        )
        for name, layer in model.weight_layers().items()
        if isinstance(layer, QuantConvBN2d)
    ]
    x, _ = next(iter(make_loader(digits_small.train, len(digits_small.train), shuffle=False)))
    model.eval()(x)
    for hook in hooks:
        hook.remove()
    return {name: (y.mean((0, 2, 3)), y.var((0, 2, 3))) for name, y in outputs.items()}


def _worst_normalisation_error(
    model: SpikingNetwork, digits_small: DatasetBundle, *, include_std: bool = True
) -> float:
    """Largest deviation, in units of |gamma|, of a conv+BN output channel's mean from beta (and
    of its standard deviation from |gamma|), over the training data."""
    worst = 0.0
    for name, (mean, var) in _output_moments(model, digits_small).items():
        bn = model.weight_layers()[name].bn  # type: ignore[union-attr]
        gamma, beta = bn.weight.detach().abs(), bn.bias.detach()
        worst = max(worst, float(((mean - beta) / gamma).abs().max()))
        if include_std:
            worst = max(worst, float((var.sqrt() / gamma - 1).abs().max()))
    return worst


def test_after_training_plain_bn_normalises_the_training_data_exactly(
    digits_small: DatasetBundle,
) -> None:
    """Re-estimated statistics give every conv+BN output over the training data mean beta and
    standard deviation |gamma| per channel (up to the batch-size factor of BN's unbiased variance);
    the running averages of training do not."""
    recalibrated = _worst_normalisation_error(
        _trained(digits_small, PrecisionConfig(), precise_bn=True), digits_small
    )
    stale = _worst_normalisation_error(
        _trained(digits_small, PrecisionConfig(), precise_bn=False), digits_small
    )
    assert recalibrated < 0.05 < 0.5 < stale


def test_bn_folded_into_quantized_weights_gets_its_mean_re_estimated_and_keeps_its_variance(
    digits_small: DatasetBundle,
) -> None:
    """sigma is part of the deployed weights Q(W * gamma/sigma) there, so it stays as trained;
    the mean, which only sets the folded bias, is the data's."""
    precision = PrecisionConfig.uniform(4, 4, 8)
    trained = _trained(digits_small, precision, precise_bn=False)
    variances = {
        name: layer.bn.running_var.clone()
        for name, layer in trained.weight_layers().items()
        if hasattr(layer, "bn")
    }
    stale = _worst_normalisation_error(trained, digits_small, include_std=False)
    recalibrate_bn_(trained, make_loader(digits_small.train, 16, shuffle=True, seed=0))
    for name, variance in variances.items():
        torch.testing.assert_close(
            trained.weight_layers()[name].bn.running_var, variance, rtol=0, atol=0
        )
    recalibrated = _worst_normalisation_error(trained, digits_small, include_std=False)
    assert recalibrated < 0.1 and recalibrated < stale / 3


def test_bn_folded_into_full_precision_weights_is_re_estimated_whole(
    digits_small: DatasetBundle,
) -> None:
    model = _trained(digits_small, PrecisionConfig.uniform(32, 32, 8), precise_bn=True)
    assert _worst_normalisation_error(model, digits_small) < 0.05


def test_pooled_statistics_equal_the_whole_data_statistics_for_a_plain_bn_layer() -> None:
    """A single BN layer over several batches gets the population mean and variance exactly."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(0, 1), torch.nn.BatchNorm1d(3)).eval()
    data = torch.randn(1, 120, 3) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.0, 3.0, -1.0])
    batches = [(data[:, i : i + 40], torch.zeros(40)) for i in range(0, 120, 40)]
    assert recalibrate_bn_(model, batches) == 3
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, data[0].mean(0))
    # BN keeps unbiased batch variances; pooled over three batches of 40 that is within 1/39 of
    # the population's.
    torch.testing.assert_close(bn.running_var, data[0].var(0, unbiased=False), rtol=1 / 39, atol=0)
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 0 and not bn.training


def test_a_failing_batch_leaves_the_statistics_and_modes_as_they_were() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(0, 1), torch.nn.BatchNorm1d(3)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [
        (torch.randn(1, 8, 3), None),
        (torch.randn(1, 8, 5), None),
    ]  # the second has 5 features
    with pytest.raises(RuntimeError):
        recalibrate_bn_(model, batches)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert model.training and model[1].momentum == 0.1


def test_max_batches_caps_the_pass() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(0, 1), torch.nn.BatchNorm1d(2))
    batches = [(torch.full((1, 4, 2), float(i)) + torch.randn(1, 4, 2), None) for i in range(5)]
    assert recalibrate_bn_(model, batches, max_batches=2) == 2
    assert model[1].running_mean.abs().max() < 2.0  # batches 2..4 (means 2, 3, 4) were not seen
