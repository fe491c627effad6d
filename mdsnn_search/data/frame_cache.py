"""On-disk cache of binned event frames, so only the first pass over a recording reads its file.

Layout: ``<cache_dir>/events/<settings key>/<recording key>.npy``. The settings key hashes what
shapes the frames (T, frame size, sensor size, this format's version) and the folder keeps a
``settings.json`` saying so; the recording key hashes the file's absolute path, size and
modification time, so an edited or replaced recording is binned again. Frames are stored as
float16 (area-averaged counts to three significant digits: half the disk of float32, and a
training input needs no more). Writes are atomic (temporary file, then rename), so concurrent
trials filling the same cache never read a half-written entry, and each entry carries a checksum
(:mod:`mdsnn_search.checksums`): a damaged entry is binned again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mdsnn_search.checksums import damage
from mdsnn_search.errors import DataError
from mdsnn_search.files import write_atomic, write_text_atomic

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bump when the binning or storage changes, so old entries are never read as new ones."""

CACHE_DTYPE = np.float16


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mdsnn-search``, or ``~/.cache/mdsnn-search``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mdsnn-search"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cache_directory(cache_dir: Path, settings: Mapping[str, object]) -> Path:
    """The folder for frames binned with ``settings``, created with its ``settings.json``."""
    described = json.dumps({"version": CACHE_VERSION, **settings}, sort_keys=True)
    directory = cache_dir / "events" / _digest(described, 16)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "settings.json").exists():
            write_text_atomic(directory / "settings.json", described)
    except OSError as exc:
        raise DataError(f"cache_dir {cache_dir}: cannot write the frame cache ({exc})") from None
    return directory


def cache_entry(directory: Path, recording: Path) -> Path:
    """Where the frames of ``recording`` are cached."""
    try:
        stat = recording.stat()
    except OSError as exc:
        raise DataError(f"{recording}: cannot read ({exc})") from None
    key = _digest(f"{recording.resolve()}|{stat.st_size}|{stat.st_mtime_ns}", 32)
    return directory / f"{key}.npy"


def load_cached(entry: Path, shape: tuple[int, ...]) -> NDArray[np.float16] | None:
    """The cached frames, or None if absent, damaged, unreadable or of another shape (then
    rebuilt)."""
    if not entry.is_file():
        return None
    damaged = damage(entry)
    if damaged is not None:
        logger.warning("%s: damaged cache entry, binning again (%s)", entry, damaged)
        return None
    try:
        frames: NDArray[np.float16] = np.load(entry, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:
        logger.warning("%s: unreadable cache entry, binning again (%s)", entry, exc)
        return None
    return frames if frames.shape == shape and frames.dtype == CACHE_DTYPE else None


def store_cached(entry: Path, frames: NDArray[np.float16]) -> None:
    """Write ``frames`` to ``entry`` atomically, with its checksum."""
    write_atomic(entry, lambda stream: np.save(stream, frames, allow_pickle=False), checksum=True)
