"""Auto mode's latency calibration: the chosen point predicted from whole-model measurements of
the points before it."""

from __future__ import annotations

import pytest
from sepconv.converter.auto.calibration import calibrated, points_for


def test_points_are_halfway_and_the_step_before():
    assert points_for(10) == [5, 9]
    assert points_for(3) == [1, 2]
    assert points_for(2) == [1]
    assert points_for(1) == []


@pytest.mark.parametrize("offset, slope", [(0.2, 0.9), (-0.05, 1.3), (0.3, 0.5)])
def test_an_affine_miss_is_corrected_exactly(offset, slope):
    """Whole-model ratios that are an affine function of the predicted ones (a fixed cost the
    per-layer times miss, and a share of the saving that does not hold): the chosen point comes
    out exact, where the line through the unconverted model (1, 1) misses it."""
    def truth(p: float) -> float:
        return offset + slope * p

    predicted = {5: 0.8, 9: 0.62, 10: 0.55}
    rows = [{"predicted": predicted[k], "measured": truth(predicted[k])} for k in points_for(10)]
    fitted_slope, value = calibrated(rows, predicted[10])
    assert fitted_slope == pytest.approx(slope, abs=1e-9)
    assert value == pytest.approx(truth(predicted[10]), abs=1e-9)
    through_origin = 1 + (rows[-1]["measured"] - 1) / (rows[-1]["predicted"] - 1) * (predicted[10] - 1)
    assert abs(through_origin - truth(predicted[10])) > 0.01


def test_one_point_uses_the_unconverted_model_and_noise_is_bounded():
    slope, value = calibrated([{"predicted": 0.8, "measured": 0.9}], 0.6)
    assert slope == pytest.approx(0.5) and value == pytest.approx(0.8)
    # two noisy points far apart: the slope is bounded, the nearer measurement stands
    slope, value = calibrated([{"predicted": 0.9, "measured": 1.2}, {"predicted": 0.8, "measured": 0.75}], 0.7)
    assert slope == 2.0 and value == pytest.approx(0.55)
    slope, value = calibrated([{"predicted": 0.9, "measured": 0.7}, {"predicted": 0.8, "measured": 0.75}], 0.7)
    assert slope == 0.0 and value == pytest.approx(0.75)
