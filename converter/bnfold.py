"""Folding an inference-mode BatchNormalization into the Conv before it.

``y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta`` is a Conv with its output
channels scaled and a new bias, so the factorization sees the weights that really act.
Computed in float64 and cast back to the weight's dtype.
"""

from __future__ import annotations

import numpy as np


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray | None, scale: np.ndarray, shift: np.ndarray,
                   mean: np.ndarray, var: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (weight, bias) of the Conv that computes Conv followed by BatchNormalization."""
    dtype = weight.dtype
    factor = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    w = weight.astype(np.float64) * factor.reshape((-1,) + (1,) * (weight.ndim - 1))
    b0 = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
    b = (b0 - mean.astype(np.float64)) * factor + shift.astype(np.float64)
    bias_dtype = dtype if bias is None else bias.dtype
    return w.astype(dtype), b.astype(bias_dtype)
