"""A conversion's verdict: can a person trust the result at a glance, and what did it gain?

A pure function of the converter's report and the options the user gave. Quality is judged
against what the user asked for: auto mode's (or precision auto's) budget; for the fixed methods,
which ask for no budget, against the thresholds below. Gain is the multiplications ratio, the
share of the multiplications in int8, and the whole-model latency where auto mode measured one.

Levels: ``good`` (within the budget or thresholds, something gained), ``warn`` (usable, but look:
over the budget by a little, or nothing gained), ``broken`` (the outputs moved far: the model no
longer computes what the original did), ``unchecked`` (verification was off: nothing measured it),
``unchanged`` (nothing rewritten and no int8: no new model is stored).
"""

from __future__ import annotations

#: Fixed methods: below this top-1 agreement, above this relative L2 error or accuracy drop
#: (points), or with any new non-finite value, a result is broken.
BROKEN_TOP1 = 0.9
BROKEN_REL_L2 = 0.2
BROKEN_DROP = 5.0
#: Fixed methods: at or better than all of these, a result is good; between, it asks for a look.
GOOD_TOP1 = 0.98
GOOD_REL_L2 = 0.05
GOOD_DROP = 1.0
#: Auto mode meets its budget on held-out data: over it on the whole verification set is a warning
#: (past the broken thresholds above, whatever the budget, it is broken).

THRESHOLDS_TEXT = (f"fixed-method thresholds: good at top-1 agreement ≥ {GOOD_TOP1:.0%}, rel. L2 ≤ {GOOD_REL_L2:g} "
                   f"and accuracy drop ≤ {GOOD_DROP:g} points; broken below {BROKEN_TOP1:.0%} agreement, above "
                   f"rel. L2 {BROKEN_REL_L2:g} or a {BROKEN_DROP:g}-point drop")


def conversion_verdict(report: dict, options: dict) -> dict:
    """The verdict on one conversion: level, a short label, one line for lists, the reasons in
    words, the measured quality and gain, whether a new model is stored and whether its download
    is the one the page recommends."""
    gain = _gain(report)
    if not gain["changed"]:
        why = _unchanged_reason(report)
        return {"level": "unchanged", "label": "No change", "summary": f"nothing rewritten: {why}",
                "reasons": [f"Nothing was rewritten and nothing is in int8 ({why}), so no new model was stored: "
                            "the original is the result."],
                "quality": None, "gain": gain, "stored": False, "recommend_download": False}
    quality = _quality(report, options)
    level, reasons = quality.pop("level"), quality.pop("reasons")
    if level in ("good", "warn") and not gain["gained"]:
        level = "warn"
        reasons.append("It saves nothing: no fewer multiplications and nothing in int8.")
    label = {"good": "Good", "warn": "Check", "broken": "Broken", "unchecked": "Unchecked"}[level]
    summary = "; ".join(x for x in (quality["text"], gain["text"]) if x)
    return {"level": level, "label": label, "summary": summary, "reasons": reasons, "quality": quality,
            "gain": gain, "stored": True, "recommend_download": level == "good"}


def _gain(report: dict) -> dict:
    totals = report.get("totals") or {}
    macs = totals.get("conv_macs") or {}
    ratio = macs.get("ratio")
    by = totals.get("conv_macs_by_precision") or {}
    int8 = by.get("int8") or 0
    whole = (by.get("int8") or 0) + (by.get("float") or 0)
    int8_share = int8 / whole if whole else 0.0
    auto = report.get("auto") or {}
    latency = auto.get("latency") or {}
    speedup = latency.get("speedup") if auto.get("accepted") and latency.get("after_ms") else None
    changed = bool(totals.get("rewritten")) or int8 > 0
    parts = [f"{ratio:.2f}× the multiplications" if ratio is not None else None,
             f"{int8_share:.0%} of them in int8" if int8_share else None,
             f"{speedup:.2f}× faster (measured)" if speedup else None]
    return {"changed": changed, "gained": (ratio is not None and ratio < 1) or int8_share > 0 or bool(speedup),
            "macs_ratio": ratio, "int8_share": int8_share, "speedup": speedup,
            "text": ", ".join(p for p in parts if p)}


def _unchanged_reason(report: dict) -> str:
    auto = report.get("auto") or {}
    if auto.get("reason"):
        return auto["reason"]
    precision = report.get("precision") or {}
    totals = report.get("totals") or {}
    head = f"0 of {totals.get('convs', 0)} Convs rewritten"
    skipped = [lay for lay in report.get("layers") or [] if lay.get("reason")]
    if skipped:
        head += f"; {skipped[0]['name']}: {skipped[0]['reason']}"
    if precision.get("requested") not in (None, "float") and precision.get("reason"):
        head += f"; int8: {precision['reason']}"
    return head


def _measured(verification: dict) -> dict:
    outs = verification.get("outputs") or []
    top1 = [o["top1_agreement"] for o in outs if o.get("top1_agreement") is not None]
    rel = [o["rel_l2_error"] for o in outs if o.get("rel_l2_error") is not None]
    acc = verification.get("accuracy") or {}
    return {"checked": True, "on": verification.get("inputs"), "samples": verification.get("samples"),
            "top1": min(top1) if top1 else None, "rel_l2": max(rel) if rel else None,
            "accuracy_drop": acc.get("drop_points"), "nonfinite": sum(o.get("nonfinite_values") or 0 for o in outs)}


def _budget(options: dict) -> dict | None:
    if options.get("method") != "auto" and options.get("precision") != "auto":
        return None
    return {"max_error": options.get("max_error"), "max_accuracy_drop": options.get("max_accuracy_drop")}


def _quality(report: dict, options: dict) -> dict:
    verification = report.get("verification")
    budget = _budget(options)
    if not verification:
        return {"level": "unchecked", "checked": False, "budget": budget, "text": "not verified",
                "reasons": ["Nothing checked this model: verification was off, so no one measured how far its "
                            "outputs moved from the original's. Convert again with verification on (and a dataset)."]}
    m = _measured(verification)
    m["budget"] = budget
    m["against"] = _describe_budget(budget) if budget else THRESHOLDS_TEXT
    m["text"] = _quality_text(m)
    level, reasons = _judge(m, budget)
    if m["on"] != "data":
        reasons.append("Checked on random inputs only: upload a dataset for a check on real samples.")
    return {**m, "level": level, "reasons": reasons}


def _judge(m: dict, budget: dict | None) -> tuple[str, list[str]]:
    top1, rel, drop = m["top1"], m["rel_l2"], m["accuracy_drop"]
    if m["nonfinite"]:
        return "broken", [f"Its outputs hold {m['nonfinite']} non-finite values (NaN or inf) the original's do not."]
    broken = [s for s in (
        f"top-1 agreement with the original is {top1:.0%} (below {BROKEN_TOP1:.0%})" if top1 is not None
        and top1 < BROKEN_TOP1 else None,
        f"rel. L2 error {rel:.3g} (above {BROKEN_REL_L2:g})" if rel is not None and rel > BROKEN_REL_L2 else None,
        f"accuracy fell {drop:.1f} points (more than {BROKEN_DROP:g})" if drop is not None and drop > BROKEN_DROP
        else None) if s]
    if broken:
        return "broken", [f"Broken: {'; '.join(broken)}. The converted model no longer computes what the original "
                          "does; do not use it. Keep more rank (or use auto mode with a budget)."]
    if budget:
        over = _over_budget(m, budget)
        if not over:
            return "good", [f"Within the budget you asked for ({_describe_budget(budget)})."]
        return "warn", [f"Over the budget you asked for on the verification samples: {'; '.join(over)}."]
    soft = [s for s in (
        f"top-1 agreement {top1:.1%}" if top1 is not None and top1 < GOOD_TOP1 else None,
        f"rel. L2 error {rel:.3g}" if rel is not None and rel > GOOD_REL_L2 else None,
        f"accuracy drop {drop:.2f} points" if drop is not None and drop > GOOD_DROP else None) if s]
    if soft:
        return "warn", [f"Usable, but its outputs moved: {'; '.join(soft)} (against the {THRESHOLDS_TEXT})."]
    return "good", [f"Its outputs stay close to the original's (against the {THRESHOLDS_TEXT})."]


def _over_budget(m: dict, budget: dict) -> list[str]:
    over = []
    if budget.get("max_error") is not None and m["rel_l2"] is not None and m["rel_l2"] > budget["max_error"]:
        over.append(f"rel. L2 error {m['rel_l2']:.3g} against {budget['max_error']:g}")
    drop_max = budget.get("max_accuracy_drop")
    if drop_max is not None and m["accuracy_drop"] is not None and m["accuracy_drop"] > drop_max + 1e-9:
        over.append(f"accuracy drop {m['accuracy_drop']:.2f} points against {drop_max:g}")
    return over


def _describe_budget(budget: dict) -> str:
    parts = [f"rel. L2 ≤ {budget['max_error']:g}" if budget.get("max_error") is not None else None,
             f"accuracy drop ≤ {budget['max_accuracy_drop']:g} points"
             if budget.get("max_accuracy_drop") is not None else None]
    return " and ".join(p for p in parts if p) or "no bound"


def _quality_text(m: dict) -> str:
    parts = [f"top-1 agreement {m['top1']:.0%}" if m["top1"] is not None else None,
             f"rel. L2 {m['rel_l2']:.2g}" if m["rel_l2"] is not None else None,
             f"accuracy drop {m['accuracy_drop']:.1f} pt" if m["accuracy_drop"] is not None else None]
    return ", ".join(p for p in parts if p)
