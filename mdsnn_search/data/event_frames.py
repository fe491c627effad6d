"""Event recordings to frames: read an N-MNIST/N-Caltech101 ``.bin`` file, bin it into T frames.

The ``.bin`` format (ATIS, Orchard et al. 2015) stores 5 bytes per event: x, y, then one bit of
polarity and a 23-bit microsecond timestamp; tonic's ``read_mnist_file`` decodes it. Binning is
tonic's ``ToFrame(n_time_bins=T)``: T equal time slices of the recording, counts per pixel and
polarity. Frames are then area-resized to a square and optionally normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from tonic.io import read_mnist_file
from tonic.transforms import ToFrame
from torch import Tensor

from mdsnn_search.data.config import DOWNLOAD_PAGES, EventNorm
from mdsnn_search.errors import DataError

EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
"""Structured event record (tonic's N-MNIST/N-Caltech101 dtype): pixel, microseconds, polarity."""

BYTES_PER_EVENT = 5
POLARITIES = 2

MAX_BACKWARD_FRACTION = 0.01
"""Share of consecutive events allowed to step back in time. A recording is written in time order;
a stray late event is sorted in, but other bytes decoded as events step back about half the time."""


def check_event_file_size(path: Path) -> None:
    """DataError unless ``path`` holds a whole number of events (a truncated copy does not)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if size % BYTES_PER_EVENT:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of {BYTES_PER_EVENT}-byte events, so it "
            f"is not an N-MNIST/N-Caltech101 .bin file (see {DOWNLOAD_PAGES['events']})"
        )


def read_events(path: Path) -> NDArray[np.void]:
    """The events of one ``.bin`` file in time order; DataError if it cannot be one."""
    check_event_file_size(path)
    events: NDArray[np.void] = read_mnist_file(str(path), dtype=EVENT_DTYPE)
    times = events["t"]
    backward = int(np.count_nonzero(times[1:] < times[:-1]))
    if backward > MAX_BACKWARD_FRACTION * max(len(times) - 1, 1):
        raise DataError(
            f"{path}: {backward} of {len(times) - 1} decoded events step back in time, so it is "
            "not an N-MNIST/N-Caltech101 recording (those are written in time order; see "
            f"{DOWNLOAD_PAGES['events']})"
        )
    if backward:  # ToFrame slices by searchsorted on t
        events = events[np.argsort(times, kind="stable")]
    return events


def bin_events(
    events: NDArray[np.void], timesteps: int, sensor_size: tuple[int, int] | None, path: Path
) -> NDArray[np.int16]:
    """Event counts ``[T, 2, H, W]`` per time bin, polarity and pixel.

    With ``sensor_size`` (width, height) unset, the frame is the recording's own extent: events
    are shifted so the leftmost/topmost lie at 0 (as tonic's NCALTECH101 does). With it set,
    events must lie on that sensor; ``path`` names the file in the error otherwise. Bins are
    ``(t_last - t_first) // T`` microseconds wide (tonic's slicing), so a recording shorter than
    T microseconds bins to zeros and the last few microseconds of any recording are dropped.
    """
    events = events.copy()
    x, y = events["x"], events["y"]  # views into the copy
    if sensor_size is None:
        if len(events) == 0:
            width = height = 1
        else:
            x -= x.min()
            y -= y.min()
            width, height = int(x.max()) + 1, int(y.max()) + 1
    else:
        width, height = sensor_size
        if len(events) and (x.max() >= width or y.max() >= height):
            raise DataError(
                f"{path}: events reach x={x.max()}, y={y.max()}, outside sensor_size "
                f"{width}x{height}; set sensor_size to the recording sensor or leave it unset"
            )
    if len(events) == 0:
        return np.zeros((timesteps, POLARITIES, height, width), dtype=np.int16)
    frames: NDArray[np.int16] = ToFrame(
        sensor_size=(width, height, POLARITIES), n_time_bins=timesteps
    )(events)
    return frames


def resize_frames(frames: Tensor, size: int) -> Tensor:
    """Area-average ``[T, P, H, W]`` onto ``size x size``.

    A plain resize, not crop: the whole field of view stays in (N-Caltech101 objects fill much of
    the frame) at the cost of stretching 4:3 recordings, as SpQuant's 48x48 input does. Area
    averaging keeps every event's contribution when shrinking.
    """
    if frames.shape[-2:] == (size, size):
        return frames
    return F.interpolate(frames, size=(size, size), mode="area")


def normalise_frames(frames: Tensor, method: EventNorm) -> Tensor:
    """Rescale event counts. ``log1p`` (the default) tames hot pixels and busy saccades without
    letting one outlier pixel flatten the rest, which dividing by the ``max`` does."""
    if method == "count":
        return frames
    if method == "binary":
        return (frames > 0).to(torch.float32)
    if method == "log1p":
        return torch.log1p(frames)
    peak = frames.max()
    return frames / peak if peak > 0 else frames
