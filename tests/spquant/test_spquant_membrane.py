"""Integer-level membrane as a per-layer precision: config, the built neuron, goldens, cost."""

from __future__ import annotations

import pytest
import torch
import yaml
from pydantic import ValidationError

from mdsnn_search.hardware import LayerSpec, estimate_cost, load_preset
from mdsnn_search.precision import LayerPrecision, LayerPrecisionOverride, PrecisionConfig
from mdsnn_search.snn import ModelConfig, NeuronConfig, QuantLIFNode, build_model
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.quantizers import MembraneQuantizer

# docs/design/methods.md section 2: forward levels (5 levels, -3..1) and stacked-surrogate
# gradients.
FIVE_LEVEL_FORWARD = [(-4.0, -3), (-2.7, -3), (-0.5, -1), (0.49, 0), (0.5, 0), (0.51, 1), (1.7, 1)]
TERNARY_GRAD = [
    (0.0, 0.786448),
    (0.5, 0.709987),
    (-0.5, 0.709987),
    (1.0, 0.483577),
    (-1.0, 0.483577),
    (1.5, 0.245313),
    (-1.5, 0.245313),
]
FIVE_LEVEL_GRAD = [
    (-3.0, 0.498694),
    (-2.5, 0.750246),
    (-1.5, 0.955300),
    (-0.5, 0.955300),
    (0.0, 0.890097),
    (0.5, 0.750246),
    (1.0, 0.498694),
]


def _neuron_quantizer(levels: int) -> IntegerMembraneQuantizer:
    model = build_model(
        ModelConfig(
            arch="vgg5",
            width=0.25,
            precision=PrecisionConfig(default=LayerPrecision(u_levels=levels)),
        ),
        (1, 8, 8),
        10,
    )
    quantizer = model.neurons()["conv2"].membrane_quantizer
    assert isinstance(quantizer, IntegerMembraneQuantizer)
    return quantizer


@pytest.mark.parametrize(("levels", "bits"), [(2, 1), (3, 2), (4, 2), (5, 3), (9, 4)])
def test_integer_membrane_stores_ceil_log2_levels_bits(levels: int, bits: int) -> None:
    p = LayerPrecision(w_bits=2, u_levels=levels)
    assert p.u_bits == bits
    assert LayerPrecision.model_validate(p.model_dump()) == p  # the dump carries consistent bits


def test_integer_membrane_refuses_other_bits_and_too_few_levels() -> None:
    with pytest.raises(ValidationError, match="ceil\\(log2\\(3\\)\\) = 2 bits"):
        LayerPrecision(u_levels=3, u_bits=4)
    with pytest.raises(ValidationError, match="ceil\\(log2\\(5\\)\\) = 3 bits"):
        LayerPrecisionOverride(u_levels=5, u_bits=2)
    with pytest.raises(ValidationError):
        LayerPrecision(u_levels=1)  # one level is no membrane: lb < theta must hold


def test_label_names_the_levels() -> None:
    assert LayerPrecision(w_bits=2, u_levels=3, bn_bits=8).label() == "W2/U3lv/BN8"
    assert LayerPrecision.uniform(2, 2, 8).label() == "W2/U2/BN8"
    assert LayerPrecision.uniform(2, 2, 8).label(membrane=False, bn=False) == "W2"


def test_an_override_naming_the_membrane_switches_its_mode() -> None:
    text = """
    default: {w_bits: 2, u_levels: 5, bn_bits: 8}
    layers:
      conv1: {u_bits: 8}        # uniform again
      "conv[34]": {u_levels: 3} # ternary
      fc: {w_bits: 8}           # membrane untouched
    """
    config = PrecisionConfig.model_validate(yaml.safe_load(text))
    assert config.for_layer("conv1") == LayerPrecision(w_bits=2, u_bits=8, bn_bits=8)
    assert config.for_layer("conv2") == LayerPrecision(w_bits=2, u_levels=5, bn_bits=8)
    assert config.for_layer("conv3") == LayerPrecision(w_bits=2, u_levels=3, bn_bits=8)
    assert config.for_layer("fc") == LayerPrecision(w_bits=8, u_levels=5, bn_bits=8)
    again = PrecisionConfig.model_validate(
        yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json")))
    )
    assert again == config


def test_factory_builds_the_integer_quantizer_per_layer() -> None:
    precision = PrecisionConfig(
        default=LayerPrecision.uniform(4, 4, 8),
        layers={"conv2": LayerPrecisionOverride(u_levels=3)},
    )
    model = build_model(ModelConfig(arch="vgg5", width=0.25, precision=precision), (1, 8, 8), 10)
    nodes = model.neurons()
    assert isinstance(nodes["conv1"].membrane_quantizer, MembraneQuantizer)
    ternary = nodes["conv2"].membrane_quantizer
    assert isinstance(ternary, IntegerMembraneQuantizer)
    assert (ternary.lower, ternary.upper, ternary.storage_bits) == (-1, 1, 2)


@pytest.mark.parametrize(("u", "expected"), FIVE_LEVEL_FORWARD)
def test_five_level_neuron_quantizer_forward_golden(u: float, expected: int) -> None:
    assert _neuron_quantizer(5)(torch.tensor([u])).item() == expected


@pytest.mark.parametrize(("levels", "goldens"), [(3, TERNARY_GRAD), (5, FIVE_LEVEL_GRAD)])
def test_neuron_quantizer_stacked_surrogate_golden(
    levels: int, goldens: list[tuple[float, float]]
) -> None:
    quantizer = _neuron_quantizer(levels)
    u = torch.tensor([g[0] for g in goldens], requires_grad=True)
    quantizer(u).sum().backward()
    assert u.grad is not None
    torch.testing.assert_close(u.grad, torch.tensor([g[1] for g in goldens]), atol=1e-6, rtol=0)


def test_spquant_neuron_is_our_lif_at_tau_2_without_input_decay_and_hard_reset() -> None:
    """u = 0.5*u + x; fire at u >= 1; reset to 0; snap to lb..1 (SpQuant-SNN's QLIF)."""
    torch.manual_seed(0)
    x_seq = torch.randn(6, 4, 32) * 1.5
    node = QuantLIFNode(
        NeuronConfig(tau=2.0, decay_input=False, reset="hard"), IntegerMembraneQuantizer(-3)
    )
    spikes = node(x_seq)
    u = torch.zeros(4, 32)
    expected = []
    for x in x_seq:
        u = 0.5 * u + x
        s = (u >= 1.0).float()
        u = torch.ceil(torch.clamp(u * (1 - s), -3, 1) - 0.5)
        expected.append(s)
    torch.testing.assert_close(spikes, torch.stack(expected))
    torch.testing.assert_close(node.v, u)


def test_integer_levels_count_in_threshold_units() -> None:
    node = QuantLIFNode(NeuronConfig(v_threshold=0.5), IntegerMembraneQuantizer(-1))
    node(torch.randn(5, 8, 64) * 2)
    assert set(node.v.unique().tolist()) <= {-0.5, 0.0, 0.5}


def _neuron_energy(precision: LayerPrecision) -> float:
    layer = LayerSpec("conv", c_in=64, c_out=64, kernel=3, h_in=8, w_in=8, h_out=8, w_out=8)
    report = estimate_cost(
        [layer], load_preset("rram_64"), timesteps=4, precision={"conv": precision}
    )
    return report.energy_breakdown_pj["neuron"]


def test_cost_model_charges_the_bits_the_levels_need() -> None:
    ternary, five = LayerPrecision(w_bits=2, u_levels=3), LayerPrecision(w_bits=2, u_levels=5)
    assert _neuron_energy(ternary) == _neuron_energy(LayerPrecision(w_bits=2, u_bits=2))
    assert _neuron_energy(five) == _neuron_energy(LayerPrecision(w_bits=2, u_bits=3))
    assert _neuron_energy(ternary) < _neuron_energy(five)
