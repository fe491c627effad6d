"""The supernet: at a configuration it is that configuration's student; its job resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from study_runs import tiny_spec

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import load_dataset
from mdsnn_search.snn.models import build_model
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.supernet_training import (
    SupernetJob,
    load_supernet,
    train_supernet,
)


def oneshot_spec(tmp_path: Path, teacher: Path, **oneshot: object) -> StudySpec:
    document = tiny_spec(
        tmp_path,
        study={"strategy": "oneshot"},
        teacher={"checkpoint": str(teacher)},
        search_space={"w_bits": [2, 4, 8], "u_bits": [2, 4], "u_levels": [3], "bn_bits": [4, 8]},
        oneshot={"training": {"epochs": 2, "batch_size": 16, "lr": 0.003}, **oneshot},
    )
    return StudySpec.model_validate(document)


def train(spec: StudySpec, teacher: Path, output: Path, report=print) -> None:  # noqa: ANN001
    train_supernet(
        SupernetJob(spec.model_dump(mode="json"), str(teacher), None, str(output)), report
    )


class Killed(Exception):
    """Stands for the job's process dying right after a progress line."""


def test_supernet_at_a_configuration_equals_the_standalone_student(
    tmp_path: Path, tiny_teacher: Path
) -> None:
    spec = oneshot_spec(tmp_path, tiny_teacher)
    train(spec, tiny_teacher, tmp_path / "supernet.pt")
    teacher = load_checkpoint(tiny_teacher).model
    supernet, space, metadata = load_supernet(tmp_path / "supernet.pt", spec, teacher)
    bundle = load_dataset(spec.data).with_validation(spec.data.val_fraction, spec.data.split_seed)
    # epochs x (highest, lowest, 2 random) x training samples
    assert metadata["training_samples"] == 2 * 4 * len(bundle.train)
    x = torch.stack([bundle.validation[i][0] for i in range(24)], 1)
    rng = np.random.default_rng(0)
    configurations = [space.extreme(highest=True), space.extreme(highest=False)]
    configurations += [space.random(rng) for _ in range(4)]
    outputs = []
    for params in configurations:
        configuration = space.configuration(params)
        student = build_model(
            space.student(params).model_for(spec.model, spec.data),
            bundle.input_shape,
            bundle.num_classes,
        )
        student.load_state_dict(supernet.student(configuration).state_dict())
        student.eval()
        with torch.no_grad():
            supernet.configure_(configuration)
            expected = student(x)
            assert torch.equal(supernet.network(x), expected)
        outputs.append(expected)
    # Not vacuous: the configurations compute different things, with their own BN statistics.
    assert not torch.equal(outputs[0], outputs[1])
    slots = supernet.supernet_state()["bn_slots"]["conv2"]
    assert {"w8_bn8", "w2_bn4"} <= set(slots)
    assert not torch.equal(slots["w8_bn8"][0], slots["w2_bn4"][0])


def test_a_killed_supernet_job_resumes_to_the_uninterrupted_result(
    tmp_path: Path, tiny_teacher: Path
) -> None:
    spec = oneshot_spec(tmp_path, tiny_teacher)
    train(spec, tiny_teacher, tmp_path / "whole.pt")

    def die_after_first_epoch(line: str) -> None:
        if "epoch 1/2" in line:
            raise Killed(line)

    with pytest.raises(Killed):
        train(spec, tiny_teacher, tmp_path / "resumed.pt", die_after_first_epoch)
    assert (tmp_path / "resumed.partial.pt").is_file() and not (tmp_path / "resumed.pt").exists()
    lines: list[str] = []
    train(spec, tiny_teacher, tmp_path / "resumed.pt", lines.append)
    assert lines[0] == "supernet: resumed after epoch 1/2"
    assert not (tmp_path / "resumed.partial.pt").exists()
    whole = torch.load(tmp_path / "whole.pt", weights_only=True)["supernet"]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)["supernet"]
    for part in ("weights", "weight_quantizers", "membrane_quantizers"):
        assert whole[part].keys() == resumed[part].keys()
        for key, value in whole[part].items():
            assert torch.equal(value, resumed[part][key]), (part, key)
