"""Students copied from a trained teacher start where their bits say, before any training.

Post-training quantization is the starting point of every trial: a quantized student copied from
its teacher must be nearly as good as the teacher at 8 bits and degrade with fewer bits, never
the other way round (docs/design/methods.md section 2).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from data_formats import make_learnable_event_folder

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, student_from_teacher
from mdsnn_search.snn.layers import QuantLinear
from mdsnn_search.snn.quantizers import WeightQuantizer, signal_to_quantization_noise_db
from mdsnn_search.training_loop import EvalResult, TrainConfig, evaluate, fit, seed_everything


def _teacher(bundle: DatasetBundle, width: float, training: TrainConfig) -> SpikingNetwork:
    seed_everything(0)
    teacher = build_model(
        ModelConfig(arch="vgg5", width=width), bundle.input_shape, bundle.num_classes
    )
    fit(
        teacher,
        make_loader(bundle.train, training.batch_size, shuffle=True, seed=0),
        training,
        progress=False,
    )
    return teacher


def _copied_student(
    teacher: SpikingNetwork, bundle: DatasetBundle, w: int, u: int
) -> SpikingNetwork:
    precision = PrecisionConfig.uniform(w, u, 8 if w < 32 else 32)
    return student_from_teacher(teacher, teacher.config.model_copy(update={"precision": precision}))


def _score(model: SpikingNetwork, bundle: DatasetBundle) -> EvalResult:
    return evaluate(model, make_loader(bundle.test, 512, shuffle=False))


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset(DataConfig(name="digits", timesteps=4))


@pytest.fixture(scope="module")
def digits_teacher(digits: DatasetBundle) -> SpikingNetwork:
    return _teacher(digits, 0.5, TrainConfig(epochs=4, batch_size=32, lr=3e-3, device="cpu"))


def test_sqnr_of_a_trained_teachers_weights_grows_at_least_5_db_per_bit(
    digits_teacher: SpikingNetwork,
) -> None:
    """Every weight tensor of the trained teacher, plain and BN-folded, as a student's quantizer
    starts on it."""
    for name, layer in digits_teacher.weight_layers().items():
        tensors = (
            {"weight": layer.linear.weight.detach()}
            if isinstance(layer, QuantLinear)
            else {
                "weight": layer.conv.weight.detach(),
                "folded": (
                    layer.conv.weight
                    * layer.bn.weight.div(torch.sqrt(layer.bn.running_var + layer.bn.eps)).view(
                        -1, 1, 1, 1
                    )
                ).detach(),
            }
        )
        for kind, w in tensors.items():
            sqnr = [
                signal_to_quantization_noise_db(w, WeightQuantizer(bits).eval()(w))
                for bits in range(2, 9)
            ]
            gains = [b - a for a, b in itertools.pairwise(sqnr)]
            assert min(gains) >= 5.0, f"{name} {kind}: SQNR {[round(s, 1) for s in sqnr]} dB"


@pytest.mark.parametrize(("w", "u", "max_drop"), [(8, 8, 0.01), (4, 4, 0.03)])
def test_a_copied_student_is_within_its_budget_of_the_teacher_before_training(
    digits: DatasetBundle, digits_teacher: SpikingNetwork, w: int, u: int, max_drop: float
) -> None:
    teacher = _score(digits_teacher, digits).accuracy
    assert teacher >= 0.95
    student = _score(_copied_student(digits_teacher, digits, w, u), digits).accuracy
    assert student >= teacher - max_drop, (
        f"W{w}/U{u}: {student:.2%} against the teacher's {teacher:.2%}"
    )


def test_more_bits_never_start_worse(digits: DatasetBundle, digits_teacher: SpikingNetwork) -> None:
    accuracy = {
        w: _score(_copied_student(digits_teacher, digits, w, w), digits).accuracy for w in (2, 4, 8)
    }
    assert accuracy[8] >= accuracy[4] - 0.01 and accuracy[4] >= accuracy[2] - 0.01, accuracy


def test_event_students_copied_from_the_teacher_fire_and_score_above_chance(tmp_path: Path) -> None:
    """On recordings in N-MNIST's layout (34x34 sensor, 3 classes): the regression where every
    quantized student of a study stayed silent."""
    root = make_learnable_event_folder(tmp_path / "events", classes=3, per_class=20)
    bundle = load_dataset(
        DataConfig(
            name="events",
            root=root,
            timesteps=4,
            frame_size=17,
            sensor_size=(34, 34),
            test_fraction=0.3,
            cache_dir=tmp_path / "cache",
        )
    )
    teacher = _teacher(bundle, 0.25, TrainConfig(epochs=8, batch_size=8, lr=3e-3, device="cpu"))
    assert _score(teacher, bundle).accuracy >= 0.8
    for w, u in ((8, 8), (4, 4)):
        result = _score(_copied_student(teacher, bundle, w, u), bundle)
        assert result.spikes_per_sample > 0, f"W{w}/U{u} is silent"
        assert result.accuracy >= 0.6, f"W{w}/U{u}: {result.accuracy:.2%} on 3 classes"


@pytest.mark.parametrize("precise_bn", [True, False])
def test_a_job_re_estimates_bn_after_copying_the_teacher_and_after_training(
    digits: DatasetBundle,
    digits_teacher: SpikingNetwork,
    monkeypatch,
    tmp_path: Path,
    precise_bn: bool,
) -> None:
    import mdsnn_search.job as job
    from mdsnn_search.distill import DistillConfig

    passes: list[str] = []
    real = job.recalibrate_bn_
    monkeypatch.setattr(
        job, "recalibrate_bn_", lambda model, *a, **k: passes.append("job") or real(model, *a, **k)
    )
    import mdsnn_search.training_loop as train

    monkeypatch.setattr(
        train,
        "recalibrate_bn_",
        lambda model, *a, **k: passes.append("fit") or real(model, *a, **k),
    )
    spec = job.TrainSpec(
        data=DataConfig(name="digits", timesteps=4),
        model=digits_teacher.config.model_copy(
            update={"precision": PrecisionConfig.uniform(2, 2, 8)}
        ),
        training=TrainConfig(
            epochs=1, max_batches_per_epoch=2, device="cpu", precise_bn=precise_bn
        ),
        teacher=tmp_path / "unused.pt",
        distill=DistillConfig(),
    )
    job.run_job(spec, teacher=digits_teacher, bundle=digits, progress=False, save=False)
    assert passes == (["job", "fit"] if precise_bn else [])
