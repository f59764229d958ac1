"""What each method and rank policy does to a sample model: multiplications, output error,
accuracy and measured ONNX Runtime speedup, all measured in one run.

    python benchmarks/sample_policies.py [--model sample_models/digits_wide.onnx] [--runs 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sepconv.converter import ConvertOptions, convert_file  # noqa: E402
from sepconv.converter.bench import benchmark  # noqa: E402
from sepconv.converter.data import load_npz, prepare_inputs  # noqa: E402
from sepconv.converter.modelio import load_model  # noqa: E402

POLICIES = [
    ("depthwise", {"rank": 1}), ("depthwise", {"ratio": 0.5}), ("depthwise", {"energy": 0.9}),
    ("spatial", {"rank": 1}), ("spatial", {"ratio": 0.5}), ("spatial", {"ratio": 0.3}),
    ("spatial", {"energy": 0.9}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "sample_models" / "digits_wide.onnx"))
    ap.add_argument("--data", default=None, help="default: the model's *_test.npz beside it")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    data = args.data or args.model.replace(".onnx", "_test.npz")
    model = load_model(args.model)
    feed = prepare_inputs(model, {}, load_npz(data))
    print(f"{Path(args.model).name}, {feed.samples} labelled samples, ONNX Runtime {args.threads} thread(s), "
          f"batch {feed.batch}, {args.runs} interleaved runs")
    print(f"{'method':10} {'policy':12} {'rewritten':>9} {'MACs ratio':>10} {'rel L2 err':>10} "
          f"{'acc before':>10} {'acc after':>9} {'speedup':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for method, policy in POLICIES:
            out = Path(tmp) / f"{method}.onnx"
            rep = convert_file(args.model, out, ConvertOptions(method=method, **policy), data=data)
            ver = rep["verification"]
            speed = benchmark([args.model, out], feed, runs=args.runs, threads=args.threads)["speedup"]
            name, value = next(iter(policy.items()))
            print(f"{method:10} {name + ' ' + str(value):12} {rep['totals']['rewritten']:>9} "
                  f"{rep['totals']['conv_macs']['ratio']:10.3f} {ver['outputs'][0]['rel_l2_error']:10.4f} "
                  f"{ver['accuracy']['before']:10.2%} {ver['accuracy']['after']:9.2%} {speed:7.2f}x")


if __name__ == "__main__":
    main()
