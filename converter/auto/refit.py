"""Least-squares refit of a pair's last factor on the inputs the layer really sees.

With the first factor fixed, the outputs are linear in the last factor and bias, so the
best ones for given input patches ``x`` (those the converted model feeds the layer) and
target outputs ``y`` (the original model's, on the original inputs) solve a ridge-damped
least-squares problem in closed form (Zhang et al. 2015). Errors of earlier layers are
then partly compensated instead of piling up.
"""

from __future__ import annotations

import numpy as np

from ..methods import Candidate

#: Ridge damping relative to the mean feature energy; keeps the solve stable when rows are few.
RIDGE = 1e-5


def solve_last(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L, b)`` minimising ``||f L^T + b - y||^2 + ridge ||L||^2`` (float64)."""
    f = f.astype(np.float64)
    fm, ym = f.mean(0), y.mean(0)
    fc, yc = f - fm, y - ym
    a = fc.T @ fc
    lam = RIDGE * (np.trace(a) / max(len(a), 1)) + 1e-12
    a[np.diag_indices_from(a)] += lam
    last = np.linalg.solve(a, fc.T @ yc).T
    return last, ym - last @ fm


def refit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> Candidate:
    """The candidate with its last factor and bias refit so that ``x`` maps to ``y``."""
    last, bias = solve_last(cand.features(x), y)
    return cand.with_last(last, bias)
