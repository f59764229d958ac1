"""Running the original and the converted model on the same inputs and comparing them.

The statistics are :mod:`~sepconv.converter.compare`'s, accumulated batch by batch. The noise
floor (the original against itself with graph optimizations off) says how much of an error is
float rounding.
"""

from __future__ import annotations

from .compare import Comparison
from .data import InputSet
from .runtime import ModelSource, run, session


def verify(original: ModelSource, converted: ModelSource, inputs: InputSet, threads: int | None = None,
           seed: int | None = None, noise_floor: bool = True) -> dict:
    """Compare two models output by output on the same inputs.

    With ``noise_floor``, the original also runs with ONNX Runtime's graph optimizations off:
    its relative L2 difference to itself (``rel_l2_noise_floor``) is the float rounding any
    rewrite is up against on these inputs, so an error near it is rounding, not approximation.
    """
    s0, s1 = session(original, threads), session(converted, threads)
    s_ref = session(original, threads, optimization="disabled") if noise_floor else None
    names = [o.name for o in s0.get_outputs()]
    cmp, floor = Comparison(names, inputs.labels), Comparison(names)
    for feed in inputs.batches():
        batch = len(next(iter(feed.values())))
        out0 = run(s0, feed, "the original model")
        cmp.add(out0, run(s1, feed, "the converted model"), batch)
        if s_ref is not None:
            floor.add(out0, run(s_ref, feed, "the original model"), batch)
    return {
        "inputs": inputs.source, "samples": inputs.samples, "samples_given": inputs.given or inputs.samples,
        "batch_size": inputs.batch,
        "seed": seed if inputs.source == "random" else None,
        "outputs": [{**s.result(), "rel_l2_noise_floor": f.rel_l2 if s_ref else None}
                    for s, f in zip(cmp.outputs, floor.outputs)],
        "accuracy": cmp.accuracy(),
    }
