"""Spatially separable pair, from one SVD of the whole weight (Jaderberg et al. 2014, scheme 2).

``M[(c, y), (o, x)] = W[o, c, y, x]`` of size ``(Cin*kh) x (Cout*kw)`` has the SVD
``U S V^T``; keeping r terms gives a ``kh x 1`` Conv ``Cin -> r`` (``U * sqrt(S)``) and a
``1 x kw`` Conv ``r -> Cout`` (``sqrt(S) * V^T``) carrying the original bias. Exact at
``r = min(Cin*kh, Cout*kw)``. Groups are factorized one by one and emitted as grouped
Convs. For 3-D kernels the first spatial axis is split from the others (``kd x 1 x 1``
then ``1 x kh x kw``).
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..layers import ConvLayer, conv_node
from .base import Emitted, Factorization, Namer, common_ineligible, tensor


def spatial_svd(weight: np.ndarray, group: int = 1) -> Factorization:
    """SVD of ``M[(c, y), (o, rest)]`` for every group, in float64."""
    cout, cin_g, k0, *rest = weight.shape
    cout_g = cout // group
    # transpose in the weight's own dtype, then one float64 copy (large layers: keep copies few)
    m = weight.reshape(group, cout_g, cin_g, k0, prod(rest)).transpose(0, 2, 3, 1, 4)
    m = m.reshape(group, cin_g * k0, cout_g * prod(rest)).astype(np.float64)
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return Factorization(u, s, vt)


def spatial_factors(fact: Factorization, weight_shape: tuple[int, ...], group: int,
                    r: int) -> tuple[np.ndarray, np.ndarray]:
    """The vertical weight ``[group*r, Cin/group, kh, 1...]`` and horizontal ``[Cout, r, 1, kw...]``.

    ``sqrt(S)`` goes to both factors so their magnitudes stay balanced in low precision.
    """
    cout, cin_g, k0, *rest = weight_shape
    cout_g = cout // group
    root = np.sqrt(fact.s[:, :r])
    v = (fact.u[:, :, :r] * root[:, None, :]).reshape(group, cin_g, k0, r).transpose(0, 3, 1, 2)
    h = (root[:, :, None] * fact.vt[:, :r, :]).reshape(group, r, cout_g, *rest)
    h = np.moveaxis(h, 2, 1)
    return (v.reshape(group * r, cin_g, k0, *([1] * len(rest))),
            h.reshape(cout, r, 1, *rest))


class SpatialMethod:
    """``k x 1`` Conv to r channels, then ``1 x k`` Conv."""

    name = "spatial"

    def ineligible(self, layer: ConvLayer) -> str | None:
        reason = common_ineligible(layer)
        if reason:
            return reason
        if len(layer.kernel) < 2:
            return "1-D kernel: no second axis to separate (use --method depthwise)"
        if layer.kernel[0] == 1 or prod(layer.kernel[1:]) == 1:
            return f"kernel {'x'.join(map(str, layer.kernel))} is already one-dimensional"
        if layer.spatial_in is None:
            return "unknown input shape (fix it with --input-shape)"
        return None

    def factorize(self, layer: ConvLayer) -> Factorization:
        assert layer.weight is not None
        return spatial_svd(layer.weight, layer.group)

    def macs(self, layer: ConvLayer, rank: int) -> int:
        out, inp = layer.spatial_out or (), layer.spatial_in or ()
        vertical = layer.group * rank * layer.cin_per_group * layer.kernel[0] * out[0] * prod(inp[1:])
        horizontal = layer.cout * rank * prod(layer.kernel[1:]) * out[0] * prod(out[1:])
        return vertical + horizontal

    def params(self, layer: ConvLayer, rank: int) -> int:
        return (layer.group * rank * layer.cin_per_group * layer.kernel[0]
                + layer.cout * rank * prod(layer.kernel[1:]) + (layer.cout if layer.bias is not None else 0))

    def emit(self, layer: ConvLayer, fact: Factorization, rank: int, namer: Namer) -> Emitted:
        assert layer.weight is not None and layer.pads is not None
        dtype = layer.weight.dtype
        v, h = spatial_factors(fact, layer.weight_shape, layer.group, rank)
        nd, base = len(layer.kernel), layer.name
        pads, rest0 = layer.pads, (0,) * (nd - 1)
        v_w = tensor(namer, f"{base}/sepconv_vertical_W", v.astype(dtype))
        h_w = tensor(namer, f"{base}/sepconv_horizontal_W", h.astype(dtype))
        inits = [v_w, h_w]
        h_inputs = [namer.fresh_name(f"{base}/sepconv_vertical_out"), h_w.name]
        if layer.bias is not None:
            b = tensor(namer, f"{base}/sepconv_horizontal_B", layer.bias)
            inits.append(b)
            h_inputs.append(b.name)
        vertical = conv_node(
            namer.fresh_name(f"{base}/sepconv_vertical"), [layer.input_name, v_w.name], h_inputs[0],
            (layer.kernel[0], *(1,) * (nd - 1)), (pads[0], *rest0, pads[nd], *rest0),
            (layer.strides[0], *(1,) * (nd - 1)), (layer.dilations[0], *(1,) * (nd - 1)), layer.group,
            f"sepconv: vertical factor (rank {rank}) of Conv '{base}'")
        horizontal = conv_node(
            namer.fresh_name(f"{base}/sepconv_horizontal"), h_inputs, layer.output_name,
            (1, *layer.kernel[1:]), (0, *pads[1:nd], 0, *pads[nd + 1:]),
            (1, *layer.strides[1:]), (1, *layer.dilations[1:]), layer.group,
            f"sepconv: horizontal factor (rank {rank}) of Conv '{base}'")
        return Emitted([vertical, horizontal], inits)
