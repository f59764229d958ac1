"""The whole auto-mode job: split data, fit candidates, measure, allocate, check, report.

The result is guaranteed two ways before it is saved: its outputs meet the budget on the
held-out data, and its whole-model median latency, measured interleaved with the original
in the same run, is lower. Otherwise the original is saved unchanged and the report says why.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import onnx

from ..convert import Decision, analyse, stamp
from ..data import InputSet, load_npz, prepare_inputs
from ..errors import SepconvError
from ..layers import ConvLayer
from ..methods.base import Emitted, emitted_params
from ..modelio import check_model, load_model_sized, save_model, write_bytes_atomic
from ..options import ConvertOptions
from ..report import build_report, count_params, layer_row, write_report
from ..shapes import input_shapes
from ..verify import verify
from . import activations, candidates
from .allocate import Evaluator, LayerPlan, build_model, choice_at, greedy_path, largest_passing, meets
from .candidates import CANDIDATE_METHODS
from .latency import LatencyCache, measure_layer, resolved_threads, time_interleaved
from .refit import refit

#: Random samples drawn when no data is given (half fit, half held out).
RANDOM_SAMPLES = 16
FIT_MAX, HELD_MAX = 32, 512
#: The search on the fitting data aims this far inside the budget, to leave room for held-out noise.
FIT_MARGIN = 0.8
#: Candidates measured per layer (the Pareto front in multiplications against error, thinned).
MEASURED_PER_LAYER = 8
#: Candidates whose own layer error exceeds this are not considered.
MAX_LAYER_ERROR = 1.0
#: Seconds spent timing the whole models, interleaved.
WHOLE_SECONDS = 3.0
BACKOFF = 0.7
WEAK_GUARANTEE = ("no data given: the budget was checked on seeded random inputs, which say little about the "
                  "model's real inputs; the guarantee is weaker (pass --data FILE.npz)")


def convert_auto_file(source: str | Path, output: str | Path, options: ConvertOptions,
                      data: str | Path | None = None, report_path: str | Path | None = None, *,
                      refit_passes: int = 1, cache_dir: Path | None = None) -> dict:
    """Auto mode's counterpart of ``convert_file``: returns (and optionally writes) the report."""
    options.validate()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model, bytes_before = load_model_sized(source)
    params_before = count_params(model)
    arrays = load_npz(data) if data is not None else None
    everything = prepare_inputs(model, options.input_shapes, arrays, options.seed,
                                samples=None if arrays is not None else RANDOM_SAMPLES)
    fixed = _fixed_batch(model, options.input_shapes)
    time_batch = fixed or 1  # timing: the fixed batch, else one sample
    fit, held, split_note = _split(everything, options.seed, time_batch, fixed is not None)
    mg, layers = analyse(model, options.input_shapes)
    if not layers:
        raise SepconvError("the model has no Conv node to convert", kind="no_conv")
    threads = options.threads
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    time_feed = {k: v[:time_batch] for k, v in held.arrays.items()}
    auto: dict = {
        "budget": {"max_error": options.max_error, "max_accuracy_drop": options.max_accuracy_drop,
                   "accuracy_checked": options.max_accuracy_drop is not None and everything.labels is not None},
        "inputs": everything.source, "guarantee_note": None if everything.source == "data" else WEAK_GUARANTEE,
        "split": {"fit": fit.samples, "held_out": held.samples, "note": split_note, "seed": options.seed},
        "threads": resolved_threads(threads), "timing_batch": time_batch, "refit_passes": refit_passes,
    }
    timings["load_s"] = time.perf_counter() - t0

    # ---- candidates, fit on the layers' real inputs ------------------------------------------------
    t1 = time.perf_counter()
    reasons: dict[int, str] = {}
    eligible: list[int] = []
    for i, layer in enumerate(layers):
        reason = _excluded(layer, options) or candidates.auto_ineligible(layer)
        if reason:
            reasons[i] = reason
        else:
            eligible.append(i)
    positions = {layers[i].name: activations.sample_positions(layers[i], fit.samples, options.seed + i)
                 for i in eligible}
    patches = activations.collect_patches(model, fit, [layers[i] for i in eligible], positions, threads) \
        if eligible else {}
    plans: list[LayerPlan] = []
    for i in eligible:
        layer = layers[i]
        x = patches.pop(layer.name)
        y = candidates.outputs(layer, x)
        scale = float(np.linalg.norm(y - y.mean(0))) or 1.0
        plan = LayerPlan(i, layer, x, y, scale)
        for c in candidates.build(layer, x, y):
            c.extra["error_weights_only"] = candidates.layer_error(c, x, y, scale)
            c = refit(c, x, y)
            c.error = candidates.layer_error(c, x, y, scale)
            plan.cands.append(c)
        plans.append(plan)
    timings["candidates_s"] = time.perf_counter() - t1

    # ---- measured latency ---------------------------------------------------------------------------
    t2 = time.perf_counter()
    cache = LatencyCache(threads, cache_dir)
    for plan in plans:
        front = _pareto([c for c in plan.cands if c.error <= MAX_LAYER_ERROR])
        if front:
            plan.orig_ms = measure_layer(plan.layer, front, time_batch, threads, cache, opset)
    cache.save()
    auto["latency_cache"] = {"path": str(cache.path), "hits": cache.hits, "misses": cache.misses}
    orig_bytes = model.SerializeToString()
    whole_before = time_interleaved([orig_bytes], time_feed, threads, seconds=1.0, min_runs=5, max_runs=50)[0]
    timings["latency_s"] = time.perf_counter() - t2

    # ---- allocation: sensitivities, greedy path, search, held-out check -----------------------------
    t3 = time.perf_counter()
    fit_eval = Evaluator(orig_bytes, fit, threads)
    probe = Evaluator(orig_bytes, _head(fit, 8, time_batch), threads)
    for plan in plans:
        opts = plan.options()
        if opts:
            c = min(opts, key=lambda c: (c.error ** 2) / plan.saved_ms(c))
            err = probe.score(build_model(model, layers, {plan.index: c}))["max_error"]
            plan.sensitivity = float(np.clip(err / max(c.error, 1e-9), 1e-3, 1e3))
    path = greedy_path(plans)
    # one-layer models time each layer alone, with overheads the whole model shares: where their
    # sum exceeds the whole model's time, predict against that sum (a ratio, never below 0)
    denom = max(whole_before, sum(p.orig_ms or 0.0 for p in plans))
    curve = []
    saved = est = 0.0
    for k, step in enumerate(path, start=1):
        saved += step.saved_ms
        est += step.err_sq
        curve.append({"step": k, "layer": step.plan.layer.name, "candidate": step.cand.variant,
                      "layers_rewritten": len(choice_at(path, k)),
                      "predicted_latency_ratio": max(0.0, (denom - saved) / denom),
                      "estimated_error": float(np.sqrt(max(est, 0.0))), "fit_error": None})
    refit_cache: dict[int, tuple[dict, onnx.ModelProto]] = {}

    def converted(k: int) -> tuple[dict, onnx.ModelProto]:
        if k not in refit_cache:
            choice = choice_at(path, k)
            m = build_model(model, layers, choice)
            for _ in range(refit_passes):
                choice = _refit_choice(m, layers, choice, plans, positions, fit, threads)
                m = build_model(model, layers, choice)
            refit_cache.clear()  # keep one model in memory
            refit_cache[k] = (choice, m)
        return refit_cache[k]

    def passes_fit(k: int) -> bool:
        score = fit_eval.score(converted(k)[1])
        curve[k - 1]["fit_error"] = score["max_error"]
        curve[k - 1]["fit_accuracy_drop"] = score["accuracy_drop"]
        return meets(score, options.max_error, options.max_accuracy_drop, FIT_MARGIN)

    k = largest_passing(len(path), passes_fit)
    held_eval = Evaluator(orig_bytes, held, threads) if k else None
    held_score = None
    tries = []
    while k > 0:
        assert held_eval is not None
        held_score = held_eval.score(converted(k)[1])
        tries.append({"step": k, "held_out_error": held_score["max_error"],
                      "accuracy_drop": held_score["accuracy_drop"]})
        if meets(held_score, options.max_error, options.max_accuracy_drop):
            break
        k = int(k * BACKOFF)
        held_score = None
    auto["backoff"] = tries
    timings["allocate_s"] = time.perf_counter() - t3

    # ---- whole-model latency, interleaved; accept or return the original ---------------------------
    t4 = time.perf_counter()
    accepted, reason = False, None
    choice: dict = {}
    final = model
    latency = {"before_ms": whole_before, "after_ms": None, "ratio": None, "speedup": None, "interleaved": True}
    if not eligible:
        reason = "no Conv layer is eligible for auto mode"
    elif not path:
        reason = "no candidate saves measurable time in any layer: the original is faster as it is"
    elif k == 0:
        parts = ([f"max error {options.max_error:g}"] if options.max_error is not None else []) + (
            [f"max accuracy drop {options.max_accuracy_drop:g} points"] if options.max_accuracy_drop is not None
            else [])
        reason = f"no rewrite meets the budget ({', '.join(parts)}) on the held-out data"
    else:
        choice, final = converted(k)
        before, after = time_interleaved([orig_bytes, final.SerializeToString()], time_feed, threads,
                                         seconds=WHOLE_SECONDS, min_runs=10, max_runs=300)
        latency.update(before_ms=before, after_ms=after, ratio=after / before, speedup=before / after)
        if after < before:
            accepted = True
        else:
            reason = f"the converted model was not faster end to end ({after:.3f} ms against {before:.3f} ms)"
    timings["check_s"] = time.perf_counter() - t4
    if not accepted:
        choice, final = {}, model
    auto.update(accepted=accepted, reason=reason, latency=latency)
    auto["curve"] = curve
    auto["chosen"] = {
        "step": k if accepted else 0, "layers_rewritten": len(choice),
        "fit_error": curve[k - 1]["fit_error"] if accepted else 0.0,
        "held_out_error": held_score["max_error"] if accepted and held_score else 0.0,
        "held_out_errors": held_score["errors"] if accepted and held_score else None,
        "held_out_accuracy_drop": held_score["accuracy_drop"] if accepted and held_score else None,
        "predicted_latency_ratio": curve[k - 1]["predicted_latency_ratio"] if accepted else 1.0,
        "measured_latency_ratio": latency["ratio"] if accepted else 1.0,
    }

    # ---- save, verify, report -------------------------------------------------------------------------
    t5 = time.perf_counter()
    emitted: dict[int, Emitted] = {}
    if accepted:
        final = build_model(model, layers, choice, emitted)
        stamp(final, options)
        check_model(final, "converted model")
    if not accepted and bytes_before == Path(source).stat().st_size:
        raw = Path(source).read_bytes()  # the original, byte for byte
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(output, raw)
        bytes_after = len(raw)
    else:
        bytes_after = save_model(final, output)
    params_after = count_params(final)
    timings["save_s"] = time.perf_counter() - t5
    t6 = time.perf_counter()
    verification = verify(source, output, held, threads, options.seed)
    timings["verify_s"] = time.perf_counter() - t6
    rows, auto["layers"] = _rows(layers, reasons, plans, choice, emitted, accepted)
    if options.plot:
        from .plot import plot_curve
        auto["plot"] = plot_curve(curve, auto["chosen"], options.max_error, options.plot)
    timings["total_s"] = time.perf_counter() - t0
    report = build_report(rows, options.as_dict(), verification, params=(params_before, params_after),
                          file_bytes=(bytes_before, bytes_after), source=str(source), output=str(output),
                          timings=timings)
    report["auto"] = auto
    if report_path is not None:
        write_report(report, report_path)
    return report


def _excluded(layer: ConvLayer, options: ConvertOptions) -> str | None:
    if options.include and not re.search(options.include, layer.name):
        return "not matched by --include"
    if options.exclude and re.search(options.exclude, layer.name):
        return "matched by --exclude"
    return None


def _fixed_batch(model: onnx.ModelProto, overrides: dict[str, list[int]]) -> int | None:
    """The batch size every input fixes, or None where it is symbolic."""
    firsts = {s[0] for s in input_shapes(model, overrides).values() if s}
    return int(firsts.pop()) if len(firsts) == 1 and None not in firsts else None


def _split(inputs: InputSet, seed: int, unit: int, fixed: bool) -> tuple[InputSet, InputSet, str | None]:
    """A seeded split into fitting and held-out samples (whole batches where the batch is fixed)."""
    n = inputs.samples
    per = int(np.prod(next(iter(inputs.arrays.values())).shape[1:]))
    batch = unit if fixed else int(np.clip(2_000_000 // max(per, 1), 1, 32))
    if n < 2 * unit:
        return _subset(inputs, np.arange(n), batch), _subset(inputs, np.arange(n), batch), \
            "too few samples to hold any out: the budget was checked on the fitting data"
    perm = np.random.default_rng(seed).permutation(n)
    n_fit = max(unit, min(FIT_MAX, n // 2) // unit * unit)
    n_held = min(HELD_MAX, n - n_fit) // unit * unit
    return _subset(inputs, perm[:n_fit], batch), _subset(inputs, perm[n_fit:n_fit + n_held], batch), None


def _subset(inputs: InputSet, idx: np.ndarray, batch: int) -> InputSet:
    return InputSet({k: v[idx] for k, v in inputs.arrays.items()},
                    None if inputs.labels is None else inputs.labels[idx], batch, inputs.source)


def _head(inputs: InputSet, n: int, unit: int) -> InputSet:
    return inputs.head(max(unit, min(n, inputs.samples) // unit * unit))


def _pareto(cands: list[candidates.Candidate]) -> list[candidates.Candidate]:
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


def _refit_choice(model: onnx.ModelProto, layers: list[ConvLayer], choice: dict, plans: list[LayerPlan],
                  positions: dict, fit: InputSet, threads: int | None) -> dict:
    """Refit each chosen layer's last factor on the inputs it sees in the converted model."""
    if not choice:
        return choice
    by_index = {p.index: p for p in plans}
    chosen = [layers[i] for i in sorted(choice)]
    seen = activations.collect_patches(model, fit, chosen, {la.name: positions[la.name] for la in chosen}, threads)
    return {i: refit(c, seen[layers[i].name], by_index[i].y) for i, c in choice.items()}


def _rows(layers: list[ConvLayer], reasons: dict[int, str], plans: list[LayerPlan], choice: dict,
          emitted: dict[int, Emitted], accepted: bool) -> tuple[list[dict], list[dict]]:
    """The standard per-layer rows, and auto's per-layer decisions with times and errors."""
    rows, details = [], []
    by_index = {p.index: p for p in plans}
    for i, layer in enumerate(layers):
        c = choice.get(i)
        plan = by_index.get(i)
        if c is not None:
            em = emitted.get(i)
            params = emitted_params(em) if em is not None else c.params
            dec = Decision(layer, CANDIDATE_METHODS[c.kind], c.rank, None, None, c.macs, params)
            row = layer_row(dec, [n.name for n in em.nodes] if em is not None else [])
            assert layer.weight is not None
            row["weight_rel_error"] = candidates.weight_rel_error(c, layer.weight.astype(np.float64))
        else:
            reason = reasons.get(i)
            if reason is None:
                reason = "kept: the original model was returned" if plan and plan.options() and not accepted \
                    else "kept: no candidate saved time within the budget" if plan and plan.options() \
                    else "kept: no candidate saves measurable time"
            row = layer_row(Decision(layer, reason=reason), [])
        rows.append(row)
        if plan is None:
            continue
        best = plan.options()
        details.append({
            "name": layer.name, "decision": c.variant if c is not None else "keep",
            "orig_ms": plan.orig_ms, "ms": plan.orig_ms * (c.ms / c.orig_ms) if c is not None and c.ms else
            plan.orig_ms, "saved_ms": plan.saved_ms(c) if c is not None else 0.0,
            "layer_error": c.error if c is not None else 0.0, "sensitivity": plan.sensitivity,
            "error_contribution": plan.sensitivity * c.error if c is not None else 0.0,
            "candidates": [{"candidate": o.variant, "macs_ratio": o.macs / (layer.macs or 1), "layer_error": o.error,
                            "layer_error_weights_only": o.extra.get("error_weights_only"),
                            "ms": o.ms, "orig_ms": o.orig_ms} for o in plan.cands if o.ms is not None],
            "time_saving_candidates": len(best),
        })
    return rows, details
