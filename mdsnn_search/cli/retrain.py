"""``mdsnn-search train CONFIG.yaml``: train one model (teacher, student, or an exported trial)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.tables import rich_table

if TYPE_CHECKING:
    from mdsnn_search.job import TrainSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one model from a YAML config",
        description="Train one spiking network (a teacher, a quantized student, or a trial "
        "exported from a study) and print its accuracy (test split, in percent), its EDAP on "
        "the config's crossbar (hardware.preset) and its spiking activity.",
    )
    parser.add_argument(
        "config", type=Path, help="train config (YAML): data, model, training, [teacher, distill]"
    )
    parser.add_argument(
        "--output", type=Path, help="checkpoint path (overrides the config's output)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing output file that is not a checkpoint of ours (never a file "
        "a study reads back, such as a cached teacher)",
    )
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of tables"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mdsnn_search.files import load_config
    from mdsnn_search.job import TrainSpec, network_cost, run_job

    spec = with_overrides(load_config(TrainSpec, args.config), args.output, args.epochs)
    check_before_training(spec, args.config, output_given=args.output is not None, force=args.force)
    result = run_job(spec, progress=not args.json)
    metrics = dict(result.metrics)
    cost = network_cost(
        result.model, spec.model.precision, spec.hardware, spec.data.timesteps, metrics
    )
    metrics.update(cost)
    metrics["checkpoint"] = str(result.checkpoint) if result.checkpoint else None
    metrics["precision"] = result.model.precision_labels()
    if args.json:
        print_json(metrics)
    else:
        _print_tables(spec.name, metrics, spec.hardware.preset)
    return 0


def with_overrides(spec: TrainSpec, output: Path | None, epochs: int | None) -> TrainSpec:
    """``spec`` with the command line's output and epochs, validated again."""
    from mdsnn_search.files import validate_mapping
    from mdsnn_search.job import TrainSpec

    updates: dict[str, Any] = {}
    if output is not None:
        updates["output"] = str(output)
    if epochs is not None:
        updates["training"] = {**spec.training.model_dump(), "epochs": epochs}
    if not updates:
        return spec
    return validate_mapping(TrainSpec, {**spec.model_dump(mode="json"), **updates}, "command line")


def check_before_training(
    spec: TrainSpec, config: Path | None, *, output_given: bool, force: bool
) -> None:
    """Refuse, before any training, an output that would destroy a file or cannot be written, and a
    device this machine lacks."""
    from mdsnn_search.checkpoint import CHECKPOINT
    from mdsnn_search.checksums import is_study_file
    from mdsnn_search.errors import ConfigError
    from mdsnn_search.outputs import check_output_file
    from mdsnn_search.training_loop import resolve_device

    source = config if config is not None else "train config"
    where = "--output" if output_given else f"{source}: output"
    output = spec.output_path()
    if config is not None and output.resolve() == config.resolve():
        raise ConfigError(f"{where} {output}: is the config file being read; choose another path")
    if is_study_file(output) or (spec.teacher and output.resolve() == spec.teacher.resolve()):
        raise ConfigError(
            f"{where} {output}: is a file studies read back (a cached teacher, its outputs, a "
            "supernet) or this config's teacher; it is never overwritten, --force or not; "
            "choose another path"
        )
    check_output_file(
        output, CHECKPOINT, where=where, force=force, create_folder=spec.output is None
    )
    try:
        resolve_device(spec.training.device)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _print_tables(name: str, metrics: dict[str, Any], preset: str) -> None:
    from mdsnn_search.metrics import TEST_ACCURACY, VAL_ACCURACY
    from mdsnn_search.tables import percent

    summary: list[tuple[str, Any]] = [("test accuracy", percent(metrics[TEST_ACCURACY]))]
    if VAL_ACCURACY in metrics:
        summary.append(("validation accuracy", percent(metrics[VAL_ACCURACY])))
    summary += [
        (f"EDAP on {preset} (J s mm2)", metrics["edap"]),
        ("energy (pJ)", metrics["energy_pj"]),
        ("latency (ns)", metrics["latency_ns"]),
        ("spikes per sample", metrics["spikes_per_sample"]),
        ("test loss", metrics["loss"]),
        ("final train loss", metrics["train_loss"]),
        ("checkpoint", metrics["checkpoint"]),
    ]
    console.print(
        rich_table(f"{name}: results", ["metric", "value"], summary, text_columns={"value"})
    )
    firing = metrics["layer_firing_rates"]
    inputs = metrics["layer_input_rates"]
    mismatch = metrics.get("membrane_mismatch") or {}
    rows = [
        (layer, label, inputs.get(layer), firing.get(layer), mismatch.get(layer))
        for layer, label in metrics["precision"].items()
    ]
    console.print(
        rich_table(
            "per layer",
            ["layer", "precision", "input rate", "firing rate", "membrane MSE vs teacher"],
            rows,
            text_columns={"precision"},
        )
    )
