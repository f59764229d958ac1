"""Depthwise + pointwise, from a per-input-channel SVD.

For input channel i, ``W[:, i]`` reshaped to ``Cout x prod(kernel)`` has the SVD
``U S V^T``; keeping m terms gives a depthwise Conv (``V[:, j]`` as kernels, depth
multiplier m) and a 1x1 Conv (``U[:, j] * S[j]``). Exact at ``m = min(Cout, prod(kernel))``;
m = 1 is the seed's depthwise separable convolution. Works per group and for any kernel
rank (1-D, 2-D, 3-D).

Emission: for m > 1 ONNX Runtime runs a depth-multiplier Conv slowly, so the pair is
emitted as m branches of (depthwise m = 1, pointwise) summed. Measured (ORT 1.32, CPU,
one thread, 3x3, 64 channels, 56x56, m = 2): one grouped Conv took 60% of the original's
time, m branches with Sum 36% (``benchmarks/depthwise_forms.py``).
"""

from __future__ import annotations

from math import prod

import numpy as np
from onnx import helper

from ..layers import ConvLayer, conv_node
from .base import Emitted, Factorization, Namer, common_ineligible, tensor


def depthwise_svd(weight: np.ndarray, group: int = 1) -> Factorization:
    """SVD of ``W[:, i]`` (Cout/group x prod(kernel)) for every input channel i, in float64."""
    cout, cin_g, *k = weight.shape
    cin, cout_g = cin_g * group, cout // group
    a = weight.reshape(group, cout_g, cin_g, prod(k)).transpose(0, 2, 1, 3)
    u, s, vt = np.linalg.svd(a.reshape(cin, cout_g, prod(k)).astype(np.float64), full_matrices=False)
    return Factorization(u, s, vt)


def depthwise_factors(fact: Factorization, weight_shape: tuple[int, ...], group: int,
                      m: int) -> tuple[np.ndarray, np.ndarray]:
    """The math note's factors: ``D[Cin*m, 1, *kernel]`` and ``P[Cout, Cin/group*m, 1...]``.

    ``D[i*m + j] = V_i[:, j]`` and ``P[:, i*m + j] = U_i[:, j] * S_i[j]`` (within the group).
    """
    cout, cin_g, *k = weight_shape
    cin, cout_g = cin_g * group, cout // group
    d = fact.vt[:, :m, :].reshape(cin * m, 1, *k)
    us = fact.u[:, :, :m] * fact.s[:, None, :m]
    p = us.reshape(group, cin_g, cout_g, m).transpose(0, 2, 1, 3).reshape(cout, cin_g * m, *([1] * len(k)))
    return d, p


class DepthwiseMethod:
    """Depthwise (group = Cin, multiplier m) followed by pointwise 1x1."""

    name = "depthwise"

    def ineligible(self, layer: ConvLayer) -> str | None:
        return common_ineligible(layer)

    def factorize(self, layer: ConvLayer) -> Factorization:
        assert layer.weight is not None
        return depthwise_svd(layer.weight, layer.group)

    def macs(self, layer: ConvLayer, rank: int) -> int:
        out = prod(layer.spatial_out or ())
        return layer.cin * rank * prod(layer.kernel) * out + layer.cout * layer.cin_per_group * rank * out

    def params(self, layer: ConvLayer, rank: int) -> int:
        return (layer.cin * rank * prod(layer.kernel) + layer.cout * layer.cin_per_group * rank
                + (layer.cout if layer.bias is not None else 0))

    def emit(self, layer: ConvLayer, fact: Factorization, rank: int, namer: Namer) -> Emitted:
        assert layer.weight is not None and layer.pads is not None
        dtype = layer.weight.dtype
        d, p = depthwise_factors(fact, layer.weight_shape, layer.group, rank)
        nd, base = len(layer.kernel), layer.name
        nodes, inits, partials = [], [], []
        ones = (1,) * nd
        for j in range(rank):
            sfx = f"_{j}" if rank > 1 else ""
            dw_w = tensor(namer, f"{base}/sepconv_depthwise{sfx}_W", d[j::rank].astype(dtype))
            pw_w = tensor(namer, f"{base}/sepconv_pointwise{sfx}_W", p[:, j::rank].astype(dtype))
            inits += [dw_w, pw_w]
            mid = namer.fresh_name(f"{base}/sepconv_depthwise{sfx}_out")
            last = rank == 1
            out = layer.output_name if last else namer.fresh_name(f"{base}/sepconv_pointwise{sfx}_out")
            pw_inputs = [mid, pw_w.name]
            if j == 0 and layer.bias is not None:
                b = tensor(namer, f"{base}/sepconv_pointwise_B", layer.bias)
                inits.append(b)
                pw_inputs.append(b.name)
            nodes.append(conv_node(namer.fresh_name(f"{base}/sepconv_depthwise{sfx}"),
                                   [layer.input_name, dw_w.name], mid, layer.kernel, layer.pads, layer.strides,
                                   layer.dilations, layer.cin,
                                   f"sepconv: depthwise factor {j + 1}/{rank} of Conv '{base}'"))
            nodes.append(conv_node(namer.fresh_name(f"{base}/sepconv_pointwise{sfx}"), pw_inputs, out,
                                   ones, (0,) * (2 * nd), ones, ones, layer.group,
                                   f"sepconv: pointwise factor {j + 1}/{rank} of Conv '{base}'"))
            partials.append(out)
        if rank > 1:
            nodes.append(helper.make_node("Sum", partials, [layer.output_name],
                                          name=namer.fresh_name(f"{base}/sepconv_sum"),
                                          doc_string=f"sepconv: sum of the {rank} depthwise branches of Conv '{base}'"))
        return Emitted(nodes, inits)
