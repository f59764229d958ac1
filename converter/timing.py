"""Latency in ONNX Runtime, measured interleaved: run A, run B, run A, ... on the same feed,
so machine noise hits every model alike. ``sepconv bench`` and auto mode both time this way."""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from .runtime import ModelSource, run, session


def interleave(sessions: list[ort.InferenceSession], feed: dict, runs: int, warmup: int = 1) -> list[list[float]]:
    """Seconds of each of ``runs`` runs per session, after ``warmup`` runs of each."""
    for _ in range(warmup):
        for s in sessions:
            run(s, feed)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for s, t in zip(sessions, times):
            t0 = time.perf_counter()
            run(s, feed)
            t.append(time.perf_counter() - t0)
    return times


def median_ms(models: list[ModelSource], feed: dict, threads: int | None, seconds: float,
              min_runs: int, max_runs: int) -> list[float]:
    """Median milliseconds of each model, interleaved, with as many runs as fit ``seconds``
    (sized by one timed run of each, within ``[min_runs, max_runs]``)."""
    sessions = [session(m, threads) for m in models]
    first = [t[0] for t in interleave(sessions, feed, runs=1)]  # also the warm-up
    runs = int(np.clip(seconds / max(sum(first), 1e-6), min_runs, max_runs))
    return [float(np.median(t)) * 1e3 for t in interleave(sessions, feed, runs, warmup=0)]
