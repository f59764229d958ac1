"""Multiplication and parameter counting, by the seed's convention.

Multiplications of one Conv per batch item: ``Cout * (Cin / group) * prod(kernel) *
prod(output spatial)``; bias additions are not counted. The factorized pairs are
counted the same way, node by node, so the totals compare like with like.
"""

from __future__ import annotations

from math import prod


def conv_macs(cout: int, cin_per_group: int, kernel: tuple[int, ...], out_spatial: tuple[int, ...]) -> int:
    """Multiplications of one Conv node for one batch item."""
    return cout * cin_per_group * prod(kernel) * prod(out_spatial)


def conv_params(cout: int, cin_per_group: int, kernel: tuple[int, ...], bias: bool) -> int:
    """Weights (and bias) of one Conv node."""
    return cout * cin_per_group * prod(kernel) + (cout if bias else 0)


def ratio(after: float, before: float) -> float | None:
    """after / before, or None where before is zero."""
    return after / before if before else None
