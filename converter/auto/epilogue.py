"""The activation a Conv's output goes through, so each layer is timed as the model runs it.

ONNX Runtime fuses a Conv with the activation after it (Relu, Sigmoid, HardSwish, and x *
sigmoid(x) as SiLU...), so a Conv timed alone is not the Conv the model runs, and a pair whose
last Conv fuses the activation in the same way is compared unfairly without it. The one-layer
models of :mod:`~.latency` append the layer's own activation nodes, copied from the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..graph import ModelGraph
from ..layers import ConvLayer

#: Element-wise activations that follow a Conv and read only its output.
SIMPLE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus"}


@dataclass(frozen=True)
class Epilogue:
    """Copies of the activation nodes (reading the Conv's output) and the tensor they produce."""

    nodes: tuple[onnx.NodeProto, ...]
    output: str

    @property
    def key(self) -> str:
        return "+".join(n.op_type for n in self.nodes)


def find_epilogue(mg: ModelGraph, layer: ConvLayer) -> Epilogue | None:
    """The layer's activation: one element-wise consumer, or Sigmoid and Mul on the same output (SiLU)."""
    y = layer.output_name
    if mg.is_graph_output(y):
        return None
    nodes = [mg.node(ref) for ref in mg.consumers(y)]
    ops = sorted(n.op_type for n in nodes)
    if len(nodes) == 1 and ops[0] in SIMPLE and list(nodes[0].input) == [y]:
        return Epilogue((_copy(nodes[0]),), nodes[0].output[0])
    if ops == ["Mul", "Sigmoid"]:
        sig = next(n for n in nodes if n.op_type == "Sigmoid")
        mul = next(n for n in nodes if n.op_type == "Mul")
        if sorted(mul.input) == sorted([y, sig.output[0]]):
            return Epilogue((_copy(sig), _copy(mul)), mul.output[0])
    return None


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out
