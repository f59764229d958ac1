"""Auto mode's per-layer candidates: fit on each layer's real inputs, then timed.

For every eligible layer: the patches it reads at seeded output positions (one run of the
original model), its outputs there, every method's candidates scored on them with their last
factor refit by least squares, and the Pareto front in multiplications against error timed in
ONNX Runtime (cached).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from ..data import InputSet
from ..graph import ModelGraph
from ..layers import ConvLayer
from ..methods import Candidate
from . import activations, candidates
from .allocate import LayerPlan
from .epilogue import find_epilogue
from .latency import LatencyCache, measure_layer
from .refit import refit

#: Candidates measured per layer (the Pareto front in multiplications against error, thinned).
MEASURED_PER_LAYER = 8
#: Candidates whose own layer error exceeds this are not considered.
MAX_LAYER_ERROR = 1.0


def ignore_steps(done: int, total: int) -> None:
    """The step callback when nobody listens."""


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
              layer_done: Callable[[int, int], None] = ignore_steps) -> list[LayerPlan]:
    """Each eligible layer's patches, outputs and refit candidates (``layer_done(done, total)`` after each)."""
    chosen = [layers[i] for i in eligible]
    patches = activations.collect_patches(model, fit, chosen, positions, threads) if chosen else {}
    plans = []
    for i in eligible:
        layer = layers[i]
        x = patches.pop(layer.name)
        y = candidates.outputs(layer, x)
        scale = float(np.linalg.norm(y - y.mean(0))) or 1.0
        plan = LayerPlan(i, layer, x, y, scale)
        for c in candidates.build(layer, y):
            c.extra["error_weights_only"] = candidates.layer_error(c, x, y, scale)
            c = refit(c, x, y)
            c.error = candidates.layer_error(c, x, y, scale)
            plan.cands.append(c)
        plans.append(plan)
        layer_done(len(plans), len(eligible))
    return plans


def time_plans(plans: list[LayerPlan], mg: ModelGraph, batch: int, threads: int | None, cache: LatencyCache,
               opset: int, layer_done: Callable[[int, int], None] = ignore_steps) -> None:
    """Time each layer's Pareto front against the layer itself, each with the layer's activation
    (fills ``ms``, ``orig_ms``)."""
    for done, plan in enumerate(plans, start=1):
        front = pareto([c for c in plan.cands if c.error <= MAX_LAYER_ERROR])
        if front:
            plan.orig_ms = measure_layer(plan.layer, front, batch, threads, cache, opset,
                                         find_epilogue(mg, plan.layer))
        layer_done(done, len(plans))
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
