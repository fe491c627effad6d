"""A trained student as a NIR graph (Neuromorphic Intermediate Representation, ``nir`` 1.0).

NIR is the file snnTorch, Norse, Sinabs, Rockpool, Lava and SpiNNaker2 read. What goes in, node by
node of a VGG-style network (docs/nir.md has the full account and the measured round trip):

- ``convN`` (:class:`~mdsnn_search.snn.layers.QuantConvBN2d`): ``nir.Conv2d`` whose weight is the
  deployed one, integer levels times their scale (``Q_w(W*gamma/sigma)`` with BN folded), and whose
  bias is the folded BN (``Q_bn(beta - gamma*mu/sigma)``); the levels and scales are in the node's
  metadata. A BN kept at 32 bits is folded in floating point (the same affine map). Pruned channels
  (a neuron's channel mask) are zero weights and bias.
- ``lifN`` (:class:`~mdsnn_search.snn.neuron.QuantLIFNode`): ``nir.LIF`` with the student's
  threshold (the learnt one where it learns it), ``v_leak = 0``, ``v_reset = 0``. Our neuron is a
  discrete-time LIF, ``H = U + (x - U)/tau`` (``decay_input``) or ``H = U - U/tau + x``: exactly
  NIR's ``tau dv/dt = -v + r I`` under forward Euler with step ``dt`` (graph metadata ``dt``) for
  ``tau_nir = tau * dt`` and ``r = 1`` or ``r = tau``. NIR knows one reset, to ``v_reset``; a
  soft-reset (subtract theta) student says so in the node's metadata (``reset = "subtract"``), and
  a reader that ignores it resets to zero.
- ``poolN`` (max pooling of the previous layer's spikes): a max of 0/1 values is their OR, which is
  ``nir.SumPool2d`` (the count of spikes in the window) followed by ``nir.Threshold(0.5)`` (count
  > 0.5, i.e. >= 1): exact. Max pooling of anything but spikes is refused.
- ``fc`` (:class:`~mdsnn_search.snn.layers.QuantLinear`): ``nir.Affine``, its output the
  per-timestep logits; the prediction is the argmax of their mean over the timesteps.
- A spiking ResNet's block: the second neuron's current is its conv's plus the shortcut's (a 1x1
  conv, or the block's input spikes), two NIR edges into one node, which NIR sums; the global
  average pool is ``nir.AvgPool2d`` over the whole map; the head's hidden layer is an
  ``Affine`` and a ``LIF``. Node names are the layers' with ``_`` for ``.``.

A quantized membrane has no NIR field: its levels go into the LIF node's metadata
(``membrane_quantization``), and a reader that ignores them runs the membrane at full precision.
Any other layer is refused with a :class:`~mdsnn_search.errors.ConfigError` naming it, before
anything is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from spikingjelly.activation_based import layer as sj_layer
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.resnet import SpikingBasicBlock, SpikingResNet
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.nir_nodes import DT, affine_node, conv_node, lif_node, or_pool_nodes

if TYPE_CHECKING:
    import nir

    from mdsnn_search.data import DataConfig

NIR_FORMAT = "mdsnn-search/nir/1"
"""Graph metadata ``format``: a file with it was written here."""


def nir_graph(model: SpikingNetwork, data: DataConfig | None = None) -> nir.NIRGraph:
    """``model`` (evaluated as deployed) as a NIR graph; ConfigError names a layer NIR cannot hold.

    ``data`` (the config the student was trained on) documents its input in the graph's metadata:
    the encoding, the frames a sample has, and how the student maps them onto its timesteps.
    """
    import nir

    graph = _Graph(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(model, SpikingResNet):
                last = _resnet(graph, model)
            else:
                last = _vgg(graph, model)
    finally:
        model.train(was_training)
    graph.add("output", nir.Output(output_type=np.array([model.num_classes])), last)
    return nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata=_graph_metadata(model, data))


class _Graph:
    """Nodes and edges as they are added; a node with several sources sums them (NIR's rule)."""

    def __init__(self, model: SpikingNetwork) -> None:
        import nir

        self.nodes: dict[str, nir.NIRNode] = {"input": nir.Input(np.array(model.input_shape))}
        self.edges: list[tuple[str, str]] = []
        self.shapes: dict[str, tuple[int, ...]] = {"input": tuple(model.input_shape)}
        self.masks = {
            name: node.channel_mask.mask.detach()
            for name, node in model.neurons().items()
            if node.channel_mask is not None and bool((node.channel_mask.mask == 0).any())
        }

    def add(
        self, name: str, node: nir.NIRNode, *sources: str, shape: tuple[int, ...] | None = None
    ) -> str:
        self.nodes[name] = node
        self.edges += [(source, name) for source in sources]
        self.shapes[name] = shape if shape is not None else self.shapes[sources[0]]
        return name

    def conv(self, name: str, layer: QuantConvBN2d, source: str, mask_of: str) -> str:
        node, shape = conv_node(layer, self.shapes[source], self.masks.get(mask_of))
        return self.add(name, node, source, shape=shape)

    def lif(self, name: str, neuron: QuantLIFNode, *sources: str) -> str:
        return self.add(name, lif_node(neuron, self.shapes[sources[0]]), *sources)

    def flatten(self, source: str) -> str:
        import nir

        shape = self.shapes[source]
        node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
        return self.add("flatten", node, source, shape=(int(np.prod(shape)),))

    def affine(self, layer: QuantLinear, source: str) -> str:
        node = affine_node(layer, self.masks.get(layer.layer_name))
        return self.add(_node_name(layer.layer_name), node, source, shape=(layer.out_channels,))


def _node_name(layer_name: str) -> str:
    """A layer's name as a NIR node name (no dots: readers take them for subgraph paths)."""
    return layer_name.replace(".", "_")


def _vgg(graph: _Graph, model: SpikingNetwork) -> str:
    """The conv/LIF/max-pool stack and classifier of a VGG-style network; its last node."""
    features, classifier = _vgg_parts(model)
    last, fires = "input", False
    for name, module in features.named_children():
        if isinstance(module, QuantConvBN2d):
            last, fires = graph.conv(name, module, last, module.layer_name), False
        elif isinstance(module, QuantLIFNode):
            last, fires = graph.lif(name, module, last), True
        elif isinstance(module, sj_layer.MaxPool2d | nn.MaxPool2d):
            if not fires:
                raise ConfigError(
                    f"layer {name!r}: max pooling of non-spike input has no exact NIR "
                    "form (only an OR of spikes is a sum pool and a threshold)"
                )
            pool, or_gate, shape = or_pool_nodes(name, module, graph.shapes[last])
            or_gate.metadata["module"] = f"features.{name}"
            graph.add(name, pool, last, shape=shape)
            last = graph.add(f"{name}_or", or_gate, name)
        else:
            raise ConfigError(
                f"layer {name!r}: {type(module).__name__} has no exact NIR form; "
                "nothing was written"
            )
    return graph.affine(classifier, graph.flatten(last))


def _resnet(graph: _Graph, model: SpikingResNet) -> str:
    """Stem, residual blocks (the block's second neuron sums its conv and shortcut), the global
    average pool and the head; its last node."""
    import nir

    last = "input"
    for module in model.stem:
        if isinstance(module, QuantConvBN2d):
            last = graph.conv(_node_name(module.layer_name), module, last, module.layer_name)
        else:
            assert isinstance(module, QuantLIFNode)
            last = graph.lif(f"{last}_lif", module, last)
    for block in model.stages:
        assert isinstance(block, SpikingBasicBlock)
        prefix = _node_name(block.conv1.layer_name.rpartition(".")[0])
        conv1 = graph.conv(f"{prefix}_conv1", block.conv1, last, block.conv1.layer_name)
        lif1 = graph.lif(f"{prefix}_conv1_lif", block.lif1, conv1)
        conv2_name = block.conv2.layer_name
        conv2 = graph.conv(f"{prefix}_conv2", block.conv2, lif1, conv2_name)
        if block.shortcut is None:
            if conv2_name in graph.masks:
                raise ConfigError(
                    f"layer {conv2_name!r}: pruned channels on an identity shortcut have no exact "
                    "NIR form (the skip current would have to be masked too); nothing was written"
                )
            shortcut = last
        else:
            shortcut = graph.conv(f"{prefix}_shortcut", block.shortcut, last, conv2_name)
        last = graph.lif(f"{prefix}_conv2_lif", block.lif2, conv2, shortcut)
    channels, height, width = graph.shapes[last]
    pool = nir.AvgPool2d(
        kernel_size=np.array([height, width]),
        stride=np.array([height, width]),
        padding=np.array([0, 0]),
        metadata={"replaces": "the mean over all positions (global average pooling)"},
    )
    pool.input_type = {"input": np.array(graph.shapes[last])}
    pool.output_type = {"output": np.array([channels, 1, 1])}
    last = graph.flatten(graph.add("pool", pool, last, shape=(channels, 1, 1)))
    for module in model.head:
        if isinstance(module, QuantLinear):
            last = graph.affine(module, last)
        else:
            assert isinstance(module, QuantLIFNode)
            last = graph.lif(f"{last}_lif", module, last)
    return last


def write_nir(model: SpikingNetwork, path: str | Path, data: DataConfig | None = None) -> Path:
    """Write ``model`` to ``path`` as a NIR file (HDF5) through a temporary file renamed over it:
    a refused layer or a failed write leaves no file behind."""
    return write_graph(nir_graph(model, data), path)


def write_graph(graph: nir.NIRGraph, path: str | Path) -> Path:
    """``nir.write`` through a temporary file renamed over ``path`` (no half-written file)."""
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        nir.write(tmp, graph)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def is_our_nir(path: Path) -> bool:
    """Whether ``path`` is a NIR file written here (its graph's ``format``)."""
    import nir

    try:
        metadata = nir.read(str(path)).metadata
    except Exception:  # anything nir cannot read is not one of ours
        return False
    return bool(metadata.get("format") == NIR_FORMAT)


def _vgg_parts(model: SpikingNetwork) -> tuple[nn.Sequential, QuantLinear]:
    """The feature stack and classifier of a sequential (VGG-style) network, or ConfigError naming
    the first layer that does not fit one."""
    features = getattr(model, "features", None)
    classifier = getattr(model, "classifier", None)
    if isinstance(features, nn.Sequential) and isinstance(classifier, QuantLinear):
        return features, classifier
    name, module = _first_foreign(model)
    raise ConfigError(
        f"layer {name!r} of {model.config.label}: {type(module).__name__} is not exported; NIR "
        "export takes a conv/LIF/max-pool stack with a linear classifier (the VGG family) or a "
        "spiking ResNet; nothing was written"
    )


_EXPORTED = (QuantConvBN2d, QuantLIFNode, QuantLinear, sj_layer.MaxPool2d, nn.MaxPool2d)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _first_foreign(model: nn.Module) -> tuple[str, nn.Module]:
    """The first submodule (in registration order) that is neither an exported layer, a part of
    one, nor a plain container: a residual block, say."""
    inside: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(f"{prefix}.") for prefix in inside):
            continue
        if isinstance(module, _EXPORTED):
            inside.append(name)
        elif not isinstance(module, _CONTAINERS):
            return name, module
    return next(model.named_children(), ("model", model))


def _graph_metadata(model: SpikingNetwork, data: DataConfig | None) -> dict[str, Any]:
    """How to drive the graph: timesteps, dt, input encoding, readout (flat: NIR's HDF5 metadata
    holds scalars, strings and arrays)."""
    config = model.config
    metadata: dict[str, Any] = {
        "format": NIR_FORMAT,
        "dt": DT,
        "model": json.dumps(config.model_dump(mode="json"), sort_keys=True),
        "readout": "argmax over classes of the mean over timesteps of the Output",
        "state": "every membrane starts at 0 for each sample",
    }
    if data is not None:
        metadata |= {
            "timesteps": model.run_timesteps(data.timesteps),
            "input_frames": data.timesteps,
            "input_encoding": _encoding_text(data),
            "data": json.dumps(data.model_dump(mode="json"), sort_keys=True),
        }
    elif config.timesteps is not None:
        metadata["timesteps"] = config.timesteps
    if config.timesteps is not None:
        metadata["frame_merge"] = config.frame_merge
    return metadata


def _encoding_text(data: DataConfig) -> str:
    if data.encoding == "poisson":
        return (
            f"poisson: each pixel in [0, 1] spikes with its intensity as probability, "
            f"{data.timesteps} independent frames"
        )
    return f"direct: the {data.name} frame (as mdsnn_search.data loads it) at every timestep"
