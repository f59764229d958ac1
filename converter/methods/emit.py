"""Building the nodes that replace a Conv: every method emits through these helpers.

Names come from the model's namer (unique, and traceable to the original node by their
prefix); every attribute of a new Conv is explicit; new weights keep the layer's dtype.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..layers import ConvLayer
from .base import Emitted, Namer


def tensor(namer: Namer, base: str, array: np.ndarray) -> onnx.TensorProto:
    """A new initializer with a fresh name."""
    return numpy_helper.from_array(np.ascontiguousarray(array), namer.fresh_name(base))


def conv_node(name: str, inputs: list[str], output: str, kernel: tuple[int, ...], pads: tuple[int, ...],
              strides: tuple[int, ...], dilations: tuple[int, ...], group: int, doc: str) -> onnx.NodeProto:
    """A Conv node with every attribute explicit."""
    node = helper.make_node("Conv", inputs, [output], name=name, kernel_shape=list(kernel), pads=list(pads),
                            strides=list(strides), dilations=list(dilations), group=group)
    node.doc_string = doc
    return node


def weight_inputs(namer: Namer, base: str, x: str, weight: np.ndarray, bias: np.ndarray | None,
                  dtype: np.dtype) -> tuple[list[str], list[onnx.TensorProto]]:
    """A Conv's inputs ``[x, W(, B)]`` and the new initializers behind them, in ``dtype``."""
    inits = [tensor(namer, f"{base}_W", weight.astype(dtype))]
    if bias is not None:
        inits.append(tensor(namer, f"{base}_B", bias.astype(dtype)))
    return [x, *(t.name for t in inits)], inits


def emit_chain(layer: ConvLayer, namer: Namer, pre: np.ndarray | None, core: np.ndarray,
               core_bias: np.ndarray | None, post: np.ndarray, post_bias: np.ndarray | None,
               label: str) -> Emitted:
    """Nodes for ``[1x1 pre] -> kxk core (layer's pads/strides) -> 1x1 post``.

    The pre factor has no bias, so zero padding before or after it is the same thing and
    the core can keep the original pads.
    """
    assert layer.weight is not None and layer.pads is not None
    dtype, base, nd = layer.weight.dtype, f"{layer.name}/sepconv_{label}", len(layer.kernel)
    ones, zeros = (1,) * nd, (0,) * (2 * nd)
    nodes, inits = [], []
    x = layer.input_name
    if pre is not None:
        inputs, new = weight_inputs(namer, f"{base}_pre", x, pre.reshape(*pre.shape, *ones), None, dtype)
        x = namer.fresh_name(f"{base}_pre_out")
        nodes.append(conv_node(namer.fresh_name(f"{base}_pre"), inputs, x, ones, zeros, ones, ones, 1,
                               f"sepconv: {label} input projection of Conv '{layer.name}'"))
        inits += new
    inputs, new = weight_inputs(namer, f"{base}_core", x, core, core_bias, dtype)
    mid = namer.fresh_name(f"{base}_core_out")
    nodes.append(conv_node(namer.fresh_name(f"{base}_core"), inputs, mid, layer.kernel, layer.pads, layer.strides,
                           layer.dilations, 1, f"sepconv: {label} core ({core.shape[0]} channels) of Conv "
                           f"'{layer.name}'"))
    inits += new
    inputs, new = weight_inputs(namer, f"{base}_post", mid, post.reshape(*post.shape, *ones), post_bias, dtype)
    nodes.append(conv_node(namer.fresh_name(f"{base}_post"), inputs, layer.output_name, ones, zeros, ones, ones,
                           1, f"sepconv: {label} output projection of Conv '{layer.name}'"))
    return Emitted(nodes, inits + new)
