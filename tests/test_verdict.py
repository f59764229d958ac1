"""The service's verdict on a conversion (``service.jobs.verdict``): real conversions of the digits
sample judged against the fixed-method thresholds, and auto mode's budget on reports whose
measured numbers straddle it."""

from __future__ import annotations

import copy

import pytest
from sepconv.converter import ConvertOptions, convert_file
from sepconv.service.jobs.verdict import BROKEN_REL_L2, BROKEN_TOP1, conversion_verdict
from service_fixtures import REPO

MODEL = REPO / "sample_models" / "digits_small.onnx"
DATA = REPO / "sample_models" / "digits_small_test.npz"


def _convert(tmp_path, **opts) -> tuple[dict, dict]:
    options = ConvertOptions(**opts)
    report = convert_file(str(MODEL), tmp_path / "out.onnx", options, data=str(DATA) if options.verify else None)
    return report, report["options"]


@pytest.fixture(scope="module")
def default_depthwise(tmp_path_factory):
    return _convert(tmp_path_factory.mktemp("dw"), method="depthwise")


def test_default_depthwise_of_the_digits_is_broken(default_depthwise):
    """The issue's case: depthwise at ratio 0.5 keeps about a quarter of the top-1 answers."""
    report, options = default_depthwise
    out = report["verification"]["outputs"][0]
    assert out["top1_agreement"] < BROKEN_TOP1 and out["rel_l2_error"] > BROKEN_REL_L2  # the premise
    v = conversion_verdict(report, options)
    assert v["level"] == "broken" and v["label"] == "Broken"
    assert not v["recommend_download"] and v["stored"]
    assert "no longer computes" in v["reasons"][0] and "top-1 agreement" in v["reasons"][0]
    assert v["gain"]["macs_ratio"] == pytest.approx(report["totals"]["conv_macs"]["ratio"])
    assert v["gain"]["macs_ratio"] < 1
    assert "top-1 agreement" in v["summary"] and "× the multiplications" in v["summary"]


def test_nothing_rewritten_stores_nothing(tmp_path):
    report, options = _convert(tmp_path, method="depthwise", rank=9999)
    assert report["totals"]["rewritten"] == 0
    v = conversion_verdict(report, options)
    assert v["level"] == "unchanged" and not v["stored"] and not v["recommend_download"]
    assert "0 of 2 Convs rewritten" in v["summary"] and "no saving" in v["summary"]
    assert "no new model was stored" in v["reasons"][0]


def test_verify_off_is_unchecked(tmp_path):
    report, options = _convert(tmp_path, method="depthwise", verify=False)
    assert report["totals"]["rewritten"] > 0 and not report.get("verification")
    v = conversion_verdict(report, options)
    assert v["level"] == "unchecked" and v["stored"] and not v["recommend_download"]
    assert "verification was off" in v["reasons"][0]


def test_int8_alone_within_thresholds_is_good(tmp_path):
    report, options = _convert(tmp_path, method="none", precision="int8")
    v = conversion_verdict(report, options)
    assert v["level"] == "good" and v["recommend_download"], v
    assert v["gain"]["int8_share"] == 1.0 and "100% of them in int8" in v["gain"]["text"]


def test_fixed_method_in_between_asks_for_a_look(default_depthwise):
    report, options = copy.deepcopy(default_depthwise)
    out = report["verification"]["outputs"][0]
    out.update(top1_agreement=0.95, rel_l2_error=0.1)
    report["verification"]["accuracy"]["drop_points"] = 0.5
    v = conversion_verdict(report, options)
    assert v["level"] == "warn" and not v["recommend_download"]
    assert "top-1 agreement 95.0%" in v["reasons"][0] and "rel. L2 error 0.1" in v["reasons"][0]


def _auto_report(base: dict, rel_l2: float, drop: float, speedup: float | None) -> tuple[dict, dict]:
    report = copy.deepcopy(base)
    report["verification"]["outputs"][0].update(top1_agreement=0.99, rel_l2_error=rel_l2)
    report["verification"]["accuracy"]["drop_points"] = drop
    report["auto"] = {"accepted": True, "reason": None,
                      "latency": {"before_ms": 2.0, "after_ms": 2.0 / speedup if speedup else None, "speedup": speedup}}
    options = {**base["options"], "method": "auto", "max_error": None, "max_accuracy_drop": 1.0}
    return report, options


def test_auto_is_judged_against_its_budget(default_depthwise):
    base, _ = default_depthwise
    v = conversion_verdict(*_auto_report(base, rel_l2=0.15, drop=0.5, speedup=1.6))
    assert v["level"] == "good" and "accuracy drop ≤ 1 points" in v["reasons"][0]
    assert v["gain"]["speedup"] == 1.6 and "1.60× faster (measured)" in v["summary"]
    over = conversion_verdict(*_auto_report(base, rel_l2=0.15, drop=1.5, speedup=1.6))
    assert over["level"] == "warn" and "accuracy drop 1.50 points against 1" in over["reasons"][0]
    far = conversion_verdict(*_auto_report(base, rel_l2=0.15, drop=12.0, speedup=1.6))
    assert far["level"] == "broken"


def test_non_finite_outputs_are_broken(default_depthwise):
    report, options = copy.deepcopy(default_depthwise)
    report["verification"]["outputs"][0].update(top1_agreement=1.0, rel_l2_error=0.0, nonfinite_values=3)
    report["verification"]["accuracy"]["drop_points"] = 0.0
    v = conversion_verdict(report, options)
    assert v["level"] == "broken" and "non-finite" in v["reasons"][0]
