"""Least-squares refit of a pair's last factor on the inputs the layer really sees.

With the first factor fixed, the outputs are linear in the last factor and bias, so the
best ones for given input patches ``x`` (those the converted model feeds the layer) and
target outputs ``y`` (the original model's, on the original inputs) solve a ridge-damped
least-squares problem in closed form (Zhang et al. 2015). Errors of earlier layers are
then partly compensated instead of piling up.

A fit with nearly as many unknowns as rows matches its own rows and nothing else. So where
rows are fewer than ROWS_PER_UNKNOWN per unknown, the ridge strength is chosen on rows held
out of the fit (the last quarter: other samples) from a grid, and the candidate's error is the
held-out rows' error, not the fitted rows' own.
"""

from __future__ import annotations

import numpy as np

from ..methods import Candidate

#: Ridge damping relative to the mean feature energy; keeps the solve stable when rows are many.
RIDGE = 1e-5
#: Below this many rows per unknown (features of the last factor), the ridge is cross-validated.
ROWS_PER_UNKNOWN = 8
#: The grid of ridge strengths tried, relative to the mean feature energy.
RIDGE_GRID = (1e-5, 1e-3, 1e-2, 1e-1, 1.0)
HOLD_OUT = 0.25


def solve_last(f: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """``(L, b)`` minimising ``||f L^T + b - y||^2 + ridge * mean energy * ||L||^2`` (float64)."""
    f = f.astype(np.float64)
    fm, ym = f.mean(0), y.mean(0)
    fc, yc = f - fm, y - ym
    a = fc.T @ fc
    a[np.diag_indices_from(a)] += ridge * (np.trace(a) / max(len(a), 1)) + 1e-12
    last = np.linalg.solve(a, fc.T @ yc).T
    return last, ym - last @ fm


def choose_ridge(f: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The grid's ridge with the least error on the held-out rows, and that error (relative to the
    held-out rows' centred outputs)."""
    cut = int(len(f) * (1 - HOLD_OUT))
    f_in, f_out = f[:cut].astype(np.float64), f[cut:].astype(np.float64)
    y_in, y_out = y[:cut], y[cut:]
    fm, ym = f_in.mean(0), y_in.mean(0)
    fc = f_in - fm
    evals, q = np.linalg.eigh((fc.T @ fc).astype(np.float32))  # single precision: enough to rank ridges, 2x faster
    evals, q = evals.astype(np.float64), q.astype(np.float64)
    qb = q.T @ (fc.T @ (y_in - ym))
    energy = max(float(evals.sum()) / max(len(evals), 1), 1e-12)
    scale = float(np.linalg.norm(y_out - y_out.mean(0))) or 1.0
    best = (RIDGE, float("inf"))
    for ridge in RIDGE_GRID:
        last = (q @ (qb / (np.clip(evals, 0, None) + ridge * energy)[:, None])).T
        err = float(np.linalg.norm((f_out - fm) @ last.T + ym - y_out)) / scale
        if err < best[1]:
            best = (ridge, err)
    return best


def refit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> Candidate:
    """The candidate with its last factor and bias refit so that ``x`` maps to ``y`` (with the ridge
    chosen for it when the candidate was first fit)."""
    last, bias = solve_last(cand.features(x), y, cand.extra.get("ridge", RIDGE))
    return cand.with_last(last, bias)


def fit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> tuple[Candidate, float | None]:
    """The first refit of a candidate: where rows are few for its unknowns, the ridge is chosen on
    held-out rows and their error returned (else None: the fitted rows' error is honest enough)."""
    f = cand.features(x)
    held_error = None
    if len(f) < ROWS_PER_UNKNOWN * f.shape[1] and len(f) >= 8:
        ridge, held_error = choose_ridge(f, y)
        cand.extra["ridge"] = ridge
    last, bias = solve_last(f, y, cand.extra.get("ridge", RIDGE))
    return cand.with_last(last, bias), held_error
