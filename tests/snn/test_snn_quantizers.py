"""Quantizers against docs/design/methods.md's golden values, and STE gradients."""

from __future__ import annotations

import itertools

import pytest
import torch

from mdsnn_search.snn.integer_membrane import (
    IntegerMembraneQuantizer,
    quantize_integer_levels,
    stacked_surrogate_grad,
)
from mdsnn_search.snn.quantizers import (
    CLIP_GRID,
    BiasQuantizer,
    MembraneQuantizer,
    WeightQuantizer,
    make_weight_quantizer,
    mse_clipping_range,
    quantize_symmetric,
    sawb_scale,
    signal_to_quantization_noise_db,
)


@pytest.mark.parametrize(
    ("w", "bits", "alpha", "expected"),
    [
        (0.3, 4, 0.5, 2 / 7),
        (-1.0, 2, 0.5, -0.5),
        (0.1, 2, 0.5, 0.0),
        (0.45, 8, 0.5, 0.4212598425),
        (2.0, 4, 1.0, 1.0),
    ],
)
def test_mint_tanh_quantizer_golden(w: float, bits: int, alpha: float, expected: float) -> None:
    q = quantize_symmetric(
        torch.tensor([w], dtype=torch.float64),
        torch.tensor(alpha, dtype=torch.float64),
        bits,
        "tanh",
    )
    assert q.item() == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("bits", "levels"), [(2, 3), (3, 7), (4, 15), (8, 255)])
def test_symmetric_grid_has_2_pow_b_minus_1_levels(bits: int, levels: int) -> None:
    x = torch.linspace(-3, 3, 20001, dtype=torch.float64)
    q = quantize_symmetric(x, torch.tensor(1.0, dtype=torch.float64), bits)
    assert q.unique().numel() == levels
    assert q.abs().max().item() == pytest.approx(1.0)


def test_one_bit_is_binary() -> None:
    q = quantize_symmetric(torch.tensor([-0.2, 0.0, 0.7]), torch.tensor(0.5), 1)
    assert q.tolist() == [-0.5, 0.5, 0.5]


def test_sawb_golden() -> None:
    x = torch.tensor([-1, -0.5, -0.1, 0, 0.2, 0.7, 1.2], dtype=torch.float64)
    assert x.abs().mean().item() == pytest.approx(0.528571, abs=1e-6)
    assert x.std().item() == pytest.approx(0.729644, abs=1e-6)
    assert sawb_scale(x, 4).item() == pytest.approx(2.522098, abs=1e-5)


def test_sawb_refuses_bits_without_coefficients() -> None:
    with pytest.raises(ValueError, match="SAWB"):
        sawb_scale(torch.ones(3), 2)


@pytest.mark.parametrize(
    ("u", "expected"), [(-4, -3), (-2.7, -3), (-0.5, -1), (0.49, 0), (0.5, 0), (0.51, 1), (1.7, 1)]
)
def test_integer_levels_forward_golden(u: float, expected: int) -> None:
    assert quantize_integer_levels(torch.tensor([u]), lower=-3).item() == expected


@pytest.mark.parametrize(
    ("u", "grad"),
    [
        (0, 0.786448),
        (0.5, 0.709987),
        (-0.5, 0.709987),
        (1, 0.483577),
        (-1, 0.483577),
        (1.5, 0.245313),
        (-1.5, 0.245313),
    ],
)
def test_ternary_stacked_surrogate_golden(u: float, grad: float) -> None:
    x = torch.tensor([float(u)], dtype=torch.float64, requires_grad=True)
    quantize_integer_levels(x, lower=-1).sum().backward()
    assert x.grad is not None and x.grad.item() == pytest.approx(grad, abs=1e-6)


@pytest.mark.parametrize(
    ("u", "grad"),
    [
        (-3, 0.498694),
        (-2.5, 0.750246),
        (-1.5, 0.955300),
        (-0.5, 0.955300),
        (0, 0.890097),
        (0.5, 0.750246),
        (1, 0.498694),
    ],
)
def test_five_level_stacked_surrogate_golden(u: float, grad: float) -> None:
    x = torch.tensor([float(u)], dtype=torch.float64)
    assert stacked_surrogate_grad(x, -3, 1).item() == pytest.approx(grad, abs=1e-6)


def test_integer_membrane_storage_bits() -> None:
    assert IntegerMembraneQuantizer(-1).storage_bits == 2  # ternary: log2(3) rounded up
    assert IntegerMembraneQuantizer(-3).storage_bits == 3  # five levels
    with pytest.raises(ValueError):
        IntegerMembraneQuantizer(1, 1)


def test_ste_passes_gradient_to_weights_and_scale() -> None:
    torch.manual_seed(0)
    quantizer = WeightQuantizer(4)
    w = (torch.randn(16, 8) * 0.1).requires_grad_()
    (quantizer(w) * torch.randn(16, 8)).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    assert quantizer.ratio.grad is not None and quantizer.ratio.grad.abs() > 0
    # Clipped weights (|w| beyond alpha) get no gradient through the clamp.
    alpha = quantizer.scale().item()
    inside = w.detach().abs() < alpha
    assert torch.all(w.grad[~inside] == 0)
    assert torch.all(w.grad[inside] != 0)


def test_weight_scale_tracks_tensor_magnitude() -> None:
    quantizer = WeightQuantizer(4)
    w = torch.randn(64, 64)
    q_small, q_large = quantizer(w * 0.01), quantizer(w * 10.0)
    # The same relative grid at any magnitude: no layer is silenced by a scale that lags.
    torch.testing.assert_close(q_small * 1000, q_large)
    assert (q_small == 0).float().mean() < 0.5


def _brute_force_error(x: torch.Tensor, alpha: float, bits: int) -> float:
    q = quantize_symmetric(x.double(), torch.tensor(alpha, dtype=torch.float64), bits)
    return float((q - x.double()).square().sum())


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_mse_clipping_range_is_the_least_error_candidate(bits: int) -> None:
    torch.manual_seed(bits)
    x = torch.randn(3000, dtype=torch.float64) * 0.05
    alpha = mse_clipping_range(x, bits).item()
    best = _brute_force_error(x, alpha, bits)
    peak = x.abs().max().item()
    assert all(best <= _brute_force_error(x, f * peak, bits) + 1e-12 for f in CLIP_GRID.tolist())
    # and no grid artefact: ranges between the candidates do no better than half a step's worth
    fine = [_brute_force_error(x, f * peak, bits) for f in torch.linspace(0.01, 1.0, 2000).tolist()]
    assert best <= min(fine) * 1.02


def test_mse_clipping_range_of_a_zero_tensor_is_finite() -> None:
    assert mse_clipping_range(torch.zeros(5), 4).item() == 1.0


def test_sqnr_at_initialisation_grows_at_least_5_db_per_bit_on_gaussian_weights() -> None:
    torch.manual_seed(0)
    w = torch.randn(64, 64, 3, 3) * 0.02
    sqnr = []
    for bits in range(2, 9):
        quantizer = WeightQuantizer(bits).eval()
        sqnr.append(signal_to_quantization_noise_db(w, quantizer(w)))
    gains = [b - a for a, b in itertools.pairwise(sqnr)]
    assert min(gains) >= 5.0, f"SQNR {sqnr} dB"


def test_the_range_is_fitted_on_the_first_tensor_in_evaluation_too_and_refitted_after_a_reset() -> (
    None
):
    torch.manual_seed(0)
    quantizer = WeightQuantizer(4).eval()
    w = torch.randn(64, 64)
    quantizer(w)
    assert bool(quantizer.initialized)
    assert quantizer.scale().item() == pytest.approx(mse_clipping_range(w, 4).item(), rel=1e-5)
    fitted_ratio = quantizer.ratio.item()
    replaced = torch.randn(64, 64).sign() * 0.3  # another distribution altogether
    quantizer(replaced)
    assert (
        quantizer.ratio.item() == fitted_ratio
    )  # fitted once, then learnt, never refitted silently
    quantizer.reset_range_()
    quantizer(replaced)
    assert quantizer.scale().item() == pytest.approx(
        mse_clipping_range(replaced, 4).item(), rel=1e-5
    )


def test_sawb_initialises_the_range_on_the_first_tensor() -> None:
    quantizer = WeightQuantizer(4, scale_init="sawb")
    w = torch.randn(64, 64)
    quantizer.train()
    quantizer(w)
    assert bool(quantizer.initialized)
    assert quantizer.scale().item() == pytest.approx(sawb_scale(w, 4).item(), rel=1e-4)


def test_membrane_quantizer_gradients_and_sharing() -> None:
    membrane = MembraneQuantizer(4, init_alpha=1.0)
    u = torch.linspace(-2, 2, 41, requires_grad=True)
    membrane(u).sum().backward()
    assert membrane.alpha is not None and membrane.alpha.grad is not None
    assert u.grad is not None and u.grad[20] == 1.0  # inside the range: straight through
    weights = WeightQuantizer(4)
    shared = MembraneQuantizer(4, shared_with=weights)
    weights(torch.randn(8, 8))
    assert shared.alpha is None and list(shared.parameters()) == []
    assert shared(torch.tensor([100.0])).item() == pytest.approx(weights.scale().item())


def test_full_precision_builds_no_quantizer() -> None:
    assert make_weight_quantizer(32) is None
    assert make_weight_quantizer(16) is None
    with pytest.raises(ValueError):
        WeightQuantizer(32)


def test_bias_quantizer_uses_the_least_error_range() -> None:
    b = torch.tensor([-1.0, -0.3, 0.02, 0.5, 1.0])
    q = BiasQuantizer(2)(b)
    alpha = mse_clipping_range(b, 2).item()
    assert set(q.tolist()) <= {-alpha, 0.0, alpha}
    assert (q - b).square().sum() <= (
        quantize_symmetric(b, torch.tensor(1.0), 2) - b
    ).square().sum()
    q8 = BiasQuantizer(8)(b)
    assert (q8 - b).abs().max() <= 1.0 / 127 / 2 + 1e-7


def _reference_symmetric(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """The quantizer as a plain chain of autograd ops with a round-STE."""
    n = 2 ** (bits - 1) - 1
    v = torch.clamp(x / alpha, -1.0, 1.0) * n
    return (v + (torch.round(v) - v).detach()) * alpha / n


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_fused_quantizer_gradients_equal_the_autograd_chain(bits: int) -> None:
    torch.manual_seed(bits)
    x = (torch.randn(200, dtype=torch.float64) * 0.8).requires_grad_()
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x_ref, alpha_ref = x.detach().clone().requires_grad_(), alpha.detach().clone().requires_grad_()
    upstream = torch.randn(200, dtype=torch.float64)
    (quantize_symmetric(x, alpha, bits) * upstream).sum().backward()
    (_reference_symmetric(x_ref, alpha_ref, bits) * upstream).sum().backward()
    torch.testing.assert_close(
        quantize_symmetric(x, alpha, bits), _reference_symmetric(x_ref, alpha_ref, bits)
    )
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(alpha.grad, alpha_ref.grad)
