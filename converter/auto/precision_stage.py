"""Which precision a conversion hands out: int8 built on float candidates, each timed whole.

Auto mode hands this stage the float models it would consider, latest first: the one its search
chose, one half way along its path, the original. A factorization the budget fully spent leaves
no room for int8's error, while fewer rewrites may leave enough, so each start gets its own int8
layers within the whole budget (``precision.within_budget``); later starts reuse the first one's
calibration method and the node sensitivities measured so far, by node name (the ranking only: each
start's bisection and held-out check judge its own models). The int8 candidates are timed together,
interleaved with the original, briefly; the fastest gets the whole-model check that float results get
(``check``), and is handed out only where it saves at least ``min_gain`` of the original's time
and beats the float result's measured ratio. A model the quantizer cannot take keeps the float
result, with the quantizer's reason in the report.

The fixed methods use ``for_fixed``: ``--precision int8`` quantizes every node; ``auto`` keeps
nodes float within the budget and hands out int8 only where it measured faster than the float model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import onnx

from ..data import InputSet
from ..errors import SepconvError
from ..options import ConvertOptions
from ..precision import AUTO_PRECISION, FLOAT, REGISTRY
from ..progress import Steps, ignore_steps, sub_step
from ..timing import median_ms
from .precision import INT8, Quantized, every_layer, within_budget
from .search import Budget
from .split import split

#: Seconds each int8 candidate is timed against the original before the fastest is checked whole.
CANDIDATE_SECONDS = 1.0
#: A start's model with every node in int8 that times within this share above the ratio to beat
#: still gets its search for nodes to keep float (a brief timing's noise); slower ones do not.
NOISE_MARGIN = 0.05


@dataclass
class Start:
    """A float model the stage may build int8 on: its step on auto mode's path and choice there."""

    step: int
    choice: dict
    model: onnx.ModelProto


@dataclass
class Picked:
    """The stage's answer: the int8 model and the start it came from (None: the float result
    stands), its whole-model latency, and the report's ``precision`` section."""

    quantized: Quantized | None
    start: Start | None
    latency: dict | None
    section: dict


def choose(starts: list[Start], original: bytes, fit: InputSet, held: InputSet, budget: Budget, options: ConvertOptions,
           metric, feed: dict, check: Callable[[bytes], dict], float_ratio: float | None, min_gain: float,
           steps: Steps = ignore_steps) -> Picked:
    """The fastest int8 model within the budget, or the float result with the reason (``steps``
    hears each start begin, and the check)."""
    section: dict = {"requested": options.precision, "chosen": FLOAT, "starts": [], "reason": None}
    found: list[tuple[dict, Start, Quantized]] = []
    calibrations: tuple[str, ...] | None = None  # the first start's held-out data picks it for all
    known: dict[str, float] = {}  # sensitivities measured on earlier starts, reused by node name
    bar = (1.0 - min_gain) if float_ratio is None else min(1.0 - min_gain, float_ratio)
    for done, start in enumerate(starts):
        steps(done, len(starts) + 1, sub_step("quantizing", "float model", done + 1, len(starts),
                                              f"step {start.step}" if start.step else "the original"))
        row = {"step": start.step, "int8_nodes": 0, "float_nodes": None, "held_out": None, "timed_ratio": None,
               "every_node_int8_ratio": None, "float_between_int8": None}
        try:
            q = within_budget(start.model, original, fit, held, budget, options.threads, metric,
                              fallback=options.precision == AUTO_PRECISION, calibrations=calibrations, known=known,
                              worth=partial(_fast_enough, row, original, feed, options.threads, bar))
        except SepconvError as exc:
            section["reason"] = str(exc)
            return Picked(None, None, None, section)
        section["starts"].append(row)
        if q is not None:
            row.update(int8_nodes=len(q.int8_nodes), float_nodes=len(q.float_nodes), held_out=q.section()["held_out"])
            calibrations = (q.calibration,)
            found.append((row, start, q))
    if not found:
        section["reason"] = _none_found(section["starts"], budget, bar)
        return Picked(None, None, None, section)
    # every start's int8 model in one interleaved timing with the original, so none wins by its moment
    ms = median_ms([original] + [q.model.SerializeToString() for _, _, q in found], feed, options.threads,
                   CANDIDATE_SECONDS * len(found), min_runs=5, max_runs=200)
    for (row, _, _), after in zip(found, ms[1:]):
        row["timed_ratio"] = after / ms[0]
    _, start, q = min(found, key=lambda f: f[0]["timed_ratio"])
    steps(len(starts), len(starts) + 1, "quantizing: timing the fastest int8 model against the original")
    latency = check(q.model.SerializeToString())
    section.update(q.section())
    if not latency["ratio"] < bar:
        section["reason"] = (f"int8 was not measurably faster: {latency['ratio']:.3f} of the original's time "
                             f"against {bar:.3f} needed" + _islands_said(section["float_between_int8"]))
        return Picked(None, None, None, section)
    section["chosen"] = INT8 if not q.float_nodes else "mixed"
    return Picked(q, start, latency, section)


def _fast_enough(row: dict, original: bytes, feed: dict, threads: int | None, bar: float,
                 every_node: onnx.ModelProto) -> bool:
    """Whether a start's model with every node in int8 (which missed the budget) times within
    NOISE_MARGIN of ``bar``: if not, no set of nodes kept float is searched for (``row`` keeps the ratio)."""
    before, after = median_ms([original, every_node.SerializeToString()], feed, threads, CANDIDATE_SECONDS,
                              min_runs=5, max_runs=200)
    row["every_node_int8_ratio"] = after / before
    row["float_between_int8"] = REGISTRY[INT8].float_islands(every_node)
    return _within_noise(after / before, bar)


def _within_noise(ratio: float, bar: float) -> bool:
    return ratio < bar * (1.0 + NOISE_MARGIN)


def _none_found(rows: list[dict], budget: Budget, bar: float) -> str:
    slow = [r for r in rows if r["every_node_int8_ratio"] is not None
            and not _within_noise(r["every_node_int8_ratio"], bar)]
    if rows and len(slow) == len(rows):
        best = min(slow, key=lambda r: r["every_node_int8_ratio"])
        return (f"int8 would not be faster: with every node in int8 it measured {best['every_node_int8_ratio']:.3f} "
                f"of the original's time against {bar:.3f} needed, and nodes kept float only add to that"
                + _islands_said(best["float_between_int8"]))
    return f"no layer could run in int8 within the budget ({budget.describe()}) on the held-out data"


def _islands_said(islands: dict[str, int] | None) -> str:
    """Why int8 was slow, where ops without int8 kernels sat between its layers: '; ONNX Runtime...'."""
    if not islands:
        return ""
    ops = ", ".join(f"{n} {op}" for op, n in islands.items())
    return (f"; ONNX Runtime has no int8 kernel for the ops int8 layers feed here ({ops}), so each "
            "costs a dequantize and float work")


def for_fixed(converted: onnx.ModelProto, original: bytes, inputs: InputSet, options: ConvertOptions,
              check: Callable[[bytes, bytes, dict], dict], metric=None) -> tuple[onnx.ModelProto, dict]:
    """A fixed method's rewrite at ``options.precision``: every node int8, or within the budget
    (``metric``: the user's, loaded). ``check(float_bytes, int8_bytes, feed)`` times the two against
    each other (precision auto only)."""
    batch = inputs.batch if inputs.fixed else 1
    parts = split(inputs, options.seed, batch)
    section: dict = {"requested": options.precision, "chosen": INT8, "reason": None}
    if options.precision != AUTO_PRECISION:
        q = every_layer(converted, original, parts.fit, parts.held, options.threads)
        section.update(q.section())
        return q.model, section
    budget = Budget(options.max_error, options.max_accuracy_drop, options.max_metric_drop)
    try:
        q = within_budget(converted, original, parts.fit, parts.held, budget, options.threads, metric)
    except SepconvError as exc:  # under auto, a model the quantizer cannot take stays float, with the reason
        section.update(chosen=FLOAT, reason=str(exc))
        return converted, section
    if q is None:
        section.update(chosen=FLOAT, reason=f"no layer could run in int8 within the budget ({budget.describe()})")
        return converted, section
    section.update(q.section())
    feed = {k: v[:batch] for k, v in parts.held.arrays.items()}
    section["latency"] = timed = check(converted.SerializeToString(), q.model.SerializeToString(), feed)
    if not timed["ratio"] < 1.0:
        section.update(chosen=FLOAT, reason=f"int8 measured {timed['ratio']:.3f} of the float model's time"
                       + _islands_said(section["float_between_int8"]))
        return converted, section
    section["chosen"] = INT8 if not q.float_nodes else "mixed"
    return q.model, section
