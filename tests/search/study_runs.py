"""Helpers of the search tests: the tiny study spec, the ``mdsnn-search`` command as a separate
process, and looks at a stored study."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.spec.objectives import ATTR_STUDENT
from mdsnn_search.study.documents import trial_document

POSTGRES_PASSWORD = "pg-secret-2718"
"""The test server's password: it must never appear in anything printed, logged or written."""


def tiny_spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "study": {
            "name": "tiny",
            "storage": f"sqlite:///{tmp_path / 'tiny.db'}",
            "n_trials": 4,
            "seed": 0,
            "baselines": ["fp32", "w4u4"],
        },
        "data": {"name": "digits", "timesteps": 2, "max_per_class": 20},
        "model": {"arch": "vgg5", "width": 0.5},
        "teacher": {"training": {"epochs": 4, "batch_size": 16, "lr": 0.003}},
        "training": {"epochs": 1, "batch_size": 16, "lr": 0.003},
        "search_space": {
            "w_bits": [2, 4],
            "u_bits": [2, 4],
            "bn_bits": [8],
            "fixed_layers": {"conv1": {"w_bits": 8}},
        },
        "execution": {"backend": "inline", "max_concurrent": 2},
    }
    for section, values in overrides.items():
        spec[section] = {**spec.get(section, {}), **values}
    return spec


def mdsnn_search(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``mdsnn-search ARGS`` as a separate process, the way a user (or a batch system) starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "mdsnn_search.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_trials(url: str, name: str = "tiny") -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


def distinct_students(trials: Sequence[FrozenTrial]) -> bool:
    """No two complete trials evaluated the same configuration."""
    students = [
        json.dumps(trial_document(t, ATTR_STUDENT), sort_keys=True)
        for t in trials
        if t.state == TrialState.COMPLETE
    ]
    return len(set(students)) == len(students)


def trial_states(db: Path) -> list[str]:
    """States of a SQLite study's trials, read without Optuna (which might create tables in a file
    that a run is still setting up); [] before the run created them."""
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(
            f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30
        ) as connection:
            return [
                row[0] for row in connection.execute("SELECT state FROM trials ORDER BY number")
            ]
    except sqlite3.OperationalError:  # no tables yet
        return []


def bits_trial(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    """A trial that trains nothing: accuracy and EDAP follow from the student's bits and loss
    weights alone (deterministic). For tests of the driver and samplers, not of training."""
    student = request.student.model_dump(mode="json")
    bits = sum(
        value
        for layer in student["precision"]["layers"].values()
        for key, value in layer.items()
        if key.endswith("_bits") and isinstance(value, int)
    )
    weight = float(student["distill"].get("membrane_weight") or 0.0)
    accuracy = 1.0 - 1.0 / (1.0 + bits + weight)
    metrics = {
        "accuracy": accuracy,
        "val_accuracy": accuracy,
        "test_accuracy": accuracy,
        "edap": bits + weight,
    }
    return TrialOutcome.ok(metrics)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
