"""Training-step cost of our quantized student against a plain spikingjelly network.

All networks are vgg5 on digits-shaped input (1x8x8, T=4, batch 64): the reference built from
``torch.nn`` convs, BN and spikingjelly's ``LIFNode`` at full precision; our student at W4/U4/BN8
(weight quantizer, BN fold-and-quantize, membrane quantizer, our LIF loop); and the same student
trained with membrane distillation on every spiking layer, which adds the frozen FP teacher's
forward pass (no grad, membranes recorded at the distilled layers) and the membrane loss. One step
is forward + backward + optimiser step. Timings alternate between the networks so drift in machine
load hits both alike; the headline is the ratio of medians.

    python benchmarks/bench_step.py            # full run
    python benchmarks/bench_step.py --smoke    # a few steps, to check it runs
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict
from collections.abc import Callable

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from mdsnn_search.distill import DistillConfig, init_student_from_teacher, make_distill_step
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model
from mdsnn_search.snn.models.vgg import POOL, VGG_CONFIGS
from mdsnn_search.train import StepLoss, classification_loss

INPUT = (1, 8, 8)
CLASSES = 10


def plain_spikingjelly_vgg5() -> nn.Module:
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    channels, side = INPUT[0], INPUT[1]
    for i, item in enumerate(VGG_CONFIGS["vgg5"]):
        if item == POOL:
            stages[f"pool{i}"] = layer.MaxPool2d(2, step_mode="m")
            side //= 2
            continue
        stages[f"conv{i}"] = layer.SeqToANNContainer(nn.Conv2d(channels, int(item), 3, padding=1, bias=False), nn.BatchNorm2d(int(item)))
        stages[f"lif{i}"] = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), v_reset=None, step_mode="m")
        channels = int(item)
    stages["flatten"] = nn.Flatten(2)
    stages["fc"] = nn.Linear(channels * side * side, CLASSES)
    return nn.Sequential(stages)


def make_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, step_loss: StepLoss | None = None
) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        functional.reset_net(model)
        loss = step_loss(model, x, y)[0] if step_loss else classification_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[float]]:
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few steps only")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    repeats, warmup = (3, 1) if args.smoke else (args.repeats, 5)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = (torch.rand(args.batch, *INPUT)).unsqueeze(0).repeat(args.timesteps, 1, 1, 1, 1)
    y = torch.randint(0, CLASSES, (args.batch,))
    student_config = ModelConfig(arch="vgg5", precision=PrecisionConfig.uniform(4, 4, 8))
    teacher = build_model(ModelConfig(arch="vgg5"), INPUT, CLASSES)
    distilled = build_model(student_config, INPUT, CLASSES)
    init_student_from_teacher(distilled, teacher)
    steps = {
        "spikingjelly LIFNode, FP32": make_step(plain_spikingjelly_vgg5(), x, y),
        "mdsnn student W4/U4/BN8": make_step(build_model(student_config, INPUT, CLASSES), x, y),
        "+ teacher, membrane KD all layers": make_step(
            distilled, x, y, make_distill_step(teacher, DistillConfig(layers="all", membrane_weight=1.0))
        ),
    }
    times = time_steps(steps, repeats, warmup)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["spikingjelly LIFNode, FP32"]
    print(f"vgg5, input {INPUT}, T={args.timesteps}, batch {args.batch}, {args.threads} threads, {repeats} steps each")
    print(f"{'step (fwd+bwd+Adam)':38s} {'median ms':>10s} {'ratio':>7s}")
    for name, median in medians.items():
        print(f"{name:38s} {median * 1e3:10.2f} {median / base:7.2f}")
    print(f"step_ratio={medians['mdsnn student W4/U4/BN8'] / base:.3f}")
    print(f"distill_step_ratio={medians['+ teacher, membrane KD all layers'] / base:.3f}")


if __name__ == "__main__":
    main()
