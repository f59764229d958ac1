"""``benchmark``'s result: the summary statistics per model and the runs' own latencies
(``times_ms``), which the web page draws as a histogram."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx import numpy_helper as nh
from sepconv.converter import bench, benchmark, prepare_inputs, timing

SUMMARY = ["name", "median_ms", "p90_ms", "mean_ms", "min_ms", "throughput_per_s"]


def _model(cout: int) -> onnx.ModelProto:
    w = nh.from_array(np.random.default_rng(cout).standard_normal((cout, 4, 3, 3)).astype(np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, cout, 8, 8])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("runs, count", [(7, 1), (8, 2)])  # an odd and an even number of runs
def test_times_ms_are_the_runs(runs: int, count: int) -> None:
    models = [_model(8), _model(8)][:count]
    result = benchmark(models, prepare_inputs(models[0], {}, None), runs=runs, warmup=1, labels=["a", "b"][:count])
    assert result["runs"] == runs and len(result["models"]) == count
    for m in result["models"]:
        assert list(m)[:len(SUMMARY)] == SUMMARY  # the summary keys as before, then the runs
        times = m["times_ms"]
        assert len(times) == runs and m["times_ms_subsampled"] is False
        assert all(isinstance(t, float) and t > 0 for t in times)
        assert float(np.median(times)) == pytest.approx(m["median_ms"], rel=1e-3)  # 4 significant digits
        assert min(times) == pytest.approx(m["min_ms"], rel=1e-3)
        assert float(np.mean(times)) == pytest.approx(m["mean_ms"], rel=1e-3)


def test_many_runs_keep_an_evenly_spaced_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = 5 * bench.MAX_TIMES + 3
    seconds = [1e-3 + i * 1e-9 for i in range(runs)]  # rising, so run order shows in the values
    monkeypatch.setattr(bench, "interleave", lambda sessions, feed, runs, warmup: [seconds])
    model = _model(4)
    m = benchmark([model], prepare_inputs(model, {}, None), runs=runs)["models"][0]
    times = m["times_ms"]
    assert len(times) == bench.MAX_TIMES and m["times_ms_subsampled"] is True
    assert times == sorted(times) and times[0] == 1.0 and times[-1] == pytest.approx(seconds[-1] * 1e3, rel=1e-3)
    assert m["median_ms"] == pytest.approx(float(np.median(seconds)) * 1e3)  # the statistics are of every run


def test_timed_sessions_do_not_spin(monkeypatch) -> None:
    """Sessions timed against each other turn ONNX Runtime's thread spinning off: an idle session's
    spinning threads would take cores from the one being timed (benchmarks/timing_bias.py measured
    identical models 1.6x apart with it on). Checked on the sessions ``benchmark`` and ``median_ms`` open."""
    opened = []
    real = timing.timing_session

    def spy(model, threads):
        s = real(model, threads)
        opened.append(s)
        return s

    monkeypatch.setattr(timing, "timing_session", spy)
    monkeypatch.setattr(bench, "timing_session", spy)
    model = _model(8)
    benchmark([model, model], prepare_inputs(model, {}, None), runs=3, warmup=1, threads=2)
    timing.median_ms([model.SerializeToString()], next(prepare_inputs(model, {}, None).batches()), 2, 0.01, 2, 3)
    assert len(opened) == 3
    for s in opened:
        assert s.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.parametrize(("factors", "ratio"), [((0.5, 1.0, 1.0), 1.0), ((0.9, 1.5, 0.8), 0.9)])
def test_whole_model_timing_takes_the_median_round(monkeypatch, factors, ratio):
    """One lucky pair of sessions does not make a model that is not faster look faster, and one
    unlucky pair does not hide a gain: each round times new sessions, and the median round counts."""
    rounds = iter(zip((2.0, 3.0, 5.0), factors))  # each round its own speed: before and after must pair up

    def one_round(models, feed, threads, seconds, min_runs, max_runs):
        assert seconds == pytest.approx(3.0 / 3) and len(models) == 2
        base, factor = next(rounds)
        return [base, base * factor]

    monkeypatch.setattr(timing, "median_ms", one_round)
    before, after, ratios = timing.median_round(["a", "b"], {}, 1, 3.0, 3, min_runs=1, max_runs=2)
    assert ratios == pytest.approx(list(factors)) and after / before == pytest.approx(ratio)
    assert before == (2.0, 3.0, 5.0)[list(factors).index(ratio)]


def _classifier(seed: int, batch: int | str = "N") -> onnx.ModelProto:
    """Conv then a global pool to N x 4 class scores, on a symbolic (or fixed) batch."""
    w = nh.from_array(np.random.default_rng(seed).standard_normal((4, 4, 3, 3)).astype(np.float32), "W")
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 4])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_three_models_against_the_first_at_a_batch() -> None:
    models = [_classifier(0), _classifier(0), _classifier(1)]  # the first again: no difference at all
    x = np.random.default_rng(3).standard_normal((300, 4, 8, 8)).astype(np.float32)
    y = ort.InferenceSession(models[0].SerializeToString()).run(None, {"x": x})[0].argmax(1)
    inputs = prepare_inputs(models[0], {}, {"x": x, "labels": y.astype(np.int64)})
    r = benchmark(models, inputs, runs=3, warmup=1, labels=["a", "b", "c"], batch=5)
    assert r["batch_size"] == 5 and [m["name"] for m in r["models"]] == ["a", "b", "c"]
    assert all(m["throughput_per_s"] == pytest.approx(5 / (m["median_ms"] / 1e3)) for m in r["models"])
    first, same, other = r["models"]
    assert first["speedup"] is None and first["output_difference"] is None
    assert same["speedup"] > 0 and same["output_difference"][0]["rel_l2_error"] == 0.0
    assert other["output_difference"][0]["rel_l2_error"] > 0.1
    assert r["accuracy_samples"] == r["compared_samples"] == 256 and r["accuracy_note"] is None
    assert first["accuracy"] == same["accuracy"] == 1.0 and 0.0 <= other["accuracy"] < 1.0  # labels are a's own
    assert "speedup" not in r and "output_difference" not in r  # the pair's keys: for two models only


def test_batch_larger_than_the_inputs_repeats_them_and_random_has_no_accuracy() -> None:
    model = _classifier(0)
    r = benchmark([model], prepare_inputs(model, {}, None), runs=2, warmup=0, batch=20)
    assert r["batch_size"] == 20 and r["repeated_samples"] is True and r["inputs_source"] == "random"
    assert r["models"][0]["accuracy"] is None and "random" in r["accuracy_note"]


def test_a_fixed_batch_other_than_the_one_asked_is_refused() -> None:
    models = [_classifier(0), _classifier(1, batch=2)]
    inputs = prepare_inputs(models[0], {}, None)
    with pytest.raises(ValueError, match=r"model fixed2 .*to 2.*batch size of 8"):
        benchmark(models, inputs, runs=1, labels=["free", "fixed2"], batch=8)
    assert benchmark(models, inputs, runs=1, warmup=0, batch=2)["batch_size"] == 2


@pytest.mark.parametrize("count", [0, bench.MAX_MODELS + 1])
def test_model_count_bounds(count: int) -> None:
    model = _model(4)
    with pytest.raises(ValueError, match="1 to 6 models"):
        benchmark([model] * count, prepare_inputs(model, {}, None), runs=1)
