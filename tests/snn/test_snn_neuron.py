"""The quantized LIF neuron against spikingjelly's own LIFNode."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron
from spikingjelly.activation_based.neuron import BaseNode

from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.neuron import NeuronConfig, QuantLIFNode, compile_neurons_
from mdsnn_search.snn.quantizers import MembraneQuantizer


@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("surrogate_name", ["sigmoid", "atan", "rect", "piecewise_quadratic"])
def test_full_precision_matches_spikingjelly_lif(
    reset: str, decay_input: bool, surrogate_name: str
) -> None:
    """Same spikes, membrane and surrogate gradient (our neuron fires through its own spike
    function, with each surrogate's backward)."""
    torch.manual_seed(0)
    x = torch.randn(6, 4, 10, requires_grad=True)
    config = NeuronConfig(
        tau=2.0, v_threshold=1.0, reset=reset, decay_input=decay_input, surrogate=surrogate_name
    )
    ours = QuantLIFNode(config)
    reference = neuron.LIFNode(
        tau=2.0,
        decay_input=decay_input,
        v_threshold=1.0,
        v_reset=None if reset == "soft" else 0.0,
        surrogate_function=config.make_surrogate(),
        step_mode="m",
    )
    x_ref = x.detach().clone().requires_grad_()
    out, out_ref = ours(x), reference(x_ref)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(ours.v, reference.v)
    (out * torch.arange(10.0)).sum().backward()
    (out_ref * torch.arange(10.0)).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_is_a_spikingjelly_base_node_with_fresh_surrogate() -> None:
    a, b = QuantLIFNode(), QuantLIFNode()
    assert isinstance(a, BaseNode)
    assert a.surrogate_function is not b.surrogate_function


def test_single_step_mode_matches_multi_step() -> None:
    x = torch.randn(5, 3, 7)
    multi = QuantLIFNode(membrane_quantizer=MembraneQuantizer(4))
    single = QuantLIFNode(membrane_quantizer=multi.membrane_quantizer, step_mode="s")
    expected = multi(x)
    steps = torch.stack([single(x_t) for x_t in x])
    torch.testing.assert_close(steps, expected)


def test_pre_spike_membrane_recorded_only_when_asked() -> None:
    x = torch.rand(4, 2, 3) * 2
    node = QuantLIFNode(NeuronConfig(tau=2.0))
    node(x)
    assert node.h_seq is None
    node.reset()  # state persists between calls until reset, as in spikingjelly
    node.record_membrane = True
    spikes = node(x)
    assert node.h_seq is not None and node.h_seq.shape == x.shape
    # H_t is the pre-spike potential: a spike happened exactly where H_t crossed the threshold.
    torch.testing.assert_close(spikes, (node.h_seq >= 1.0).float())
    # Charge of the first step from rest: H_1 = x_1 / tau.
    torch.testing.assert_close(node.h_seq[0], x[0] / 2)
    node.reset()
    assert node.h_seq is None


def test_stored_membrane_is_on_the_quantizer_grid() -> None:
    node = QuantLIFNode(membrane_quantizer=MembraneQuantizer(3, init_alpha=1.0))
    node(torch.randn(3, 8, 16))
    levels = node.v * 3  # 3 bits: n = 3 positive levels of step alpha/3
    torch.testing.assert_close(levels, levels.round(), atol=1e-5, rtol=0)
    assert node.v.abs().max() <= 1.0 + 1e-6


def test_integer_membrane_mode_keeps_integer_levels() -> None:
    node = QuantLIFNode(NeuronConfig(reset="hard"), IntegerMembraneQuantizer(-1))
    node(torch.randn(4, 8, 16) * 3)
    assert set(node.v.unique().tolist()) <= {-1.0, 0.0, 1.0}


@pytest.mark.slow
def test_the_compiled_time_loop_agrees_with_the_eager_one() -> None:
    """torch.compile of the time loop (TrainConfig.compile): the same spikes, membranes and stored
    state, and gradients equal to float rounding (the fused backward sums in another order)."""
    torch.manual_seed(0)
    x_seq = torch.randn(4, 8, 6, 5, 5) * 2
    eager = QuantLIFNode(membrane_quantizer=MembraneQuantizer(4))
    compiled = QuantLIFNode(membrane_quantizer=MembraneQuantizer(4))
    compile_neurons_(compiled)
    results = []
    for node in (eager, compiled):
        node.record_membrane = True
        x = x_seq.clone().requires_grad_()
        spikes = node(x)
        (spikes * torch.arange(5.0)).sum().backward()
        results.append((spikes, node.h_seq, node.v, x.grad, node.membrane_quantizer.alpha.grad))
    (s_e, h_e, v_e, gx_e, ga_e), (s_c, h_c, v_c, gx_c, ga_c) = results
    assert torch.equal(s_e, s_c) and torch.equal(h_e, h_c) and torch.equal(v_e, v_c)
    assert s_e.sum() > 0  # it fired: the comparison covers the reset and the quantizer
    torch.testing.assert_close(gx_c, gx_e, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ga_c, ga_e, rtol=1e-5, atol=1e-6)
    compile_neurons_(compiled, False)
    assert not compiled.compiled
