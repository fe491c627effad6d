"""A local Ray's processes never outlive the run that started them.

A run that starts its own Ray gives it a fresh temp dir ``<tmp>/mdsnn-ray-<pid>-<random>`` holding
an ``owner.json`` with the run's PID and start time. Ray's head processes name that dir on their
command line, and every Ray process (workers rename themselves ``ray::...``) inherits the
environment variable :data:`ENV_MARKER` naming it, so :func:`processes_of` finds them all, and
only them, by PID. The run stops them when it ends; a run killed with SIGKILL cannot, so every
later run first stops the processes of each dir whose owner is gone (:func:`stop_orphans`) and
removes the dir.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from mdsnn_search.files import write_text_atomic

logger = logging.getLogger(__name__)

PREFIX = "mdsnn-ray-"
OWNER_FILE = "owner.json"
ENV_MARKER = "MDSNN_SEARCH_RAY_DIR"
_GRACE_S = 10.0


def claim_temp_dir() -> Path:
    """A new temp dir for this process's Ray, recorded as owned by it, and named in the
    environment Ray's processes will inherit.

    Short and under the system temp dir: Ray keeps Unix sockets there, and socket paths are
    limited to about 100 characters.
    """
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=tempfile.gettempdir()))
    write_text_atomic(
        path / OWNER_FILE, json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid())})
    )
    os.environ[ENV_MARKER] = str(path)
    return path


def release(temp_dir: Path) -> None:
    """Stop whatever of this Ray is still running and remove its temp dir."""
    stop_processes(temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)
    if os.environ.get(ENV_MARKER) == str(temp_dir):
        del os.environ[ENV_MARKER]


def stop_orphans() -> list[int]:
    """Stop the Ray processes of runs that died without stopping them; returns their PIDs."""
    stopped: list[int] = []
    for temp_dir in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if temp_dir.is_dir() and not _owner_alive(temp_dir):
            stopped += stop_processes(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)
    if stopped:
        logger.warning(
            "stopped %d Ray process(es) left running by a run that was killed", len(stopped)
        )
    return stopped


def processes_of(temp_dir: Path) -> list[int]:
    """PIDs of the running processes of the Ray in ``temp_dir`` (this process excluded)."""
    in_cmdline = str(temp_dir).encode()
    in_environ = f"{ENV_MARKER}={temp_dir}".encode() + b"\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (
                in_cmdline in (proc / "cmdline").read_bytes()
                or in_environ in (proc / "environ").read_bytes() + b"\0"
            ):
                if _alive(int(proc.name)):
                    found.append(int(proc.name))
    return found


def stop_processes(temp_dir: Path) -> list[int]:
    """SIGTERM the processes of ``temp_dir``, then SIGKILL those still there after a grace
    period."""
    pids = processes_of(temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + _GRACE_S
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
        if not any(_alive(pid) for pid in pids):
            break
    return pids


def _owner_alive(temp_dir: Path) -> bool:
    try:
        owner = json.loads((temp_dir / OWNER_FILE).read_text())
        pid, start = int(owner["pid"]), owner["start"]
    except (OSError, ValueError, KeyError, TypeError):
        # No readable owner: being written right now gets the benefit of the doubt for a minute.
        try:
            return time.time() - temp_dir.stat().st_mtime < 60
        except OSError:
            return True  # already removed: nothing left to stop
    return _alive(pid) and _start_time(pid) == start


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the PID, it names one process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
