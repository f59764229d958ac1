"""The small protocol every decomposition implements.

A method answers five questions about a :class:`~converter.layers.ConvLayer`: can you
take it (``ineligible``), what is your SVD of it (``factorize``, done once and reused for
every rank considered), what do you cost at rank r (``macs``, ``params``), and which
nodes replace it (``emit``). Rank policies, graph editing, reporting and verification
are shared by all methods and live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Protocol

import numpy as np
import onnx
from onnx import numpy_helper

from ..layers import ConvLayer


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


class Method(Protocol):
    """One decomposition."""

    name: str

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


class Namer(Protocol):
    def fresh_name(self, base: str) -> str: ...


def common_ineligible(layer: ConvLayer) -> str | None:
    """Reasons that rule a layer out for every method."""
    if layer.skip_reason:
        return layer.skip_reason
    if all(k == 1 for k in layer.kernel):
        return "1x1 kernel: nothing to factorize spatially"
    if layer.group > 1 and layer.cin_per_group == 1:
        return "already depthwise (group = input channels)"
    return None


def tensor(namer: Namer, base: str, array: np.ndarray) -> onnx.TensorProto:
    """A new initializer with a fresh name."""
    return numpy_helper.from_array(np.ascontiguousarray(array), namer.fresh_name(base))
