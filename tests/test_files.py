"""Config files: duplicate keys, deep nesting and non-finite numbers are errors naming the file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import BaseModel

from mdsnn_search.errors import ConfigError, shortened
from mdsnn_search.files import (
    MAX_DOCUMENT_CHARS,
    MAX_NODES,
    MAX_PROBLEMS,
    read_document,
    validate_mapping,
)
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


def _alias_bomb(levels: int = 9) -> str:
    """Nested aliases, ten of the previous level each: 10**levels values once expanded."""
    lines = ["model:", "  arch: vgg5", "  kwargs:", '    l0: &l0 ["lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*l{level - 1}"] * 10)
        lines.append(f"    l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_load_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mdsnn_search.cli import main

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    assert main(["validate", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bomb}: not valid YAML" in err
    assert f"more than {MAX_NODES} values once its aliases are expanded" in err
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("a: &x [1, *x]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        read_document(recursive)
    shared = tmp_path / "shared.yaml"  # aliases within the bound are fine
    shared.write_text("a: &x {k: 1}\nb: *x\nc: *x\n")
    assert read_document(shared) == {"a": {"k": 1}, "b": {"k": 1}, "c": {"k": 1}}


def test_a_huge_document_is_refused_before_parsing(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("search_space:\n  w_bits: [" + "2," * 1_400_000 + "2]\n")
    with pytest.raises(ConfigError, match=f"more than a config may hold \\({MAX_DOCUMENT_CHARS}"):
        read_document(huge)
    huge.write_text("a: " + "x" * (4 * MAX_DOCUMENT_CHARS) + "\n")  # refused without reading it
    with pytest.raises(ConfigError, match=f"more than a config may hold \\({MAX_DOCUMENT_CHARS}"):
        read_document(huge)


def test_validation_messages_list_a_few_problems_and_are_cut_short() -> None:
    class Choices(BaseModel):
        w_bits: list[int]

    with pytest.raises(ConfigError) as refused:
        validate_mapping(Choices, {"w_bits": ["x" * 10_000] * 5000}, "spec.yaml")
    message = str(refused.value)
    assert message.count("spec.yaml: w_bits.") == MAX_PROBLEMS
    assert message.endswith(f"and {5000 - MAX_PROBLEMS} more problems") and len(message) < 8000
    assert shortened("x" * 5000, 100) == "x" * 100 + "... (4900 more characters)"


def test_a_name_longer_than_a_file_name_allows_is_refused() -> None:
    from mdsnn_search.outputs import MAX_NAME_CHARS, check_plain_name

    assert check_plain_name("a" * MAX_NAME_CHARS, "study.name") == "a" * MAX_NAME_CHARS
    with pytest.raises(ConfigError, match=f"study.name must be at most {MAX_NAME_CHARS} char"):
        check_plain_name("a" * 10_000_000, "study.name")


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
import numpy as np
import torch
from mdsnn_search.checkpoint import save_atomic
from mdsnn_search.data.frame_cache import store_cached
from mdsnn_search.errors import WriteError
from mdsnn_search.files import write_text_atomic
folder = Path(sys.argv[1])
(folder / "old.txt").write_text("the old file")
writes = {
    "cache.pt": lambda p: save_atomic({"x": torch.ones(100_000)}, p, checksum=True),
    "old.txt": lambda p: write_text_atomic(p, "x" * 100_000),
    "frames.npy": lambda p: store_cached(p, np.ones((100, 1000), dtype=np.float16)),
}
for name, write in writes.items():
    try:
        write(folder / name)
    except WriteError as exc:
        print(exc)
"""


def test_a_write_that_does_not_fit_fails_by_name_and_leaves_nothing_half_written(
    tmp_path: Path,
) -> None:
    """A real failing write: the file-size limit (RLIMIT_FSIZE) of a child process."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        str(tmp_path / name) for name in ("cache.pt", "old.txt", "frames.npy")
    ]
    assert all("cannot write (File too large); nothing was written" in line for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]
    assert (tmp_path / "old.txt").read_text() == "the old file"
