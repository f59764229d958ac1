"""``sepconv bench``: latency of one model, or of two and the speedup, measured in ONNX Runtime
(interleaved, see :mod:`~sepconv.converter.timing`), with the output difference for two."""

from __future__ import annotations

import numpy as np

from .data import InputSet
from .runtime import ModelSource
from .timing import interleave, timing_session
from .verify import verify

MAX_TIMES = 2000  # per-run latencies kept per model; more runs keep an evenly spaced subset


def benchmark(models: list[ModelSource], inputs: InputSet, runs: int = 50, warmup: int = 5,
              threads: int | None = None, labels: list[str] | None = None) -> dict:
    """Latency per model (median, p90, mean, min in ms, throughput, and the runs' own latencies
    as ``times_ms``); speedup and output difference when two models are given."""
    if not 1 <= len(models) <= 2:
        raise ValueError("benchmark takes one or two models")
    feed = next(inputs.batches())
    batch = len(next(iter(feed.values())))
    times = interleave([timing_session(m, threads) for m in models], feed, runs, warmup)
    names = labels or [f"model{i}" for i in range(len(models))]
    result: dict = {
        "runs": runs, "warmup": warmup, "threads": threads, "batch_size": batch,
        "models": [_stats(n, t, batch) for n, t in zip(names, times)],
    }
    if len(models) == 2:
        result["speedup"] = result["models"][0]["median_ms"] / result["models"][1]["median_ms"]
        result["output_difference"] = verify(models[0], models[1], inputs.head(batch), threads,
                                              noise_floor=False)["outputs"]
    return result


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
