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

In auto mode the features of a patch are the depthwise outputs (channel, j); the pointwise
weight is the last factor, refit on data.
"""

from __future__ import annotations

from math import prod

import numpy as np
from onnx import helper

from ..layers import ConvLayer
from .base import WHITENING_DAMPING, Candidate, Emitted, Factorization, Namer, common_ineligible, layer_bias, macs_limit
from .emit import conv_node, weight_inputs

#: Auto mode's depth multipliers.
AUTO_RANKS = (1, 2)


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


def emit_depthwise(layer: ConvLayer, d: np.ndarray, p: np.ndarray, bias: np.ndarray | None, m: int,
                   namer: Namer) -> Emitted:
    """m branches of (depthwise, pointwise), summed; the bias goes on the first pointwise Conv."""
    assert layer.weight is not None and layer.pads is not None
    dtype, nd, base = layer.weight.dtype, len(layer.kernel), f"{layer.name}/sepconv"
    ones = (1,) * nd
    nodes, inits, partials = [], [], []
    for j in range(m):
        sfx = f"_{j}" if m > 1 else ""
        dw_in, dw_w = weight_inputs(namer, f"{base}_depthwise{sfx}", layer.input_name, d[j::m], None, dtype)
        mid = namer.fresh_name(f"{base}_depthwise{sfx}_out")
        out = layer.output_name if m == 1 else namer.fresh_name(f"{base}_pointwise{sfx}_out")
        pw_in, pw_w = weight_inputs(namer, f"{base}_pointwise{sfx}", mid, p[:, j::m], bias if j == 0 else None,
                                    dtype)
        nodes.append(conv_node(namer.fresh_name(f"{base}_depthwise{sfx}"), dw_in, mid, layer.kernel, layer.pads,
                               layer.strides, layer.dilations, layer.cin,
                               f"sepconv: depthwise factor {j + 1}/{m} of Conv '{layer.name}'"))
        nodes.append(conv_node(namer.fresh_name(f"{base}_pointwise{sfx}"), pw_in, out, ones, (0,) * (2 * nd), ones,
                               ones, layer.group, f"sepconv: pointwise factor {j + 1}/{m} of Conv '{layer.name}'"))
        inits += dw_w + pw_w
        partials.append(out)
    if m > 1:
        nodes.append(helper.make_node("Sum", partials, [layer.output_name], name=namer.fresh_name(f"{base}_sum"),
                                      doc_string=f"sepconv: sum of the {m} depthwise branches of Conv "
                                                 f"'{layer.name}'"))
    return Emitted(nodes, inits)


def _whitened_svds(layer: ConvLayer, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per input channel: ``U``, ``S`` and ``V^T C^(-1/2)`` of ``W_i C^(1/2)``, C that channel's patch
    covariance (all channels in one batched eigendecomposition and one batched SVD)."""
    assert layer.weight is not None
    cout, cin = layer.weight_shape[:2]
    w = layer.weight.astype(np.float64).reshape(cout, cin, -1).transpose(1, 0, 2)  # [Cin, Cout, kk]
    if len(x) < 2:
        u, sv, vt = np.linalg.svd(w, full_matrices=False)
        return list(zip(u, sv, vt))
    p = x.reshape(len(x), cin, -1).astype(np.float64)
    p = p - p.mean(0)
    cov = np.einsum("nci,ncj->cij", p, p) / (len(x) - 1)  # [Cin, kk, kk]
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 0.0, None) + WHITENING_DAMPING * np.maximum(evals.mean(1, keepdims=True), 1e-12)
    root = np.einsum("cij,cj,ckj->cik", evecs, np.sqrt(evals), evecs)
    inv_root = np.einsum("cij,cj,ckj->cik", evecs, 1.0 / np.sqrt(evals), evecs)
    u, sv, vt = np.linalg.svd(w @ root, full_matrices=False)
    return list(zip(u, sv, vt @ inv_root))


class DepthwiseMethod:
    """Depthwise (group = Cin, multiplier m) followed by pointwise 1x1."""

    name = "depthwise"
    exact = True

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
        d, p = depthwise_factors(fact, layer.weight_shape, layer.group, rank)
        return emit_depthwise(layer, d, p, layer.bias, rank, namer)

    # -- auto mode (group 1) ----------------------------------------------------------------------
    def candidates(self, layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
        """At each depth multiplier: the per-channel SVDs' factors, and those of the SVDs whitened by
        each channel's patch covariance (what the data feeds that channel's depthwise kernels)."""
        cout, cin = layer.weight_shape[:2]
        fact, b = self.factorize(layer), layer_bias(layer)
        ranks = [m for m in AUTO_RANKS if m < fact.full_rank and self.macs(layer, m) <= macs_limit(layer)]
        if not ranks:
            return []
        white = _whitened_svds(layer, x)
        out = []
        for m in ranks:
            d, p = depthwise_factors(fact, layer.weight_shape, 1, m)  # [Cin*m, 1, *k], [Cout, Cin*m, 1, 1]
            out.append(Candidate(self, m, {"d": d.reshape(cin, m, -1)}, p.reshape(cout, -1), b,
                                 self.macs(layer, m), self.params(layer, m)))
            wd = np.stack([vt_inv[:m] for _, _, vt_inv in white])  # [Cin, m, k*k]
            wp = np.stack([u[:, :m] * sv[:m] for u, sv, _ in white], axis=1).reshape(cout, -1)  # (c, j) order
            out.append(Candidate(self, m, {"d": wd}, wp, b, self.macs(layer, m), self.params(layer, m),
                                 extra={"whitened": True}))
        return out

    def features(self, cand: Candidate, x: np.ndarray) -> np.ndarray:
        d = cand.parts["d"]  # [Cin, m, k*k]; features (c, j)
        xs = x.reshape(len(x), d.shape[0], -1)
        return np.einsum("ncs,cjs->ncj", xs, d, optimize=True).reshape(len(x), -1)

    def emit_candidate(self, cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
        d = cand.parts["d"]
        cin, m, _ = d.shape
        ones = (1,) * len(layer.kernel)
        return emit_depthwise(layer, d.reshape(cin * m, 1, *layer.kernel), cand.last.reshape(layer.cout, -1, *ones),
                              cand.bias, m, namer)
