"""``sepconv``: inspect, convert, batch, bench and serve.

This module only assembles the parser from the command modules and runs the chosen one; every command is a
thin layer over the library. User errors print one line (``sepconv: error: ...``) and exit 1, never a
traceback (set SEPCONV_DEBUG=1 to see one); usage errors exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import NoReturn

from rich.console import Console

from sepconv.converter import OptionError, SepconvError, __version__, first_line

from . import cmd_batch, cmd_bench, cmd_convert, cmd_inspect, cmd_serve, cmd_worker
from .args import flag

COMMANDS = (cmd_inspect, cmd_convert, cmd_batch, cmd_bench, cmd_serve, cmd_worker)  # in the order --help lists them


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sepconv: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each command module adds its own subparser (which inherits OneLineParser)."""
    parser = OneLineParser(prog="sepconv", description="Factorize the Conv layers of ONNX CNNs, "
                                     "count what it saves and verify it in ONNX Runtime.")
    parser.add_argument("--version", action="version", version=f"sepconv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the one place where errors become a line on stderr and an exit status."""
    args = build_parser().parse_args(argv)
    # piped: 160 columns for the tables (sentences are never wrapped, see tables.say), or COLUMNS where set
    console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
    try:
        return args.run(args, console)
    except OptionError as exc:
        print(f"sepconv: error: {exc.render(flag(exc.field))}", file=sys.stderr)
        return 1
    except SepconvError as exc:
        print(f"sepconv: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sepconv: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for the user; SEPCONV_DEBUG shows it
        if os.environ.get("SEPCONV_DEBUG"):
            traceback.print_exc()
        first = first_line(exc)
        print(f"sepconv: error: unexpected {type(exc).__name__}: {first} (set SEPCONV_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
