"""Auto mode's context factors: each layer's saving measured in the whole model scales what its
one-layer timings promised, and a layer whose rewrite saves nothing in the model is kept.

The timer is replaced by one that reads which layer the model it is given has rewritten and
answers that layer's whole-model time, so the factors are known exactly."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import analyse
from sepconv.converter.auto import candidates
from sepconv.converter.auto.allocate import LayerPlan, greedy_path
from sepconv.converter.auto.context import measure_context

BEFORE_MS = 10.0
#: whole-model milliseconds saved by rewriting each layer, against 2.0 ms each saved alone
IN_MODEL = {"a": 1.0, "b": 3.0, "c": -0.5}


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for name in IN_MODEL:
        w = numpy_helper.from_array(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), f"W{name}")
        inits.append(w)
        nodes.append(helper.make_node("Conv", [prev, w.name], [name], name=name, pads=[1, 1, 1, 1]))
        prev = name
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 16, 8, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _plans(model: onnx.ModelProto):
    _, layers = analyse(model, {})
    plans = []
    rng = np.random.default_rng(1)
    for i, layer in enumerate(layers):
        x = rng.standard_normal((64, 16 * 9))
        y = candidates.outputs(layer, x)
        plan = LayerPlan(i, layer, x, y, float(np.linalg.norm(y)))
        plan.cands = [c for c in candidates.build(layer, x, y) if c.kind == "spatial"][:2]
        for c, ms in zip(plan.cands, (3.0, 4.0)):  # alone: 2.0 and 1.0 ms saved of 5.0
            c.orig_ms, c.ms = 5.0, ms
        plan.orig_ms = 5.0
        plans.append(plan)
    return layers, plans


def _timer(models, feed, threads, seconds, min_runs, max_runs):
    converted = onnx.load_from_string(models[1])
    kept = {n.name for n in converted.graph.node if n.op_type == "Conv"}
    (rewritten,) = [name for name in IN_MODEL if name not in kept]
    return [BEFORE_MS, BEFORE_MS - IN_MODEL[rewritten]]


def test_each_layer_is_scaled_by_its_saving_in_the_model():
    model = _model()
    layers, plans = _plans(model)
    measure_context(model, layers, plans, model.SerializeToString(), {}, 1, timer=_timer)
    a, b, c = plans
    assert a.context == pytest.approx(0.5) and b.context == pytest.approx(1.5) and c.context == 0.0
    assert a.context_saved_ms == pytest.approx(1.0) and c.context_saved_ms == pytest.approx(-0.5)
    assert a.saved_ms(a.cands[0]) == pytest.approx(1.0) and b.saved_ms(b.cands[1]) == pytest.approx(1.5)
    assert c.options() == []  # saves nothing in the model: kept
    path = greedy_path(plans)
    assert {s.plan.layer.name for s in path} == {"a", "b"}
    assert sum(s.saved_ms for s in path if s.plan.layer.name == "b") == pytest.approx(3.0)


def test_one_noisy_timing_does_not_keep_a_layer():
    """A first timing that shows no saving is checked by two more; the median of the three counts."""
    model = _model()
    layers, plans = _plans(model)
    answers = {"a": [-1.0, 1.0, 1.2], "b": [3.0], "c": [-0.5, -0.4, 0.2]}

    def noisy(models, *args, **kw):
        converted = onnx.load_from_string(models[1])
        kept = {n.name for n in converted.graph.node if n.op_type == "Conv"}
        (rewritten,) = [name for name in IN_MODEL if name not in kept]
        return [BEFORE_MS, BEFORE_MS - answers[rewritten].pop(0)]

    measure_context(model, layers, plans, model.SerializeToString(), {}, 1, timer=noisy)
    a, b, c = plans
    assert a.context == pytest.approx(0.5) and b.context == pytest.approx(1.5) and c.context == 0.0
    assert all(not v for v in answers.values())  # a and c were timed three times, b once
