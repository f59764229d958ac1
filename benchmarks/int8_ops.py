"""Where int8 time goes, per op type: the float model against sepconv's int8 of it (every node).

Why: on some models int8 is slower than float on this kind of CPU (MobileNetV3, MTCNN). ONNX
Runtime's profiler says why: ops without an int8 kernel (hard-swish's HardSigmoid, PRelu) sit
between the int8 layers, and each costs a dequantize, the float op and a quantize, where the float
model fused the same op into the Conv before it. One run per model prints the milliseconds per run
of each op type in each model (ORT's profiler, ``--threads``, no spinning, batch 1) and the ops
sepconv's report names as run float after int8 layers (``float_between_int8``).

Usage: ``python benchmarks/int8_ops.py [--only NAME] [--runs 200] [--threads 2] [--top 8]``
(models as in auto_bench.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auto_bench import cases, fix_input_names  # noqa: E402
from sepconv.converter.data import InputSet  # noqa: E402
from sepconv.converter.precision import REGISTRY  # noqa: E402


def op_times(model: onnx.ModelProto, feed: dict, threads: int, runs: int, workdir: str) -> Counter:
    """Milliseconds per run of each op type, from ONNX Runtime's profiler over ``runs`` runs."""
    so = ort.SessionOptions()
    so.enable_profiling, so.intra_op_num_threads, so.log_severity_level = True, threads, 3
    so.profile_file_prefix = str(Path(workdir) / "profile")
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        s.run(None, feed)
    events = json.loads(Path(s.end_profiling()).read_text())
    times: Counter = Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["args"]["op_name"]] += e["dur"] / runs / 1000.0
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=16, help="calibration samples")
    ap.add_argument("--top", type=int, default=8, help="op types shown per model")
    args = ap.parse_args()
    print("| model | float: ms per run, top ops | int8: ms per run, top ops | run float after int8 layers |")
    print("|---|---|---|---|")
    for case in cases(args.samples):
        if args.only is not None and args.only not in case["name"]:
            continue
        fix_input_names(case)
        model = onnx.load(str(case["model"]))
        arrays = {k: v for k, v in case["data"].items() if k != "labels"}
        feed = {k: v[:1] for k, v in arrays.items()}
        with tempfile.TemporaryDirectory() as work:
            int8 = REGISTRY["int8"].prepare(model, InputSet(arrays, None, 1, "data"), work).apply("minmax")
            cells = []
            for m in (model, int8):
                t = op_times(m, feed, args.threads, args.runs, work)
                top = ", ".join(f"{op} {ms:.2f}" for op, ms in t.most_common(args.top))
                cells.append(f"**{sum(t.values()):.2f}**: {top}")
        islands = REGISTRY["int8"].float_islands(int8)
        print(f"| {case['name']} | {cells[0]} | {cells[1]} | "
              f"{', '.join(f'{n} {op}' for op, n in islands.items()) or 'none'} |", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
