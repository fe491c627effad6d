"""What a NIR reader gets of a digits student: snnTorch against our own evaluation.

Trains W4/BN8 students (vgg5 at width 0.5, T=4, no distillation) with hard or soft reset and
each membrane precision (full, uniform 4 and 2 bits, integer ternary), writes each as NIR
(mdsnn_search.snn.nir_export) and runs the file in snnTorch (mdsnn_search.snn.nir_roundtrip) on
the test split, with three readers:

- ``snntorch``: the file as snnTorch reads it (reset to zero, full-precision membrane, Euler leak);
- ``+reset``: the same, honouring the LIF nodes' ``reset`` metadata (reset by subtraction);
- ``exp leak``: as read, but with the exactly integrated leak ``beta = exp(-dt/tau)`` some readers
  use instead of forward Euler's ``1 - dt/tau``.

    python benchmarks/nir_roundtrip.py                    # full digits, 4 epochs
    python benchmarks/nir_roundtrip.py --smoke            # 30 images a class, 1 epoch
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch
from rich.table import Table

from mdsnn_search.data import DataConfig, load_dataset, make_loader
from mdsnn_search.precision import LayerPrecision, PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model
from mdsnn_search.snn.neuron import NeuronConfig
from mdsnn_search.snn.nir_export import write_nir
from mdsnn_search.snn.nir_nodes import DT
from mdsnn_search.snn.nir_roundtrip import compare, load_with_snntorch, snntorch_neurons
from mdsnn_search.terminal import console
from mdsnn_search.training_loop import TrainConfig, fit, seed_everything

MEMBRANES: dict[str, dict[str, int]] = {
    "U32": {"u_bits": 32},
    "U4": {"u_bits": 4},
    "U2": {"u_bits": 2},
    "U3lv": {"u_levels": 3},
}


def _exp_leak(module: torch.nn.Module, tau: float) -> torch.nn.Module:
    for neuron in snntorch_neurons(module).values():
        neuron.beta.fill_(math.exp(-1.0 / tau))
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-per-class", type=int, default=None)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="30 images a class, 1 epoch")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.max_per_class = 1, 30
    torch.set_num_threads(args.threads)
    data = DataConfig(name="digits", timesteps=args.timesteps, max_per_class=args.max_per_class)
    bundle = load_dataset(data)
    table = Table(
        "student",
        "reader",
        "ours acc",
        "reader acc",
        "gap (points)",
        "same prediction",
        "layers spike-equal",
        "spikes/sample ours",
        "reader",
        title=f"NIR round trip, digits test split ({len(bundle.test)} samples), T={data.timesteps}",
    )
    tau = NeuronConfig().tau
    with tempfile.TemporaryDirectory() as tmp:
        for reset in ("hard", "soft"):
            for label, membrane in MEMBRANES.items():
                seed_everything(0)
                precision = PrecisionConfig(
                    default=LayerPrecision(w_bits=4, bn_bits=8, **membrane)  # type: ignore[arg-type]
                )
                config = ModelConfig(
                    arch="vgg5",
                    width=0.5,
                    neuron=NeuronConfig(reset=reset),  # type: ignore[arg-type]
                    precision=precision,
                )
                model = build_model(config, bundle.input_shape, bundle.num_classes)
                train = make_loader(bundle.train, 32, shuffle=True, seed=0)
                recipe = TrainConfig(epochs=args.epochs, lr=3e-3, seed=0, device="cpu")
                fit(model, train, recipe, progress=False)
                path = write_nir(model.eval(), Path(tmp) / f"{reset}-{label}.nir", data)
                readers = {
                    "snntorch": load_with_snntorch(path),
                    "+reset": load_with_snntorch(path, reset_from_metadata=True),
                    "exp leak": _exp_leak(load_with_snntorch(path), tau),
                }
                for reader, imported in readers.items():
                    a = compare(model, path, make_loader(bundle.test, 64), imported=imported)
                    equal = sum(a.layers_equal.values())
                    ours = sum(float(v.float().mean()) for v in a.ours_spikes.values())
                    theirs = sum(float(v.float().mean()) for v in a.snntorch_spikes.values())
                    table.add_row(
                        f"{reset} W4/{label}/BN8",
                        reader,
                        f"{a.ours_accuracy:.2%}",
                        f"{a.snntorch_accuracy:.2%}",
                        f"{100 * (a.snntorch_accuracy - a.ours_accuracy):+.2f}",
                        f"{a.prediction_agreement:.2%}",
                        f"{equal}/{len(a.layers_equal)}",
                        f"{ours:.1f}",
                        f"{theirs:.1f}",
                    )
    console().print(table)
    console().print(f"dt = {DT} s a timestep; tau = {tau} steps")


if __name__ == "__main__":
    main()
