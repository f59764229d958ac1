"""Auto mode chosen and timed at each deployment thread count, and each choice timed at the others.

Why: a rewrite's gain depends on the thread count (the issue saw the wide sample's 5.95x at 1
thread become 1.73x at 16). Auto mode times candidates at ``--threads`` and promises its speedup at
that count only. This script converts each model once per thread count T (auto mode at T), and
times every converted model against the original at every T, interleaved, in one run: the
diagonal is the promise, the rest shows what a choice made at one count is worth at another.

Models and their inputs are ``auto_bench.cases`` (the wide sample; ddddocr's text detector where
the package, or a folder on PYTHONPATH named ``ddddocr`` holding ``common_det.onnx``, is found).

Usage: ``python benchmarks/thread_scaling.py [--threads 1 2] [--only NAME] [--runs 200] [--json OUT]``
(the 16-core machine's run: ``--threads 1 4 16``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auto_bench import Budget, cases, fix_input_names, latency_ratio, scores  # noqa: E402
from sepconv.converter import ConvertOptions, convert_file  # noqa: E402

#: the budgets converted to: the wide sample's main job (accuracy), the others' 1% output error
BUDGETS = {"digits_wide (sample)": Budget(1.0, max_drop=0.5), "ddddocr common_det": Budget(0.01)}


def run(case: dict, budget: Budget, threads: list[int], runs: int, tmp: Path) -> dict:
    """Convert at each thread count, then time each result at each count."""
    npz = tmp / "data.npz"
    np.savez(npz, **case["data"])
    out: dict = {"model": case["name"], "budget": budget.label(), "chosen_at": {}}
    for t in threads:
        dst = tmp / f"auto_t{t}.onnx"
        started = time.perf_counter()
        rep = convert_file(case["model"], dst, ConvertOptions(
            method="auto", max_error=budget.max_error, max_accuracy_drop=budget.max_drop,
            input_shapes=case["shapes"], threads=t), data=npz)
        a = rep["auto"]
        row = {"seconds": round(time.perf_counter() - started, 1), "accepted": a["accepted"],
               "layers": rep["totals"]["rewritten"], "macs_ratio": rep["totals"]["conv_macs"]["ratio"],
               "auto_measured_ratio": a["latency"]["ratio"],
               "predicted_ratio": (a["chosen"] or {}).get("calibrated_latency_ratio"),
               "error": scores(case["model"], dst, case["data"], t, None)["error"], "timed_at": {}}
        for t2 in threads:
            row["timed_at"][t2] = latency_ratio(case["model"], dst, case["data"], t2, runs)
        out["chosen_at"][t] = row
        print(json.dumps({case["name"]: {t: row}}), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--only", default=None, help="substring of the model names to run")
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(args.samples):
            if case["name"] not in BUDGETS or (args.only and args.only not in case["name"]):
                continue
            fix_input_names(case)
            results.append(run(case, BUDGETS[case["name"]], args.threads, args.runs, Path(tmp)))
    print(f"\ncpu cores: {os.cpu_count()}; latency ratio converted / original, median of {args.runs} "
          "interleaved runs at batch 1 (lower is faster)")
    head = " | ".join(f"timed at {t}" for t in args.threads)
    print(f"| model [budget] | chosen at | MACs | error | auto's own check | {head} |")
    print("|---" * (5 + len(args.threads)) + "|")
    for r in results:
        for t, row in r["chosen_at"].items():
            own = "-" if row["auto_measured_ratio"] is None else f"{row['auto_measured_ratio']:.3f}"
            cells = " | ".join(f"{row['timed_at'][t2]:.3f}" for t2 in args.threads)
            print(f"| {r['model']} [{r['budget']}] | {t} | {row['macs_ratio']:.3f} | {row['error']:.4f} | {own} | "
                  f"{cells} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
