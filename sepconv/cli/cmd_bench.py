"""``sepconv bench``: ONNX Runtime latency of one model, or of two on the same inputs and the speedup."""

from __future__ import annotations

import argparse

from rich.console import Console

from sepconv.converter import SepconvError, benchmark, format_shape, load_model, load_npz, prepare_inputs
from sepconv.converter import input_shapes as model_input_shapes

from . import tables
from .args import add_json_arg, add_shape_args, input_shapes, show


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="ONNX Runtime latency of one model, or two and the speedup")
    p.add_argument("model")
    p.add_argument("model2", nargs="?")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--data", metavar="FILE.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, help="the batch size to time at (default: the data's first batch, or the "
                                            "model's own fixed batch)")
    add_shape_args(p)
    add_json_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Inputs are prepared for every model first, so one that cannot take them fails before any timing starts."""
    if args.runs < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        raise SepconvError("--runs and --threads must be at least 1, --warmup at least 0")
    models = [m for m in (args.model, args.model2) if m]
    first = load_model(models[0])
    data = load_npz(args.data) if args.data else None
    inputs = prepare_inputs(first, input_shapes(args), data, args.seed)
    for other in models[1:]:
        second = load_model(other)
        check_same_inputs(models[0], model_input_shapes(first, input_shapes(args)),
                          other, model_input_shapes(second, input_shapes(args)))
        prepare_inputs(second, input_shapes(args), data, args.seed)
    try:
        result = benchmark(models, inputs, runs=args.runs, warmup=args.warmup, threads=args.threads,
                           labels=models, batch=args.batch)
    except ValueError as exc:  # a batch out of bounds, or one a model's file fixes otherwise
        raise SepconvError(f"--batch: {exc}") from None
    return show(args, result, tables.bench_table, console)


def check_same_inputs(a: str, shapes_a: dict, b: str, shapes_b: dict) -> None:
    """Both models are fed the same arrays: the same input names, and no rank or fixed dim that differs
    (a symbolic dim fits any size). A mismatch names both shapes."""
    if set(shapes_a) != set(shapes_b):
        raise SepconvError(f"the two models take different inputs ({', '.join(shapes_a) or 'none'} in {a}, "
                           f"{', '.join(shapes_b) or 'none'} in {b}); bench compares two versions of one model")
    for name, x in shapes_a.items():
        y = shapes_b[name]
        if x is None or y is None:
            continue
        if len(x) != len(y) or any(p is not None and q is not None and p != q for p, q in zip(x, y)):
            raise SepconvError(f"the two models cannot share inputs: input {name} is {format_shape(x)} in {a} but "
                               f"{format_shape(y)} in {b}")
