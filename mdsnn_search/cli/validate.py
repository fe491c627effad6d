"""``mdsnn-search validate SPEC``: check a study spec without touching any storage."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsnn_search.cli.render import console, print_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a study spec",
        description="Check a study spec: schema, layer names against the architecture, hardware "
        "preset, data folder, teacher checkpoint, and the per-trial CPU/GPU request against this "
        "machine (or that execution.address answers). Creates and touches no database.",
    )
    parser.add_argument("spec", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mdsnn_search.execution.resources import local_node, probe_address, trial_resources
    from mdsnn_search.search.run import check_spec, space_warnings
    from mdsnn_search.spec.schema import load_spec
    from mdsnn_search.study.storage_url import masked
    from mdsnn_search.tables import counted

    spec = load_spec(args.spec)
    roles = check_spec(spec, args.spec)
    warnings = space_warnings(spec, roles)
    execution = spec.execution
    if execution.address is None:
        resources = trial_resources(execution, [local_node()], "this machine")
        per_trial = f"{resources.cpus:g} CPUs and {resources.gpus:g} GPUs per trial"
    else:
        probe_address(execution.address, field="execution.address")
        per_trial = (
            f"resources are checked against the cluster at {execution.address} "
            "when the run joins it"
        )
    summary = {
        "spec": str(args.spec),
        "study": spec.study.name,
        "storage": masked(spec.study.storage_url()),
        "objectives": dict(zip(spec.study.objectives, spec.study.directions, strict=True)),
        "sampler": spec.study.sampler,
        "n_trials": spec.study.n_trials,
        "layers": roles.layers,
        "spiking_layers": roles.spiking,
        "trial_resources": per_trial,
        "warnings": warnings,
    }
    if args.json:
        print_json(summary)
    else:
        console.print(
            f"{args.spec}: valid. Study {spec.study.name!r} in {summary['storage']}, "
            f"{counted(spec.study.n_trials, 'trial')}, sampler {spec.study.sampler}, "
            f"objectives {summary['objectives']}; "
            f"{counted(len(roles.layers), 'weight layer')}, {len(roles.spiking)} spiking; "
            f"{per_trial}."
        )
        for line in warnings:
            console.print(f"warning: {line}")
    return 0
