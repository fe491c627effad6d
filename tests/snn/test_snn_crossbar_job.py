"""A job, and a searched student, with the crossbar in the loop: trained and evaluated as mapped."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from mdsnn_search.cli import main
from mdsnn_search.data import DataConfig, DatasetBundle
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.metrics import CROSSBAR_LAYERS
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.search.run import run_study
from mdsnn_search.snn import ModelConfig
from mdsnn_search.snn.in_the_loop import CrossbarLoopConfig
from mdsnn_search.snn.models import arch_layer_table
from mdsnn_search.spec.objectives import ATTR_METRICS, ATTR_STUDENT
from mdsnn_search.spec.schema import HardwareConfig, load_spec
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.spec.space import LayerRoles, StudentConfig, suggest_student
from mdsnn_search.study.documents import trial_document
from mdsnn_search.training_loop import TrainConfig


def _job(crossbar: CrossbarLoopConfig | None) -> TrainSpec:
    return TrainSpec(
        data=DataConfig(name="digits", timesteps=2, max_per_class=30),
        model=ModelConfig(arch="vgg5", width=0.25, precision=PrecisionConfig.uniform(4, 4, 8)),
        training=TrainConfig(epochs=1, device="cpu", batch_size=32, seed=0),
        crossbar=crossbar,
    )


def test_a_job_trains_and_evaluates_with_the_adc_in_the_loop(digits_small: DatasetBundle) -> None:
    ideal = run_job(_job(None), bundle=digits_small, progress=False, save=False).metrics
    coarse = CrossbarLoopConfig(adc_bits=1)
    result = run_job(_job(coarse), bundle=digits_small, progress=False, save=False)
    mapped = result.metrics[CROSSBAR_LAYERS]
    names = list(result.model.weight_layers())
    assert mapped == names[1:]  # the encoding layer reads pixels: computed digitally
    assert CROSSBAR_LAYERS not in ideal
    assert result.metrics["train_loss"] != ideal["train_loss"]


def test_a_searched_student_carries_its_adc_bits_into_its_job() -> None:
    roles = LayerRoles.from_table(arch_layer_table("vgg5", (1, 8, 8), 10, width=0.5))
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    student = suggest_student(trial, SearchSpaceConfig(adc_bits=[3, 5], tie_layers=True), roles)
    assert student.adc_bits == trial.params["adc_bits"] in (3, 5)
    assert student.crossbar_for(HardwareConfig()) is None
    crossbar = student.crossbar_for(HardwareConfig(in_the_loop=True, adc_range="full"))
    bits = student.adc_bits
    assert crossbar == CrossbarLoopConfig(preset="rram_64", adc_bits=bits, adc_range="full")
    assert crossbar.hardware().adc.bits == bits


def test_a_study_searches_adc_bits_in_the_loop_and_exports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    document = {
        "study": {
            "name": "adc",
            "storage": f"sqlite:///{tmp_path / 'adc.db'}",
            "n_trials": 2,
            "baselines": ["w4u4"],
        },
        "data": {"name": "digits", "timesteps": 2, "max_per_class": 20},
        "model": {"arch": "vgg5", "width": 0.5},
        "teacher": {"training": {"epochs": 2, "batch_size": 16, "lr": 0.003}},
        "training": {"epochs": 1, "batch_size": 16, "lr": 0.003},
        "search_space": {"w_bits": [4], "u_bits": [4], "adc_bits": [3, 6], "tie_layers": True},
        "hardware": {"in_the_loop": True},
        "execution": {"backend": "inline", "max_concurrent": 1},
    }
    spec_path = tmp_path / "adc.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    spec = load_spec(spec_path)
    run_study(spec, progress=False)
    study = optuna.load_study(study_name="adc", storage=spec.study.storage_url())
    baseline, searched = study.trials
    for trial in (baseline, searched):
        metrics = trial_document(trial, ATTR_METRICS)
        assert metrics[CROSSBAR_LAYERS] == ["conv2", "conv3", "conv4", "fc"], trial.user_attrs
    student = StudentConfig.model_validate(trial_document(searched, ATTR_STUDENT))
    assert student.adc_bits == searched.params["adc_bits"] in (3, 6)
    # A uniform baseline converts at the finest resolution the space offers.
    assert baseline.user_attrs["baseline"] == "w4u4"
    assert StudentConfig.model_validate(trial_document(baseline, ATTR_STUDENT)).adc_bits == 6
    out = tmp_path / "exports"
    assert (
        main(["export", str(spec_path), "--trials", str(searched.number), "--out", str(out)]) == 0
    )
    (exported,) = out.glob("*.yaml")
    crossbar = yaml.safe_load(exported.read_text())["crossbar"]
    assert crossbar["adc_bits"] == student.adc_bits and crossbar["preset"] == "rram_64"
