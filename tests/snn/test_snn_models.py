"""Contract tests over every registered architecture, and the BN fold-and-quantize layer."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import LayerPrecisionOverride, PrecisionConfig
from mdsnn_search.snn import (
    MODELS,
    ModelConfig,
    QuantConfig,
    arch_layer_table,
    build_model,
    layer_table,
)
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.snn.quantizers import BiasQuantizer, MembraneQuantizer, WeightQuantizer

SMALL_INPUT = {"vgg5": (1, 8, 8), "vgg9": (2, 16, 16), "vgg11": (3, 32, 32), "vgg16": (3, 32, 32)}


@pytest.mark.parametrize("arch", MODELS.names())
def test_every_architecture_builds_runs_and_backpropagates(arch: str) -> None:
    shape = SMALL_INPUT.get(arch, (3, 16, 16))
    config = ModelConfig(arch=arch, width=0.125, precision=PrecisionConfig.uniform(4, 4, 8))
    model = build_model(config, shape, 7)
    out = model(torch.rand(2, 3, *shape))
    assert out.shape == (2, 3, 7)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    table = layer_table(model)
    assert [row.name for row in table] == list(model.weight_layers())
    assert table[0].c_in == shape[0] and table[-1].c_out == 7 and table[-1].kind == "linear"
    assert {row.name for row in table if row.spiking} == set(model.neurons())
    assert all(row.h_out >= 1 and row.c_out >= 1 for row in table)


@pytest.mark.parametrize("arch", MODELS.names())
def test_teacher_is_the_same_builder_at_full_precision(arch: str) -> None:
    model = build_model(ModelConfig(arch=arch, width=0.125), SMALL_INPUT.get(arch, (3, 16, 16)), 5)
    quantizers = (WeightQuantizer, MembraneQuantizer, BiasQuantizer)
    assert not any(isinstance(m, quantizers) for m in model.modules())


def test_vgg9_layer_table_matches_spquant_geometry() -> None:
    table = arch_layer_table("vgg9", (2, 48, 48), 101)
    assert [(r.c_in, r.c_out, r.h_out) for r in table] == [
        (2, 64, 48),
        (64, 128, 48),
        (128, 256, 24),
        (256, 256, 24),
        (256, 512, 12),
        (512, 512, 12),
        (512, 512, 6),
        (512, 512, 6),
        (4608, 101, 1),
    ]
    assert not table[-1].spiking


def test_layer_table_records_pooling_modules() -> None:
    assert [r.pool for r in arch_layer_table("vgg9", (2, 48, 48), 101)] == [
        None,
        2,
        None,
        2,
        None,
        2,
        None,
        2,
        None,
    ]
    # SpikeSim's own example network (ela_spikesim.py, c2627bc): its seven convs and where they
    # pool.
    table = arch_layer_table("vgg9_spikesim", (3, 32, 32), 10)
    assert [(r.c_in, r.c_out, r.h_out, r.pool) for r in table[:-1]] == [
        (3, 64, 32, None), (64, 64, 32, 2), (64, 128, 16, None), (128, 128, 16, 2),
        (128, 256, 8, None), (256, 256, 8, None), (256, 256, 8, 2),
    ]  # fmt: skip
    # A ResNet's global average is not a module: left unstated, the cost model infers it.
    assert all(r.pool is None for r in arch_layer_table("resnet18", (3, 32, 32), 10, width=0.25))


def test_resnet_shortcut_owns_no_neuron() -> None:
    table = {r.name: r for r in arch_layer_table("resnet18", (3, 32, 32), 10, width=0.25)}
    assert not table["layer2.0.shortcut"].spiking and table["layer2.0.conv2"].spiking
    assert table["layer2.0.shortcut"].kernel == 1 and table["layer2.0.shortcut"].h_out == 16


def test_per_layer_precision_by_name_and_pattern() -> None:
    precision = PrecisionConfig.model_validate(
        {
            "default": {"w_bits": 2, "u_bits": 2, "bn_bits": 8},
            "layers": {"conv*": {"w_bits": 4}, "conv1": {"w_bits": 32}, "fc": {"w_bits": 8}},
        }
    )
    model = build_model(ModelConfig(arch="vgg5", width=0.25, precision=precision), (1, 8, 8), 10)
    layers = model.weight_layers()
    assert layers["conv1"].weight_quantizer is None
    assert (
        layers["conv2"].weight_quantizer is not None and layers["conv2"].weight_quantizer.bits == 4
    )
    assert layers["fc"].weight_quantizer is not None and layers["fc"].weight_quantizer.bits == 8
    assert model.neurons()["conv3"].membrane_quantizer.bits == 2  # type: ignore[union-attr]


def test_unknown_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'vgg9'"):
        build_model(ModelConfig(arch="vgg99"), (1, 8, 8), 10)
    bad = PrecisionConfig(layers={"conv9": LayerPrecisionOverride(w_bits=4)})
    with pytest.raises(ConfigError, match="conv9"):
        build_model(ModelConfig(arch="vgg5", precision=bad), (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="too small"):
        build_model(ModelConfig(arch="vgg16"), (1, 8, 8), 10)


def test_share_scale_ties_membrane_to_weight_scale() -> None:
    config = ModelConfig(
        arch="vgg5",
        width=0.25,
        quant=QuantConfig(share_scale=True),
        precision=PrecisionConfig.uniform(4, 4, 8),
    )
    model = build_model(config, (1, 8, 8), 10)
    node, conv = model.neurons()["conv2"], model.weight_layers()["conv2"]
    assert node.membrane_quantizer.__dict__["shared_with"] is conv.weight_quantizer  # type: ignore[union-attr]


def test_folded_layer_in_eval_is_conv_plus_quantized_bias() -> None:
    torch.manual_seed(0)
    layer = QuantConvBN2d(
        "c", 3, 4, 3, 1, 1, weight_quantizer=WeightQuantizer(4), bn_quantizer=BiasQuantizer(8)
    )
    x = torch.rand(2, 5, 3, 6, 6)
    layer.train()
    for _ in range(3):
        layer(x)
    layer.eval()
    bn = layer.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w_q = layer.weight_quantizer(layer.conv.weight * scale.view(-1, 1, 1, 1))  # type: ignore[misc]
    b_q = layer.bn_quantizer(bn.bias - scale * bn.running_mean)  # type: ignore[misc]
    expected = torch.nn.functional.conv2d(x.flatten(0, 1), w_q, b_q, padding=1).unflatten(0, (2, 5))
    torch.testing.assert_close(layer(x), expected)


def test_folded_layer_at_full_precision_bits_equals_conv_bn() -> None:
    """With 16-bit BN and no weight quantizer the fold is numerically the plain conv + BN."""
    torch.manual_seed(0)
    folded = QuantConvBN2d("c", 3, 4, 3, 1, 1, bn_quantizer=BiasQuantizer(15))
    plain = QuantConvBN2d("c", 3, 4, 3, 1, 1)
    plain.load_state_dict(folded.state_dict())
    x = torch.rand(2, 5, 3, 6, 6)
    torch.testing.assert_close(folded(x), plain(x), atol=2e-3, rtol=1e-3)
    # The fold takes its first batch's statistics outright (plain BN would mix in the initial 0).
    batch_mean = torch.nn.functional.conv2d(x.flatten(0, 1), plain.conv.weight, padding=1).mean(
        dim=(0, 2, 3)
    )
    torch.testing.assert_close(folded.bn.running_mean, batch_mean, atol=1e-4, rtol=1e-3)
