"""Candidate rewrites of one Conv, from every method in the registry, scored on real patches.

Every pair sepconv emits is linear in the layer's input patch ``x`` (``Cin*kh*kw`` values):
the method's first factor computes features ``f``, the last factor maps them to the outputs,
``y ~ L f + b``. That one form (:class:`~sepconv.converter.methods.Candidate`) lets every kind
be scored on real patches, refit by least squares and emitted the same way; each method
says which ranks it offers, what its features are and how it emits a refit candidate.
"""

from __future__ import annotations

import numpy as np

from ..layers import ConvLayer
from ..methods import REGISTRY, Candidate, Emitted
from ..methods.base import Namer, common_ineligible
from .refit import in_fold


def auto_ineligible(layer: ConvLayer) -> str | None:
    """Why auto mode leaves this layer alone (on top of what rules out every method)."""
    reason = common_ineligible(layer)
    if reason:
        return reason
    if layer.graph_path != "main":
        return "inside a subgraph: auto mode rewrites the main graph only"
    if layer.group != 1:
        return "grouped Conv: auto mode takes group = 1 only"
    if len(layer.kernel) != 2:
        return "auto mode takes 2-D kernels only"
    if layer.spatial_in is None or layer.spatial_out is None:
        return "unknown shape (fix symbolic input dims with --input-shape NAME=1x3x224x224)"
    if layer.stem:
        return f"stem with {layer.cin} input channels: a rewrite wastes most of its saving"
    assert layer.weight is not None
    if layer.weight.dtype != np.float32:
        return f"weight dtype {layer.weight.dtype}: auto mode takes float32 only"
    return None


def build(layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
    """Every method's candidates for this layer, with their weight-only last factors. What they take
    from the data (the whitening, the channel basis) comes from the first ``refit.in_fold`` rows
    (three quarters), never from those a fit may hold out to judge itself, so that judgement is
    honest (the last factor's fit uses all rows unless they are very few for its unknowns)."""
    cut = in_fold(len(x))
    return [c for m in REGISTRY.values() if m.ineligible(layer) is None
            for c in m.candidates(layer, x[:cut], y[:cut])]


def layer_error(cand: Candidate, x: np.ndarray, y: np.ndarray, y_scale: float) -> float:
    """Relative error of the candidate's outputs against the original's (centred norm)."""
    pred = cand.features(x) @ cand.last.T + cand.bias
    return float(np.linalg.norm(pred - y) / y_scale)


def outputs(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """The original layer's outputs (BatchNormalization folded in) for patches x, in float64."""
    assert layer.weight is not None
    y = x.astype(np.float64) @ layer.weight.astype(np.float64).reshape(layer.cout, -1).T
    return y if layer.bias is None else y + layer.bias.astype(np.float64)


#: Patches up to this many values get the pair's weight error exactly (probed column by column);
#: larger ones (CREPE's 1024x64x1: 65536) an estimate from PROBES seeded random patches.
EXACT_WEIGHT_ERROR_UP_TO, PROBES = 16384, 1024
#: Values per block of probe patches (bounds the memory of one features call: 16 MB).
PROBE_VALUES = 2_000_000


def weight_rel_error(cand: Candidate, w: np.ndarray) -> float:
    """Relative Frobenius error of the single Conv weight the pair computes (``L G``), against ``w``.

    Exact by unit patches up to EXACT_WEIGHT_ERROR_UP_TO values per patch; above, ``E[||E z||^2] =
    ||E||_F^2`` for standard normal ``z`` (Hutchinson), from PROBES seeded patches (within a few percent).
    """
    cout = w.shape[0]
    ref = w.reshape(cout, -1)
    k = ref.shape[1]
    zero = cand.features(np.zeros((1, k)))
    exact = k <= EXACT_WEIGHT_ERROR_UP_TO
    rng = np.random.default_rng(0)
    total, step = k if exact else PROBES, max(1, PROBE_VALUES // k)
    sq = 0.0
    for start in range(0, total, step):
        n = min(step, total - start)
        if exact:
            z = np.zeros((n, k))
            z[np.arange(n), start + np.arange(n)] = 1.0
        else:
            z = rng.standard_normal((n, k))
        sq += float(np.sum(((cand.features(z) - zero) @ cand.last.T - z @ ref.T) ** 2))
    sq = sq if exact else sq / PROBES
    return float(np.sqrt(sq) / (np.linalg.norm(ref) or 1.0))


def emit(cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
    """The nodes that compute the candidate in place of the layer (with its current last factor)."""
    return cand.method.emit_candidate(cand, layer, namer)
