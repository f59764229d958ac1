"""Choosing which layers to rewrite, with which candidate: greedy on a trade-off, then a search.

Each layer offers its measured candidates that save time. Per layer they are ordered on
the lower convex hull of (milliseconds, estimated model error squared); all layers' hull
steps, sorted by error added per millisecond saved, give one path from "keep all" to
"fastest". A layer's effect on the model's outputs is its own output error times a
sensitivity measured once per layer (one end-to-end run with only that layer rewritten).
Then a binary search on the path finds the longest prefix whose converted and refit model
meets the budget on the fitting data; the held-out check and the back-off follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from ..compare import Comparison
from ..data import InputSet
from ..graph import ModelGraph
from ..layers import ConvLayer
from ..methods import Candidate
from ..methods.base import Emitted
from ..metrics import Metric
from ..metrics import score as metric_score
from ..runtime import run, session
from .candidates import emit

#: A candidate must save at least this share of its layer's time to be considered.
MIN_SAVING = 0.05


@dataclass
class LayerPlan:
    """One eligible layer: its fitting patches and targets, candidates and measured time."""

    index: int
    layer: ConvLayer
    x: np.ndarray
    y: np.ndarray
    y_scale: float
    cands: list[Candidate] = field(default_factory=list)
    orig_ms: float = 0.0
    sensitivity: float = 1.0
    context: float = 1.0  # the saving in the whole model over the saving alone (see .context)
    context_saved_ms: float | None = None  # what the measured candidate saved in the whole model

    def saved_alone_ms(self, c: Candidate) -> float:
        """Milliseconds the candidate saves timed alone, as a one-layer model."""
        assert c.ms is not None and c.orig_ms
        return self.orig_ms * (1.0 - c.ms / c.orig_ms)

    def saved_ms(self, c: Candidate) -> float:
        """Milliseconds it saves in the whole model: the saving alone, scaled by the context factor."""
        return self.context * self.saved_alone_ms(c)

    def options(self) -> list[Candidate]:
        """The candidates that save time: enough of it alone, and the layer's rewrite saves some in the model."""
        if self.context <= 0:
            return []
        return [c for c in self.cands if c.ms is not None and self.saved_alone_ms(c) > MIN_SAVING * self.orig_ms]


@dataclass
class Step:
    plan: LayerPlan
    cand: Candidate
    slope: float
    saved_ms: float  # added by this step
    err_sq: float  # estimated model error squared added by this step


def hull_steps(plan: LayerPlan) -> list[Step]:
    """The layer's upgrades from 'keep' to its fastest option, each the cheapest in error per ms."""
    opts = plan.options()
    steps: list[Step] = []
    cur_ms, cur_e, cur = 0.0, 0.0, None
    g2 = plan.sensitivity ** 2
    while True:
        best = None
        for c in opts:
            s, e = plan.saved_ms(c), g2 * c.error ** 2
            if s <= cur_ms + 1e-9:
                continue
            slope = (e - cur_e) / (s - cur_ms)
            if best is None or slope < best[0] - 1e-15:
                best = (slope, c, s, e)
        if best is None:
            return steps
        slope, c, s, e = best
        steps.append(Step(plan, c, slope, s - cur_ms, e - cur_e))
        cur_ms, cur_e, cur = s, e, c
        del cur


def greedy_path(plans: list[LayerPlan]) -> list[Step]:
    """All layers' hull steps merged by error added per millisecond saved."""
    steps = [s for p in plans for s in hull_steps(p)]
    order = sorted(range(len(steps)), key=lambda i: (max(steps[i].slope, 0.0), i))
    return [steps[i] for i in order]


def choice_at(path: list[Step], k: int) -> dict[int, Candidate]:
    """The per-layer choice after the first k steps (later steps of a layer replace earlier)."""
    out: dict[int, Candidate] = {}
    for s in path[:k]:
        out[s.plan.index] = s.cand
    return out


def build_model(model: onnx.ModelProto, layers: list[ConvLayer], choice: dict[int, Candidate],
                emitted: dict[int, Emitted] | None = None) -> onnx.ModelProto:
    """A copy of the model with the chosen layers replaced (folded BatchNormalization removed);
    ``emitted`` collects what replaced each layer."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    mg = ModelGraph(m)
    for i in sorted(choice):
        layer = layers[i]
        em = emit(choice[i], layer, mg)
        mg.replace(layer.ref, em.nodes, em.initializers, [layer.batchnorm] if layer.batchnorm else [])
        if emitted is not None:
            emitted[i] = em
    mg.commit()
    return m


class Evaluator:
    """The original model's outputs on a fixed input set, kept, to score converted models fast;
    with a ``metric`` (its spec and function), the user's score of both models too."""

    def __init__(self, model: onnx.ModelProto | bytes, inputs: InputSet, threads: int | None,
                 metric: tuple[str, Metric] | None = None) -> None:
        self.original, self.inputs, self.threads, self.metric = model, inputs, threads, metric
        self._ref: tuple[list[str], list[list]] | None = None
        self._ref_score: float | None = None

    def reference(self) -> tuple[list[str], list[list]]:
        """The original's output names and outputs per batch (run on first use)."""
        if self._ref is None:
            sess = session(self.original, self.threads)
            self._ref = [o.name for o in sess.get_outputs()], [run(sess, feed) for feed in self.inputs.batches()]
        return self._ref

    def score(self, model: onnx.ModelProto | bytes) -> dict:
        """Relative L2 error per output, the worst of them, non-finite values the original did not
        have, accuracy drop (None without labels), and the metric's scores (None without one)."""
        names, refs = self.reference()
        sess = session(model, self.threads)
        cmp = Comparison(names, self.inputs.labels)
        got_all = []
        for feed, ref in zip(self.inputs.batches(), refs):
            got = run(sess, feed)
            cmp.add(ref, got, len(next(iter(feed.values()))))
            if self.metric is not None:
                got_all.append(got)
        errors = [s.rel_l2 if s.rel_l2 is not None else float("inf") for s in cmp.outputs]
        acc = cmp.accuracy()
        drop = acc["drop_points"] if acc else None
        return {"errors": dict(zip(names, errors)), "max_error": max(errors) if errors else 0.0,
                "nonfinite": sum(s.new_nonfinite for s in cmp.outputs), "accuracy_drop": drop,
                "metric": self._metric(names, refs, got_all) if self.metric is not None else None}

    def _metric(self, names: list[str], refs: list[list], got: list[list]) -> dict:
        assert self.metric is not None
        spec, fn = self.metric
        ref = {n: np.concatenate([r[i] for r in refs]) for i, n in enumerate(names)}
        out = {n: np.concatenate([g[i] for g in got]) for i, n in enumerate(names)}
        if self._ref_score is None:
            self._ref_score = metric_score(fn, spec, ref, ref, self.inputs.labels)
        converted = metric_score(fn, spec, out, ref, self.inputs.labels)
        return {"original": self._ref_score, "converted": converted, "drop": self._ref_score - converted}


def largest_passing(n: int, passes: Callable[[int], bool]) -> int:
    """Binary search for the largest k in [0, n] with passes(k), assuming monotone (0 passes)."""
    if n == 0:
        return 0
    if passes(n):
        return n
    lo, hi = 0, n  # passes(lo), not passes(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return lo
