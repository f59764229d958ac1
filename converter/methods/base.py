"""The small protocol every decomposition implements, and the data it passes around.

A method answers, about a :class:`~sepconv.converter.layers.ConvLayer`: can you take it
(``ineligible``), what is your SVD of it (``factorize``, done once and reused for every rank
considered), what do you cost at rank r (``macs``, ``params``), and which nodes replace it
(``emit``). For auto mode it also offers its :class:`Candidate` rewrites (``candidates``), the
features of a patch that its last factor maps to the outputs (``features``), and the nodes of
a candidate whose last factor was refit (``emit_candidate``). Rank policies, graph editing,
reporting, verification and the auto-mode search are shared by all methods and live elsewhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Protocol

import numpy as np
import onnx

from ..layers import ConvLayer

#: Auto mode: ranks whose pair costs more than this share of the original's multiplications are not tried.
MAX_MACS_SHARE = 0.8
#: Auto mode: ranks tried per method and layer.
RANKS_PER_METHOD = 6


@dataclass
class Factorization:
    """A batch of SVDs ``M[b] = U[b] @ diag(S[b]) @ Vt[b]`` of one layer's weight.

    ``s`` has shape (batch, q); the energy kept at rank r sums the first r singular
    values of every matrix in the batch.
    """

    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray

    @property
    def full_rank(self) -> int:
        return int(self.s.shape[1])

    def energy(self, rank: int) -> float:
        """Fraction of the squared singular values kept at this rank (1.0 for a zero weight)."""
        sq = self.s.astype(np.float64) ** 2
        total = float(sq.sum())
        return 1.0 if total == 0.0 else float(sq[:, :rank].sum()) / total

    def energies(self) -> np.ndarray:
        """Energy kept at ranks 1..full_rank, as one array."""
        sq = (self.s.astype(np.float64) ** 2).sum(axis=0)
        total = float(sq.sum())
        return np.ones(len(sq)) if total == 0.0 else np.cumsum(sq) / total

    def rel_error(self, rank: int) -> float:
        """Relative Frobenius error of the weight reconstructed at this rank."""
        return float(np.sqrt(max(0.0, 1.0 - self.energy(rank))))


@dataclass
class Emitted:
    """What replaces one Conv: nodes in order and their new initializers."""

    nodes: list[onnx.NodeProto]
    initializers: list[onnx.TensorProto]


def emitted_params(emitted: Emitted) -> int:
    """Weights and biases a replacement really holds: the report counts what was written."""
    return sum(prod(t.dims) for t in emitted.initializers)


@dataclass
class Candidate:
    """One auto-mode rewrite of one layer at one rank: the method's first factor(s) in ``parts``,
    and the last factor ``last`` (Cout x features) with ``bias`` that map features to outputs."""

    method: Method
    rank: int
    parts: dict[str, np.ndarray]
    last: np.ndarray
    bias: np.ndarray
    macs: int
    params: int
    error: float = float("nan")  # relative error of the layer's outputs on the fitting patches
    ms: float | None = None
    orig_ms: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.method.name

    @property
    def variant(self) -> str:
        return f"{self.kind}:r{self.rank}"

    def features(self, x: np.ndarray) -> np.ndarray:
        """The first factor's outputs (rows x features) for input patches ``x`` (rows x Cin*k*k)."""
        return self.method.features(self, x)

    def with_last(self, last: np.ndarray, bias: np.ndarray) -> Candidate:
        return dataclasses.replace(self, last=last, bias=bias)


class Namer(Protocol):
    def fresh_name(self, base: str) -> str: ...


class Method(Protocol):
    """One decomposition. ``exact``: exact at full rank, so a user may pick it with ``--method``."""

    name: str
    exact: bool

    def ineligible(self, layer: ConvLayer) -> str | None:
        """Why this method cannot rewrite the layer, or None if it can."""

    def factorize(self, layer: ConvLayer) -> Factorization:
        """The layer's SVD, in float64."""

    def macs(self, layer: ConvLayer, rank: int) -> int:
        """Multiplications of the factorized pair at this rank, per batch item."""

    def params(self, layer: ConvLayer, rank: int) -> int:
        """Weights and bias of the factorized pair at this rank."""

    def emit(self, layer: ConvLayer, fact: Factorization, rank: int, namer: Namer) -> Emitted:
        """The nodes and initializers that compute the pair at this rank."""

    def candidates(self, layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
        """Auto mode: the rewrites worth trying (``x``: calibration patches, rows x Cin*k*k; ``y``: the
        layer's outputs on them)."""

    def features(self, cand: Candidate, x: np.ndarray) -> np.ndarray:
        """Auto mode: what the candidate's last factor is applied to, for input patches ``x``."""

    def emit_candidate(self, cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
        """Auto mode: the nodes of the candidate with its current (possibly refit) last factor."""


def common_ineligible(layer: ConvLayer) -> str | None:
    """Reasons that rule a layer out for every method."""
    if layer.skip_reason:
        return layer.skip_reason
    if all(k == 1 for k in layer.kernel):
        return "1x1 kernel: nothing to factorize spatially"
    if layer.group > 1 and layer.cin_per_group == 1:
        return "already depthwise (group = input channels)"
    return None


def rank_grid(full: int, channels: int, cost: Callable[[int], int], limit: float) -> list[int]:
    """Auto mode's ranks: aligned ones that ONNX Runtime runs fast (multiples of 16, else 8 or 4),
    below ``full``, costing at most ``limit``; at most RANKS_PER_METHOD, spread out."""
    align = 16 if channels >= 64 else 8 if channels >= 16 else 4
    ranks = [r for r in range(align, full, align) if cost(r) <= limit]
    if len(ranks) > RANKS_PER_METHOD:
        pick = np.unique(np.round(np.linspace(0, len(ranks) - 1, RANKS_PER_METHOD)).astype(int))
        ranks = [ranks[i] for i in pick]
    return ranks


def macs_limit(layer: ConvLayer) -> float:
    """The most multiplications an auto-mode candidate of this layer may cost."""
    return MAX_MACS_SHARE * (layer.macs or 0)


def layer_bias(layer: ConvLayer) -> np.ndarray:
    """The layer's bias in float64 (zeros where it has none): a candidate's starting bias."""
    return np.zeros(layer.cout) if layer.bias is None else layer.bias.astype(np.float64)


#: Whitening adds this share of the mean eigenvalue to every eigenvalue of the input covariance:
#: directions the fitting data barely visits are not trusted to stay that quiet.
WHITENING_DAMPING = 0.1


def whitening(samples: np.ndarray, damping: float = WHITENING_DAMPING) -> tuple[np.ndarray, np.ndarray]:
    """``C^(1/2)`` and ``C^(-1/2)`` of the samples' (rows x d) covariance, damped by ``damping`` x its
    mean eigenvalue: truncating ``C^(1/2) M`` keeps what matters for these inputs, not for white ones
    (the data-aware low-rank step of Zhang et al. 2015 and SVD-LLM)."""
    d = samples.shape[1]
    if len(samples) < 2:  # no spread to learn from: the plain (unwhitened) problem
        return np.eye(d), np.eye(d)
    c = np.cov(samples.astype(np.float64), rowvar=False).reshape(d, d)
    evals, evecs = np.linalg.eigh(c)
    evals = np.clip(evals, 0.0, None) + damping * max(float(evals.mean()), 1e-12)
    return (evecs * np.sqrt(evals)) @ evecs.T, (evecs / np.sqrt(evals)) @ evecs.T
