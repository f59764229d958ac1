"""``sepconv bench``: latency of one model, or of several on the same inputs, measured in ONNX
Runtime (interleaved, see :mod:`~sepconv.converter.timing`). The first model is the reference:
every other one gets its speedup over it and how far its outputs differ from it, and where the
inputs carry class labels, every model its top-1 accuracy."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from .compare import Comparison, is_class_labels
from .data import InputSet
from .runtime import ModelSource, run
from .timing import interleave, timing_session

MAX_TIMES = 2000  # per-run latencies kept per model; more runs keep an evenly spaced subset
MAX_MODELS = 6  # models compared in one benchmark
MAX_COMPARED = 256  # samples the outputs and the accuracy are compared on
MAX_BATCH = 4096


def benchmark(models: list[ModelSource], inputs: InputSet, runs: int = 50, warmup: int = 5,
              threads: int | None = None, labels: list[str] | None = None, batch: int | None = None) -> dict:
    """Latency per model (median, p90, mean, min in ms, throughput, and the runs' own latencies
    as ``times_ms``); for each model after the first, ``speedup`` (the first's median over its own)
    and ``output_difference`` against the first; ``accuracy`` per model where the inputs have class
    labels. ``batch``: the batch size timed (default: the inputs' first batch). With two models the
    speedup and output difference are also at the top level, as before."""
    if not 1 <= len(models) <= MAX_MODELS:
        raise ValueError(f"benchmark takes 1 to {MAX_MODELS} models, not {len(models)}")
    names = labels or [f"model{i}" for i in range(len(models))]
    sessions = [timing_session(m, threads) for m in models]
    if batch is not None:
        _check_batch(sessions, names, batch, inputs)
    feed = _feed(inputs, batch)
    size = len(next(iter(feed.values())))
    times = interleave(sessions, feed, runs, warmup)
    stats = [_stats(n, t, size) for n, t in zip(names, times)]
    compared = _compared(inputs, size, any(_fixed(s) for s in sessions))
    diffs, accuracy = _outputs(sessions, compared)
    for i, m in enumerate(stats):
        m["speedup"] = None if i == 0 else (stats[0]["median_ms"] / m["median_ms"] if m["median_ms"] else None)
        m["output_difference"] = None if i == 0 else diffs[i - 1]
        m["accuracy"] = None if accuracy is None else accuracy[i]
    result: dict = {
        "runs": runs, "warmup": warmup, "threads": threads, "batch_size": size,
        "inputs_source": inputs.source, "repeated_samples": not inputs.whole and inputs.samples < size,
        "compared_samples": compared.samples, "models": stats,
        "accuracy_samples": compared.samples if accuracy is not None else 0,
        "accuracy_note": _accuracy_note(inputs, accuracy),
    }
    if len(models) == 2:
        result["speedup"] = stats[1]["speedup"]
        result["output_difference"] = stats[1]["output_difference"]
    return result


def _check_batch(sessions: list[ort.InferenceSession], names: list[str], batch: int, inputs: InputSet) -> None:
    """Refused up front: a batch out of bounds, inputs with no sample axis, a model fixing another batch."""
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be 1 to {MAX_BATCH}, not {batch}")
    if inputs.whole and batch != 1:
        raise ValueError("the models' inputs share no batch axis (a scalar, or first dims that differ), so no "
                         f"batch of {batch} can be formed")
    for name, s in zip(names, sessions):
        if not _fixed(s):
            continue
        for i in s.get_inputs():
            first = i.shape[0] if i.shape else None
            if isinstance(first, int) and first != batch:
                raise ValueError(f"model {name} fixes the batch size of input {i.name!r} to {first}; "
                                 f"it cannot run at the batch size of {batch} asked for")


def _feed(inputs: InputSet, batch: int | None) -> dict[str, np.ndarray]:
    """The feed timed: the inputs' first batch, or ``batch`` samples (repeated in turn where the inputs hold fewer)."""
    if batch is None or inputs.whole:
        return next(inputs.batches())
    idx = np.arange(batch) % inputs.samples
    return {k: v[idx] for k, v in inputs.arrays.items()}


def _fixed(s: ort.InferenceSession) -> bool:
    """Does the model file fix its batch size (the first dim of an input)?"""
    return any(i.shape and isinstance(i.shape[0], int) and i.shape[0] > 0 for i in s.get_inputs())


def _compared(inputs: InputSet, batch: int, fixed: bool) -> InputSet:
    """The samples the outputs are compared on, run ``batch`` at a time: up to MAX_COMPARED, in
    whole batches where a model fixes the batch (repeated to fill one where fewer are given)."""
    if inputs.whole:
        return inputs
    n = min(inputs.samples, MAX_COMPARED)
    if fixed and n < batch:
        return inputs.take(np.arange(batch) % inputs.samples, batch)
    if fixed:
        n = n // batch * batch
    return inputs.take(slice(0, n), batch)


def _outputs(sessions: list[ort.InferenceSession], inputs: InputSet) -> tuple[list[list[dict]], list[float] | None]:
    """Each later model's outputs against the first's, and every model's top-1 accuracy (None without class labels)."""
    names = [o.name for o in sessions[0].get_outputs()]
    cmps = [Comparison(names, inputs.labels) for _ in sessions]  # the first against itself: its own accuracy
    for feed in inputs.batches():
        n = len(next(iter(feed.values())))
        ref = run(sessions[0], feed, "the first model")
        cmps[0].add(ref, ref, n)
        for k, (s, c) in enumerate(zip(sessions[1:], cmps[1:]), start=2):
            c.add(ref, run(s, feed, f"model {k}"), n)
    acc = [c.accuracy() for c in cmps]
    diffs = [[o.result() for o in c.outputs] for c in cmps[1:]]
    return diffs, None if any(a is None for a in acc) else [a["after"] for a in acc]


def _accuracy_note(inputs: InputSet, accuracy: list[float] | None) -> str | None:
    """Why there is no accuracy, in words; None where there is."""
    if accuracy is not None:
        return None
    if inputs.source != "data":
        return "random inputs have no labels"
    if inputs.labels is None:
        return "the dataset has no 'labels' array"
    if not is_class_labels(inputs.labels):
        return "the dataset's labels are not one class index per sample"
    return "no output is a batch x classes score array to take the top-1 class from"


def _stats(name: str, seconds: list[float], batch: int) -> dict:
    """Summary statistics of all runs, and the runs themselves (``times_ms``, in run order, 4
    significant digits): all of them up to :data:`MAX_TIMES`, else an evenly spaced subset of
    that many, which ``times_ms_subsampled`` says."""
    ms = np.asarray(seconds) * 1e3
    median = float(np.median(ms))
    kept = ms if len(ms) <= MAX_TIMES else ms[np.linspace(0, len(ms) - 1, MAX_TIMES).round().astype(int)]
    return {"name": name, "median_ms": median, "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()),
            "throughput_per_s": batch / (median / 1e3) if median else None,
            "times_ms": [float(f"{t:.4g}") for t in kept], "times_ms_subsampled": len(ms) > MAX_TIMES}
