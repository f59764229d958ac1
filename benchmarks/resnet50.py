"""A ResNet-50-shaped ONNX model built with onnx.helper (random weights, BatchNormalization
after every Conv), for conversion speed and memory measurements without any download."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx import numpy_helper as nh


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.k = 0

    def name(self, base: str) -> str:
        self.k += 1
        return f"{base}{self.k}"

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> str:
        n = self.name("conv")
        w = (self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        self.inits.append(nh.from_array(w, f"{n}.W"))
        rng = self.rng
        for p, v in (("scale", 1.0 + 0.1 * rng.standard_normal(cout)), ("bias", 0.1 * rng.standard_normal(cout)),
                     ("mean", 0.1 * rng.standard_normal(cout)), ("var", 1.0 + 0.1 * rng.random(cout))):
            self.inits.append(nh.from_array(v.astype(np.float32), f"{n}.bn.{p}"))
        pad = k // 2
        self.nodes.append(helper.make_node("Conv", [x, f"{n}.W"], [f"{n}.out"], name=n, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[pad] * 4))
        self.nodes.append(helper.make_node("BatchNormalization", [f"{n}.out", f"{n}.bn.scale", f"{n}.bn.bias",
                                           f"{n}.bn.mean", f"{n}.bn.var"], [f"{n}.bn.out"], name=f"{n}.bn"))
        out = f"{n}.bn.out"
        if relu:
            self.nodes.append(helper.make_node("Relu", [out], [f"{n}.relu"], name=f"{n}.relu"))
            out = f"{n}.relu"
        return out


def resnet50(seed: int = 0, classes: int = 1000) -> onnx.ModelProto:
    """ResNet-50 v1.5 shapes: 7x7 stem, bottlenecks [3, 4, 6, 3], 3x3 stride in the middle Conv."""
    b = _Builder(seed)
    x = b.conv_bn("input", 3, 64, 7, stride=2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, cin = "pool0", 64
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for i in range(blocks):
            stride = 2 if i == 0 and stage > 0 else 1
            y = b.conv_bn(x, cin, width, 1)
            y = b.conv_bn(y, width, width, 3, stride=stride)
            y = b.conv_bn(y, width, width * 4, 1, relu=False)
            short = b.conv_bn(x, cin, width * 4, 1, stride=stride, relu=False) if i == 0 else x
            s = b.name("add")
            b.nodes.append(helper.make_node("Add", [y, short], [s], name=s))
            b.nodes.append(helper.make_node("Relu", [s], [s + ".relu"], name=s + ".relu"))
            x, cin = s + ".relu", width * 4
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    b.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    fc = (b.rng.standard_normal((classes, cin)) * 0.01).astype(np.float32)
    b.inits += [nh.from_array(fc, "fc.W"), nh.from_array(np.zeros(classes, np.float32), "fc.B")]
    b.nodes.append(helper.make_node("Gemm", ["flat", "fc.W", "fc.B"], ["logits"], transB=1))
    graph = helper.make_graph(b.nodes, "resnet50", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                              ["N", 3, 224, 224])], [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                              ["N", classes])], b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
