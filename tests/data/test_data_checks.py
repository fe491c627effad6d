"""Data checked without training: event files against time order and sensor, class count, a sample
read through the real readers; ``validate`` and ``run`` refuse a bad folder before anything is
stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from data_formats import make_event_folder, random_events, write_atis_bin

from mdsnn_search.cli import main
from mdsnn_search.data import DataConfig, load_dataset
from mdsnn_search.data.checks import check_dataset, spread
from mdsnn_search.data.event_frames import read_events
from mdsnn_search.errors import DataError


def events_config(root: Path, tmp_path: Path, **settings: object) -> DataConfig:
    return DataConfig(
        name="events",
        root=root,
        timesteps=2,
        frame_size=16,
        cache_dir=tmp_path / "cache",
        **settings,
    )


def test_random_bytes_are_not_taken_for_events(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5 * 2000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=f"{noise}: .* decoded events step back in time"):
        read_events(noise)


def test_a_shuffled_recording_is_refused_a_stray_late_event_sorted_in(tmp_path: Path) -> None:
    x, y, t, p = random_events(np.random.default_rng(1), 400, 10, 10)
    shuffled = np.random.default_rng(2).permutation(len(t))
    write_atis_bin(tmp_path / "shuffled.bin", x[shuffled], y[shuffled], t[shuffled], p[shuffled])
    with pytest.raises(DataError, match="step back in time"):
        read_events(tmp_path / "shuffled.bin")
    late = np.arange(len(t))
    late[[50, 51]] = late[[51, 50]]
    write_atis_bin(tmp_path / "late.bin", x[late], y[late], t[late], p[late])
    assert np.all(np.diff(read_events(tmp_path / "late.bin")["t"]) >= 0)


def test_one_class_is_no_classifier(tmp_path: Path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=1, per_class=4)
    with pytest.raises(
        DataError, match=r"events .*: found 1 class \(class_0\); a classifier needs at least 2"
    ):
        load_dataset(events_config(root, tmp_path))


def test_check_dataset_reads_a_sample_through_the_readers(tmp_path: Path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=5)
    bundle = check_dataset(events_config(root, tmp_path))
    assert bundle.num_classes == 2
    bad = bundle.test.files[-1]  # the last item of a split is always in the sample
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 5 * 500, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=f"{bad}: .* step back in time"):
        check_dataset(events_config(root, tmp_path))


def test_spread_covers_both_ends() -> None:
    assert spread(3, 4) == [0, 1, 2]
    assert spread(100, 4) == [0, 33, 66, 99]
    assert spread(10, 1) == [0]


def _break(root: Path, how: str) -> None:
    recording = root / "class_1" / "image_0001.bin"
    if how == "flat":
        for folder in list(root.iterdir()):
            for path in folder.iterdir():
                path.rename(root / f"{folder.name}-{path.name}")
            folder.rmdir()
    elif how == "truncated":
        recording.write_bytes(recording.read_bytes()[:-3])
    elif how == "random bytes":
        recording.write_bytes(
            np.random.default_rng(4).integers(0, 256, 5 * 300, dtype=np.uint8).tobytes()
        )
    elif how == "one class":
        for path in (root / "class_1").iterdir():
            path.unlink()
        (root / "class_1").rmdir()


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("flat", "has no class folders"),
        ("truncated", "class_1/image_0001.bin: 1497 bytes is not a whole number of 5-byte events"),
        ("random bytes", "class_1/image_0001.bin: 151 of 298 decoded events step back in time"),
        ("one class", "found 1 class (class_0)"),
        ("off the sensor", "outside sensor_size 20x20"),
    ],
)
def test_bad_event_folder_is_refused_before_anything_is_stored(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
    needle: str,
) -> None:
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=3, side=34)
    _break(root, how)
    data = {
        "name": "events",
        "root": str(root),
        "timesteps": 2,
        "frame_size": 16,
        "cache_dir": str(tmp_path / "cache"),
    }
    if how == "off the sensor":
        data["sensor_size"] = [20, 20]
    spec = {
        "study": {
            "name": "ev",
            "storage": f"sqlite:///{tmp_path / 'ev.db'}",
            "n_trials": 2,
            "baselines": ["fp32"],
        },
        "data": data,
        "model": {"arch": "vgg5", "width": 0.25},
        "execution": {"backend": "inline"},
    }
    spec_path = tmp_path / "ev.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    for command in ("validate", "run"):
        assert main([command, str(spec_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"{spec_path}: data: " in err and needle in err, err
    assert not (tmp_path / "ev.db").exists() and not (tmp_path / "studies").exists()
