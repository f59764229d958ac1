"""What refitting both factors (alternating least squares) would add to auto mode's fits.

Why: the issue asks whether refitting the first factor too beats auto mode's fit (the SVD whitened
by the layer's input covariance, last factor refit with a ridge towards the weights' factor). For
each eligible layer's spatial candidates, on the layer's real patches from the fitting samples,
this fits on the first three quarters of the rows and scores on the last quarter (other samples):
today's fit (as auto mode makes it on those rows: its factors from the data and, where rows are
few for the unknowns, its last factor too, come from the first three quarters of them), then three
alternations of (first factor by conjugate gradients on its normal equations, with the last fixed;
last factor on all the fitting rows). It prints the held-out errors and their ratio; auto mode
does not use ALS (the README gives the gain measured, before auto mode's fits held rows back).

Usage: ``python benchmarks/als_gain.py [--only NAME] [--samples 32] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auto_bench import cases, fix_input_names  # noqa: E402
from sepconv.converter.analysis import analyse  # noqa: E402
from sepconv.converter.auto import activations, candidates, fitting  # noqa: E402
from sepconv.converter.auto.refit import RIDGE, fit, solve_last  # noqa: E402
from sepconv.converter.auto.split import split  # noqa: E402
from sepconv.converter.data import prepare_inputs  # noqa: E402


def conjugate_gradients(op, rhs: np.ndarray, x: np.ndarray, iters: int = 60) -> np.ndarray:
    r = rhs - op(x)
    p, rs = r.copy(), float(np.vdot(r, r))
    stop = 1e-20 * float(np.vdot(rhs, rhs))
    for _ in range(iters):
        ap = op(p)
        a = rs / float(np.vdot(p, ap))
        x, r = x + a * p, r - a * ap
        rs_new = float(np.vdot(r, r))
        if rs_new < stop:
            break
        p, rs = r + (rs_new / rs) * p, rs_new
    return x


def solve_vertical(v: np.ndarray, last: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The spatial pair's ``k x 1`` factor ``v[Cin, kh, r]`` minimising the output error with the
    ``1 x k`` factor fixed: the normal equations through the patches' covariance (lightly damped)."""
    cin, kh, r = v.shape
    kw = x.shape[1] // (cin * kh)
    xc, yc = x - x.mean(0), y - y.mean(0)
    s = (xc.T @ xc).reshape(cin * kh, kw, cin * kh, kw)
    lr = last.reshape(-1, r, kw)
    m = np.einsum("ojx,okz->jxkz", lr, lr)
    rhs = np.einsum("axo,ojx->aj", (xc.T @ yc).reshape(cin * kh, kw, -1), lr)
    damp = 1e-5 * np.trace(s.reshape(cin * kh * kw, -1)) / (cin * kh * kw) * np.trace(m.reshape(r * kw, -1)) / (r * kw)

    def op(t: np.ndarray) -> np.ndarray:
        return np.einsum("axkz,jxkz->aj", np.einsum("axbz,bk->axkz", s, t, optimize=True), m, optimize=True) + damp * t

    return conjugate_gradients(op, rhs, v.reshape(cin * kh, r)).reshape(cin, kh, r)


def held_error(c, x: np.ndarray, y: np.ndarray) -> float:
    return candidates.layer_error(c, x, y, float(np.linalg.norm(y - y.mean(0))) or 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="digits")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ratios = []
    for case in [c for c in cases(args.samples) if args.only in c["name"]]:
        fix_input_names(case)
        model = onnx.load(str(case["model"]))
        shapes = {k: tuple(v) for k, v in case["shapes"].items()}
        arrays = {k: v for k, v in case["data"].items() if k != "labels"}
        _, layers = analyse(model, shapes)
        inputs = prepare_inputs(model, shapes, arrays, 0).draw(1024, 0)
        parts = split(inputs, 0, inputs.batch if inputs.fixed else 1)
        eligible, _ = fitting.eligible_layers(layers, lambda name: None)
        positions = activations.layer_positions(((i, layers[i]) for i in eligible), parts.fit.samples, 0)
        patches = activations.collect_patches(model, parts.fit, [layers[i] for i in eligible], positions, None)
        print(f"{case['name']}: held-out layer error, today's fit -> ALS ({args.rounds} rounds)")
        for i in eligible:
            layer = layers[i]
            x = patches[layer.name]
            y = candidates.outputs(layer, x)
            cut = int(len(x) * 0.75)
            for c in candidates.build(layer, x[:cut], y[:cut]):
                if c.kind != "spatial" or not c.extra.get("whitened"):
                    continue
                today, _ = fit(c, x[:cut], y[:cut])
                ridge = today.extra.get("ridge", RIDGE)
                ridge = ridge if np.isfinite(ridge) else 1.0  # today's fit kept the weights' factor: damp, not freeze
                als = today
                for _ in range(args.rounds):  # each round's last factor pulled towards the previous one
                    als = dataclasses.replace(als, parts={"v": solve_vertical(als.parts["v"], als.last, x[:cut],
                                                                              y[:cut])})
                    als = als.with_last(*solve_last(als.features(x[:cut]), y[:cut], ridge, als.last))
                before, after = held_error(today, x[cut:], y[cut:]), held_error(als, x[cut:], y[cut:])
                ratios.append(after / before)
                print(f"  {layer.name:14s} {c.variant:12s} {before:.4f} -> {after:.4f} ({after / before:.3f})",
                      flush=True)
    if ratios:
        q = np.percentile(ratios, [0, 50, 100])
        print(f"ALS / today's held-out error over {len(ratios)} candidates: min {q[0]:.3f}, median {q[1]:.3f}, "
              f"max {q[2]:.3f}")


if __name__ == "__main__":
    main()
