"""Importing the package, or the cost model, starts nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mdsnn_search", ("torch", "ray", "optuna")),
        ("mdsnn_search.hardware", ("torch", "ray")),
        ("mdsnn_search.cli", ("torch", "ray")),
    ],
)
def test_lean_imports(module: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"importing {module} loaded {loaded}"
