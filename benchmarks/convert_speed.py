"""Conversion speed and memory on a ResNet-50-shaped model.

Prints, per method, the ratio of the conversion's wall time (verification off) to the
time the same SVDs take alone in numpy, and the conversion's peak memory above the
process's baseline as a multiple of the model's file size. Aims: ratio <= 1.5, memory <= 3x.

    python benchmarks/convert_speed.py [--method depthwise spatial] [--policy ratio=0.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc (ru_maxrss would include the
    parent's peak, which survives fork and exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(model_path: str, method: str, policy: str) -> None:
    """Run in a fresh process: time the conversion and the bare SVDs, report peak memory."""
    import numpy as np
    import onnx
    from sepconv.converter import ConvertOptions, convert_file
    from sepconv.converter.graph import ModelGraph
    from sepconv.converter.layers import find_conv_layers
    from sepconv.converter.methods import METHODS
    from sepconv.converter.shapes import infer_shapes

    kind, _, value = policy.partition("=")
    opts = ConvertOptions(method=method, verify=False, **{kind: value if kind == "rank" else float(value)})
    base_rss = _status_mb("VmRSS")
    out = Path(model_path).with_suffix(f".{method}.onnx")
    t0 = time.perf_counter()
    report = convert_file(model_path, out, opts)
    convert_s = time.perf_counter() - t0
    peak_mb = _status_mb("VmHWM")
    # The same SVDs, alone: the eligible layers' (BN-folded) weights, one numpy SVD each.
    model = onnx.load(model_path)
    mg = ModelGraph(model)
    layers = [la for la in find_conv_layers(mg, infer_shapes(model, {})) if METHODS[method].ineligible(la) is None]
    weights = [(la.weight, la.group) for la in layers]
    del model, mg, layers
    t1 = time.perf_counter()
    for w, g in weights:
        METHODS[method].factorize(type("L", (), {"weight": w, "group": g})())  # type: ignore[arg-type]
    svd_s = time.perf_counter() - t1
    print(json.dumps({"method": method, "policy": policy, "convert_s": convert_s, "svd_s": svd_s,
                      "peak_mb": peak_mb, "base_mb": base_rss, "rewritten": report["totals"]["rewritten"],
                      "macs_ratio": report["totals"]["conv_macs"]["ratio"]}))
    _ = np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", nargs="+", default=["spatial", "depthwise"])
    ap.add_argument("--policy", default="ratio=0.5", help="rank=N|full, energy=E or ratio=R")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import onnx
    from resnet50 import resnet50
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        onnx.save(resnet50(), path)
        size_mb = path.stat().st_size / 2**20
        print(f"ResNet-50-shaped model: {size_mb:.1f} MiB, policy {args.policy}")
        print(f"{'method':10} {'convert s':>10} {'SVDs s':>8} {'ratio':>6} {'peak/file':>9} {'rewritten':>9}")
        for method in args.method:
            proc = subprocess.run([sys.executable, __file__, "--child", str(path), method, args.policy],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            mem = (r["peak_mb"] - r["base_mb"]) / size_mb
            print(f"{method:10} {r['convert_s']:10.2f} {r['svd_s']:8.2f} {r['convert_s'] / r['svd_s']:6.2f} "
                  f"{mem:9.2f} {r['rewritten']:9d}")


if __name__ == "__main__":
    main()
