"""How many configurations the crossbar cost model scores per second on VGG9 (N-Caltech101 shape).

Each configuration is what a search trial hands the cost model: per-layer weight/membrane/BN
bits, kept-channel fractions and measured spike rates, on VGG9 at 2x48x48, 101 classes, T = 10.
The configurations are drawn before the clock starts; the timed loop calls ``estimate_cost`` and
reads the objectives (EDAP, TOPS/W), as a trial does. The per-layer table is built lazily; one
extra run also reads it, to show what that costs.

    python benchmarks/bench_cost.py            # 5,000 configurations per preset
    python benchmarks/bench_cost.py --smoke    # 300, a few seconds

The last line is ``configs_per_s=...`` for the default preset (rram_64, aware engine).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdsnn_search.hardware import (  # noqa: E402
    DEFAULT_PRESET,
    LayerActivity,
    LayerSpec,
    estimate_cost,
    load_preset,
    read_layer_table,
)
from mdsnn_search.precision import LayerPrecision  # noqa: E402

LAYERS = REPO / "simulators" / "examples" / "vgg9_ncaltech101.yaml"
Config = tuple[dict[str, LayerPrecision], dict[str, float], dict[str, LayerActivity]]


def draw_configs(layers: list[LayerSpec], count: int, seed: int) -> list[Config]:
    rng = random.Random(seed)
    configs = []
    for _ in range(count):
        precision = {
            layer.name: LayerPrecision(
                w_bits=rng.choice((1, 2, 4, 8, 32)), u_bits=rng.choice((2, 4, 8, 32)), bn_bits=rng.choice((4, 8, 32))
            )
            for layer in layers
        }
        keep = {layer.name: rng.uniform(0.5, 1.0) for layer in layers[:-1] if rng.random() < 0.5}
        activity = {layer.name: LayerActivity(rng.uniform(0.02, 0.3), rng.uniform(0.02, 0.3)) for layer in layers}
        configs.append((precision, keep, activity))
    return configs


def rate(layers: list[LayerSpec], preset_name: str, configs: list[Config], rows: bool, repeats: int) -> float:
    """Best of ``repeats`` runs (the machine is shared), in configurations per second."""
    preset = load_preset(preset_name)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for precision, keep, activity in configs:
            report = estimate_cost(
                layers, preset, timesteps=10, precision=precision, keep_fraction=keep, activity=activity
            )
            _objectives = (report.edap, report.tops_per_w)
            if rows:
                _table = report.layers
        best = max(best, len(configs) / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="few configurations, a few seconds")
    parser.add_argument("--configs", type=int, default=5000, help="configurations per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per row (best is kept)")
    args = parser.parse_args(argv)
    count, repeats = (300, 1) if args.smoke else (args.configs, args.repeats)
    layers = read_layer_table(LAYERS)
    configs = draw_configs(layers, count, seed=0)

    results = {
        f"{DEFAULT_PRESET} (aware, event)": rate(layers, DEFAULT_PRESET, configs, rows=False, repeats=repeats),
        f"{DEFAULT_PRESET}, per-layer table read": rate(layers, DEFAULT_PRESET, configs, rows=True, repeats=repeats),
        "sram_64 (aware, event)": rate(layers, "sram_64", configs, rows=False, repeats=repeats),
        "spikesim_rram_64 (spikesim engine)": rate(layers, "spikesim_rram_64", configs, rows=False, repeats=repeats),
    }
    reference = results[f"{DEFAULT_PRESET} (aware, event)"]
    print(f"VGG9 2x48x48 -> 101, T=10, {len(layers)} layers, {count} configurations, best of {repeats}")
    for name, value in results.items():
        print(f"  {name:<40} {value:>10,.0f} configs/s  ({value / reference:.2f}x)")
    print(f"configs_per_s={reference:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
