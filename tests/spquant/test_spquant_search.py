"""SpQuant-SNN in the search: spec, sampling, the student's model, cost, export -> train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from pydantic import ValidationError

from mdsnn_search.cli import main
from mdsnn_search.hardware import estimate_cost, load_preset
from mdsnn_search.search.run import run_study
from mdsnn_search.snn import arch_layer_table
from mdsnn_search.spec.objectives import ATTR_METRICS, ATTR_STUDENT
from mdsnn_search.spec.schema import StudySpec, load_spec
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.spec.space import LayerRoles, StudentConfig, suggest_student
from mdsnn_search.study.documents import trial_document

ROLES = LayerRoles.from_table(arch_layer_table("vgg5", (1, 8, 8), 10, width=0.5))
SPQUANT_SPACE = {
    "w_bits": [2],
    "u_bits": [2],
    "bn_bits": [8],
    "u_levels": [3, 5],
    "keep_ratio": [0.5, 1.0],
    "learnable_threshold": [False, True],
    "timesteps": [1, 2],
    "distill_layers": "all",
}


def _spec(tmp_path: Path, **space: Any) -> dict[str, Any]:
    return {
        "study": {
            "name": "spq",
            "storage": f"sqlite:///{tmp_path / 'spq.db'}",
            "n_trials": 2,
            "baselines": ["fp32"],
        },
        "data": {"name": "digits", "timesteps": 2, "max_per_class": 20},
        "model": {"arch": "vgg5", "width": 0.5},
        "teacher": {"training": {"epochs": 3, "batch_size": 16, "lr": 0.003}},
        "training": {"epochs": 1, "batch_size": 16, "lr": 0.003},
        "search_space": space,
        "execution": {"backend": "inline", "max_concurrent": 1},
    }


def _sample(space: SearchSpaceConfig, seed: int) -> tuple[StudentConfig, dict[str, Any]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return suggest_student(trial, space, ROLES), trial.params


def test_default_space_samples_none_of_the_new_dimensions() -> None:
    student, params = _sample(SearchSpaceConfig(), 0)
    assert not any(
        k.startswith(("membrane:", "keep_ratio", "learnable_threshold", "timesteps"))
        for k in params
    )
    assert (
        student.pruning.layers == {}
        and student.timesteps is None
        and not student.learnable_threshold
    )
    assert all(p.u_levels is None for p in student.precision.resolve(ROLES.layers).values())


def test_spquant_space_samples_every_dimension_per_layer() -> None:
    space = SearchSpaceConfig.model_validate(SPQUANT_SPACE)
    seen: dict[str, set[Any]] = {"membrane": set(), "keep": set(), "lt": set(), "t": set()}
    for seed in range(12):
        student, params = _sample(space, seed)
        assert {f"membrane:{n}" for n in ROLES.spiking} <= params.keys()
        assert {f"keep_ratio:{n}" for n in ROLES.spiking} <= params.keys()
        assert (
            "membrane:fc" not in params and "keep_ratio:fc" not in params
        )  # the classifier has no neuron
        for name in ROLES.spiking:
            p = student.precision.for_layer(name)
            assert (p.u_levels, p.u_bits) in {(None, 2), (3, 2), (5, 3)}
            seen["membrane"].add(params[f"membrane:{name}"])
            seen["keep"].add(student.pruning.for_layer(name))
        seen["lt"].add(student.learnable_threshold)
        seen["t"].add(student.timesteps)
        assert StudentConfig.model_validate_json(student.model_dump_json()) == student
    assert seen == {
        "membrane": {"u2", "int3", "int5"},
        "keep": {0.5, 1.0},
        "lt": {False, True},
        "t": {1, 2},
    }


def test_fixed_layers_can_pin_an_integer_membrane() -> None:
    space = SearchSpaceConfig.model_validate(
        {**SPQUANT_SPACE, "fixed_layers": {"conv1": {"u_levels": 3}}}
    )
    student, params = _sample(space, 0)
    assert "membrane:conv1" not in params
    assert student.precision.for_layer("conv1").u_levels == 3


def test_student_model_carries_its_dimensions(tmp_path: Path) -> None:
    spec = StudySpec.model_validate(_spec(tmp_path, **SPQUANT_SPACE))
    student, _ = _sample(spec.search_space, 3)
    student = student.model_copy(update={"timesteps": 1, "learnable_threshold": True})
    model = student.model_for(spec.model, spec.data)
    assert (
        model.timesteps == 1 and model.frame_merge == "first" and model.neuron.learnable_threshold
    )
    assert model.pruning == student.pruning and model.precision == student.precision
    events = spec.data.model_copy(update={"name": "events"})
    assert student.model_for(spec.model, events).frame_merge == "mean"


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("model", {"arch": "vgg5", "pruning": {"keep_ratio": 0.5}}, "search_space.keep_ratio"),
        ("model", {"arch": "vgg5", "timesteps": 1}, "search_space.timesteps"),
        (
            "model",
            {"arch": "vgg5", "neuron": {"learnable_threshold": True}},
            "search_space.learnable_threshold",
        ),
        ("search_space", {"timesteps": [4]}, "at most the teacher's data.timesteps=2"),
        ("search_space", {"keep_ratio": [0.0]}, "greater than 0"),
        ("search_space", {"u_levels": [1]}, "greater than or equal to 2"),
    ],
)
def test_spec_refuses_misplaced_or_bad_dimensions(
    tmp_path: Path, section: str, value: Any, message: str
) -> None:
    document = _spec(tmp_path)
    document[section] = value
    with pytest.raises(ValidationError, match=message):
        StudySpec.model_validate(document)


def test_study_costs_and_exports_spquant_students(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One searched trial, every dimension on: integer membrane, pruning, LT, T_s = 1 < T_t = 2."""
    monkeypatch.chdir(tmp_path)
    space = {
        **SPQUANT_SPACE,
        "keep_ratio": [0.5],
        "learnable_threshold": [True],
        "timesteps": [1],
        "fixed_layers": {"conv*": {"u_levels": 3}},
    }
    spec_path = tmp_path / "spq.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(tmp_path, **space)))
    spec = load_spec(spec_path)
    run_study(spec, progress=False)
    study = optuna.load_study(study_name="spq", storage=spec.study.storage_url())
    fp32, searched = study.trials
    student = StudentConfig.model_validate(trial_document(searched, ATTR_STUDENT))
    assert (
        student.timesteps == 1
        and student.learnable_threshold
        and student.pruning.for_layer("conv2") == 0.5
    )
    metrics = trial_document(searched, ATTR_METRICS)
    assert metrics["kept_channels"] == {"conv1": 8, "conv2": 16, "conv3": 32, "conv4": 32}
    # The trial's cost is the layer table at kept channels, derived membrane bits and T_s = 1.
    table = arch_layer_table("vgg5", (1, 8, 8), 10, width=0.5)
    dense = estimate_cost(
        table,
        load_preset("rram_64"),
        timesteps=2,
        precision=student.precision.resolve([r.name for r in table]),
    )
    assert metrics["ops"] == pytest.approx(
        dense.ops / 2 / 4, rel=0.02
    )  # T halves; C_in and C_out halve
    assert metrics["edap"] < trial_document(fp32, ATTR_METRICS)["edap"]
    out = tmp_path / "exports"
    assert (
        main(
            [
                "export",
                str(spec_path),
                "--trials",
                str(searched.number),
                "--out",
                str(out),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    (exported,) = out.glob("*.yaml")
    model = yaml.safe_load(exported.read_text())["model"]
    assert model["timesteps"] == 1 and model["neuron"]["learnable_threshold"] is True
    assert (
        model["pruning"]["layers"]["conv2"] == 0.5
        and model["precision"]["layers"]["conv2"]["u_levels"] == 3
    )
    capsys.readouterr()
    assert main(["train", str(exported), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"]["conv2"] == "W2/U3lv/BN8"
    assert result["kept_channels"] == metrics["kept_channels"]
