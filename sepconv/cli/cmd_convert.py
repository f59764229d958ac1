"""``sepconv convert``: one model in, its factorized copy and report out."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from sepconv.converter import convert_file

from . import tables
from .args import add_convert_args, add_json_arg, options_from_args, show


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert one model")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="where to write the converted model")
    add_convert_args(p)
    p.add_argument("--report", metavar="FILE.json", help="write the JSON report here")
    add_json_arg(p, "print the JSON report instead of tables")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    options = options_from_args(args)
    with _progress_bar(console, enabled=not args.json) as progress:
        report = convert_file(args.model, args.output, options, data=args.data, report_path=args.report,
                              progress=progress)
    return show(args, report, partial(_print_report, args), console)


@contextmanager
def _progress_bar(console: Console, enabled: bool) -> Iterator[Callable[[str, float], None] | None]:
    """A bar that moves per layer and per auto-mode phase, on a terminal only (and gone when done)."""
    if not (enabled and console.is_terminal):
        yield None
        return
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("loading", total=1.0)
        yield lambda stage, fraction: bar.update(task, description=stage, completed=fraction, refresh=True)


def _print_report(args: argparse.Namespace, report: dict, console: Console) -> None:
    """The report's tables, then why nothing changed (if so) and where the files went: a person reads this."""
    tables.report_table(report, console)
    quantized = (report.get("precision") or {}).get("chosen", "float") != "float"
    if report["totals"]["rewritten"] == 0 and not report.get("auto") and not quantized:
        tables.say(console, "note: no Conv was rewritten; the notes under the Layers table say why")
    tables.say(console, f"wrote {args.output}" + (f" and {args.report}" if args.report else ""))
