"""Auto mode's search along the greedy path: the longest prefix that meets the budget.

Each layer's sensitivity (its effect on the model's outputs per unit of its own error) is
measured once; the greedy path orders every layer's upgrades by error added per millisecond
saved; a binary search finds the longest prefix whose converted and refit model meets the
budget on the fitting data (with a margin); the held-out check then backs off until it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from ..data import InputSet
from ..layers import ConvLayer
from ..methods import Candidate
from . import activations
from .allocate import Evaluator, LayerPlan, Step, build_model, choice_at, largest_passing, meets
from .refit import refit

#: The search on the fitting data aims this far inside the budget, to leave room for held-out noise.
FIT_MARGIN = 0.8
#: After a held-out failure, the next prefix tried is this share of the failed one.
BACKOFF = 0.7


@dataclass
class Budget:
    max_error: float | None
    max_accuracy_drop: float | None

    def met(self, score: dict, margin: float = 1.0) -> bool:
        return meets(score, self.max_error, self.max_accuracy_drop, margin)


def measure_sensitivities(model: onnx.ModelProto, layers: list[ConvLayer], plans: list[LayerPlan],
                          probe: Evaluator) -> None:
    """Each layer's model error per unit of layer error, from one run with only its best-value
    candidate rewritten (clipped to [1e-3, 1e3])."""
    for plan in plans:
        opts = plan.options()
        if opts:
            c = min(opts, key=lambda c: (c.error ** 2) / plan.saved_ms(c))
            err = probe.score(build_model(model, layers, {plan.index: c}))["max_error"]
            plan.sensitivity = float(np.clip(err / max(c.error, 1e-9), 1e-3, 1e3))


def trade_off_curve(path: list[Step], plans: list[LayerPlan], whole_before_ms: float) -> list[dict]:
    """The predicted latency ratio and estimated error after each step of the path."""
    # one-layer models time each layer alone, with overheads the whole model shares: where their
    # sum exceeds the whole model's time, predict against that sum (a ratio, never below 0)
    denom = max(whole_before_ms, sum(p.orig_ms or 0.0 for p in plans))
    curve = []
    saved = est = 0.0
    for k, step in enumerate(path, start=1):
        saved += step.saved_ms
        est += step.err_sq
        curve.append({"step": k, "layer": step.plan.layer.name, "candidate": step.cand.variant,
                      "layers_rewritten": len(choice_at(path, k)),
                      "predicted_latency_ratio": max(0.0, (denom - saved) / denom),
                      "estimated_error": float(np.sqrt(max(est, 0.0))), "fit_error": None})
    return curve


class PathModels:
    """The model after the first k steps of the path, refit on the inputs each rewritten layer
    sees in it; the last one built is kept (one model in memory)."""

    def __init__(self, model: onnx.ModelProto, layers: list[ConvLayer], plans: list[LayerPlan], path: list[Step],
                 positions: dict[str, activations.Positions], fit: InputSet, threads: int | None,
                 refit_passes: int) -> None:
        self.model, self.layers, self.path, self.positions = model, layers, path, positions
        self.fit, self.threads, self.refit_passes = fit, threads, refit_passes
        self.targets = {p.index: p.y for p in plans}
        self._last: tuple[int, dict[int, Candidate], onnx.ModelProto] | None = None

    def at(self, k: int) -> tuple[dict[int, Candidate], onnx.ModelProto]:
        if self._last is None or self._last[0] != k:
            choice = choice_at(self.path, k)
            m = build_model(self.model, self.layers, choice)
            for _ in range(self.refit_passes):
                choice = self._refit(m, choice)
                m = build_model(self.model, self.layers, choice)
            self._last = (k, choice, m)
        return self._last[1], self._last[2]

    def _refit(self, converted: onnx.ModelProto, choice: dict[int, Candidate]) -> dict[int, Candidate]:
        """Refit each chosen layer's last factor on the inputs it sees in the converted model."""
        if not choice:
            return choice
        chosen = [self.layers[i] for i in sorted(choice)]
        seen = activations.collect_patches(converted, self.fit, chosen,
                                           {la.name: self.positions[la.name] for la in chosen}, self.threads)
        return {i: refit(c, seen[self.layers[i].name], self.targets[i]) for i, c in choice.items()}


@dataclass
class SearchResult:
    step: int  # 0: no prefix meets the budget
    held_score: dict | None
    tries: list[dict]


def search(models: PathModels, curve: list[dict], fit_eval: Evaluator, held_eval: Evaluator,
           budget: Budget, evaluated: Callable[[int, int], None] | None = None) -> SearchResult:
    """The longest prefix meeting the budget on the fitting data (with FIT_MARGIN), then backed off
    until the held-out data meets it too. Fills the curve's fit errors where they were measured.
    ``evaluated(done, expected)`` hears each model scored (expected: a binary search and two checks)."""
    expected, done = max(1, len(curve)).bit_length() + 3, [0]

    def tick() -> None:
        done[0] += 1
        if evaluated is not None:
            evaluated(min(done[0], expected - 1), expected)

    def passes_fit(k: int) -> bool:
        tick()
        score = fit_eval.score(models.at(k)[1])
        curve[k - 1]["fit_error"] = score["max_error"]
        curve[k - 1]["fit_accuracy_drop"] = score["accuracy_drop"]
        return budget.met(score, FIT_MARGIN)

    k = largest_passing(len(curve), passes_fit)
    tries = []
    while k > 0:
        tick()
        held = held_eval.score(models.at(k)[1])
        tries.append({"step": k, "held_out_error": held["max_error"], "accuracy_drop": held["accuracy_drop"]})
        if budget.met(held):
            return SearchResult(k, held, tries)
        k = int(k * BACKOFF)
    return SearchResult(0, None, tries)
