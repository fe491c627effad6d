"""A per-trial request the machine or cluster cannot hold is refused before anything is stored."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from study_runs import mdsnn_search

from mdsnn_search.errors import ConfigError
from mdsnn_search.execution import local_ray
from mdsnn_search.execution.resources import (
    NodeResources,
    auto_gpus,
    local_node,
    probe_address,
    trial_resources,
)
from mdsnn_search.spec.schema import ExecutionConfig

CPU_ONLY = [NodeResources(cpus=2, gpus=0)]
REFUSED_WITHIN_S = 60


def test_a_request_that_fits_is_resolved() -> None:
    execution = ExecutionConfig(cpus_per_trial=2, gpus_per_trial="auto", max_concurrent=4)
    assert trial_resources(execution, CPU_ONLY, "here").gpus == 0
    assert (
        trial_resources(execution, [NodeResources(8, 1)], "here").gpus == 0.25
    )  # four trials share the GPU


@pytest.mark.parametrize(
    ("max_concurrent", "gpus", "share"),
    [(4, 1, 0.25), (3, 1, 0.3333), (1, 2, 1.0), (2, 4, 1.0), (3, 0, 0.0)],
)
def test_auto_shares_the_largest_node_gpus(max_concurrent: int, gpus: float, share: float) -> None:
    assert auto_gpus(max_concurrent, [NodeResources(4, 0), NodeResources(4, gpus)]) == share


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            {"cpus_per_trial": 64},
            "execution.cpus_per_trial: a trial asks for 64 CPUs, but here has 2 CPUs and 0 GPUs",
        ),
        (
            {"gpus_per_trial": 0.5},
            "execution.gpus_per_trial: a trial asks for 0.5 GPUs, but here has 2 CPUs and 0 GPUs",
        ),
    ],
)
def test_an_impossible_request_names_the_field_and_what_there_is(
    request_: dict[str, float], field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        trial_resources(ExecutionConfig(**request_), CPU_ONLY, "here")


def test_cpus_and_gpus_must_fit_on_one_node() -> None:
    nodes = [NodeResources(cpus=8, gpus=0), NodeResources(cpus=1, gpus=1)]
    with pytest.raises(
        ConfigError,
        match="4 CPUs and 1 GPUs on one node, "
        "but the cluster has 2 nodes, at most 8 CPUs and 1 GPUs on one",
    ):
        trial_resources(ExecutionConfig(cpus_per_trial=4, gpus_per_trial=1), nodes, "the cluster")


def test_more_than_one_gpu_is_whole_gpus() -> None:
    with pytest.raises(ValueError, match="whole GPUs"):
        ExecutionConfig(gpus_per_trial=1.5)


def impossible_gpus() -> float:
    """One GPU more than this machine has: impossible anywhere this test runs."""
    return float(local_node().gpus + 1)


def refused(args: list[str], cwd: Path) -> tuple[str, int]:
    """Run ``mdsnn-search ARGS``; it must exit 2 within the bound; its one-line error and PID."""
    started = time.monotonic()
    run = mdsnn_search(*args, cwd=cwd)
    _, err = run.communicate(timeout=REFUSED_WITHIN_S)
    assert run.returncode == 2, err[-3000:]
    assert time.monotonic() - started < REFUSED_WITHIN_S
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err, run.pid


def nothing_stored(tmp_path: Path) -> bool:
    return not (tmp_path / "tiny.db").exists() and not (tmp_path / "studies").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_inline_run_asking_for_more_cpus_than_the_machine_has(
    command: str, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(execution={"cpus_per_trial": 4096})
    err, _ = refused([command, str(spec)], tmp_path)
    assert "execution.cpus_per_trial: a trial asks for 4096 CPUs, but this machine has" in err
    assert nothing_stored(tmp_path)


def test_a_dead_address_is_refused_quickly(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(execution={"backend": "ray"})
    err, _ = refused(["run", str(spec), "--address", f"127.0.0.1:{port}"], tmp_path)
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers at 127.0.0.1:{port}" in err
    assert nothing_stored(tmp_path)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"cpus_per_trial": 4096}, "execution.cpus_per_trial"),
        ({"gpus_per_trial": "impossible"}, "execution.gpus_per_trial"),
    ],
)
def test_a_local_ray_that_cannot_hold_a_trial_refuses_before_storing(
    request_: dict[str, object], field: str, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    if request_.get("gpus_per_trial") == "impossible":
        request_ = {"gpus_per_trial": impossible_gpus()}
    spec = write_spec(execution={"backend": "ray", **request_})
    err, pid = refused(["run", str(spec)], tmp_path)
    assert f"{field}: a trial asks for" in err and "but the local Ray has" in err
    assert nothing_stored(tmp_path)
    # The Ray it started to ask is gone again, temp dir and all.
    assert not list(Path(tempfile.gettempdir()).glob(f"{local_ray.PREFIX}{pid}-*"))


@pytest.mark.parametrize("speaks", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_a_listener_that_is_not_ray_is_refused_quickly(
    speaks: bytes, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """A plain TCP listener (silent, or answering as HTTP/1.1) is not a Ray cluster: one line."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        accepted: list[socket.socket] = []

        def serve() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                accepted.append(connection)
                if speaks:
                    connection.sendall(speaks)

        threading.Thread(target=serve, daemon=True).start()
        spec = write_spec(execution={"backend": "ray"})
        err, _ = refused(["run", str(spec), "--address", f"127.0.0.1:{port}"], tmp_path)
        for connection in accepted:
            connection.close()
    assert f"--address 127.0.0.1:{port}: something listens at 127.0.0.1:{port}" in err
    assert "it is not a Ray cluster" in err and nothing_stored(tmp_path)


def test_a_grpc_server_passes_the_probe() -> None:
    """What Ray's GCS and client server are: a gRPC server answers the HTTP/2 preface."""
    grpc = pytest.importorskip("grpc")
    from concurrent.futures import ThreadPoolExecutor

    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        probe_address(f"127.0.0.1:{port}")
        probe_address(f"ray://127.0.0.1:{port}")
    finally:
        server.stop(None)
