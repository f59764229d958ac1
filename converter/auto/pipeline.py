"""Auto mode's strategy: split data, fit candidates, measure, search, check, and say why.

The result is guaranteed two ways before it is handed back: its outputs meet the budget on the
held-out data, and its whole-model median latency, measured interleaved with the original in
the same run, is lower. Otherwise the original comes back unchanged and the section says why.
Loading, saving, verification and the rest of the report are the job's (``converter.job``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx

from ..analysis import analyse
from ..compare import is_class_labels
from ..data import InputSet, prepare_inputs
from ..errors import OptionError, SepconvError
from ..layers import ConvLayer
from ..methods import Candidate, Emitted
from ..metrics import metric_of
from ..modelio import opset_version
from ..options import ConvertOptions
from ..precision import FLOAT
from ..progress import Phases, Steps
from ..rewrite import stamp
from ..runtime import blas_beside_sessions
from ..timing import median_ms, median_round
from . import activations, fitting, section
from .allocate import Evaluator, LayerPlan, build_model, greedy_path
from .calibration import calibrate
from .context import measure_context
from .latency import LatencyCache, resolved_threads
from .precision_stage import Picked, Start, choose
from .search import Budget, PathModels, measure_sensitivities, refit_gap, search, trade_off_curve
from .split import RANDOM_SAMPLES, head, split

#: Auto mode's phases and their shares of its progress.
AUTO_SHARES = {"fitting candidates": 4, "timing candidates": 3, "timing in the model": 2, "searching": 4,
               "checking": 1, "quantizing": 3}
#: The least share of the original's time a rewrite must save, measured whole, to be handed out:
#: below it the gain is within timing noise and the error it costs buys nothing sure.
MIN_GAIN = 0.03
#: Seconds spent timing the whole models, interleaved (before the search; at the check).
BEFORE_SECONDS, WHOLE_SECONDS = 1.0, 3.0
#: The check's rounds of new sessions, its ratio the median round's (see ``timing.median_round``).
WHOLE_ROUNDS = 3
WEAK_GUARANTEE = ("no data given: the budget was checked on seeded random inputs, which say little about the "
                  "model's real inputs; the guarantee is weaker (pass --data FILE.npz)")


@dataclass
class Verdict:
    """The search's and the whole-model check's answer: why nothing is rewritten (None: accepted),
    the latency measured, the explored curve, the chosen step and its held-out score."""

    reason: str | None
    latency: dict
    curve: list[dict]
    step: int
    held: dict | None


@dataclass
class AutoOutcome:
    """What auto mode hands the job: the converted model (None: the original comes back), the
    report's per-layer rows and ``auto`` section, and the held-out inputs to verify on."""

    model: onnx.ModelProto | None
    rows: list[dict]
    section: dict
    held_out: InputSet
    precision: dict | None = None  # the precision stage's section (None: float was asked for)


@blas_beside_sessions()  # its numpy linear algebra alternates with ONNX Runtime sessions that own the cores
def convert_auto(model: onnx.ModelProto, options: ConvertOptions, arrays: dict[str, np.ndarray] | None,
                 timings: dict[str, float], phases: Phases | None = None, *, refit_passes: int = 1,
                 cache_dir: Path | None = None) -> AutoOutcome:
    """Choose a method and rank per layer within the budget, from data and measured latency.
    ``phases`` hears progress in the phases of AUTO_SHARES."""
    phases = phases or Phases(None, AUTO_SHARES)
    t = time.perf_counter()
    threads = options.threads
    everything = prepare_inputs(model, options.input_shapes, arrays, options.seed,
                                samples=None if arrays is not None else RANDOM_SAMPLES).draw(options.max_samples,
                                                                                               options.seed)
    batch = everything.batch if everything.fixed else 1  # timing: the model's fixed batch, else one sample
    parts = split(everything, options.seed, batch)
    mg, layers = analyse(model, options.input_shapes)
    if not layers:
        raise SepconvError("the model has no Conv node to convert", kind="no_conv")
    _check_labels(options, everything.labels)
    budget = Budget(options.max_error, options.max_accuracy_drop, options.max_metric_drop)
    metric = metric_of(options.metric)
    auto = _header(options, everything, parts.section(options.seed), threads, batch, refit_passes)
    t = _lap(timings, "load_s", t)

    eligible, reasons = fitting.eligible_layers(layers, options.skip_reason)
    positions = activations.layer_positions(((i, layers[i]) for i in eligible), parts.fit.samples, options.seed)
    plans = fitting.fit_plans(model, layers, eligible, parts.fit, positions, threads,
                              partial(phases.step, "fitting candidates"))
    t = _lap(timings, "candidates_s", t)

    cache = LatencyCache(threads, cache_dir)
    fitting.time_plans(plans, mg, batch, threads, cache, opset_version(model) or 17,
                       partial(phases.step, "timing candidates"))
    auto["latency_cache"] = {"path": str(cache.path), "hits": cache.hits, "misses": cache.misses}
    orig_bytes = model.SerializeToString()
    feed = {k: v[:batch] for k, v in parts.held.arrays.items()}
    before = median_ms([orig_bytes], feed, threads, BEFORE_SECONDS, min_runs=5, max_runs=50)[0]
    t = _lap(timings, "latency_s", t)

    measure_context(model, layers, plans, orig_bytes, feed, threads, partial(phases.step, "timing in the model"))
    t = _lap(timings, "context_s", t)

    phases.step("searching", 0, stage="searching: measuring each layer's sensitivity")
    measure_sensitivities(model, layers, plans, Evaluator(orig_bytes, head(parts.fit, 8, batch), threads))
    path = greedy_path(plans)
    curve = trade_off_curve(path, before)
    models = PathModels(model, layers, plans, path, positions, parts.fit, threads, refit_passes)
    gap = refit_gap(model, orig_bytes, layers, plans, path, parts.fit, threads, refit_passes, options.seed)
    found = search(models, curve, Evaluator(orig_bytes, parts.fit, threads, metric),
                   Evaluator(orig_bytes, parts.held, threads, metric), budget, partial(phases.step, "searching"), gap,
                   curve_of=partial(trade_off_curve, whole_before_ms=before))
    curve = found.curve
    auto["backoff"] = found.tries
    auto["dropped_steps"] = found.dropped
    auto["fit_target"] = {"margin": found.fit_margin, "estimated_gap": found.gap, "looked_on": found.looked_on}
    t = _lap(timings, "allocate_s", t)

    choice, converted = models.at(found.step) if found.step else ({}, model)
    latency = {"before_ms": before, "after_ms": None, "ratio": None, "speedup": None, "interleaved": True}
    reason = _no_rewrite_reason(eligible, path, found.step, budget)
    phases.step("checking", 0, stage=f"checking: step {found.step}, timed in the whole model" if reason is None
                else "checking")
    if reason is None:
        auto["calibration"] = calibrate(models, curve, found.step, orig_bytes, feed, threads)
        phases.step("checking", 0.5, stage=f"checking: step {found.step} against the original, interleaved")
        latency.update(_whole_latency(orig_bytes, converted.SerializeToString(), feed=feed, threads=threads))
        before, after = latency["before_ms"], latency["after_ms"]
        if not after < before * (1.0 - MIN_GAIN):
            reason = (f"the converted model was not measurably faster end to end ({after:.3f} ms against "
                      f"{before:.3f} ms; a rewrite must save at least {MIN_GAIN:.0%}, more than timing noise)")
    t = _lap(timings, "check_s", t)
    verdict, picked = Verdict(reason, latency, curve, found.step, found.held_score), None
    if options.precision != FLOAT:
        phases.step("quantizing", 0)
        picked = _precision(model, models, found.step, orig_bytes, parts, budget, options, metric, feed,
                            latency["ratio"] if reason is None else None, partial(phases.step, "quantizing"))
        verdict, choice = _precision_verdict(verdict, choice, picked)
        _lap(timings, "precision_s", t)
    return _outcome(model, options, layers, plans, reasons, choice if verdict.reason is None else {}, auto,
                    verdict, parts.held, picked)


def _precision(model: onnx.ModelProto, models: PathModels, step: int, orig_bytes: bytes, parts, budget: Budget,
               options: ConvertOptions, metric, feed: dict, float_ratio: float | None, steps: Steps) -> Picked:
    """int8 built on the chosen float model, on one half way along the path, and on the original."""
    starts = [Start(k, *models.at(k)) if k else Start(0, {}, model) for k in sorted({step, step // 2, 0}, reverse=True)]
    return choose(starts, orig_bytes, parts.fit, parts.held, budget, options, metric, feed,
                  partial(_whole_latency, orig_bytes, feed=feed, threads=options.threads), float_ratio, MIN_GAIN,
                  steps)


def _precision_verdict(verdict: Verdict, choice: dict, picked: Picked) -> tuple[Verdict, dict]:
    """The verdict and choice of the int8 model the precision stage picked (as they were where none)."""
    if picked.quantized is None or picked.start is None:
        return verdict, choice
    return Verdict(None, picked.latency or {}, verdict.curve, picked.start.step, picked.quantized.held), \
        picked.start.choice


def _whole_latency(original: bytes, converted: bytes, *, feed: dict, threads: int | None) -> dict:
    """The check's timing: WHOLE_ROUNDS rounds of new sessions, interleaved; the median round's
    milliseconds and ratio, and every round's ratio."""
    before, after, ratios = median_round([original, converted], feed, threads, WHOLE_SECONDS, WHOLE_ROUNDS,
                                         min_runs=10, max_runs=300)
    return {"before_ms": before, "after_ms": after, "ratio": after / before, "speedup": before / after,
            "round_ratios": ratios}


def _outcome(model: onnx.ModelProto, options: ConvertOptions, layers: list[ConvLayer], plans: list[LayerPlan],
             reasons: dict[int, str], choice: dict[int, Candidate], auto: dict, result: Verdict,
             held: InputSet, picked: Picked | None = None) -> AutoOutcome:
    """The final model (rebuilt from the choice, or the int8 one picked; stamped) and the report's
    rows and section."""
    accepted = result.reason is None
    emitted: dict[int, Emitted] = {}
    final = None
    if accepted:
        final = build_model(model, layers, choice, emitted)
        if picked is not None and picked.quantized is not None:
            final = picked.quantized.model
        stamp(final, options)
    auto.update(accepted=accepted, reason=result.reason, latency=result.latency, curve=result.curve)
    auto["chosen"] = section.chosen_point(result.step if accepted else 0, choice, result.curve,
                                          result.held, result.latency, auto.get("calibration"))
    auto["layers"] = section.layer_decisions(plans, choice)
    if options.plot:
        from .plot import plot_curve
        auto["plot"] = plot_curve(result.curve, auto["chosen"], options.max_error, options.plot)
    rows = section.layer_rows(layers, reasons, plans, choice, emitted, accepted)
    if picked is not None:
        auto["precision"] = picked.section
    return AutoOutcome(final, rows, auto, held, picked.section if picked is not None else None)


def _check_labels(options: ConvertOptions, labels: np.ndarray | None) -> None:
    """An accuracy budget needs class labels: without them it would pass whatever the model does."""
    if options.max_accuracy_drop is None:
        return
    if labels is None:
        raise OptionError("max_accuracy_drop", "needs data with 'labels' (one class index per sample): the data "
                          "has none", options.max_accuracy_drop)
    if not is_class_labels(labels):
        raise SepconvError("--max-accuracy-drop needs 'labels' of one class index per sample; use --metric with "
                           "your own labels")


def _header(options: ConvertOptions, everything: InputSet, split_section: dict, threads: int | None, batch: int,
            refit_passes: int) -> dict:
    """The section's opening: the budget, where the inputs came from and how they were split."""
    return {
        "budget": {"max_error": options.max_error, "max_accuracy_drop": options.max_accuracy_drop,
                   "accuracy_checked": options.max_accuracy_drop is not None and is_class_labels(everything.labels),
                   "metric": options.metric, "max_metric_drop": options.max_metric_drop},
        "inputs": everything.source, "guarantee_note": None if everything.source == "data" else WEAK_GUARANTEE,
        "split": split_section, "threads": resolved_threads(threads), "timing_batch": batch,
        "refit_passes": refit_passes,
    }


def _no_rewrite_reason(eligible: list[int], path: list, step: int, budget: Budget) -> str | None:
    if not eligible:
        return "no Conv layer is eligible for auto mode"
    if not path:
        return "no candidate saves measurable time in any layer: the original is faster as it is"
    if step == 0:
        return f"no rewrite meets the budget ({budget.describe()}) on the held-out data"
    return None


def _lap(timings: dict[str, float], key: str, since: float) -> float:
    now = time.perf_counter()
    timings[key] = now - since
    return now
