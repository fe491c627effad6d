"""The study's teacher: trained once and cached by content, or a given checkpoint; and its outputs.

The cache key hashes everything that determines the teacher (data, architecture, neuron and
training settings), so two studies that would train the same teacher share one file under
``studies/teachers/`` and a changed setting can never pick up a stale one. Like every trial, the
teacher trains on the training split less the validation split, and its accuracy, against which
students are judged, is the validation split's (docs/design/methods.md section 7). Beside it,
keyed by the teacher file's content, the data and the layers, go the teacher's outputs on that
training split (:func:`ensure_teacher_outputs`), which every trial of a study then reads instead
of running it. Both are published with checksums (:mod:`mdsnn_search.checksums`) and built under
a file lock (:mod:`mdsnn_search.file_lock`): of runs started together, one trains the teacher and
computes its outputs while the others wait, then use them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.checksums import damage, publish, remove
from mdsnn_search.data import DatasetBundle
from mdsnn_search.distill import (
    CACHE_FORMAT,
    TeacherOutputCache,
    cache_nbytes,
    compute_teacher_outputs,
    inference_teacher,
)
from mdsnn_search.errors import ConfigError
from mdsnn_search.file_lock import exclusive
from mdsnn_search.job import (
    TrainSpec,
    check_teacher_fits,
    evaluate_splits,
    load_teacher,
    run_job,
)
from mdsnn_search.metrics import ACCURACY, TEST_ACCURACY
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.models.external import factory_source_digest
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.terminal import PhaseProgress

logger = logging.getLogger(__name__)

CACHE_DIR = Path("studies") / "teachers"
_KEY_VERSION = 2
"""2: trained on the training split less the validation split, with precise BN."""


@dataclass(frozen=True)
class TeacherInfo:
    checkpoint: Path
    accuracy: float
    """On the validation split: what students are judged against."""
    test_accuracy: float
    trained_now: bool

    def to_json(self) -> dict[str, object]:
        """Stored with the study: the absolute path, so exports work from any folder."""
        return {
            "checkpoint": str(self.checkpoint.resolve()),
            "accuracy": self.accuracy,
            TEST_ACCURACY: self.test_accuracy,
        }


def teacher_key(spec: StudySpec) -> str:
    """Content hash of what determines the teacher."""
    determining = {
        "version": _KEY_VERSION,
        "data": spec.data.model_dump(mode="json"),
        "model": spec.model.model_copy(update={"precision": PrecisionConfig()}).model_dump(
            mode="json"
        ),
        # compile gives the same teacher, so it does not key it (and older keys stay valid)
        "training": spec.teacher.training.model_dump(mode="json", exclude={"compile"}),
    }
    if spec.model.factory is not None:
        determining["factory_source"] = factory_source_digest(spec.model.factory)
    blob = json.dumps(determining, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cached_teacher_path(spec: StudySpec) -> Path:
    """Where the teacher ``spec`` determines is cached (whether or not it was trained yet)."""
    return CACHE_DIR / f"{spec.model.file_stem}-{teacher_key(spec)}.pt"


def cached_teacher_accuracy(
    path: Path, spec: StudySpec, bundle: DatasetBundle
) -> tuple[float, float]:
    """The stored validation and test accuracy of the cached teacher, once its checksum matches
    and it loads and fits; ConfigError saying to delete a damaged or foreign cache file."""
    damaged = damage(path)
    if damaged is not None:
        raise ConfigError(
            f"cached teacher {path} is damaged ({damaged}); delete it and the next run trains "
            "the teacher again"
        )
    try:
        cached = load_checkpoint(path)
        check_teacher_fits(cached.model, path, spec.model, spec.data, bundle)
        metrics = cached.metadata["metrics"]
        accuracy = (float(metrics[ACCURACY]), float(metrics[TEST_ACCURACY]))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        detail = (
            str(exc)
            if isinstance(exc, ConfigError)
            else f"no stored accuracy ({type(exc).__name__}: {exc})"
        )
        raise ConfigError(
            f"cached teacher {path} is unusable ({detail}); delete it and the next run trains the "
            "teacher again"
        ) from None
    return accuracy


def ensure_teacher(spec: StudySpec, bundle: DatasetBundle, *, progress: bool = True) -> TeacherInfo:
    """The given teacher, the cached one, or a newly trained one (then cached)."""
    bundle = bundle.with_validation(spec.data.val_fraction, spec.data.split_seed)
    if spec.teacher.checkpoint is not None:
        model = load_teacher(spec.teacher.checkpoint, spec.model, spec.data, bundle)
        metrics = evaluate_splits(model, None, bundle)
        return TeacherInfo(
            spec.teacher.checkpoint, metrics[ACCURACY], metrics[TEST_ACCURACY], trained_now=False
        )
    path = cached_teacher_path(spec)
    with exclusive(path, lambda: _waiting(f"another run is training the teacher {path}")):
        if path.is_file():
            accuracy = cached_teacher_accuracy(path, spec, bundle)
            return TeacherInfo(path, *accuracy, trained_now=False)
        staged = path.with_name(f"{path.stem}.training.pt")
        job = TrainSpec(
            name=f"teacher-{spec.model.file_stem}",
            data=spec.data,
            model=spec.model,
            training=spec.teacher.training,
            output=staged,
        )
        metrics = run_job(job, bundle=bundle, progress=progress).metrics
        publish(staged, path)
    return TeacherInfo(
        path, float(metrics[ACCURACY]), float(metrics[TEST_ACCURACY]), trained_now=True
    )


CHANCE_MARGIN_SE = 3.0
"""How many standard errors (of an accuracy at chance on the validation split) a teacher must
clear chance by: below that, it has learnt nothing a student could be distilled from."""
MIN_CHANCE_MARGIN = 0.02


def check_beats_chance(accuracy: float, spec: StudySpec, bundle: DatasetBundle, what: str) -> None:
    """ConfigError unless ``accuracy`` (validation) clearly beats guessing among the classes."""
    bundle = bundle.with_validation(spec.data.val_fraction, spec.data.split_seed)
    samples = len(bundle.validation)  # type: ignore[arg-type]
    chance = 1.0 / bundle.num_classes
    margin = max(CHANCE_MARGIN_SE * math.sqrt(chance * (1 - chance) / samples), MIN_CHANCE_MARGIN)
    if accuracy < chance + margin:
        raise ConfigError(
            f"{what}: validation accuracy {100 * accuracy:.1f} % does not clearly beat chance "
            f"({100 * chance:.1f} % for {bundle.num_classes} classes; at least "
            f"{100 * (chance + margin):.1f} % on {samples} validation samples); no student can "
            "be distilled from it: check model (width, arch), data and teacher.training"
        )


def _waiting(message: str) -> None:
    logger.warning("%s; waiting for it", message)


def ensure_teacher_outputs(
    spec: StudySpec, bundle: DatasetBundle, teacher: TeacherInfo, *, progress: bool = True
) -> Path | None:
    """The teacher's outputs on the training set, cached beside the teacher (computed now if
    missing), or ``None`` when each trial's steps must run the teacher per batch: the inputs
    change from epoch to epoch, nothing is distilled, or the outputs exceed
    ``teacher.output_cache_mb``. Logs which and why.
    """
    bundle = bundle.with_validation(spec.data.val_fraction, spec.data.split_seed)
    if not spec.data.deterministic:
        logger.info(
            "teacher outputs per batch: the inputs are drawn anew each epoch (Poisson coding or "
            "augmentation)"
        )
        return None
    model = load_checkpoint(teacher.checkpoint).model
    layers = _distillable_layers(spec, list(model.neurons()))
    if not layers and spec.search_space.kd_weight == 0.0:
        return None
    inference = inference_teacher(model)
    size_mb = cache_nbytes(inference, bundle.train, layers) / 2**20
    if size_mb > spec.teacher.output_cache_mb:
        logger.info(
            "teacher outputs per batch: %.0f MB on the training set, over "
            "teacher.output_cache_mb=%g",
            size_mb,
            spec.teacher.output_cache_mb,
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
    with exclusive(path, lambda: _waiting(f"another run is computing the teacher outputs {path}")):
        damaged = damage(path) if path.is_file() else None
        if damaged is not None:
            logger.warning(
                "teacher outputs %s are damaged (%s); computing them again", path, damaged
            )
            remove(path)
        if not path.is_file():
            try:
                _compute_outputs(inference, bundle, layers, progress).save(path)
            except ConfigError as exc:
                logger.info("teacher outputs per batch: %s", exc)
                return None
    logger.info("teacher outputs cached for the study: %s (%.0f MB)", path, size_mb)
    return path


def _compute_outputs(
    inference: SpikingNetwork, bundle: DatasetBundle, layers: list[str], progress: bool
) -> TeacherOutputCache:
    """:func:`compute_teacher_outputs` with its progress shown: a bar, or a line per tenth."""
    samples = len(bundle.train)  # type: ignore[arg-type]
    done = 0
    with PhaseProgress("teacher outputs", samples, enabled=progress) as bar:
        bar.report(f"running the teacher over {samples} training samples")

        def batch_done(n: int) -> None:
            nonlocal done
            if (done + n) * 10 // samples > done * 10 // samples:
                bar.report(f"{done + n}/{samples} samples")
            done += n
            bar.advance(n)

        return compute_teacher_outputs(inference, bundle.train, layers, on_batch=batch_done)


def _distillable_layers(spec: StudySpec, spiking_layers: list[str]) -> list[str]:
    """The spiking layers any trial of the study may distil."""
    chosen = spec.search_space.distill_layers
    if chosen == "none":
        return []
    return (
        spiking_layers
        if chosen in ("search", "all")
        else [name for name in spiking_layers if name in chosen]
    )
