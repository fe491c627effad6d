"""Reading config files: duplicate keys, deep nesting and non-finite numbers are errors naming the
file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import BaseModel

from mdsnn_search.errors import ConfigError
from mdsnn_search.files import read_document, validate_mapping
from mdsnn_search.finite import non_finite_fields


class Inner(BaseModel):
    weights: dict[str, float] = {}
    choices: list[float] = []


class Outer(BaseModel):
    lr: float = 1.0
    inner: Inner = Inner()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.json", '{"lr": 1, "lr": 2}', "a.json: not valid JSON: duplicate key 'lr'"),
        (
            "b.yaml",
            "inner:\n  weights: {a: 1, a: 2}\n",
            "b.yaml: not valid YAML: duplicate key 'a' at line 2",
        ),
        (
            "c.json",
            "[" * 100_000 + "]" * 100_000,
            "c.json: not valid JSON: nested too deeply to read",
        ),
    ],
)
def test_malformed_documents_name_the_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_document(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_yaml_merge_keys_still_override(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 1}\nderived:\n  <<: *b\n  y: 2\n")
    assert read_document(path)["derived"] == {"x": 1, "y": 2}


def test_every_non_finite_number_is_named() -> None:
    config = Outer(
        lr=math.inf,
        inner=Inner(weights={"conv1": 1.0, "conv2": math.nan}, choices=[0.5, -math.inf]),
    )
    found = {where: str(value) for where, value in non_finite_fields(config)}
    assert found == {"lr": "inf", "inner.weights.conv2": "nan", "inner.choices.1": "-inf"}
    with pytest.raises(
        ConfigError,
        match=r"^cfg: lr: must be a finite number, but got inf; cfg: inner\.weights\.conv2",
    ):
        validate_mapping(Outer, config.model_dump(), "cfg")
    assert validate_mapping(Outer, {"lr": 0.1}, "cfg").lr == 0.1
