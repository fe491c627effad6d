"""A changed experiment on resume: a oneshot study's own settings count, and only there."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.drift import changed_fields, determining, spec_hash

DIGITS = Path(__file__).resolve().parents[2] / "search_spaces" / "digits.yaml"


def document(strategy: str) -> dict[str, Any]:
    spec = load_spec(DIGITS).model_dump(mode="json")
    spec["study"]["strategy"] = strategy
    return spec


def test_the_oneshot_section_leaves_a_trials_study_hash_as_stored() -> None:
    trials = document("trials")
    edited = copy.deepcopy(trials)
    edited["oneshot"]["proxy_trials"] += 1
    assert "oneshot" not in determining(trials) and "study.strategy" not in determining(trials)
    assert spec_hash(edited) == spec_hash(trials) and changed_fields(trials, edited) == []


def test_a_oneshot_study_refuses_its_changed_oneshot_settings_and_strategy() -> None:
    oneshot = document("oneshot")
    edited = copy.deepcopy(oneshot)
    edited["oneshot"]["proxy_trials"] += 1
    old = oneshot["oneshot"]["proxy_trials"]
    assert spec_hash(edited) != spec_hash(oneshot)
    assert changed_fields(oneshot, edited) == [f"oneshot.proxy_trials: {old} -> {old + 1}"]
    assert changed_fields(oneshot, document("trials"))[0] == 'study.strategy: "oneshot" -> "trials"'
    assert changed_fields(document("trials"), oneshot)[0] == 'study.strategy: "trials" -> "oneshot"'
