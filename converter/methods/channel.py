"""Output-channel decomposition (Zhang et al. 2015): ``kh x kw`` Conv to r channels, then 1x1.

The layer's outputs ``y`` are approximated by ``P P^T (y - mu) + mu`` with ``P`` the top r
principal directions of the output channels. Folded into Convs: a ``kh x kw`` Conv with
weight ``P^T W`` (bias ``P^T b``) and a 1x1 Conv with weight ``P`` (bias ``mu - P P^T mu``).
A candidate of auto mode only (not a ``--method``): with calibration data ``P`` comes from the
outputs' covariance; ``factorize`` (from the weights alone) takes the SVD of ``W`` as
``Cout x (Cin*k*k)``, the same thing for white inputs. Only ``group = 1``.
"""

from __future__ import annotations

from math import prod

import numpy as np

from ..layers import ConvLayer
from .base import Candidate, Emitted, Factorization, Namer, common_ineligible, layer_bias, macs_limit, rank_grid
from .emit import emit_chain

OptArray = np.ndarray | None


def channel_svd(weight: np.ndarray) -> Factorization:
    """SVD of ``W`` reshaped ``Cout x (Cin*k*k)``, in float64."""
    u, s, vt = np.linalg.svd(weight.astype(np.float64).reshape(weight.shape[0], -1), full_matrices=False)
    return Factorization(u[None], s[None], vt[None])


def channel_factors(weight: np.ndarray, bias: np.ndarray | None, basis: np.ndarray,
                    mean: np.ndarray | None = None) -> tuple[np.ndarray, OptArray, np.ndarray, OptArray]:
    """``core[r, Cin, *k]``, its bias, ``post[Cout, r]`` and its bias, for an orthonormal ``basis[Cout, r]``."""
    w = weight.astype(np.float64)
    core = np.einsum("or,o...->r...", basis, w)
    core_bias = None if bias is None else basis.T @ bias.astype(np.float64)
    post_bias = None if mean is None else mean - basis @ (basis.T @ mean)
    return core, core_bias, basis, post_bias


class ChannelMethod:
    """kxk Conv to r channels (principal directions of the outputs), then 1x1 back."""

    name = "channel"
    exact = False  # its basis comes from data, so auto mode only

    def ineligible(self, layer: ConvLayer) -> str | None:
        reason = common_ineligible(layer)
        if reason:
            return reason
        if layer.group != 1:
            return "grouped Conv: the channel decomposition takes group = 1 only"
        return None

    def factorize(self, layer: ConvLayer) -> Factorization:
        assert layer.weight is not None
        return channel_svd(layer.weight)

    def macs(self, layer: ConvLayer, rank: int) -> int:
        out = prod(layer.spatial_out or ())
        return rank * layer.cin * prod(layer.kernel) * out + layer.cout * rank * out

    def params(self, layer: ConvLayer, rank: int) -> int:
        return (rank * layer.cin * prod(layer.kernel) + rank + layer.cout * rank
                + (layer.cout if layer.bias is not None else 0))

    def emit(self, layer: ConvLayer, fact: Factorization, rank: int, namer: Namer) -> Emitted:
        assert layer.weight is not None
        core, core_bias, post, post_bias = channel_factors(layer.weight, layer.bias, fact.u[0][:, :rank])
        return emit_chain(layer, namer, None, core, core_bias, post, post_bias, "channel")

    # -- auto mode: the basis from the outputs' covariance -------------------------------------------
    def candidates(self, layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
        assert layer.weight is not None
        mean = y.mean(0)
        cov = np.cov(y, rowvar=False) if len(y) > 1 else np.eye(layer.cout)
        basis = np.linalg.eigh(cov)[1][:, ::-1]
        out = []
        for r in rank_grid(layer.cout, min(layer.cin, layer.cout), lambda r: self.macs(layer, r), macs_limit(layer)):
            core, core_bias, post, post_bias = channel_factors(layer.weight, layer_bias(layer), basis[:, :r], mean)
            assert core_bias is not None and post_bias is not None
            out.append(Candidate(self, r, {"g": core.reshape(r, -1), "g_bias": core_bias, "core": core}, post,
                                 post_bias, self.macs(layer, r), self.params(layer, r)))
        return out

    def features(self, cand: Candidate, x: np.ndarray) -> np.ndarray:
        return x @ cand.parts["g"].T + cand.parts["g_bias"]  # the core Conv's outputs

    def emit_candidate(self, cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
        return emit_chain(layer, namer, None, cand.parts["core"], cand.parts["g_bias"], cand.last, cand.bias,
                          self.name)
