"""NIR export of a trained student, read back by snnTorch (the [nir] extra)."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from mdsnn_search.data import DataConfig, DatasetBundle, make_loader
from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.snn.neuron import NeuronConfig
from mdsnn_search.snn.nir_export import write_nir
from mdsnn_search.snn.nir_roundtrip import compare
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.training_loop import TrainConfig, fit, seed_everything

DATA = DataConfig(name="digits", timesteps=2, max_per_class=30)


def _student(bundle: DatasetBundle, bits: tuple[int, int, int], reset: str) -> SpikingNetwork:
    seed_everything(0)
    neuron = NeuronConfig(reset=reset, learnable_threshold=True)  # type: ignore[arg-type]
    config = ModelConfig(
        arch="vgg5", width=0.5, neuron=neuron, precision=PrecisionConfig.uniform(*bits)
    )
    model = build_model(config, bundle.input_shape, bundle.num_classes)
    loader = make_loader(bundle.train, 16, shuffle=True, seed=0)
    fit(model, loader, TrainConfig(epochs=1, lr=3e-3, seed=0, device="cpu"), progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def hard_reset_student(digits_small: DatasetBundle) -> SpikingNetwork:
    """W4/BN8 with full-precision membranes, hard reset, learnt thresholds: exact in NIR."""
    return _student(digits_small, (4, 32, 8), "hard")


def test_snntorch_runs_the_file_spike_for_spike(
    hard_reset_student: SpikingNetwork, digits_small: DatasetBundle, tmp_path: Path
) -> None:
    path = write_nir(hard_reset_student, tmp_path / "student.nir", DATA)
    agreement = compare(hard_reset_student, path, make_loader(digits_small.test, 64))
    assert agreement.samples == len(digits_small.test)
    # Every spiking layer, the OR pools included, fires the same count on every sample.
    assert set(agreement.layers_equal) == {"lif1", "lif2", "pool1_or", "lif3", "lif4", "pool2_or"}
    assert all(agreement.layers_equal.values()), agreement.to_dict()
    assert all(int(counts.sum()) > 0 for counts in agreement.ours_spikes.values())
    assert agreement.prediction_agreement == 1.0
    assert abs(agreement.ours_accuracy - agreement.snntorch_accuracy) <= 0.005
    assert agreement.ours_accuracy > 0.5


def test_file_holds_deployed_levels_folded_bias_and_learnt_thresholds(
    hard_reset_student: SpikingNetwork, tmp_path: Path
) -> None:
    model = hard_reset_student
    graph = nir.read(str(write_nir(model, tmp_path / "s.nir", DATA)))
    conv, node = model.features.conv2, graph.nodes["conv2"]
    bn = conv.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = conv.conv.weight * scale.view(-1, 1, 1, 1)
    with torch.no_grad():
        deployed_w = conv.weight_quantizer(folded)
        deployed_b = conv.bn_quantizer(bn.bias - scale * bn.running_mean)
    levels, step = node.metadata["weight_levels"], float(node.metadata["weight_scale"])
    assert np.abs(levels).max() <= 7  # 4 bits: levels -7..7
    np.testing.assert_allclose(node.weight, levels * step, rtol=0, atol=1e-7)
    np.testing.assert_allclose(node.weight, deployed_w.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(node.bias, deployed_b.numpy(), rtol=0, atol=1e-6)
    assert np.abs(node.metadata["bias_levels"]).max() <= 127
    lif = graph.nodes["lif2"]
    learnt = float(model.features.lif2.threshold().detach())
    assert learnt != 1.0  # trained away from its start
    np.testing.assert_allclose(lif.v_threshold, learnt, rtol=1e-6)
    assert np.allclose(lif.tau, 2.0 * 1e-4) and np.allclose(lif.r, 1.0)
    assert np.allclose(lif.v_reset, 0.0) and np.allclose(lif.v_leak, 0.0)
    assert isinstance(graph.nodes["pool1"], nir.SumPool2d)
    assert isinstance(graph.nodes["pool1_or"], nir.Threshold)
    meta = graph.metadata
    assert int(meta["timesteps"]) == 2 and "direct" in str(meta["input_encoding"])


def test_or_pool_is_max_pool_of_spikes() -> None:
    """Sum pool then count > 0.5 equals max pooling on every binary 2x2 window."""
    windows = torch.tensor(
        [[(bits >> i) & 1 for i in range(4)] for bits in range(16)], dtype=torch.float32
    ).view(16, 1, 2, 2)
    summed = nn.LPPool2d(1, 2)(windows)  # nirtorch's SumPool2d
    assert torch.equal((summed > 0.5).float(), nn.MaxPool2d(2)(windows))


def test_quantized_membrane_levels_in_metadata(digits_small: DatasetBundle, tmp_path: Path) -> None:
    seed_everything(0)
    config = ModelConfig(arch="vgg5", width=0.5, precision=PrecisionConfig.uniform(4, 4, 8))
    model = build_model(config, digits_small.input_shape, digits_small.num_classes).eval()
    graph = nir.read(str(write_nir(model, tmp_path / "u4.nir", DATA)))
    lif = graph.nodes["lif1"]
    assert lif.metadata["membrane_quantization"] == "uniform"
    assert len(lif.metadata["membrane_levels"]) == 15  # 4 bits: -7..7 steps of alpha/7


def test_a_layer_nir_cannot_hold_is_refused_by_name(
    digits_small: DatasetBundle, tmp_path: Path
) -> None:
    config = ModelConfig(arch="vgg5", width=0.5)
    model = build_model(config, digits_small.input_shape, digits_small.num_classes)
    model.features.pool1 = nn.AvgPool2d(2)
    path = tmp_path / "refused.nir"
    with pytest.raises(ConfigError, match="layer 'pool1'"):
        write_nir(model, path, DATA)
    assert list(tmp_path.iterdir()) == []


def test_a_spiking_resnet_round_trips_spike_for_spike(
    digits_small: DatasetBundle, tmp_path: Path
) -> None:
    """Residual blocks (the second neuron sums conv and shortcut: two NIR edges into one node) and
    the global average pool (NIR's AvgPool2d over the whole map)."""
    seed_everything(0)
    config = ModelConfig(
        arch="resnet18",
        width=0.125,
        neuron=NeuronConfig(reset="hard"),
        precision=PrecisionConfig.uniform(4, 32, 8),
    )
    model = build_model(config, digits_small.input_shape, digits_small.num_classes)
    loader = make_loader(digits_small.train, 32, shuffle=True, seed=0)
    fit(model, loader, TrainConfig(epochs=1, lr=3e-3, seed=0, device="cpu"), progress=False)
    path = write_nir(model.eval(), tmp_path / "resnet.nir", DATA)
    graph = nir.read(str(path))
    assert ("layer2_0_shortcut", "layer2_0_conv2_lif") in graph.edges
    assert ("layer2_0_conv2", "layer2_0_conv2_lif") in graph.edges
    assert ("layer1_0_conv1_lif", "layer1_1_conv2_lif") not in graph.edges
    assert ("layer1_0_conv2_lif", "layer1_1_conv2_lif") in graph.edges  # identity shortcut
    agreement = compare(model, path, make_loader(digits_small.test, 64))
    assert len(agreement.layers_equal) == 17  # the stem's and two per block's eight blocks
    assert all(agreement.layers_equal.values()), agreement.to_dict()
    assert sum(int(counts.sum()) for counts in agreement.ours_spikes.values()) > 0
    assert agreement.prediction_agreement == 1.0


class _NotExported(SpikingNetwork):
    def __init__(self) -> None:
        super().__init__(ModelConfig(arch="vgg5"), (1, 8, 8), 10)
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AvgPool2d(2))


def test_another_network_is_refused_naming_its_first_foreign_layer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"layer 'body\.0' of vgg5: Conv2d is not exported"):
        write_nir(_NotExported(), tmp_path / "other.nir", DATA)
    assert list(tmp_path.iterdir()) == []


def test_pruned_channels_are_zero_in_the_file_and_silent_in_snntorch(
    hard_reset_student: SpikingNetwork, digits_small: DatasetBundle, tmp_path: Path
) -> None:
    config = hard_reset_student.config.model_copy(update={"pruning": PruningConfig(keep_ratio=0.5)})
    pruned = build_model(config, digits_small.input_shape, digits_small.num_classes)
    pruned.load_state_dict(hard_reset_student.state_dict(), strict=False)  # masks stay open
    mask = pruned.features.lif2.channel_mask
    mask.mask[::2] = 0.0  # every other channel of conv2 pruned
    path = write_nir(pruned.eval(), tmp_path / "pruned.nir", DATA)
    node = nir.read(str(path)).nodes["conv2"]
    dropped = np.flatnonzero(mask.mask.numpy() == 0)
    np.testing.assert_array_equal(node.metadata["pruned_channels"], dropped)
    assert not node.weight[dropped].any() and not node.bias[dropped].any()
    agreement = compare(pruned, path, make_loader(digits_small.test, 64))
    assert all(agreement.layers_equal.values()), agreement.to_dict()
