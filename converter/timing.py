"""Latency in ONNX Runtime, measured interleaved: run A, run B, run A, ... on the same feed,
so machine noise hits every model alike. ``sepconv bench`` and auto mode both time this way.

The sessions timed against each other do not spin. ONNX Runtime's intra-op threads spin for a
while after each run; with two sessions in one process, the idle one's spinning threads take
cores from the one being timed. On a 2-core machine, two copies of one model at 2 threads timed
interleaved read 0.70 and 0.43 ms with spinning on, 0.44 and 0.44 ms with it off
(``python benchmarks/timing_bias.py``): the bias alone looked like a 1.6x speedup.
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from .runtime import ModelSource, run, session


def timing_session(model: ModelSource, threads: int | None) -> ort.InferenceSession:
    """A session to time against others: no spinning, so it does not slow the others down."""
    return session(model, threads, spinning=False)


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


def median_round(models: list[ModelSource], feed: dict, threads: int | None, seconds: float, rounds: int,
                 min_runs: int, max_runs: int) -> tuple[float, float, list[float]]:
    """Two models timed in ``rounds`` rounds of new sessions (``seconds`` in all): the round with
    the median ratio (its milliseconds of each) and every round's ratio, second over first.

    Rounds, because on small models the spread is between sessions, not between runs: MTCNN's rnet
    (0.07 ms) timed against one converted model read 1.05 in nine pairs of sessions and 0.80 in one
    (its original's session ran slow for its whole life), while each pair's runs agreed."""
    each = max(3, min_runs // rounds)  # min_runs in all, not per round: a slow model's check costs no more
    found = [median_ms(models, feed, threads, seconds / rounds, each, max_runs) for _ in range(rounds)]
    before, after = sorted(found, key=lambda r: r[1] / r[0])[rounds // 2]
    return before, after, [a / b for b, a in found]


def median_ms(models: list[ModelSource], feed: dict, threads: int | None, seconds: float,
              min_runs: int, max_runs: int) -> list[float]:
    """Median milliseconds of each model, interleaved, with as many runs as fit ``seconds``
    (sized by one timed run of each, within ``[min_runs, max_runs]``)."""
    sessions = [timing_session(m, threads) for m in models]
    first = [t[0] for t in interleave(sessions, feed, runs=1)]  # also the warm-up
    runs = int(np.clip(seconds / max(sum(first), 1e-6), min_runs, max_runs))
    return [float(np.median(t)) * 1e3 for t in interleave(sessions, feed, runs, warmup=0)]
