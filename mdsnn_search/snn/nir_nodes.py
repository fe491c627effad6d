"""One NIR node (or two) per layer of a trained student: the deployed weights as integer levels
times their scale, the LIF neuron, max pooling of spikes as an exact OR (sum pool, threshold).
:mod:`.nir_export` assembles them into a graph; its docstring (and docs/nir.md) says what each
node holds and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.quantizers import (
    MembraneQuantizer,
    WeightQuantizer,
    mse_clipping_range,
    positive_levels,
)

if TYPE_CHECKING:
    import nir

DT = 1e-4
"""Seconds per timestep of the exported graph: NIR's time constants are in seconds, and this is the
step snnTorch's NIR import assumes, so its ``beta = 1 - dt/tau`` is ours."""

OR_THRESHOLD = 0.5
"""A window's spike count above this is at least one spike: the OR of binary inputs."""


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().to(torch.float32).numpy()


def _levels(quantized: torch.Tensor, alpha: torch.Tensor, bits: int) -> tuple[np.ndarray, float]:
    """Integer levels and the scale ``alpha / n`` of a symmetric ``bits``-bit tensor."""
    step = (alpha / positive_levels(bits)).reshape(())
    levels = torch.round(quantized / step)
    return levels.to(torch.int32).cpu().numpy(), float(step)


def _weight_range(quantizer: WeightQuantizer, weight: torch.Tensor) -> torch.Tensor:
    """The range the quantizer uses in evaluation on ``weight`` (its mean magnitude times the
    learnt ratio)."""
    source = torch.tanh(weight) if quantizer.transform == "tanh" else weight
    return quantizer.ratio.abs() * source.abs().mean() + 1e-8


def conv_node(
    layer: QuantConvBN2d, shape: tuple[int, ...], mask: torch.Tensor | None
) -> tuple[nir.NIRNode, tuple[int, ...]]:
    import nir

    conv, bn = layer.conv, layer.bn
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    mean = bn.running_mean if conv.bias is None else bn.running_mean - conv.bias
    metadata: dict[str, Any] = {"layer": layer.layer_name}
    quantizer = layer.weight_quantizer
    if layer.bn_quantizer is not None:  # MINT's fold-and-quantize: the deployed layer exactly
        folded = conv.weight * scale.view(-1, 1, 1, 1)
        weight = folded if quantizer is None else quantizer(folded)
        if quantizer is not None:
            levels, step = _levels(weight, _weight_range(quantizer, folded), quantizer.bits)
            weight = torch.from_numpy(levels).to(weight) * step
            metadata |= {"weight_levels": levels, "weight_scale": step}
        folded_bias = bn.bias - scale * mean
        bias = layer.bn_quantizer(folded_bias)
        bits = layer.bn_quantizer.bits
        bias_levels, bias_step = _levels(bias, mse_clipping_range(folded_bias, bits), bits)
        bias = torch.from_numpy(bias_levels).to(bias) * bias_step
        metadata |= {"bias_levels": bias_levels, "bias_scale": bias_step}
    else:  # BN at 32 bits: BN(conv(x, Q(W))) is conv(x, Q(W) * s) + beta - s*mu
        weight = conv.weight if quantizer is None else quantizer(conv.weight)
        if quantizer is not None:
            levels, step = _levels(weight, _weight_range(quantizer, conv.weight), quantizer.bits)
            weight = torch.from_numpy(levels).to(weight) * step
            metadata |= {
                "weight_levels": levels,
                "weight_scale": step,
                "weight_bn_scale": _array(scale),
            }
        weight = weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - scale * mean
    if mask is not None:
        weight = weight * mask.view(-1, 1, 1, 1)
        bias = bias * mask
        metadata["pruned_channels"] = np.flatnonzero(_array(mask) == 0).astype(np.int32)
    node = nir.Conv2d(
        input_shape=tuple(int(s) for s in shape[1:]),
        weight=_array(weight),
        stride=tuple(int(s) for s in conv.stride),
        padding=tuple(int(p) for p in conv.padding),
        dilation=tuple(int(d) for d in conv.dilation),
        groups=int(conv.groups),
        bias=_array(bias),
        metadata=metadata,
    )
    out_shape = tuple(int(s) for s in node.output_type["output"])
    return node, out_shape


def lif_node(node: QuantLIFNode, shape: tuple[int, ...]) -> nir.NIRNode:
    import nir

    theta = (
        float(node.threshold().detach()) if node.threshold is not None else float(node.v_threshold)
    )
    ones = np.ones(shape, dtype=np.float32)
    metadata: dict[str, Any] = {
        "layer": node.layer_name,
        "reset": "subtract" if node.v_reset is None else "zero",
        "threshold_learnt": node.threshold is not None,
        "fires_at": "v >= v_threshold",
        **_membrane_metadata(node.membrane_quantizer, theta),
    }
    # A hard reset is to 0 (NeuronConfig has no other), a soft one has no v_reset at all.
    return nir.LIF(
        tau=ones * np.float32(node.tau * DT),
        r=ones * np.float32(1.0 if node.decay_input else node.tau),
        v_leak=ones * 0.0,
        v_threshold=ones * np.float32(theta),
        v_reset=ones * 0.0,
        metadata=metadata,
    )


def _membrane_metadata(quantizer: nn.Module | None, theta: float) -> dict[str, Any]:
    """The stored membrane's levels, which NIR has no field for."""
    if quantizer is None:
        return {"membrane_quantization": "none"}
    if isinstance(quantizer, IntegerMembraneQuantizer):
        levels = np.arange(quantizer.lower, quantizer.upper + 1, dtype=np.float32) * theta
        return {
            "membrane_quantization": "integer",
            "membrane_levels": levels,
            "membrane_rounding": "nearest level, ties down, after reset",
        }
    if isinstance(quantizer, MembraneQuantizer):
        alpha = float(quantizer.clipping_range(1))
        n = positive_levels(quantizer.bits)
        return {
            "membrane_quantization": "uniform",
            "membrane_bits": quantizer.bits,
            "membrane_levels": np.arange(-n, n + 1, dtype=np.float32) * np.float32(alpha / n),
            "membrane_rounding": "nearest level, clamped to +-alpha, after reset",
        }
    raise ConfigError(f"membrane quantizer {type(quantizer).__name__} has no NIR description")


def or_pool_nodes(
    name: str, pool: nn.Module, shape: tuple[int, ...]
) -> tuple[nir.NIRNode, nir.NIRNode, tuple[int, ...]]:
    import nir

    kernel, stride, padding = (
        _pair(getattr(pool, a)) for a in ("kernel_size", "stride", "padding")
    )
    if _pair(getattr(pool, "dilation", 1)) != (1, 1) or getattr(pool, "ceil_mode", False):
        raise ConfigError(f"layer {name!r}: max pooling with dilation or ceil_mode is not exported")
    if padding != (0, 0):
        # A padded window's zeros add nothing to a count, but readers differ on padded sum pools.
        raise ConfigError(f"layer {name!r}: padded max pooling is not exported")
    channels, height, width = shape
    out = (channels, (height - kernel[0]) // stride[0] + 1, (width - kernel[1]) // stride[1] + 1)
    sum_pool = nir.SumPool2d(
        kernel_size=np.array(kernel),
        stride=np.array(stride),
        padding=np.array(padding),
        metadata={"layer": name, "replaces": "max pooling of spikes (with the threshold after it)"},
    )
    sum_pool.input_type = {"input": np.array(shape)}
    sum_pool.output_type = {"output": np.array(out)}
    gate = nir.Threshold(
        threshold=np.full(out, OR_THRESHOLD, dtype=np.float32),
        metadata={"layer": name, "role": "OR of the window's spikes: count > 0.5"},
    )
    return sum_pool, gate, out


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def affine_node(layer: QuantLinear, mask: torch.Tensor | None = None) -> nir.NIRNode:
    import nir

    linear = layer.linear
    weight: torch.Tensor = linear.weight
    metadata: dict[str, Any] = {"layer": layer.layer_name}
    quantizer = layer.weight_quantizer
    if quantizer is not None:
        levels, step = _levels(quantizer(weight), _weight_range(quantizer, weight), quantizer.bits)
        weight = torch.from_numpy(levels).to(weight) * step
        metadata |= {"weight_levels": levels, "weight_scale": step}
    bias: torch.Tensor = linear.bias if linear.bias is not None else torch.zeros(weight.shape[0])
    if mask is not None:
        weight, bias = weight * mask.view(-1, 1), bias * mask
        metadata["pruned_channels"] = np.flatnonzero(_array(mask) == 0).astype(np.int32)
    return nir.Affine(weight=_array(weight), bias=_array(bias), metadata=metadata)
