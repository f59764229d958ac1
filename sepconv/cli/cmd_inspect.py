"""``sepconv inspect``: what a model's Convs cost and which could be rewritten, before converting anything."""

from __future__ import annotations

import argparse

from rich.console import Console

from sepconv.converter import inspect_model, load_model

from . import tables
from .args import add_json_arg, add_shape_args, input_shapes, show


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="list every Conv with its shapes and multiplications")
    p.add_argument("model")
    add_shape_args(p)
    add_json_arg(p, "print JSON instead of tables")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    info = inspect_model(load_model(args.model), input_shapes(args))
    return show(args, info, tables.inspect_table, console)
