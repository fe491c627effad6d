"""Membrane-prior channel pruning: scoring, masks silencing channels, the cost model's columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mdsnn_search.checkpoint import load_checkpoint, save_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, make_loader
from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import LayerSpec, estimate_cost, load_preset
from mdsnn_search.hardware.mapping import kept_channels
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.metrics import KEPT_CHANNELS
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, layer_table
from mdsnn_search.snn.monitor import SpikeMonitor
from mdsnn_search.snn.pruning import (
    PruningConfig,
    channel_scores,
    kept_channel_activity,
    kept_count,
    kept_fractions,
    prune_channels_,
)
from mdsnn_search.training_loop import TrainConfig


def _model(bundle: DatasetBundle, pruning: PruningConfig, seed: int = 0) -> SpikingNetwork:
    torch.manual_seed(seed)
    config = ModelConfig(
        arch="vgg5", width=0.5, precision=PrecisionConfig.uniform(4, 4, 8), pruning=pruning
    )
    return build_model(config, bundle.input_shape, bundle.num_classes)


def _batches(bundle: DatasetBundle, count: int = 2) -> list[torch.Tensor]:
    loader = make_loader(bundle.train, 32, shuffle=True, seed=0)
    return [x for (x, _), _ in zip(loader, range(count), strict=False)]


@pytest.mark.parametrize("channels", [1, 3, 16, 33, 64])
@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5, 0.75, 0.85, 1.0])
def test_kept_count_is_the_cost_models_rounding(channels: int, ratio: float) -> None:
    spec = LayerSpec("x", c_in=4, c_out=channels, kernel=3, h_in=4, w_in=4, h_out=4, w_out=4)
    assert kept_count(ratio, channels) == kept_channels([spec], {"x": ratio})[0][1]


def test_score_is_the_mean_peak_positive_membrane() -> None:
    h = torch.zeros(2, 1, 3, 2, 2)  # [T, B, C, H, W]
    h[0, 0, 0] = torch.tensor([[0.5, -3.0], [0.2, 0.1]])  # peak 0.5 at t=0
    h[1, 0, 0, 1, 1] = 0.3  # peak 0.3 at t=1
    h[:, :, 1] = -5.0  # stuck at the negative floor: carries nothing
    h[:, :, 2, 0, 0] = 2.0
    torch.testing.assert_close(channel_scores(h), torch.tensor([0.8, 0.0, 4.0]))


def test_pruning_config_validates_and_resolves() -> None:
    with pytest.raises(ValueError, match="\\(0, 1\\]"):
        PruningConfig(layers={"conv1": 1.5})
    config = PruningConfig(keep_ratio=0.5, layers={"conv*": 0.75, "conv4": 1.0})
    assert [config.for_layer(n) for n in ("conv1", "conv4", "fc")] == [0.75, 1.0, 0.5]
    assert not PruningConfig().active


def test_override_matching_no_spiking_layer_is_refused(digits_small: DatasetBundle) -> None:
    with pytest.raises(ConfigError, match="pruning.layers: 'fc' matches no spiking layer"):
        _model(digits_small, PruningConfig(layers={"fc": 0.5}))


def test_weakest_channels_by_membrane_are_masked(digits_small: DatasetBundle) -> None:
    model = _model(digits_small, PruningConfig(layers={"conv2": 0.5}))
    with torch.no_grad():  # a graded drive on conv2's channels; the first four held far below rest
        model.features.conv2.bn.bias.copy_(torch.arange(32.0) * 0.5)
        model.features.conv2.bn.bias[:4] = -50.0
    kept = prune_channels_(model, _batches(digits_small))
    mask = model.neurons()["conv2"].channel_mask
    assert mask is not None
    assert kept == {"conv2": 16} and mask.kept == 16  # 32 channels at width 0.5
    assert mask.mask[:4].sum() == 0
    assert mask.mask[-8:].sum() == 8  # the most driven channels stay
    assert kept_fractions(model) == {"conv2": 0.5}
    assert model.neurons()["conv1"].channel_mask is None  # keep ratio 1: no mask at all


def test_masked_channels_never_spike(digits_small: DatasetBundle) -> None:
    model = _model(digits_small, PruningConfig(keep_ratio=0.5))
    prune_channels_(model, _batches(digits_small))
    spikes_at: dict[str, torch.Tensor] = {}
    hooks = [
        node.register_forward_hook(
            lambda m, a, out, name=name: spikes_at.__setitem__(name, out.detach())
        )
        for name, node in model.neurons().items()
    ]
    model.eval()
    with torch.no_grad():
        for x, _ in make_loader(digits_small.test, 64):
            model(x * 5.0)  # strong drive: every open channel fires somewhere
            for name, node in model.neurons().items():
                assert node.channel_mask is not None
                closed = node.channel_mask.mask == 0
                assert closed.sum() == node.channel_mask.mask.numel() // 2
                assert spikes_at[name][:, :, closed].sum() == 0
    for hook in hooks:
        hook.remove()


def test_cost_model_columns_and_ops_shrink_with_the_masks(digits_small: DatasetBundle) -> None:
    model = _model(digits_small, PruningConfig(keep_ratio=0.5, layers={"conv4": 0.75}))
    prune_channels_(model, _batches(digits_small))
    table, preset = layer_table(model), load_preset("rram_64")
    dense = estimate_cost(table, preset, timesteps=2)
    pruned = estimate_cost(table, preset, timesteps=2, keep_fraction=kept_fractions(model))
    rows = {row.name: row for row in pruned.layers}
    masks = {name: node.channel_mask for name, node in model.neurons().items()}
    for spec in table:
        mask = masks.get(spec.name)
        if mask is not None:
            assert rows[spec.name].c_out == mask.kept < spec.c_out
    assert rows["conv2"].c_in == masks["conv1"].kept  # the next layer's rows shrink too
    assert rows["fc"].c_in == masks["conv4"].kept * 4  # 2x2 positions after the last pool
    assert (
        pruned.ops < dense.ops and pruned.energy_pj < dense.energy_pj and pruned.edap < dense.edap
    )
    assert sum(r.macs for r in pruned.layers) * 2 * 2 == pruned.ops


def test_measured_rates_become_rates_over_kept_channels(digits_small: DatasetBundle) -> None:
    model = _model(digits_small, PruningConfig(keep_ratio=0.5))
    prune_channels_(model, _batches(digits_small))
    model.eval()
    with SpikeMonitor(model) as monitor, torch.no_grad():
        for x, _ in make_loader(digits_small.test, 64):
            model(x)
    table, fractions = layer_table(model), kept_fractions(model)
    converted = kept_channel_activity(table, monitor.layer_activity(), fractions)
    conv2 = converted["conv2"]
    # conv2 reads conv1's spikes: the dense rate counts conv1's masked half as silent rows.
    assert conv2.input_rate == pytest.approx(monitor.input_rates["conv2"] * 2)
    assert converted["conv1"].input_rate == pytest.approx(
        monitor.input_rates["conv1"]
    )  # pixels: unpruned
    assert conv2.output_rate == pytest.approx(min(1.0, monitor.firing_rates["conv2"] * 2))


def test_checkpoint_keeps_the_masks(digits_small: DatasetBundle, tmp_path: Path) -> None:
    model = _model(digits_small, PruningConfig(keep_ratio=0.5))
    prune_channels_(model, _batches(digits_small))
    path = save_checkpoint(tmp_path / "pruned.pt", model)
    loaded = load_checkpoint(path).model
    assert kept_fractions(loaded) == kept_fractions(model)
    for name, node in loaded.neurons().items():
        torch.testing.assert_close(node.channel_mask.mask, model.neurons()[name].channel_mask.mask)  # type: ignore[union-attr]


def test_train_job_prunes_before_training(tmp_path: Path) -> None:
    spec = TrainSpec(
        name="pruned",
        data=DataConfig(name="digits", timesteps=2, max_per_class=20),
        model=ModelConfig(
            arch="vgg5", width=0.5, pruning=PruningConfig(keep_ratio=0.5, score_batches=2)
        ),
        training=TrainConfig(epochs=1, batch_size=32, device="cpu"),
        output=tmp_path / "pruned.pt",
    )
    result = run_job(spec, progress=False, save=False)
    assert result.metrics[KEPT_CHANNELS] == {"conv1": 8, "conv2": 16, "conv3": 32, "conv4": 32}
    assert kept_fractions(result.model) == dict.fromkeys(("conv1", "conv2", "conv3", "conv4"), 0.5)
