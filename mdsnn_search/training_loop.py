"""One training and evaluation loop for teachers, students and retraining.

The loop knows nothing of distillation: a student's extra losses come in as a ``step_loss``
callable (see :mod:`mdsnn_search.distill`). Evaluation returns accuracy together with the
activity the cost model needs (per-layer firing and input rates, spikes per sample).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from spikingjelly.activation_based import functional

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.monitor import SpikeMonitor
from mdsnn_search.snn.neuron import compile_neurons_
from mdsnn_search.terminal import PhaseProgress

logger = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]
StepLoss = Callable[..., tuple[torch.Tensor, torch.Tensor]]
"""``(model, x_seq, y, *extra) -> (loss, logits_seq)``: what one training step minimises.

``extra`` are the batch's fields after ``(x_seq, y)``, as the training loader yields them (the
samples' indices, for a step that reads cached teacher outputs); they stay on the host.
"""


MAX_SEED = 2**32 - 1
"""Largest seed numpy's generators accept; every seed in a config lies in 0..MAX_SEED."""

MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 20
"""Typo guards: past these a run never ends or never fits in memory (1e26 epochs is a valid int)."""


class TrainConfig(BaseModel):
    """Optimiser, schedule and loop settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")
    schedule: Literal["cosine", "constant"] = "cosine"
    per_timestep_ce: bool = Field(False, description="TET-style: mean over t of CE(o_t, y)")
    max_batches_per_epoch: int | None = Field(None, ge=1, description="cap for quick searches")
    precise_bn: bool = Field(
        True,
        description="after training, re-estimate every BN layer's running statistics over the "
        "training set",
    )
    precise_bn_batches: int | None = Field(
        None,
        ge=1,
        description="training batches precise BN averages over (None: the whole training set)",
    )
    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="seeds torch, numpy and random (numpy takes 32 bits)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = Field(
        False,
        description="run the neurons' time loop through torch.compile while training: same "
        "results, each step faster, after a compile of tens of seconds per process "
        "(docs/benchmarks.md); for long training",
    )


@dataclass
class EvalResult:
    """What an evaluation pass measures; ``to_dict`` is what a study stores."""

    accuracy: float
    loss: float
    spikes_per_sample: float
    layer_firing_rates: dict[str, float]
    layer_input_rates: dict[str, float]
    samples: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    lr: float
    eval_accuracy: float | None = None
    """On ``fit``'s ``eval_loader`` (a search's validation split), when it was given one."""


@dataclass
class TrainResult:
    history: list[EpochLog] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; with :func:`deterministic_kernels` around the work, a run
    repeats bit for bit on the same machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def deterministic_kernels() -> Iterator[None]:
    """cuDNN on deterministic kernels, without autotuning, inside the block; its flags as they
    were afterwards, so training leaves the process's settings alone. (torch's own
    ``cudnn.flags`` context would reset every other cuDNN flag to its defaults.)"""
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


NO_CUDA = "cuda, but torch finds no CUDA device here; use auto or cpu"


def resolve_device(name: Literal["auto", "cpu", "cuda"]) -> torch.device:
    """The torch device for ``training.device``; ConfigError for ``cuda`` where torch sees none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"training.device: {NO_CUDA}")
    return torch.device(name)


def classification_loss(
    logits_seq: torch.Tensor, y: torch.Tensor, per_timestep: bool = False
) -> torch.Tensor:
    """CE of the time-averaged logits, or (TET) the mean over t of CE(o_t, y)."""
    if per_timestep:
        steps = logits_seq.shape[0]
        return F.cross_entropy(logits_seq.flatten(0, 1), y.repeat(steps))
    return F.cross_entropy(logits_seq.mean(0), y)


def cross_entropy_step(per_timestep: bool) -> StepLoss:
    def step(
        model: SpikingNetwork, x_seq: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits_seq = model(x_seq)
        return classification_loss(logits_seq, y, per_timestep), logits_seq

    return step


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _batches(
    loader: Iterable[Sequence[torch.Tensor]], limit: int | None
) -> Iterable[Sequence[torch.Tensor]]:
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        yield batch


def fit(
    model: SpikingNetwork,
    train_loader: Iterable[Batch],
    config: TrainConfig,
    *,
    step_loss: StepLoss | None = None,
    eval_loader: Iterable[Batch] | None = None,
    progress: bool = True,
    description: str = "train",
    on_epoch: Callable[[EpochLog], None] | None = None,
    eval_split: str = "eval",
) -> TrainResult:
    """Train ``model`` in place for ``config.epochs`` epochs; evaluate after each if asked, and
    hand each epoch's log to ``on_epoch`` (a search reports its learning curve from there);
    ``eval_split`` names the evaluated split in the progress line.

    With ``config.precise_bn`` the BN statistics are re-estimated over ``train_loader`` at the
    end (:mod:`mdsnn_search.snn.bn_recalibration`), so what is evaluated or saved next uses the
    statistics of the final weights. Raises FloatingPointError when the loss stops being finite,
    so a search can record the trial as failed instead of training on NaNs.
    """
    device = resolve_device(config.device)
    model.to(device)
    compile_neurons_(model, config.compile)
    step = step_loss or cross_entropy_step(config.per_timestep_ce)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None  # type: ignore[arg-type]
    if steps_per_epoch is not None and config.max_batches_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_batches_per_epoch)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.schedule == "cosine"
        else None
    )
    result = TrainResult()
    total_steps = (steps_per_epoch or 0) * config.epochs or None
    with PhaseProgress(description, total_steps, enabled=progress) as bar:
        for epoch in range(1, config.epochs + 1):
            model.train()
            loss_sum = torch.zeros((), device=device)
            count = 0
            extra: list[torch.Tensor]  # a sample-index batch, for a step that reads a cache
            for x, y, *extra in _batches(train_loader, config.max_batches_per_epoch):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                loss, _ = step(model, x, y, *extra)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach()
                count += 1
                bar.advance()
            train_loss = float(loss_sum) / max(count, 1)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
            log = EpochLog(epoch=epoch, train_loss=train_loss, lr=optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            if eval_loader is not None:
                log.eval_accuracy = evaluate(model, eval_loader, device=device).accuracy
            result.history.append(log)
            if on_epoch is not None:
                on_epoch(log)
            status = f"epoch {epoch}/{config.epochs} loss {train_loss:.4f}"
            if log.eval_accuracy is not None:
                status += f" {eval_split} accuracy {100.0 * log.eval_accuracy:.2f} %"
            bar.report(status)
            logger.info("%s: %s", description, status)
    compile_neurons_(model, False)  # evaluation and BN re-estimation would each compile anew
    if config.precise_bn:
        recalibrate_bn_(model, train_loader, max_batches=config.precise_bn_batches)
    # The neurons still hold the last batch's state with its autograd graph: drop it, so the
    # trained model holds no graph and can be copied.
    functional.reset_net(model)
    return result


@torch.no_grad()
def evaluate(
    model: SpikingNetwork,
    loader: Iterable[Batch],
    *,
    device: torch.device | None = None,
    per_timestep_ce: bool = False,
) -> EvalResult:
    """Top-1 accuracy, mean loss and spiking activity over ``loader``."""
    device = device or next(model.parameters()).device
    model.to(device).eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    loss_sum = torch.zeros((), device=device)
    with SpikeMonitor(model) as monitor:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits_seq = model(x)
            loss_sum += classification_loss(logits_seq, y, per_timestep_ce) * y.shape[0]
            correct += (logits_seq.mean(0).argmax(1) == y).sum()
    samples = monitor.samples
    return EvalResult(
        accuracy=float(correct) / max(samples, 1),
        loss=float(loss_sum) / max(samples, 1),
        spikes_per_sample=monitor.spikes_per_sample,
        layer_firing_rates=monitor.firing_rates,
        layer_input_rates=monitor.input_rates,
        samples=samples,
    )
