"""Spatially separable pair, from one SVD of the whole weight (Jaderberg et al. 2014, scheme 2).

``M[(c, y), (o, x)] = W[o, c, y, x]`` of size ``(Cin*kh) x (Cout*kw)`` has the SVD
``U S V^T``; keeping r terms gives a ``kh x 1`` Conv ``Cin -> r`` (``U * sqrt(S)``) and a
``1 x kw`` Conv ``r -> Cout`` (``sqrt(S) * V^T``) carrying the original bias. Exact at
``r = min(Cin*kh, Cout*kw)``. Groups are factorized one by one and emitted as grouped
Convs. For 3-D kernels the first spatial axis is split from the others (``kd x 1 x 1``
then ``1 x kh x kw``).

In auto mode the features of a patch are the vertical Conv's r outputs at each of the kw
columns; the horizontal weight is the last factor, refit on data.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..layers import ConvLayer
from .base import (
    Candidate,
    Emitted,
    Factorization,
    Namer,
    common_ineligible,
    layer_bias,
    macs_limit,
    rank_grid,
    whitening,
)
from .emit import conv_node, weight_inputs


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


def emit_spatial(layer: ConvLayer, vertical: np.ndarray, horizontal: np.ndarray, bias: np.ndarray | None,
                 namer: Namer) -> Emitted:
    """The vertical Conv (first axis, its pads/stride/dilation) then the horizontal one (the rest)."""
    assert layer.weight is not None and layer.pads is not None
    dtype, nd, base, pads = layer.weight.dtype, len(layer.kernel), f"{layer.name}/sepconv", layer.pads
    rank, rest0, rest1 = horizontal.shape[1], (0,) * (nd - 1), (1,) * (nd - 1)
    v_in, v_w = weight_inputs(namer, f"{base}_vertical", layer.input_name, vertical, None, dtype)
    h_in, h_w = weight_inputs(namer, f"{base}_horizontal", namer.fresh_name(f"{base}_vertical_out"), horizontal,
                              bias, dtype)
    first = conv_node(namer.fresh_name(f"{base}_vertical"), v_in, h_in[0], (layer.kernel[0], *rest1),
                      (pads[0], *rest0, pads[nd], *rest0), (layer.strides[0], *rest1), (layer.dilations[0], *rest1),
                      layer.group, f"sepconv: vertical factor (rank {rank}) of Conv '{layer.name}'")
    second = conv_node(namer.fresh_name(f"{base}_horizontal"), h_in, layer.output_name, (1, *layer.kernel[1:]),
                       (0, *pads[1:nd], 0, *pads[nd + 1:]), (1, *layer.strides[1:]), (1, *layer.dilations[1:]),
                       layer.group, f"sepconv: horizontal factor (rank {rank}) of Conv '{layer.name}'")
    return Emitted([first, second], v_w + h_w)


class SpatialMethod:
    """``k x 1`` Conv to r channels, then ``1 x k`` Conv."""

    name = "spatial"
    exact = True

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
        v, h = spatial_factors(fact, layer.weight_shape, layer.group, rank)
        return emit_spatial(layer, v, h, layer.bias, namer)

    # -- auto mode (group 1, 2-D kernels) ---------------------------------------------------------
    def candidates(self, layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
        """At each rank: the weight SVD's factors, and the factors of the SVD whitened by the
        covariance of the columns the vertical Conv reads (rows x Cin*kh), which the data picks."""
        assert layer.weight is not None
        cout, cin, kh, kw = layer.weight_shape
        b = layer_bias(layer)
        plain = self.factorize(layer)
        columns = x.reshape(len(x), cin, kh, kw).transpose(0, 3, 1, 2).reshape(-1, cin * kh)
        root, inv_root = whitening(columns)
        m = layer.weight.astype(np.float64).transpose(1, 2, 0, 3).reshape(cin * kh, cout * kw)
        u, sv, vt = np.linalg.svd(root @ m, full_matrices=False)
        out = []
        for r in rank_grid(min(cin * kh, cout * kw), min(cin, cout), lambda r: self.macs(layer, r),
                           macs_limit(layer)):
            v, h = spatial_factors(plain, layer.weight_shape, 1, r)  # [r, Cin, kh, 1], [Cout, r, 1, kw]
            out.append(Candidate(self, r, {"v": v[..., 0].transpose(1, 2, 0)}, h.reshape(cout, -1), b,
                                 self.macs(layer, r), self.params(layer, r)))
            root_s = np.sqrt(sv[:r])
            wv = (inv_root @ u[:, :r] * root_s).reshape(cin, kh, r)
            wh = (root_s[:, None] * vt[:r]).reshape(r, cout, kw).transpose(1, 0, 2).reshape(cout, -1)
            out.append(Candidate(self, r, {"v": wv}, wh, b, self.macs(layer, r), self.params(layer, r),
                                 extra={"whitened": True}))
        return out

    def features(self, cand: Candidate, x: np.ndarray) -> np.ndarray:
        v = cand.parts["v"]  # [Cin, kh, r]; features (j, column)
        cin, kh, _ = v.shape
        xs = x.reshape(len(x), cin, kh, -1)
        return np.einsum("ncyx,cyj->njx", xs, v, optimize=True).reshape(len(x), -1)

    def emit_candidate(self, cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
        v = cand.parts["v"]
        cin, kh, r = v.shape
        vertical = v.transpose(2, 0, 1)[..., None]
        horizontal = cand.last.reshape(layer.cout, r, 1, -1)
        return emit_spatial(layer, vertical, horizontal, cand.bias, namer)
