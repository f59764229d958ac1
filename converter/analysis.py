"""Analysis without conversion: every Conv with its shapes and multiplications.

This is ``sepconv inspect`` and the analysis the service returns on upload. A Conv is
*eligible* when at least one method can rewrite it.
"""

from __future__ import annotations

import onnx

from .graph import ModelGraph
from .layers import ConvLayer, find_conv_layers
from .methods import METHODS
from .modelio import opset_version
from .report import count_params
from .shapes import graph_inputs, infer_shapes, shape_list, value_shape


def analyse(model: onnx.ModelProto, input_shapes: dict[str, list[int]],
            load_weights: bool = True) -> tuple[ModelGraph, list[ConvLayer]]:
    """Index the model and describe every Conv in it."""
    mg = ModelGraph(model)
    return mg, find_conv_layers(mg, infer_shapes(model, input_shapes), load_weights)


def inspect_model(model: onnx.ModelProto, input_shapes: dict[str, list[int]] | None = None) -> dict:
    """Describe the model's inputs, outputs and Convs (with multiplications) and their totals."""
    _, layers = analyse(model, input_shapes or {})
    rows = []
    for layer in layers:
        reasons = {name: m.ineligible(layer) for name, m in METHODS.items()}
        rows.append({
            "name": layer.name, "graph": layer.graph_path,
            "weight_shape": list(layer.weight_shape),
            "input_shape": shape_list(layer.input_shape), "output_shape": shape_list(layer.output_shape),
            **layer.attributes(),
            "batchnorm_after": layer.batchnorm is not None,
            "macs": layer.macs, "params": layer.params,
            "eligible": [n for n, r in reasons.items() if r is None],
            "stem": layer.stem,  # auto mode keeps it by default
            "reasons": {n: r for n, r in reasons.items() if r is not None},
        })
    known = [r["macs"] for r in rows if r["macs"] is not None]
    return {
        "opset": opset_version(model), "ir_version": model.ir_version,
        "inputs": [_io(v) for v in graph_inputs(model)],
        "outputs": [_io(v) for v in model.graph.output],
        "convs": len(rows), "eligible_convs": sum(1 for r in rows if r["eligible"]),
        "eligible_stems": sum(1 for r in rows if r["eligible"] and r["stem"]),
        "conv_macs": sum(known), "eligible_conv_macs": sum(r["macs"] or 0 for r in rows if r["eligible"]),
        "convs_with_unknown_macs": len(rows) - len(known),
        "params": count_params(model), "layers": rows,
    }


def _io(v: onnx.ValueInfoProto) -> dict:
    elem = v.type.tensor_type.elem_type
    return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(elem).name if elem else None,
            "shape": shape_list(value_shape(v))}

