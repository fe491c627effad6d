"""Seconds per teacher epoch on digits: trained in a plain process, and inside a local Ray.

``mdsnn-search run`` used to train the teacher after it had started its local Ray, so the
teacher's training shared the machine with Ray's freshly started head and idle worker processes.
This times the digits spec's teacher (search_spaces/digits.yaml, its epochs cut by ``--epochs``)
in three settings, interleaved in rounds in this process (so changing machine load hits all):

- ``inline``: no Ray;
- ``ray just started``: right after ``ray.init`` (where ``run`` trained it before the fix);
- ``ray settled``: the same, once Ray's worker processes have started and gone idle.

The teacher is not cached: the job saves into a temp dir.

    python benchmarks/bench_teacher_epoch.py --epochs 1 --rounds 2
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from mdsnn_search.data import load_search_dataset
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.spec.schema import load_spec


def time_teacher(spec_path: Path, epochs: int, output: Path) -> float:
    """Seconds per epoch of the spec's teacher trained for ``epochs`` epochs (data loaded first)."""
    spec = load_spec(spec_path)
    bundle = load_search_dataset(spec.data)
    training = spec.teacher.training.model_copy(update={"epochs": epochs})
    job = TrainSpec(
        name="teacher", data=spec.data, model=spec.model, training=training, output=output
    )
    start = time.perf_counter()
    run_job(job, bundle=bundle, progress=False)
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("search_spaces/digits.yaml"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="inline/ray pairs, interleaved")
    parser.add_argument("--settle-s", type=float, default=15.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "teacher.pt"
        for round_ in range(1, args.rounds + 1):
            inline = time_teacher(args.spec, args.epochs, output)
            print(f"round {round_} inline: {inline:.2f} s/epoch", flush=True)
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            try:
                started = time_teacher(args.spec, args.epochs, output)
                print(f"round {round_} ray just started: {started:.2f} s/epoch", flush=True)
                time.sleep(args.settle_s)
                settled = time_teacher(args.spec, args.epochs, output)
                print(f"round {round_} ray settled: {settled:.2f} s/epoch", flush=True)
            finally:
                ray.shutdown()
        print(f"torch threads {torch.get_num_threads()}", flush=True)


if __name__ == "__main__":
    main()
