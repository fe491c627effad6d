"""A user's own network, named in a config as ``factory: package.module:function``.

The function takes the input shape (C, H, W) and class count (and the config's ``kwargs``) and
returns a full-precision multi-step network; :func:`build_external` imports it, calls it, converts
the result with :func:`~mdsnn_search.snn.quantize.quantize_` at full precision and wraps it as a
:class:`~mdsnn_search.snn.models.network.SpikingNetwork`, so everything downstream (distillation,
the layer table, the cost model, checkpoints) treats it as a registered architecture. A checkpoint
of such a network names the factory: loading it imports that module again.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable

import torch
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.quantize import quantize_


class ExternalNetwork(SpikingNetwork):
    """A factory's network (``net``) as a :class:`SpikingNetwork`."""

    def __init__(
        self,
        config: ModelConfig,
        input_shape: tuple[int, int, int],
        num_classes: int,
        net: nn.Module,
    ) -> None:
        super().__init__(config, input_shape, num_classes)
        self.net = net

    def forward_seq(self, x_seq: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x_seq)
        return out


def import_factory(ref: str) -> Callable[..., nn.Module]:
    """The function ``package.module:function`` names; ConfigError naming ``model.factory`` if
    it cannot be imported. The working folder is searched as ``python -m`` would, so a network in
    a file beside the spec is found from the console script too."""
    module_name, _, function_name = ref.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is the user's module's: say which and why
        raise ConfigError(
            f"model.factory: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"model.factory: {module_name!r} has no function {function_name!r}")
    return function


def factory_source_digest(ref: str) -> str:
    """Content hash of the file defining ``ref``'s function: a cached teacher of an edited
    network is not the network's teacher any more."""
    source = inspect.getsourcefile(import_factory(ref))
    if source is None:
        return "unknown"
    with open(source, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def build_external(
    config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> ExternalNetwork:
    """``config.factory``'s network for ``input_shape`` and ``num_classes``, converted at full
    precision. ConfigError naming ``model.factory`` if the factory fails, returns no module, has
    layers that cannot be converted, or does not map ``[T, B, C, H, W]`` to ``[T, B, classes]``."""
    assert config.factory is not None
    function = import_factory(config.factory)
    try:
        net = function(tuple(input_shape), num_classes, **config.kwargs)
    except Exception as exc:  # the user's code: report it as the config's fault, in one line
        raise ConfigError(
            f"model.factory: {config.factory}{(tuple(input_shape), num_classes)} with kwargs "
            f"{config.kwargs} raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(net, nn.Module):
        raise ConfigError(
            f"model.factory: {config.factory} returned a {type(net).__name__}, not an nn.Module"
        )
    model = ExternalNetwork(config, input_shape, num_classes, net)
    try:
        quantize_(net, example_input=torch.zeros(1, 1, *input_shape))
        with torch.no_grad():
            out = model.eval()(torch.zeros(2, 1, *input_shape))
    except ConfigError as exc:
        raise ConfigError(f"model.factory: {config.factory}: {exc}") from None
    except Exception as exc:
        raise ConfigError(
            f"model.factory: {config.factory}'s network failed on an input [2, 1, "
            f"{', '.join(map(str, input_shape))}] ({type(exc).__name__}: {exc}); it must be "
            "multi-step (step_mode='m')"
        ) from None
    if tuple(out.shape) != (2, 1, num_classes):
        raise ConfigError(
            f"model.factory: {config.factory}'s network returned {list(out.shape)} for an input "
            f"[2, 1, {', '.join(map(str, input_shape))}]; it must return per-timestep logits "
            f"[T, B, classes] = [2, 1, {num_classes}]"
        )
    return model.train()
