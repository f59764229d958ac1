"""Each layer's saving measured in its model, not only alone.

A one-layer model times a candidate against its Conv with nothing around it: the layers it
shares memory, caches and threads with in the whole model are missing, and so are the session's
fixed costs, which a tiny layer's time is mostly made of. On the wide sample, one layer's
candidates saved about twice as much alone as in the model, the others' 0.7x to 1.2x as much. So for each layer,
the whole model with only that layer's largest-saving candidate rewritten is timed against the
original, interleaved; the ratio of that saving to the one-layer model's is the layer's context
factor, and all its candidates' savings are scaled by it. A layer whose rewrite saves nothing in
its model (factor 0, the median of three timings) is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from ..layers import ConvLayer
from ..progress import Steps, ignore_steps, sub_step
from ..timing import median_ms
from .allocate import LayerPlan, build_model

#: Seconds of interleaved whole-model timing per layer; and the factor's bounds.
LAYER_SECONDS = 0.4
FACTOR_RANGE = (0.0, 2.0)
#: A factor below this is confirmed by two more timings (the median of three counts): noise alone
#: must not keep a layer that does save time.
LOW = 0.25


def measure_context(model: onnx.ModelProto, layers: list[ConvLayer], plans: list[LayerPlan], original: bytes,
                    feed: dict, threads: int | None, steps: Steps = ignore_steps,
                    timer: Callable[..., list[float]] = median_ms) -> None:
    """Set each plan's ``context`` factor (plans without a time-saving candidate keep 1.0)."""
    for done, plan in enumerate(plans):
        steps(done, len(plans), sub_step("timing in the model", "layer", done + 1, len(plans), plan.layer.name))
        opts = plan.options()
        if opts:
            c = max(opts, key=plan.saved_alone_ms)
            alone = plan.saved_alone_ms(c)
            pair = [original, build_model(model, layers, {plan.index: c}).SerializeToString()]
            in_model = _saved(timer, pair, feed, threads)
            if in_model < LOW * alone:  # before a layer is kept or demoted on one timing, two more: the median
                in_model = float(np.median([in_model, _saved(timer, pair, feed, threads),
                                            _saved(timer, pair, feed, threads)]))
            plan.context_saved_ms = in_model
            plan.context = float(np.clip(in_model / alone, *FACTOR_RANGE)) if alone > 0 else 0.0


def _saved(timer: Callable[..., list[float]], pair: list[bytes], feed: dict, threads: int | None) -> float:
    """Milliseconds the second model saves against the first, timed interleaved."""
    before, after = timer(pair, feed, threads, LAYER_SECONDS, min_runs=5, max_runs=300)
    return before - after
