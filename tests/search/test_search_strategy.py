"""Strategies are plug-ins: found by name through entry points, and one defined outside the
package (here, in this test) runs a study without any core module knowing it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from study_runs import bits_trial, stored_trials

from mdsnn_search.cli import main
from mdsnn_search.errors import ConfigError
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.search.run import run_study
from mdsnn_search.search.strategy import (
    STRATEGIES,
    Strategy,
    StrategySetup,
    get_strategy,
    strategy_names,
)
from mdsnn_search.spec.schema import StudySpec, load_spec


class Prepared(Strategy):
    """Refuses 8-bit weights, prepares a token the trials must receive."""

    def check(self, spec: StudySpec) -> None:
        if 8 in spec.search_space.w_bits:
            raise ConfigError("search_space.w_bits: the prepared strategy takes no 8-bit weights")

    def prepare(self, setup: StrategySetup) -> str:
        setup.study.set_user_attr("prepared_by", "plug-in")
        setup.report("prepared")
        return "token-42"


@pytest.fixture
def plug_in() -> Iterator[None]:
    STRATEGIES.register("prepared")(Prepared)
    yield
    del STRATEGIES._entries["prepared"]  # the registry has no public removal; a test cleans up


def test_shipped_strategies_are_found_by_entry_point() -> None:
    assert {"trials", "oneshot"} <= set(strategy_names())
    assert type(get_strategy("oneshot")).__module__ == "mdsnn_search.strategies.oneshot.strategy"
    with pytest.raises(ConfigError, match="did you mean 'oneshot'"):
        get_strategy("oneshoot")


def test_an_unknown_strategy_is_one_line_naming_the_field(
    write_spec: Callable[..., Path], tiny_teacher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(study={"strategy": "nope"}, teacher={"checkpoint": str(tiny_teacher)})
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "study.strategy: unknown strategy 'nope'" in err and len(err.splitlines()) == 1


def test_a_strategy_from_outside_the_package_runs_a_study(
    plug_in: None, write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    seen: list[str | None] = []

    def trial(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        seen.append(context.strategy_state)
        return bits_trial(context, request)

    spec = load_spec(
        write_spec(
            study={"strategy": "prepared", "baselines": []},
            teacher={"checkpoint": str(tiny_teacher)},
        )
    )
    summary = run_study(spec, trial_fn=trial, progress=False)
    assert summary.finished == spec.study.n_trials
    assert seen == ["token-42"] * spec.study.n_trials
    assert len(stored_trials(spec.study.storage_url())) == spec.study.n_trials
    study = optuna.load_study(study_name="tiny", storage=spec.study.storage_url())
    assert study.user_attrs["prepared_by"] == "plug-in"


def test_a_strategy_refuses_a_spec_before_anything_is_stored(
    plug_in: None,
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = write_spec(
        study={"strategy": "prepared"},
        search_space={"w_bits": [4, 8]},
        teacher={"checkpoint": str(tiny_teacher)},
    )
    assert main(["run", str(spec)]) == 2
    assert "search_space.w_bits: the prepared strategy" in capsys.readouterr().err
    assert not (tmp_path / "tiny.db").exists()
