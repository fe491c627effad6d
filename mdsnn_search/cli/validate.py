"""``mdsnn-search validate SPEC``: check a study spec without touching any storage."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsnn_search.cli.render import console, print_json


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "validate",
        help="check a study spec",
        description="Check a study spec: schema, layer names against the architecture, hardware preset, "
        "data folder and teacher checkpoint. Creates and touches no database.",
    )
    parser.add_argument("spec", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mdsnn_search.search.run import check_spec
    from mdsnn_search.search.spec import load_spec

    spec = load_spec(args.spec)
    roles = check_spec(spec, args.spec)
    summary = {
        "spec": str(args.spec),
        "study": spec.study.name,
        "storage": spec.study.storage_url(),
        "objectives": dict(zip(spec.study.objectives, spec.study.directions, strict=True)),
        "sampler": spec.study.sampler,
        "n_trials": spec.study.n_trials,
        "layers": roles.layers,
        "spiking_layers": roles.spiking,
    }
    if args.json:
        print_json(summary)
    else:
        console.print(f"{args.spec}: valid. Study {spec.study.name!r} in {summary['storage']}, "
                      f"{spec.study.n_trials} trials, sampler {spec.study.sampler}, objectives {summary['objectives']}; "
                      f"{len(roles.layers)} weight layers, {len(roles.spiking)} spiking.")
    return 0
