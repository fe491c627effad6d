"""Training-step cost of our quantized student against plain spikingjelly, and where it goes.

All networks are vgg5 on digits-shaped input (1x8x8, T=4, batch 64). Rows:

- the reference: the same network built from ``torch.nn`` convs, BN and spikingjelly's ``LIFNode``
  at full precision;
- our student at W4/U4/BN8 (weight quantizer, BN fold-and-quantize, membrane quantizer, our LIF);
- the same student with membrane distillation on every spiking layer, the teacher's side computed
  per batch by the frozen inference teacher (BN folded, no gradient);
- the same, the teacher's side read from a cache of its outputs on a digits-sized training set
  (1,437 samples, float16, memory-mapped from a file), as a study with deterministic inputs does;
- with ``--compile``, the student rows again with the neurons' time loop compiled
  (``training.compile``; the one-off compile is not timed).

One step is forward + backward + Adam. Timed steps alternate between the rows so drift in machine
load hits all alike; the ratio is of medians against the reference. A second pass of instrumented
steps (hooks time each part; they cost a little, so this pass is not the one the ratios come
from) gives each row's breakdown, as shares of its own step: teacher forward (or cache read),
student forward, losses, backward and optimiser, which add up to the step, and the quantizers'
forward and backward, which are part of the student forward and backward. ``--profile`` prints
torch.profiler's table of the student step.

``--device cuda`` runs every row on the GPU (the reference too, so the ratios compare like with
like); the clock then waits for the GPU before each reading. Whether the GPU computes what the CPU
does is tests/distill/test_distill_device.py (marked ``gpu``).

    python benchmarks/bench_step.py                 # full run
    python benchmarks/bench_step.py --threads 1 --cpu-time   # on a busy machine
    python benchmarks/bench_step.py --device cuda   # on a GPU
    python benchmarks/bench_step.py --smoke         # a few steps, to check it runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from mdsnn_search.distill import (
    DistillConfig,
    DistillStep,
    TeacherOutputCache,
    compute_teacher_outputs,
    inference_teacher,
    make_distill_step,
)
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, build_model, student_from_teacher
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.models.vgg import POOL, VGG_CONFIGS
from mdsnn_search.snn.neuron import compile_neurons_
from mdsnn_search.snn.quantizers import BiasQuantizer, MembraneQuantizer, WeightQuantizer
from mdsnn_search.training_loop import classification_loss

INPUT = (1, 8, 8)
CLASSES = 10
TRAIN_SAMPLES = 1437
"""Samples the cached row's training set holds (the digits study's training split)."""
PARTS = ("teacher", "student fwd", "losses", "backward", "optimiser")
QUANTIZERS = (WeightQuantizer, BiasQuantizer, MembraneQuantizer, IntegerMembraneQuantizer)
REFERENCE = "spikingjelly LIFNode, FP32"


def plain_spikingjelly_vgg5() -> nn.Module:
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    channels, side = INPUT[0], INPUT[1]
    for i, item in enumerate(VGG_CONFIGS["vgg5"]):
        if item == POOL:
            stages[f"pool{i}"] = layer.MaxPool2d(2, step_mode="m")
            side //= 2
            continue
        stages[f"conv{i}"] = layer.SeqToANNContainer(
            nn.Conv2d(channels, int(item), 3, padding=1, bias=False), nn.BatchNorm2d(int(item))
        )
        stages[f"lif{i}"] = neuron.LIFNode(
            tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), v_reset=None, step_mode="m"
        )
        channels = int(item)
    stages["flatten"] = nn.Flatten(2)
    stages["fc"] = nn.Linear(channels * side * side, CLASSES)
    return nn.Sequential(stages)


@dataclass
class Row:
    """One network's training step: ``loss()`` runs the forward pass(es) and the loss terms."""

    model: nn.Module
    loss: Callable[[], torch.Tensor]
    distill: DistillStep | None = None
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.model.train()

    def step(self) -> tuple[float, float, float]:
        """One step; the clock's readings after the loss, the backward pass and the optimiser."""
        functional.reset_net(self.model)
        loss = self.loss()
        after_loss = now()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        after_backward = now()
        self.optimizer.step()
        return after_loss, after_backward, now()


_clock: Callable[[], float] = time.perf_counter
_device = torch.device("cpu")


def now() -> float:
    """The benchmark's clock, after the device has finished what it was given."""
    if _device.type == "cuda":
        torch.cuda.synchronize()
    return _clock()


def build_rows(
    x: torch.Tensor,
    y: torch.Tensor,
    index: torch.Tensor,
    cache: TeacherOutputCache,
    teacher: nn.Module,
    compiled: bool,
) -> dict[str, Row]:
    student_config = ModelConfig(arch="vgg5", precision=PrecisionConfig.uniform(4, 4, 8))
    distill_config = DistillConfig(layers="all", membrane_weight=1.0)

    def student() -> nn.Module:
        return student_from_teacher(teacher, student_config).to(_device)

    def ce_row(model: nn.Module) -> Row:
        return Row(model, lambda: classification_loss(model(x), y))

    def distill_row(model: nn.Module, step: DistillStep, with_index: bool) -> Row:
        if with_index:
            return Row(model, lambda: step(model, x, y, index)[0], step)
        return Row(model, lambda: step(model, x, y)[0], step)

    rows = {
        REFERENCE: ce_row(plain_spikingjelly_vgg5().to(_device)),
        "mdsnn student W4/U4/BN8": ce_row(student()),
        "+ teacher per batch, membrane KD": distill_row(
            student(), make_distill_step(teacher, distill_config), False
        ),
        "+ teacher outputs cached": distill_row(
            student(), make_distill_step(teacher, distill_config, cache=cache), True
        ),
    }
    if compiled:
        compiled_student = student()
        compile_neurons_(compiled_student)
        rows["student, compiled loop"] = ce_row(compiled_student)
        distilled = student()
        compile_neurons_(distilled)
        step = make_distill_step(teacher, distill_config)
        assert step.inference is not None
        compile_neurons_(step.inference)
        rows["+ teacher per batch, compiled loop"] = distill_row(distilled, step, False)
    return rows


def time_steps(rows: dict[str, Row], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each row, the rows interleaved."""
    for row in rows.values():
        for _ in range(warmup):
            row.step()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, row in rows.items():
            start = now()
            row.step()
            times[name].append(now() - start)
    return {name: statistics.median(t) for name, t in times.items()}


class Breakdown:
    """Hooks that time a row's teacher, student forward and quantizers inside its steps."""

    def __init__(self, row: Row) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._open: dict[object, float] = {}
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        self._time_module(row.model, "student fwd")
        for module in row.model.modules():
            if isinstance(module, QUANTIZERS):
                self._time_module(module, "quantizers", backward=True)
        if row.distill is not None and row.distill.inference is not None:
            self._time_module(row.distill.inference, "teacher")
        self.cache = row.distill.cache if row.distill is not None else None
        if self.cache is not None:
            lookup = self.cache.lookup
            self.cache.lookup = lambda *args: self._timed("teacher", lookup, *args)  # type: ignore[method-assign]

    def _timed(self, part: str, fn: Callable[..., object], *args: object) -> object:
        start = now()
        result = fn(*args)
        self.seconds[part] += now() - start
        return result

    def _start(self, key: object) -> None:
        self._open[key] = now()

    def _stop(self, key: object, part: str) -> None:
        self.seconds[part] += now() - self._open.pop(key)

    def _time_module(self, module: nn.Module, part: str, backward: bool = False) -> None:
        def before(m: nn.Module, args: object) -> None:
            self._start(m)

        def after(m: nn.Module, args: object, output: torch.Tensor) -> None:
            self._stop(m, part)
            node = output.grad_fn if backward and isinstance(output, torch.Tensor) else None
            if (
                node is not None
            ):  # the quantizer's own autograd node, timed when the backward runs it
                node.register_prehook(lambda grads: self._start(node))
                node.register_hook(lambda grads_in, grads_out: self._stop(node, part))

        self._hooks += [
            module.register_forward_pre_hook(before),
            module.register_forward_hook(after),
        ]

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        if self.cache is not None:
            del self.cache.lookup  # back to the class's method


def breakdown(rows: dict[str, Row], steps: int) -> dict[str, dict[str, float]]:
    """Each row's parts as fractions of its instrumented step (mean over ``steps``)."""
    shares = {}
    for name, row in rows.items():
        timer = Breakdown(row)
        total = defaultdict(float)
        for _ in range(steps):
            timer.seconds.clear()
            start = now()
            after_loss, after_backward, end = row.step()
            forward = after_loss - start
            total["teacher"] += timer.seconds["teacher"]
            total["student fwd"] += timer.seconds["student fwd"]
            total["losses"] += forward - timer.seconds["teacher"] - timer.seconds["student fwd"]
            total["backward"] += after_backward - after_loss
            total["optimiser"] += end - after_backward
            total["quantizers"] += timer.seconds["quantizers"]
            total["step"] += end - start
        timer.remove()
        shares[name] = {part: total[part] / total["step"] for part in (*PARTS, "quantizers")}
    return shares


@contextmanager
def cache_file(
    teacher: nn.Module, samples: torch.Tensor, layers: list[str]
) -> Iterator[TeacherOutputCache]:
    """The teacher's outputs on ``samples``, saved and memory-mapped back as trials read them."""
    dataset = [(sample, 0) for sample in samples]
    with tempfile.TemporaryDirectory() as folder:
        path = compute_teacher_outputs(inference_teacher(teacher), dataset, layers).save(
            Path(folder) / "outputs.pt"
        )  # type: ignore[arg-type]
        yield TeacherOutputCache.load(path)


def profile_student(row: Row, steps: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if _device.type == "cuda" else []
    )
    with profile(activities=activities) as prof:
        for _ in range(steps):
            row.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    global _clock, _device
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few steps only")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per row")
    parser.add_argument(
        "--breakdown-steps", type=int, default=20, help="instrumented steps per row"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the process's CPU time, not wall-clock "
        "(with --threads 1 on a busy machine: waiting for a core is not counted)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="add rows with the neurons' loop compiled"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print torch.profiler's table of the student step"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch finds no CUDA device here")
    if args.device == "cuda" and args.cpu_time:
        parser.error("--cpu-time measures this process's CPU, not the GPU's work: leave it out")
    repeats, warmup, detail = (3, 1, 2) if args.smoke else (args.repeats, 5, args.breakdown_steps)
    torch.set_num_threads(args.threads)
    _device = torch.device(args.device)
    if args.cpu_time:
        _clock = time.process_time
    torch.manual_seed(0)
    samples = (
        torch.rand(TRAIN_SAMPLES, *INPUT).unsqueeze(0).repeat(args.timesteps, 1, 1, 1, 1)
    )  # [T, N, ...]
    index = torch.randperm(TRAIN_SAMPLES)[: args.batch]
    x = samples[:, index].to(_device)
    y = torch.randint(0, CLASSES, (args.batch,), device=_device)
    teacher = build_model(ModelConfig(arch="vgg5"), INPUT, CLASSES).eval()
    with cache_file(teacher, samples.transpose(0, 1), list(teacher.neurons())) as cache:
        rows = build_rows(x, y, index, cache, teacher.to(_device), args.compile)
        medians = time_steps(rows, repeats, warmup)
        shares = breakdown(rows, detail)
        if args.profile:
            profile_student(rows["mdsnn student W4/U4/BN8"], detail)
    base = medians[REFERENCE]
    clock = "CPU time" if args.cpu_time else "wall-clock"
    print(
        f"vgg5, input {INPUT}, T={args.timesteps}, batch {args.batch}, {args.threads} threads, "
        f"{_device}, {repeats} steps each, {clock}"
    )
    print(
        f"{'step (fwd+bwd+Adam)':36s} {'median ms':>9s} {'ratio':>6s} |"
        + "".join(f"{p:>12s}" for p in PARTS)
        + f" | {'quantizers':>10s}"
    )
    for name, median in medians.items():
        parts = "".join(f"{shares[name][p]:12.0%}" for p in PARTS)
        print(
            f"{name:36s} {median * 1e3:9.2f} {median / base:6.2f} |{parts} | "
            f"{shares[name]['quantizers']:10.0%}"
        )
    print(
        "shares: of each row's own step; "
        "quantizers (forward + backward) are part of student fwd and backward"
    )
    print(f"step_ratio={medians['mdsnn student W4/U4/BN8'] / base:.3f}")
    print(f"cached_distill_step_ratio={medians['+ teacher outputs cached'] / base:.3f}")
    print(f"distill_step_ratio={medians['+ teacher per batch, membrane KD'] / base:.3f}")


if __name__ == "__main__":
    main()
