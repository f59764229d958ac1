"""Least-squares refit of a pair's last factor on the inputs the layer really sees.

With the first factor fixed, the outputs are linear in the last factor and bias, so the
best ones for given input patches ``x`` (those the converted model feeds the layer) and
target outputs ``y`` (the original model's, on the original inputs) solve a ridge-damped
least-squares problem in closed form (Zhang et al. 2015). Errors of earlier layers are
then partly compensated instead of piling up.

The ridge pulls the fit towards the candidate's own last factor (from the weights' SVD, or the
SVD whitened by the data), not towards zero: a weak fit then falls back on what the weights know. A fit with
nearly as many unknowns as rows matches its own rows and nothing else (CREPE's 64x1 layers: 8
to 128 output positions per sample; a channel factor that the weights alone left at 1% error
read 10% on unseen rows after a fit shrunk towards zero). So where rows are fewer than
ROWS_PER_UNKNOWN per unknown, the ridge strength is chosen on rows held out of the fit (the
last quarter: other samples) from a grid whose end is that factor itself, and the candidate's
error is the held-out rows' error, not the fitted rows' own. Where rows are fewer than
PEAK_ROWS_PER_UNKNOWN per unknown, such a candidate is fit on the first three quarters only, then
and in every later refit, so that error is the error of the fit it describes (refit on all rows,
as many as its unknowns, a channel factor whose held rows read 0.80 read 1.62 on new inputs: the
interpolation peak). The factors that come from the data (the whitening, the channel basis) are
built from the first three quarters of the rows (``in_fold``), so that error is honest for them
too: built from all rows, a squeeze-and-excitation layer's channel basis (16
rows for 1280 channels) read 1e-12 on the rows the ridge was judged on and 0.94% on new samples.
"""

from __future__ import annotations

import numpy as np

from ..methods import Candidate

#: Ridge damping relative to the mean feature energy; keeps the solve stable when rows are many.
RIDGE = 1e-5
#: Below this many rows per unknown (features of the last factor), the ridge is cross-validated.
ROWS_PER_UNKNOWN = 8
#: Below this many rows per unknown, a candidate whose ridge was chosen on held rows is also fit
#: without them: near as many rows as unknowns a fit on all rows is at the interpolation peak,
#: and the held rows' error would not describe it. Above, all rows fit it (more data, same ridge).
PEAK_ROWS_PER_UNKNOWN = 2
#: The grid of ridge strengths tried, relative to the mean feature energy; inf keeps the weights' factor.
RIDGE_GRID = (1e-5, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, float("inf"))
HOLD_OUT = 0.25
#: Fewer rows than this are too few to hold any out: a fit uses them all.
MIN_HOLD_ROWS = 8


def in_fold(rows: int) -> int:
    """How many of the first rows a fit uses where the rest are held out to judge it (all of them
    where there are too few to hold any out)."""
    return rows if rows < MIN_HOLD_ROWS else int(rows * (1 - HOLD_OUT))


def solve_last(f: np.ndarray, y: np.ndarray, ridge: float = RIDGE,
               prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(L, b)`` minimising ``||f L^T + b - y||^2 + ridge * mean energy * ||L - prior||^2`` (float64;
    ``prior`` defaults to zero; an infinite ridge returns the prior with the bias refit)."""
    f = f.astype(np.float64)
    fm, ym = f.mean(0), y.mean(0)
    prior = _prior(prior, f, y)
    if np.isinf(ridge):
        return prior, ym - prior @ fm
    fc, yc = f - fm, y - ym
    a = fc.T @ fc
    damp = ridge * (np.trace(a) / max(len(a), 1)) + 1e-12
    a[np.diag_indices_from(a)] += damp
    last = np.linalg.solve(a, fc.T @ yc + damp * prior.T).T
    return last, ym - last @ fm


def choose_ridge(f: np.ndarray, y: np.ndarray, prior: np.ndarray | None = None) -> tuple[float, float]:
    """The grid's ridge (towards ``prior``) with the least error on the held-out rows, and that error
    (relative to the held-out rows' centred outputs)."""
    cut = in_fold(len(f))
    f_in, f_out = f[:cut].astype(np.float64), f[cut:].astype(np.float64)
    y_in, y_out = y[:cut], y[cut:]
    prior = _prior(prior, f, y)
    fm, ym = f_in.mean(0), y_in.mean(0)
    fc = f_in - fm
    evals, q = np.linalg.eigh((fc.T @ fc).astype(np.float32))  # single precision: enough to rank ridges, 2x faster
    evals, q = np.clip(evals.astype(np.float64), 0, None), q.astype(np.float64)
    qb, qp = q.T @ (fc.T @ (y_in - ym)), q.T @ prior.T
    energy = max(float(evals.sum()) / max(len(evals), 1), 1e-12)
    scale = float(np.linalg.norm(y_out - y_out.mean(0))) or 1.0
    best = (RIDGE, float("inf"))
    for ridge in RIDGE_GRID:
        if np.isinf(ridge):
            last = prior
        else:
            damp = ridge * energy
            last = (q @ ((qb + damp * qp) / (evals + damp)[:, None])).T
        err = float(np.linalg.norm((f_out - fm) @ last.T + ym - y_out)) / scale
        if err < best[1]:
            best = (ridge, err)
    return best


def _prior(prior: np.ndarray | None, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The factor the ridge pulls towards, in float64 (zero where there is none)."""
    return np.zeros((y.shape[1], f.shape[1])) if prior is None else prior.astype(np.float64)


def refit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> Candidate:
    """The candidate with its last factor and bias refit so that ``x`` maps to ``y`` (with the ridge
    chosen for it when the candidate was first fit, towards the weights' factor; where that ridge
    was chosen on held rows and these rows are fewer than PEAK_ROWS_PER_UNKNOWN per unknown, on the
    first ``in_fold`` rows only, as it was judged)."""
    return _refit_features(cand, cand.features(x), y)


def _refit_features(cand: Candidate, f: np.ndarray, y: np.ndarray) -> Candidate:
    """``refit`` on the candidate's features ``f`` of the rows, already computed."""
    rows = in_fold(len(f)) if cand.extra.get("held_ridge") and len(f) < PEAK_ROWS_PER_UNKNOWN * f.shape[1] else len(f)
    last, bias = solve_last(f[:rows], y[:rows], cand.extra.get("ridge", RIDGE), cand.extra.get("prior"))
    return cand.with_last(last, bias)


def fit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> tuple[Candidate, float | None]:
    """The first refit of a candidate: where rows are few for its unknowns, the ridge is chosen on
    held-out rows and their error returned (else None: the fitted rows' error is honest enough).
    The candidate's own last factor (the weights') is kept as the ridge's prior for later refits."""
    f = cand.features(x)
    cand.extra["prior"] = cand.last
    held_error = None
    if len(f) < ROWS_PER_UNKNOWN * f.shape[1] and len(f) >= MIN_HOLD_ROWS:
        ridge, held_error = choose_ridge(f, y, cand.last)
        cand.extra.update(ridge=ridge, held_ridge=True)
    return _refit_features(cand, f, y), held_error
