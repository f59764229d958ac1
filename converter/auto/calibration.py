"""Predicted latency checked against the whole model: per-layer times, summed, miss what the
layers share (memory traffic, fusions across layers, thread scheduling). Two earlier points of
the path are converted and timed whole, interleaved with the original: the step just before the
chosen one, which shares nearly all of its rewrites and so most of what per-layer times miss,
and one halfway. The chosen point is predicted from the nearer one, by the slope of measured
against predicted ratio between the two."""

from __future__ import annotations

import numpy as np

from ..timing import median_round
from .search import PathModels

#: Seconds of interleaved timing per calibration point, in rounds of new sessions (the median
#: round's ratio; see ``timing.median_round``).
POINT_SECONDS, POINT_ROUNDS = 0.6, 3
#: Bounds on the measured-over-predicted slope (a noisy pair of points must not run away).
SLOPE_RANGE = (0.0, 2.0)


def points_for(step: int) -> list[int]:
    """The steps measured to calibrate ``step``: halfway and the one before (fewer where the path is short)."""
    return sorted({max(1, step // 2), step - 1} - {0, step})


def calibrated(rows: list[dict], predicted: float) -> tuple[float, float]:
    """(slope, calibrated ratio) from measured rows ``{"predicted", "measured"}``, nearest last.

    Two rows: the line through both, followed from the nearer; one row: the line through it and
    (1, 1), the unconverted model."""
    near = rows[-1]
    far = rows[0] if len(rows) > 1 else {"predicted": 1.0, "measured": 1.0}
    span = near["predicted"] - far["predicted"]
    slope = (near["measured"] - far["measured"]) / span if abs(span) > 1e-9 else 1.0
    slope = float(np.clip(slope, *SLOPE_RANGE))
    return slope, max(0.0, near["measured"] + slope * (predicted - near["predicted"]))


def calibrate(models: PathModels, curve: list[dict], step: int, original: bytes, feed: dict,
              threads: int | None) -> dict | None:
    """Whole-model ratios at the points before ``step``; the slope, and the step's calibrated prediction."""
    points = points_for(step)
    if not points:
        return None
    rows = []
    for k in points:
        before, after, ratios = median_round([original, models.at(k)[1].SerializeToString()], feed, threads,
                                             POINT_SECONDS, POINT_ROUNDS, min_runs=5, max_runs=150)
        rows.append({"step": k, "predicted": curve[k - 1]["predicted_latency_ratio"], "measured": after / before,
                     "round_ratios": ratios})
    predicted = curve[step - 1]["predicted_latency_ratio"]
    slope, value = calibrated(rows, predicted)
    return {"points": rows, "slope": slope, "predicted": predicted, "calibrated": value}
