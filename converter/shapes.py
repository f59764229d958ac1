"""Tensor shapes, from onnx's own shape inference.

Inference runs on a skeleton of the model (large weights stripped of their data, so a
multi-GB model costs nothing extra) whose graph inputs carry the user's
``--input-shape`` overrides. The converted model keeps its original input shapes:
the overrides only fix what is symbolic for the analysis.
"""

from __future__ import annotations

import re

import onnx

from .errors import OptionError
from .modelio import iter_graphs, skeleton

Shape = tuple[int | None, ...]


def parse_input_shapes(specs: list[str] | None) -> dict[str, list[int]]:
    """Parse ``NAME=1x3x224x224`` (repeatable) into ``{NAME: [1, 3, 224, 224]}``."""
    shapes: dict[str, list[int]] = {}
    for spec in specs or []:
        m = re.fullmatch(r"\s*([^=]+?)\s*=\s*(\d+(?:\s*[x,]\s*\d+)*)\s*", spec)
        if not m:
            raise OptionError("input_shapes", "expected NAME=DIMxDIMx..., e.g. input=1x3x224x224", repr(spec))
        shapes[m.group(1)] = [int(d) for d in re.split(r"\s*[x,]\s*", m.group(2))]
    return shapes


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller must feed: graph inputs that are not initializers."""
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def value_shape(v: onnx.ValueInfoProto) -> Shape | None:
    """A tensor's shape with None for symbolic or missing dims; None if rank is unknown."""
    if not v.type.HasField("tensor_type") or not v.type.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in v.type.tensor_type.shape.dim)


def input_shapes(model: onnx.ModelProto, overrides: dict[str, list[int]]) -> dict[str, Shape | None]:
    """Each real graph input's shape, with the overrides applied and checked against the model."""
    inputs = {v.name: v for v in graph_inputs(model)}
    unknown = sorted(set(overrides) - set(inputs))
    if unknown:
        raise OptionError("input_shapes", f"names {', '.join(unknown)}, which the model does not have as "
                          f"inputs (it has: {', '.join(inputs) or 'none'})")
    result: dict[str, Shape | None] = {}
    for name, v in inputs.items():
        shape = value_shape(v)
        if name in overrides:
            new = tuple(overrides[name])
            if shape is not None:
                if len(shape) != len(new):
                    raise OptionError("input_shapes", f"rank {len(new)} but the model's input has rank "
                                      f"{len(shape)} ({format_shape(shape)})", key=name)
                for i, (old, dim) in enumerate(zip(shape, new)):
                    if old is not None and old != dim:
                        raise OptionError("input_shapes", f"dim {i} is fixed to {old} in the model, not {dim} "
                                          f"({format_shape(shape)})", key=name)
            shape = new
        result[name] = shape
    return result


def infer_shapes(model: onnx.ModelProto, overrides: dict[str, list[int]]) -> dict[str, Shape]:
    """Shapes of every tensor onnx can infer, in all graphs, keyed by tensor name."""
    fixed = input_shapes(model, overrides)
    sk = skeleton(model, keep_dims=True)
    for v in sk.graph.input:
        if v.name in overrides:
            dims = v.type.tensor_type.shape.dim
            del dims[:]
            for d in fixed[v.name] or ():
                dims.add().dim_value = d
    try:
        inferred = onnx.shape_inference.infer_shapes(sk, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError, ValueError):
        inferred = sk  # shapes stay unknown; affected Convs are skipped with that reason
    shapes: dict[str, Shape] = {}
    for g in iter_graphs(inferred.graph):
        for v in list(g.input) + list(g.value_info) + list(g.output):
            s = value_shape(v)
            if s is not None:
                shapes[v.name] = s
        for t in g.initializer:
            shapes[t.name] = tuple(t.dims)
    return shapes


def format_shape(shape) -> str:
    """``1x3x?x?`` for a shape whose dims may be unknown (None); ``-`` for an unknown shape."""
    return "-" if shape is None else "x".join("?" if d is None else str(d) for d in shape)


def shape_list(shape) -> list | None:
    """A shape as a JSON-ready list (unknown dims as null), or None."""
    return None if shape is None else [d if d is None else int(d) for d in shape]
