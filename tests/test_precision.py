"""int8 through ONNX Runtime's quantizer: fixed methods, the budget's fallback to float, auto mode's
choice and its guard, and what a user sees when the quantizer cannot take a model. ORT really runs
every model here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from model_builders import conv_node, make_model, run
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import ConvertOptions, OptionError, SepconvError, convert_file, prepare_inputs
from sepconv.converter.auto import pipeline, precision, precision_stage
from sepconv.converter.auto.allocate import Evaluator
from sepconv.converter.auto.precision import probe_set, within_budget
from sepconv.converter.auto.search import Budget
from sepconv.converter.auto.split import split


def two_convs(*, outlier: bool, opset: int = 17, batch: int = 1, seed: int = 0, prelu: bool = False) -> onnx.ModelProto:
    """x -> conv_a (3x3, 8 -> 16) -> Relu -> conv_b (3x3, 16 -> 16) -> y. With ``outlier``, each of
    conv_b's output channels has one weight 1000x the others: per-channel int8 keeps that one and
    rounds every other weight of the channel to zero, so conv_b in int8 breaks any small budget.
    With ``prelu``, a per-channel PRelu instead of the Relu: an op without an int8 kernel in ORT."""
    rng = np.random.default_rng(seed)
    wa = (rng.standard_normal((16, 8, 3, 3)) / np.sqrt(72)).astype(np.float32)
    wb = (rng.standard_normal((16, 16, 3, 3)) / np.sqrt(144)).astype(np.float32)
    if outlier:  # fed by a channel conv_a all but silences, so the outlier itself adds little to y
        wa[0] *= 1e-4
        wb[:, 0, 1, 1] = 1000.0 * np.abs(wb).max()
    inits = [numpy_helper.from_array(wa, "wa"), numpy_helper.from_array(wb, "wb"),
             numpy_helper.from_array(np.full((16, 1, 1), 0.25, np.float32), "slope")]
    act = helper.make_node("PRelu", ["a", "slope"], ["r"]) if prelu else helper.make_node("Relu", ["a"], ["r"])
    nodes = [conv_node("conv_a", ["x", "wa"], "a", pads=[1, 1, 1, 1]), act,
             conv_node("conv_b", ["r", "wb"], "y", pads=[1, 1, 1, 1])]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8, 16, 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 16, 16, 16])], inits, opset=opset)


def _npz(path, n: int = 48, seed: int = 1) -> None:
    np.savez(path, x=np.random.default_rng(seed).standard_normal((n, 8, 16, 16)).astype(np.float32))


def _ops(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_after_no_rewrite_is_verified_and_a_quarter_of_the_weights(tmp_path):
    src, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    onnx.save(two_convs(outlier=False), str(src))
    _npz(data)
    r = convert_file(src, out, ConvertOptions(method="none", precision="int8"), data=data)
    p = r["precision"]
    assert p["chosen"] == "int8" and p["float_nodes"] == [] and set(p["int8_nodes"]) == {"conv_a", "conv_b"}
    assert p["calibration"]["method"] in p["calibration"]["tried"] and len(p["calibration"]["tried"]) == 3
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(out)
    assert [row["precision"] for row in r["layers"]] == ["int8", "int8"]
    assert r["totals"]["conv_macs_by_precision"] == {"int8": r["totals"]["conv_macs"]["after"], "float": 0}
    assert r["totals"]["file_bytes"]["ratio"] < 0.5  # int8 weights (plus scales and zero points)
    (out_stats,) = r["verification"]["outputs"]
    assert 0 < out_stats["rel_l2_error"] < 0.05  # int8 is not exact, and it is close
    assert json.loads(dict((p.key, p.value) for p in onnx.load(str(out)).metadata_props)["sepconv.options"])[
        "precision"] == "int8"


def test_the_report_names_the_ops_int8_layers_hand_back_to_float(tmp_path):
    """A PRelu between the convs has no int8 kernel: conv_a's int8 output is dequantized for it."""
    for prelu, expected in ((True, {"PRelu": 1}), (False, {})):
        src, out, data = tmp_path / f"m{prelu}.onnx", tmp_path / f"o{prelu}.onnx", tmp_path / "d.npz"
        onnx.save(two_convs(outlier=False, prelu=prelu), str(src))
        _npz(data)
        r = convert_file(src, out, ConvertOptions(method="none", precision="int8"), data=data)
        assert r["precision"]["chosen"] == "int8" and r["precision"]["float_between_int8"] == expected
    cli = subprocess.run([sys.executable, "-m", "sepconv", "convert", str(tmp_path / "mTrue.onnx"), "-o",
                          str(tmp_path / "cli.onnx"), "--method", "none", "--precision", "int8", "--data", str(data)],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "run float after int8 layers (no int8 kernel in ONNX Runtime): 1 PRelu" in " ".join(cli.stdout.split())


def test_a_model_below_opset_13_is_upgraded_then_quantized(tmp_path):
    src, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    onnx.save(two_convs(outlier=False, opset=11), str(src))
    _npz(data)
    r = convert_file(src, out, ConvertOptions(method="spatial", rank="full", precision="int8"), data=data)
    assert any("opset 11 upgraded to 13" in n for n in r["precision"]["notes"])
    converted = onnx.load(str(out))
    assert next(o.version for o in converted.opset_import if o.domain in ("", "ai.onnx")) >= 13
    onnx.checker.check_model(converted)
    assert "QuantizeLinear" in _ops(out)
    assert all(row["precision"] == "int8" for row in r["layers"] if row["status"] == "rewritten")


def test_the_layer_whose_int8_breaks_the_budget_falls_back_to_float(tmp_path):
    model = two_convs(outlier=True)
    arrays = {"x": np.random.default_rng(2).standard_normal((64, 8, 16, 16)).astype(np.float32)}
    inputs = prepare_inputs(model, {}, arrays, 0)
    parts = split(inputs, 0, 1)
    budget = Budget(0.05, None)
    q = within_budget(model, model.SerializeToString(), parts.fit, parts.held, budget, threads=1)
    assert q is not None
    assert list(q.float_nodes) == ["conv_b"] and q.int8_nodes == ["conv_a"]
    assert q.sensitivity["conv_b"] > 10 * q.sensitivity["conv_a"]
    assert "kept float" in q.float_nodes["conv_b"] and "most sensitive of 2" in q.float_nodes["conv_b"]
    assert q.held["max_error"] <= 0.05
    # every node in int8 breaks the budget: the search did not just keep everything float
    everything = within_budget(model, model.SerializeToString(), parts.fit, parts.held, budget, threads=1,
                               fallback=False)
    assert everything is None
    # and the model handed back really runs conv_a in int8 and conv_b in float
    qdq_inputs = {n.input[1] for n in q.model.graph.node if n.op_type == "Conv"}
    assert any("wa" in name and name != "wa" for name in qdq_inputs) and "wb" in qdq_inputs
    ref = run(model, {"x": arrays["x"][:1]})[0]
    got = run(q.model, {"x": arrays["x"][:1]})[0]
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 0.05
    # a later start reuses the sensitivities measured on earlier ones, by node name: handed them
    # reversed, the bisection keeps conv_a float first, and only both float (no int8) meets the budget
    known = {"conv_a": 1.0, "conv_b": 0.0}
    assert within_budget(model, model.SerializeToString(), parts.fit, parts.held, budget, threads=1,
                         known=known) is None
    fresh: dict[str, float] = {}
    within_budget(model, model.SerializeToString(), parts.fit, parts.held, budget, threads=1, known=fresh)
    assert fresh == pytest.approx(q.sensitivity)  # what this start measured, for the next


def test_node_sensitivities_take_fewer_samples_where_the_outputs_are_large():
    """A 16x16x16 output holds 4096 values a sample: 2 samples rank the nodes. Pooled to 16 values,
    8 are taken; a model that fixes its batch at 3 gets whole batches."""
    x = np.random.default_rng(3).standard_normal((24, 8, 16, 16)).astype(np.float32)

    def probe_samples(model: onnx.ModelProto, arrays: dict) -> int:
        fit = prepare_inputs(model, {}, arrays, 0)
        return probe_set(fit, Evaluator(model.SerializeToString(), fit, 1)).samples

    assert probe_samples(two_convs(outlier=False), {"x": x}) == 2
    pooled = two_convs(outlier=False)
    pooled.graph.node[-1].output[0] = "c"
    pooled.graph.node.append(helper.make_node("GlobalAveragePool", ["c"], ["y"]))
    del pooled.graph.output[:]
    pooled.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 1, 1]))
    assert probe_samples(pooled, {"x": x}) == 8
    fixed = prepare_inputs(two_convs(outlier=False, batch=3), {}, {"x": x}, 0)
    assert fixed.fixed and fixed.batch == 3
    assert probe_set(fixed, Evaluator(two_convs(outlier=False, batch=3).SerializeToString(), fixed, 1)).samples == 3


def _conv_inside_if() -> onnx.ModelProto:
    """A Conv that ONNX Runtime runs but only inside an If branch, where its quantizer does not reach."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    branch = helper.make_graph([conv_node("inner_conv", ["x", "w"], "yb", pads=[1, 1, 1, 1])], "then", [],
                               [helper.make_tensor_value_info("yb", TensorProto.FLOAT, [1, 4, 8, 8])])
    other = helper.make_graph([helper.make_node("Identity", ["z"], ["yc"])], "else", [],
                              [helper.make_tensor_value_info("yc", TensorProto.FLOAT, [1, 4, 8, 8])])
    z = numpy_helper.from_array(np.zeros((1, 4, 8, 8), np.float32), "z")
    low = numpy_helper.from_array(np.array(-1e30, np.float32), "low")
    nodes = [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),  # the branch taken depends on x: no folding
             helper.make_node("Greater", ["top", "low"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=other)]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w, z, low])


def test_a_model_the_quantizer_cannot_take_gets_one_line_and_float_under_auto(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    onnx.save(_conv_inside_if(), str(src))
    with pytest.raises(SepconvError, match="int8: the model's main graph has no Conv"):
        convert_file(src, out, ConvertOptions(method="none", precision="int8"))
    assert not out.exists()
    cli = subprocess.run([sys.executable, "-m", "sepconv", "convert", str(src), "-o", str(out), "--method", "none",
                          "--precision", "int8"], capture_output=True, text=True, timeout=300)
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and "int8" in cli.stderr
    r = convert_file(src, out, ConvertOptions(method="none", precision="auto"))
    assert r["precision"]["chosen"] == "float" and "main graph has no Conv" in r["precision"]["reason"]
    assert "QuantizeLinear" not in _ops(out)


def test_precision_options_are_checked():
    with pytest.raises(OptionError) as e:
        ConvertOptions(precision="int4").validate()
    assert e.value.field == "precision"
    with pytest.raises(OptionError) as e:
        ConvertOptions(method="none").validate()
    assert e.value.field == "method"
    with pytest.raises(OptionError) as e:  # a budget needs a search: auto mode or precision auto
        ConvertOptions(method="depthwise", precision="int8", max_error=0.05).validate()
    assert e.value.field == "max_error"
    ConvertOptions(method="depthwise", precision="auto", max_error=0.05).validate()


@pytest.fixture
def _fast_whole(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "WHOLE_SECONDS", 1.0)
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))


def test_auto_mode_hands_out_int8_only_where_it_measures_faster(tmp_path, monkeypatch, _fast_whole):
    """The whole-model check is made to read every int8 model twice as slow as the original: auto mode
    keeps its float result, and says why."""
    real = pipeline.median_round

    def int8_slower(models, *args, **kw):
        before, after, rounds = real(models, *args, **kw)
        if b"QuantizeLinear" in models[1]:
            return before, 2.0 * before, [2.0] * len(rounds)
        return before, after, rounds

    monkeypatch.setattr(pipeline, "median_round", int8_slower)
    src, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    onnx.save(two_convs(outlier=False), str(src))
    _npz(data, n=64)
    r = convert_file(src, out, ConvertOptions(method="auto", precision="auto", max_error=0.05, threads=1), data=data)
    p = r["precision"]
    assert p["chosen"] == "float" and "not measurably faster" in p["reason"]
    assert "QuantizeLinear" not in _ops(out)
    assert p["starts"] and all(s["timed_ratio"] is not None for s in p["starts"] if s["int8_nodes"])
    assert all(row["precision"] == "float" for row in r["layers"])


def test_auto_mode_with_int8_stays_within_the_budget_and_is_never_slower(tmp_path, _fast_whole):
    src, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    onnx.save(two_convs(outlier=True), str(src))
    _npz(data, n=64)
    r = convert_file(src, out, ConvertOptions(method="auto", precision="auto", max_error=0.05, threads=1), data=data)
    p, a = r["precision"], r["auto"]
    (stats,) = r["verification"]["outputs"]
    assert stats["rel_l2_error"] <= 0.05  # verified on the held-out data, as auto mode's budget is
    if p["chosen"] == "float":
        assert p["reason"]
        assert not a["accepted"] or a["latency"]["ratio"] < 0.97
    else:
        assert "conv_b" not in p["int8_nodes"]  # the outlier layer cannot be int8 within 5%
        assert a["accepted"] and a["latency"]["ratio"] < 0.97
        assert "QuantizeLinear" in _ops(out)


def test_no_fallback_is_searched_where_every_node_in_int8_is_not_faster(tmp_path, monkeypatch, _fast_whole):
    """Every node in int8 breaks the budget (the outlier) and is made to time twice as slow as the
    original: no node sensitivity is measured, and the reason says int8 would not be faster."""
    real = precision_stage.median_ms

    def int8_slower(models, *args, **kw):
        return [ms * (2.0 if b"QuantizeLinear" in m else 1.0) for m, ms in zip(models, real(models, *args, **kw))]

    measured: list = []
    monkeypatch.setattr(precision_stage, "median_ms", int8_slower)
    monkeypatch.setattr(precision, "_sensitivities", lambda *args: measured.append(args) or {})
    src, out, data = tmp_path / "m.onnx", tmp_path / "o.onnx", tmp_path / "d.npz"
    onnx.save(two_convs(outlier=True, prelu=True), str(src))
    _npz(data, n=64)
    r = convert_file(src, out, ConvertOptions(method="auto", precision="auto", max_error=0.05, threads=1), data=data)
    p = r["precision"]
    assert p["chosen"] == "float" and "int8 would not be faster" in p["reason"], p["reason"]
    assert "no int8 kernel for the ops int8 layers feed here (1 PRelu)" in p["reason"], p["reason"]
    assert measured == [] and p["starts"] and all(s["every_node_int8_ratio"] > 1.5 for s in p["starts"])
    assert all(s["float_between_int8"] == {"PRelu": 1} for s in p["starts"])
    assert "QuantizeLinear" not in _ops(out)


def silu_block(seed: int = 0) -> onnx.ModelProto:
    """conv_a -> SiLU (Sigmoid, Mul) -> conv_b -> SiLU -> Add(residual) -> Concat: the ops ONNX
    Runtime's quantizer takes from its QLinear registry (not its QDQ one), as YOLO-style detectors use."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) / 8).astype(np.float32), w) for w in "ab"]
    nodes = [conv_node("conv_a", ["x", "a"], "ca", pads=[1, 1, 1, 1]), helper.make_node("Sigmoid", ["ca"], ["sa"]),
             helper.make_node("Mul", ["ca", "sa"], ["ma"]),
             conv_node("conv_b", ["ma", "b"], "cb", pads=[1, 1, 1, 1]), helper.make_node("Sigmoid", ["cb"], ["sb"]),
             helper.make_node("Mul", ["cb", "sb"], ["mb"]), helper.make_node("Add", ["mb", "ma"], ["r"]),
             helper.make_node("Concat", ["r", "ma"], ["y"], axis=1)]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16, 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])], inits, opset=17)


def test_a_group_kept_float_keeps_its_activations_and_adds_float(tmp_path):
    from sepconv.converter.data import InputSet
    from sepconv.converter.precision import REGISTRY

    x = np.random.default_rng(2).standard_normal((8, 8, 16, 16)).astype(np.float32)
    prep = REGISTRY["int8"].prepare(silu_block(), InputSet({"x": x}, None, 1, "data", fixed=True), str(tmp_path))
    quantized = [n.op_type for n in prep.apply("minmax").graph.node if n.op_type == "QuantizeLinear"]
    assert len(quantized) >= 5  # conv inputs and the SiLUs', the Add's and the Concat's
    every = prep.apply("minmax", list(prep.prepared.nodes))
    assert "QuantizeLinear" not in {n.op_type for n in every.graph.node}  # every group float: the float model
    assert run(every, {"x": x[:1]})[0] == pytest.approx(run(silu_block(), {"x": x[:1]})[0], abs=1e-5)
    b_float = prep.apply("minmax", ["conv_b"])
    feeds = {i for n in b_float.graph.node if n.op_type in ("Sigmoid", "Mul", "Add") and n.input[0].startswith("cb")
             for i in n.input}
    assert not any(i.endswith("DequantizeLinear_Output") for i in feeds)  # conv_b's SiLU reads float
