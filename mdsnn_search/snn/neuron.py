"""The quantized LIF neuron, a spikingjelly ``BaseNode``.

Per timestep (docs/design/methods.md section 1), with input current x_t:

    H_t = U_{t-1} + (x_t - (U_{t-1} - U_reset)) / tau      charge (spikingjelly's LIF, decay_input)
    s_t = Heaviside(H_t - theta)                            fire (surrogate gradient backward)
    U_t = H_t - s_t*theta  (soft)  or  H_t*(1 - s_t)  (hard) reset
    U_t = Q_u(U_t)                                          store (quantized in the student)

H_t, the pre-spike membrane, is what membrane distillation compares; it is kept in ``h_seq``
only while ``record_membrane`` is on, so a model pays no memory for it otherwise.

SpQuant-SNN's options (docs/spquant.md):

- An integer-level membrane (:class:`~mdsnn_search.snn.integer_membrane.IntegerMembraneQuantizer`)
  counts in units of the threshold: U_t = theta * q(U_t / theta), levels lb*theta, ..., theta.
  At theta = 1 (the default) these are SpQuant's integer levels lb..1. The LIF above is kept as
  configured; ``NeuronConfig(tau=2, decay_input=False, reset="hard")`` is exactly SpQuant's
  ``u = 0.5*u + x``, fire at u >= 1, reset to 0, while our default (decay_input, soft reset) feeds
  x/2 and subtracts theta, which the learnt weights absorb.
- ``learnable_threshold``: theta is a per-layer parameter trained with LT-SNN's gradient
  (:mod:`mdsnn_search.snn.threshold`); reset and the integer unit use it detached.
- A channel mask (:mod:`mdsnn_search.snn.pruning`) on the input current: masked channels stay at
  rest and never fire.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from spikingjelly.activation_based import surrogate
from spikingjelly.activation_based.neuron import BaseNode
from spikingjelly.activation_based.surrogate import SurrogateFunctionBase
from torch import nn

from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.pruning import ChannelMask
from mdsnn_search.snn.quantizers import MembraneQuantizer
from mdsnn_search.snn.threshold import LearnableThreshold, learnable_fire

SurrogateName = Literal["sigmoid", "atan", "rect", "piecewise_quadratic"]
ResetMode = Literal["soft", "hard"]

SURROGATES: dict[str, type[surrogate.SurrogateFunctionBase]] = {
    "sigmoid": surrogate.Sigmoid,
    "atan": surrogate.ATan,
    "rect": surrogate.Rect,
    "piecewise_quadratic": surrogate.PiecewiseQuadratic,
}


class NeuronConfig(BaseModel):
    """LIF settings shared by every spiking layer of a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tau: float = Field(2.0, gt=1.0, description="membrane time constant (spikingjelly's tau)")
    v_threshold: float = Field(1.0, gt=0.0, description="firing threshold theta")
    reset: ResetMode = Field("soft", description="soft: subtract theta; hard: set to 0")
    surrogate: SurrogateName = "sigmoid"
    surrogate_alpha: float = Field(4.0, gt=0.0, description="sharpness of the surrogate")
    decay_input: bool = True
    detach_reset: bool = False
    learnable_threshold: bool = Field(
        False,
        description="theta is a per-layer parameter trained with LT-SNN's gradient (starts at "
        "v_threshold)",
    )

    def make_surrogate(self) -> SurrogateFunctionBase:
        """A fresh surrogate instance (spikingjelly shares a default one between neurons)."""
        return SURROGATES[self.surrogate](alpha=self.surrogate_alpha)


DEFAULT_NEURON = NeuronConfig()
"""The neuron a node gets when none is configured (frozen, so one instance serves all)."""


class _Spike(torch.autograd.Function):
    """Heaviside(x) forward; backward, the gradient of the neuron's spikingjelly surrogate.

    spikingjelly's forward, ``(x >= 0).to(x)``, writes a bool tensor and converts it: on CPU that
    costs about eight times a comparison written straight into a float tensor (262 against 31 us
    on a [64, 64, 8, 8] tensor, torch 2.13), for the same spikes. The backward is the surrogate
    class's own ``backward(grad, x, alpha)``, which every surrogate of :class:`NeuronConfig` has.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, surrogate_function: surrogate.SurrogateFunctionBase
    ) -> torch.Tensor:
        return torch.ge(x, 0.0, out=torch.empty_like(x))

    @staticmethod
    def setup_context(
        ctx: torch.autograd.function.FunctionCtx,
        inputs: tuple[torch.Tensor, surrogate.SurrogateFunctionBase],
        output: torch.Tensor,
    ) -> None:
        x, surrogate_function = inputs
        ctx.save_for_backward(x)
        ctx.surrogate_function = surrogate_function  # type: ignore[attr-defined]

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_output: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        fn = ctx.surrogate_function  # type: ignore[attr-defined]
        return fn.backward(grad_output, x, fn.alpha), None


class QuantLIFNode(BaseNode):
    """Multi-step LIF neuron whose stored membrane U_t goes through ``membrane_quantizer``.

    ``membrane_quantizer`` is ``None`` at full precision. Set ``record_membrane = True`` to keep
    the pre-spike membrane sequence ``h_seq`` ([T, N, ...]) of the last forward pass.
    ``channel_mask`` (pruning) multiplies the input current over channels (dim 2 of [T, N, C, ...]).
    """

    def __init__(
        self,
        config: NeuronConfig = DEFAULT_NEURON,
        membrane_quantizer: nn.Module | None = None,
        *,
        channel_mask: ChannelMask | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__(
            v_threshold=float(config.v_threshold),
            v_reset=None if config.reset == "soft" else 0.0,
            surrogate_function=config.make_surrogate(),
            detach_reset=config.detach_reset,
            step_mode=step_mode,
        )
        self.tau = float(config.tau)
        self.decay_input = config.decay_input
        self.membrane_quantizer = membrane_quantizer
        self.threshold = (
            LearnableThreshold(config.v_threshold) if config.learnable_threshold else None
        )
        self.channel_mask = channel_mask
        self.record_membrane = False
        self.h_seq: torch.Tensor | None = None
        self.compiled = False

    def _charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H_t with spikingjelly's LIF formulas (a soft reset rests at 0, so it subtracts
        nothing)."""
        if self.v_reset is None:
            return v + (x - v) / self.tau if self.decay_input else v - v / self.tau + x
        if self.decay_input:
            return v + (x - (v - self.v_reset)) / self.tau
        return v - (v - self.v_reset) / self.tau + x

    def _reset(
        self, h: torch.Tensor, spike: torch.Tensor, theta: torch.Tensor | float
    ) -> torch.Tensor:
        spike_for_reset = spike.detach() if self.detach_reset else spike
        if self.v_reset is not None:
            return self.apply_hard_reset(h, spike_for_reset, self.v_reset)
        if isinstance(theta, float):  # h - spike*theta in one op, exactly (spikes are 0 or 1)
            return torch.sub(h, spike_for_reset, alpha=theta)
        return self.apply_soft_reset(h, spike_for_reset, theta)

    def _membrane_store(
        self, theta: torch.Tensor | float, per_sample: int
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Q_u for one forward pass (``None`` at full precision); an integer membrane counts in
        units of theta."""
        quantizer = self.membrane_quantizer
        if quantizer is None:
            return None
        if isinstance(quantizer, MembraneQuantizer):
            alpha = quantizer.clipping_range(per_sample)
            return lambda v: quantizer(v, alpha)
        if isinstance(quantizer, IntegerMembraneQuantizer) and not (
            isinstance(theta, float) and theta == 1.0
        ):
            return lambda v: quantizer(v / theta) * theta
        return quantizer

    def _steps(
        self, x_seq: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The time loop: spikes ``[T, N, ...]``, the last stored U, and H ``[T, N, ...]`` if
        recording.

        What depends on parameters alone (a learnt threshold, the membrane quantizer's range) is
        taken once per pass instead of at every step; its gradient is the same sum over steps.
        """
        learnt = self.threshold() if self.threshold is not None else None
        # A learnt theta's only gradient is LT-SNN's, at the firing site.
        theta = self.v_threshold if learnt is None else learnt.detach()
        store = self._membrane_store(theta, x_seq[0, 0].numel())
        spikes, pre_spike = [], []
        for x in x_seq:
            h = self._charge(x, v)
            if learnt is None:
                spike = _Spike.apply(h - theta, self.surrogate_function)
            else:
                spike = learnable_fire(h, learnt, self.surrogate_function)
            v = self._reset(h, spike, theta)
            if store is not None:
                v = store(v)
            spikes.append(spike)
            if self.record_membrane:
                pre_spike.append(h)
        return torch.stack(spikes), v, torch.stack(pre_spike) if self.record_membrane else None

    def single_step_functional_forward(
        self, inputs: tuple[torch.Tensor, ...], states: tuple[object, ...], **kwargs: object
    ) -> tuple[tuple[torch.Tensor, ...], tuple[object, ...]]:
        v = states[0]
        assert isinstance(v, torch.Tensor)
        x = inputs[0] if self.channel_mask is None else self.channel_mask(inputs[0], channel_dim=1)
        spike_seq, v, _ = self._steps(x.unsqueeze(0), v)
        return (spike_seq[0],), (v, *states[1:])

    def multi_step_forward(
        self, x_seq: torch.Tensor, *args: object, **kwargs: object
    ) -> torch.Tensor:
        (v, *_) = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")
        assert isinstance(v, torch.Tensor)
        if self.channel_mask is not None:
            x_seq = self.channel_mask(x_seq)
        steps = _compiled_steps() if self.compiled else QuantLIFNode._steps
        spike_seq, v, self.h_seq = steps(self, x_seq, v)
        self._memories["v"] = v
        return spike_seq

    def reset(self) -> None:
        super().reset()
        self.h_seq = None

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau={self.tau}"


def learn_thresholds_(model: nn.Module, enabled: bool) -> None:
    """Give every :class:`QuantLIFNode` of ``model`` a fresh learnable threshold starting at its
    own ``v_threshold`` (``enabled``), or a fixed one, in place."""
    for module in model.modules():
        if isinstance(module, QuantLIFNode):
            module.threshold = LearnableThreshold(float(module.v_threshold)) if enabled else None


@functools.cache
def _compiled_steps() -> Callable[
    [QuantLIFNode, torch.Tensor, torch.Tensor],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
]:
    """:meth:`QuantLIFNode._steps` through ``torch.compile``, made on first use (the compiler's
    import alone costs seconds) and shared by every neuron, so layers of one shape share a graph."""
    return torch.compile(QuantLIFNode._steps)


def compile_neurons_(model: nn.Module, enabled: bool = True) -> None:
    """Run every :class:`QuantLIFNode`'s time loop of ``model`` through ``torch.compile``
    (``enabled=False``: eagerly again), in place.

    The compiled loop gives the same spikes, membranes and gradients as the eager one, several
    times faster on CPU once compiled; compiling takes tens of seconds per process (measured in
    docs/benchmarks.md), so it pays off in long training, not in a short search trial.
    """
    for module in model.modules():
        if isinstance(module, QuantLIFNode):
            module.compiled = enabled
