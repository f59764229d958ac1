"""Per-layer timing in context: the layer's own activation goes into the one-layer models that
auto mode times, as ONNX Runtime fuses it in the whole model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import analyse
from sepconv.converter.auto import candidates
from sepconv.converter.auto.epilogue import find_epilogue
from sepconv.converter.auto.latency import candidate_model, original_model, shape_key


def _model(tail: str) -> onnx.ModelProto:
    """A 16-channel 3x3 Conv followed by ``tail``: relu, silu, two (two different consumers) or none."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype(np.float32), "W")
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    out = "c"
    if tail == "relu":
        nodes.append(helper.make_node("Relu", ["c"], ["y"], name="act"))
        out = "y"
    elif tail == "silu":
        nodes += [helper.make_node("Sigmoid", ["c"], ["s"], name="sig"), helper.make_node("Mul", ["c", "s"], ["y"])]
        out = "y"
    elif tail == "two":
        nodes += [helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Tanh", ["c"], ["t"]),
                  helper.make_node("Add", ["r", "t"], ["y"])]
        out = "y"
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 16, 12, 12])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("tail", "key"), [("relu", "Relu"), ("silu", "Sigmoid+Mul"), ("two", None), ("none", None)])
def test_the_activation_after_a_conv_is_found(tail: str, key: str | None) -> None:
    mg, (layer,) = analyse(_model(tail), {})
    ep = find_epilogue(mg, layer)
    assert (ep.key if ep is not None else None) == key


@pytest.mark.parametrize("tail", ["relu", "silu"])
def test_one_layer_models_carry_the_activation_and_compute_it(tail: str) -> None:
    model = _model(tail)
    mg, (layer,) = analyse(model, {})
    ep = find_epilogue(mg, layer)
    x = np.random.default_rng(1).standard_normal((1, 16, 12, 12)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    orig = original_model(layer, 1, 17, ep)
    got = ort.InferenceSession(orig).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    patches = np.random.default_rng(2).standard_normal((64, 16 * 9))
    y = candidates.outputs(layer, patches)
    cand = next(c for c in candidates.build(layer, patches, y) if c.kind == "spatial")
    ops = [n.op_type for n in onnx.load_from_string(candidate_model(layer, cand, 1, 17, ep)).graph.node]
    assert ops[-len(ep.nodes):] == [n.op_type for n in ep.nodes] and ops.count("Conv") == 2
    assert shape_key(layer, 1, ep).endswith(f"then {ep.key}") and "then" not in shape_key(layer, 1)


def test_one_layer_models_carry_the_oldest_ir_version_their_opset_allows() -> None:
    """An ONNX Runtime older than the onnx package refuses a model stamped with onnx's newest IR
    version ("Unsupported model IR version"): ORT 1.30 with onnx 1.23 failed every timing this way."""
    mg, (layer,) = analyse(_model("relu"), {})
    patches = np.random.default_rng(2).standard_normal((64, 16 * 9))
    cand = next(c for c in candidates.build(layer, patches, candidates.outputs(layer, patches)) if c.kind == "spatial")
    for opset, ir in ((11, 6), (17, 8)):
        for built in (original_model(layer, 1, opset), candidate_model(layer, cand, 1, opset)):
            assert onnx.load_from_string(built).ir_version == ir
