"""Training-step cost of the crossbar in the loop (methods.md section 10) against ideal arithmetic.

vgg5 on digits-shaped input (1x8x8, T=4) at W4/U4/BN8 and W8/U8/BN8 (two slices a weight on the
4-bit cells of rram_64), one step = forward + backward + Adam with cross-entropy. Each student is
timed ideal and with every layer but the encoding one mapped (4-bit ADC, calibrated range). Timed
steps alternate between the rows so drift in machine load hits all alike; the ratio is of medians.

    python benchmarks/crossbar_step.py                     # 60 timed steps per row
    python benchmarks/crossbar_step.py --width 1 --batch 64
    python benchmarks/crossbar_step.py --smoke             # a few steps, to check it runs

The last line is the W4 step's ratio, crossbar in the loop over ideal.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model, layer_table
from mdsnn_search.snn.in_the_loop import CrossbarLoopConfig, put_crossbar_in_loop_for
from mdsnn_search.training_loop import seed_everything


def make_step(bits: int, in_loop: bool, width: float, batch: int) -> Callable[[], None]:
    seed_everything(0)
    config = ModelConfig(arch="vgg5", width=width, precision=PrecisionConfig.uniform(bits, bits, 8))
    model = build_model(config, (1, 8, 8), 10)
    x = torch.rand(4, batch, 1, 8, 8)
    y = torch.randint(0, 10, (batch,))
    if in_loop:
        put_crossbar_in_loop_for(model, layer_table(model), CrossbarLoopConfig(adc_bits=4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        from spikingjelly.activation_based import functional

        functional.reset_net(model)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).mean(0), y)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.smoke else args.repeats
    rows = {
        (bits, in_loop): make_step(bits, in_loop, args.width, args.batch)
        for bits in (4, 8)
        for in_loop in (False, True)
    }
    for step in rows.values():  # warm-up (and the ADC's calibration batch)
        step()
        step()
    times: dict[tuple[int, bool], list[float]] = {key: [] for key in rows}
    for _ in range(repeats):
        for key, step in rows.items():
            start = time.perf_counter()
            step()
            times[key].append(time.perf_counter() - start)
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"vgg5 x{args.width}, 1x8x8, T=4, batch {args.batch}, {args.threads} thread(s), "
        f"{repeats} steps per row, median ms"
    )
    for (bits, in_loop), median in medians.items():
        label = f"W{bits}/U{bits}/BN8 " + ("crossbar in the loop" if in_loop else "ideal")
        print(f"  {label:<40} {1000 * median:8.2f}")
    print(f"w8_crossbar_step_ratio={medians[(8, True)] / medians[(8, False)]:.3f}")
    print(f"w4_crossbar_step_ratio={medians[(4, True)] / medians[(4, False)]:.3f}")


if __name__ == "__main__":
    main()
