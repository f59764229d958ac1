"""Comparing a model's outputs with the original's, batch by batch: one scorer for the report's
verification and for auto mode's budget checks.

Per output: the max absolute error, the relative L2 error ``||b - a|| / ||a||``, the cosine
similarity, non-finite values, and for ``N x classes`` outputs how often the top-1 class
agrees; with labels, accuracy of both. Sums are kept, not outputs, so memory stays bounded
by one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def is_class_scores(a: np.ndarray) -> bool:
    """An N x classes output, the shape whose argmax is a prediction."""
    return a.ndim == 2 and a.shape[1] > 1 and np.issubdtype(a.dtype, np.floating)


def is_class_labels(labels: np.ndarray | None) -> bool:
    """One whole number per sample: labels an accuracy can be computed from."""
    return labels is not None and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)


@dataclass
class OutputStats:
    """Running sums for one output. Positions where either side is not finite are counted in
    ``nonfinite`` and left out of the sums; ``new_nonfinite`` counts those the original had finite."""

    name: str
    max_abs: float = 0.0
    diff_sq: float = 0.0
    ref_sq: float = 0.0
    new_sq: float = 0.0
    dot: float = 0.0
    top1_same: int = 0
    top1_total: int = 0
    nonfinite: int = 0
    new_nonfinite: int = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        fa, fb = np.isfinite(a64), np.isfinite(b64)
        finite = fa & fb
        self.nonfinite += int(np.count_nonzero(~finite))
        self.new_nonfinite += int(np.count_nonzero(fa & ~fb))
        a64, b64 = np.where(finite, a64, 0.0), np.where(finite, b64, 0.0)
        d = b64 - a64
        if d.size:
            self.max_abs = max(self.max_abs, float(np.abs(d).max()))
        self.diff_sq += float(np.sum(d * d))
        self.ref_sq += float(np.sum(a64 * a64))
        self.new_sq += float(np.sum(b64 * b64))
        self.dot += float(np.sum(a64 * b64))
        if is_class_scores(a):
            self.top1_same += int(np.count_nonzero(a.argmax(1) == b.argmax(1)))
            self.top1_total += len(a)

    @property
    def rel_l2(self) -> float | None:
        """None where the original output is all zeros and the new one is not."""
        if self.ref_sq:
            return float(np.sqrt(self.diff_sq / self.ref_sq))
        return 0.0 if self.diff_sq == 0 else None

    def result(self) -> dict:
        denom = np.sqrt(self.ref_sq * self.new_sq)
        cos = float(self.dot / denom) if denom else (1.0 if self.diff_sq == 0 else 0.0)
        return {
            "name": self.name, "max_abs_error": self.max_abs, "rel_l2_error": self.rel_l2, "cosine_similarity": cos,
            "top1_agreement": self.top1_same / self.top1_total if self.top1_total else None,
            "nonfinite_values": self.nonfinite,
        }


@dataclass
class Comparison:
    """Both models' outputs on the same batches, accumulated; with labels, both accuracies."""

    names: list[str]
    labels: np.ndarray | None = None
    outputs: list[OutputStats] = field(init=False)
    class_output: int | None = None  # the first N x classes output, found on the first batch
    correct: list[int] = field(default_factory=lambda: [0, 0])
    samples: int = 0

    def __post_init__(self) -> None:
        self.outputs = [OutputStats(n) for n in self.names]
        if not is_class_labels(self.labels):
            self.labels = None  # labels for a metric (boxes, masks, strings): no accuracy from them

    def add(self, ref: list[np.ndarray], got: list[np.ndarray], batch: int) -> None:
        for st, a, b in zip(self.outputs, ref, got):
            st.add(a, b)
        if self.labels is not None:
            if self.class_output is None:
                self.class_output = next((i for i, a in enumerate(ref) if is_class_scores(a)), -1)
            if self.class_output >= 0:
                y = self.labels[self.samples:self.samples + len(ref[self.class_output])]
                for k, out in enumerate((ref, got)):
                    self.correct[k] += int(np.count_nonzero(out[self.class_output].argmax(1) == y))
        self.samples += batch

    def accuracy(self) -> dict | None:
        """Accuracy before and after, and the drop in points; None without labels or class scores."""
        if self.labels is None or self.class_output is None or self.class_output < 0 or not self.samples:
            return None
        before, after = self.correct[0] / self.samples, self.correct[1] / self.samples
        return {"output": self.names[self.class_output], "before": before, "after": after,
                "drop_points": 100.0 * (before - after)}
