"""The spikesim engine against spikingjelly's port of SpikeSim's energy path (dense mode).

spikingjelly 2.0 ships ``estimate_spikesim_energy``: SpikeSim's constants, conv layers only, real
conv output sides, counted from a real forward pass. We build one network here, derive our layer
table from that same module with forward hooks, and require equal energy to float precision.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
spikesim = pytest.importorskip("spikingjelly.activation_based.op_counter.spikesim")
neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
from torch import nn  # noqa: E402

from mdsnn_search.hardware import LayerSpec, estimate_cost, load_preset  # noqa: E402

VGG9 = [64, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"]


def _vgg(
    channels: int, side: tuple[int, int], classes: int, config: list[int | str]
) -> nn.Sequential:
    modules: list[nn.Module] = []
    h, w = side
    for item in config:
        if item == "P":
            modules.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            continue
        modules += [
            nn.Conv2d(channels, int(item), 3, padding=1, bias=False),
            nn.BatchNorm2d(int(item)),
            neuron.IFNode(),
        ]
        channels = int(item)
    modules += [nn.Flatten(), nn.Linear(channels * h * w, classes)]
    return nn.Sequential(*modules).eval()


def _layer_table(model: nn.Sequential, x: torch.Tensor) -> list[LayerSpec]:
    """LayerSpecs read off one forward pass of ``model`` (batch 1)."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    hooks = [
        module.register_forward_hook(
            lambda m, a, o, name=name: shapes.__setitem__(name, (a[0].shape, o.shape))
        )
        for name, module in model.named_children()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(x[:1])
    for hook in hooks:
        hook.remove()
    table = []
    for name, module in model.named_children():
        if isinstance(module, nn.Conv2d):
            (_, c_in, h_in, w_in), (_, c_out, h_out, w_out) = shapes[name]
            table.append(
                LayerSpec(name, c_in, c_out, module.kernel_size[0], h_in, w_in, h_out, w_out)
            )
        elif isinstance(module, nn.Linear):
            table.append(
                LayerSpec(
                    name, module.in_features, module.out_features, 1, 1, 1, 1, 1, False, "linear"
                )
            )
    return table


@pytest.mark.parametrize(
    ("channels", "side", "config", "timesteps"),
    [
        (2, (48, 48), VGG9, 2),  # VGG9 at N-Caltech101's shape
        (3, (20, 28), [100, "P", 130, 70, "P"], 3),  # channel counts off the 64 grid, non-square
    ],
)
def test_dense_energy_equals_spikingjelly(
    channels: int, side: tuple[int, int], config: list[int | str], timesteps: int
) -> None:
    torch.manual_seed(0)
    model = _vgg(channels, side, 10, config)
    # Single-step neurons: the T timesteps ride on the batch axis, so each conv runs T times.
    x = (torch.rand(timesteps, channels, *side) > 0.5).float()
    reference = spikesim.estimate_spikesim_energy(model, x, config=spikesim.SpikeSimEnergyConfig())

    # spikingjelly's port counts the real conv output side; the preset's own is SpikeSim's pooled
    # one.
    preset = load_preset("spikesim_rram_64").with_overrides(conventions={"output_side": "conv"})
    report = estimate_cost(_layer_table(model, x), preset, timesteps=timesteps)

    assert report.conventions["output_side"] == "conv"
    assert report.energy_pj == pytest.approx(reference.energy_total_pj, rel=1e-9)
    stages = list(reference.energy_by_stage.values())
    assert [row.energy_pj for row in report.layers] == pytest.approx(stages, rel=1e-9)
    assert sum(row.pe_cycles for row in report.layers) == reference.counts["dense_pe_cycle_count"]
