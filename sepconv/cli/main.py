"""``sepconv``: inspect, convert, batch, bench and serve.

Every command is a thin layer over the library; user errors print one line
(``sepconv: error: ...``) and exit 1, never a traceback (set SEPCONV_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from sepconv.converter import ConvertOptions, OptionError, SepconvError, __version__, convert_file
from sepconv.converter.errors import first_line
from sepconv.converter.methods import METHODS

from . import tables


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sepconv: error: {message} (see '{self.prog} --help')\n")


def _add_shape_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                   help="fix a model input's shape (repeatable); symbolic dims otherwise stay unknown")


def _add_convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="depthwise", choices=[*METHODS, "auto"],
                   help="depthwise: depthwise + pointwise; spatial: k x 1 then 1 x k; auto: chosen per layer "
                        "from data and measured latency (default: depthwise)")
    pol = p.add_mutually_exclusive_group()
    pol.add_argument("--rank", help="terms kept per layer: N, or 'full' for the exact rank")
    pol.add_argument("--energy", type=float, help="smallest rank keeping this fraction of squared singular values")
    pol.add_argument("--ratio", type=float,
                     help="largest rank costing at most this fraction of the multiplications (default policy: 0.5)")
    p.add_argument("--force", action="store_true", help="apply rewrites even where they do not save multiplications")
    p.add_argument("--include", metavar="REGEX", help="only Conv nodes whose name matches")
    p.add_argument("--exclude", metavar="REGEX", help="leave Conv nodes whose name matches")
    _add_shape_args(p)
    p.add_argument("--data", metavar="FILE.npz", help="inputs keyed by input name (samples on axis 0), optional "
                   "'labels'; default: seeded random inputs")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime comparison")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: ONNX Runtime's)")
    p.add_argument("--max-error", type=float,
                   help="auto: largest relative L2 error of any model output on held-out data (default 0.01, "
                        "or none when --max-accuracy-drop is given)")
    p.add_argument("--max-accuracy-drop", type=float,
                   help="auto: largest accuracy drop in percentage points, where the data has labels")
    p.add_argument("--plot", metavar="FILE.png", help="auto: draw the explored latency/error trade-off")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sepconv", description="Factorize the Conv layers of ONNX CNNs, "
                                     "count what it saves and verify it in ONNX Runtime.")
    parser.add_argument("--version", action="version", version=f"sepconv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="list every Conv with its shapes and multiplications")
    p.add_argument("model")
    _add_shape_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = sub.add_parser("convert", help="convert one model")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="where to write the converted model")
    _add_convert_args(p)
    p.add_argument("--report", metavar="FILE.json", help="write the JSON report here")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of tables")

    p = sub.add_parser("batch", help="convert many models in parallel processes")
    p.add_argument("inputs", nargs="+", help="model files, folders (their *.onnx) or glob patterns")
    p.add_argument("-o", "--output-dir", required=True, help="folder for converted models, reports and summary")
    p.add_argument("--jobs", type=int, help="parallel processes (default: half the cores; 1 with --method auto, "
                   "whose latency measurements parallel jobs would disturb)")
    _add_convert_args(p)

    p = sub.add_parser("bench", help="ONNX Runtime latency of one model, or two and the speedup")
    p.add_argument("model")
    p.add_argument("model2", nargs="?")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--data", metavar="FILE.npz")
    p.add_argument("--seed", type=int, default=0)
    _add_shape_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", help="start the REST service (needs the 'service' extra)")
    p.add_argument("--host", default=os.environ.get("SEPCONV_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SEPCONV_PORT", "8000")))
    p.add_argument("--workers", type=int, help="conversion worker processes (default: SEPCONV_WORKERS or 2)")
    p.add_argument("--data-dir", help="where models, datasets and the job database live (default: SEPCONV_DATA_DIR)")
    return parser


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    from sepconv.converter import DEFAULT_MAX_ERROR
    from sepconv.converter.shapes import parse_input_shapes
    max_error = args.max_error
    if max_error is None and args.max_accuracy_drop is None:
        max_error = DEFAULT_MAX_ERROR
    return ConvertOptions(
        method=args.method, rank=args.rank, energy=args.energy, ratio=args.ratio, force=args.force,
        include=args.include, exclude=args.exclude, input_shapes=parse_input_shapes(args.input_shape),
        verify=not args.no_verify, seed=args.seed, threads=args.threads, max_error=max_error,
        max_accuracy_drop=args.max_accuracy_drop, plot=args.plot,
    )


def show(args: argparse.Namespace, result: dict, table, console: Console) -> int:
    """Print a command's result: JSON with --json, else as tables."""
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table(result, console)
    return 0


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    from sepconv.converter.analysis import inspect_model
    from sepconv.converter.modelio import load_model
    from sepconv.converter.shapes import parse_input_shapes
    info = inspect_model(load_model(args.model), parse_input_shapes(args.input_shape))
    return show(args, info, tables.inspect_table, console)


def cmd_convert(args: argparse.Namespace, console: Console) -> int:
    options = options_from_args(args)
    report = convert_file(args.model, args.output, options, data=args.data, report_path=args.report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        tables.report_table(report, console)
        if report["totals"]["rewritten"] == 0 and not report.get("auto"):
            console.print("note: no Conv was rewritten; the reasons are in the table above")
        console.print(f"wrote {args.output}" + (f" and {args.report}" if args.report else ""))
    return 0


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files, folders (their .onnx files) and glob patterns, each file once, in order."""
    found: list[Path] = []
    for pat in patterns:
        p = Path(pat)
        if p.is_dir():
            found.extend(sorted(p.glob("*.onnx")))
        elif p.exists():
            found.append(p)
        else:
            matches = sorted(glob.glob(pat, recursive=True))
            if not matches:
                raise SepconvError(f"{pat}: no such file, folder or matching pattern", kind="not_found")
            found.extend(Path(m) for m in matches)
    seen: set[Path] = set()
    unique = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique


def _output_names(files: list[Path]) -> list[str]:
    """One output stem per input, made unique when two inputs share a file name."""
    stems: dict[str, int] = {}
    names = []
    for f in files:
        stem = f.stem
        k = stems.get(stem, 0)
        stems[stem] = k + 1
        names.append(stem if k == 0 else f"{stem}_{k}")
    return names


def _convert_one(src: str, out: str, report: str, options: ConvertOptions, data: str | None) -> dict:
    """Batch worker: convert one model, return its summary row; failures are rows too."""
    row: dict = {"input": src}
    try:
        rep = convert_file(src, out, options, data=data, report_path=report)
    except SepconvError as exc:
        return {**row, "status": "failed", "error": str(exc)}
    except Exception as exc:  # a bad model must not stop the batch
        return {**row, "status": "failed", "error": f"{type(exc).__name__}: {first_line(exc)}"}
    ver = rep.get("verification") or {}
    errors = [o["rel_l2_error"] for o in ver.get("outputs", []) if o["rel_l2_error"] is not None]
    return {**row, "status": "converted", "output": out, "report": report,
            "rewritten": rep["totals"]["rewritten"], "convs": rep["totals"]["convs"],
            "macs_ratio": rep["totals"]["conv_macs"]["ratio"],
            "worst_rel_l2_error": max(errors) if errors else None}


def cmd_batch(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import Progress

    from sepconv.converter.modelio import write_bytes_atomic
    options = options_from_args(args)
    options.validate()
    files = expand_inputs(args.inputs)
    if not files:
        raise SepconvError("no input models found")
    if args.jobs is None:
        args.jobs = 1 if options.method == "auto" else max(1, (os.cpu_count() or 2) // 2)
    if args.jobs < 1:
        raise SepconvError(f"--jobs {args.jobs}: must be at least 1")
    outdir = Path(args.output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with Progress(console=console, transient=False) as progress, \
            ProcessPoolExecutor(max_workers=min(args.jobs, len(files))) as pool:
        task = progress.add_task("converting", total=len(files))
        futures = {
            pool.submit(_convert_one, str(f), str(outdir / f"{n}.onnx"), str(outdir / f"{n}.report.json"),
                        options, args.data): str(f)
            for f, n in zip(files, _output_names(files))
        }
        for fut in as_completed(futures):
            try:
                rows.append(fut.result())
            except Exception as exc:  # the worker process itself died
                rows.append({"input": futures[fut], "status": "failed", "error": f"worker crashed: {exc}"})
            progress.advance(task)
    order = {str(f): i for i, f in enumerate(files)}
    rows.sort(key=lambda r: order[r["input"]])
    write_bytes_atomic(outdir / "summary.json", (json.dumps(rows, indent=2) + "\n").encode())
    tables.batch_table(rows, console)
    failed = sum(r["status"] == "failed" for r in rows)
    console.print(f"{len(rows) - failed} converted, {failed} failed; summary in {outdir / 'summary.json'}")
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from sepconv.converter.bench import benchmark
    from sepconv.converter.data import load_npz, prepare_inputs
    from sepconv.converter.modelio import load_model
    from sepconv.converter.shapes import parse_input_shapes
    if args.runs < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        raise SepconvError("--runs and --threads must be at least 1, --warmup at least 0")
    models = [m for m in (args.model, args.model2) if m]
    first = load_model(models[0])
    data = load_npz(args.data) if args.data else None
    inputs = prepare_inputs(first, parse_input_shapes(args.input_shape), data, args.seed)
    for other in models[1:]:
        prepare_inputs(load_model(other), parse_input_shapes(args.input_shape), data, args.seed)
    result = benchmark(models, inputs, runs=args.runs, warmup=args.warmup, threads=args.threads,
                       labels=models)
    return show(args, result, tables.bench_table, console)


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    try:
        from sepconv.service.server import serve
    except ImportError as exc:
        raise SepconvError(f"the service needs its extra: pip install 'sepconv[service]' ({exc})") from None
    serve(host=args.host, port=args.port, workers=args.workers, data_dir=args.data_dir)
    return 0


def flag(field: str) -> str:
    """The command-line flag of a ConvertOptions field."""
    return {"input_shapes": "--input-shape"}.get(field, "--" + field.replace("_", "-"))


COMMANDS = {"inspect": cmd_inspect, "convert": cmd_convert, "batch": cmd_batch, "bench": cmd_bench,
            "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        return COMMANDS[args.command](args, console)
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
