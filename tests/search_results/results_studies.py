"""Real stored studies in a tmp SQLite file, built with Optuna's own API as the runner would.

Imported by this folder's conftest (fixtures) and tests (rows, helpers) under a name no other
test folder uses.

The default study (``t``, objectives accuracy and EDAP) holds, by trial number, what the runner
writes (baseline tags as ``spec.study.baselines`` names them; ``feasible=True`` with no
constraint values when the spec sets no constraints):

    0 fp32 baseline   0.95  1.0e-9   front (best accuracy)
    1 w8u8            0.94  3.0e-10  front
    2 w4u4            0.90  1.0e-10  dominated by 6
    3 w2u2            0.60  4.0e-11  front (cheapest)
    4 searched        0.93  2.0e-10  front
    5 searched        0.92  2.5e-10  dominated by 4
    6 searched        0.91  0.8e-10  front
    7 searched        0.85  1.2e-10  dominated by 2 and 6
    8 failed ("NaN loss at epoch 1")
    9 running
   10 waiting (an enqueued baseline)
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from mdsnn_search import cli
from mdsnn_search.distill import DistillConfig
from mdsnn_search.precision import LayerPrecisionOverride, PrecisionConfig
from mdsnn_search.spec.objectives import (
    ATTR_BASELINE,
    ATTR_FAIL_REASON,
    ATTR_METRICS,
    ATTR_STUDENT,
    ATTR_TRIAL_DIR,
    STUDY_SPEC,
    STUDY_TEACHER,
)
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import LayerRoles, StudentConfig
from mdsnn_search.study.documents import PREFIX as DOCUMENTS
from mdsnn_search.study.documents import set_study_document
from mdsnn_search.study.trial_attrs import (
    OPTUNA_CONSTRAINTS,
    constraint_attrs,
    shown_metrics,
    student_attrs,
)

MINE = ("status", "pareto", "export", "dashboard")
FRONT = [0, 1, 3, 4, 6]
TEACHER_ACCURACY = 0.95
ROLES = LayerRoles(
    layers=["features.0", "conv2", "fc"],
    spiking=["features.0", "conv2"],
    with_bn={"features.0", "conv2"},
)
"""The layers the stored students name (their short per-layer attributes are written for these)."""

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(autouse=True)
def only_results_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse with the results subcommands alone (others are being written alongside)."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", MINE)


@dataclass
class Row:
    accuracy: float | None
    edap: float | None
    baseline: str | None = None
    state: TrialState = TrialState.COMPLETE
    w_bits: tuple[int, int] = (4, 8)
    distilled: tuple[str, ...] = ("conv1", "conv2")
    constraint: float | None = None
    reason: str | None = None
    test_accuracy: float | None = None


DEFAULT_ROWS = [
    Row(0.95, 1.0e-9, "fp32", w_bits=(32, 32), distilled=()),
    Row(0.94, 3.0e-10, "w8u8", w_bits=(8, 8)),
    Row(0.90, 1.0e-10, "w4u4", w_bits=(4, 4)),
    Row(0.60, 4.0e-11, "w2u2", w_bits=(2, 2)),
    Row(0.93, 2.0e-10),
    Row(0.92, 2.5e-10),
    Row(0.91, 0.8e-10, w_bits=(2, 4), distilled=("conv1",)),
    Row(0.85, 1.2e-10),
    Row(None, None, state=TrialState.FAIL, reason="NaN loss at epoch 1"),
    Row(None, None, state=TrialState.RUNNING),
    Row(None, None, "w8u8", state=TrialState.WAITING),
]

CONSTRAINED_ROWS = [
    Row(0.99, 5e-10, "w8u8", constraint=1.0),  # best accuracy, but an infeasible baseline
    Row(0.90, 4e-10, constraint=-0.5),
    Row(0.80, 3e-10, constraint=-1.0),
    Row(0.70, 5e-10, constraint=-0.1),  # dominated
]
"""With ``constraints={"max_edap": 4.5e-10}``: the front is trials 1 and 2."""


@dataclass
class Built:
    spec_path: Path
    db_path: Path
    url: str
    name: str
    teacher: Path
    study: optuna.Study

    def args(self) -> list[str]:
        return [str(self.spec_path)]

    def db_digest(self) -> str:
        return hashlib.sha256(self.db_path.read_bytes()).hexdigest()


def student(row: Row) -> dict[str, Any]:
    first, rest = row.w_bits
    precision = PrecisionConfig(
        default=PrecisionConfig.uniform(rest, rest, 8 if rest < 32 else 32).default,
        layers={"features.0": LayerPrecisionOverride(w_bits=first)},
    )
    distill = DistillConfig(
        layers=list(row.distilled), membrane_weight=1.5, kd_weight=0.5, teacher_temperature=3.0
    )
    return {
        "precision": precision.model_dump(mode="json"),
        "distill": distill.model_dump(mode="json"),
    }


def metrics(row: Row) -> dict[str, Any]:
    assert row.accuracy is not None and row.edap is not None
    return {
        "accuracy": row.accuracy,
        "energy_pj": row.edap * 1e13,
        "latency_ns": 1200.0,
        "area_um2": 5.0e5,
        "edap": row.edap,
        "edp": row.edap / 0.5,
        "tops_per_w": 10.0,
        "tops_per_mm2": 1.0,
        "spikes_per_sample": 900.0 * (row.edap / 1e-9) ** 0.2,  # FP32 spikes most
        "layer_firing_rates": {"conv1": 0.1, "conv2": 0.05},
        "membrane_mismatch": {"conv1": 0.01},
        **({"test_accuracy": row.test_accuracy} if row.test_accuracy is not None else {}),
    }


def make_trial(row: Row, objectives: list[str]) -> optuna.trial.FrozenTrial:
    attrs: dict[str, Any] = {}
    documents: dict[str, Any] = {}
    if row.state != TrialState.WAITING:
        attrs = {ATTR_TRIAL_DIR: "/tmp/ray/trial"}
        documents[ATTR_STUDENT] = student(row)
        attrs.update(student_attrs(StudentConfig.model_validate(student(row)), ROLES))
    values = None
    if row.state == TrialState.COMPLETE:
        m = metrics(row)
        documents[ATTR_METRICS] = m
        attrs.update(shown_metrics(m))
        attrs.update(constraint_attrs({}))
        values = [
            m["accuracy"]
            if name == "accuracy"
            else m["spikes_per_sample"]
            if name == "spikes"
            else m[name]
            for name in objectives
        ]
    if row.baseline:
        attrs[ATTR_BASELINE] = row.baseline
    if row.reason:
        attrs[ATTR_FAIL_REASON] = row.reason
    if row.constraint is not None:
        attrs.update(constraint_attrs({"edap": row.constraint}))
    trial = create_trial(
        state=row.state,
        values=values,
        params={"w_bits.features.0": row.w_bits[0], "membrane_weight": 1.5},
        distributions={
            "w_bits.features.0": CategoricalDistribution([2, 4, 8, 32]),
            "membrane_weight": FloatDistribution(0.1, 10.0, log=True),
        },
        user_attrs=attrs,
        system_attrs={
            OPTUNA_CONSTRAINTS: [row.constraint] if row.constraint is not None else [],
            **{DOCUMENTS + key: value for key, value in documents.items()},
        },
    )
    if row.state != TrialState.WAITING:
        trial.datetime_start = datetime.datetime(2025, 1, 1, 12, 0, 0)
    if row.state.is_finished():
        trial.datetime_complete = trial.datetime_start + datetime.timedelta(seconds=75)
    return trial


def build_study(
    tmp_path: Path,
    rows: list[Row] | None = None,
    *,
    name: str = "t",
    objectives: tuple[str, ...] = ("accuracy", "edap"),
    constraints: dict[str, float] | None = None,
) -> Built:
    """A stored study under ``tmp_path`` (spec YAML, SQLite file, fake teacher checkpoint)."""
    db = tmp_path / f"{name}.db"
    url = f"sqlite:///{db}"
    teacher = tmp_path / "teacher.pt"
    teacher.write_bytes(b"not a real checkpoint")
    document = {
        "study": {
            "name": name,
            "n_trials": 4,
            "storage": url,
            "objectives": list(objectives),
            "constraints": constraints or {},
        },
        "data": {"name": "digits", "timesteps": 4},
        "model": {"arch": "vgg5"},
        "training": {"epochs": 2, "batch_size": 32},
    }
    spec = StudySpec.model_validate(document)
    spec_path = tmp_path / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    storage = optuna.storages.RDBStorage(url)
    # Test data only: no fsync per commit (a study is dozens of small commits).
    sqlalchemy.event.listen(
        storage.engine,
        "connect",
        lambda connection, _: connection.execute("PRAGMA synchronous=OFF"),
    )
    storage.engine.dispose()
    study = optuna.create_study(storage=storage, study_name=name, directions=spec.study.directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives))
    set_study_document(storage, study, STUDY_SPEC, spec.model_dump(mode="json"))
    study.set_user_attr(STUDY_TEACHER, {"checkpoint": str(teacher), "accuracy": TEACHER_ACCURACY})
    for row in DEFAULT_ROWS if rows is None else rows:
        study.add_trial(make_trial(row, list(objectives)))
    return Built(spec_path=spec_path, db_path=db, url=url, name=name, teacher=teacher, study=study)


@pytest.fixture(scope="session")
def study_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Studies built once per session; SQLite commits are the slow part of building one."""
    return {}


@pytest.fixture
def make_study(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, study_templates: dict[str, Built]
) -> Callable[..., Built]:
    """``make_study(rows, name=..., objectives=..., constraints=...)``: a fresh copy of a stored
    study in this test's tmp folder (its spec file names the copy's storage)."""

    def make(rows: list[Row] | None = None, **kwargs: Any) -> Built:
        key = repr((rows, sorted(kwargs.items())))
        if key not in study_templates:
            study_templates[key] = build_study(tmp_path_factory.mktemp("template"), rows, **kwargs)
        template = study_templates[key]
        db = tmp_path / template.db_path.name
        shutil.copyfile(template.db_path, db)
        url = f"sqlite:///{db}"
        document = yaml.safe_load(template.spec_path.read_text(encoding="utf-8"))
        document["study"]["storage"] = url
        spec_path = tmp_path / template.spec_path.name
        spec_path.write_text(yaml.safe_dump(document), encoding="utf-8")
        study = optuna.load_study(study_name=template.name, storage=url)
        return Built(
            spec_path=spec_path,
            db_path=db,
            url=url,
            name=template.name,
            teacher=template.teacher,
            study=study,
        )

    return make
