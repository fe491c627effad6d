"""What a trial asks for against what the machine or cluster has, checked before anything is stored.

Ray keeps a trial PENDING for as long as no node can hold its request, so an impossible request
(a GPU share on a machine without a GPU, more CPUs than any node has) would wait forever. The
request is compared with every node's resources first and refused with the field that asks too
much and what the cluster has. ``gpus_per_trial: auto`` becomes a share of a GPU where a node has
one (the GPUs of the largest node split among ``max_concurrent`` trials, at most one each), else 0.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass

from mdsnn_search.errors import ConfigError
from mdsnn_search.spec.schema import ExecutionConfig

CONNECT_TIMEOUT_S = 10.0
"""How long joining a Ray cluster may take to answer before the run is refused."""

HANDSHAKE_TIMEOUT_S = 2.0
"""How long a listener at the address may take to answer as a gRPC (HTTP/2) server does."""

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""A client's HTTP/2 connection preface and an empty SETTINGS frame (RFC 9113 section 3.4)."""
HTTP2_SETTINGS = 4

DEFAULT_RAY_PORT = 6379
RAY_CLIENT_PORT = 10001


@dataclass(frozen=True)
class NodeResources:
    cpus: float
    gpus: float


@dataclass(frozen=True)
class TrialResources:
    """One trial's resolved request (``gpus_per_trial: auto`` made a number)."""

    cpus: float
    gpus: float


def trial_resources(
    execution: ExecutionConfig, nodes: list[NodeResources], where: str
) -> TrialResources:
    """The request of every trial, refused (ConfigError naming the field) when no node can hold
    it."""
    if not nodes:
        raise ConfigError(f"execution: {where} has no live node to run trials on")
    cpus = execution.cpus_per_trial
    gpus = (
        auto_gpus(execution.max_concurrent, nodes)
        if execution.gpus_per_trial == "auto"
        else execution.gpus_per_trial
    )
    has = f"{where} has {_describe(nodes)}"
    if not any(n.cpus >= cpus for n in nodes):
        raise ConfigError(f"execution.cpus_per_trial: a trial asks for {cpus:g} CPUs, but {has}")
    if gpus > 0 and not any(n.gpus >= gpus for n in nodes):
        raise ConfigError(f"execution.gpus_per_trial: a trial asks for {gpus:g} GPUs, but {has}")
    if not any(n.cpus >= cpus and n.gpus >= gpus for n in nodes):
        raise ConfigError(
            f"execution: a trial asks for {cpus:g} CPUs and {gpus:g} GPUs on one node, but {has}"
        )
    return TrialResources(cpus, gpus)


def auto_gpus(max_concurrent: int, nodes: list[NodeResources]) -> float:
    """A share of the largest node's GPUs for each of ``max_concurrent`` trials (at most 1), else 0.

    Rounded down to Ray's resource precision (1e-4) so the shares always fit.
    """
    largest = max(n.gpus for n in nodes)
    if largest <= 0:
        return 0.0
    share = min(1.0, largest / max_concurrent)
    return math.floor(share * 10_000) / 10_000


def local_node() -> NodeResources:
    """This machine, as the inline executor sees it (the CPUs this process may use, CUDA GPUs)."""
    import torch

    cpus = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    return NodeResources(float(cpus), float(torch.cuda.device_count()))


def probe_address(
    address: str, *, field: str = "--address", timeout_s: float = CONNECT_TIMEOUT_S
) -> None:
    """Refuse a cluster address where nothing answers within ``timeout_s``, or where what
    answers is not a gRPC server (Ray would retry for minutes, or hang on a listener that never
    speaks its protocol); ``field`` names where the address came from.

    Ray's GCS and its client server both speak gRPC, which is HTTP/2: sent a client's connection
    preface, they answer with a SETTINGS frame. ``auto`` (find a cluster on this machine) is left
    to Ray, which fails fast when there is none.
    """
    if address == "auto":
        return
    host, port = _host_port(address, field)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.settimeout(HANDSHAKE_TIMEOUT_S)
            answer = _http2_answer(connection)
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConfigError(
            f"{field} {address}: no Ray cluster answers at {host}:{port} within {timeout_s:g} s "
            f"({reason})"
        ) from None
    if answer is None:
        raise ConfigError(
            f"{field} {address}: something listens at {host}:{port}, but it is not a Ray "
            f"cluster (no gRPC answer within {HANDSHAKE_TIMEOUT_S:g} s)"
        )


def _http2_answer(connection: socket.socket) -> bytes | None:
    """The server's first HTTP/2 frame header if it answers the preface with SETTINGS, else None
    (silence, a close, or another protocol)."""
    try:
        connection.sendall(HTTP2_PREFACE)
        header = b""
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                return None
            header += chunk
    except (TimeoutError, ConnectionError):
        return None
    return header if header[3] == HTTP2_SETTINGS else None


def _host_port(address: str, field: str) -> tuple[str, int]:
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, RAY_CLIENT_PORT if client else DEFAULT_RAY_PORT
    if not port.isdigit() or not host:
        raise ConfigError(
            f"{field} {address}: expected HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto"
        )
    return host.strip("[]"), int(port)


def _describe(nodes: list[NodeResources]) -> str:
    if len(nodes) == 1:
        return f"{nodes[0].cpus:g} CPUs and {nodes[0].gpus:g} GPUs"
    biggest_cpu = max(n.cpus for n in nodes)
    biggest_gpu = max(n.gpus for n in nodes)
    return f"{len(nodes)} nodes, at most {biggest_cpu:g} CPUs and {biggest_gpu:g} GPUs on one"
