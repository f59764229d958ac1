"""``sepconv serve``: the REST service, imported only here because it needs the optional 'service' extra."""

from __future__ import annotations

import argparse
import os

from rich.console import Console

from sepconv.converter import SepconvError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the REST service (needs the 'service' extra)")
    p.add_argument("--host", default=os.environ.get("SEPCONV_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SEPCONV_PORT", "8000")))
    p.add_argument("--workers", type=int, help="conversion worker processes (default: SEPCONV_WORKERS or 2)")
    p.add_argument("--data-dir", help="where models, datasets and the job database live (default: SEPCONV_DATA_DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    try:
        from sepconv.service.server import serve
    except ImportError as exc:
        raise SepconvError(f"the service needs its extra: pip install 'sepconv[service]' ({exc})") from None
    try:
        serve(host=args.host, port=args.port, workers=args.workers, data_dir=args.data_dir)
    except ValueError as exc:  # a bad setting, or a data directory another server owns: one line
        raise SepconvError(str(exc)) from None
    return 0
