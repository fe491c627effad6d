"""SpQuant-SNN's integer-only membrane: levels ``lower..threshold`` in steps of 1, trained through
the stacked sigmoid surrogate (docs/spquant.md). The ternary "1.58-bit" membrane is ``lower=-1``."""

from __future__ import annotations

import math

import torch
from torch import nn


class _IntegerLevels(torch.autograd.Function):
    """Snap to integer levels lb..theta; backward is the stacked sigmoid surrogate (SpQuant)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        u: torch.Tensor,
        lower: int,
        upper: int,
        temperature: float,
    ) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.levels = (lower, upper, temperature)  # type: ignore[attr-defined]
        # Nearest level with ties going down: ceil(u - 1/2).
        return torch.ceil(torch.clamp(u, lower, upper) - 0.5)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor, None, None, None]:
        (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
        lower, upper, temperature = ctx.levels  # type: ignore[attr-defined]
        return grad_out * stacked_surrogate_grad(u, lower, upper, temperature), None, None, None


def stacked_surrogate_grad(
    u: torch.Tensor, lower: int, upper: int, temperature: float = 2.0
) -> torch.Tensor:
    """``sum_l T*sig(T(u - m_l))*(1 - sig(T(u - m_l)))`` over nonzero levels l; m_l = l -+ 1/2."""
    grad = torch.zeros_like(u)
    for level in range(lower, upper + 1):
        if level == 0:
            continue
        midpoint = level - 0.5 if level > 0 else level + 0.5
        s = torch.sigmoid(temperature * (u - midpoint))
        grad = grad + temperature * s * (1.0 - s)
    return grad


def quantize_integer_levels(
    u: torch.Tensor, lower: int, upper: int = 1, temperature: float = 2.0
) -> torch.Tensor:
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
