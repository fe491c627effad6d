"""Tune's environment variables hold while trials run, and the process's own come back after."""

from __future__ import annotations

import os

import pytest

from mdsnn_search.execution.ray_tune import _tune_environment


def test_tune_settings_hold_while_trials_run_and_the_process_gets_its_own_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "0")
    with _tune_environment():
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
    assert "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "0"


def test_a_users_choice_of_tune_output_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    with _tune_environment():
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
