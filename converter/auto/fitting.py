"""Auto mode's per-layer candidates: fit on each layer's real inputs, then timed.

For every eligible layer: the patches it reads at seeded output positions (one run of the
original model), its outputs there, every method's candidates scored on them with their last
factor refit by least squares, and the Pareto front in multiplications against error timed in
ONNX Runtime (cached).
"""

from __future__ import annotations

import numpy as np
import onnx

from ..data import InputSet
from ..graph import ModelGraph
from ..layers import ConvLayer
from ..methods import Candidate
from ..progress import Steps, ignore_steps, sub_step
from . import activations, candidates
from .allocate import LayerPlan
from .epilogue import find_epilogue
from .latency import LatencyCache, measure_layer
from .refit import fit

#: Candidates measured per layer (the Pareto front in multiplications against error, thinned).
MEASURED_PER_LAYER = 8
#: Candidates whose own layer error exceeds this are not considered.
MAX_LAYER_ERROR = 1.0


def eligible_layers(layers: list[ConvLayer], skip) -> tuple[list[int], dict[int, str]]:
    """Indices of the layers auto mode takes, and the reason for each it leaves (``skip``: the
    user's include/exclude, a function of the layer name)."""
    eligible, reasons = [], {}
    for i, layer in enumerate(layers):
        reason = skip(layer.name) or candidates.auto_ineligible(layer)
        if reason:
            reasons[i] = reason
        else:
            eligible.append(i)
    return eligible, reasons


def fit_plans(model: onnx.ModelProto, layers: list[ConvLayer], eligible: list[int], fit: InputSet,
              positions: dict[str, activations.Positions], threads: int | None,
              steps: Steps = ignore_steps) -> list[LayerPlan]:
    """Each eligible layer's patches, outputs and refit candidates (``steps`` hears each layer begin)."""
    chosen = [layers[i] for i in eligible]
    steps(0, len(eligible), "fitting candidates: reading each layer's inputs")
    patches = activations.collect_patches(model, fit, chosen, positions, threads) if chosen else {}
    plans = []
    for i in eligible:
        layer = layers[i]
        steps(len(plans), len(eligible), sub_step("fitting candidates", "layer", len(plans) + 1, len(eligible),
                                                  layer.name))
        x = patches.pop(layer.name)
        y = candidates.outputs(layer, x)
        scale = float(np.linalg.norm(y - y.mean(0))) or 1.0
        plan = LayerPlan(i, layer, x, y, scale)
        plan.cands = best_per_variant(refit_all(candidates.build(layer, x, y), x, y, scale))
        plans.append(plan)
    return plans


def refit_all(cands: list[Candidate], x: np.ndarray, y: np.ndarray, scale: float) -> list[Candidate]:
    """Each candidate with its last factor refit; its error before (weights only) and after (on rows
    held out of the fit where the rows were few for its unknowns)."""
    out = []
    for c in cands:
        c.extra["error_weights_only"] = candidates.layer_error(c, x, y, scale)
        c, held_error = fit(c, x, y)
        own = candidates.layer_error(c, x, y, scale)
        c.error = own if held_error is None else max(own, held_error)  # a fit is as good as on unseen rows
        out.append(c)
    return out


def best_per_variant(cands: list[Candidate]) -> list[Candidate]:
    """Of candidates with the same structure (method and rank: the same time), the one with the
    lowest error; a whitened winner records the plain one's error (``error_plain``)."""
    best: dict[str, Candidate] = {}
    plain: dict[str, float] = {}
    for c in cands:
        if not c.extra.get("whitened"):
            plain[c.variant] = c.error
        if c.variant not in best or c.error < best[c.variant].error:
            best[c.variant] = c
    for v, c in best.items():
        if c.extra.get("whitened") and v in plain:
            c.extra["error_plain"] = plain[v]
    return list(best.values())


def time_plans(plans: list[LayerPlan], mg: ModelGraph, batch: int, threads: int | None, cache: LatencyCache,
               opset: int, steps: Steps = ignore_steps) -> None:
    """Time each layer's Pareto front against the layer itself, each with the layer's activation
    (fills ``ms``, ``orig_ms``; ``steps`` hears each layer begin)."""
    for done, plan in enumerate(plans):
        front = pareto([c for c in plan.cands if c.error <= MAX_LAYER_ERROR])
        steps(done, len(plans), sub_step("timing candidates", "layer", done + 1, len(plans), plan.layer.name)
              + f", {len(front)} candidate{'s' if len(front) != 1 else ''}")
        if front:
            plan.orig_ms = measure_layer(plan.layer, front, batch, threads, cache, opset,
                                         find_epilogue(mg, plan.layer))
    cache.save()



def pareto(cands: list[Candidate]) -> list[Candidate]:
    """Candidates not beaten on both multiplications and error, thinned to MEASURED_PER_LAYER."""
    front, best = [], float("inf")
    for c in sorted(cands, key=lambda c: (c.macs, c.error)):
        if c.error < best - 1e-12:
            front.append(c)
            best = c.error
    if len(front) > MEASURED_PER_LAYER:
        pick = np.unique(np.round(np.linspace(0, len(front) - 1, MEASURED_PER_LAYER)).astype(int))
        front = [front[i] for i in pick]
    return front
