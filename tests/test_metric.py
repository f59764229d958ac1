"""The user's own metric as auto mode's budget: a function in a file, or a built-in one; the report
records both scores and the drop; bad specs are one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT
from model_builders import low_rank_model
from sepconv.converter import ConvertOptions, OptionError, convert_file
from sepconv.converter.metrics import detection_agreement, load_metric, top1_agreement

METRIC_FILE = '''
import numpy as np

def sign_agreement(outputs, reference, labels):
    """Share of output values on the same side of zero as the original's; the labels ride along."""
    assert labels is not None and labels.shape == (len(reference["r1"]), 4) and labels.dtype == np.float32
    return float(np.mean((outputs["r1"] > 0) == (reference["r1"] > 0)))
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("metric")
    onnx.save(low_rank_model(), str(d / "m.onnx"))
    rng = np.random.default_rng(1)
    np.savez(d / "d.npz", x=rng.standard_normal((24, 64, 32, 32)).astype(np.float32),
             labels=rng.random((24, 4)).astype(np.float32))  # boxes, say: any shape, for the metric only
    (d / "metric.py").write_text(METRIC_FILE)
    return d


def _auto(d: Path, out: Path, **kw) -> dict:
    options = ConvertOptions(method="auto", threads=1, max_error=None, **kw)
    return convert_file(d / "m.onnx", out, options, data=d / "d.npz")


def test_user_metric_budget_is_met_and_recorded(setup, tmp_path, monkeypatch):
    """Relu outputs of the ~0.005-error rewrite keep the sign of ~99% of values: a 5-point budget
    is met with a wide margin, and the report says the metric, both scores and the drop."""
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))
    spec = f"{setup / 'metric.py'}:sign_agreement"
    r = _auto(setup, tmp_path / "o.onnx", metric=spec, max_metric_drop=0.05)
    a = r["auto"]
    assert a["accepted"], a["reason"]
    assert a["budget"]["metric"] == spec and a["budget"]["max_metric_drop"] == 0.05
    m = a["chosen"]["held_out_metric"]
    assert m["original"] == 1.0 and 0.95 <= m["converted"] < 1.0
    assert m["drop"] == pytest.approx(m["original"] - m["converted"]) and m["drop"] <= 0.05


def test_a_metric_budget_no_rewrite_meets_returns_the_original(setup, tmp_path, monkeypatch):
    """Any rewrite moves some Relu output across zero, so a drop of 0 cannot be met."""
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))
    r = _auto(setup, tmp_path / "o.onnx", metric=f"{setup / 'metric.py'}:sign_agreement", max_metric_drop=0.0)
    assert not r["auto"]["accepted"] and "max metric drop 0" in r["auto"]["reason"]
    assert (tmp_path / "o.onnx").read_bytes() == (setup / "m.onnx").read_bytes()


def test_builtin_metrics():
    ref = {"logits": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)}
    out = {"logits": np.array([[0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.1, 0.9]], np.float32)}
    assert top1_agreement(out, ref, None) == 0.75
    assert load_metric("top1_agreement") is top1_agreement
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]]], np.float32)
    scores = np.array([[0.9, 0.8, 0.1]], np.float32)  # the third box is below the score floor
    moved = boxes + np.array([1, 1, 1, 1], np.float32)  # IoU 81/119 = 0.68 with the original
    far = boxes + np.array([0, 0, 0, 0], np.float32)
    far[0, 1] += 8  # IoU 4/196: no longer a match
    det = detection_agreement("boxes", "scores")
    assert det({"boxes": moved, "scores": scores}, {"boxes": boxes, "scores": scores}, None) == 1.0
    assert det({"boxes": far, "scores": scores}, {"boxes": boxes, "scores": scores}, None) == 0.5
    assert load_metric("detections:boxes, scores")({"boxes": far, "scores": scores},
                                                   {"boxes": boxes, "scores": scores}, None) == 0.5


@pytest.mark.parametrize(("kw", "field", "words"), [
    ({"metric": "top1_agreement"}, "max_metric_drop", "needs both"),
    ({"max_metric_drop": 0.1}, "metric", "needs both"),
    ({"metric": "top5", "max_metric_drop": 0.1}, "metric", "FILE.py:FUNCTION"),
    ({"metric": "nowhere.py:f", "max_metric_drop": 0.1}, "metric", "no such file"),
    ({"metric": "top1_agreement", "max_metric_drop": -1.0}, "max_metric_drop", "0 or more"),
])
def test_bad_metric_options_name_their_field(kw, field, words):
    with pytest.raises(OptionError) as info:
        ConvertOptions(method="auto", **kw).validate()
    assert info.value.field == field and words in info.value.detail


def test_cli_metric_errors_are_one_line(setup, tmp_path):
    (tmp_path / "bad.py").write_text("raise RuntimeError('broken at import')\n")
    proc = subprocess.run([sys.executable, "-m", "sepconv", "convert", str(setup / "m.onnx"), "-o",
                           str(tmp_path / "o.onnx"), "--method", "auto", "--data", str(setup / "d.npz"),
                           "--metric", f"{tmp_path / 'bad.py'}:f", "--max-metric-drop", "0.1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("sepconv: error: --metric") and "RuntimeError: broken at import" in line
