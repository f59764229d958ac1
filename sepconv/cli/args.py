"""Argument groups more than one command shares, defined once so their flags, defaults and help never drift apart.

Each group has its adder (for the parser) and its reader (from the parsed namespace back to library values).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from rich.console import Console

from sepconv.converter import METHODS, PRECISIONS, ConvertOptions, budget_max_error, parse_input_shapes


def add_shape_args(p: argparse.ArgumentParser) -> None:
    """--input-shape: symbolic input dims are unknown until the user fixes them."""
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                   help="fix a model input's shape (repeatable); symbolic dims otherwise stay unknown")


def input_shapes(args: argparse.Namespace) -> dict[str, list[int]]:
    """The --input-shape flags as the library's shape mapping."""
    return parse_input_shapes(args.input_shape)


def add_convert_args(p: argparse.ArgumentParser) -> None:
    """Every ConvertOptions field as a flag: convert and batch take the same options."""
    p.add_argument("--method", default="depthwise", choices=[*METHODS, "auto", "none"],
                   help="depthwise: depthwise + pointwise; spatial: k x 1 then 1 x k; auto: chosen per layer "
                        "from data and measured latency; none: no Conv rewritten (for --precision alone) "
                        "(default: depthwise)")
    p.add_argument("--precision", default="float", choices=list(PRECISIONS),
                   help="float: as the model is; int8: every layer ONNX Runtime can run in int8, after the "
                        "rewrite, calibrated on --data; auto: int8 per layer within the budget (--max-error ...), "
                        "kept only where it measures faster (default: float)")
    pol = p.add_mutually_exclusive_group()
    pol.add_argument("--rank", help="terms kept per layer: N, or 'full' for the exact rank")
    pol.add_argument("--energy", type=float, help="smallest rank keeping this fraction of squared singular values")
    pol.add_argument("--ratio", type=float,
                     help="largest rank costing at most this fraction of the multiplications (default policy: 0.5)")
    p.add_argument("--force", action="store_true", help="apply rewrites even where they do not save multiplications")
    p.add_argument("--include", metavar="REGEX", help="only Conv nodes whose name matches")
    p.add_argument("--exclude", metavar="REGEX", help="leave Conv nodes whose name matches")
    add_shape_args(p)
    p.add_argument("--data", metavar="FILE.npz", help="inputs keyed by input name (samples on axis 0), optional "
                   "'labels'; default: seeded random inputs")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime comparison")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and of drawn samples (default 0)")
    p.add_argument("--max-samples", type=int, default=ConvertOptions.max_samples,
                   help="verification and auto mode use at most this many of the data's samples, drawn with "
                        f"--seed (default {ConvertOptions.max_samples})")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: ONNX Runtime's)")
    p.add_argument("--max-error", type=float,
                   help="auto: largest relative L2 error of any model output on held-out data (default 0.01, "
                        "or none when --max-accuracy-drop or --max-metric-drop is given)")
    p.add_argument("--max-accuracy-drop", type=float,
                   help="auto: largest accuracy drop in percentage points, where the data has labels")
    p.add_argument("--metric", metavar="NAME|FILE.py:FUNCTION",
                   help="auto: your measure, higher is better: top1_agreement, detections:BOXES,SCORES (output "
                        "names), or a function(outputs, reference, labels) -> float in a Python file")
    p.add_argument("--max-metric-drop", type=float,
                   help="auto: how far the converted model's --metric may fall below the original's (held-out)")
    p.add_argument("--plot", metavar="FILE.png", help="auto: draw the explored latency/error trade-off")


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    """The flags of add_convert_args as ConvertOptions; an accuracy budget alone replaces the default error budget."""
    max_error = budget_max_error(args.max_error, args.max_accuracy_drop, args.max_metric_drop)
    return ConvertOptions(
        method=args.method, rank=args.rank, energy=args.energy, ratio=args.ratio, force=args.force,
        include=args.include, exclude=args.exclude, input_shapes=input_shapes(args),
        verify=not args.no_verify, max_samples=args.max_samples, seed=args.seed, threads=args.threads,
        max_error=max_error,
        max_accuracy_drop=args.max_accuracy_drop, metric=args.metric, max_metric_drop=args.max_metric_drop,
        plot=args.plot, precision=args.precision,
    )


def flag(field: str) -> str:
    """The command-line flag of a ConvertOptions field, so an OptionError names what the user typed."""
    return {"input_shapes": "--input-shape"}.get(field, "--" + field.replace("_", "-"))


def add_json_arg(p: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """--json: scripts read the same dict the tables are drawn from."""
    p.add_argument("--json", action="store_true", help=help_text)


def show(args: argparse.Namespace, result: dict, table: Callable[[dict, Console], None], console: Console) -> int:
    """Print a command's result: JSON with --json, else as tables."""
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table(result, console)
    return 0
