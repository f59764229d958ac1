"""Predicted latency checked against the whole model: per-layer times, summed, miss what the
layers share (memory traffic, fusions across layers, thread scheduling). A few points of the path
are converted and timed whole, interleaved with the original; the predicted ratio's distance from
1 is scaled by the least-squares slope through them, and the chosen point is predicted with it."""

from __future__ import annotations

import numpy as np

from ..timing import median_ms
from .search import PathModels

#: Seconds of interleaved timing per calibration point, and the shares of the chosen step tried.
POINT_SECONDS = 0.5
SHARES = (1 / 3, 2 / 3)


def calibrate(models: PathModels, curve: list[dict], step: int, original: bytes, feed: dict,
              threads: int | None) -> dict | None:
    """Whole-model ratios at a few steps before ``step``; the slope, and the step's calibrated prediction."""
    points = sorted({max(1, round(step * s)) for s in SHARES} - {step})
    if not points:
        return None
    rows = []
    for k in points:
        before, after = median_ms([original, models.at(k)[1].SerializeToString()], feed, threads, POINT_SECONDS,
                                  min_runs=5, max_runs=100)
        rows.append({"step": k, "predicted": curve[k - 1]["predicted_latency_ratio"], "measured": after / before})
    pred = np.array([r["predicted"] for r in rows]) - 1.0
    meas = np.array([r["measured"] for r in rows]) - 1.0
    slope = float(pred @ meas / (pred @ pred)) if pred @ pred > 1e-12 else 1.0
    slope = float(np.clip(slope, 0.0, 3.0))
    predicted = curve[step - 1]["predicted_latency_ratio"]
    return {"points": rows, "slope": slope, "predicted": predicted,
            "calibrated": max(0.0, 1.0 + slope * (predicted - 1.0))}
