"""How many configurations the crossbar cost model scores per second on VGG9 (N-Caltech101 shape).

Each configuration is what a search hands the cost model: per-layer weight/membrane/BN bits,
kept-channel fractions and measured spike rates, on VGG9 at 2x48x48, 101 classes, T = 10. They are
drawn before the clock starts, once, and scored two ways side by side:

- scalar: one ``estimate_cost`` call per configuration, reading the objectives (EDAP, TOPS/W) as a
  trial does (the per-layer table is built lazily; one row also reads it);
- batch: one ``estimate_batch`` call over a ``ConfigBatch`` of all of them (built before the clock,
  as a search would build its candidates as arrays).

    python benchmarks/bench_cost.py            # 2,000 scalar / 100,000 batch configurations
    python benchmarks/bench_cost.py --smoke    # 200 / 5,000, a few seconds

The last line is ``configs_per_s=...``: the batch rate on the default preset (rram_64, aware).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mdsnn_search.hardware import (
    DEFAULT_PRESET,
    ConfigBatch,
    LayerActivity,
    LayerSpec,
    estimate_batch,
    estimate_cost,
    load_preset,
    read_layer_table,
)
from mdsnn_search.precision import LayerPrecision

REPO = Path(__file__).resolve().parents[1]

LAYERS = REPO / "simulators" / "examples" / "vgg9_ncaltech101.yaml"
TIMESTEPS = 10


def draw_configs(layers: list[LayerSpec], count: int, seed: int) -> ConfigBatch:
    """Random per-layer bits, pruning on about half the hidden layers, rates in [0.02, 0.3]."""
    rng = np.random.default_rng(seed)
    shape = (count, len(layers))
    pruned = (rng.random(shape) < 0.5) & np.array([layer.spiking for layer in layers])
    return ConfigBatch.from_arrays(
        len(layers),
        timesteps=TIMESTEPS,
        w_bits=rng.choice([1, 2, 4, 8, 32], shape),
        u_bits=rng.choice([2, 4, 8, 32], shape),
        bn_bits=rng.choice([4, 8, 32], shape),
        keep_fraction=np.where(pruned, rng.uniform(0.5, 1.0, shape), 1.0),
        input_rate=rng.uniform(0.02, 0.3, shape),
    )


def scalar_rate(
    layers: list[LayerSpec], preset_name: str, batch: ConfigBatch, rows: bool, repeats: int
) -> float:
    """Configurations per second through ``estimate_cost``, best of ``repeats`` (shared machine)."""
    preset = load_preset(preset_name)
    names = [layer.name for layer in layers]
    configs = [
        {
            "precision": {
                name: LayerPrecision(w_bits=int(w), u_bits=int(u), bn_bits=int(bn))
                for name, w, u, bn in zip(
                    names, batch.w_bits[i], batch.u_bits[i], batch.bn_bits[i], strict=True
                )
            },
            "keep_fraction": {
                n: float(f) for n, f in zip(names, batch.keep_fraction[i], strict=True) if f < 1.0
            },
            "activity": {
                n: LayerActivity(float(r), float(r))
                for n, r in zip(names, batch.input_rate[i], strict=True)
            },
        }
        for i in range(len(batch))
    ]

    def score() -> None:
        for config in configs:
            report = estimate_cost(layers, preset, timesteps=TIMESTEPS, **config)  # type: ignore[arg-type]
            _objectives = (report.edap, report.tops_per_w)
            if rows:
                _table = report.layers

    return len(configs) / best_seconds(score, repeats)


def batch_rate(
    layers: list[LayerSpec], preset_name: str, batch: ConfigBatch, repeats: int
) -> float:
    """Configurations per second through one ``estimate_batch`` call, best of ``repeats``."""
    preset = load_preset(preset_name)

    def score() -> None:
        costs = estimate_batch(layers, preset, batch)
        _objectives = (costs.edap, costs.tops_per_w)

    return len(batch) / best_seconds(score, repeats)


def best_seconds(work: Callable[[], None], repeats: int) -> float:
    work()  # warm caches (preset constants, table geometry) outside the clock
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="few configurations, a few seconds")
    parser.add_argument(
        "--scalar-configs", type=int, default=2000, help="configurations scored one by one"
    )
    parser.add_argument(
        "--batch-configs", type=int, default=100_000, help="configurations in the batch"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="measurements per row (best is kept)"
    )
    args = parser.parse_args(argv)
    n_scalar, n_batch, repeats = (
        (200, 5000, 1) if args.smoke else (args.scalar_configs, args.batch_configs, args.repeats)
    )
    layers = read_layer_table(LAYERS)
    batch = draw_configs(layers, n_batch, seed=0)
    head = ConfigBatch(
        w_bits=batch.w_bits[:n_scalar],
        u_bits=batch.u_bits[:n_scalar],
        bn_bits=batch.bn_bits[:n_scalar],
        keep_fraction=batch.keep_fraction[:n_scalar],
        input_rate=batch.input_rate[:n_scalar],
        timesteps=batch.timesteps[:n_scalar],
    )

    print(
        f"VGG9 2x48x48 -> 101, T={TIMESTEPS}, {len(layers)} layers; "
        f"scalar over {n_scalar:,} configurations, batch over {n_batch:,}; best of {repeats}"
    )
    print(f"  {'preset':<34} {'scalar configs/s':>17} {'batch configs/s':>16} {'batch/scalar':>13}")
    default_batch = 0.0
    for name in (DEFAULT_PRESET, "sram_64", "rram_128"):
        scalar, batched = (
            scalar_rate(layers, name, head, False, repeats),
            batch_rate(layers, name, batch, repeats),
        )
        default_batch = batched if name == DEFAULT_PRESET else default_batch
        print(
            f"  {name + ' (aware, event)':<34} {scalar:>17,.0f} {batched:>16,.0f} "
            f"{batched / scalar:>12.1f}x"
        )
    with_rows = scalar_rate(layers, DEFAULT_PRESET, head, True, repeats)
    print(f"  {DEFAULT_PRESET + ', per-layer table read':<34} {with_rows:>17,.0f} {'-':>16}")
    # SpikeSim's ELA cannot see bits or rates: the batch scores each distinct pruning once, and
    # every configuration here has its own, so its batch rate is its scalar rate.
    spikesim = scalar_rate(layers, "spikesim_rram_64", head, False, repeats)
    print(f"  {'spikesim_rram_64 (spikesim engine)':<34} {spikesim:>17,.0f} {'-':>16}")
    print(f"configs_per_s={default_batch:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
