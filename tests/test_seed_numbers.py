"""The seed's worked examples, to the multiplication, and a separable kernel done exactly at rank 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_builders import assert_close, conv_model, copy_model, run
from sepconv.converter import ConvertOptions, convert_file, convert_model
from sepconv.converter.analysis import inspect_model


def seed_depthwise_model() -> tuple:
    """12x12x3 input, 5x5 Conv 3 -> 256, no padding (8x8 output)."""
    w = np.random.default_rng(0).standard_normal((256, 3, 5, 5)).astype(np.float32) / 8
    return conv_model((1, 3, 12, 12), w, name="conv5x5"), w


def seed_spatial_model(w: np.ndarray | None = None) -> tuple:
    """5x5 single-channel image, 3x3 Conv 1 -> 1, no padding (3x3 output)."""
    if w is None:
        w = np.random.default_rng(1).standard_normal((1, 1, 3, 3)).astype(np.float32)
    return conv_model((1, 1, 5, 5), w, name="conv3x3"), w


def test_seed_depthwise_numbers() -> None:
    model, _ = seed_depthwise_model()
    (row,) = convert_model(model, ConvertOptions(method="depthwise", rank=1, verify=False))
    assert row["status"] == "rewritten"
    assert row["rank"] == 1
    assert row["macs_before"] == 256 * 5 * 5 * 3 * 8 * 8 == 1_228_800
    assert row["macs_after"] == 3 * 5 * 5 * 1 * 8 * 8 + 256 * 1 * 1 * 3 * 8 * 8 == 53_952
    assert row["params_before"] == 256 * 3 * 5 * 5
    assert row["params_after"] == 3 * 5 * 5 + 256 * 3


def test_seed_depthwise_numbers_in_report_totals(tmp_path: Path) -> None:
    import onnx

    model, _ = seed_depthwise_model()
    src = tmp_path / "seed1.onnx"
    onnx.save(model, src)
    report = convert_file(src, tmp_path / "out.onnx", ConvertOptions(method="depthwise", rank=1, verify=False))
    macs = report["totals"]["conv_macs"]
    assert (macs["before"], macs["after"]) == (1_228_800, 53_952)
    assert macs["ratio"] == pytest.approx(53_952 / 1_228_800)
    assert report["layers"][0]["macs_after"] == 53_952


def test_seed_model_inspect_counts() -> None:
    model, _ = seed_depthwise_model()
    info = inspect_model(model)
    assert info["conv_macs"] == 1_228_800
    assert info["layers"][0]["output_shape"] == [1, 256, 8, 8]


def test_seed_spatial_numbers() -> None:
    """81 -> 72 with spatial r = 1: 72 < 81, so no --force is needed."""
    model, _ = seed_spatial_model()
    (row,) = convert_model(model, ConvertOptions(method="spatial", rank=1, verify=False))
    assert row["macs_before"] == 3 * 3 * 3 * 3 == 81
    assert row["status"] == "rewritten", row["reason"]
    assert row["rank"] == 1
    assert row["macs_after"] == 3 * 1 * 3 * 5 + 1 * 3 * 3 * 3 == 72


def test_seed_spatial_numbers_in_report_totals(tmp_path: Path) -> None:
    import onnx

    model, _ = seed_spatial_model()
    src = tmp_path / "seed2.onnx"
    onnx.save(model, src)
    report = convert_file(src, tmp_path / "out.onnx", ConvertOptions(method="spatial", rank=1, verify=False))
    macs = report["totals"]["conv_macs"]
    assert (macs["before"], macs["after"]) == (81, 72)


SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)


@pytest.mark.parametrize("kernel", [SOBEL, SOBEL.T, np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16],
                         ids=["sobel_x", "sobel_y", "gauss"])
def test_separable_kernel_is_exact_at_rank_1(kernel: np.ndarray) -> None:
    model, _ = seed_spatial_model(kernel.reshape(1, 1, 3, 3))
    original = copy_model(model)
    (row,) = convert_model(model, ConvertOptions(method="spatial", rank=1, verify=False))
    assert row["status"] == "rewritten", row["reason"]
    assert row["full_rank"] == 3
    assert row["weight_rel_error"] == pytest.approx(0.0, abs=1e-6)
    assert row["energy_kept"] == pytest.approx(1.0)
    x = np.random.default_rng(2).standard_normal((1, 1, 5, 5)).astype(np.float32)
    assert_close(run(model, {"x": x})[0], run(original, {"x": x})[0], rtol=1e-5, atol=1e-5)
    vert = [n for n in model.graph.node if n.op_type == "Conv"]
    kernels = [next(a.ints for a in n.attribute if a.name == "kernel_shape") for n in vert]
    assert [list(k) for k in kernels] == [[3, 1], [1, 3]]


def test_separable_multichannel_kernel_exact_at_rank_1() -> None:
    """A 3 -> 4 Conv whose weight is a rank-1 matrix M[(c, y), (o, x)] is exact at spatial r = 1."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 3))  # (c, y)
    b = rng.standard_normal((4, 3))  # (o, x)
    w = np.einsum("cy,ox->ocyx", a, b).astype(np.float32)
    model = conv_model((2, 3, 9, 9), w, rng.standard_normal(4).astype(np.float32), pads=[1, 0, 2, 1], name="sep")
    original = copy_model(model)
    (row,) = convert_model(model, ConvertOptions(method="spatial", rank=1, verify=False))
    assert row["status"] == "rewritten" and row["rank"] == 1
    assert row["macs_after"] < row["macs_before"]
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    assert_close(run(model, {"x": x})[0], run(original, {"x": x})[0], rtol=1e-5, atol=1e-5)
