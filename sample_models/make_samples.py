"""Rebuild the sample ONNX models that sepconv's tests and examples use.

Why: sepconv factorizes ONNX Conv layers, so it needs small, real models
to work on: trained CNNs whose accuracy can be checked before and after
factorization, and two tiny hand-built graphs from the seed's worked
examples. Keeping the recipe in a script makes the binary files
reproducible and reviewable.

What: writes, into ``--out`` (default: this script's folder):

* ``digits_wide.onnx`` + ``digits_wide_test.npz``: VGG-style CNN on
  scikit-learn's digits, upscaled to 32x32 (3x3 and 5x5 Convs, 32-128 ch).
* ``digits_small.onnx`` + ``digits_small_test.npz``: small CNN on the
  native 8x8 digits (one 5x5 and one 3x3 Conv).
* ``seed_depthwise.onnx``: one 5x5 Conv, 3 -> 256 channels, on 1x3x12x12.
* ``seed_spatial.onnx``: one 3x3 Sobel Conv (rank 1), 1 -> 1 ch, on 1x1x5x5.

Every Conv in the trained models is followed by its own
``BatchNormalization`` node (inference form): sepconv folds BN itself, so
the export must not fuse it. All models use opset 17, keep weights as
initializers, pass ``onnx.checker.check_model(full_check=True)`` and are
run in onnxruntime, which measures the accuracies printed at the end.

Needs the training extra: ``pip install torch==2.13.0 scikit-learn onnx
onnxruntime``. Torch is used only here, never at sepconv's runtime.

Usage: ``python sample_models/make_samples.py [--out DIR]``
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch convention)

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
SEED = 0
THREADS = 2  # fixed, so that CPU reductions (and the weights) are repeatable
TEST_SIZE = 0.25
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_DIM = "N"


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write via a temp file in the same folder, then os.replace it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; samples are plain data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model: onnx.ModelProto, path: Path) -> None:
    """Check the model fully, then write it atomically."""
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)
    _atomic_write(path, lambda fh: fh.write(data))


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write the test split (float32 images, int64 labels) atomically."""
    arrays = {
        "input": np.ascontiguousarray(images, dtype=np.float32),
        "labels": np.ascontiguousarray(labels, dtype=np.int64),
    }
    _atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def seed_everything() -> None:
    """Fix seeds, threads and algorithms so reruns give the same weights."""
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)


def load_split(size: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Digits in [0, 1] at size x size, labels, and a stratified split."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, stratify=digits.target, random_state=SEED
    )
    return x, y, np.sort(train_idx), np.sort(test_idx)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


def conv_bn_relu(idx: int, cin: int, cout: int, k: int) -> list[tuple[str, nn.Module]]:
    """A 'same'-padded k x k Conv (no bias), its BatchNorm and a ReLU."""
    return [
        (f"conv{idx}", nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)),
        (f"bn{idx}", nn.BatchNorm2d(cout)),
        (f"relu{idx}", nn.ReLU()),
    ]


def build_wide() -> nn.Sequential:
    """VGG-style CNN for 1x32x32 inputs: 3x3 and 5x5 Convs, 32-128 channels."""
    layers = [
        *conv_bn_relu(1, 1, 32, 3),
        *conv_bn_relu(2, 32, 64, 3),
        ("pool1", nn.MaxPool2d(2)),
        *conv_bn_relu(3, 64, 128, 3),
        ("pool2", nn.MaxPool2d(2)),
        *conv_bn_relu(4, 128, 128, 5),
        *conv_bn_relu(5, 128, 128, 3),
        ("gap", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(128, 10)),
    ]
    return nn.Sequential(OrderedDict(layers))


def build_small() -> nn.Sequential:
    """Small CNN for native 1x8x8 inputs: one 5x5 and one 3x3 Conv."""
    layers = [
        *conv_bn_relu(1, 1, 16, 5),
        *conv_bn_relu(2, 16, 32, 3),
        ("pool", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 4 * 4, 10)),
    ]
    return nn.Sequential(OrderedDict(layers))


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def random_shift(xb: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Roll the batch by a random (dy, dx) in [-max_shift, max_shift]."""
    if max_shift == 0:
        return xb
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=gen).tolist()
    return torch.roll(xb, shifts=(dy, dx), dims=(2, 3))


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch: int,
    lr: float,
    max_shift: int,
) -> float:
    """Train with AdamW + one-cycle LR; return the wall time in seconds."""
    gen = torch.Generator().manual_seed(SEED)
    steps_per_epoch = len(y) // batch  # drop the ragged last batch (BN stats)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for step in range(steps_per_epoch):
            idx = perm[step * batch : (step + 1) * batch]
            xb = random_shift(x[idx], max_shift, gen)
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return time.perf_counter() - start


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def materialize_identities(model: onnx.ModelProto) -> None:
    """Replace Identity(initializer) nodes by initializer copies.

    The TorchScript exporter deduplicates equal tensors (e.g. an untouched
    BN's running_var == weight) and links them with Identity nodes; sepconv
    wants plain initializers.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            arr = numpy_helper.to_array(inits[node.input[0]])
            graph.initializer.append(numpy_helper.from_array(arr, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def assert_bn_kept(model: onnx.ModelProto) -> None:
    """Each Conv must feed exactly one BatchNormalization with one output."""
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Conv":
            users = consumers.get(node.output[0], [])
            ops = [u.op_type for u in users]
            if ops != ["BatchNormalization"] or len(users[0].output) != 1:
                raise RuntimeError(f"{node.name}: expected Conv -> BN, got {ops}")
            if not set(users[0].input[1:]) <= inits:
                raise RuntimeError(f"{users[0].name}: BN params are not initializers")


def export_torch(model: nn.Module, sample: torch.Tensor) -> onnx.ModelProto:
    """Export an eval-mode model with BN nodes kept and a dynamic batch."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notes of the legacy exporter
        torch.onnx.export(
            model,
            (sample,),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_DIM}, OUTPUT_NAME: {0: BATCH_DIM}},
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False,
        )
    onnx_model = onnx.load_from_string(buf.getvalue())
    materialize_identities(onnx_model)
    assert_bn_kept(onnx_model)
    return onnx_model


# --------------------------------------------------------------------------
# Hand-built seed models
# --------------------------------------------------------------------------


def single_conv_model(name: str, weight: np.ndarray, bias: np.ndarray | None, hw: int) -> onnx.ModelProto:
    """One unpadded stride-1 Conv as a whole model, static shapes."""
    cout, cin, kh, kw = weight.shape
    inits = [numpy_helper.from_array(weight.astype(np.float32), "conv.weight")]
    inputs = [INPUT_NAME, "conv.weight"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias.astype(np.float32), "conv.bias"))
        inputs.append("conv.bias")
    conv = helper.make_node(
        "Conv",
        inputs,
        ["output"],
        name="conv",
        kernel_shape=[kh, kw],
        pads=[0, 0, 0, 0],
        strides=[1, 1],
        dilations=[1, 1],
        group=1,
    )
    x = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, cin, hw, hw])
    out_hw = [hw - kh + 1, hw - kw + 1]
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, cout, *out_hw])
    graph = helper.make_graph([conv], name, [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sepconv")
    model.ir_version = IR_VERSION
    return model


def build_seed_depthwise() -> onnx.ModelProto:
    """Seed example: Conv 5x5, 3 -> 256 channels on 1x3x12x12 (out 1x256x8x8)."""
    rng = np.random.default_rng(SEED)
    scale = 1.0 / np.sqrt(3 * 5 * 5)  # He-like fan-in scale
    weight = rng.standard_normal((256, 3, 5, 5)) * scale
    bias = rng.standard_normal(256) * 0.1
    return single_conv_model("seed_depthwise", weight, bias, hw=12)


def build_seed_spatial() -> onnx.ModelProto:
    """Seed example: rank-1 Sobel-x Conv 3x3, 1 -> 1 on 1x1x5x5 (out 1x1x3x3)."""
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    return single_conv_model("seed_spatial", sobel.reshape(1, 1, 3, 3), None, hw=5)


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    """Run the saved model in onnxruntime (CPU) on x."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {INPUT_NAME: x.astype(np.float32)})[0]


def conv_summary(model: onnx.ModelProto) -> str:
    """'k x k cin->cout' for each Conv, in graph order."""
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    parts = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            cout, cin, kh, kw = shapes[node.input[1]]
            parts.append(f"{kh}x{kw} {cin}->{cout}")
    return ", ".join(parts)


def report(path: Path) -> None:
    """Print a model's size, op types and Conv list."""
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    size_kb = path.stat().st_size / 1024
    print(f"{path.name}: {size_kb:.0f} KiB, ops {ops}")
    print(f"  convs: {conv_summary(model)}")


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------


def make_digits(out: Path, stem: str, build: Callable[[], nn.Module], size: int, **train_kw: int | float) -> None:
    """Train, export and verify one digits model, writing .onnx and _test.npz."""
    seed_everything()
    x, y, train_idx, test_idx = load_split(size)
    model = build()
    seconds = train(model, x[train_idx], y[train_idx], **train_kw)
    onnx_path, npz_path = out / f"{stem}.onnx", out / f"{stem}_test.npz"
    save_model(export_torch(model, x[:1]), onnx_path)
    x_test, y_test = x[test_idx].numpy(), y[test_idx].numpy()
    save_npz(npz_path, x_test, y_test)
    with torch.no_grad():
        torch_acc = (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
    logits = run_ort(onnx_path, x_test)
    correct = int((logits.argmax(1) == y_test).sum())
    acc = correct / len(y_test)
    report(onnx_path)
    print(
        f"  train {seconds:.1f} s; test acc (onnxruntime) {acc:.4f} "
        f"[{correct}/{len(y_test)}], torch {torch_acc:.4f}; "
        f"logits {list(logits.shape)}"
    )


def make_seed(out: Path, stem: str, model: onnx.ModelProto, in_shape: list[int]) -> None:
    """Save and run one hand-built seed model, printing its output shape."""
    path = out / f"{stem}.onnx"
    save_model(model, path)
    x = np.random.default_rng(SEED).standard_normal(in_shape).astype(np.float32)
    y = run_ort(path, x)
    report(path)
    print(f"  input {in_shape} -> output {list(y.shape)}")


def main(argv: list[str] | None = None) -> None:
    """Parse --out and rebuild every sample file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: this script's folder)",
    )
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    make_digits(out, "digits_wide", build_wide, 32, epochs=10, batch=64, lr=3e-3, max_shift=2)
    make_digits(out, "digits_small", build_small, 8, epochs=15, batch=32, lr=3e-3, max_shift=0)
    make_seed(out, "seed_depthwise", build_seed_depthwise(), [1, 3, 12, 12])
    make_seed(out, "seed_spatial", build_seed_spatial(), [1, 1, 5, 5])


if __name__ == "__main__":
    main()
