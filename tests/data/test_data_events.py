"""Event folders: byte-exact .bin files read back through tonic, binned, resized, cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_formats import make_event_folder, random_events, write_atis_bin

from mdsnn_search.data import DataConfig, load_dataset, make_loader
from mdsnn_search.data import events as events_module
from mdsnn_search.errors import DataError

T = 4


def expected_counts(x, y, t, p, timesteps: int, width: int, height: int) -> np.ndarray:
    """Counts [T, 2, H, W] over T equal time slices [t0 + i*w, t0 + (i+1)*w), w = (t1-t0)//T,
    the slicing tonic's ToFrame(n_time_bins) documents; written independently of tonic."""
    window = (t.max() - t.min()) // timesteps
    bins = (t - t.min()) // window
    counts = np.zeros((timesteps, 2, height, width))
    keep = bins < timesteps
    np.add.at(counts, (bins[keep], p[keep], y[keep], x[keep]), 1)
    return counts


def write_folder(root: Path, recordings: dict[str, tuple[np.ndarray, ...]]) -> None:
    for relative, (x, y, t, p) in recordings.items():
        write_atis_bin(root / relative, x, y, t, p)


def items_by_file(bundle) -> dict[str, tuple[torch.Tensor, int]]:
    return {
        f"{path.parent.name}/{path.name}": split[i]
        for split in (bundle.train, bundle.test)
        for i, path in enumerate(split.files)
    }


def test_frames_are_the_event_counts_per_time_bin_polarity_and_pixel(tmp_path) -> None:
    rng = np.random.default_rng(1)
    recordings = {
        f"{c}/r{k}.bin": random_events(rng, 400, 10, 10) for c in ("cat", "dog") for k in range(3)
    }
    x, y, t, p = recordings["dog/r1.bin"]
    order = np.arange(len(t))
    order[[10, 11, 200, 201]] = order[
        [11, 10, 201, 200]
    ]  # stray late events on disk: sorted in before binning
    recordings["dog/r1.bin"] = (x[order], y[order], t[order], p[order])
    write_folder(tmp_path / "ev", recordings)
    cfg = DataConfig(
        name="events",
        root=tmp_path / "ev",
        timesteps=T,
        frame_size=10,
        sensor_size=(10, 10),
        event_norm="count",
        test_fraction=0.34,
        cache_dir=tmp_path / "cache",
    )
    bundle = load_dataset(cfg)
    assert bundle.class_names == ["cat", "dog"] and bundle.input_shape == (2, 10, 10)
    items = items_by_file(bundle)
    assert sorted(items) == sorted(recordings)
    for relative, events in recordings.items():
        frames, label = items[relative]
        assert label == bundle.class_names.index(relative.split("/")[0])
        assert frames.shape == (T, 2, 10, 10) and frames.dtype == torch.float32
        np.testing.assert_array_equal(frames.numpy(), expected_counts(*events, T, 10, 10))


def test_non_square_sensor_is_area_resized_to_the_square_frame(tmp_path) -> None:
    rng = np.random.default_rng(2)
    recordings = {f"{c}/r{k}.bin": random_events(rng, 300, 8, 4) for c in "ab" for k in range(2)}
    write_folder(tmp_path / "ev", recordings)
    cfg = DataConfig(
        name="events",
        root=tmp_path / "ev",
        timesteps=T,
        frame_size=4,
        sensor_size=(8, 4),
        event_norm="count",
        test_fraction=0.5,
        cache_dir=tmp_path / "cache",
    )
    items = items_by_file(load_dataset(cfg))
    for relative, events in recordings.items():
        counts = expected_counts(*events, T, width=8, height=4)
        halved_width = counts.reshape(T, 2, 4, 4, 2).mean(axis=-1)
        np.testing.assert_allclose(items[relative][0].numpy(), halved_width, rtol=1e-3)


def test_unset_sensor_size_frames_each_recording_by_its_own_event_extent(tmp_path) -> None:
    rng = np.random.default_rng(3)
    recordings = {}
    for k, (x0, y0) in enumerate([(10, 3), (50, 40), (0, 0), (7, 90)]):
        x, y, t, p = random_events(rng, 300, 7, 7)
        x[:2], y[:2] = [0, 6], [0, 6]  # the extent is exactly 7x7 wherever the recording sits
        recordings[f"{'ab'[k % 2]}/r{k}.bin"] = (x + x0, y + y0, t, p)
    write_folder(tmp_path / "ev", recordings)
    cfg = DataConfig(
        name="events",
        root=tmp_path / "ev",
        timesteps=T,
        frame_size=7,
        event_norm="count",
        test_fraction=0.5,
        cache_dir=tmp_path / "cache",
    )
    items = items_by_file(load_dataset(cfg))
    for relative, (x, y, t, p) in recordings.items():
        shifted = expected_counts(x - x.min(), y - y.min(), t, p, T, 7, 7)
        np.testing.assert_array_equal(items[relative][0].numpy(), shifted)


@pytest.mark.parametrize("norm", ["binary", "log1p", "max"])
def test_normalisation_rescales_the_cached_counts(tmp_path, norm) -> None:
    make_event_folder(tmp_path / "ev", classes=2, per_class=2, side=12)
    settings = dict(
        name="events",
        root=tmp_path / "ev",
        timesteps=T,
        frame_size=12,
        sensor_size=(12, 12),
        test_fraction=0.5,
        cache_dir=tmp_path / "cache",
    )
    counts, _ = load_dataset(DataConfig(**settings, event_norm="count")).train[0]
    normalised, _ = load_dataset(DataConfig(**settings, event_norm=norm)).train[0]
    expected = {
        "binary": (counts > 0).float(),
        "log1p": torch.log1p(counts),
        "max": counts / counts.max(),
    }[norm]
    torch.testing.assert_close(normalised, expected)
    if norm != "log1p":
        assert normalised.max() == 1.0


def test_binned_frames_are_cached_so_later_epochs_and_runs_skip_the_bin_files(
    tmp_path, monkeypatch
) -> None:
    cfg = DataConfig(
        name="events",
        root=make_event_folder(tmp_path / "ev"),
        timesteps=T,
        cache_dir=tmp_path / "cache",
    )
    bundle = load_dataset(cfg)
    first = [x for x, _ in make_loader(bundle.train, batch_size=4)]
    settings_dirs = list((tmp_path / "cache" / "events").iterdir())
    assert len(settings_dirs) == 1 and (settings_dirs[0] / "settings.json").is_file()
    assert len(list(settings_dirs[0].glob("*.npy"))) == len(bundle.train)

    def no_reading(path: Path) -> np.ndarray:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(events_module, "read_events", no_reading)
    again = [x for x, _ in make_loader(load_dataset(cfg).train, batch_size=4)]  # a new run
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(AssertionError, match="read again"):  # other settings: another cache
        load_dataset(cfg.model_copy(update={"timesteps": T + 1})).train[0]


def test_a_changed_recording_or_a_corrupt_cache_entry_is_binned_again(tmp_path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=2, side=8)
    cfg = DataConfig(
        name="events",
        root=root,
        timesteps=T,
        frame_size=8,
        sensor_size=(8, 8),
        event_norm="count",
        test_fraction=0.5,
        cache_dir=tmp_path / "cache",
    )
    dataset = load_dataset(cfg).train
    before = dataset[0][0]
    dataset.cache_entries[0].write_bytes(b"not an npy file")
    assert torch.equal(dataset[0][0], before)

    x, y, t, p = random_events(np.random.default_rng(9), 50, 8, 8)
    write_atis_bin(dataset.files[0], x, y, t, p)
    after = load_dataset(cfg).train[0][0]
    np.testing.assert_array_equal(after.numpy(), expected_counts(x, y, t, p, T, 8, 8))


def test_an_empty_recording_bins_to_zero_frames(tmp_path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=2)
    (root / "class_0" / "image_0000.bin").write_bytes(b"")
    bundle = load_dataset(
        DataConfig(
            name="events", root=root, timesteps=T, test_fraction=0.5, cache_dir=tmp_path / "cache"
        )
    )
    items = items_by_file(bundle)
    assert items["class_0/image_0000.bin"][0].shape == (T, 2, 48, 48)
    assert items["class_0/image_0000.bin"][0].abs().sum() == 0


def test_split_is_stratified_and_fixed_by_the_seed(tmp_path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=3, per_class=5)
    cfg = DataConfig(
        name="events", root=root, timesteps=T, test_fraction=0.4, cache_dir=tmp_path / "cache"
    )
    bundle = load_dataset(cfg)
    assert sorted(bundle.test.labels) == [0, 0, 1, 1, 2, 2]
    assert sorted(bundle.train.labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert set(bundle.train.files).isdisjoint(bundle.test.files)
    assert load_dataset(cfg).test.files == bundle.test.files
    reseeded = [load_dataset(cfg.model_copy(update={"split_seed": s})).test.files for s in range(5)]
    assert any(files != bundle.test.files for files in reseeded)
    capped = load_dataset(cfg.model_copy(update={"max_per_class": 2}))
    assert sorted(capped.train.labels) == [0, 0, 1, 1, 2, 2]
    assert set(capped.train.files) <= set(bundle.train.files)


def test_a_missing_folder_names_the_path_and_where_to_get_the_data(tmp_path) -> None:
    missing = tmp_path / "N-Caltech101"
    with pytest.raises(DataError, match=r"garrickorchard\.com/datasets/n-caltech101") as caught:
        load_dataset(DataConfig(name="events", root=missing, timesteps=T))
    assert f"{missing} not found" in str(caught.value) and f"{missing}/<class>/*.bin" in str(
        caught.value
    )


def test_folders_not_in_the_class_layout_are_refused_naming_the_folder(tmp_path) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "image_0001.bin").write_bytes(b"")
    with pytest.raises(DataError, match="has no class folders"):
        load_dataset(DataConfig(name="events", root=tmp_path / "flat", timesteps=T))
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=2)
    (root / "empty_class").mkdir()
    with pytest.raises(DataError, match=f"{root / 'empty_class'} holds no .bin files"):
        load_dataset(DataConfig(name="events", root=root, timesteps=T))


def test_malformed_recordings_raise_naming_the_file(tmp_path) -> None:
    root = make_event_folder(tmp_path / "ev", classes=2, per_class=2, side=34)
    cfg = DataConfig(
        name="events",
        root=root,
        timesteps=T,
        test_fraction=0.5,
        sensor_size=(20, 20),
        cache_dir=tmp_path / "cache",
    )
    bundle = load_dataset(cfg)
    with pytest.raises(
        DataError, match=f"{bundle.train.files[0]}: events reach .* outside sensor_size 20x20"
    ):
        bundle.train[0]
    truncated = root / "class_1" / "image_0001.bin"
    truncated.write_bytes(truncated.read_bytes()[:-2])
    with pytest.raises(DataError, match=f"{truncated}: .* not a whole number of 5-byte events"):
        load_dataset(cfg)  # every recording's size is checked when the folder is scanned
