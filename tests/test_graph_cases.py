"""Graph situations the converter must handle: BatchNormalization folding, Constant-node
weights, subgraphs, skips with reasons, rank policies, name filters, unknown shapes,
float16, external data."""

from __future__ import annotations

from math import prod
from pathlib import Path

import numpy as np
import onnx
import pytest
import sepconv.converter.modelio
from model_builders import (
    all_graphs,
    assert_close,
    assert_model_hygiene,
    conv_model,
    conv_node,
    conv_nodes,
    copy_model,
    io_signature,
    make_model,
    np_elem_type,
    random_weight,
    run,
)
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import ConvertOptions, SepconvError, convert_file, convert_model

FULL = {"rank": "full", "force": True, "verify": False}
METHODS = ("depthwise", "spatial")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def convert_and_compare(model: onnx.ModelProto, feeds: dict[str, np.ndarray], options: ConvertOptions,
                        rtol: float = 1e-4, atol: float = 1e-4) -> tuple[onnx.ModelProto, list[dict]]:
    original = copy_model(model)
    converted = copy_model(model)
    rows = convert_model(converted, options)
    for got, want in zip(run(converted, feeds), run(original, feeds), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, rtol=rtol, atol=atol)
    assert_model_hygiene(original, converted)
    return converted, rows


# ----- BatchNormalization ------------------------------------------------------------------------
def conv_bn_model(shared_output: bool = False) -> onnx.ModelProto:
    rng = _rng(1)
    w = random_weight(rng, (6, 4, 3, 3))
    b = rng.standard_normal(6).astype(np.float32)
    bn = [rng.uniform(0.5, 2.0, 6), rng.standard_normal(6), rng.standard_normal(6), rng.uniform(0.5, 2.0, 6)]
    names = ["bn_scale", "bn_shift", "bn_mean", "bn_var"]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
    inits += [numpy_helper.from_array(a.astype(np.float32), n) for a, n in zip(bn, names)]
    nodes = [conv_node("conv1", ["x", "W", "B"], "c", kernel=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", *names], ["y"], name="bn1", epsilon=1e-3)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 8, 8])]
    if shared_output:
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu1"))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 6, 8, 8]))
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 8, 8])], outputs, inits)


@pytest.mark.parametrize("method", METHODS)
def test_batchnorm_is_folded(method: str) -> None:
    model = conv_bn_model()
    x = _rng(2).standard_normal((2, 4, 8, 8)).astype(np.float32)
    converted, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "rewritten"
    assert row["batchnorm_folded"] is True
    assert not any(n.op_type == "BatchNormalization" for n in converted.graph.node)
    assert [o.name for o in converted.graph.output] == ["y"]
    assert any("y" in n.output for n in converted.graph.node)
    left = {t.name for t in converted.graph.initializer}
    assert not left & {"W", "B", "bn_scale", "bn_shift", "bn_mean", "bn_var"}


def test_batchnorm_with_another_reader_is_not_folded() -> None:
    model = conv_bn_model(shared_output=True)
    x = _rng(3).standard_normal((2, 4, 8, 8)).astype(np.float32)
    converted, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method="depthwise", **FULL))
    assert row["status"] == "rewritten"
    assert row["batchnorm_folded"] is False
    bns = [n for n in converted.graph.node if n.op_type == "BatchNormalization"]
    assert len(bns) == 1 and bns[0].input[0] == "c"


# ----- Constant-node weights ---------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_constant_node_weights(method: str) -> None:
    rng = _rng(4)
    w = random_weight(rng, (5, 3, 3, 3))
    model = conv_model((1, 3, 9, 9), w, rng.standard_normal(5).astype(np.float32), weight_source="constant",
                       name="convc", pads=[0, 1, 2, 1])
    assert sum(n.op_type == "Constant" for n in model.graph.node) == 2
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    converted, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "rewritten"
    assert not any(n.op_type == "Constant" for n in converted.graph.node), "dead Constant left behind"


def test_constant_weight_still_read_elsewhere_is_kept() -> None:
    rng = _rng(5)
    w = random_weight(rng, (5, 3, 3, 3))
    model = conv_model((1, 3, 9, 9), w, weight_source="constant", name="convc")
    model.graph.node.append(helper.make_node("Shape", ["convc_W"], ["wshape"], name="shape_of_w"))
    model.graph.output.append(helper.make_tensor_value_info("wshape", TensorProto.INT64, [4]))
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    converted, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method="depthwise", **FULL))
    assert row["status"] == "rewritten"
    assert any(n.op_type == "Constant" and n.output[0] == "convc_W" for n in converted.graph.node)


def test_shared_weight_initializer() -> None:
    """Two Convs read one weight: it goes only when neither needs it."""
    rng = _rng(6)
    w = random_weight(rng, (4, 4, 3, 3))
    nodes = [conv_node("a/conv", ["x", "W"], "h", kernel=[3, 3], pads=[1, 1, 1, 1]),
             conv_node("b/conv", ["h", "W"], "y", kernel=[3, 3], pads=[1, 1, 1, 1])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
                       [numpy_helper.from_array(w, "W")])
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    converted, rows = convert_and_compare(model, {"x": x}, ConvertOptions(method="depthwise", **FULL))
    assert [r["status"] for r in rows] == ["rewritten", "rewritten"]
    assert "W" not in {t.name for t in converted.graph.initializer}
    converted, rows = convert_and_compare(model, {"x": x},
                                          ConvertOptions(method="depthwise", exclude="^b/", **FULL))
    assert [r["status"] for r in rows] == ["rewritten", "skipped"]
    assert "W" in {t.name for t in converted.graph.initializer}


# ----- subgraphs ----------------------------------------------------------------------------------
def if_model() -> onnx.ModelProto:
    def branch(name: str, seed: int) -> onnx.GraphProto:
        w = random_weight(np.random.default_rng(seed), (6, 3, 3, 3))
        b = np.random.default_rng(seed + 1).standard_normal(6).astype(np.float32)
        return helper.make_graph(
            [conv_node(f"{name}_conv", ["x", f"{name}_W", f"{name}_B"], f"{name}_y", kernel=[3, 3],
                       pads=[1, 0, 1, 2], strides=[1, 2])],
            name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [1, 6, 7, 4])],
            [numpy_helper.from_array(w, f"{name}_W"), numpy_helper.from_array(b, f"{name}_B")])

    node = helper.make_node("If", ["cond"], ["y"], name="if1", then_branch=branch("then", 10),
                            else_branch=branch("else", 20))
    inputs = [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
              helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 8])]
    return make_model([node], inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 7, 4])])


@pytest.mark.parametrize("method", METHODS)
def test_conv_inside_if_branches(method: str) -> None:
    model = if_model()
    original = copy_model(model)
    converted = copy_model(model)
    rows = convert_model(converted, ConvertOptions(method=method, **FULL))
    assert len(rows) == 2
    assert all(r["status"] == "rewritten" for r in rows), [r["reason"] for r in rows]
    paths = sorted(r["graph"] for r in rows)
    assert any("then_branch" in p for p in paths) and any("else_branch" in p for p in paths)
    assert len(conv_nodes(converted)) >= 4
    x = _rng(8).standard_normal((1, 3, 7, 8)).astype(np.float32)
    for cond in (True, False):
        feeds = {"cond": np.array(cond), "x": x}
        assert_close(run(converted, feeds)[0], run(original, feeds)[0], what=f"cond={cond}")
    assert_model_hygiene(original, converted)
    # each branch's old weights are gone from that branch
    for g in all_graphs(converted.graph)[1:]:
        assert not {t.name for t in g.initializer} & {"then_W", "else_W", "then_B", "else_B"}


# ----- skips ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_non_constant_weight_is_skipped(method: str) -> None:
    rng = _rng(9)
    w = random_weight(rng, (4, 3, 3, 3))
    model = conv_model((1, 3, 6, 6), w, weight_source="input", name="dyn")
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    converted, (row,) = convert_and_compare(model, {"x": x, "dyn_W": w}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "skipped"
    assert "non-constant weight" in row["reason"]
    assert len(converted.graph.node) == 1


@pytest.mark.parametrize("method", METHODS)
def test_1x1_is_skipped(method: str) -> None:
    rng = _rng(10)
    model = conv_model((1, 8, 5, 5), random_weight(rng, (16, 8, 1, 1)), name="pw")
    x = rng.standard_normal((1, 8, 5, 5)).astype(np.float32)
    _, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "skipped" and "1x1" in row["reason"]


@pytest.mark.parametrize("method", METHODS)
def test_already_depthwise_is_skipped(method: str) -> None:
    rng = _rng(11)
    model = conv_model((1, 8, 5, 5), random_weight(rng, (8, 1, 3, 3)), group=8, name="dw")
    x = rng.standard_normal((1, 8, 5, 5)).astype(np.float32)
    _, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "skipped" and "depthwise" in row["reason"]


@pytest.mark.parametrize("method", METHODS)
def test_single_input_channel_conv_is_not_depthwise(method: str) -> None:
    """A standard 1 -> 16 Conv (group 1, Cout != Cin) is not 'already depthwise' (group = Cin = Cout):
    both methods must take it, e.g. the first layer of a network on grey images."""
    rng = _rng(12)
    model = conv_model((1, 1, 12, 12), random_weight(rng, (16, 1, 3, 3)), name="stem")
    x = rng.standard_normal((1, 1, 12, 12)).astype(np.float32)
    _, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "rewritten", row["reason"]


@pytest.mark.parametrize("method", METHODS)
def test_grouped_conv_is_factorized_per_group(method: str) -> None:
    rng = _rng(13)
    model = conv_model((1, 8, 9, 9), random_weight(rng, (12, 4, 3, 3)), rng.standard_normal(12).astype(np.float32),
                       group=2, pads=[2, 0, 0, 1], strides=[2, 1], dilations=[1, 2], name="grp")
    x = rng.standard_normal((1, 8, 9, 9)).astype(np.float32)
    _, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL))
    assert row["status"] == "rewritten", row["reason"]


# ----- auto_pad -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
def test_same_with_dilation_resolves_to_explicit_pads(method: str, mode: str) -> None:
    """onnxruntime cannot run SAME with dilations > 1; the converter resolves the pads itself, so the
    converted model runs and matches the same Conv with the pads written out (ONNX spec arithmetic)."""
    rng = _rng(14)
    w = random_weight(rng, (5, 3, 3, 2))
    model = conv_model((1, 3, 10, 9), w, strides=[2, 1], dilations=[2, 2], auto_pad=mode, name="same")
    converted = copy_model(model)
    (row,) = convert_model(converted, ConvertOptions(method=method, **FULL))
    assert row["status"] == "rewritten"
    # ONNX spec: total = max((ceil(in/s) - 1) * s + eff - in, 0); SAME_UPPER puts the extra at the end
    pads_b, pads_e = [], []
    for size, k, s, d in ((10, 3, 2, 2), (9, 2, 1, 2)):
        eff = (k - 1) * d + 1
        total = max((-(-size // s) - 1) * s + eff - size, 0)
        small, big = total // 2, total - total // 2
        pads_b.append(small if mode == "SAME_UPPER" else big)
        pads_e.append(big if mode == "SAME_UPPER" else small)
    explicit = conv_model((1, 3, 10, 9), w, strides=[2, 1], dilations=[2, 2], pads=pads_b + pads_e, name="same")
    assert row["pads"] == pads_b + pads_e
    x = rng.standard_normal((1, 3, 10, 9)).astype(np.float32)
    assert_close(run(converted, {"x": x})[0], run(explicit, {"x": x})[0])
    assert io_signature(converted) == io_signature(model)


def test_same_with_stride_and_unknown_size_is_skipped() -> None:
    rng = _rng(15)
    model = conv_model((1, 3, "H", "W"), random_weight(rng, (4, 3, 3, 3)), strides=[2, 2], auto_pad="SAME_UPPER",
                       name="sameq")
    (row,) = convert_model(copy_model(model), ConvertOptions(method="depthwise", **FULL))
    assert row["status"] == "skipped" and row["reason"]


# ----- rank policies ------------------------------------------------------------------------------
def policy_model() -> tuple[onnx.ModelProto, np.ndarray]:
    rng = _rng(16)
    w = random_weight(rng, (32, 16, 3, 3))
    return conv_model((1, 16, 10, 10), w, pads=[1, 1, 1, 1], name="pol"), w


def depthwise_macs(cin: int, cout: int, k: int, out: int, m: int) -> int:
    return cin * m * k * out + cout * cin * m * out


@pytest.mark.parametrize("method", METHODS)
def test_rank_n_is_capped_at_full_rank(method: str) -> None:
    model, _ = policy_model()
    (row,) = convert_model(model, ConvertOptions(method=method, rank=10_000, force=True, verify=False))
    assert row["status"] == "rewritten"
    assert row["rank"] == row["full_rank"] == (9 if method == "depthwise" else 48)


def test_rank_n_is_used() -> None:
    model, _ = policy_model()
    (row,) = convert_model(model, ConvertOptions(method="depthwise", rank=2, verify=False))
    assert row["rank"] == 2
    assert row["macs_after"] == depthwise_macs(16, 32, 9, 100, 2)


@pytest.mark.parametrize("energy", [0.3, 0.6, 0.9, 0.99])
def test_energy_picks_smallest_rank_reaching_it(energy: float) -> None:
    model, w = policy_model()
    (row,) = convert_model(model, ConvertOptions(method="depthwise", energy=energy, force=True, verify=False))
    mats = w.astype(np.float64).transpose(1, 0, 2, 3).reshape(16, 32, 9)
    s2 = (np.linalg.svd(mats, compute_uv=False) ** 2).sum(axis=0)
    kept = np.cumsum(s2) / s2.sum()
    want = int(np.argmax(kept >= energy)) + 1
    assert row["rank"] == want
    assert row["energy_kept"] >= energy
    if want > 1:
        assert kept[want - 2] < energy


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])
def test_ratio_picks_largest_rank_within_budget(ratio: float) -> None:
    model, _ = policy_model()
    (row,) = convert_model(model, ConvertOptions(method="depthwise", ratio=ratio, verify=False))
    before = 32 * 16 * 9 * 100
    assert row["macs_before"] == before
    fits = [m for m in range(1, 10) if depthwise_macs(16, 32, 9, 100, m) <= ratio * before]
    assert row["status"] == "rewritten"
    assert row["rank"] == max(fits)
    assert row["macs_after"] <= ratio * before


def test_ratio_too_small_for_rank_1_is_skipped() -> None:
    model, _ = policy_model()
    (row,) = convert_model(model, ConvertOptions(method="depthwise", ratio=0.01, verify=False))
    assert row["status"] == "skipped" and row["reason"]


@pytest.mark.parametrize("method", METHODS)
def test_no_saving_is_skipped_unless_forced(method: str) -> None:
    model, _ = policy_model()
    (row,) = convert_model(copy_model(model), ConvertOptions(method=method, rank="full", verify=False))
    assert row["status"] == "skipped"
    assert "no saving" in row["reason"]
    assert row["macs_after"] == row["macs_before"]
    (row,) = convert_model(copy_model(model), ConvertOptions(method=method, rank="full", force=True, verify=False))
    assert row["status"] == "rewritten"
    assert row["macs_after"] > row["macs_before"]


# ----- include / exclude --------------------------------------------------------------------------
def two_conv_model() -> onnx.ModelProto:
    rng = _rng(17)
    nodes = [conv_node("block1/conv", ["x", "W1"], "h", kernel=[3, 3], pads=[1, 1, 1, 1]),
             conv_node("block2/conv", ["h", "W2"], "y", kernel=[3, 3], pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(random_weight(rng, (8, 4, 3, 3)), "W1"),
             numpy_helper.from_array(random_weight(rng, (8, 8, 3, 3)), "W2")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], inits)


@pytest.mark.parametrize(("include", "exclude", "want"), [
    ("block1", None, ["rewritten", "skipped"]),
    (None, "block1", ["skipped", "rewritten"]),
    ("^block", "2/", ["rewritten", "skipped"]),
    ("nothing", None, ["skipped", "skipped"]),
])
def test_include_exclude(include: str | None, exclude: str | None, want: list[str]) -> None:
    x = _rng(18).standard_normal((1, 4, 6, 6)).astype(np.float32)
    _, rows = convert_and_compare(two_conv_model(), {"x": x},
                                  ConvertOptions(method="depthwise", include=include, exclude=exclude, **FULL))
    assert [r["status"] for r in rows] == want
    for r in rows:
        if r["status"] == "skipped":
            assert "--include" in r["reason"] or "--exclude" in r["reason"]


def test_bad_regex_is_a_one_line_error() -> None:
    with pytest.raises(SepconvError) as info:
        convert_model(two_conv_model(), ConvertOptions(include="(", verify=False))
    assert "\n" not in str(info.value)


# ----- unknown shapes -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_unknown_spatial_dims(method: str) -> None:
    rng = _rng(19)
    model = conv_model(("N", 3, "H", "W"), random_weight(rng, (8, 3, 3, 3)), pads=[1, 1, 1, 1], name="sym")
    (row,) = convert_model(copy_model(model), ConvertOptions(method=method, rank=1, verify=False))
    assert row["status"] == "skipped" and "unknown shape" in row["reason"]
    assert row["macs_before"] is None
    converted = copy_model(model)
    (row,) = convert_model(converted, ConvertOptions(method=method, rank="full", force=True, verify=False,
                                                     input_shapes={"x": [1, 3, 10, 10]}))
    assert row["status"] == "rewritten", row["reason"]
    assert row["macs_before"] == 8 * 3 * 9 * 100
    assert io_signature(converted) == io_signature(model), "the symbolic input shape must stay symbolic"
    x = rng.standard_normal((2, 3, 7, 12)).astype(np.float32)  # another size: the pads are explicit
    assert_close(run(converted, {"x": x})[0], run(model, {"x": x})[0])


# ----- float16 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_float16_stays_float16(method: str) -> None:
    rng = _rng(20)
    w = random_weight(rng, (8, 4, 3, 3), np.float16)
    model = conv_model((1, 4, 8, 8), w, rng.standard_normal(8).astype(np.float16), pads=[1, 1, 1, 1], name="h")
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float16)
    converted, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method=method, **FULL),
                                            rtol=1e-2, atol=1e-2)
    assert row["status"] == "rewritten"
    fp16 = np_elem_type(np.float16)
    assert all(t.data_type == fp16 for t in converted.graph.initializer)
    assert converted.graph.output[0].type.tensor_type.elem_type == fp16


# ----- names ----------------------------------------------------------------------------------------
def test_new_names_do_not_clash_with_existing_ones() -> None:
    """Tensors and nodes already named like the converter's new ones force fresh names."""
    rng = _rng(21)
    w = random_weight(rng, (6, 4, 3, 3))
    nodes = [helper.make_node("Relu", ["x"], ["c/sepconv_depthwise_0_out"], name="c/sepconv_depthwise_0"),
             conv_node("c", ["c/sepconv_depthwise_0_out", "c/sepconv_pointwise_0_W"], "y", kernel=[3, 3])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 4, 4])],
                       [numpy_helper.from_array(w, "c/sepconv_pointwise_0_W")])
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    _, (row,) = convert_and_compare(model, {"x": x}, ConvertOptions(method="depthwise", **FULL))
    assert row["status"] == "rewritten"
    assert "c/sepconv_depthwise_0" not in row["new_nodes"]


# ----- external data ------------------------------------------------------------------------------
def big_model() -> onnx.ModelProto:
    rng = _rng(22)
    return conv_model((1, 16, 8, 8), random_weight(rng, (32, 16, 3, 3)), rng.standard_normal(32).astype(np.float32),
                      pads=[1, 1, 1, 1], name="big")


def test_model_with_external_data_loads_and_converts(tmp_path: Path) -> None:
    model = big_model()
    src = tmp_path / "in" / "model.onnx"
    src.parent.mkdir()
    onnx.save_model(copy_model(model), str(src), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (src.parent / "weights.bin").stat().st_size > 16_000
    out = tmp_path / "out" / "model.onnx"
    report = convert_file(src, out, ConvertOptions(method="depthwise", rank="full", force=True), data=None)
    assert report["layers"][0]["status"] == "rewritten"
    assert report["totals"]["file_bytes"]["before"] > 16_000
    outs = report["verification"]["outputs"]
    assert outs[0]["max_abs_error"] < 1e-4
    x = _rng(23).standard_normal((1, 16, 8, 8)).astype(np.float32)
    assert_close(run(str(out), {"x": x})[0], run(model, {"x": x})[0])


def test_save_switches_to_external_data_past_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sepconv.converter.modelio, "EXTERNAL_DATA_THRESHOLD", 10_000)
    model = big_model()
    src = tmp_path / "model.onnx"
    onnx.save(model, src)
    out = tmp_path / "out" / "conv.onnx"
    report = convert_file(src, out, ConvertOptions(method="depthwise", rank="full", force=True))
    data_files = [p for p in out.parent.iterdir() if p != out and not p.name.startswith(".")]
    assert data_files, "no external data file written"
    bare = onnx.load(str(out), load_external_data=False)
    assert any(t.data_location == TensorProto.EXTERNAL for t in bare.graph.initializer)
    assert report["totals"]["file_bytes"]["after"] == out.stat().st_size + sum(p.stat().st_size for p in data_files)
    loaded = onnx.load(str(out))
    onnx.checker.check_model(loaded, full_check=True)
    x = _rng(24).standard_normal((1, 16, 8, 8)).astype(np.float32)
    assert_close(run(str(out), {"x": x})[0], run(model, {"x": x})[0])
    assert report["verification"]["outputs"][0]["max_abs_error"] < 1e-4
    assert not list(out.parent.glob(".sepconv-*")), "temporary files left behind"


def test_kernel_macs_counted_by_seed_convention() -> None:
    model, _ = policy_model()
    (row,) = convert_model(model, ConvertOptions(method="spatial", rank=3, verify=False))
    # vertical 3x1 over the Ho x W intermediate, horizontal 1x3 over the output
    assert row["macs_after"] == 3 * 16 * 3 * 10 * 10 + 32 * 3 * 3 * 10 * 10
    assert row["macs_before"] == 32 * 16 * prod((3, 3)) * 100
