"""Quantized weight layers: conv + batch norm (folded and quantized) and linear.

They are spikingjelly step modules: in multi-step mode (``"m"``, the default) inputs and outputs
are time-major, ``[T, B, ...]``, and the time axis is folded into the batch for the dense op, as
spikingjelly's ``SeqToANNContainer`` does; in single-step mode (``"s"``) they take one step,
``[B, ...]``. Each layer carries its stable ``layer_name``, by which configs address its precision
and the cost model its geometry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from spikingjelly.activation_based.base import StepModule
from torch import nn
from torch.nn.common_types import _size_2_t

from mdsnn_search.snn.crossbar import CrossbarADC
from mdsnn_search.snn.quantizers import BiasQuantizer, WeightQuantizer


def _safe_nonzero(x: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """``x`` with magnitudes below ``floor`` raised to it, keeping the sign (a divisor)."""
    sign = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    return sign * x.abs().clamp_min(floor)


class QuantConvBN2d(nn.Module, StepModule):
    """Conv2d followed by batch norm, with weights of ``w_bits`` and BN of ``bn_bits``.

    - ``bn_quantizer is None`` (BN at 32 bits): ``BN(conv(x, Q_w(W)))``, BN in floating point.
    - otherwise MINT's fold-and-quantize: the deployed layer is
      ``conv(x, Q_w(W * gamma/sigma)) + Q_bn(beta - gamma*mu/sigma)``. Evaluation computes exactly
      that with the running statistics. Training follows PyTorch's QAT ``ConvBn2d``: the conv is
      run once with the weights folded by the *running* sigma, divided back by that factor, and
      normalised with the *batch* statistics (which update the running ones), so gradients see
      batch norm and the quantized folded weights in one conv.
    """

    def __init__(
        self,
        layer_name: str,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t | str = 0,
        *,
        dilation: _size_2_t = 1,
        groups: int = 1,
        bias: bool = False,
        weight_quantizer: WeightQuantizer | None = None,
        bn_quantizer: BiasQuantizer | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__()
        self.layer_name = layer_name
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.weight_quantizer = weight_quantizer
        self.bn_quantizer = bn_quantizer
        self.step_mode = step_mode
        self.crossbar: CrossbarADC | None = None
        """The ADC in the loop, set by ``snn.in_the_loop.put_crossbar_in_loop_``."""

    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    @property
    def kernel_size(self) -> int:
        return int(self.conv.kernel_size[0])

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
        c = self.conv
        return F.conv2d(
            x, weight, c.bias if bias else None, c.stride, c.padding, c.dilation, c.groups
        )

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self._forward(x_seq)
        return self._forward(x_seq.flatten(0, 1)).unflatten(0, x_seq.shape[:2])

    def _conversion_error(self, x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor | None:
        """The ADC's error of ``conv(x, quantized)`` when the crossbar is in the loop, else None."""
        if self.crossbar is None or self.weight_quantizer is None:
            return None
        levels, step = self.weight_quantizer.levels(quantized)
        c = self.conv
        geometry = {"stride": c.stride, "padding": c.padding, "dilation": c.dilation}
        return self.crossbar.error(x, levels, geometry, self.layer_name) * step

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn_quantizer is None:
            w = self.conv.weight
            if self.weight_quantizer is not None:
                w = self.weight_quantizer(w)
            y = self._conv(x, w)
            error = self._conversion_error(x, w)
            y = self.bn(y if error is None else y + error)
        else:
            y = self._folded(x)
        return y

    def _folded(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        assert (
            bn.running_mean is not None
            and bn.running_var is not None
            and self.bn_quantizer is not None
        )
        running_scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded_w = self.conv.weight * running_scale.view(-1, 1, 1, 1)
        if self.weight_quantizer is not None:
            folded_w = self.weight_quantizer(folded_w)
        # BN(conv(x) + b) normalises conv(x) against the mean less the conv's bias b, if any.
        mean = bn.running_mean if self.conv.bias is None else bn.running_mean - self.conv.bias
        folded_bias = bn.bias - running_scale * mean
        quantized_bias = self.bn_quantizer(folded_bias)
        # The BN's own mode decides, so that precise BN (snn.bn_recalibration) can put the BN
        # alone into training mode.
        error = self._conversion_error(x, folded_w)
        if not bn.training:
            y = self._conv(x, folded_w, bias=False)
            if error is not None:
                y = y + error
            return y + quantized_bias.view(1, -1, 1, 1)
        # conv(x, Q(W*s)) / s == conv(x, Q(W*s) / s) for a per-output-channel s: dividing the
        # small weight tensor instead of the activations leaves one conv and one fused BN.
        unfolded_w = folded_w / _safe_nonzero(running_scale).view(-1, 1, 1, 1)
        # The deployed bias's rounding error, added as a constant: the STE gives it no gradient.
        bias_error = (quantized_bias - folded_bias).detach()
        first_batch = bn.num_batches_tracked is not None and int(bn.num_batches_tracked) == 0
        momentum = bn.momentum if bn.momentum is not None else 0.1
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
        y = self._conv(x, unfolded_w)
        if error is not None:
            y = y + error / _safe_nonzero(running_scale).view(1, -1, 1, 1)
        return F.batch_norm(
            y,
            bn.running_mean,
            bn.running_var,
            bn.weight,
            bn.bias + bias_error,
            training=True,
            # The first batch sets the statistics outright: folding uses them for the weights
            # too, and a short search trial should not evaluate with the initial sigma = 1.
            momentum=1.0 if first_batch else momentum,
            eps=bn.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"layer_name={self.layer_name!r}, bn_folded={self.bn_quantizer is not None}, "
            f"step_mode={self.step_mode}"
        )


class QuantLinear(nn.Module, StepModule):
    """Linear layer with ``w_bits`` weights; its bias stays in floating point (a neuron-side add).

    A linear acts on the last axis, so both step modes run the same code.
    """

    def __init__(
        self,
        layer_name: str,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        weight_quantizer: WeightQuantizer | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__()
        self.layer_name = layer_name
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.weight_quantizer = weight_quantizer
        self.step_mode = step_mode
        self.crossbar: CrossbarADC | None = None
        """The ADC in the loop, set by ``snn.in_the_loop.put_crossbar_in_loop_``."""

    @property
    def in_channels(self) -> int:
        return self.linear.in_features

    @property
    def out_channels(self) -> int:
        return self.linear.out_features

    kernel_size = 1

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        w = self.linear.weight
        if self.weight_quantizer is not None:
            w = self.weight_quantizer(w)
        y = F.linear(x_seq, w, self.linear.bias)
        if self.crossbar is None or self.weight_quantizer is None:
            return y
        levels, step = self.weight_quantizer.levels(w)
        flat = x_seq.reshape(-1, x_seq.shape[-1])
        error = self.crossbar.error(flat, levels, {}, self.layer_name) * step
        return y + error.reshape(y.shape)

    def extra_repr(self) -> str:
        return f"layer_name={self.layer_name!r}, step_mode={self.step_mode}"


WeightLayer = QuantConvBN2d | QuantLinear
