"""Full-rank exactness of both rewrites on every official ONNX Conv case.

The backend node cases (``onnx.backend.test.case.node.conv``) feed W as a plain graph
input; here it becomes an initializer so the converter can take it. The pytorch-converted
cases keep W and B as graph inputs backed by initializers, which the converter treats as
constants. Every converted model must still give the case's expected outputs in ONNX
Runtime; where a method does not apply, the layer is skipped with a reason and the model
is left computing the same thing.
"""

from __future__ import annotations

from math import prod

import numpy as np
import onnx
import pytest
from model_builders import assert_close, assert_model_hygiene, copy_model, run, with_weight_as_initializer
from onnx import numpy_helper
from onnx_conv_cases import ConvCase, backend_conv_cases, pytorch_converted_conv_cases
from sepconv.converter import ConvertOptions, convert_model

METHODS = ("depthwise", "spatial")


def _convertible_cases() -> list[ConvCase]:
    cases = []
    for case in backend_conv_cases():
        w_name = case.model.graph.node[0].input[1]
        model = with_weight_as_initializer(case.model, {w_name: case.inputs[w_name]})
        inputs = {k: v for k, v in case.inputs.items() if k != w_name}
        cases.append(ConvCase(case.name, model, inputs, case.expected))
    return cases + pytorch_converted_conv_cases()


CASES = _convertible_cases()


def _weight_and_group(model: onnx.ModelProto) -> tuple[tuple[int, ...], int]:
    node = next(n for n in model.graph.node if n.op_type == "Conv")
    w = next(t for t in model.graph.initializer if t.name == node.input[1])
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    return tuple(w.dims), int(group or 1)


def expected_rewrite(method: str, w_shape: tuple[int, ...], group: int) -> bool:
    """Whether the converter must rewrite (True) or skip (False) this Conv, with force at full rank."""
    cout, cin_g, *kernel = w_shape
    if all(k == 1 for k in kernel):
        return False
    if method == "spatial" and (len(kernel) < 2 or kernel[0] == 1 or prod(kernel[1:]) == 1):
        return False
    if cin_g == 1 and group > 1:  # depthwise already (one input channel per group, any multiplier)
        return False
    # a single-channel standard Conv (group 1) is the seed's spatial example; both methods take it
    return True


def test_cases_are_there() -> None:
    names = {c.name for c in CASES}
    assert len(CASES) == 32
    assert {"test_basic_conv_without_padding", "test_conv_with_autopad_same", "test_Conv1d_groups",
            "test_Conv2d_depthwise_with_multiplier", "test_Conv3d_dilated_strided"} <= names


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_full_rank_is_exact(case: ConvCase, method: str) -> None:
    model = copy_model(case.model)
    w_shape, group = _weight_and_group(model)
    rows = convert_model(model, ConvertOptions(method=method, rank="full", force=True, verify=False))
    assert len(rows) == 1
    row = rows[0]
    want = expected_rewrite(method, w_shape, group)
    assert row["status"] == ("rewritten" if want else "skipped"), f"{case.name}: {row['status']} ({row['reason']})"
    if not want:
        assert row["reason"], "a skipped Conv must say why"
        assert row["new_nodes"] == []
    else:
        assert row["method"] == method
        assert row["rank"] == row["full_rank"]
        assert row["weight_rel_error"] == pytest.approx(0.0, abs=1e-6)
        assert len(row["new_nodes"]) >= 2
        assert sum(n.op_type == "Conv" for n in model.graph.node) >= 2
    outputs = run(model, case.inputs)
    assert len(outputs) == len(case.expected)
    for got, want_out in zip(outputs, case.expected):
        assert got.dtype == want_out.dtype
        assert_close(got, want_out, rtol=1e-4, atol=1e-4, what=f"{case.name} ({method})")
    # the pytorch-converted (IR 3) cases list their weights as inputs: dead ones must go from both lists
    names_left = {t.name for t in model.graph.initializer}
    if want:
        assert not any(v.name not in names_left and v.name not in case.inputs for v in model.graph.input)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_converted_case_is_a_valid_model(case: ConvCase, method: str) -> None:
    """Checker (full), same inputs/outputs/opset, no dead weights, unique traceable names, metadata."""
    model = copy_model(case.model)
    convert_model(model, ConvertOptions(method=method, rank="full", force=True, verify=False))
    assert_model_hygiene(case.model, model)


@pytest.mark.parametrize("method", METHODS)
def test_spatial_skips_say_why(method: str) -> None:
    """The inapplicable cases of spatial are accounted for with a reason naming the cause."""
    by_name = {c.name: c for c in CASES}
    for name, fragment in [("test_Conv1d", "1-D"), ("test_Conv2d_depthwise", "depthwise")]:
        model = copy_model(by_name[name].model)
        rows = convert_model(model, ConvertOptions(method=method, rank="full", force=True, verify=False))
        if method == "depthwise" and name == "test_Conv1d":
            assert rows[0]["status"] == "rewritten"
            continue
        assert rows[0]["status"] == "skipped"
        assert fragment in rows[0]["reason"]


def test_pytorch_converted_weights_are_initializers_backed_inputs() -> None:
    """The old (IR 3) exports list W and B as graph inputs; the converter must read them as constants."""
    case = next(c for c in CASES if c.name == "test_Conv2d")
    assert case.model.ir_version == 3
    inits = {t.name for t in case.model.graph.initializer}
    assert inits and inits <= {v.name for v in case.model.graph.input}
    model = copy_model(case.model)
    rows = convert_model(model, ConvertOptions(method="depthwise", rank="full", force=True, verify=False))
    assert rows[0]["status"] == "rewritten"
    # the original weight and bias are gone, from the initializers and from the inputs
    left = {t.name for t in model.graph.initializer}
    assert not (inits & left)
    assert not (inits & {v.name for v in model.graph.input})
    # IR 3 wants every initializer listed as an input too: the new ones are, the real inputs are unchanged
    assert left <= {v.name for v in model.graph.input}
    assert [v.name for v in model.graph.input if v.name not in left] == list(case.inputs)
    w = numpy_helper.to_array(next(t for t in case.model.graph.initializer if len(t.dims) == 4))
    assert w.shape == (4, 3, 3, 2)
    assert np.isfinite(run(model, case.inputs)[0]).all()
