"""The official ONNX ``Conv`` test cases, as data for sepconv's tests.

Two sources, both taken from the installed ``onnx`` package (no network):

* :func:`backend_conv_cases` -- the node test cases that ``onnx`` generates in
  ``onnx.backend.test.case.node.conv`` (padding, strides, asymmetric padding,
  ``auto_pad``).  Recent ``onnx`` wheels no longer ship the serialized
  ``data/node`` folders, so the cases are produced by running the module's
  ``export*`` functions with its ``expect(...)`` hook replaced by a recorder.
  The models are built the way ``onnx.backend.test.case.node.expect`` builds
  them: one ``Conv`` node, every operand (``x`` *and* ``W``) a graph input
  with no initializer, opset = the ``Conv`` schema's ``since_version``
  (22 with onnx 1.23), IR version from ``make_model_gen_version`` (10).
* :func:`pytorch_converted_conv_cases` -- the ``test_Conv*`` folders under
  ``onnx/backend/test/data/pytorch-converted`` (1-D/2-D/3-D, groups,
  depthwise, dilations, strides, padding, no bias).  These are old exports
  (IR version 3, opset 6) whose weight and bias are graph inputs *backed by
  initializers*; only the non-initializer inputs are returned in
  :attr:`ConvCase.inputs`.  onnxruntime warns that it only guarantees
  opset >= 7, but runs all of them correctly.

Every case returned here runs in onnxruntime and matches its expected outputs
within :data:`RTOL` / :data:`ATOL`.  ``ConvTranspose`` folders that share the
``test_Conv*`` prefix are not ``Conv`` cases and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = [
    "ATOL",
    "RTOL",
    "ConvCase",
    "backend_conv_cases",
    "pytorch_converted_conv_cases",
]

#: Tolerances every case is known to meet when run in onnxruntime (CPU).
RTOL = 1e-4
ATOL = 1e-5


@dataclass
class ConvCase:
    """One test model with its inputs and expected outputs."""

    name: str
    model: onnx.ModelProto
    #: Real graph inputs (not initializers), keyed by graph input name.
    inputs: dict[str, np.ndarray]
    #: Expected values of the graph outputs, in graph output order.
    expected: list[np.ndarray]


def _is_float_conv_graph(model: onnx.ModelProto) -> bool:
    """Tell whether every node is a ``Conv`` and every graph input is float."""
    graph = model.graph
    if not graph.node or any(n.op_type != "Conv" for n in graph.node):
        return False
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
    return all(v.type.tensor_type.elem_type in floats for v in graph.input)


def _value_info(name: str, array: np.ndarray) -> onnx.ValueInfoProto:
    elem_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    return onnx.helper.make_tensor_value_info(name, elem_type, array.shape)


def backend_conv_cases() -> list[ConvCase]:
    """Conv cases generated from ``onnx.backend.test.case.node.conv``.

    Equivalent to ``onnx.backend.test.case.node.collect_testcases("Conv")``
    but without importing every other op's test module and without depending
    on that module's global registry (which is filled only once per process,
    on first import).
    """
    # Imported here: the first import runs every export once (the metaclass
    # in onnx.backend.test.case.base does that), which is wasted work for
    # callers that only want the pytorch-converted cases.
    from onnx.backend.test.case.node import conv as conv_module

    recorded: list[
        tuple[onnx.NodeProto, list[Any], list[Any], str, dict[str, Any]]
    ] = []

    def _record(
        node: onnx.NodeProto,
        inputs: list[Any],
        outputs: list[Any],
        name: str,
        **kwargs: Any,
    ) -> None:
        recorded.append((node, list(inputs), list(outputs), name, kwargs))

    original = conv_module.expect
    conv_module.expect = _record
    try:
        for attr in list(vars(conv_module.Conv)):
            if attr.startswith("export"):
                # Same seeding as onnx.backend.test.case.base._Exporter.
                np.random.seed(seed=0)
                getattr(conv_module.Conv, attr)()
    finally:
        conv_module.expect = original

    cases: list[ConvCase] = []
    for node, inputs, outputs, name, kwargs in recorded:
        if node.op_type != "Conv":
            continue
        in_names = [x for x in node.input if x]
        out_names = [x for x in node.output if x]
        graph = onnx.helper.make_graph(
            nodes=[node],
            name=name,
            inputs=[_value_info(n, a) for n, a in zip(in_names, inputs, strict=True)],
            outputs=[
                _value_info(n, a) for n, a in zip(out_names, outputs, strict=True)
            ],
        )
        opset_imports = kwargs.get("opset_imports") or [
            onnx.helper.make_operatorsetid(
                node.domain,
                onnx.defs.get_schema(node.op_type, domain=node.domain).since_version,
            )
        ]
        model = onnx.helper.make_model_gen_version(
            graph, producer_name="backend-test", opset_imports=opset_imports
        )
        if not _is_float_conv_graph(model):
            continue
        cases.append(
            ConvCase(
                name=name,
                model=model,
                inputs={
                    n: np.asarray(a) for n, a in zip(in_names, inputs, strict=True)
                },
                expected=[np.asarray(a) for a in outputs],
            )
        )
    return cases


def _pytorch_converted_dir() -> Path:
    return (
        Path(onnx.__file__).parent / "backend" / "test" / "data" / "pytorch-converted"
    )


def _numbered(folder: Path, prefix: str) -> list[Path]:
    """Files ``{prefix}_N.pb`` in ``folder``, in numeric order of N."""
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+)\.pb")
    found = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if (m := pattern.fullmatch(p.name))
    ]
    return [p for _, p in sorted(found)]


def _read_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def pytorch_converted_conv_cases() -> list[ConvCase]:
    """Conv cases from the shipped ``pytorch-converted/test_Conv*`` folders.

    One case per ``test_data_set_*`` folder (each ships exactly one today; if
    there were more, the name gets a ``/test_data_set_N`` suffix).
    """
    root = _pytorch_converted_dir()
    cases: list[ConvCase] = []
    for case_dir in sorted(root.glob("test_Conv*")):
        model_path = case_dir / "model.onnx"
        if not model_path.is_file():
            continue
        model = onnx.load(str(model_path))
        # test_ConvTranspose2d* share the prefix but are ConvTranspose.
        if not _is_float_conv_graph(model):
            continue
        initializer_names = {t.name for t in model.graph.initializer}
        real_inputs = [
            v.name for v in model.graph.input if v.name not in initializer_names
        ]
        data_sets = sorted(
            case_dir.glob("test_data_set_*"),
            key=lambda p: int(p.name.rsplit("_", 1)[1]),
        )
        for data_dir in data_sets:
            input_arrays = [_read_tensor(p) for p in _numbered(data_dir, "input")]
            if len(input_arrays) != len(real_inputs):
                raise ValueError(
                    f"{data_dir}: {len(input_arrays)} input files "
                    f"for graph inputs {real_inputs}"
                )
            name = (
                case_dir.name
                if len(data_sets) == 1
                else f"{case_dir.name}/{data_dir.name}"
            )
            cases.append(
                ConvCase(
                    name=name,
                    model=model,
                    inputs=dict(zip(real_inputs, input_arrays, strict=True)),
                    expected=[_read_tensor(p) for p in _numbered(data_dir, "output")],
                )
            )
    return cases
