"""The crossbar in the loop (methods.md section 10): the mapped forward pass agrees with the cost
model's mapping, equals the ideal pass when every partial sum is read exactly, and rounds as an
ideal ADC of the layer's resolution otherwise."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import laws, load_preset, mapping
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.hardware.mapping import crossbar_reads, table_geometry
from mdsnn_search.snn.crossbar import CrossbarADC
from mdsnn_search.snn.in_the_loop import draw_variation_, put_crossbar_in_loop_
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.quantizers import BiasQuantizer, make_weight_quantizer

CONV = LayerSpec("conv", c_in=70, c_out=5, kernel=5, h_in=6, w_in=6, h_out=6, w_out=6)
FC = LayerSpec("fc", c_in=150, c_out=4, kernel=1, h_in=1, w_in=1, h_out=1, w_out=1, kind="linear")


def _conv(w_bits: int, bn_bits: int | None) -> QuantConvBN2d:
    torch.manual_seed(0)
    layer = QuantConvBN2d(
        "conv",
        CONV.c_in,
        CONV.c_out,
        CONV.kernel,
        padding=2,
        weight_quantizer=make_weight_quantizer(w_bits),
        bn_quantizer=None if bn_bits is None else BiasQuantizer(bn_bits),
    )
    with torch.no_grad():
        layer.bn.running_mean.uniform_(-0.5, 0.5)
        layer.bn.running_var.uniform_(0.5, 2.0)
    return layer


def _spikes(*shape: int, rate: float = 0.3) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(1)) < rate).float()


@pytest.mark.parametrize("preset_name", ["rram_64", "sram_64", "spikesim_rram_64"])
@pytest.mark.parametrize("w_bits", [1, 2, 4, 6, 8])
def test_reads_are_the_cost_models_mapping(preset_name: str, w_bits: int) -> None:
    preset = load_preset(preset_name).with_overrides(conventions={"include_linear": True})
    table = (CONV, FC)
    geometry = table_geometry(table, "conv", True)
    c_in = np.array([[spec.c_in for spec in table]])
    c_out = np.array([[spec.c_out for spec in table]])
    bits = np.full((1, 2), w_bits)
    slices = mapping.weight_slices(bits, preset)
    mapped = mapping.crossbar_mapping(c_in, c_out, slices.cells, geometry, preset)
    for i, spec in enumerate(table):
        reads = crossbar_reads(spec, spec.c_in, w_bits, preset)
        assert reads.row_groups == mapped.row_groups[0, i]
        assert len(reads.slice_bits) == slices.cells[0, i]
        assert sum(reads.slice_bits) == w_bits
        assert max(reads.adc_bits) == slices.adc_widest[0, i]
        # the mean conversion energy the cost model charges is that of these columns' bits
        energy = np.mean([laws.adc_energy_scale(b, 4) for b in reads.adc_bits])
        assert energy == pytest.approx(slices.adc_energy[0, i])


def _reference_error(adc: CrossbarADC, x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The mapped layer's conversion error by explicit loops over row groups and slices."""
    r, k = adc.reads, adc.kernel
    u = (levels + 1) / 2 if adc.w_bits == 1 else levels + 2 ** (adc.w_bits - 1)
    error = torch.zeros(x.shape[0], levels.shape[0], *x.shape[2:])
    for tile, fold, j in itertools.product(
        range(r.row_tiles), range(r.fold), range(len(r.slice_bits))
    ):
        rows = slice(tile * r.rows, (tile + 1) * r.rows)
        s = torch.remainder(torch.floor(u / 2 ** (j * r.bits_per_cell)), 2 ** r.slice_bits[j])
        mask = torch.zeros(k * k)
        mask[fold * r.taps_per_pe : (fold + 1) * r.taps_per_pe] = 1
        w = s[:, rows] * mask.view(1, 1, k, k)
        p = torch.nn.functional.conv2d(x[:, rows], w, padding=k // 2)
        shift = 0
        while (2 ** r.adc_bits[j] - 1) * 2**shift < float(adc.p_max[j]):
            shift += 1
        read = torch.clamp(torch.round(p / 2**shift), max=2 ** r.adc_bits[j] - 1) * 2**shift
        error += (read - p) * 2 ** (j * r.bits_per_cell)
    return error * (2 if adc.w_bits == 1 else 1)


@pytest.mark.parametrize("w_bits", [1, 4, 6])
@pytest.mark.parametrize("adc_range", ["full", "calibrated"])
def test_conversion_error_matches_a_loop_over_row_groups(w_bits: int, adc_range: str) -> None:
    preset = load_preset("rram_64").with_overrides(adc={"bits": 3, "min_bits": 1})
    reads = crossbar_reads(CONV, CONV.c_in, w_bits, preset)
    assert (reads.row_tiles, reads.fold) == (2, 3)
    adc = CrossbarADC(reads, kernel=5, w_bits=w_bits, adc_range=adc_range)  # type: ignore[arg-type]
    n = 2 ** (w_bits - 1) - 1 if w_bits > 1 else 1
    levels = torch.randint(-n, n + 1, (5, 70, 5, 5)).float()
    if w_bits == 1:
        levels = torch.where(levels >= 0, 1.0, -1.0)
    x = _spikes(3, 70, 6, 6)
    error = adc.error(x, levels, {"padding": (2, 2)}, "conv")
    assert error.abs().sum() > 0  # a 3-bit ADC does round these partial sums
    torch.testing.assert_close(error, _reference_error(adc, x, levels), rtol=0, atol=0)


@pytest.mark.parametrize("bn_bits", [None, 8])
@pytest.mark.parametrize("training", [False, True])
def test_exact_adc_gives_the_ideal_output_bit_for_bit(bn_bits: int | None, training: bool) -> None:
    ideal, mapped = _conv(6, bn_bits), _conv(6, bn_bits)
    preset = load_preset("rram_64")
    put_crossbar_in_loop_(mapped, [CONV], preset)
    assert mapped.crossbar is not None
    # 24 bits read every partial sum of these rows exactly: the error is zero
    mapped.crossbar.reads = dataclasses.replace(mapped.crossbar.reads, adc_bits=(24, 24))
    ideal.train(training), mapped.train(training)
    x = _spikes(2, 3, 70, 6, 6)
    assert torch.equal(mapped(x), ideal(x))


def test_a_coarse_adc_changes_the_output_and_passes_gradients_straight_through() -> None:
    ideal, mapped = _conv(4, 8), _conv(4, 8)
    put_crossbar_in_loop_(mapped, [CONV], load_preset("rram_64"))
    x = _spikes(2, 3, 70, 6, 6)
    y_ideal, y_mapped = ideal(x), mapped(x)
    assert not torch.equal(y_ideal, y_mapped)
    y_ideal.square().sum().backward()
    y_mapped.square().sum().backward()
    assert ideal.conv.weight.grad is not None and mapped.conv.weight.grad is not None
    assert mapped.conv.weight.grad.abs().sum() > 0


def test_linear_layer_maps_its_features_as_rows() -> None:
    torch.manual_seed(0)
    layer = QuantLinear("fc", 150, 4, weight_quantizer=make_weight_quantizer(4))
    reference = QuantLinear("fc", 150, 4, weight_quantizer=make_weight_quantizer(4))
    reference.load_state_dict(layer.state_dict())
    preset = load_preset("rram_64").with_overrides(adc={"bits": 2})
    put_crossbar_in_loop_(layer, [FC], preset)
    assert layer.crossbar is not None and layer.crossbar.reads.row_tiles == 3
    x = _spikes(2, 3, 150)
    assert not torch.equal(layer(x), reference(x))
    layer.crossbar.reads = dataclasses.replace(layer.crossbar.reads, adc_bits=(24,))
    assert torch.equal(layer(x), reference(x))


def test_layers_the_pass_cannot_follow_are_refused() -> None:
    preset = load_preset("rram_64")
    full = QuantConvBN2d("conv", 70, 5, 5, padding=2)
    with pytest.raises(ConfigError, match="'conv' has full-precision weights"):
        put_crossbar_in_loop_(full, [CONV], preset)
    layer = _conv(4, 8)
    put_crossbar_in_loop_(layer, [CONV], preset)
    with pytest.raises(ConfigError, match="binary spike inputs only"):
        layer(torch.rand(1, 1, 70, 6, 6))


def test_layers_the_preset_does_not_cost_stay_digital() -> None:
    layer = QuantLinear("fc", 150, 4, weight_quantizer=make_weight_quantizer(4))
    assert put_crossbar_in_loop_(layer, [FC], load_preset("spikesim_rram_64")) == []
    assert layer.crossbar is None


def test_device_variation_is_seeded_and_applies_at_evaluation_only() -> None:
    preset = load_preset("rram_64").with_overrides(crossbar={"variation_sigma": 0.3})
    layer, nominal = _conv(4, 8), _conv(4, 8)
    put_crossbar_in_loop_(layer, [CONV], preset)
    put_crossbar_in_loop_(nominal, [CONV], load_preset("rram_64"))
    assert layer.crossbar is not None and nominal.crossbar is not None
    for mapped in (layer, nominal):  # exact conversions: only the variation is left
        mapped.crossbar.reads = dataclasses.replace(mapped.crossbar.reads, adc_bits=(24,))
    x = _spikes(2, 3, 70, 6, 6)
    layer.train(), nominal.train()
    torch.testing.assert_close(layer(x), nominal(x), rtol=0, atol=0)  # training: nominal cells
    layer.eval(), nominal.eval()
    draw_variation_(layer, seed=1)
    first = layer(x)
    assert not torch.equal(first, nominal(x))
    assert torch.equal(layer(x), first)  # the same draw until the next one
    draw_variation_(layer, seed=2)
    assert not torch.equal(layer(x), first)
    draw_variation_(layer, seed=1)
    assert torch.equal(layer(x), first)
