"""Quantizers for weights, membrane potentials and folded batch-norm biases (methods.md section 2).

Every quantizer rounds with a straight-through estimator (STE): the forward pass sees the
quantized value, the backward pass treats rounding as identity. A width that
:func:`~mdsnn_search.precision.is_full_precision` calls full precision builds no quantizer at all
(:func:`make_weight_quantizer` returns ``None``), so a 32-bit layer has nothing in its graph.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from mdsnn_search.precision import is_full_precision

ScaleInit = Literal["mean_abs", "sawb"]
WeightTransform = Literal["clamp", "tanh"]

# SAWB coefficients (z0, z1) per bit-width, from SpQuant-SNN's code (Choi et al.'s fit).
SAWB_COEFFICIENTS: dict[int, tuple[float, float]] = {4: (0.077, 1.013), 8: (0.027, 1.114)}


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``factor`` (LSQ's step-size scale)."""
    return x * factor + (x - x * factor).detach()


def positive_levels(bits: int) -> int:
    """Number of positive levels of a symmetric b-bit grid: 2^(b-1) - 1 (1 bit: binary, 1)."""
    return max(2 ** (bits - 1) - 1, 1)


class _SymmetricQuantize(torch.autograd.Function):
    """Fused symmetric uniform quantizer with LSQ's gradients (one node in the graph).

    Inside the range (|x| < alpha) the input's gradient passes straight through and the scale's is
    ``(round(v*n) - v*n) / n = (q - x) / alpha`` with ``v = x/alpha``; outside, the input gets none
    and the scale ``sign(x) = q / alpha``. Written out by hand because the equivalent chain of
    autograd ops (divide, clamp, round-STE, multiply) costs several more passes over every
    activation, and the membrane quantizer runs at every timestep of every layer.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, alpha: torch.Tensor, n: int) -> torch.Tensor:  # type: ignore[override]
        q = (x * (n / alpha)).clamp_(-n, n).round_().mul_(alpha / n)
        ctx.save_for_backward(x, q, alpha)
        return q

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        x, q, alpha = ctx.saved_tensors  # type: ignore[attr-defined]
        inside = x.abs() < alpha
        grad_x = grad_out * inside if ctx.needs_input_grad[0] else None
        grad_alpha = None
        if ctx.needs_input_grad[1]:
            grad_alpha = ((q - x * inside) * grad_out).sum().div(alpha).reshape(alpha.shape)
        return grad_x, grad_alpha, None


def quantize_symmetric(
    x: torch.Tensor, alpha: torch.Tensor, bits: int, transform: WeightTransform = "clamp"
) -> torch.Tensor:
    """Symmetric uniform quantizer with scale ``alpha`` (MINT/LSQ style).

    ``q(x) = round(clamp(x / alpha, -1, 1) * n) * alpha / n`` with ``n = 2^(b-1) - 1``; with
    ``transform="tanh"`` (MINT) ``x`` goes through tanh first. One bit is binary: ``sign(x)*alpha``.
    """
    if transform == "tanh":
        x = torch.tanh(x)
    if bits == 1:
        normalised = torch.clamp(x / alpha, -1.0, 1.0)
        sign = torch.where(normalised >= 0, 1.0, -1.0).to(normalised.dtype)
        return (normalised + (sign - normalised).detach()) * alpha
    return _SymmetricQuantize.apply(x, alpha, positive_levels(bits))


def sawb_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """SAWB scale ``alpha = std(W)/z0 - (z1/z0) * mean|W|`` (unbiased std), 4 or 8 bits."""
    if bits not in SAWB_COEFFICIENTS:
        known = sorted(SAWB_COEFFICIENTS)
        raise ValueError(f"SAWB coefficients exist for bits in {known}, got bits={bits}")
    z0, z1 = SAWB_COEFFICIENTS[bits]
    return w.std(unbiased=True) / z0 - (z1 / z0) * w.abs().mean()


class WeightQuantizer(nn.Module):
    """Symmetric b-bit weight quantizer with a learnable scale (LSQ / MINT style).

    The scale is learnt *relative to the tensor's mean magnitude*: ``alpha = ratio * mean|W|``
    with ``ratio`` the parameter. With BN folding the quantized tensor is ``W * gamma/sigma``,
    whose magnitude moves with the BN statistics; an absolute learnt alpha lags behind it, clamps
    the weights, which shrinks sigma, which grows the folded weights further (a feedback loop
    that silences the layer). A relative scale follows the magnitude and still learns the
    clipping point. ``ratio`` starts at LSQ's ``2/sqrt(n)`` (or SAWB's alpha / mean|W| on the
    first training batch) and its gradient is scaled by ``1/sqrt(numel * n)`` as in LSQ.
    """

    def __init__(
        self, bits: int, *, transform: WeightTransform = "clamp", scale_init: ScaleInit = "mean_abs"
    ) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit weight needs no quantizer")
        if scale_init == "sawb" and bits not in SAWB_COEFFICIENTS:
            raise ValueError(f"scale_init='sawb' supports bits {sorted(SAWB_COEFFICIENTS)}, got {bits}")
        self.bits = bits
        self.transform: WeightTransform = transform
        self.scale_init: ScaleInit = scale_init
        self.ratio = nn.Parameter(torch.tensor(2.0 / math.sqrt(positive_levels(bits))))
        self.register_buffer("initialized", torch.tensor(scale_init == "mean_abs"))
        self.register_buffer("magnitude", torch.tensor(1.0))

    def _source(self, w: torch.Tensor) -> torch.Tensor:
        return torch.tanh(w) if self.transform == "tanh" else w

    @torch.no_grad()
    def _init_sawb(self, source: torch.Tensor) -> None:
        self.ratio.fill_(float(sawb_scale(source, self.bits) / source.abs().mean().clamp_min(1e-12)))
        self.initialized.fill_(True)

    def scale(self) -> torch.Tensor:
        """The current absolute scale alpha (from the last tensor seen), for sharing."""
        return self.ratio.abs() * self.magnitude + 1e-8

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        source = self._source(w)
        if self.training:
            if not bool(self.initialized):
                self._init_sawb(source)
            self.magnitude.copy_(source.detach().abs().mean())
        ratio = scale_grad(self.ratio, 1.0 / math.sqrt(w.numel() * positive_levels(self.bits)))
        alpha = ratio.abs() * source.detach().abs().mean() + 1e-8
        return quantize_symmetric(source, alpha, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, transform={self.transform}, scale_init={self.scale_init}"


class MembraneQuantizer(nn.Module):
    """Uniform b-bit quantizer of the stored membrane potential U_t (a clamp to [-alpha, alpha]).

    ``alpha`` is learnable and starts at the firing threshold, the natural range of a membrane
    after reset. With ``shared_with`` (MINT's ``share_scale``) the layer's weight quantizer's
    scale is used instead, so no rescaling multiplier is needed between synapse and neuron in
    hardware; the membrane is then confined to the weights' range.
    """

    def __init__(self, bits: int, *, init_alpha: float = 1.0, shared_with: WeightQuantizer | None = None) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit membrane needs no quantizer")
        self.bits = bits
        self.alpha: nn.Parameter | None = None
        # A plain attribute, not a submodule: the weight layer owns the shared quantizer.
        self.__dict__["shared_with"] = shared_with
        if shared_with is None:
            self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        shared: WeightQuantizer | None = self.__dict__["shared_with"]
        if shared is not None:
            return quantize_symmetric(u, shared.scale(), self.bits)
        assert self.alpha is not None
        per_sample = u[0].numel() if u.dim() > 0 else 1
        alpha = scale_grad(self.alpha, 1.0 / math.sqrt(per_sample * positive_levels(self.bits)))
        return quantize_symmetric(u, alpha.abs() + 1e-8, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, shared_scale={self.__dict__['shared_with'] is not None}"


class _IntegerLevels(torch.autograd.Function):
    """Snap to integer levels lb..theta; backward is the stacked sigmoid surrogate (SpQuant)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor, lower: int, upper: int, temperature: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.levels = (lower, upper, temperature)  # type: ignore[attr-defined]
        # Nearest level with ties going down: ceil(u - 1/2).
        return torch.ceil(torch.clamp(u, lower, upper) - 0.5)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
        lower, upper, temperature = ctx.levels  # type: ignore[attr-defined]
        return grad_out * stacked_surrogate_grad(u, lower, upper, temperature), None, None, None


def stacked_surrogate_grad(u: torch.Tensor, lower: int, upper: int, temperature: float = 2.0) -> torch.Tensor:
    """``sum_l T*sig(T(u - m_l))*(1 - sig(T(u - m_l)))`` over nonzero levels l; m_l = l -+ 1/2."""
    grad = torch.zeros_like(u)
    for level in range(lower, upper + 1):
        if level == 0:
            continue
        midpoint = level - 0.5 if level > 0 else level + 0.5
        s = torch.sigmoid(temperature * (u - midpoint))
        grad = grad + temperature * s * (1.0 - s)
    return grad


def quantize_integer_levels(u: torch.Tensor, lower: int, upper: int = 1, temperature: float = 2.0) -> torch.Tensor:
    """Integer-level membrane: levels ``lower..upper`` with the stacked surrogate gradient."""
    return _IntegerLevels.apply(u, lower, upper, temperature)


class IntegerMembraneQuantizer(nn.Module):
    """SpQuant's integer-only membrane: levels ``lower..threshold`` in steps of 1.

    ``lower=-1`` is the ternary "1.58-bit" membrane {-1, 0, 1}; ``lower=-3`` five levels.
    """

    def __init__(self, lower: int, upper: int = 1, temperature: float = 2.0) -> None:
        super().__init__()
        if lower >= upper:
            raise ValueError(f"integer membrane levels need lower < upper, got ({lower}, {upper})")
        self.lower, self.upper, self.temperature = lower, upper, temperature

    @property
    def num_levels(self) -> int:
        return self.upper - self.lower + 1

    @property
    def storage_bits(self) -> int:
        """Bits a memory cell needs to hold one of the levels."""
        return math.ceil(math.log2(self.num_levels))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return quantize_integer_levels(u, self.lower, self.upper, self.temperature)

    def extra_repr(self) -> str:
        return f"levels={self.lower}..{self.upper}"


def make_weight_quantizer(
    bits: int, *, transform: WeightTransform = "clamp", scale_init: ScaleInit = "mean_abs"
) -> WeightQuantizer | None:
    """A weight quantizer, or ``None`` at full precision (nothing in the graph)."""
    if is_full_precision(bits):
        return None
    if scale_init == "sawb" and bits not in SAWB_COEFFICIENTS:
        scale_init = "mean_abs"  # SAWB is only fitted at 4 and 8 bits.
    return WeightQuantizer(bits, transform=transform, scale_init=scale_init)


class BiasQuantizer(nn.Module):
    """b-bit symmetric quantizer of a folded BN bias; scale = max|b| of the current bias.

    The folded bias is a per-channel vector recomputed from BN statistics, so a dynamic max-abs
    scale fits it without a learnt parameter; the scale itself gets no gradient.
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit bias needs no quantizer")
        self.bits = bits

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        alpha = b.detach().abs().max().clamp_min(1e-8)
        return quantize_symmetric(b, alpha, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
