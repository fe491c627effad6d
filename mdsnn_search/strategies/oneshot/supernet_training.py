"""Training the supernet: one job, checkpointed every epoch, cached by content like the teacher.

Before the first step, each spiking layer's channel order is fixed from the teacher: pruning's
membrane prior on ``model.pruning.score_batches`` training batches (only when the space offers a
keep ratio below 1). Each step then trains the sandwich of configurations (:mod:`.sandwich`) on
one batch, gradients accumulated over them. The largest configuration learns by membrane
distillation and logit KD from the full-precision teacher (the study's cached teacher outputs
when it has them); with ``oneshot.inplace_distillation`` every smaller one learns the same way
from the largest configuration's logits and membranes on that batch (detached; OFA's and
BigNAS's in-place distillation), otherwise from the teacher too. Epoch ``e`` shuffles with seed
``training.seed + e`` and draws its configurations from the same, so a job resumed from its
last epoch checkpoint trains what an uninterrupted one would have. The finished supernet is
stored under ``studies/supernets/`` by a hash of everything that determines it (the teacher
file's content, data, model, the space's supernet choices, the ``oneshot`` training settings);
the hash is stored in the file too, and a file whose hash or format is not the spec's is refused.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from mdsnn_search.checkpoint import load_checkpoint, save_atomic
from mdsnn_search.checksums import damage, remove, verify
from mdsnn_search.data import DatasetBundle, load_search_dataset, make_loader
from mdsnn_search.distill import DistillConfig, TeacherOutputCache, make_distill_step
from mdsnn_search.errors import InfrastructureError
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.models import SpikingNetwork, layer_table, student_from_teacher
from mdsnn_search.snn.pruning import PruningConfig, add_channel_masks_, channel_order
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import LayerRoles
from mdsnn_search.strategies.oneshot.sandwich import PrecisionSpace, sandwich, supernet_space
from mdsnn_search.strategies.oneshot.supernet import Supernet
from mdsnn_search.training_loop import make_optimizer, resolve_device, seed_everything

CACHE_DIR = Path("studies") / "supernets"
FORMAT = "mdsnn-search/supernet/2"

Report = Callable[[str], None]


def supernet_key(spec: StudySpec, teacher_checkpoint: Path) -> str:
    """Content hash of what determines the supernet."""
    determining = {
        "format": FORMAT,
        "teacher": hashlib.sha256(teacher_checkpoint.read_bytes()).hexdigest(),
        "data": spec.data.model_dump(mode="json"),
        "model": spec.model.model_dump(mode="json"),
        "space": supernet_space(spec.search_space).model_dump(mode="json"),
        "oneshot": spec.oneshot.model_dump(
            mode="json", exclude={"proxy_trials", "population", "cpus", "gpus", "batch_norm"}
        ),
    }
    blob = json.dumps(determining, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def supernet_path(spec: StudySpec, teacher_checkpoint: Path) -> Path:
    key = supernet_key(spec, teacher_checkpoint)
    return (CACHE_DIR / f"{spec.model.file_stem}-{key}.pt").resolve()


def build_supernet(spec: StudySpec, teacher: SpikingNetwork) -> tuple[Supernet, PrecisionSpace]:
    """The teacher's network (its weights and BN statistics, copied) as a supernet over the
    choices of ``spec.search_space`` (its channel order still the channels' own)."""
    roles = LayerRoles.from_table(layer_table(teacher))
    space = PrecisionSpace(spec.search_space, roles)
    highest = space.student(space.extreme(highest=True))
    full = highest.model_copy(
        update={
            "precision": PrecisionConfig(),
            "pruning": PruningConfig(),
            "learnable_threshold": False,
        }
    )
    network = student_from_teacher(teacher, full.model_for(spec.model, spec.data))
    candidates = space.layer_candidates()
    supernet = Supernet(
        network,
        weight_bits={name: sorted({p.w_bits for p in ps}) for name, ps in candidates.items()},
        membrane={name: ps for name, ps in candidates.items() if name in roles.spiking},
        learnt_thresholds=True in spec.search_space.learnable_threshold,
    )
    return supernet, space


def teacher_channel_order(
    teacher: SpikingNetwork, spec: StudySpec, bundle: DatasetBundle, device: torch.device
) -> dict[str, torch.Tensor]:
    """Each spiking layer's channels, most important first by pruning's membrane prior, scored
    on the teacher over the first ``model.pruning.score_batches`` shuffled training batches
    (the batches a trial's pruning scores on, at the supernet's batch size and seed)."""
    scored = copy.deepcopy(teacher).to(device)
    add_channel_masks_(scored, PruningConfig(keep_ratio=0.5))  # open masks: what is scored
    training = spec.oneshot.training
    loader = make_loader(bundle.train, training.batch_size, shuffle=True, seed=training.seed)
    batches = itertools.islice(loader, spec.model.pruning.score_batches)
    return channel_order(scored, (x.to(device) for x, *_ in batches))


def load_supernet(
    path: str | Path,
    spec: StudySpec,
    teacher: SpikingNetwork,
    *,
    teacher_checkpoint: Path | None = None,
) -> tuple[Supernet, PrecisionSpace, dict[str, Any]]:
    """A trained supernet from its checkpoint, with the metadata its job stored;
    InfrastructureError naming it if its checksum does not match, if it is of another format,
    or (given the teacher's file) if it was trained for another spec or teacher."""
    verify(Path(path), "supernet")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise InfrastructureError(
            f"supernet {path}: format {payload.get('format')!r}, expected {FORMAT!r}; "
            "delete it to train it again"
        )
    if teacher_checkpoint is not None and payload.get("key") != supernet_key(
        spec, teacher_checkpoint
    ):
        raise InfrastructureError(
            f"supernet {path}: trained for another spec or teacher (key {payload.get('key')}, "
            f"this spec's {supernet_key(spec, teacher_checkpoint)})"
        )
    supernet, space = build_supernet(spec, teacher)
    supernet.load_supernet_state(payload["supernet"])
    supernet.eval()
    return supernet, space, payload["metadata"]


@dataclass(frozen=True)
class SupernetJob:
    """What the job needs, as plain data (it runs on a Ray worker)."""

    spec: dict[str, Any]
    teacher_checkpoint: str
    teacher_outputs: str | None
    output: str


def train_supernet(
    job: SupernetJob, report: Report = print, bundle: DatasetBundle | None = None
) -> dict[str, Any]:
    """Train (or finish training) the supernet of ``job`` and save it at ``job.output``;
    returns its metadata: epochs, training samples processed (configurations x samples).
    ``bundle``: the study's dataset when the caller holds it (else loaded here)."""
    spec = StudySpec.model_validate(job.spec)
    key = supernet_key(spec, Path(job.teacher_checkpoint))
    config = spec.oneshot
    training = config.training
    if config.cpus is not None:
        torch.set_num_threads(max(1, int(config.cpus)))
    device = resolve_device(training.device)
    seed_everything(training.seed)
    bundle = bundle or load_search_dataset(spec.data)
    teacher = load_checkpoint(job.teacher_checkpoint).model
    supernet, space = build_supernet(spec, teacher)
    supernet.to(device)
    distill = DistillConfig(
        layers=_distilled(spec),
        membrane_weight=config.membrane_weight,
        membrane_norm=spec.search_space.membrane_norm,
        kd_weight=config.kd_weight,
        teacher_temperature=config.temperature,
        student_temperature=config.temperature,
    )
    cache = (
        TeacherOutputCache.load(job.teacher_outputs)
        if job.teacher_outputs is not None and os.path.isfile(job.teacher_outputs)
        else None
    )
    step = make_distill_step(
        teacher, distill, per_timestep_ce=training.per_timestep_ce, cache=cache
    )
    step.keep_outputs = config.inplace_distillation
    supernet._detach_quantizers()  # a fixed parameter order, so the optimizer state reloads
    optimizer = make_optimizer(supernet, training)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=training.epochs)
    partial = Path(job.output).with_suffix(".partial.pt")
    start, samples = 0, 0
    damaged = damage(partial) if partial.is_file() else None
    if damaged is not None:
        report(f"supernet: {partial} is damaged ({damaged}); training from the start")
        remove(partial)
    if partial.is_file():
        saved = torch.load(partial, map_location=device, weights_only=True)
        supernet.load_supernet_state(saved["supernet"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        start, samples = int(saved["epoch"]), int(saved["samples"])
        report(f"supernet: resumed after epoch {start}/{training.epochs}")
    elif min(spec.search_space.keep_ratio) < 1.0:
        supernet.set_channel_order_(teacher_channel_order(teacher, spec, bundle, device))
    per_step = 2 + config.sandwich_random
    for epoch in range(start, training.epochs):
        supernet.train()
        rng = np.random.default_rng([training.seed, epoch])
        loader = make_loader(
            bundle.train,
            training.batch_size,
            shuffle=True,
            seed=training.seed + epoch,
            with_index=step.cache is not None,
        )
        total, batches = 0.0, 0
        for batch_index, (x, y, *extra) in enumerate(loader):
            if (
                training.max_batches_per_epoch is not None
                and batch_index >= training.max_batches_per_epoch
            ):
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            largest = None  # the sandwich's first configuration, once it has run
            for params in sandwich(space, rng, config.sandwich_random):
                supernet.configure_(space.configuration(params))
                loss, _ = step(supernet.network, x, y, *extra, teacher_outputs=largest)
                if config.inplace_distillation and largest is None:
                    largest = step.outputs
                (loss / per_step).backward()
                total += float(loss.detach()) / per_step
            optimizer.step()
            samples += per_step * int(y.shape[0])
            batches += 1
        scheduler.step()
        mean_loss = total / max(batches, 1)
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"supernet loss became {mean_loss} in epoch {epoch + 1}")
        _save(partial, supernet, optimizer, scheduler, epoch + 1, samples, key)
        report(
            f"supernet: epoch {epoch + 1}/{training.epochs} loss {mean_loss:.4f} "
            f"({samples:,} training samples so far)"
        )
    metadata = {
        "epochs": training.epochs,
        "training_samples": samples,
        "configs_per_step": per_step,
    }
    _save(Path(job.output), supernet, None, None, training.epochs, samples, key, metadata)
    remove(partial)
    return metadata


def _save(
    path: Path,
    supernet: Supernet,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    samples: int,
    key: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Written to a temporary file and renamed: a kill never leaves half a checkpoint."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "key": key,
        "supernet": supernet.supernet_state(),
        "epoch": epoch,
        "samples": samples,
        "metadata": metadata or {},
    }
    if optimizer is not None and scheduler is not None:
        payload["optimizer"] = optimizer.state_dict()
        payload["scheduler"] = scheduler.state_dict()
    save_atomic(payload, path, checksum=True)


def _distilled(spec: StudySpec) -> list[str] | Literal["all"]:
    """The layers any trial of the study may distil: all of them unless the space fixes a list."""
    chosen = spec.search_space.distill_layers
    if isinstance(chosen, list):
        return chosen
    return [] if chosen == "none" else "all"


def ensure_supernet(
    spec: StudySpec,
    teacher_checkpoint: Path,
    teacher_outputs: Path | None,
    *,
    on_ray: bool,
    report: Report,
    bundle: DatasetBundle | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The cached supernet of ``spec``, or a newly trained one: as a Ray job of its own
    (``oneshot.cpus``/``gpus``) when ``on_ray`` (Ray is initialised), else in this process.
    Returns its path and metadata (``training_samples``: 0 when it was cached)."""
    path = supernet_path(spec, teacher_checkpoint)
    damaged = damage(path) if path.is_file() else None
    if damaged is not None:
        report(f"supernet: {path} is damaged ({damaged}); training it again")
        remove(path)
    if path.is_file():
        report(f"supernet: cached {path}")
        return path, {**_metadata(path), "training_samples": 0, "cached": True}
    job = SupernetJob(
        spec=spec.model_dump(mode="json"),
        teacher_checkpoint=str(teacher_checkpoint.resolve()),
        teacher_outputs=None if teacher_outputs is None else str(teacher_outputs.resolve()),
        output=str(path),
    )
    if not on_ray:
        return path, train_supernet(job, report, bundle)
    return path, _on_ray(spec, job, report)


def _on_ray(spec: StudySpec, job: SupernetJob, report: Report) -> dict[str, Any]:
    """Run the job as one Ray task; its progress lines come back through a Ray queue."""
    import ray
    from ray.util.queue import Empty, Queue

    gpus = spec.oneshot.gpus
    cpus = spec.oneshot.cpus or spec.execution.cpus_per_trial
    lines = Queue()
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_remote_job)
    pending = task.remote(job, lines)
    while True:
        ready, _ = ray.wait([pending], timeout=0.5)
        while True:
            try:
                report(lines.get_nowait())
            except Empty:
                break
        if ready:
            metadata: dict[str, Any] = ray.get(pending)
            lines.shutdown()
            return metadata


def _remote_job(job: SupernetJob, lines: Any) -> dict[str, Any]:
    return train_supernet(job, lines.put)


def _metadata(path: Path) -> dict[str, Any]:
    return dict(torch.load(path, map_location="cpu", weights_only=True)["metadata"])
