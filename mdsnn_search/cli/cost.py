"""``mdsnn-search cost``: score one configuration on a crossbar preset.

The layer table comes from the model builder (``--arch vgg9 --input 2x48x48 --classes 101
[--width 0.5]``, or a network of your own, ``--factory package.module:function --input ...
--classes ...``; both need torch, imported only then) or from a file (``--layers FILE``).
Precision is uniform (``--weight-bits/--membrane-bits/--bn-bits``) or per layer (``--precision
FILE``); pruning uniform over the spiking layers (``--keep-ratio R``) or per layer (``--keep
FILE``). ``--sensitivity`` prints how much each knob, stepped down on its own, moves energy,
latency, area and EDAP.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import (
    DEFAULT_PRESET,
    ConfigBatch,
    CostReport,
    LayerSpec,
    estimate_cost,
    load_preset,
    preset_names,
    read_activity,
    read_keep_fraction,
    read_layer_table,
    read_precision,
    sensitivity,
)
from mdsnn_search.hardware.messages import validation_message
from mdsnn_search.hardware.preset import MAX_ADC_BITS, with_adc_bits
from mdsnn_search.outputs import check_figure_file
from mdsnn_search.precision import FULL_PRECISION_BITS, LayerPrecision

TABLE_EXTRAS = ("tiles", "pes", "timesteps")
"""What the totals table shows beside the totals, so ``--sensitivity --json`` carries it too."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cost",
        help="energy, latency, area and EDAP of a network on a crossbar preset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", help="architecture name of the model builder (e.g. vgg9)")
    source.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="function(input_shape, num_classes) returning your own full-precision network",
    )
    source.add_argument("--layers", type=Path, metavar="FILE", help="layer table (YAML or JSON)")
    parser.add_argument("--input", metavar="CxHxW", help="input shape for --arch, e.g. 2x48x48")
    parser.add_argument("--classes", type=int, metavar="N", help="number of classes for --arch")
    parser.add_argument(
        "--width", type=float, metavar="W", help="channel-width multiplier for --arch (default 1)"
    )
    parser.add_argument(
        "--hardware",
        default=DEFAULT_PRESET,
        metavar="PRESET",
        help=f"preset name ({', '.join(preset_names())}) or file (default: {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--adc-bits",
        type=int,
        metavar="B",
        help=f"override the preset's ADC resolution (1-{MAX_ADC_BITS}; the PE cycle follows)",
    )
    parser.add_argument("--timesteps", "-T", type=int, required=True, metavar="T", help="timesteps")
    bits = parser.add_argument_group("precision (uniform flags, or one file)")
    bits.add_argument(
        "--weight-bits", type=int, metavar="B", help="weight bits of every layer (default 32)"
    )
    bits.add_argument(
        "--membrane-bits", type=int, metavar="B", help="membrane bits of every layer (default 32)"
    )
    bits.add_argument(
        "--bn-bits", type=int, metavar="B", help="batch-norm bits of every layer (default 32)"
    )
    bits.add_argument(
        "--precision", type=Path, metavar="FILE", help="per-layer precision (PrecisionConfig YAML)"
    )
    parser.add_argument(
        "--activity", type=Path, metavar="FILE", help="measured spike rates per layer"
    )
    pruning = parser.add_mutually_exclusive_group()
    pruning.add_argument(
        "--keep", type=Path, metavar="FILE", help="kept output-channel fraction per layer"
    )
    pruning.add_argument(
        "--keep-ratio",
        type=float,
        metavar="R",
        help="fraction of output channels every spiking layer keeps",
    )
    parser.add_argument(
        "--output-side",
        choices=("conv", "pooled"),
        help="override the preset's output-side convention",
    )
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help="print each knob's effect on energy, latency, area and EDAP",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="also save the breakdown as a figure (.png/.svg/.pdf)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="let --plot overwrite a file mdsnn-search did not write",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_figure_file(args.plot, where="--plot", force=args.force)
    layers = _layer_table(args)
    names = [layer.name for layer in layers]
    preset = load_preset(args.hardware)
    if args.output_side is not None:
        preset = preset.with_overrides(conventions={"output_side": args.output_side})
    if args.adc_bits is not None:
        if not 1 <= args.adc_bits <= MAX_ADC_BITS:
            raise ConfigError(
                f"--adc-bits must be an integer in [1, {MAX_ADC_BITS}], but got {args.adc_bits}"
            )
        preset = with_adc_bits(preset, args.adc_bits)
    config = {
        "timesteps": args.timesteps,
        "precision": _precision(args, names),
        "keep_fraction": _keep_fraction(args, layers),
        "activity": read_activity(args.activity, names) if args.activity else None,
    }
    report = estimate_cost(
        layers, preset, **config
    )  # checks every input before the sensitivity uses it
    # Written first, so that every mode (--sensitivity, --json) says where it went.
    figure = _plot(report, args.plot) if args.plot is not None else None
    if args.sensitivity:
        rows = sensitivity(layers, preset, ConfigBatch.of(layers, **config))
        if args.json:
            totals = {**report.totals(), **{k: getattr(report, k) for k in TABLE_EXTRAS}}
            document = {"totals": totals, "sensitivity": [asdict(row) for row in rows]}
            print_json({**document, **({"plot": figure} if figure else {})})
        else:
            from mdsnn_search.hardware.render import render_sensitivity

            render_sensitivity(report, rows)
    elif args.json:
        print_json({**report.to_dict(), **({"plot": figure} if figure else {})})
    else:
        from mdsnn_search.hardware.render import render

        render(report)
    if figure is not None and not args.json:
        console.print(f"plot: {figure}")
    return 0


def _plot(report: CostReport, path: Path) -> str:
    """The breakdown figure at ``path``; its absolute path, for the user to find it."""
    from mdsnn_search.hardware.plot import plot_breakdown

    return str(plot_breakdown(report, path).resolve())


def _layer_table(args: argparse.Namespace) -> list[LayerSpec]:
    if args.layers is not None:
        for flag in ("input", "classes", "width"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag} goes with --arch, not with --layers")
        return read_layer_table(args.layers)
    flag = "--arch" if args.arch is not None else "--factory"
    if args.input is None or args.classes is None:
        raise ConfigError(f"{flag} needs --input CxHxW and --classes N")
    if args.factory is not None and args.width is not None:
        raise ConfigError("--width goes with --arch; a factory's network has its own width")
    if args.classes < 1:
        raise ConfigError(f"--classes must be >= 1, but got {args.classes}")
    width = 1.0 if args.width is None else args.width
    if not (math.isfinite(width) and width > 0):
        raise ConfigError(f"--width must be a positive number, but got {args.width}")
    match = re.fullmatch(r"(\d+)x(\d+)x(\d+)", args.input.strip().lower())
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise ConfigError(
            "--input must look like CxHxW with positive sides (e.g. 2x48x48), "
            f"but got {args.input!r}"
        )
    shape = (int(match[1]), int(match[2]), int(match[3]))
    try:
        from mdsnn_search.snn.config import ModelConfig
        from mdsnn_search.snn.models import model_layer_table  # torch: imported only on this path
    except ImportError as exc:
        raise ConfigError(
            f"{flag} needs the SNN model builders ({exc}); use --layers FILE instead"
        ) from None
    try:
        config = ModelConfig(arch=args.arch, factory=args.factory, width=width)
    except ValidationError:
        raise ConfigError(
            f"--factory must look like package.module:function, but got {args.factory!r}"
        ) from None
    try:
        return model_layer_table(config, shape, args.classes)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("model.factory:", "--factory:", 1)) from None


def _keep_fraction(args: argparse.Namespace, layers: list[LayerSpec]) -> dict[str, float] | None:
    if args.keep is not None:
        return read_keep_fraction(args.keep, [layer.name for layer in layers])
    if args.keep_ratio is None:
        return None
    if not 0.0 < args.keep_ratio <= 1.0:
        raise ConfigError(f"--keep-ratio must lie in (0, 1], but got {args.keep_ratio}")
    # The classifier (a layer that feeds no neuron) keeps its outputs: they are the classes.
    return {layer.name: args.keep_ratio for layer in layers if layer.spiking}


def _precision(args: argparse.Namespace, names: list[str]) -> dict[str, LayerPrecision] | None:
    uniform = {"w_bits": args.weight_bits, "u_bits": args.membrane_bits, "bn_bits": args.bn_bits}
    if args.precision is not None:
        if any(value is not None for value in uniform.values()):
            raise ConfigError(
                "give either --precision FILE or the uniform --*-bits flags, not both"
            )
        return read_precision(args.precision, names)
    if all(value is None for value in uniform.values()):
        return None
    flags = {"w_bits": "--weight-bits", "u_bits": "--membrane-bits", "bn_bits": "--bn-bits"}
    try:
        precision = LayerPrecision(
            **{
                key: FULL_PRECISION_BITS if value is None else value
                for key, value in uniform.items()
            }
        )
    except ValidationError as exc:
        message = validation_message(exc)
        for key, flag in flags.items():
            message = message.replace(key, flag)
        raise ConfigError(message) from None
    return dict.fromkeys(names, precision)
