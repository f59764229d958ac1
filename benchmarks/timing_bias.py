"""Why sepconv's timing sessions do not spin: two copies of one model, timed interleaved.

Both copies are the same model, so any ratio other than 1.0 is the method's bias. ONNX
Runtime's intra-op threads spin for a while after each run (its default); with two sessions in
one process the idle one's spinning threads take cores from the one being timed.

Usage: ``python benchmarks/timing_bias.py [--model sample_models/digits_wide.onnx] [--threads 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sepconv.converter.data import prepare_inputs  # noqa: E402
from sepconv.converter.modelio import load_model  # noqa: E402
from sepconv.converter.runtime import session  # noqa: E402


def medians(spinning: bool, model: str, feed: dict, threads: int, runs: int) -> tuple[float, float]:
    a, b = (session(model, threads, spinning=spinning) for _ in range(2))
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(runs + 5):
        for s, t in zip((a, b), times):
            t0 = time.perf_counter()
            s.run(None, feed)
            if i >= 5:
                t.append(time.perf_counter() - t0)
    return float(np.median(times[0])) * 1e3, float(np.median(times[1])) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "sample_models" / "digits_wide.onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    feed = next(prepare_inputs(load_model(args.model), {}, None, 0, samples=1).batches())
    print(f"{Path(args.model).name}, {args.threads} threads, {args.runs} interleaved runs of two copies")
    for spinning in (True, False):
        for _ in range(args.repeats):
            a, b = medians(spinning, args.model, feed, args.threads, args.runs)
            print(f"spinning {'on ' if spinning else 'off'}: A {a:.3f} ms, B {b:.3f} ms, A/B {a / b:.3f}")


if __name__ == "__main__":
    main()
