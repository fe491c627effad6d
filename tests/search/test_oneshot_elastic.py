"""Elastic channels and timesteps: a configuration below every channel and below the data's T is
served by the supernet, its standalone student and the network its trial trains from alike."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from study_runs import tiny_spec

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import load_dataset, make_loader
from mdsnn_search.errors import InfrastructureError
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.metrics import KEPT_CHANNELS
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.models import build_model, student_from_teacher
from mdsnn_search.snn.pruning import kept_count, kept_counts, prune_channels_
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.strategy import OneShot
from mdsnn_search.strategies.oneshot.supernet_training import (
    SupernetJob,
    load_supernet,
    supernet_key,
    train_supernet,
)

pytestmark = pytest.mark.xdist_group("oneshot-elastic")
"""One worker builds the module's shared fixture once (under ``--dist loadgroup``)."""

KEEP = [0.25, 0.5, 1.0]


def elastic_spec(tmp_path: Path, teacher: Path, **oneshot: object) -> StudySpec:
    document = tiny_spec(
        tmp_path,
        study={"strategy": "oneshot"},
        teacher={"checkpoint": str(teacher)},
        search_space={
            "w_bits": [2, 4],
            "u_bits": [2, 4],
            "bn_bits": [8],
            "keep_ratio": KEEP,
            "timesteps": [1, 2],
            "learnable_threshold": [False, True],
        },
        oneshot={
            "training": {"epochs": 1, "batch_size": 16, "lr": 0.003, "max_batches_per_epoch": 3},
            **oneshot,
        },
    )
    return StudySpec.model_validate(document)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> tuple[StudySpec, Path]:
    tmp_path = tmp_path_factory.mktemp("elastic")
    spec = elastic_spec(tmp_path, tiny_teacher)
    path = tmp_path / "supernet.pt"
    job = SupernetJob(spec.model_dump(mode="json"), str(tiny_teacher), None, str(path))
    train_supernet(job, lambda line: None)
    return spec, path


def test_a_configuration_below_every_channel_and_the_data_t_is_served_bit_for_bit(
    trained: tuple[StudySpec, Path], tiny_teacher: Path
) -> None:
    spec, path = trained
    teacher = load_checkpoint(tiny_teacher).model
    supernet, space, _ = load_supernet(path, spec, teacher, teacher_checkpoint=tiny_teacher)
    bundle = load_dataset(spec.data).with_validation(spec.data.val_fraction, spec.data.split_seed)
    x = torch.stack([bundle.validation[i][0] for i in range(24)], 1)
    lowest = space.extreme(highest=False)
    rng = np.random.default_rng(3)
    configurations = [lowest, *(space.random(rng) for _ in range(5))]
    assert {p["learnable_threshold"] for p in configurations} == {False, True}
    for params in configurations:
        configuration = space.configuration(params)
        student_config = space.student(params)
        supernet.configure_(configuration)
        with torch.no_grad():
            served = supernet.network(x)
            standalone = supernet.student(configuration).eval()(x)
            initial = OneShot().initial_student(str(path), spec, str(tiny_teacher), student_config)
            built = build_model(
                student_config.model_for(spec.model, spec.data),
                bundle.input_shape,
                bundle.num_classes,
            )
            built.load_state_dict(initial.state_dict())  # the module tree a student of it has
            assert torch.equal(served, standalone)
            assert torch.equal(served, initial.eval()(x))
            assert torch.equal(served, built.eval()(x))
        assert served.shape[0] == (configuration.timesteps or spec.data.timesteps)
        for name, ratio in configuration.keep_ratio.items():
            node = initial.neurons().get(name)
            if node is None or ratio == 1.0:
                assert node is None or node.channel_mask is None
                continue
            channels = initial.weight_layers()[name].out_channels
            assert node.channel_mask is not None
            assert node.channel_mask.kept == kept_count(ratio, channels)
    # The lowest configuration is at the lowest keep ratio and T_s, with fixed thresholds.
    assert set(space.configuration(lowest).keep_ratio.values()) == {min(KEEP), 1.0}
    assert space.configuration(lowest).timesteps == 1
    assert not space.configuration(lowest).learnable_threshold
    # Not vacuous: fewer channels, or another T_s, compute something else; BN slots per T_s.
    highest = space.extreme(highest=True)
    narrow = {**highest, **{k: 0.25 for k in highest if k.startswith("keep_ratio")}}
    outputs = []
    for params in (highest, narrow, {**highest, "timesteps": 1}):
        supernet.configure_(space.configuration(params))
        with torch.no_grad():
            outputs.append(supernet.network(x).mean(0))
    assert not torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    slots = supernet.supernet_state()["bn_slots"]["conv2"]
    assert {"t1_w2_bn8", "t2_w4_bn8"} <= set(slots)
    # The learnt thresholds (one per layer and membrane width) trained away from theta = 1.
    thetas = supernet.supernet_state()["thresholds"]
    assert {"conv2.u2.theta", "conv2.u4.theta"} <= set(thetas)
    assert any(float(theta) != 1.0 for theta in thetas.values())


def test_every_keep_ratio_keeps_the_channels_pruning_would_keep_on_the_teacher(
    trained: tuple[StudySpec, Path], tiny_teacher: Path
) -> None:
    spec, path = trained
    teacher = load_checkpoint(tiny_teacher).model
    supernet, space, _ = load_supernet(path, spec, teacher)
    bundle = load_dataset(spec.data).with_validation(spec.data.val_fraction, spec.data.split_seed)
    training = spec.oneshot.training
    for ratio in KEEP[:-1]:
        params = {
            k: (ratio if k.startswith("keep_ratio") else v)
            for k, v in space.extreme(highest=True).items()
        }
        # The teacher itself (full precision) with this keep ratio's masks.
        student_config = space.student(params).model_copy(update={"precision": PrecisionConfig()})
        pruned = student_from_teacher(teacher, student_config.model_for(spec.model, spec.data))
        loader = make_loader(bundle.train, training.batch_size, shuffle=True, seed=training.seed)
        batches = itertools.islice(loader, spec.model.pruning.score_batches)
        prune_channels_(pruned, (x for x, *_ in batches))
        served = supernet.student(space.configuration(params))
        for name, node in pruned.neurons().items():
            assert node.channel_mask is not None
            mask = served.neurons()[name].channel_mask
            assert mask is not None and torch.equal(mask.mask, node.channel_mask.mask), name


def test_a_trial_trains_the_supernets_channels_without_scoring_them_again(
    trained: tuple[StudySpec, Path], tiny_teacher: Path
) -> None:
    spec, path = trained
    teacher = load_checkpoint(tiny_teacher).model
    supernet, space, _ = load_supernet(path, spec, teacher)
    # An order no membrane score gives: a job that scored the channels again would change it.
    supernet.set_channel_order_({k: v.flip(0) for k, v in supernet.channel_order.items()})
    params = space.extreme(highest=False)
    student_config = space.student(params)
    initial = supernet.student(space.configuration(params))
    masks = {name: node.channel_mask.mask.clone() for name, node in initial.neurons().items()}
    job = TrainSpec(
        name="front",
        data=spec.data,
        model=student_config.model_for(spec.model, spec.data),
        training=spec.training.model_copy(update={"max_batches_per_epoch": 1}),
        distill=student_config.distill,
        teacher=tiny_teacher,
    )
    result = run_job(job, teacher=teacher, progress=False, save=False, student=initial)
    for name, node in result.model.neurons().items():
        assert node.channel_mask is not None and torch.equal(node.channel_mask.mask, masks[name])
    assert result.metrics[KEPT_CHANNELS] == kept_counts(initial)


def test_a_supernet_of_another_spec_is_refused(
    trained: tuple[StudySpec, Path], tiny_teacher: Path
) -> None:
    spec, path = trained
    other = spec.model_copy(
        update={"search_space": spec.search_space.model_copy(update={"keep_ratio": [0.5, 1.0]})}
    )
    teacher = load_checkpoint(tiny_teacher).model
    with pytest.raises(InfrastructureError, match="trained for another spec"):
        load_supernet(path, other, teacher, teacher_checkpoint=tiny_teacher)
    keys = {
        supernet_key(s, tiny_teacher)
        for s in (
            spec,
            other,
            spec.model_copy(
                update={"oneshot": spec.oneshot.model_copy(update={"inplace_distillation": False})}
            ),
        )
    }
    assert len(keys) == 3


def test_the_supernet_reaches_a_node_without_the_drivers_file_and_damage_travels_too(
    trained: tuple[StudySpec, Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    from mdsnn_search.execution.ray_tune import _local_copy, _state_files

    spec, path = trained
    files = _state_files(str(path))
    assert files is not None and files[1] is not None  # the file and its checksum
    elsewhere = str(tmp_path / "driver-only" / path.name)
    local = Path(_local_copy(elsewhere, *files))
    try:
        network = OneShot().initial_student(
            str(local), spec, str(tiny_teacher), elastic_student(spec)
        )
        assert network.neurons()["conv2"].channel_mask is not None
    finally:
        local.unlink()
        local.with_name(local.name + ".sha256").unlink()
    damaged = bytearray(files[0])
    damaged[len(damaged) // 2] ^= 0xFF
    local = Path(_local_copy(elsewhere, bytes(damaged), files[1]))
    try:
        teacher = load_checkpoint(tiny_teacher).model
        with pytest.raises(InfrastructureError, match="supernet"):
            load_supernet(local, spec, teacher)
    finally:
        local.unlink()
        local.with_name(local.name + ".sha256").unlink()


def elastic_student(spec: StudySpec):  # noqa: ANN201
    """A student of the space at keep 0.5 everywhere and T_s = 1."""
    from mdsnn_search.snn.models import layer_table
    from mdsnn_search.spec.space import LayerRoles
    from mdsnn_search.strategies.oneshot.sandwich import PrecisionSpace

    teacher_table = layer_table(build_model(spec.model, (1, 8, 8), 10))
    space = PrecisionSpace(spec.search_space, LayerRoles.from_table(teacher_table))
    params = {
        k: (0.5 if k.startswith("keep_ratio") else 1 if k == "timesteps" else v)
        for k, v in space.extreme(highest=True).items()
    }
    return space.student(params)
