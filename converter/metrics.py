"""The user's own measure of a converted model, for auto mode's budget (``--metric``,
``--max-metric-drop``), as NNCF's ``validation_fn`` and AIMET's ``eval_callback`` take one.

A metric is called ``metric(outputs, reference, labels)`` and returns one float, higher is
better: ``outputs`` and ``reference`` map each output name to the converted and the original
model's outputs on the same samples (samples on the first axis); ``labels`` is the data's
``labels`` array for those samples (any dtype or shape) or None. The original's own score is
``metric(reference, reference, labels)``; the budget bounds how far the converted one falls below.

Built in (the only ones the service offers: it never runs code from a request):
``top1_agreement`` (the share of samples whose top class agrees with the original's) and
``detections:BOXES,SCORES`` (the F1 of the converted model's boxes matched to the original's by
IoU >= 0.5, boxes ``[N, K, 4]`` as x1, y1, x2, y2 and scores ``[N, K]``, kept from score 0.25).
A user's function is ``path/to/file.py:function`` (the CLI and the library only).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .compare import is_class_scores
from .errors import OptionError, SepconvError, first_line

Metric = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray | None], float]
BUILTIN = ("top1_agreement", "detections:BOXES,SCORES")
IOU, MIN_SCORE = 0.5, 0.25


def top1_agreement(outputs: dict, reference: dict, labels: np.ndarray | None) -> float:
    """The share of samples whose argmax class, on the first N x classes output, is the original's."""
    name = next((n for n, a in reference.items() if is_class_scores(a)), None)
    if name is None:
        raise ValueError("top1_agreement needs an N x classes output; the model has none")
    return float(np.mean(outputs[name].argmax(1) == reference[name].argmax(1)))


def detection_agreement(boxes: str, scores: str) -> Metric:
    """The F1 of the converted model's detections against the original's, per sample, averaged."""
    def metric(outputs: dict, reference: dict, labels: np.ndarray | None) -> float:
        f1 = [_f1(outputs[boxes][i], outputs[scores][i], reference[boxes][i], reference[scores][i])
              for i in range(len(reference[boxes]))]
        return float(np.mean(f1)) if f1 else 1.0
    return metric


def _f1(boxes: np.ndarray, scores: np.ndarray, ref_boxes: np.ndarray, ref_scores: np.ndarray) -> float:
    got, want = boxes[scores >= MIN_SCORE], ref_boxes[ref_scores >= MIN_SCORE]
    if len(got) == 0 and len(want) == 0:
        return 1.0
    iou = _iou(got, want)
    matched = 0
    while iou.size and iou.max() >= IOU:  # greedy: the best remaining pair, then neither again
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        matched += 1
        iou[i, :], iou[:, j] = -1.0, -1.0
    return 2.0 * matched / (len(got) + len(want))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def score(metric: Metric, spec: str, outputs: dict, reference: dict, labels: np.ndarray | None) -> float:
    """Call the metric; whatever goes wrong in it is the user's, reported in one line."""
    try:
        value = float(metric(outputs, reference, labels))
    except Exception as exc:  # the user's code: any exception
        hint = "" if labels is not None else " (it was called with labels=None: no data with 'labels' was given)"
        raise SepconvError(f"the metric {spec} failed: {type(exc).__name__}: {first_line(exc)}{hint}") from None
    if not np.isfinite(value):
        raise SepconvError(f"the metric {spec} returned {value}, not a finite number")
    return value


def is_builtin(spec: str) -> bool:
    return spec == "top1_agreement" or (spec.startswith("detections:") and spec.count(",") == 1)


def metric_of(spec: str | None) -> tuple[str, Metric] | None:
    """The spec with the metric it names, as the evaluators take it; None without a spec."""
    return (spec, load_metric(spec)) if spec else None


def load_metric(spec: str) -> Metric:
    """The metric a spec names: a built-in one, or ``file.py:function`` (imported from that file)."""
    if spec == "top1_agreement":
        return top1_agreement
    if spec.startswith("detections:"):
        names = spec.split(":", 1)[1].split(",")
        if len(names) != 2 or not all(n.strip() for n in names):
            raise OptionError("metric", "expected detections:BOXES,SCORES (the two output names)", repr(spec))
        return detection_agreement(names[0].strip(), names[1].strip())
    path, _, name = spec.rpartition(":")  # checked by ConvertOptions.validate
    module_spec = importlib.util.spec_from_file_location(f"sepconv_user_metric_{Path(path).stem}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: any error it raises is theirs, in one line
        raise OptionError("metric", f"{path} failed to import: {type(exc).__name__}: {exc}", repr(spec)) from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise OptionError("metric", f"{path} has no function {name!r}", repr(spec))
    return fn
