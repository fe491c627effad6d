"""Run an exported NIR file in snnTorch and compare it with our evaluation of the same student.

The file is read by a real client: ``nirtorch.nir_to_torch`` with snnTorch's own node converter
(``snntorch.import_nir``, the one behind ``import_from_nir``) for conv, affine, flatten and LIF
nodes, nirtorch's default for the sum pool, and a Heaviside for ``nir.Threshold``, the one node
snnTorch 1.0's import leaves out. snnTorch then applies its own neuron semantics: it discretises
the LIF with ``beta = 1 - dt/tau`` and scales the threshold by ``tau/(r*dt)`` instead of the input
(the same dynamics, the membrane ``tau`` times ours), resets to zero, fires at ``v > theta``
(ours ``v >= theta``) and keeps the membrane at full precision. :func:`compare` measures what each
of these costs against our evaluation; docs/nir.md reports it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.timesteps import to_student_time


class _Heaviside(nn.Module):
    """``nir.Threshold``: 1 where the input exceeds the threshold."""

    threshold: torch.Tensor

    def __init__(self, threshold: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("threshold", threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.threshold).to(x.dtype)


def load_with_snntorch(path: str | Path, *, reset_from_metadata: bool = False) -> nn.Module:
    """The NIR file as a snnTorch network (one call per timestep, ``[C, H, W]`` in).

    ``reset_from_metadata``: a LIF node whose metadata says ``reset = "subtract"`` (a soft-reset
    student) gets snnTorch's reset by subtraction instead of the reset to zero NIR specifies; a
    reader that honours that one field runs a soft-reset student as trained.
    """
    import nir
    import nirtorch
    from snntorch import import_nir

    graph = nir.read(str(path))

    def snntorch_node(node: Any) -> nn.Module:
        # snnTorch prints a note for every LIF whose input it rescales through the threshold.
        with contextlib.redirect_stdout(io.StringIO()):
            return import_nir._nir_to_snntorch_module(node, init_hidden=True)

    node_map: dict[Any, Any] = {
        kind: snntorch_node for kind in (nir.Affine, nir.Conv2d, nir.Flatten, nir.LIF)
    }
    node_map[nir.Threshold] = lambda node: _Heaviside(torch.from_numpy(node.threshold))
    module = nirtorch.nir_to_torch(graph, node_map)
    if reset_from_metadata:
        modules = dict(module.named_modules())
        for name, node in graph.nodes.items():
            if isinstance(node, nir.LIF) and node.metadata.get("reset") == "subtract":
                neuron = modules[name]
                neuron.reset_mechanism = "subtract"
                neuron.state_function = neuron._base_sub
    return module


def snntorch_neurons(module: nn.Module) -> dict[str, nn.Module]:
    """The snnTorch neurons of an imported network, by NIR node name."""
    import snntorch

    return {name: m for name, m in module.named_modules() if isinstance(m, snntorch.SpikingNeuron)}


def _reset_snntorch(module: nn.Module) -> None:
    import snntorch

    for neuron in module.modules():
        if isinstance(neuron, snntorch.SpikingNeuron) and hasattr(neuron, "mem"):
            neuron.mem = torch.zeros(0)  # any other shape: the next step starts from zeros


@dataclass
class Agreement:
    """Our evaluation and snnTorch's on the same samples."""

    samples: int
    ours_accuracy: float
    snntorch_accuracy: float
    prediction_agreement: float
    ours_spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    """Per layer, each sample's spike count over all timesteps (``[samples]``)."""
    snntorch_spikes: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def layers_equal(self) -> dict[str, bool]:
        """Per spiking layer, whether every sample's spike count is the same in both."""
        return {
            name: bool(torch.equal(self.ours_spikes[name], self.snntorch_spikes[name]))
            for name in self.ours_spikes
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "ours_accuracy": self.ours_accuracy,
            "snntorch_accuracy": self.snntorch_accuracy,
            "accuracy_gap_points": 100 * (self.ours_accuracy - self.snntorch_accuracy),
            "prediction_agreement": self.prediction_agreement,
            "spikes_equal": self.layers_equal,
            "ours_spikes_per_sample": {
                k: float(v.float().mean()) for k, v in self.ours_spikes.items()
            },
            "snntorch_spikes_per_sample": {
                k: float(v.float().mean()) for k, v in self.snntorch_spikes.items()
            },
        }


def _spiking_outputs(model: SpikingNetwork, path: str | Path) -> dict[str, nn.Module]:
    """Our modules whose outputs are spikes, by the NIR node that carries the same spikes: each
    LIF node's neuron (its ``layer`` metadata) and each OR gate's max pool (its ``module``)."""
    import nir

    neurons = model.neurons()
    out: dict[str, nn.Module] = {}
    for name, node in nir.read(str(path)).nodes.items():
        if isinstance(node, nir.LIF):
            out[name] = neurons[str(node.metadata["layer"])]
        elif isinstance(node, nir.Threshold):
            out[name] = model.get_submodule(str(node.metadata["module"]))
    return out


def compare(
    model: SpikingNetwork,
    path: str | Path,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    imported: nn.Module | None = None,
) -> Agreement:
    """Run ``batches`` (``[T, B, C, H, W]`` frames and labels, as our loaders give them) through
    ``model`` and through the NIR file in snnTorch (``imported``: the file already loaded, e.g.
    with other reader options); count each sample's spikes per spiking layer and both accuracies.

    snnTorch runs one sample at a time, unbatched (``[C, H, W]`` a step): its import maps NIR's
    ``Flatten(start_dim=0)`` (NIR shapes have no batch axis) to ``torch.nn.Flatten(0)``, which on a
    batch would flatten the batch axis too.
    """
    if imported is None:
        imported = load_with_snntorch(path)
    imported.eval()
    model.eval()
    spiking = _spiking_outputs(model, path)
    ours_counts: dict[str, list[torch.Tensor]] = {name: [] for name in spiking}
    theirs_step: dict[str, list[torch.Tensor]] = {name: [] for name in spiking}
    hooks = [
        module.register_forward_hook(_count_batch(ours_counts[name]))
        for name, module in spiking.items()
    ]
    modules = dict(imported.named_modules())
    hooks += [
        modules[name].register_forward_hook(_count_step(theirs_step[name])) for name in spiking
    ]
    theirs_counts: dict[str, list[torch.Tensor]] = {name: [] for name in spiking}
    right_ours = right_theirs = agree = total = 0
    try:
        with torch.no_grad():
            for frames, labels in batches:
                x_seq = frames
                ours = model(x_seq).mean(0).argmax(1)
                if model.config.timesteps is not None:
                    x_seq = to_student_time(x_seq, model.config.timesteps, model.config.frame_merge)
                theirs = torch.stack(
                    [_run_sample(imported, x_seq[:, i]) for i in range(len(labels))]
                )
                for name, steps in theirs_step.items():
                    per_sample = torch.stack(steps).view(len(labels), x_seq.shape[0]).sum(1)
                    theirs_counts[name].append(per_sample)
                    steps.clear()
                right_ours += int((ours == labels).sum())
                right_theirs += int((theirs == labels).sum())
                agree += int((ours == theirs).sum())
                total += len(labels)
    finally:
        for hook in hooks:
            hook.remove()
    return Agreement(
        samples=total,
        ours_accuracy=right_ours / max(total, 1),
        snntorch_accuracy=right_theirs / max(total, 1),
        prediction_agreement=agree / max(total, 1),
        ours_spikes={k: torch.cat(v) for k, v in ours_counts.items()},
        snntorch_spikes={k: torch.cat(v) for k, v in theirs_counts.items()},
    )


def _run_sample(imported: nn.Module, x_seq: torch.Tensor) -> torch.Tensor:
    """One sample's predicted class: ``x_seq`` ``[T, C, H, W]`` one step a call, membranes from
    zero."""
    _reset_snntorch(imported)
    outputs = []
    for x in x_seq:
        out = imported(x)
        outputs.append(out[0] if isinstance(out, tuple) else out)
    return torch.stack(outputs).mean(0).argmax()


def _count_batch(store: list[torch.Tensor]) -> Any:
    """A forward hook adding each sample's spike count over ``[T, B, ...]``."""

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        store.append(output.flatten(2).sum((0, 2)).round().long())

    return hook


def _count_step(store: list[torch.Tensor]) -> Any:
    """A forward hook adding one unbatched step's spike count."""

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        spikes = output[0] if isinstance(output, tuple) else output
        store.append(spikes.sum().round().long())

    return hook
