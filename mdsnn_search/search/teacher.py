"""The study's teacher: trained once and cached by content, or a given checkpoint; and its outputs.

The cache key hashes everything that determines the teacher (data, architecture, neuron and
training settings), so two studies that would train the same teacher share one file under
``studies/teachers/`` and a changed setting can never pick up a stale one. Beside it, keyed by the
teacher file's content, the data and the layers, go the teacher's outputs on the training set
(:func:`ensure_teacher_outputs`), which every trial of a study then reads instead of running it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle, make_loader
from mdsnn_search.distill import CACHE_FORMAT, cache_nbytes, compute_teacher_outputs, inference_teacher
from mdsnn_search.errors import ConfigError
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.search.spec import StudySpec
from mdsnn_search.train import evaluate

logger = logging.getLogger(__name__)

CACHE_DIR = Path("studies") / "teachers"
_KEY_VERSION = 1


@dataclass(frozen=True)
class TeacherInfo:
    checkpoint: Path
    accuracy: float
    trained_now: bool

    def to_json(self) -> dict[str, object]:
        return {"checkpoint": str(self.checkpoint), "accuracy": self.accuracy}


def teacher_key(spec: StudySpec) -> str:
    """Content hash of what determines the teacher."""
    determining = {
        "version": _KEY_VERSION,
        "data": spec.data.model_dump(mode="json"),
        "model": spec.model.model_copy(update={"precision": PrecisionConfig()}).model_dump(mode="json"),
        # compile gives the same teacher, so it does not key it (and older keys stay valid)
        "training": spec.teacher.training.model_dump(mode="json", exclude={"compile"}),
    }
    blob = json.dumps(determining, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def ensure_teacher(spec: StudySpec, bundle: DatasetBundle, *, progress: bool = True) -> TeacherInfo:
    """The given teacher, the cached one, or a newly trained one (then cached)."""
    if spec.teacher.checkpoint is not None:
        model = load_checkpoint(spec.teacher.checkpoint).model
        accuracy = evaluate(model, make_loader(bundle.test, 256)).accuracy
        return TeacherInfo(spec.teacher.checkpoint, accuracy, trained_now=False)
    path = CACHE_DIR / f"{spec.model.arch}-{teacher_key(spec)}.pt"
    if path.is_file():
        cached = load_checkpoint(path)
        return TeacherInfo(path, float(cached.metadata["metrics"]["accuracy"]), trained_now=False)
    job = TrainSpec(
        name=f"teacher-{spec.model.arch}", data=spec.data, model=spec.model, training=spec.teacher.training, output=path
    )
    result = run_job(job, bundle=bundle, progress=progress)
    return TeacherInfo(path, float(result.metrics["accuracy"]), trained_now=True)


def ensure_teacher_outputs(spec: StudySpec, bundle: DatasetBundle, teacher: TeacherInfo) -> Path | None:
    """The teacher's outputs on the training set, cached beside the teacher (computed now if
    missing), or ``None`` when each trial's steps must run the teacher per batch: the inputs
    change from epoch to epoch, nothing is distilled, or the outputs exceed
    ``teacher.output_cache_mb``. Logs which and why.
    """
    if not spec.data.deterministic:
        logger.info("teacher outputs per batch: the inputs are drawn anew each epoch (Poisson coding or augmentation)")
        return None
    model = load_checkpoint(teacher.checkpoint).model
    layers = _distillable_layers(spec, list(model.neurons()))
    if not layers and spec.search_space.kd_weight == 0.0:
        return None
    inference = inference_teacher(model)
    size_mb = cache_nbytes(inference, bundle.train, layers) / 2**20
    if size_mb > spec.teacher.output_cache_mb:
        logger.info(
            "teacher outputs per batch: %.0f MB on the training set, over teacher.output_cache_mb=%g",
            size_mb, spec.teacher.output_cache_mb,
        )
        return None
    determining = {
        "format": CACHE_FORMAT,
        "teacher": hashlib.sha256(teacher.checkpoint.read_bytes()).hexdigest(),
        "data": spec.data.model_dump(mode="json"),
        "layers": layers,
    }
    key = hashlib.sha256(json.dumps(determining, sort_keys=True).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{teacher.checkpoint.stem}-outputs-{key}.pt"
    if not path.is_file():
        try:
            compute_teacher_outputs(inference, bundle.train, layers).save(path)
        except ConfigError as exc:
            logger.info("teacher outputs per batch: %s", exc)
            return None
    logger.info("teacher outputs cached for the study: %s (%.0f MB)", path, size_mb)
    return path


def _distillable_layers(spec: StudySpec, spiking_layers: list[str]) -> list[str]:
    """The spiking layers any trial of the study may distil."""
    chosen = spec.search_space.distill_layers
    if chosen == "none":
        return []
    return spiking_layers if chosen in ("search", "all") else [name for name in spiking_layers if name in chosen]
