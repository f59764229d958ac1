"""Running the original and the converted model on the same inputs and comparing.

Statistics are accumulated batch by batch (memory stays bounded by one batch):
per output the max absolute error, the relative L2 error ``||b - a|| / ||a||``, the cosine
similarity, and, for ``N x classes`` outputs, how often the top-1 class agrees. With labels,
accuracy before and after. The noise floor (the original against itself with graph
optimizations off) says how much of an error is float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import InputSet
from .runtime import ModelSource, run, session


@dataclass
class _OutputStats:
    name: str
    max_abs: float = 0.0
    diff_sq: float = 0.0
    ref_sq: float = 0.0
    new_sq: float = 0.0
    dot: float = 0.0
    top1_same: int = 0
    top1_total: int = 0
    nonfinite: int = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        finite = np.isfinite(a64) & np.isfinite(b64)
        self.nonfinite += int(np.count_nonzero(~finite))
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

    def result(self) -> dict:
        rel = float(np.sqrt(self.diff_sq / self.ref_sq)) if self.ref_sq else (0.0 if self.diff_sq == 0 else None)
        denom = np.sqrt(self.ref_sq * self.new_sq)
        cos = float(self.dot / denom) if denom else (1.0 if self.diff_sq == 0 else 0.0)
        return {
            "name": self.name, "max_abs_error": self.max_abs, "rel_l2_error": rel, "cosine_similarity": cos,
            "top1_agreement": self.top1_same / self.top1_total if self.top1_total else None,
            "nonfinite_values": self.nonfinite,
        }


def is_class_scores(a: np.ndarray) -> bool:
    """An N x classes output, the shape whose argmax is a prediction."""
    return a.ndim == 2 and a.shape[1] > 1 and np.issubdtype(a.dtype, np.floating)


def verify(original: ModelSource, converted: ModelSource, inputs: InputSet, threads: int | None = None,
           seed: int | None = None, noise_floor: bool = True) -> dict:
    """Compare two models output by output on the same inputs; see the module docstring.

    With ``noise_floor``, the original also runs with ONNX Runtime's graph optimizations off:
    its relative L2 difference to itself (``rel_l2_noise_floor``) is the float rounding any
    rewrite is up against on these inputs, so an error near it is rounding, not approximation.
    """
    s0, s1 = session(original, threads), session(converted, threads)
    s_ref = session(original, threads, optimization="disabled") if noise_floor else None
    names = [o.name for o in s0.get_outputs()]
    stats = [_OutputStats(n) for n in names]
    floors = [_OutputStats(n) for n in names]
    correct0 = correct1 = 0
    class_output: int | None = None
    offset = 0
    for feed in inputs.batches():
        out0, out1 = run(s0, feed, "the original model"), run(s1, feed, "the converted model")
        for st, a, b in zip(stats, out0, out1):
            st.add(a, b)
        if s_ref is not None:
            for st, a, r in zip(floors, out0, run(s_ref, feed, "the original model")):
                st.add(a, r)
        if inputs.labels is not None:
            if class_output is None:
                class_output = next((i for i, a in enumerate(out0) if is_class_scores(a)), -1)
            if class_output >= 0:
                y = inputs.labels[offset:offset + len(out0[class_output])]
                correct0 += int(np.count_nonzero(out0[class_output].argmax(1) == y))
                correct1 += int(np.count_nonzero(out1[class_output].argmax(1) == y))
        offset += len(next(iter(feed.values())))
    accuracy = None
    if inputs.labels is not None and class_output is not None and class_output >= 0:
        before, after = correct0 / inputs.samples, correct1 / inputs.samples
        accuracy = {"output": names[class_output], "before": before, "after": after,
                    "drop_points": 100.0 * (before - after)}
    return {
        "inputs": inputs.source, "samples": inputs.samples, "batch_size": inputs.batch,
        "seed": seed if inputs.source == "random" else None,
        "outputs": [{**s.result(), "rel_l2_noise_floor": f.result()["rel_l2_error"] if s_ref else None}
                    for s, f in zip(stats, floors)],
        "accuracy": accuracy,
    }
