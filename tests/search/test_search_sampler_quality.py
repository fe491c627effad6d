"""Samplers earn their keep: on an objective that needs no training (the cost model against an
analytic accuracy surrogate, through the real store, driver, executor and sampler plumbing), every
shipped sampler proposes other configurations than random search, and TPE, NSGA-II and GP reach
a larger hypervolume on average over seeds. This is the test that would have caught NSGA-II
sampling exactly what random search samples (docs/benchmarks.md)."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from mdsnn_search.execution.executors import InlineExecutor
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.execution.resources import TrialResources
from mdsnn_search.results import summarize_front
from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.reference import cheapest_params, student_cost, student_of
from mdsnn_search.search.teacher import TeacherInfo
from mdsnn_search.snn.models import model_layer_table
from mdsnn_search.spec.objectives import STUDY_REFERENCE
from mdsnn_search.spec.schema import StudySpec, load_spec
from mdsnn_search.spec.space import LayerRoles, StudentConfig, baseline_queue
from mdsnn_search.study.heartbeat import Heartbeat
from mdsnn_search.study.store import connect, open_study

pytestmark = pytest.mark.xdist_group("sampler-quality")
"""One worker builds the module's shared fixture once (under ``--dist loadgroup``)."""

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = load_spec("search_spaces/digits.yaml")
TABLE = model_layer_table(BASE.model, (1, 8, 8), 10)
ROLES = LayerRoles.from_table(TABLE)
TEACHER = 0.99
SENSITIVITY = {"conv1": 3.0, "conv2": 2.0, "conv3": 0.6, "conv4": 0.3, "fc": 1.0}
"""How much each layer's accuracy suffers from a cheaper choice: conv2 is fragile, conv4 is not,
so good configurations are mixed and a sampler that learns finds them."""
WEIGHT = {8: 0.0, 4: 0.0005, 2: 0.002, 1: 0.006}
MEMBRANE = {8: 0.0, 4: 0.0005, 2: 0.0025}
KEEP = {1.0: 0.0, 0.75: 0.001, 0.5: 0.004}
TIMESTEPS = {4: 0.0, 3: 0.003, 2: 0.008}
N_TRIALS = 30
SEEDS = (0, 1, 2)


def surrogate_accuracy(student: StudentConfig) -> float:
    layers = student.precision.resolve(ROLES.layers)
    loss = TIMESTEPS[student.timesteps or BASE.data.timesteps]
    for name, bits in layers.items():
        keep = student.pruning.layers.get(name, 1.0)
        penalty = WEIGHT.get(bits.w_bits, 0.0) + KEEP[keep]
        if name in ROLES.spiking:
            penalty += MEMBRANE[bits.u_bits]
        loss += SENSITIVITY[name] * penalty
    return TEACHER - loss


def surrogate_trial(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    """The trial function: the cost model's EDAP (default activity) and the surrogate."""
    accuracy = surrogate_accuracy(request.student)
    metrics = {
        "accuracy": accuracy,
        "val_accuracy": accuracy,
        "test_accuracy": accuracy,
        **student_cost(BASE, TABLE, request.student, None),
    }
    return TrialOutcome.ok(metrics)


def run_surrogate_study(sampler: str, seed: int, folder: Path) -> optuna.Study:
    spec = StudySpec.model_validate(
        {
            **BASE.model_dump(mode="json"),
            "study": {
                **BASE.study.model_dump(mode="json"),
                "name": f"{sampler}-{seed}",
                "storage": f"sqlite:///{folder / f'{sampler}-{seed}.db'}",
                "strategy": "trials",  # the sampler alone
                "sampler": sampler,
                "seed": seed,
                "n_trials": N_TRIALS,
            },
            "search_space": {
                **BASE.search_space.model_dump(mode="json"),
                # The surrogate reads the configuration only: no loss weights to search.
                "distill_layers": "all",
                "membrane_weight": 1.0,
                "kd_weight": 0.0,
                "teacher_temperature": 4.0,
                "student_temperature": 4.0,
            },
            "execution": {"backend": "inline"},
        }
    )
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    queue, _ = baseline_queue(
        spec.search_space, ROLES, list(spec.study.baselines), spec.data.timesteps
    )
    study = open_study(spec, "spec", url, storage, accept_change=False, baselines=queue).study
    cheapest = student_cost(
        spec, TABLE, student_of(cheapest_params(spec, ROLES), spec, ROLES), None
    )
    study.set_user_attr(STUDY_REFERENCE, {"accuracy": TEACHER, "cheapest": cheapest})
    teacher = TeacherInfo(Path("teacher.pt"), TEACHER, TEACHER, trained_now=False)
    with Heartbeat(storage, spec.study.heartbeat_interval_s) as heartbeat:
        driver = StudyDriver(study, storage, spec, ROLES, teacher, heartbeat)
        executor = InlineExecutor(TrialResources(cpus=1.0, gpus=0.0))
        executor.run(driver, TrialContext(spec=spec, teacher_checkpoint=""), surrogate_trial)
    assert driver.completed == N_TRIALS and driver.failed == 0
    return study


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    """A memory-backed folder to work in (Optuna commits every write; there the commits cost
    nothing; each study writes its spec artifact under studies/), removed afterwards."""
    shm = Path("/dev/shm")
    with (
        tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as folder,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.chdir(folder)
        yield Path(folder)


@pytest.fixture(scope="module")
def studies() -> Iterator[dict[str, list[optuna.Study]]]:
    with _workdir() as folder:
        yield {
            sampler: [run_surrogate_study(sampler, seed, folder) for seed in SEEDS]
            for sampler in ("random", "tpe", "nsga2", "nsga3")
        }


def hypervolume(study: optuna.Study) -> float:
    drop = BASE.study.constraints.max_accuracy_drop
    return summarize_front(study, ["accuracy", "edap"], ["maximize", "minimize"], drop).hypervolume


def assert_own_proposals(ours: list[optuna.Study], random: list[optuna.Study]) -> None:
    """The same baselines first, then other searched configurations than random search's."""
    for one, other in zip(ours, random, strict=True):
        baselines = [t.params for t in other.trials if "baseline" in t.user_attrs]
        assert [t.params for t in one.trials if "baseline" in t.user_attrs] == baselines
        searched = [t.params for t in one.trials if "baseline" not in t.user_attrs]
        assert searched != [t.params for t in other.trials if "baseline" not in t.user_attrs]


def assert_beats_random(ours: list[optuna.Study], random: list[optuna.Study]) -> None:
    mean = statistics.mean(hypervolume(s) for s in ours)
    baseline = statistics.mean(hypervolume(s) for s in random)
    assert mean > baseline, f"hypervolume {mean:.4f} vs random search's {baseline:.4f}"


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "nsga3"])
def test_every_sampler_proposes_its_own_configurations(
    sampler: str, studies: dict[str, list[optuna.Study]]
) -> None:
    assert_own_proposals(studies[sampler], studies["random"])


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_model_based_samplers_beat_random_search_on_average(
    sampler: str, studies: dict[str, list[optuna.Study]]
) -> None:
    assert_beats_random(studies[sampler], studies["random"])


@pytest.mark.slow
def test_gp_proposes_its_own_and_beats_random_search(
    studies: dict[str, list[optuna.Study]],
) -> None:
    """Optuna's GP sampler fits its model at every trial: seconds a trial on two loaded cores,
    so this case is marked slow."""
    with _workdir() as folder:
        gp = [run_surrogate_study("gp", seed, folder) for seed in SEEDS]
        assert_own_proposals(gp, studies["random"])
        assert_beats_random(gp, studies["random"])
