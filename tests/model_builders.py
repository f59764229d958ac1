"""Small ONNX models for sepconv's tests, built with onnx.helper, and helpers to run and compare them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
WeightSource = Literal["initializer", "constant", "input"]


def np_elem_type(dtype: np.dtype | type) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def conv_output_spatial(spatial: Sequence[int], kernel: Sequence[int], *, pads: Sequence[int] | None = None,
                        strides: Sequence[int] | None = None, dilations: Sequence[int] | None = None,
                        auto_pad: str = "NOTSET") -> list[int]:
    """The output spatial size of a Conv, by the ONNX spec."""
    nd = len(kernel)
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    pads = list(pads or [0] * (2 * nd))
    out = []
    for i in range(nd):
        eff = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-spatial[i] // strides[i]))
        elif auto_pad == "VALID":
            out.append((spatial[i] - eff) // strides[i] + 1)
        else:
            out.append((spatial[i] + pads[i] + pads[nd + i] - eff) // strides[i] + 1)
    return out


def conv_node(name: str, inputs: list[str], output: str, *, kernel: Sequence[int] | None = None,
              pads: Sequence[int] | None = None, strides: Sequence[int] | None = None,
              dilations: Sequence[int] | None = None, group: int = 1, auto_pad: str | None = None) -> onnx.NodeProto:
    attrs: dict = {"group": group}
    if kernel is not None:
        attrs["kernel_shape"] = list(kernel)
    if pads is not None:
        attrs["pads"] = list(pads)
    if strides is not None:
        attrs["strides"] = list(strides)
    if dilations is not None:
        attrs["dilations"] = list(dilations)
    if auto_pad is not None:
        attrs["auto_pad"] = auto_pad
    return helper.make_node("Conv", inputs, [output], name=name, **attrs)


def make_model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
               initializers: list[onnx.TensorProto] | None = None, *, opset: int = OPSET,
               name: str = "g") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 8)  # loadable by every onnxruntime this project supports
    return model


def conv_model(x_shape: Sequence[int | str | None], weight: np.ndarray, bias: np.ndarray | None = None, *,
               pads: Sequence[int] | None = None, strides: Sequence[int] | None = None,
               dilations: Sequence[int] | None = None, group: int = 1, auto_pad: str | None = None,
               weight_source: WeightSource = "initializer", name: str = "conv", x_name: str = "x",
               y_name: str = "y", opset: int = OPSET, output_shape: bool = True) -> onnx.ModelProto:
    """One Conv ``x -> y``; the weight an initializer, a Constant node or a graph input."""
    dtype = weight.dtype
    et = np_elem_type(dtype)
    kernel = list(weight.shape[2:])
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    inputs = [helper.make_tensor_value_info(x_name, et, list(x_shape))]
    w_name = f"{name}_W"
    if weight_source == "initializer":
        inits.append(numpy_helper.from_array(weight, w_name))
    elif weight_source == "constant":
        nodes.append(helper.make_node("Constant", [], [w_name], name=f"{name}_W_const",
                                      value=numpy_helper.from_array(weight, w_name)))
    else:
        inputs.append(helper.make_tensor_value_info(w_name, et, list(weight.shape)))
    conv_inputs = [x_name, w_name]
    if bias is not None:
        b_name = f"{name}_B"
        if weight_source == "constant":
            nodes.append(helper.make_node("Constant", [], [b_name], name=f"{name}_B_const",
                                          value=numpy_helper.from_array(bias, b_name)))
        else:
            inits.append(numpy_helper.from_array(bias, b_name))
        conv_inputs.append(b_name)
    nodes.append(conv_node(name, conv_inputs, y_name, kernel=kernel, pads=pads, strides=strides,
                           dilations=dilations, group=group, auto_pad=auto_pad))
    out_shape = None
    if output_shape and all(isinstance(d, int) for d in x_shape):
        spatial = conv_output_spatial([int(d) for d in x_shape[2:]], kernel, pads=pads, strides=strides,  # type: ignore[arg-type]
                                      dilations=dilations, auto_pad=auto_pad or "NOTSET")
        out_shape = [x_shape[0], weight.shape[0], *spatial]
    outputs = [helper.make_tensor_value_info(y_name, et, out_shape)]
    return make_model(nodes, inputs, outputs, inits, opset=opset)


def random_weight(rng: np.random.Generator, shape: Sequence[int], dtype: np.dtype | type = np.float32) -> np.ndarray:
    """He-style scaled normal weights, so that outputs are O(1)."""
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(tuple(shape)) / np.sqrt(fan_in)).astype(dtype)


# ----- running ---------------------------------------------------------------------------------
def session(model: onnx.ModelProto | str, optimize: bool = False) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def run(model: onnx.ModelProto | str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return session(model).run(None, feeds)


def real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def random_feeds(model: onnx.ModelProto, seed: int = 0,
                 shapes: dict[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """Seeded random inputs for every real graph input (shapes override symbolic dims)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in real_inputs(model):
        tt = v.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if shapes and v.name in shapes:
            shape = list(shapes[v.name])
        else:
            shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
        if dtype == np.bool_:
            feeds[v.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[v.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 1e-4,
                 what: str = "") -> None:
    """Compare with a tolerance relative to the output's scale (max |expected|, at least 1)."""
    a = np.asarray(actual, np.float64)
    e = np.asarray(expected, np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    scale = max(1.0, float(np.abs(e).max()) if e.size else 1.0)
    err = float(np.abs(a - e).max()) if e.size else 0.0
    assert err <= atol * scale + rtol * scale, f"{what}: max abs error {err:.3g} (output scale {scale:.3g})"


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    return m


def conv_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Every Conv node, subgraphs included."""
    found = []
    for g in all_graphs(model.graph):
        found.extend(n for n in g.node if n.op_type == "Conv")
    return found


def all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    graphs = [graph]
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                graphs.extend(all_graphs(a.g))
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    graphs.extend(all_graphs(g))
    return graphs


def io_signature(model: onnx.ModelProto) -> tuple[list, list]:
    """Names, element types and shapes of the real graph inputs and of the outputs."""
    def sig(v: onnx.ValueInfoProto) -> tuple:
        tt = v.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in tt.shape.dim) \
            if tt.HasField("shape") else None
        return v.name, tt.elem_type, dims
    return [sig(v) for v in real_inputs(model)], [sig(v) for v in model.graph.output]


def opset_of(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def assert_model_hygiene(original: onnx.ModelProto, converted: onnx.ModelProto) -> None:
    """The output-model promises of the issue: checker, same I/O and opset, no dead weights,
    unique traceable names, metadata recorded."""
    onnx.checker.check_model(converted, full_check=True)
    assert io_signature(converted) == io_signature(original)
    assert opset_of(converted) == opset_of(original)
    graphs = all_graphs(converted.graph)
    used: set[str] = set()
    for g in graphs:
        for n in g.node:
            used.update(i for i in n.input if i)
        used.update(o.name for o in g.output)
    for g in graphs:
        for t in g.initializer:
            assert t.name in used, f"dead initializer {t.name!r}"
        for n in g.node:
            if n.op_type == "Constant":
                assert n.output[0] in used, f"dead Constant {n.output[0]!r}"
    node_names = [n.name for g in graphs for n in g.node if n.name]
    assert len(node_names) == len(set(node_names)), "node names are not unique"
    produced = [o for g in graphs for n in g.node for o in n.output if o]
    inits = [t.name for g in graphs for t in g.initializer]
    assert len(produced) == len(set(produced)), "a tensor is produced twice"
    assert not set(produced) & set(inits), "a tensor is both an initializer and a node output"
    assert len(inits) == len(set(inits)), "initializer names are not unique"
    original_nodes = [n for g in all_graphs(original.graph) for n in g.node]
    original_names = {n.name for n in original_nodes}
    original_ids = {n.name or n.output[0] for n in original_nodes} - {""}
    unnamed_before = sum(1 for n in original_nodes if not n.name)
    assert sum(1 for g in graphs for n in g.node if not n.name) <= unnamed_before, "a new node has no name"
    for n in (n for g in graphs for n in g.node):
        if n.name and n.name not in original_names:
            assert any(o in n.name for o in original_ids), f"new node {n.name!r} not traceable"
    meta = metadata(converted)
    assert "sepconv.version" in meta
    assert "sepconv.options" in meta
    json.loads(meta["sepconv.options"])


def with_weight_as_initializer(model: onnx.ModelProto, arrays: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Turn graph inputs into initializers (and drop them from the graph inputs)."""
    m = copy_model(model)
    for name, a in arrays.items():
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(a), name))
    keep = [v for v in m.graph.input if v.name not in arrays]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m


FLOAT = TensorProto.FLOAT


#: Noise added to the low-rank weights: at the intended rank (16) each layer keeps a weight error
#: of 0.004 and the two-layer model an output error of ~0.005, a quarter of a 0.02 budget; the next
#: cheaper rewrite (Tucker-2) leaves ~0.5. Both sides of the budget are far from it.
LOW_RANK_NOISE = 0.0003


def low_rank_model(channels: int = 64, size: int = 32, rank: int = 16, seed: int = 0,
                   noise: float = LOW_RANK_NOISE) -> onnx.ModelProto:
    """Two 3x3 Conv+Relu layers whose weights are spatially separable at rank ``rank`` plus a
    little noise: a rewrite at that rank both pays (6x fewer multiplications) and fits the budget."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(2):
        a = rng.standard_normal((channels * 3, rank))
        b = rng.standard_normal((rank, channels * 3))
        m = (a @ b) / np.sqrt(channels * 3 * rank) + noise * rng.standard_normal((channels * 3, channels * 3))
        w = m.reshape(channels, 3, channels, 3).transpose(2, 0, 1, 3).astype(np.float32)  # [o, c, y, x]
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(channels, np.float32), f"B{i}")]
        nodes.append(helper.make_node("Conv", [x, f"W{i}", f"B{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
        x = f"r{i}"
    g = helper.make_graph(nodes, "lowrank",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, size, size])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", channels, size, size])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
