"""Precision joins the search: which layers run in int8, within the same budget, checked on held-out data.

The way accuracy-aware quantizers work (Intel Neural Compressor's fallback, NNCF's accuracy
control), on top of a float model the factorization search chose: every compute node goes int8
(ONNX Runtime's quantizer, ``converter.precision``), with the calibration method the held-out data
scores best; each node's sensitivity is measured alone (the model with only that node in int8,
on a few fitting samples); the most sensitive nodes fall back to float until the fitting data
meets FIT_MARGIN of the budget (a bisection over how many), and the held-out check backs off
further (more nodes float) until it passes. Latency is not estimated but measured, whole model
against the original, by the caller (``pipeline``), which also decides which float models to
start from. ``every_layer`` is the fixed methods' ``--precision int8``: no budget, every node int8.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import onnx

from ..data import InputSet
from ..errors import SepconvError
from ..precision import REGISTRY
from ..precision.base import PreparedPrecision
from .allocate import Evaluator, largest_passing
from .search import FIT_MARGIN, Budget

#: Fitting samples the calibration sees (ONNX Runtime's docs: a few dozen are enough for ranges).
CALIB_SAMPLES = 32
#: Fitting samples each node's sensitivity is measured on: the fewest, from the first to the
#: second, whose outputs hold SENSITIVITY_VALUES values. Quantization error is systematic, so the
#: ranking barely moves with more samples where the outputs are large (a 416x416 detector's node
#: ranking from 2 samples against 8: Spearman 0.999); a classifier's few logits need more
#: (MobileNetV3's 4 classes: 0.86 from 2 samples, 0.96 from 4).
SENSITIVITY_SAMPLES = (2, 8)
SENSITIVITY_VALUES = 4096
INT8 = "int8"


@dataclass
class Quantized:
    """A model with its compute nodes in int8 but ``float_nodes``, and how it was chosen."""

    model: onnx.ModelProto
    int8_nodes: list[str]
    float_nodes: dict[str, str]  # node -> why it stayed float
    calibration: str
    held: dict | None  # the held-out score, where judged
    tried: dict[str, dict] = field(default_factory=dict)  # calibration method -> held-out score
    notes: list[str] = field(default_factory=list)
    sensitivity: dict[str, float] = field(default_factory=dict)  # node -> output error with it alone in int8
    calib_samples: int | None = None

    @cached_property
    def float_between_int8(self) -> dict[str, int]:
        """The ops its int8 layers hand back to float (an ORT session to find out: once per model)."""
        return REGISTRY[INT8].float_islands(self.model)

    def section(self) -> dict:
        return {"calibration": {"method": self.calibration, "tried": self.tried, "samples": self.calib_samples},
                "int8_nodes": self.int8_nodes,
                "float_nodes": [{"node": n, "reason": r, "sensitivity": self.sensitivity.get(n)}
                                for n, r in self.float_nodes.items()],
                "float_between_int8": self.float_between_int8,
                "notes": self.notes, "held_out": _brief(self.held)}


def _brief(score: dict | None) -> dict | None:
    if score is None:
        return None
    metric = score.get("metric")
    return {"max_error": score["max_error"], "accuracy_drop": score["accuracy_drop"],
            "metric_drop": metric["drop"] if metric else None, "nonfinite": score["nonfinite"]}


def calibration_set(fit: InputSet) -> InputSet:
    return fit if fit.whole else fit.head(min(fit.samples, max(CALIB_SAMPLES, fit.batch if fit.fixed else 1)))


def every_layer(model: onnx.ModelProto, original: bytes, fit: InputSet, held: InputSet,
                threads: int | None) -> Quantized:
    """Every node ONNX Runtime can run in int8, with the calibration method whose held-out output
    error is lowest (``--precision int8`` after a fixed method)."""
    with tempfile.TemporaryDirectory(prefix="sepconv-int8-") as work:
        prep = REGISTRY[INT8].prepare(model, calibration_set(fit), work)
        judge = Evaluator(original, held, threads)
        calibration, q, score, tried = _best_calibration(prep, judge, lambda s: s["max_error"])
        return Quantized(q, sorted(prep.prepared.nodes), {}, calibration, score, tried, prep.prepared.notes,
                         calib_samples=prep.calib.samples)


def within_budget(model: onnx.ModelProto, original: bytes, fit: InputSet, held: InputSet, budget: Budget,
                  threads: int | None, metric=None, fallback: bool = True,
                  calibrations: tuple[str, ...] | None = None, known: dict[str, float] | None = None,
                  worth: Callable[[onnx.ModelProto], bool] | None = None) -> Quantized | None:
    """int8 for as many compute nodes as the budget allows (all or none where not ``fallback``),
    on the fitting data within FIT_MARGIN and then on the held-out data; None where not even one
    node can be int8 within it. ``calibrations``: the methods tried (default: all). ``known``: nodes'
    sensitivities measured on another start (of the same model), reused as the ranking for nodes of
    the same name, and added to: the bisection and the held-out check still judge the models it builds.
    ``worth``: asked of the model with every node in int8, where that misses the budget, whether
    keeping nodes float is worth searching (the caller's measured latency: nodes kept float only add
    float work and quantize / dequantize pairs, so where every node in int8 is not fast enough, no
    fallback is); None where it says no. Raises SepconvError where the quantizer cannot take the model."""
    with tempfile.TemporaryDirectory(prefix="sepconv-int8-") as work:
        prep = REGISTRY[INT8].prepare(model, calibration_set(fit), work)
        fit_judge, held_judge = Evaluator(original, fit, threads, metric), Evaluator(original, held, threads, metric)
        calibration, q, held, tried = _best_calibration(prep, held_judge, budget.usage, calibrations)
        nodes = sorted(prep.prepared.nodes)
        on_fit = fit_judge.score(q)  # every node in int8: the fit bisection's k = 0 too
        if budget.met(held) and budget.met(on_fit, FIT_MARGIN):
            return Quantized(q, nodes, {}, calibration, held, tried, prep.prepared.notes,
                             calib_samples=prep.calib.samples)
        if not fallback or (worth is not None and not worth(q)):
            return None
        known = {} if known is None else known
        probe = Evaluator(original, probe_set(fit, fit_judge), threads)
        known.update(_sensitivities(prep, calibration, [n for n in nodes if n not in known], nodes, probe))
        sens = {n: known[n] for n in nodes}
        order = sorted(nodes, key=lambda n: -sens[n])  # most sensitive first: the first k stay float
        k = _fewest_float(len(order), lambda k: budget.met(
            fit_judge.score(prep.apply(calibration, order[:k])) if k else on_fit, FIT_MARGIN))
        if k is None:
            return None
        passing: dict[int, tuple[dict, onnx.ModelProto]] = {}  # the fewest-float passing model so far, kept

        def held_passes(k: int) -> bool:
            m = prep.apply(calibration, order[:k])
            score = held_judge.score(m)
            if budget.met(score) and all(k < other for other in passing):
                passing.clear()
                passing[k] = (score, m)
            return budget.met(score)

        k = _fewest_float(len(order) - k, lambda j: held_passes(k + j), first=k)
        if k is None or k >= len(order):
            return None
        why = {n: f"kept float: alone in int8 it gave the outputs {sens[n]:.3g} relative error, the "
                  f"{rank}{_nth(rank)} most sensitive of {len(order)}; int8 there broke the budget"
               for rank, n in enumerate(order[:k], start=1)}
        score, chosen = passing[k]
        return Quantized(chosen, sorted(order[k:]), why, calibration, score, tried, prep.prepared.notes, sens,
                         prep.calib.samples)


def probe_set(fit: InputSet, judge: Evaluator) -> InputSet:
    """The head of the fitting data that node sensitivities are measured on (see SENSITIVITY_SAMPLES),
    in whole batches where the model fixes the batch size; ``judge`` scores on ``fit`` (its
    reference outputs give the values per sample)."""
    if fit.whole:
        return fit
    _, refs = judge.reference()
    first = next(fit.batches())
    per_sample = sum(int(np.asarray(o).size) for o in refs[0]) / len(next(iter(first.values())))
    low, high = SENSITIVITY_SAMPLES
    n = min(high, max(low, math.ceil(SENSITIVITY_VALUES / max(per_sample, 1.0))))
    if fit.fixed:
        n = math.ceil(n / fit.batch) * fit.batch
    return fit.head(min(n, fit.samples))


def _best_calibration(prep: PreparedPrecision, judge: Evaluator, usage, methods: tuple[str, ...] | None = None
                      ) -> tuple[str, onnx.ModelProto, dict, dict[str, dict]]:
    """Each calibration method (``methods``, default all), every node int8: the one whose held-out
    score uses least (``usage``)."""
    best: tuple[str, onnx.ModelProto, dict] | None = None
    tried: dict[str, dict] = {}
    for c in methods or prep.calibrations:
        q = prep.apply(c)
        score = judge.score(q)
        tried[c] = _brief(score)
        if best is None or usage(score) < usage(best[2]):
            best = (c, q, score)
    if best is None:
        raise SepconvError("int8: no calibration method ran", kind="quantize")
    return best[0], best[1], best[2], tried


def _sensitivities(prep: PreparedPrecision, calibration: str, measure: list[str], nodes: list[str],
                   probe: Evaluator) -> dict[str, float]:
    """Each node of ``measure``'s output error with only it (of ``nodes``) in int8."""
    return {n: probe.score(prep.apply(calibration, [m for m in nodes if m != n]))["max_error"] for n in measure}


def _fewest_float(n: int, passes, first: int = 0) -> int | None:
    """The least k in [0, n] (plus ``first``) with passes(k), assuming more float nodes never hurt;
    None where even n does not pass."""
    if passes(0):
        return first
    if not passes(n):
        return None
    return first + n - largest_passing(n, lambda j: j == 0 or passes(n - j))


def _nth(k: int) -> str:
    return "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
