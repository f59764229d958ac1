"""Finding the Conv layers of a model and everything a decomposition needs about each.

:func:`find_conv_layers` turns every Conv node (subgraphs included) into a
:class:`ConvLayer`: constant weight and bias (BatchNormalization after it folded in),
resolved pads, input and output shapes and multiplications. A layer that no method can
touch carries the reason in ``skip_reason`` so that the report accounts for every Conv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper

from .bnfold import fold_batchnorm
from .graph import ModelGraph, NodeRef
from .macs import conv_macs, conv_params
from .shapes import Shape

#: A Conv reading at most this many channels is a stem: auto mode keeps it (a rewrite wastes most of its saving).
STEM_CHANNELS = 4


@dataclass
class ConvLayer:
    """One Conv node as the decompositions see it."""

    ref: NodeRef
    name: str
    graph_path: str
    input_name: str
    weight_name: str
    weight: np.ndarray | None
    bias: np.ndarray | None
    group: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...] | None  # begins then ends, as ONNX writes them
    auto_pad: str
    input_shape: Shape | None
    output_shape: Shape | None
    output_name: str  # the tensor the layer finally produces (the BatchNormalization's, if folded)
    weight_shape: tuple[int, ...] = ()
    bias_name: str | None = None
    batchnorm: NodeRef | None = None
    batchnorm_inputs: tuple[str, ...] = ()  # scale, shift, mean, var
    batchnorm_epsilon: float = 1e-5
    skip_reason: str | None = None

    def load(self, mg: ModelGraph) -> None:
        """Read the weight and bias (BatchNormalization folded in) if not read yet.

        Conversion loads one layer at a time, so a large model's weights are not all
        copied at once.
        """
        if self.weight is not None or self.skip_reason:
            return
        self.weight = mg.constant(self.weight_name)
        self.bias = mg.constant(self.bias_name) if self.bias_name else None
        if self.batchnorm is not None and self.weight is not None:
            scale, shift, mean, var = (np.asarray(mg.constant(n)) for n in self.batchnorm_inputs)
            self.weight, self.bias = fold_batchnorm(self.weight, self.bias, scale, shift, mean, var,
                                                    self.batchnorm_epsilon)

    def release(self) -> None:
        """Drop the weight copies (the graph still holds the tensors)."""
        self.weight = self.bias = None

    @property
    def cout(self) -> int:
        return int(self.weight_shape[0])

    @property
    def cin_per_group(self) -> int:
        return int(self.weight_shape[1])

    @property
    def cin(self) -> int:
        return self.cin_per_group * self.group

    @property
    def stem(self) -> bool:
        """A stem layer: so few input channels (at most STEM_CHANNELS) that auto mode keeps it by default."""
        return self.cin <= STEM_CHANNELS

    @property
    def spatial_in(self) -> tuple[int, ...] | None:
        if self.input_shape is None or any(d is None for d in self.input_shape[2:]):
            return None
        return tuple(int(d) for d in self.input_shape[2:])  # type: ignore[arg-type]

    @property
    def spatial_out(self) -> tuple[int, ...] | None:
        if self.output_shape is None or any(d is None for d in self.output_shape[2:]):
            return None
        return tuple(int(d) for d in self.output_shape[2:])  # type: ignore[arg-type]

    @property
    def macs(self) -> int | None:
        out = self.spatial_out
        return None if out is None else conv_macs(self.cout, self.cin_per_group, self.kernel, out)

    @property
    def params(self) -> int | None:
        """Weights and bias of the Conv node as it is in the model (None if its weight shape is unknown)."""
        if self.weight_shape == (0, 0):
            return None
        return conv_params(self.cout, self.cin_per_group, self.kernel, self.bias_name is not None)

    def attributes(self) -> dict:
        """Plain description for reports."""
        return {
            "group": self.group, "kernel": list(self.kernel), "strides": list(self.strides),
            "dilations": list(self.dilations), "pads": None if self.pads is None else list(self.pads),
            "auto_pad": self.auto_pad,
        }


def find_conv_layers(mg: ModelGraph, shapes: dict[str, Shape], load_weights: bool = True) -> list[ConvLayer]:
    """Every Conv of the model, in graph order, analysed; weights read now or, with
    ``load_weights=False``, when :meth:`ConvLayer.load` is called."""
    layers = [_analyse(mg, ref, shapes) for ref in mg.nodes("Conv")]
    if load_weights:
        for layer in layers:
            layer.load(mg)
    return layers


def _analyse(mg: ModelGraph, ref: NodeRef, shapes: dict[str, Shape]) -> ConvLayer:
    node = mg.node(ref)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    name = node.name or node.output[0]
    x_name, w_name = node.input[0], node.input[1]
    b_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    const_shape = mg.constant_shape(w_name)
    wshape = const_shape if const_shape is not None else shapes.get(w_name)
    in_shape = shapes.get(x_name)
    out_shape = shapes.get(node.output[0])
    layer = ConvLayer(
        ref=ref, name=name, graph_path=mg.graphs[ref.graph_index].path, input_name=x_name,
        weight_name=w_name, bias_name=b_name,
        weight=None, bias=None, group=int(attrs.get("group", 1)), kernel=(), strides=(), dilations=(),
        pads=None, auto_pad=_text(attrs.get("auto_pad", "NOTSET")), input_shape=in_shape,
        output_shape=out_shape, output_name=node.output[0],
    )
    if wshape is None or any(d is None for d in wshape):
        layer.weight_shape = (0, 0)
        layer.skip_reason = "unknown weight shape"
        return layer
    layer.weight_shape = tuple(int(d) for d in wshape)
    nd = len(wshape) - 2
    layer.kernel = tuple(int(k) for k in wshape[2:])
    layer.strides = tuple(attrs.get("strides", [1] * nd))
    layer.dilations = tuple(attrs.get("dilations", [1] * nd))
    layer.pads, pad_reason = _resolve_pads(attrs, layer, nd)
    if layer.spatial_out is None and layer.spatial_in is not None and layer.pads is not None:
        layer.output_shape = _output_shape(layer)
    if const_shape is None:
        layer.skip_reason = "non-constant weight (computed at run time)"
    elif b_name and mg.constant_shape(b_name) is None:
        layer.skip_reason = "non-constant bias (computed at run time)"
    elif pad_reason:
        layer.skip_reason = pad_reason
    elif layer.spatial_out is None:
        layer.skip_reason = "unknown shape (fix symbolic input dims with --input-shape NAME=1x3x224x224)"
    if layer.skip_reason is None:
        _find_following_batchnorm(mg, layer)
    return layer


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _resolve_pads(attrs: dict, layer: ConvLayer, nd: int) -> tuple[tuple[int, ...] | None, str | None]:
    """Explicit pads for any ``auto_pad``; SAME needs the input size only when a stride is above 1."""
    mode = layer.auto_pad
    if mode in ("NOTSET", ""):
        return tuple(attrs.get("pads", [0] * (2 * nd))), None
    if mode == "VALID":
        return (0,) * (2 * nd), None
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        return None, f"unsupported auto_pad {mode}"
    spatial = layer.spatial_in
    if spatial is None and any(s > 1 for s in layer.strides):
        return None, f"auto_pad {mode} with stride above 1 needs the input size, which is unknown " \
                     "(fix it with --input-shape)"
    begins, ends = [], []
    for i in range(nd):
        eff = (layer.kernel[i] - 1) * layer.dilations[i] + 1
        if spatial is None:  # stride 1: output size = input size whatever it is
            total = eff - 1
        else:
            out = -(-spatial[i] // layer.strides[i])
            total = max((out - 1) * layer.strides[i] + eff - spatial[i], 0)
        small, big = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else big)
        ends.append(big if mode == "SAME_UPPER" else small)
    return tuple(begins + ends), None


def _output_shape(layer: ConvLayer) -> Shape:
    nd = len(layer.kernel)
    assert layer.pads is not None and layer.spatial_in is not None
    out = []
    for i in range(nd):
        eff = (layer.kernel[i] - 1) * layer.dilations[i] + 1
        out.append((layer.spatial_in[i] + layer.pads[i] + layer.pads[nd + i] - eff) // layer.strides[i] + 1)
    batch = layer.input_shape[0] if layer.input_shape else None
    return (batch, layer.cout, *out)


def _find_following_batchnorm(mg: ModelGraph, layer: ConvLayer) -> None:
    """If the Conv's only reader is an inference BatchNormalization with constant
    parameters, note it: :meth:`ConvLayer.load` folds it into the weight and bias (the
    graph is edited only if the layer is rewritten)."""
    out = layer.output_name
    consumers = mg.consumers(out)
    if len(consumers) != 1 or mg.is_graph_output(out) or consumers[0].graph_index != layer.ref.graph_index:
        return
    bn = mg.node(consumers[0])
    if bn.op_type != "BatchNormalization" or bn.input[0] != out:
        return
    attrs = {a.name: helper.get_attribute_value(a) for a in bn.attribute}
    if attrs.get("training_mode", 0) or any(o and mg.uses(o) for o in bn.output[1:]):
        return
    if len(bn.input) < 5 or any(mg.constant_shape(n) != (layer.cout,) for n in bn.input[1:5]):
        return
    layer.batchnorm_inputs = tuple(bn.input[1:5])
    layer.batchnorm_epsilon = float(attrs.get("epsilon", 1e-5))
    layer.batchnorm = consumers[0]
    layer.output_name = bn.output[0]
