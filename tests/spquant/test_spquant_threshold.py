"""Learnable threshold: LT-SNN's gradient, exactly, and a threshold that moves under training."""

from __future__ import annotations

import torch

from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, NeuronConfig, QuantLIFNode, build_model
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.threshold import LearnableThreshold
from mdsnn_search.training_loop import TrainConfig, fit

ALPHA = 4.0  # NeuronConfig's default sigmoid surrogate sharpness


def sigmoid_surrogate_grad(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(ALPHA * x)
    return ALPHA * s * (1 - s)


def lt_snn_theta_grad(h_seq: torch.Tensor, theta: float, grad_spikes: torch.Tensor) -> torch.Tensor:
    """docs/design/methods.md section 4: dL/dtheta = -sum over fired neurons of
    g_u * sig(u - theta)."""
    x = h_seq - theta
    g_u = grad_spikes * sigmoid_surrogate_grad(x)
    return -(g_u * torch.sigmoid(x) * (x >= 0)).sum()


def test_one_step_gradient_is_lt_snn_formula() -> None:
    torch.manual_seed(0)
    node = QuantLIFNode(NeuronConfig(learnable_threshold=True, v_threshold=0.8, decay_input=False))
    x = (torch.randn(1, 16, 40) * 1.5).requires_grad_(True)
    weights = torch.randn(1, 16, 40)
    spikes = node(x)
    (spikes * weights).sum().backward()
    assert node.threshold is not None and node.threshold.theta.grad is not None
    expected = lt_snn_theta_grad(x.detach(), 0.8, weights)  # one step from rest: H = x
    assert (x.detach() >= 0.8).any() and (x.detach() < 0.8).any()
    torch.testing.assert_close(node.threshold.theta.grad, expected)
    # The membrane's own gradient is the ordinary surrogate one.
    torch.testing.assert_close(x.grad, weights * sigmoid_surrogate_grad(x.detach() - 0.8))


def test_multi_step_gradient_sums_the_formula_over_time() -> None:
    """With the reset detached, dL/ds_t is the loss's own weight on s_t, so g_u is known per step;
    theta's gradient gets nothing from the reset or the integer membrane's unit."""
    torch.manual_seed(1)
    config = NeuronConfig(learnable_threshold=True, detach_reset=True, v_threshold=1.0)
    node = QuantLIFNode(config, IntegerMembraneQuantizer(-3))
    node.record_membrane = True
    with torch.no_grad():
        node.threshold.theta.fill_(0.7)  # type: ignore[union-attr]
    x = torch.randn(5, 8, 30) * 2
    weights = torch.randn(5, 8, 30)
    spikes = node(x)
    (spikes * weights).sum().backward()
    assert node.h_seq is not None
    expected = lt_snn_theta_grad(node.h_seq.detach(), 0.7, weights)
    torch.testing.assert_close(node.threshold.theta.grad, expected)  # type: ignore[union-attr]


def test_fixed_threshold_neuron_has_no_threshold_parameter() -> None:
    node = QuantLIFNode(NeuronConfig())
    assert node.threshold is None
    assert not any("theta" in name for name, _ in node.named_parameters())


def test_threshold_stays_positive() -> None:
    threshold = LearnableThreshold(1.0)
    with torch.no_grad():
        threshold.theta.fill_(-2.0)
    assert threshold().item() > 0.0
    node = QuantLIFNode(NeuronConfig(learnable_threshold=True))
    node.threshold = threshold
    assert node(torch.zeros(3, 2, 5)).sum() == 0  # no input, no spike


def test_learnable_threshold_moves_under_training(digits_small: DatasetBundle) -> None:
    config = ModelConfig(
        arch="vgg5",
        width=0.5,
        neuron=NeuronConfig(learnable_threshold=True),
        precision=PrecisionConfig.uniform(4, 4, 8),
    )
    torch.manual_seed(0)
    model = build_model(config, digits_small.input_shape, digits_small.num_classes)
    before = {name: node.threshold.theta.item() for name, node in model.neurons().items()}  # type: ignore[union-attr]
    assert set(before.values()) == {1.0}
    loader = make_loader(digits_small.train, 32, shuffle=True, seed=0)
    fit(model, loader, TrainConfig(epochs=1, batch_size=32, lr=0.01, device="cpu"), progress=False)
    after = {name: node.threshold.theta.item() for name, node in model.neurons().items()}  # type: ignore[union-attr]
    moved = {name: after[name] - before[name] for name in before}
    assert all(abs(delta) > 1e-3 for delta in moved.values()), moved
