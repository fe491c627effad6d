"""Scoring many configurations of one supernet stage by stage, each stage once per prefix.

Configurations that agree on the first k layers give those layers the same inputs and the
same state, so their activations agree too. The network is cut into stages: a weight layer's
synapse (conv + batch norm, read by its weights' and BN's precision) and its neuron (with the
stateless modules after it, such as max pooling, read by its membrane's precision). A stage's
output is cached under the *prefix key*: the keys of every stage up to it, under an outermost key
for the run's timesteps. A configuration then runs only the stages no earlier configuration
shared, and configurations that differ only in a membrane share their synapse's output too.

A configuration is what ``configure_`` takes, a :class:`~.subnet.SubnetConfig`. A stage's key
is its layer's precision, less the fields that stage does not read (:data:`SYNAPSE_BLIND`,
:data:`NEURON_BLIND`), and for a neuron its keep ratio (the channel mask sits on the neuron's
input); the run's timesteps and whether thresholds are learnt are outermost. A knob added to the
configuration must be added to these keys, or the cache would serve another configuration's
outputs: the equality test's space holds every knob for that reason. Each cached stage keeps
the counts that :class:`~mdsnn_search.snn.monitor.SpikeMonitor`
takes at that module, as the same tensors in the same order, so accuracy, spikes per sample and
input rates equal a plain forward pass with the monitor exactly (``tests/search/
test_oneshot_scoring.py`` compares them).

Only spiking VGGs run by stages (their forward is one sequence); a ResNet's shortcuts join
stages, so other networks return ``None`` from :func:`network_stages` and are scored plainly.
Cached outputs are only valid while the supernet's weights stay as they were.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based.base import MemoryModule
from torch import nn

from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.snn.models.vgg import SpikingVGG
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.timesteps import to_student_time
from mdsnn_search.strategies.oneshot.subnet import SubnetConfig

SYNAPSE_BLIND = frozenset({"u_bits", "u_levels"})
"""Configuration fields a weight layer's synapse never reads (its neuron's membrane)."""
NEURON_BLIND = frozenset({"w_bits", "bn_bits"})
"""Configuration fields a neuron never reads (its synapse's weights and batch norm)."""
CACHE_BYTES = 1 << 30
"""Default bound of the cached stage outputs (a digits population's prefixes need ~0.3 GiB)."""
BINARY_FOLLOWERS = (sj_layer.MaxPool2d, nn.MaxPool2d)
"""Modules after a neuron that keep its output 0/1, so it is cached as booleans."""


@dataclass(frozen=True)
class Stage:
    """``modules`` run in order; ``modules[0]`` is ``layer``'s weight layer or neuron."""

    layer: str
    neuron: bool
    modules: tuple[nn.Module, ...]
    flatten: bool = False
    """Flatten [T, B, ...] to [T, B, features] first (the classifier's input)."""

    @property
    def blind(self) -> frozenset[str]:
        return NEURON_BLIND if self.neuron else SYNAPSE_BLIND

    @property
    def binary(self) -> bool:
        return self.neuron and all(isinstance(m, BINARY_FOLLOWERS) for m in self.modules[1:])


def network_stages(network: SpikingNetwork) -> list[Stage] | None:
    """The stages of ``network`` in forward order, or ``None`` if it cannot run by stages."""
    if not isinstance(network, SpikingVGG) or type(network).forward_seq is not (
        SpikingVGG.forward_seq
    ):
        return None
    weights = {id(m): name for name, m in network.weight_layers().items()}
    neurons = {id(m): name for name, m in network.neurons().items()}
    stages: list[Stage] = []
    for module in network.features:
        if id(module) in weights or id(module) in neurons:
            neuron = id(module) in neurons
            if neuron and not isinstance(module, QuantLIFNode):
                return None
            name = neurons[id(module)] if neuron else weights[id(module)]
            stages.append(Stage(name, neuron, (module,)))
        elif (
            isinstance(module, MemoryModule)
            or any(True for _ in module.parameters())
            or (not stages)
        ):
            return None  # state or weights the configuration does not key
        else:
            last = stages[-1]
            stages[-1] = Stage(last.layer, last.neuron, (*last.modules, module))
    stages.append(Stage(weights[id(network.classifier)], False, (network.classifier,), True))
    return stages


def entry_key(entry: Any, blind: frozenset[str]) -> Hashable:
    """A layer's configuration entry as a hashable key, without the fields in ``blind``."""
    if isinstance(entry, BaseModel):
        return _without(entry.model_dump(), blind)
    return entry if isinstance(entry, Hashable) else repr(entry)


def _without(value: Any, blind: frozenset[str]) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _without(v, blind)) for k, v in value.items() if k not in blind))
    if isinstance(value, list | tuple):
        return tuple(_without(v, blind) for v in value)
    return value  # type: ignore[no-any-return]


@dataclass
class Node:
    """What one stage measured for one prefix: the monitor's counts there, per batch."""

    counts: list[tuple[torch.Tensor, int]]
    """Per batch: spikes fired (neuron) or nonzero inputs (synapse), and the slots counted."""
    correct: torch.Tensor | None = None
    """Final stage: per validation sample, whether the prediction is right."""


@dataclass(frozen=True)
class Measured:
    """What a plain forward pass under ``SpikeMonitor`` gives for one configuration."""

    correct: torch.Tensor
    """Per validation sample (batches in order), whether the prediction is right."""
    spikes_per_sample: float
    input_rates: dict[str, float]
    timesteps: int
    """Steps the network ran (what the cost model charges)."""

    @property
    def accuracy(self) -> float:
        return int(self.correct.sum()) / max(len(self.correct), 1)


class PrefixEvaluator:
    """Runs configurations of ``network`` by stages, sharing every stage a prefix already ran.

    ``configure`` makes the network a configuration (the supernet's ``configure_``); the cache
    holds stage outputs up to about ``cache_bytes`` (:meth:`_keep` says which go first).
    """

    def __init__(
        self,
        network: SpikingNetwork,
        stages: list[Stage],
        configure: Callable[[SubnetConfig], None],
        batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
        *,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.network = network
        self.stages = stages
        self.configure = configure
        self.batches = batches
        self.cache_bytes = cache_bytes
        self.nodes: dict[tuple[Hashable, ...], Node] = {}
        """Counts of every prefix run (small: kept for good)."""
        self.outputs: OrderedDict[tuple[Hashable, ...], list[torch.Tensor]] = OrderedDict()
        """Stage outputs by prefix, least recently used first, about ``cache_bytes`` at most."""
        self.cached_bytes = 0
        self._active: dict[tuple[Hashable, ...], list[tuple[torch.Tensor, int]]] = {}
        """Nonzero inputs a synapse saw per batch, by the prefix whose output it read (one
        count for every synapse reading it)."""
        self._spikes: dict[tuple[Hashable, ...], bool] = {}
        """Whether a cached output is spikes (booleans) rather than a synapse's floats."""
        self.stages_run = 0
        self.dtype = next(network.parameters()).dtype
        """What spikes cached as booleans are restored to (the dtype they were fired in)."""

    def keys(self, configuration: SubnetConfig) -> tuple[Hashable, ...]:
        """The prefix keys of ``configuration``: timesteps outermost, then each stage's.

        Read after ``configure`` (which sets the network's timesteps)."""
        config = self.network.config
        outer: Hashable = (
            ("timesteps", config.timesteps, config.frame_merge),
            ("learnable_threshold", configuration.learnable_threshold),
        )
        return (outer, *(self._stage_key(stage, configuration) for stage in self.stages))

    @staticmethod
    def _stage_key(stage: Stage, configuration: SubnetConfig) -> Hashable:
        """A stage's key: its layer's precision, less what it never reads; and for a neuron its
        keep ratio (the channel mask sits on the neuron's input)."""
        precision = entry_key(configuration[stage.layer], stage.blind)
        if not stage.neuron:
            return precision
        return (precision, ("keep_ratio", configuration.keep_ratio.get(stage.layer, 1.0)))

    @torch.no_grad()
    def evaluate(self, configurations: Sequence[SubnetConfig]) -> list[Measured]:
        """Each configuration's measurements, in the order given (run in prefix order)."""
        keyed = []
        steps = int(self.batches[0][0].shape[0]) if self.batches else 0
        timesteps = []
        for configuration in configurations:
            self.configure(configuration)
            keyed.append((self.keys(configuration), configuration))
            timesteps.append(self.network.run_timesteps(steps))
        order = sorted(range(len(keyed)), key=lambda i: repr(keyed[i][0]))
        results: dict[int, Measured] = {}
        configured: SubnetConfig | None = keyed[-1][1] if keyed else None
        for i in order:
            keys, configuration = keyed[i]
            nodes, configured = self._path(keys, configuration, configured)
            results[i] = self._measure(nodes, timesteps[i])
        return [results[i] for i in range(len(keyed))]

    def _path(
        self,
        keys: tuple[Hashable, ...],
        configuration: SubnetConfig,
        configured: SubnetConfig | None,
    ) -> tuple[list[Node], SubnetConfig | None]:
        """The node of every stage of ``keys`` (running the stages not measured yet, from the
        deepest cached output), and the configuration the network is left in."""
        prefixes = [keys[: depth + 2] for depth in range(len(self.stages))]
        missing = next((d for d, p in enumerate(prefixes) if p not in self.nodes), None)
        if missing is not None:
            if configured is not configuration:
                self.configure(configuration)
                configured = configuration
            start = missing
            while start > 0 and prefixes[start - 1] not in self.outputs:
                start -= 1
            inputs = self._root() if start == 0 else self._output(prefixes[start - 1])
            for depth in range(start, len(self.stages)):
                parent = keys[: depth + 1]
                node, inputs = self._run(self.stages[depth], inputs, parent)
                self.nodes[prefixes[depth]] = node
                if depth + 1 < len(self.stages):
                    self._keep(prefixes[depth], inputs)
                self.stages_run += 1
        for prefix in reversed(prefixes[:-1]):  # shallow prefixes serve most: used last
            if prefix in self.outputs:
                self.outputs.move_to_end(prefix)
        return [self.nodes[p] for p in prefixes], configured

    def _root(self) -> list[torch.Tensor]:
        config = self.network.config
        if config.timesteps is None:
            return [x for x, _ in self.batches]
        return [to_student_time(x, config.timesteps, config.frame_merge) for x, _ in self.batches]

    def _run(
        self, stage: Stage, inputs: list[torch.Tensor], parent: tuple[Hashable, ...]
    ) -> tuple[Node, list[torch.Tensor]]:
        """Run ``stage`` on ``inputs``, the output of prefix ``parent``."""
        first, *rest = stage.modules
        outputs: list[torch.Tensor] = []
        counts: list[tuple[torch.Tensor, int]] = []
        if not stage.neuron and parent in self._active:  # the siblings' input, counted once
            counts = self._active[parent]
        for cached in inputs:
            x = cached.to(self.dtype) if cached.dtype == torch.bool else cached
            if stage.flatten:
                x = x.flatten(2)
            if stage.neuron:
                assert isinstance(first, QuantLIFNode)
                first.reset()
                y = first(x)
                counts.append((y.detach().sum(), y.numel()))
            else:
                if parent not in self._active:  # the monitor's int64 (x != 0).sum()
                    active = cached.sum() if cached.dtype == torch.bool else (x != 0).sum()
                    counts.append((active, x.numel()))
                y = first(x)
            for module in rest:
                y = _pair_max(y) if stage.binary and _is_pair_max_pool(module) else module(y)
            outputs.append(y.bool() if stage.binary else y)
        if not stage.neuron:
            self._active[parent] = counts
        if stage.flatten:  # the classifier: predictions, no output kept
            pairs = zip(outputs, self.batches, strict=True)
            correct = torch.cat([y.mean(0).argmax(1) == t for y, (_, t) in pairs])
            return Node(counts, correct), []
        return Node(counts), outputs

    def _output(self, prefix: tuple[Hashable, ...]) -> list[torch.Tensor]:
        self.outputs.move_to_end(prefix)
        return self.outputs[prefix]

    def _keep(self, prefix: tuple[Hashable, ...], outputs: list[torch.Tensor]) -> None:
        """Cache ``outputs``; beyond the budget drop synapse outputs (floats) before spikes
        (booleans, a quarter of the bytes, and what the costly convolution after them reads),
        deep prefixes before shallow ones (a shallow one serves many configurations of later
        populations, a deep one mostly its neighbours in the sorted order, which come right
        after it), the least recently used first among equals; never one of ``prefix``'s own."""
        self.outputs[prefix] = outputs
        self.cached_bytes += _nbytes(outputs)
        self._spikes[prefix] = all(t.dtype == torch.bool for t in outputs)
        if self.cached_bytes <= self.cache_bytes:
            return
        protected = {prefix[:depth] for depth in range(1, len(prefix) + 1)}
        victims = sorted(  # stable: least recently used first among equals
            (p for p in self.outputs if p not in protected),
            key=lambda p: (self._spikes[p], -len(p)),
        )
        for victim in victims:  # down to 90 %, so that the next sort is many stages away
            if self.cached_bytes <= 0.9 * self.cache_bytes:
                break
            self.cached_bytes -= _nbytes(self.outputs.pop(victim))
            del self._spikes[victim]

    def _measure(self, nodes: list[Node], timesteps: int) -> Measured:
        """The monitor's sums over batches, in its order, from the nodes of one path."""
        spikes: list[torch.Tensor] = []
        rates: dict[str, float] = {}
        for stage, node in zip(self.stages, nodes, strict=True):
            total: Any = 0
            slots = 0
            for count, numel in node.counts:
                total = total + count
                slots += numel
            if stage.neuron:
                spikes.append(total)
            else:
                rates[stage.layer] = float(total) / max(slots, 1)
        samples = sum(int(x.shape[1]) for x, _ in self.batches)
        final = nodes[-1].correct
        assert final is not None
        return Measured(
            correct=final,
            spikes_per_sample=float(sum(float(s) for s in spikes)) / max(samples, 1),
            input_rates=rates,
            timesteps=timesteps,
        )


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.element_size() * t.numel() for t in tensors)


def _is_pair_max_pool(module: nn.Module) -> bool:
    """A max pool over 2x2 windows at stride 2, no padding (VGG's), which :func:`_pair_max`
    computes."""
    if not isinstance(module, nn.MaxPool2d) or module.ceil_mode or module.return_indices:
        return False
    pairs = [module.kernel_size, module.stride, module.padding, module.dilation]
    size, stride, padding, dilation = (p if isinstance(p, tuple) else (p, p) for p in pairs)
    return size == stride == (2, 2) and padding == (0, 0) and dilation == (1, 1)


def _pair_max(y: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling at stride 2 of ``y`` [..., H, W], as the elementwise maximum of the four
    strided views: the same values (a maximum is exact), about 4x faster than ``max_pool2d``
    on these small maps (8x8 and 4x4 on CPU, measured in docs/benchmarks.md)."""
    h, w = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    y = y[..., :h, :w]
    top = torch.maximum(y[..., 0::2, 0::2], y[..., 0::2, 1::2])
    return torch.maximum(top, torch.maximum(y[..., 1::2, 0::2], y[..., 1::2, 1::2]))
