"""``sepconv worker``: a Celery worker that runs the service's conversions and benchmarks
(the scale-out; needs the 'service' extra and SEPCONV_BROKER_URL)."""

from __future__ import annotations

import argparse

from rich.console import Console

from sepconv.converter import SepconvError

QUEUES = ("convert", "bench")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run jobs of a service that has SEPCONV_BROKER_URL set (needs the 'service' "
                                      "extra)")
    p.add_argument("--queues", default=",".join(QUEUES),
                   help="queues to take jobs from: convert, bench or both (default: convert,bench); give a "
                        "benchmark worker a host of its own and --concurrency 1")
    p.add_argument("--concurrency", type=int, default=None,
                   help="jobs at a time, one process each (default: SEPCONV_WORKERS or 2)")
    p.add_argument("--data-dir", help="the data directory the API uses: shared volume, or a cache when "
                                      "SEPCONV_BLOB_URL is set (default: SEPCONV_DATA_DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise SepconvError(f"--queues: unknown queue {', '.join(unknown) or '(none)'}; choose from "
                           f"{', '.join(QUEUES)}")
    if args.concurrency is not None and args.concurrency < 1:
        raise SepconvError("--concurrency: must be at least 1")
    try:
        from sepconv.service.scaleout.celery_worker import run_worker
        from sepconv.service.settings import Settings
    except ImportError as exc:
        raise SepconvError(f"the worker needs its extra: pip install 'sepconv[service]' ({exc})") from None
    try:
        settings = Settings.from_env().with_overrides(data_dir=args.data_dir, workers=args.concurrency)
        run_worker(settings, queues, settings.workers)
    except ValueError as exc:
        raise SepconvError(str(exc)) from None
    return 0
