"""Quantizers for weights, membrane potentials and folded batch-norm biases
(docs/design/methods.md section 2).

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

ScaleInit = Literal["mse", "sawb"]
WeightTransform = Literal["clamp", "tanh"]

# SAWB coefficients (z0, z1) per bit-width, from SpQuant-SNN's code (Choi et al.'s fit).
SAWB_COEFFICIENTS: dict[int, tuple[float, float]] = {4: (0.077, 1.013), 8: (0.027, 1.114)}

CLIP_GRID = torch.logspace(-2.0, 0.0, 100, dtype=torch.float64)
"""Candidate clipping ranges as fractions of max|x|: 1 % to 100 %, 4.8 % apart (log-spaced, so the
relative resolution is the same at 2 bits, whose optimum lies far below the maximum, and at 8)."""

_REFINE_POINTS = 21
"""Ranges tried between the best grid candidate's two neighbours (includes both)."""

_GRID_CHUNK_ELEMENTS = 1 << 23
"""Elements of the [candidates, numel] error table evaluated at once (bounds the search's
memory)."""


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``factor`` (LSQ's step-size
    scale)."""
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
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, alpha: torch.Tensor, n: int
    ) -> torch.Tensor:
        q = (x * (n / alpha)).clamp_(-n, n).round_().mul_(alpha / n)
        ctx.save_for_backward(x, q, alpha)
        return q

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, q, alpha = ctx.saved_tensors  # type: ignore[attr-defined]
        # A float mask (lt_ in place) rather than a bool one: on CPU, writing a bool tensor or
        # multiplying one into a float tensor costs several float passes (measured 7x here).
        needs_x, needs_alpha = ctx.needs_input_grad[:2]  # type: ignore[attr-defined]
        inside = x.abs().lt_(alpha)
        grad_x = grad_out * inside
        grad_alpha = None
        if needs_alpha:
            # sum((q - x*inside) * grad_out) as two dot products: no temporaries.
            grad_alpha = (_dot(q, grad_out) - _dot(x, grad_x)).div(alpha).reshape(alpha.shape)
        return grad_x if needs_x else None, grad_alpha, None


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b) in one pass."""
    return torch.dot(a.reshape(-1), b.reshape(-1))


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


def _quantize_values(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """The forward value of :func:`quantize_symmetric` (clamp transform), broadcasting over
    alphas."""
    if bits == 1:
        return torch.where(x >= 0, alpha, -alpha)
    n = positive_levels(bits)
    return (x * (n / alpha)).clamp(-n, n).round() * (alpha / n)


def _least_error(flat: torch.Tensor, alphas: torch.Tensor, bits: int) -> int:
    """Index of the candidate range in ``alphas`` that quantizes ``flat`` with the least error."""
    chunk = max(1, _GRID_CHUNK_ELEMENTS // flat.numel())
    errors = torch.cat(
        [
            (_quantize_values(flat, a.unsqueeze(1), bits) - flat).square().sum(1)
            for a in alphas.split(chunk)
        ]
    )
    return int(errors.argmin())


@torch.no_grad()
def mse_clipping_range(x: torch.Tensor, bits: int) -> torch.Tensor:
    """The clipping range alpha whose b-bit grid quantizes ``x`` with the least squared error.

    This is the range the quantizer starts from, so that more bits never start worse: the
    error of the best range falls about 6 dB a bit, where LSQ's step-size formula used as a range
    clips almost everything at 8 bits (docs/design/methods.md section 2). The search is a grid,
    :data:`CLIP_GRID` fractions of max|x|, refined linearly between the best candidate's
    neighbours; a grid is exact on its candidates and robust to the heavy tails of trained
    weights, where closed forms fitted to a Gaussian (SAWB) are not. Returns a 0-dim tensor of
    ``x``'s dtype; 1.0 for an all-zero tensor.
    """
    flat = x.detach().flatten().double()
    peak = flat.abs().max() if flat.numel() else flat.new_zeros(())
    if peak == 0:
        return torch.ones((), dtype=x.dtype, device=x.device)
    coarse = CLIP_GRID.to(flat.device) * peak
    best = _least_error(flat, coarse, bits)
    low, high = coarse[max(best - 1, 0)], coarse[min(best + 1, len(coarse) - 1)]
    fine = torch.linspace(
        float(low), float(high), _REFINE_POINTS, dtype=torch.float64, device=flat.device
    )
    return fine[_least_error(flat, fine, bits)].to(x.dtype)


def signal_to_quantization_noise_db(x: torch.Tensor, q: torch.Tensor) -> float:
    """SQNR of ``q`` as a quantization of ``x``: ``10 log10(sum x^2 / sum (q - x)^2)`` in dB."""
    x, q = x.detach().double(), q.detach().double()
    noise = (q - x).square().sum().clamp_min(1e-300)
    return float(10.0 * torch.log10(x.square().sum() / noise))


def sawb_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """SAWB scale ``alpha = std(W)/z0 - (z1/z0) * mean|W|`` (unbiased std), 4 or 8 bits."""
    if bits not in SAWB_COEFFICIENTS:
        known = sorted(SAWB_COEFFICIENTS)
        raise ValueError(f"SAWB coefficients exist for bits in {known}, got bits={bits}")
    z0, z1 = SAWB_COEFFICIENTS[bits]
    return w.std(unbiased=True) / z0 - (z1 / z0) * w.abs().mean()


class WeightQuantizer(nn.Module):
    """Symmetric b-bit weight quantizer with a learnable clipping range (LSQ / MINT style).

    The range is learnt *relative to the tensor's mean magnitude*: ``alpha = ratio * mean|W|``
    with ``ratio`` the parameter. With BN folding the quantized tensor is ``W * gamma/sigma``,
    whose magnitude moves with the BN statistics; an absolute learnt alpha lags behind it, clamps
    the weights, which shrinks sigma, which grows the folded weights further (a feedback loop
    that silences the layer). A relative range follows the magnitude and still learns the
    clipping point.

    ``ratio`` is fitted to the first tensor the quantizer sees, in training or evaluation alike
    (a student copied from its teacher is scored before any training): the range of least
    quantization error (:func:`mse_clipping_range`), or SAWB's at the bits it is fitted for.
    :meth:`reset_range_` asks for a new fit when the weights are replaced. Its gradient is
    scaled by ``1/sqrt(numel * n)`` as in LSQ.
    """

    initialized: torch.Tensor
    magnitude: torch.Tensor
    last_alpha: torch.Tensor

    def __init__(
        self, bits: int, *, transform: WeightTransform = "clamp", scale_init: ScaleInit = "mse"
    ) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit weight needs no quantizer")
        if scale_init == "sawb" and bits not in SAWB_COEFFICIENTS:
            raise ValueError(
                f"scale_init='sawb' supports bits {sorted(SAWB_COEFFICIENTS)}, got {bits}"
            )
        self.bits = bits
        self.transform: WeightTransform = transform
        self.scale_init: ScaleInit = scale_init
        self.ratio = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("magnitude", torch.tensor(1.0))

    def _source(self, w: torch.Tensor) -> torch.Tensor:
        return torch.tanh(w) if self.transform == "tanh" else w

    @torch.no_grad()
    def init_range_(self, source: torch.Tensor) -> None:
        """Fit ``ratio`` to ``source`` (the tensor after the transform)."""
        if self.scale_init == "sawb":
            alpha = sawb_scale(source, self.bits)
        else:
            alpha = mse_clipping_range(source, self.bits)
        magnitude = source.abs().mean().clamp_min(1e-12)
        self.ratio.fill_(float(alpha / magnitude))
        self.magnitude.copy_(magnitude)
        self.initialized.fill_(True)

    def reset_range_(self) -> None:
        """Refit the range on the next tensor seen (after the weights were replaced)."""
        self.initialized.fill_(False)

    def scale(self) -> torch.Tensor:
        """The current absolute range alpha (from the last tensor seen), for sharing."""
        return self.ratio.abs() * self.magnitude + 1e-8

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        source = self._source(w)
        if not bool(self.initialized):
            self.init_range_(source.detach())
        magnitude = source.detach().abs().mean()
        if self.training:
            self.magnitude.copy_(magnitude)
        ratio = scale_grad(self.ratio, 1.0 / math.sqrt(w.numel() * positive_levels(self.bits)))
        alpha = ratio.abs() * magnitude + 1e-8
        self.last_alpha = alpha.detach()
        return quantize_symmetric(source, alpha, self.bits)

    def levels(self, quantized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(integer levels, step) of the tensor the last :meth:`forward` returned: quantized =
        levels x step, levels in [-n, n] (+-1 at one bit). The crossbar stores the levels."""
        step = self.last_alpha / positive_levels(self.bits)
        return torch.round(quantized.detach() / step), step

    def extra_repr(self) -> str:
        return f"bits={self.bits}, transform={self.transform}, scale_init={self.scale_init}"


class MembraneQuantizer(nn.Module):
    """Uniform b-bit quantizer of the stored membrane potential U_t (a clamp to [-alpha, alpha]).

    ``alpha`` is learnable and starts at the firing threshold, the natural range of a membrane
    after reset. Checked like the weights' range (a trained digits teacher's stored membranes):
    the least-error range is 0.7-0.9 theta at 2 bits and 3-3.5 theta at 8, since inhibited
    neurons sit far below zero, so theta caps the membrane's SQNR near 10-12 dB at any width;
    yet copied students score the same with either range (W32/U2..U8 within 0.6 points of each
    other and of the teacher): the clipped tail is neurons far from firing. Theta is kept. With
    ``shared_with`` (MINT's ``share_scale``) the layer's weight quantizer's scale is used instead,
    so no rescaling multiplier is needed between synapse and neuron in hardware; the membrane is
    then confined to the weights' range.
    """

    def __init__(
        self, bits: int, *, init_alpha: float = 1.0, shared_with: WeightQuantizer | None = None
    ) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit membrane needs no quantizer")
        self.bits = bits
        self.alpha: nn.Parameter | None = None
        # A plain attribute, not a submodule: the weight layer owns the shared quantizer.
        self.__dict__["shared_with"] = shared_with
        if shared_with is None:
            self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))

    def clipping_range(self, per_sample: int) -> torch.Tensor:
        """alpha for membranes of ``per_sample`` neurons a sample, its gradient scaled as in LSQ.

        The neuron takes it once per forward pass and quantizes every timestep with it: the same
        values and gradient as taking it at each step, without T copies of its scalar ops.
        """
        shared: WeightQuantizer | None = self.__dict__["shared_with"]
        if shared is not None:
            return shared.scale()
        assert self.alpha is not None
        alpha = scale_grad(self.alpha, 1.0 / math.sqrt(per_sample * positive_levels(self.bits)))
        return alpha.abs() + 1e-8

    def forward(self, u: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """Q_u(u), with ``alpha`` from :meth:`clipping_range` if the caller took it already."""
        if alpha is None:
            alpha = self.clipping_range(u[0].numel() if u.dim() > 0 else 1)
        return quantize_symmetric(u, alpha, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, shared_scale={self.__dict__['shared_with'] is not None}"


def make_weight_quantizer(
    bits: int, *, transform: WeightTransform = "clamp", scale_init: ScaleInit = "mse"
) -> WeightQuantizer | None:
    """A weight quantizer, or ``None`` at full precision (nothing in the graph)."""
    if is_full_precision(bits):
        return None
    if scale_init == "sawb" and bits not in SAWB_COEFFICIENTS:
        scale_init = "mse"  # SAWB is only fitted at 4 and 8 bits.
    return WeightQuantizer(bits, transform=transform, scale_init=scale_init)


class BiasQuantizer(nn.Module):
    """b-bit symmetric quantizer of a folded BN bias, its range refitted to every bias it sees.

    The folded bias is a per-channel vector recomputed from BN statistics at every step, so its
    range is the least-error one (:func:`mse_clipping_range`) of the current vector, found
    afresh each time (a vector of C_out values costs nothing to search); it gets no gradient.
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        if is_full_precision(bits):
            raise ValueError(f"a {bits}-bit bias needs no quantizer")
        self.bits = bits

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return quantize_symmetric(b, mse_clipping_range(b, self.bits).clamp_min(1e-8), self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
