"""Saving: the streamed writer produces the same model, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh
from sepconv.converter.modelio import save_model, write_atomic


def _mixed_model() -> onnx.ModelProto:
    """Raw and typed-field tensors, float16, a Constant node, an If subgraph, metadata."""
    rng = np.random.default_rng(0)
    w = nh.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float16), "W")
    typed = helper.make_tensor("T", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])  # float_data, not raw
    branch = helper.make_graph([helper.make_node("Identity", ["y"], ["z"])], "b", [],
                               [helper.make_tensor_value_info("z", TensorProto.FLOAT16, None)])
    nodes = [helper.make_node("Constant", [], ["k"], value=nh.from_array(np.ones(5, np.float32))),
             helper.make_node("Conv", ["x", "W"], ["y"], name="conv"),
             helper.make_node("If", ["c"], ["out"], then_branch=branch, else_branch=branch)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 2, 5, 5]),
                                       helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT16, None)], [w, typed])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.metadata_props.add(key="a", value="b")
    return m


def test_streamed_save_round_trips(tmp_path: Path) -> None:
    m = _mixed_model()
    size = save_model(m, tmp_path / "m.onnx")
    back = onnx.load(tmp_path / "m.onnx")
    assert back == m
    assert size == (tmp_path / "m.onnx").stat().st_size == m.ByteSize()


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.onnx"
    target.write_bytes(b"old")

    def boom(fh) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, boom)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.onnx"]
