"""Tucker-2 (Kim et al. 2016): 1x1 ``Cin -> r``, ``kh x kw`` ``r -> r``, 1x1 ``r -> Cout``.

Both channel modes are cut at once, so the middle Conv is small on both sides; it turns
saved multiplications into saved time for 64 channels and more (dense Convs only).
The factors come from the SVDs of the weight's two channel unfoldings (HOSVD); the
core is ``U_out^T W U_in``. One rank cuts both modes, so it is exact at ``r = Cin = Cout``
only; where Cin != Cout, ``r = min(Cin, Cout)`` still drops the larger mode's tail (hence an
auto-mode candidate, not a ``--method``). Only ``group = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..layers import ConvLayer
from .base import Candidate, Emitted, Factorization, Namer, common_ineligible, layer_bias, macs_limit, rank_grid
from .emit import emit_chain


@dataclass
class TuckerFactorization(Factorization):
    """The output-mode SVD (``u``, ``s``, ``vt``) plus the input-mode left vectors ``u_in``, and
    the weight: the error of a Tucker-2 cut is not the output mode's alone."""

    u_in: np.ndarray | None = None
    weight: np.ndarray | None = None

    def rel_error(self, rank: int) -> float:
        """Relative Frobenius error of the weight rebuilt from both cut modes at this rank."""
        assert self.weight is not None
        w = self.weight.astype(np.float64)
        pre, core, post = tucker2_factors(w, self, rank)
        rebuilt = np.einsum("or,rs...,si->oi...", post, core, pre)
        return float(np.linalg.norm(rebuilt - w) / (np.linalg.norm(w) or 1.0))

    def energy(self, rank: int) -> float:
        return 1.0 - self.rel_error(rank) ** 2


def tucker2_svd(weight: np.ndarray) -> TuckerFactorization:
    """HOSVD of the two channel modes, in float64."""
    cout, cin = weight.shape[:2]
    w = weight.astype(np.float64)
    q = min(cout, cin)
    u, s = _left_vectors(w.reshape(cout, -1), q)
    vt = (u.T @ w.reshape(cout, -1)) / np.where(s > 0, s, 1.0)[:, None]
    u_in, _ = _left_vectors(np.moveaxis(w, 1, 0).reshape(cin, -1), q)
    return TuckerFactorization(u[None], s[None], vt[None], u_in=u_in, weight=weight)


def _left_vectors(m: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Top q left singular vectors and values of a wide matrix, from its small Gram matrix (fast)."""
    evals, evecs = np.linalg.eigh(m @ m.T)
    order = np.argsort(evals)[::-1][:q]
    return evecs[:, order], np.sqrt(np.clip(evals[order], 0.0, None))


def tucker2_factors(weight: np.ndarray, fact: TuckerFactorization,
                    rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pre[r, Cin]``, ``core[r, r, *kernel]``, ``post[Cout, r]`` at this rank."""
    assert fact.u_in is not None
    u_out, u_in = fact.u[0][:, :rank], fact.u_in[:, :rank]
    cout, cin, *k = weight.shape
    t = (u_out.T @ weight.astype(np.float64).reshape(cout, -1)).reshape(rank, cin, -1)  # r x Cin x K
    core = np.matmul(t.transpose(0, 2, 1), u_in).transpose(0, 2, 1).reshape(rank, rank, *k)
    return u_in.T, core, u_out


class Tucker2Method:
    """1x1 to r channels, kxk r -> r, 1x1 back to Cout."""

    name = "tucker2"
    exact = False  # one rank for both channel modes: exact only at min(Cin, Cout), so auto mode only

    def ineligible(self, layer: ConvLayer) -> str | None:
        reason = common_ineligible(layer)
        if reason:
            return reason
        if layer.group != 1:
            return "grouped Conv: Tucker-2 takes group = 1 only"
        if layer.spatial_in is None:
            return "unknown input shape (fix it with --input-shape)"
        return None

    def factorize(self, layer: ConvLayer) -> Factorization:
        assert layer.weight is not None
        return tucker2_svd(layer.weight)

    def macs(self, layer: ConvLayer, rank: int) -> int:
        out, inp = prod(layer.spatial_out or ()), prod(layer.spatial_in or ())
        return rank * layer.cin * inp + rank * rank * prod(layer.kernel) * out + layer.cout * rank * out

    def params(self, layer: ConvLayer, rank: int) -> int:
        return (rank * layer.cin + rank * rank * prod(layer.kernel) + layer.cout * rank
                + (layer.cout if layer.bias is not None else 0))

    def emit(self, layer: ConvLayer, fact: Factorization, rank: int, namer: Namer) -> Emitted:
        assert layer.weight is not None and isinstance(fact, TuckerFactorization)
        pre, core, post = tucker2_factors(layer.weight, fact, rank)
        return emit_chain(layer, namer, pre, core, None, post, layer.bias, "tucker2")

    # -- auto mode ----------------------------------------------------------------------------------
    def candidates(self, layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
        assert layer.weight is not None
        fact, b = tucker2_svd(layer.weight), layer_bias(layer)
        out = []
        for r in rank_grid(min(layer.cin, layer.cout), min(layer.cin, layer.cout), lambda r: self.macs(layer, r),
                           macs_limit(layer)):
            pre, core, post = tucker2_factors(layer.weight, fact, r)
            g = np.matmul(core.reshape(r, r, -1).transpose(2, 0, 1), pre).transpose(1, 2, 0).reshape(r, -1)
            out.append(Candidate(self, r, {"g": g, "pre": pre, "core": core}, post, b,
                                 self.macs(layer, r), self.params(layer, r)))
        return out

    def features(self, cand: Candidate, x: np.ndarray) -> np.ndarray:
        return x @ cand.parts["g"].T  # the core's outputs: pre and core folded into one matrix

    def emit_candidate(self, cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
        return emit_chain(layer, namer, cand.parts["pre"], cand.parts["core"], None, cand.last, cand.bias, self.name)
