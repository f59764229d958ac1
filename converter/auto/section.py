"""What auto mode adds to the report: per-layer rows and the ``auto`` section's decisions."""

from __future__ import annotations

import numpy as np

from ..layers import ConvLayer
from ..methods import Candidate, Emitted, emitted_params
from ..plan import Decision
from ..report import layer_row
from .allocate import LayerPlan
from .candidates import weight_rel_error


def layer_rows(layers: list[ConvLayer], reasons: dict[int, str], plans: list[LayerPlan],
               choice: dict[int, Candidate], emitted: dict[int, Emitted], accepted: bool) -> list[dict]:
    """The standard per-layer rows of the report (what replaced each layer, or why it stayed)."""
    by_index = {p.index: p for p in plans}
    rows = []
    for i, layer in enumerate(layers):
        c = choice.get(i)
        if c is None:
            rows.append(layer_row(Decision(layer, reason=reasons.get(i) or _kept(by_index.get(i), accepted)), []))
            continue
        em = emitted.get(i)
        dec = Decision(layer, c.method, c.rank, None, None, c.macs, emitted_params(em) if em else c.params)
        row = layer_row(dec, [n.name for n in em.nodes] if em is not None else [])
        assert layer.weight is not None
        row["weight_rel_error"] = weight_rel_error(c, layer.weight.astype(np.float64))
        row["full_rank"] = full_rank(c.kind, layer)
        row["output_rel_error"] = c.error
        rows.append(row)
    return rows


def _kept(plan: LayerPlan | None, accepted: bool) -> str:
    if plan is None or not plan.options():
        return "kept: no candidate saves measurable time"
    return "kept: no candidate saved time within the budget" if accepted else "kept: the original model was returned"


def layer_decisions(plans: list[LayerPlan], choice: dict[int, Candidate]) -> list[dict]:
    """Auto's per-layer decisions with times, errors and every measured candidate."""
    out = []
    for plan in plans:
        c = choice.get(plan.index)
        out.append({
            "name": plan.layer.name, "decision": c.variant if c is not None else "keep",
            "orig_ms": plan.orig_ms,
            "ms": plan.orig_ms * (c.ms / c.orig_ms) if c is not None and c.ms and c.orig_ms else plan.orig_ms,
            "saved_ms": plan.saved_ms(c) if c is not None else 0.0,
            "context_factor": plan.context, "context_saved_ms": plan.context_saved_ms,
            "layer_error": c.error if c is not None else 0.0, "sensitivity": plan.sensitivity,
            "error_contribution": plan.sensitivity * c.error if c is not None else 0.0,
            "candidates": [{"candidate": o.variant, "macs_ratio": o.macs / (plan.layer.macs or 1),
                            "layer_error": o.error, "layer_error_weights_only": o.extra.get("error_weights_only"),
                            "whitened": bool(o.extra.get("whitened")),
                            "layer_error_unwhitened": o.extra.get("error_plain", o.error),
                            "ms": o.ms, "orig_ms": o.orig_ms} for o in plan.cands if o.ms is not None],
            "time_saving_candidates": len(plan.options()),
        })
    return out


def chosen_point(step: int, choice: dict, curve: list[dict], held: dict | None, latency: dict,
                 calibration: dict | None = None) -> dict:
    """The chosen point of the curve (step 0 and zero errors where the original came back)."""
    if not step:
        return {"step": 0, "layers_rewritten": 0, "fit_error": 0.0, "held_out_error": 0.0, "held_out_errors": None,
                "held_out_accuracy_drop": None, "held_out_metric": None, "predicted_latency_ratio": 1.0,
                "measured_latency_ratio": 1.0}
    return {
        "step": step, "layers_rewritten": len(choice), "fit_error": curve[step - 1]["fit_error"],
        "held_out_error": held["max_error"] if held else 0.0, "held_out_errors": held["errors"] if held else None,
        "held_out_accuracy_drop": held["accuracy_drop"] if held else None,
        "held_out_metric": held["metric"] if held else None,
        "predicted_latency_ratio": curve[step - 1]["predicted_latency_ratio"],
        "calibrated_latency_ratio": calibration["calibrated"] if calibration else None,
        "measured_latency_ratio": latency["ratio"],
    }


def full_rank(method: str, layer: ConvLayer) -> int | None:
    """The rank at which the method's factorization of ``layer`` is exact: the smaller side of the
    matrix it decomposes (the weight's reshapes in ``spatial_svd``, ``depthwise_svd``, ``tucker2_svd``)."""
    cout_g, cin_g, kernel = layer.cout // layer.group, layer.cin_per_group, layer.kernel
    if method == "spatial" and kernel:
        return min(cin_g * kernel[0], cout_g * int(np.prod(kernel[1:])))
    if method == "depthwise":
        return min(cout_g, int(np.prod(kernel)))
    if method == "tucker2":
        return min(layer.cout, layer.cin)
    return None
