"""Auto mode's search along the greedy path: the longest prefix that meets the budget.

Each layer's sensitivity (its effect on the model's outputs per unit of its own error) is
measured once; the greedy path orders every layer's upgrades by error added per millisecond
saved; a binary search finds the longest prefix whose converted and refit model meets the
budget on the fitting data (with a margin that cross-validation on the fitting data sets: the
refit's gap between the data it was fit on and data it was not); the held-out check then backs off
by bisection until it passes. Where it passes at once (or nothing met the margin), the rest of
the budget is looked for up to the longest prefix that meets the whole budget on the fitting data,
each point held to LOOK_ON_MARGIN of the budget on the held-out data (the estimated gap can be
pessimistic: on DNSMOS it held the fitting data to half the budget and the held-out data came in
at a quarter of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from ..data import InputSet
from ..layers import ConvLayer
from ..methods import Candidate
from ..progress import Steps
from . import activations
from .allocate import Evaluator, LayerPlan, Step, build_model, choice_at, largest_passing
from .candidates import outputs
from .refit import refit

#: The search on the fitting data aims this far inside the budget, to leave room for held-out noise.
FIT_MARGIN = 0.8
#: With an estimated gap g (held-out error over fit error), the fitting data is held to
#: GAP_SAFETY / g of the budget, within [MIN_MARGIN, MAX_MARGIN].
GAP_SAFETY, MIN_MARGIN, MAX_MARGIN = 0.95, 0.5, 0.95
#: A step that alone takes the fitting data JUMP times past the budget, raising the output error
#: SURPRISE times more than estimated, is dropped with the rest of its layer's steps (at most
#: MAX_DROPS layers), instead of ending the search there.
JUMP, SURPRISE, MAX_DROPS = 2.0, 10.0, 3
#: Past the margin's point, a step is taken only if the held-out data meets this share of the
#: budget there (the held-out data chooses the point then, so it keeps some room for unseen data).
LOOK_ON_MARGIN = 0.95


@dataclass
class Budget:
    """What the user allows: output error, accuracy drop (points), metric drop (None: unbounded)."""

    max_error: float | None
    max_accuracy_drop: float | None
    max_metric_drop: float | None = None

    def met(self, score: dict, margin: float = 1.0) -> bool:
        """Within the budget, each bound scaled by ``margin``; never with new non-finite values."""
        if score["nonfinite"]:
            return False
        if self.max_error is not None and not score["max_error"] <= self.max_error * margin:
            return False
        if self.max_accuracy_drop is not None and score["accuracy_drop"] is not None and \
                not score["accuracy_drop"] <= self.max_accuracy_drop * margin + 1e-9:
            return False
        metric = score.get("metric")
        return self.max_metric_drop is None or metric is None or \
            metric["drop"] <= self.max_metric_drop * margin + 1e-12

    def usage(self, score: dict) -> float:
        """The share of the budget a score uses: its worst bound's value over the bound (inf with new
        non-finite values); ranks scores that all meet, or all break, the budget."""
        if score["nonfinite"]:
            return float("inf")
        shares = [score["max_error"] / self.max_error] if self.max_error is not None else []
        if self.max_accuracy_drop is not None and score["accuracy_drop"] is not None:
            shares.append(max(score["accuracy_drop"], 0.0) / max(self.max_accuracy_drop, 1e-9))
        if self.max_metric_drop is not None and score.get("metric") is not None:
            shares.append(max(score["metric"]["drop"], 0.0) / max(self.max_metric_drop, 1e-12))
        return max(shares, default=score["max_error"])

    def describe(self) -> str:
        parts = ([f"max error {self.max_error:g}"] if self.max_error is not None else []) + (
            [f"max accuracy drop {self.max_accuracy_drop:g} points"] if self.max_accuracy_drop is not None else []) + (
            [f"max metric drop {self.max_metric_drop:g}"] if self.max_metric_drop is not None else [])
        return ", ".join(parts)


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


def trade_off_curve(path: list[Step], whole_before_ms: float) -> list[dict]:
    """The predicted latency ratio and estimated error after each step of the path."""
    # the steps' savings are in the whole model's milliseconds (scaled by each layer's context factor)
    denom = whole_before_ms
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
                 refit_passes: int, targets: dict[int, np.ndarray] | None = None) -> None:
        """``targets``: each layer's original outputs at its positions (default: the plans' own)."""
        self.model, self.layers, self.path, self.positions = model, layers, path, positions
        self.fit, self.threads, self.refit_passes = fit, threads, refit_passes
        self.targets = targets if targets is not None else {p.index: p.y for p in plans}
        self._last: tuple[int, dict[int, Candidate], onnx.ModelProto] | None = None

    def retrace(self, path: list[Step]) -> None:
        """Follow another path from now on (its built models are not this one's)."""
        self.path, self._last = path, None

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
    tries: list[dict]  # the held-out checks, in order
    fit_margin: float  # the share of the budget the fitting data was held to
    gap: float | None  # the estimated held-out over fit error ratio, where estimated
    curve: list[dict]  # the explored trade-off along the final path
    dropped: list[dict]  # steps whose layer left the path: each broke the budget alone
    looked_on: bool = False  # the search looked past the margin's point, up to the whole budget on fit data


class Search:
    """The budget's search along the path; fit scores are kept per step, so a second pass at another
    margin costs only the steps it has not scored."""

    def __init__(self, models: PathModels, curve: list[dict], fit_eval: Evaluator, held_eval: Evaluator,
                 budget: Budget, evaluated: Steps | None = None,
                 curve_of: Callable[[list[Step]], list[dict]] | None = None) -> None:
        """``curve_of(path)``: the trade-off curve of another path (None: no step is ever dropped)."""
        self.models, self.curve, self.fit_eval, self.held_eval, self.budget = models, curve, fit_eval, held_eval, budget
        self.evaluated, self.curve_of = evaluated, curve_of
        self.dropped: list[dict] = []
        self.expected, self.done = 3 * max(1, len(curve)).bit_length() + 4, 0
        self.fit_scores: dict[int, dict] = {}

    def _tick(self, stage: str) -> None:
        """One more model scored (about ``expected`` in all); ``stage`` says which."""
        if self.evaluated is not None:
            self.evaluated(min(self.done, self.expected - 1), self.expected, stage)
        self.done += 1

    def fit_score(self, k: int) -> dict:
        if k not in self.fit_scores:
            self._tick(f"searching: scoring step {k} of {len(self.curve)} on the fitting data")
            score = self.fit_eval.score(self.models.at(k)[1])
            self.curve[k - 1]["fit_error"] = score["max_error"]
            self.curve[k - 1]["fit_accuracy_drop"] = score["accuracy_drop"]
            self.fit_scores[k] = score
        return self.fit_scores[k]

    def longest_on_fit(self, margin: float, start: int = 0) -> int:
        """The longest prefix within ``margin`` x the budget on the fitting data (binary search),
        given that the first ``start`` steps are."""
        return start + largest_passing(len(self.curve) - start,
                                       lambda d: self.budget.met(self.fit_score(start + d), margin))

    def drop_jumps(self, k: int, margin: float) -> int:
        """Past the longest passing prefix k: if step k+1 alone breaks the budget JUMP times over and
        far beyond its estimate, the budget has not run out; that layer's linear sensitivity failed
        (a large layer error the model does not absorb, where small ones vanished). Its layer leaves
        the rest of the path and the search goes on from k, at most MAX_DROPS times."""
        while self.curve_of is not None and len(self.dropped) < MAX_DROPS and k < len(self.models.path):
            after = self.fit_score(k + 1)
            if self.budget.met(after, JUMP) or not self._surprise(k, after):
                break
            bad = self.models.path[k]
            self.dropped.append({"step": k + 1, "layer": bad.plan.layer.name, "candidate": bad.cand.variant,
                                 "fit_error": after["max_error"]})
            path = self.models.path[:k] + [st for st in self.models.path[k:] if st.plan is not bad.plan]
            self.models.retrace(path)
            kept = self.curve[:k]
            self.curve = self.curve_of(path)
            self.curve[:k] = kept
            self.fit_scores = {j: sc for j, sc in self.fit_scores.items() if j <= k}
            k = self.longest_on_fit(margin, k)
        return k

    def _surprise(self, k: int, after: dict) -> bool:
        """Step k+1 raised the output error SURPRISE times more than the path's estimate said it would."""
        rose = after["max_error"] - (self.fit_score(k)["max_error"] if k else 0.0)
        estimated = self.curve[k]["estimated_error"] - (self.curve[k - 1]["estimated_error"] if k else 0.0)
        return rose > SURPRISE * max(estimated, 1e-12)

    def held_out(self, k: int, tries: list[dict], lo: int = 0, best: dict | None = None,
                 margin: float = 1.0) -> tuple[int, dict | None]:
        """Step k if the held-out data meets ``margin`` x the budget there; else the longest passing
        step below it, found by bisection between the last passing (``lo``, scored ``best``; 0: none)
        and the first failing point."""
        hi = None
        while True:
            self._tick(f"searching: checking step {k} of {len(self.curve)} on held-out data")
            held = self.held_eval.score(self.models.at(k)[1])
            tries.append({"step": k, "held_out_error": held["max_error"], "accuracy_drop": held["accuracy_drop"],
                          "metric": held["metric"]})
            if self.budget.met(held, margin):
                lo, best = k, held
            else:
                hi = k
            if hi is None or hi - lo <= 1:
                return lo, best
            k = (lo + hi) // 2

    def run(self, gap: Callable[[int], float] | None = None) -> SearchResult:
        """Search at FIT_MARGIN; where ``gap(k)`` estimates the held-out over fit error ratio at the
        found step, search again aiming at the budget less that gap; then check on held-out data."""
        k, margin, ratio = self.longest_on_fit(FIT_MARGIN), FIT_MARGIN, None
        if k and gap is not None:
            ratio = gap(k)
            margin = float(np.clip(GAP_SAFETY / ratio, MIN_MARGIN, MAX_MARGIN))
            k = self.longest_on_fit(margin)
        k = self.drop_jumps(k, margin)
        tries: list[dict] = []
        step, held = self.held_out(k, tries) if k else (0, None)
        looked_on = False
        if step == k and margin < 1.0:
            # the held-out data met the budget where the fitting data was held to the margin (or
            # nothing met the margin): the rest of the budget may be there; look as far as the fitting
            # data meets all of it, each point held to LOOK_ON_MARGIN of the budget on held-out data
            whole = self.longest_on_fit(1.0, step)
            if whole > step:
                looked_on = True
                step, held = self.held_out(whole, tries, step, held, LOOK_ON_MARGIN)
        return SearchResult(step, held, tries, margin, ratio, self.curve, self.dropped, looked_on)


def search(models: PathModels, curve: list[dict], fit_eval: Evaluator, held_eval: Evaluator, budget: Budget,
           evaluated: Steps | None = None,
           gap: Callable[[int], float] | None = None,
           curve_of: Callable[[list[Step]], list[dict]] | None = None) -> SearchResult:
    """The longest prefix meeting the budget on the fitting data, aimed by the estimated gap, past
    single steps that break it alone, backed off by bisection until the held-out data meets it too.
    Fills the curve's fit errors; the result holds the final path's curve."""
    return Search(models, curve, fit_eval, held_eval, budget, evaluated, curve_of).run(gap)


def refit_gap(model: onnx.ModelProto, original: bytes, layers: list[ConvLayer], plans: list[LayerPlan],
              path: list[Step], fit: InputSet, threads: int | None, refit_passes: int,
              seed: int) -> Callable[[int], float]:
    """``gap(k)``: two-fold cross-validation on the fitting data at step k. Each half refits the
    path's layers and is scored on the other half; the gap is the mean ratio of the out-of-fold
    to the in-fold error (1 to 4). Too few samples to split: the fixed FIT_MARGIN's gap."""
    def gap(k: int) -> float:
        unit = fit.batch if fit.fixed else 1
        halves = fit.samples // unit // 2
        if halves < 2:
            return GAP_SAFETY / FIT_MARGIN
        perm = np.random.default_rng(seed).permutation(fit.samples)
        a, b = perm[:halves * unit], perm[halves * unit:2 * halves * unit]
        ratios = []
        for ins, outs in ((a, b), (b, a)):
            fold_in, fold_out = fit.take(ins), fit.take(outs)
            positions = activations.layer_positions(((p.index, p.layer) for p in plans), fold_in.samples, seed)
            seen = activations.collect_patches(model, fold_in, [p.layer for p in plans], positions, threads)
            targets = {p.index: outputs(p.layer, seen.pop(p.layer.name)) for p in plans}
            m = PathModels(model, layers, plans, path, positions, fold_in, threads, refit_passes, targets).at(k)[1]
            e_in = Evaluator(original, fold_in, threads).score(m)["max_error"]
            e_out = Evaluator(original, fold_out, threads).score(m)["max_error"]
            ratios.append(e_out / max(e_in, 1e-12))
        return float(np.clip(np.mean(ratios), 1.0, 4.0))
    return gap
