"""``sepconv batch``: many models converted in parallel processes; one bad model is a failed row, not a stop."""

from __future__ import annotations

import argparse
import glob
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from sepconv.converter import ConvertOptions, SepconvError, convert_file, first_line, write_bytes_atomic

from . import tables
from .args import add_convert_args, options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="convert many models in parallel processes")
    p.add_argument("inputs", nargs="+", help="model files, folders (their *.onnx) or glob patterns")
    p.add_argument("-o", "--output-dir", required=True, help="folder for converted models, reports and summary")
    p.add_argument("--jobs", type=int, help="parallel processes (default: half the cores; 1 with --method auto, "
                   "whose latency measurements parallel jobs would disturb)")
    add_convert_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Options and inputs are checked up front, so a mistake fails once instead of once per model."""
    options = options_from_args(args)
    options.validate(has_data=args.data is not None)
    files = expand_inputs(args.inputs)
    if not files:
        raise SepconvError("no input models found")
    if args.jobs is None:
        args.jobs = 1 if options.method == "auto" else max(1, (os.cpu_count() or 2) // 2)
    if args.jobs < 1:
        raise SepconvError(f"--jobs {args.jobs}: must be at least 1")
    outdir = Path(args.output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = _convert_all(files, outdir, options, args.data, args.jobs, console)
    write_bytes_atomic(outdir / "summary.json", (json.dumps(rows, indent=2) + "\n").encode())
    tables.batch_table(rows, console)
    failed = sum(r["status"] == "failed" for r in rows)
    tables.say(console, f"{len(rows) - failed} converted, {failed} failed; summary in {outdir / 'summary.json'}")
    return 1 if failed else 0


def _convert_all(files: list[Path], outdir: Path, options: ConvertOptions, data: str | None, jobs: int,
                 console: Console) -> list[dict]:
    """One summary row per file, in the order given, whatever order the processes finish in."""
    rows: list[dict] = []
    with Progress(console=console, transient=False) as progress, \
            ProcessPoolExecutor(max_workers=min(jobs, len(files))) as pool:
        task = progress.add_task("converting", total=len(files))
        futures = {
            pool.submit(_convert_one, str(f), str(outdir / f"{n}.onnx"), str(outdir / f"{n}.report.json"),
                        options, data): str(f)
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
    return rows


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
