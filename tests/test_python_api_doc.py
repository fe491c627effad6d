"""docs/python-api.md runs as written: its code blocks, in order, in one namespace."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python-api.md"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_the_notebook_session_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "search_spaces").mkdir()
    shutil.copy(ROOT / "search_spaces" / "digits.yaml", tmp_path / "search_spaces")
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 9
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "n_trials" in printed  # the refused spec names its field
    assert "trial 99" in printed  # the refused export names the trial
    study = namespace["study"]  # by now the read-only one open_study gave
    assert len(study.trials) == 3  # type: ignore[attr-defined]
    assert len(study.trials_dataframe()) == 3  # type: ignore[attr-defined]
    optuna.visualization.plot_pareto_front(study, target_names=["accuracy", "EDAP"])  # type: ignore[arg-type]
    front = namespace["front"]
    assert front.reference  # type: ignore[attr-defined]  # measured once, stored on the study
    assert any(r.baseline for r in namespace["records"])  # type: ignore[attr-defined]
    assert 0.0 <= front.hypervolume <= 1.0  # type: ignore[attr-defined]
    agreement = namespace["agreement"]
    assert abs(agreement.ours_accuracy - agreement.snntorch_accuracy) <= 0.05  # type: ignore[attr-defined]
    assert Path(namespace["nir_file"]).is_file()  # type: ignore[arg-type]
    assert namespace["report"].edap > 0  # type: ignore[attr-defined]
