"""Learnable firing threshold with LT-SNN's gradient (docs/design/methods.md section 4).

One threshold theta per layer, an ``nn.Parameter``. Firing is ``s = Heaviside(u - theta)`` with the
neuron's own surrogate for the membrane's gradient, ``g_u = dL/ds * surrogate'(u - theta)``, and the
threshold's gradient is LT-SNN's

    dL/dtheta = - sum over fired neurons (u >= theta) of  g_u * sigmoid(u - theta)

summed over timesteps, samples and neurons. It is this and nothing else: the neuron uses theta
detached everywhere past the firing site (soft reset, the unit of an integer membrane), so no
other path adds to it. (The authors' public code also lets the plain ``u - theta`` path through,
which adds ``-sum over all neurons of g_u``; docs/design/methods.md's formula leaves it out, and
so do we.)
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import surrogate
from torch import nn

MIN_THRESHOLD_FRACTION = 0.01
"""theta is kept at or above this fraction of its initial value: a threshold at or below zero would
fire on no input at all (a pruned channel, a silent pixel)."""


class _LearnableFire(torch.autograd.Function):
    """Heaviside of ``u - theta``; backward: the surrogate for ``u``, LT-SNN's rule for
    ``theta``."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        u: torch.Tensor,
        theta: torch.Tensor,
        fn: surrogate.SurrogateFunctionBase,
    ) -> torch.Tensor:
        x = u - theta
        ctx.save_for_backward(x)
        ctx.fn = fn  # type: ignore[attr-defined]
        return (x >= 0).to(u.dtype)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        g_u = surrogate_grad(ctx.fn, x, grad_out)  # type: ignore[attr-defined]
        fired = x >= 0
        grad_theta = -(g_u * torch.sigmoid(x)).masked_fill(~fired, 0.0).sum()
        return g_u, grad_theta.reshape(()), None


def surrogate_grad(
    fn: surrogate.SurrogateFunctionBase, x: torch.Tensor, grad_out: torch.Tensor
) -> torch.Tensor:
    """``grad_out * fn'(x)`` for any spikingjelly surrogate, through its own backward."""
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(leaf), leaf, grad_out)
    return grad


def learnable_fire(
    u: torch.Tensor, theta: torch.Tensor, fn: surrogate.SurrogateFunctionBase
) -> torch.Tensor:
    """Spikes of membrane ``u`` at threshold ``theta`` (a 0-d tensor) with LT-SNN's gradients."""
    return _LearnableFire.apply(u, theta, fn)


class LearnableThreshold(nn.Module):
    """A layer's learnable threshold theta, initialised to the configured ``v_threshold``."""

    def __init__(self, initial: float) -> None:
        super().__init__()
        if not initial > 0:
            raise ValueError(f"a threshold must be > 0, but got {initial}")
        self.theta = nn.Parameter(torch.tensor(float(initial)))
        self.floor = MIN_THRESHOLD_FRACTION * float(initial)

    def forward(self) -> torch.Tensor:
        """theta as used for firing (at or above the floor; the floor passes no gradient)."""
        return self.theta.clamp_min(self.floor)

    def extra_repr(self) -> str:
        return f"theta={float(self.theta.detach()):.4g}"
