"""``quantize_(model, precision)``: this project's quantization applied to any spiking network.

torchao's shape: a config object applied to a model in place, layers addressed by name. The
model may be built from spikingjelly's (or torch's) ``Conv2d``, ``BatchNorm2d``, ``Linear`` and
``neuron.LIFNode``, or already from this project's layers (a registry model, or one converted
before). Conversion swaps each conv and the batch norm it feeds for one
:class:`~mdsnn_search.snn.layers.QuantConvBN2d` (the BN's place becomes an ``nn.Identity``), each
linear for a :class:`~mdsnn_search.snn.layers.QuantLinear` and each LIF neuron for a
:class:`~mdsnn_search.snn.neuron.QuantLIFNode`, carrying weights, BN statistics, neuron settings
and step modes over; then every layer gets the quantizers its precision asks for, fresh, so a
weight quantizer fits its range to the weights it meets on its first forward.

Which BN a conv feeds, and which weight layer a neuron fires on, is read off one dry forward pass
(as the layer table's geometry is): a BN belongs to the conv whose output it normalises, and a
neuron to the weight layer that ran last before it (unless that layer has a neuron already; the
neuron is then named by its own module path). A converted layer is named by its module path
(``blocks.0.conv1``), which is how ``PrecisionConfig`` addresses it; layers of this project keep
the ``layer_name`` they carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.neuron import BaseNode, LIFNode
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import PrecisionConfig, integer_membrane_lower, is_full_precision
from mdsnn_search.snn.config import QuantConfig
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear, WeightLayer
from mdsnn_search.snn.neuron import SURROGATES, NeuronConfig, QuantLIFNode, SurrogateName
from mdsnn_search.snn.quantizers import BiasQuantizer, MembraneQuantizer, make_weight_quantizer

_FOREIGN = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.Linear, BaseNode)
FULL_PRECISION = PrecisionConfig()
DEFAULT_QUANT = QuantConfig()


def weight_layers(model: nn.Module) -> dict[str, WeightLayer]:
    """The converted weight layers of ``model`` by layer name, in registration order."""
    return {m.layer_name: m for m in model.modules() if isinstance(m, (QuantConvBN2d, QuantLinear))}


def spiking_neurons(model: nn.Module) -> dict[str, QuantLIFNode]:
    """The converted neurons of ``model`` by the name of the layer they fire on."""
    return {m.layer_name: m for m in model.modules() if isinstance(m, QuantLIFNode)}


def quantize_(
    model: nn.Module,
    precision: PrecisionConfig = FULL_PRECISION,
    *,
    quant: QuantConfig = DEFAULT_QUANT,
    example_input: torch.Tensor | None = None,
) -> nn.Module:
    """Convert ``model`` in place to quantized layers at ``precision``; returns ``model``.

    ``example_input`` (one batch as the model takes it) drives the dry pass that pairs convs with
    their batch norms and neurons with their layers; without it, a model with an ``input_shape``
    (C, H, W) is run on zeros of ``[1, 1, C, H, W]``. Raises ConfigError naming every module that
    cannot be converted, or a precision override that matches no layer.
    """
    if any(_is_foreign(m) for _, m in _named(model)):
        _convert_layers(model, _dry_input(model, example_input))
    param = next(model.parameters(), None)
    device = param.device if param is not None else None
    layers = weight_layers(model)
    unmatched = precision.unmatched_patterns(layers)
    if unmatched:
        raise ConfigError(
            f"precision.layers: {unmatched[0]!r} matches no layer (layers: {', '.join(layers)})"
        )
    for name, layer in layers.items():
        p = precision.for_layer(name)
        layer.weight_quantizer = make_weight_quantizer(
            p.w_bits, transform=quant.weight_transform, scale_init=quant.scale_init
        )
        if isinstance(layer, QuantConvBN2d):
            layer.bn_quantizer = None if is_full_precision(p.bn_bits) else BiasQuantizer(p.bn_bits)
        layer.to(device).train(layer.training)  # the new quantizers in the layer's mode
    for name, node in spiking_neurons(model).items():
        p = precision.for_layer(name)
        quantizer: MembraneQuantizer | IntegerMembraneQuantizer | None = None
        if p.u_levels is not None:
            quantizer = IntegerMembraneQuantizer(integer_membrane_lower(p.u_levels))
        elif not is_full_precision(p.u_bits):
            source = layers.get(name)
            shared = source.weight_quantizer if quant.share_scale and source is not None else None
            quantizer = MembraneQuantizer(
                p.u_bits, init_alpha=float(node.v_threshold), shared_with=shared
            )
        node.membrane_quantizer = quantizer
        node.to(device).train(node.training)
    invalidate_module_caches(model)
    return model


def invalidate_module_caches(model: nn.Module) -> None:
    """Forget spikingjelly's cached list of resettable modules of ``model`` and its parts, so
    ``functional.reset_net`` resets the modules the model holds now."""
    for module in model.modules():
        functional.invalidate_reset_cache(module)


def _is_foreign(module: nn.Module) -> bool:
    return isinstance(module, _FOREIGN) and not isinstance(module, QuantLIFNode)


def _dry_input(model: nn.Module, example_input: torch.Tensor | None) -> torch.Tensor:
    if example_input is not None:
        return example_input
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise ConfigError(
            "quantize_: the model has no input_shape; pass example_input (one batch as the model "
            "takes it) so its convs can be paired with their batch norms"
        )
    param = next(model.parameters(), None)
    return torch.zeros(1, 1, *shape, device=param.device if param is not None else None)


def _named(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every module below ``model`` but the converted layers' own parts, by path."""
    parts = {
        part
        for layer in model.modules()
        if isinstance(layer, (QuantConvBN2d, QuantLinear))
        for part in layer.modules()
        if part is not layer
    }
    for name, module in model.named_modules():
        if name and module not in parts:
            yield name, module


def _convert_layers(model: nn.Module, example_input: torch.Tensor) -> None:
    path = {module: name for name, module in _named(model)}
    problems = [
        f"{name} ({type(m).__module__}.{type(m).__qualname__}): {why}"
        for m, name in path.items()
        if (why := _unsupported(m)) is not None
    ]
    order: list[nn.Module] = []
    produced_by: dict[int, tuple[nn.Module, torch.Tensor]] = {}
    bn_of: dict[nn.Module, nn.BatchNorm2d] = {}

    def after_weight(module: nn.Module, args: tuple[object, ...], output: torch.Tensor) -> None:
        order.append(module)
        produced_by[id(output)] = (module, output)  # the tensor kept: its id stays its own

    def before_bn(module: nn.BatchNorm2d, args: tuple[torch.Tensor, ...]) -> None:
        conv, _ = produced_by.get(id(args[0]), (None, None))
        if isinstance(conv, nn.Conv2d):
            bn_of.setdefault(conv, module)

    def after_neuron(module: nn.Module, args: tuple[object, ...], output: object) -> None:
        order.append(module)

    hooks = []
    for module in path:
        if isinstance(module, (nn.Conv2d, nn.Linear, QuantConvBN2d, QuantLinear)):
            hooks.append(module.register_forward_hook(after_weight))
        elif isinstance(module, nn.BatchNorm2d):
            hooks.append(module.register_forward_pre_hook(before_bn))
        elif isinstance(module, BaseNode):
            hooks.append(module.register_forward_hook(after_neuron))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    except Exception as exc:
        raise ConfigError(
            f"quantize_: the dry pass that pairs layers failed ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
        functional.reset_net(model)
    paired_bns = set(bn_of.values())
    for module, name in path.items():
        if isinstance(module, nn.Conv2d) and module not in bn_of:
            problems.append(f"{name} (Conv2d): not followed by a BatchNorm2d on its output")
        if isinstance(module, nn.BatchNorm2d) and module not in paired_bns:
            problems.append(f"{name} (BatchNorm2d): its input is not a Conv2d's output")
    if problems:
        raise ConfigError(
            "quantize_ converts Conv2d+BatchNorm2d, Linear and LIFNode layers; cannot convert "
            + "; ".join(problems)
        )
    layer_names: dict[nn.Module, str] = {
        m: (m.layer_name if isinstance(m, (QuantConvBN2d, QuantLinear)) else path[m])
        for m in path
        if isinstance(m, (nn.Conv2d, nn.Linear, QuantConvBN2d, QuantLinear))
    }
    neuron_names: dict[nn.Module, str] = {}
    claimed = {m.layer_name for m in path if isinstance(m, QuantLIFNode)}
    last: nn.Module | None = None
    for module in order:
        if not isinstance(module, BaseNode):
            last = module
        elif module not in neuron_names and not isinstance(module, QuantLIFNode):
            name = layer_names[last] if last is not None else path[module]
            neuron_names[module] = path[module] if name in claimed else name
            claimed.add(neuron_names[module])
    for module, name in path.items():
        if isinstance(module, nn.Conv2d):
            _replace(model, name, _conv_bn(layer_names[module], module, bn_of[module]))
            _replace(model, path[bn_of[module]], nn.Identity())
        elif isinstance(module, nn.Linear):
            _replace(model, name, _linear(name, module))
        elif isinstance(module, LIFNode):
            _replace(model, name, _neuron(neuron_names.get(module, name), module))


def _unsupported(module: nn.Module) -> str | None:
    """Why ``module`` cannot be converted, or None (it can, or it needs no conversion)."""
    if isinstance(module, QuantLIFNode) or not isinstance(module, _FOREIGN):
        return None
    if not isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear, BaseNode)):
        return "only Conv2d followed by BatchNorm2d is converted"
    if isinstance(module, BaseNode) and type(module) is not LIFNode:
        return "only LIFNode neurons are converted"
    if isinstance(module, LIFNode):
        if module.v_reset not in (None, 0.0):
            return f"hard reset to v_reset={module.v_reset} (only 0 or soft reset)"
        if not (float(module.tau) > 1.0 and float(module.v_threshold) > 0.0):
            return f"tau={module.tau}, v_threshold={module.v_threshold} (tau > 1, threshold > 0)"
        if _surrogate_name(module) is None:
            known = ", ".join(t.__name__ for t in SURROGATES.values())
            return f"surrogate {module.surrogate_function!r} (spiking surrogates: {known})"
    if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r}"
    if isinstance(module, nn.BatchNorm2d) and (not module.affine or not module.track_running_stats):
        return "a batch norm needs affine weights and running statistics to be folded"
    return None


def _surrogate_name(lif: LIFNode) -> SurrogateName | None:
    function = lif.surrogate_function
    names: dict[type, SurrogateName] = {kind: name for name, kind in SURROGATES.items()}  # type: ignore[misc]
    return names.get(type(function)) if function.spiking else None


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    new.train(getattr(parent, attr).training)
    setattr(parent, attr, new)


def _step_mode(module: nn.Module) -> str:
    """A spikingjelly layer's step mode; a torch layer sees one step (or T*B folded) at a time."""
    return str(getattr(module, "step_mode", "s"))


def _conv_bn(name: str, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> QuantConvBN2d:
    layer = QuantConvBN2d(
        name,
        conv.in_channels,
        conv.out_channels,
        # nn.Conv2d stores each of these as a pair (its annotations say tuple[int, ...]).
        cast(tuple[int, int], conv.kernel_size),
        cast(tuple[int, int], conv.stride),
        cast("tuple[int, int] | str", conv.padding),
        dilation=cast(tuple[int, int], conv.dilation),
        groups=conv.groups,
        bias=conv.bias is not None,
        step_mode=_step_mode(conv),
    )
    layer.bn.eps, layer.bn.momentum = bn.eps, bn.momentum
    layer.conv.load_state_dict(conv.state_dict())
    layer.bn.load_state_dict(bn.state_dict())
    return layer.to(conv.weight.device)


def _linear(name: str, linear: nn.Linear) -> QuantLinear:
    layer = QuantLinear(
        name,
        linear.in_features,
        linear.out_features,
        bias=linear.bias is not None,
        step_mode=_step_mode(linear),
    )
    layer.linear.load_state_dict(linear.state_dict())
    return layer.to(linear.weight.device)


def _neuron(name: str, lif: LIFNode) -> QuantLIFNode:
    config = NeuronConfig(
        tau=float(lif.tau),
        v_threshold=float(lif.v_threshold),
        reset="soft" if lif.v_reset is None else "hard",
        decay_input=bool(lif.decay_input),
        detach_reset=bool(lif.detach_reset),
        surrogate=_surrogate_name(lif),
        surrogate_alpha=float(lif.surrogate_function.alpha),
    )
    node = QuantLIFNode(config, step_mode=lif.step_mode)
    node.layer_name = name
    return node
