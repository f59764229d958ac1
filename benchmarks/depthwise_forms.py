"""How to emit depthwise + pointwise with depth multiplier m > 1 so that ONNX Runtime runs it fast.

Times, interleaved with the original Conv, four equivalent forms: (A) one grouped Conv with
multiplier m then 1x1; (B) m depthwise Convs, Concat, 1x1; (C) the input tiled m times by
Concat, one depthwise Conv, 1x1; (D) m branches of (depthwise, 1x1) summed, the form sepconv
emits. Prints each form's median time as a fraction of the original's.

    python benchmarks/depthwise_forms.py [--threads 1] [--runs 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from onnx import numpy_helper as nh


def forms(c: int, h: int, k: int, m: int, o: int, rng: np.random.Generator) -> dict[str, onnx.ModelProto]:
    def model(nodes: list, inits: list) -> onnx.ModelProto:
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, c, h, h])],
                              [helper.make_tensor_value_info("y", 1, None)], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return nh.from_array(rng.standard_normal(shape).astype(np.float32), name)

    p = {"kernel_shape": [k, k], "pads": [k // 2] * 4}
    conv = helper.make_node
    return {
        "original": model([conv("Conv", ["x", "w"], ["y"], **p)], [w("w", o, c, k, k)]),
        "A grouped": model([conv("Conv", ["x", "d"], ["t"], group=c, **p), conv("Conv", ["t", "p"], ["y"])],
                           [w("d", c * m, 1, k, k), w("p", o, c * m, 1, 1)]),
        "B concat": model([conv("Conv", ["x", f"d{j}"], [f"t{j}"], group=c, **p) for j in range(m)]
                          + [conv("Concat", [f"t{j}" for j in range(m)], ["t"], axis=1),
                             conv("Conv", ["t", "p"], ["y"])],
                          [w(f"d{j}", c, 1, k, k) for j in range(m)] + [w("p", o, c * m, 1, 1)]),
        "C tiled": model([conv("Concat", ["x"] * m, ["xx"], axis=1),
                          conv("Conv", ["xx", "d"], ["t"], group=c * m, **p), conv("Conv", ["t", "p"], ["y"])],
                         [w("d", c * m, 1, k, k), w("p", o, c * m, 1, 1)]),
        "D branches": model([conv("Conv", ["x", f"d{j}"], [f"t{j}"], group=c, **p) for j in range(m)]
                            + [conv("Conv", [f"t{j}", f"p{j}"], [f"u{j}"]) for j in range(m)]
                            + [conv("Sum", [f"u{j}" for j in range(m)], ["y"])],
                            [w(f"d{j}", c, 1, k, k) for j in range(m)] + [w(f"p{j}", o, c, 1, 1) for j in range(m)]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see converter/timing.py
    print(f"median time / original's, ONNX Runtime {ort.__version__}, {args.threads} thread(s)")
    for c, h, k, m, o in [(64, 56, 3, 2, 64), (64, 56, 3, 4, 64), (128, 28, 3, 2, 128), (256, 14, 3, 3, 256),
                          (32, 56, 5, 2, 64)]:
        models = forms(c, h, k, m, o, rng)
        sessions = {n: ort.InferenceSession(md.SerializeToString(), so, providers=["CPUExecutionProvider"])
                    for n, md in models.items()}
        x = rng.standard_normal((1, c, h, h)).astype(np.float32)
        times: dict[str, list[float]] = {n: [] for n in sessions}
        for i in range(args.runs + 5):
            for n, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, {"x": x})
                if i >= 5:
                    times[n].append(time.perf_counter() - t0)
        base = float(np.median(times["original"]))
        cells = "  ".join(f"{n}: {np.median(t) / base:.2f}" for n, t in times.items() if n != "original")
        print(f"C={c:3} {h}x{h} k={k} m={m} Cout={o}:  {cells}")


if __name__ == "__main__":
    main()
