"""int8 against float, and sepconv's budgeted int8 against plain int8, on the models of auto_bench.

Why: ONNX Runtime's own static quantizer is what a user would try first; sepconv's precision
search is worth having only where it is at least as fast as plain int8 wherever plain int8 meets
the budget, and keeps the budget where plain int8 breaks it. One run measures, per model:

- plain int8: ``quantize_static`` with ORT's defaults as a user would call it (QDQ, per-channel
  int8 weights, uint8 activations, MinMax on the fitting samples, every layer);
- ``--method none --precision int8`` and ``--method spatial --precision int8`` (ratio 0.5);
- auto mode at ``--precision float`` and ``--precision auto``, at the output-error budget and at
  the model's task budget (auto_bench's).

Each latency ratio is converted over original, the median of auto_bench's rounds of new sessions;
errors and drops are on all samples (auto mode checks its budget on the held-out half). Models and
inputs are auto_bench's: install them as its docstring says.

Usage: ``python benchmarks/int8_bench.py [--samples 16] [--max-error 0.01] [--only NAME] [--threads 2]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auto_bench import Budget, budgets, cases, fix_input_names, latency_ratio, scores  # noqa: E402
from sepconv.converter import ConvertOptions, SepconvError, convert_file  # noqa: E402


def plain_int8(src: Path, out: Path, data: dict, samples: int) -> None:
    """ORT's quantizer as a user calls it: every layer, MinMax on the first ``samples`` inputs."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    arrays = {k: v for k, v in data.items() if k != "labels"}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{k: v[i:i + 1] for k, v in arrays.items()} for i in range(samples)])

        def get_next(self):
            return next(self.feeds, None)

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre))
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def measured(src: Path, out: Path, case: dict, args, metric) -> dict:
    found = scores(src, out, case["data"], args.threads, metric)
    found.update(latency_ratio(src, out, case["data"], args.threads, args.runs))
    return found


def fixed_rows(case: dict, tmp: Path, npz: Path, args) -> list[tuple]:
    rows = []
    out = tmp / "plain.onnx"
    try:
        plain_int8(case["model"], out, case["data"], max(1, len(next(iter(case["data"].values()))) // 2))
        rows.append(("plain int8 (ORT defaults)", measured(case["model"], out, case, args, case.get("metric")), None))
    except Exception as exc:  # plain ORT fails in its own ways: that is a result too
        rows.append(("plain int8 (ORT defaults)", None, f"failed: {str(exc).splitlines()[0][:120]}"))
    for method in ("none", "spatial"):
        out = tmp / f"{method}.onnx"
        t = time.perf_counter()
        try:
            convert_file(case["model"], out, ConvertOptions(method=method, precision="int8",
                                                            input_shapes=case["shapes"], threads=args.threads,
                                                            verify=False), data=npz)
        except SepconvError as exc:
            rows.append((f"sepconv --method {method} --precision int8", None, str(exc)))
            continue
        rows.append((f"sepconv --method {method} --precision int8",
                     measured(case["model"], out, case, args, case.get("metric")), f"{time.perf_counter() - t:.0f} s"))
    return rows


def auto_rows(case: dict, budget: Budget, tmp: Path, npz: Path, args) -> list[tuple]:
    rows = []
    metric = budget.metric
    for precision in ("float", "auto"):
        out = tmp / f"auto-{precision}.onnx"
        opts = ConvertOptions(method="auto", precision=precision, max_error=budget.max_error,
                              max_accuracy_drop=budget.max_drop, metric=metric[0] if metric else None,
                              max_metric_drop=metric[1] if metric else None, input_shapes=case["shapes"],
                              threads=args.threads)
        t = time.perf_counter()
        rep = convert_file(case["model"], out, opts, data=npz)
        took = time.perf_counter() - t
        p = rep.get("precision") or {}
        note = f"{took:.0f} s; " + (f"precision {p.get('chosen')}, {len(p.get('float_nodes') or [])} float" +
                                    (f" ({p['reason']})" if p.get("reason") else "") if p else "float")
        rows.append((f"auto --precision {precision} [{budget.label()}]",
                     measured(case["model"], out, case, args, metric), note))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--max-error", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--only", default=None)
    ap.add_argument("--no-auto", action="store_true", help="only plain int8 and the fixed methods")
    args = ap.parse_args()
    print("| model | conversion | latency ratio [range] | error | acc / metric drop | note |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for case in cases(args.samples):
            if args.only is not None and args.only not in case["name"]:
                continue
            fix_input_names(case)
            npz = tmp / "data.npz"
            np.savez(npz, **case["data"])
            rows = fixed_rows(case, tmp, npz, args)
            if not args.no_auto:
                for budget in budgets(case, args.max_error):
                    rows += auto_rows(case, budget, tmp, npz, args)
            for label, found, note in rows:
                print(_fmt(case["name"], label, found, note), flush=True)


def _fmt(model: str, label: str, found: dict | None, note: str | None) -> str:
    if found is None:
        return f"| {model} | {label} | - | - | - | {note or ''} |"
    rng = "" if found["lo"] == found["hi"] else f" [{found['lo']:.3f}-{found['hi']:.3f}]"
    drop = found["metric_drop"] if found["metric_drop"] is not None else found["drop"]
    drop_s = "-" if drop is None else f"{drop:.3f}"
    return f"| {model} | {label} | {found['ratio']:.3f}{rng} | {found['error']:.4f} | {drop_s} | {note or ''} |"


if __name__ == "__main__":
    main()
