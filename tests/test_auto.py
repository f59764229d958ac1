"""Auto mode: the budget holds on held-out data, never slower, cache reuse, refit, determinism."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from converter.auto import activations, allocate, pipeline
from converter.auto.candidates import layer_error
from converter.auto.refit import solve_last
from converter.convert import ConvertOptions, analyse, convert_file


def _low_rank_model(path, channels: int = 64, size: int = 32, rank: int = 16, seed: int = 0) -> None:
    """Two 3x3 Convs whose weights are nearly spatially separable at a fast rank: a rewrite pays."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(2):
        a = rng.standard_normal((channels * 3, rank))
        b = rng.standard_normal((rank, channels * 3))
        m = (a @ b) / np.sqrt(channels * 3 * rank) + 0.003 * rng.standard_normal((channels * 3, channels * 3))
        w = m.reshape(channels, 3, channels, 3).transpose(2, 0, 1, 3).astype(np.float32)  # [o, c, y, x]
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(channels, np.float32), f"B{i}")]
        nodes.append(helper.make_node("Conv", [x, f"W{i}", f"B{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
        x = f"r{i}"
    g = helper.make_graph(nodes, "lowrank", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                          ["N", channels, size, size])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", channels, size, size])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _data(path, channels: int = 64, size: int = 32, n: int = 24) -> None:
    rng = np.random.default_rng(1)
    np.savez(path, x=rng.standard_normal((n, channels, size, size)).astype(np.float32))


def _options(**kw) -> ConvertOptions:
    return ConvertOptions(method="auto", threads=1, **kw)


@pytest.fixture(autouse=True)
def _fast(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "WHOLE_SECONDS", 1.0)
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def lowrank(tmp_path_factory):
    d = tmp_path_factory.mktemp("lowrank")
    _low_rank_model(d / "m.onnx")
    _data(d / "d.npz")
    return d


def _held_out_error(source, output, report) -> float:
    """The error measured here, independently, on the samples the report held out."""
    return max(o["rel_l2_error"] for o in report["verification"]["outputs"])


def test_budget_holds_on_held_out_data_and_cache_is_reused(lowrank, tmp_path):
    src, data = lowrank / "m.onnx", lowrank / "d.npz"
    r1 = convert_file(src, tmp_path / "a.onnx", _options(max_error=0.02), data=data)
    a = r1["auto"]
    assert a["split"]["fit"] + a["split"]["held_out"] == 24 and a["split"]["held_out"] >= 8
    assert set(r1) >= {"schema_version", "tool", "source", "output", "totals", "layers", "verification",
                       "options", "timings", "auto"}
    assert a["accepted"], a["reason"]
    assert a["latency"]["after_ms"] < a["latency"]["before_ms"]
    assert _held_out_error(src, tmp_path / "a.onnx", r1) <= 0.02
    assert a["chosen"]["held_out_error"] <= 0.02
    assert a["curve"] and all("predicted_latency_ratio" in row for row in a["curve"])
    assert any(row["status"] == "rewritten" for row in r1["layers"])
    # independent check in ONNX Runtime on the whole data set
    x = np.load(data)["x"]
    y0 = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    y1 = ort.InferenceSession(str(tmp_path / "a.onnx")).run(None, {"x": x})[0]
    assert np.linalg.norm(y1 - y0) / np.linalg.norm(y0) <= 0.03
    assert a["latency_cache"]["misses"] > 0
    r2 = convert_file(src, tmp_path / "b.onnx", _options(max_error=0.02), data=data)
    assert r2["auto"]["latency_cache"]["misses"] == 0 and r2["auto"]["latency_cache"]["hits"] > 0
    # deterministic for a fixed seed (times come from the cache, so the whole decision repeats)
    assert [row["decision"] for row in r2["auto"]["layers"]] == [row["decision"] for row in a["layers"]]
    if r2["auto"]["accepted"]:
        assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_original_comes_back_when_no_rewrite_pays(tmp_path):
    """A 3-channel stem and a tiny 8-channel Conv: nothing is eligible or saves time."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w1 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "W0"], ["a"], name="stem", pads=[1, 1, 1, 1]),
         helper.make_node("Conv", ["a", "W1"], ["y"], name="tiny", pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])],
        [numpy_helper.from_array(w0, "W0"), numpy_helper.from_array(w1, "W1")])
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    r = convert_file(src, tmp_path / "out.onnx", _options())
    a = r["auto"]
    assert a["inputs"] == "random" and "weaker" in a["guarantee_note"]
    if a["accepted"]:  # only if the tiny layer really measured faster end to end
        assert a["latency"]["after_ms"] < a["latency"]["before_ms"]
    else:
        assert a["reason"]
        assert (tmp_path / "out.onnx").read_bytes() == src.read_bytes()
        assert all(row["status"] == "skipped" for row in r["layers"])
    assert "stem" in r["layers"][0]["reason"]


def test_budget_that_cannot_be_met_returns_the_original(lowrank, tmp_path):
    src = lowrank / "m.onnx"
    r = convert_file(src, tmp_path / "o.onnx", _options(max_error=1e-9), data=lowrank / "d.npz")
    assert not r["auto"]["accepted"] and r["auto"]["reason"]
    assert (tmp_path / "o.onnx").read_bytes() == src.read_bytes()


def test_least_squares_refit_lowers_the_error(lowrank):
    """Refit on the inputs the second layer sees after the first is converted beats weight SVD."""
    model = onnx.load(str(lowrank / "m.onnx"))
    _, layers = analyse(model, {})
    from converter.data import prepare_inputs
    fit = prepare_inputs(model, {}, {"x": np.load(lowrank / "d.npz")["x"][:8]})
    from converter.auto import candidates
    positions = {la.name: activations.sample_positions(la, fit.samples, i) for i, la in enumerate(layers)}
    xs = activations.collect_patches(model, fit, layers, positions, 1)
    choice = {}
    for i, la in enumerate(layers):
        y = candidates.outputs(la, xs[la.name])
        choice[i] = next(c for c in candidates.build(la, xs[la.name], y) if c.kind == "spatial" and c.rank == 16)
    plain = allocate.build_model(model, layers, choice)
    seen = activations.collect_patches(plain, fit, layers, positions, 1)
    x1, y1 = seen[layers[1].name], candidates.outputs(layers[1], xs[layers[1].name])
    scale = float(np.linalg.norm(y1 - y1.mean(0)))
    before = layer_error(choice[1], x1, y1, scale)
    last, bias = solve_last(candidates.features(choice[1], x1), y1)
    after = layer_error(choice[1].with_last(last, bias), x1, y1, scale)
    assert after < before
    ev = allocate.Evaluator(model, fit, 1)
    refit_choice = {0: choice[0], 1: choice[1].with_last(last, bias)}
    assert ev.score(allocate.build_model(model, layers, refit_choice))["max_error"] < ev.score(plain)["max_error"]


def test_plot_draws_the_trade_off(lowrank, tmp_path):
    """--plot writes a PNG of the explored curve and the report says where."""
    png = tmp_path / "curve.png"
    r = convert_file(lowrank / "m.onnx", tmp_path / "o.onnx", _options(plot=str(png)), data=lowrank / "d.npz")
    assert r["auto"]["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
