"""A conversion as one variant of its source model: a short tag that tells it apart, and its row.

Every conversion of ``digits_wide.onnx`` is filed as ``digits_wide.sepconv.onnx``; the tag (``auto 1%
· int8``) names what the user asked for, so that a list of them reads. :func:`conversion_tag` is the
one place it is spelled: the models list, the jobs list and the variants table all show it.
:func:`variant_summary` is a conversion job as a row of its model's variants table: what was asked,
what it gained (multiplications, measured latency), how far its outputs moved, its size and verdict,
and the options to convert again with; never the whole report.
"""

from __future__ import annotations

#: the rank policy a fixed method uses when none is given (``ConvertOptions``' default)
DEFAULT_POLICY = ("ratio", 0.5)


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


def _budget_text(options: dict) -> str:
    parts = []
    if options.get("max_error") is not None:
        parts.append(_pct(options["max_error"]))
    if options.get("max_accuracy_drop") is not None:
        parts.append(f"−{options['max_accuracy_drop']:g} pt")
    if options.get("max_metric_drop") is not None:
        metric = str(options.get("metric") or "metric").split(":")[0]
        parts.append(f"{metric} −{options['max_metric_drop']:g}")
    return " & ".join(parts)


def _policy(options: dict) -> tuple[str, object, bool]:
    """The fixed methods' rank policy: (kind, value, whether it is the default)."""
    for kind in ("rank", "energy", "ratio"):
        if options.get(kind) is not None:
            return kind, options[kind], False
    return DEFAULT_POLICY[0], DEFAULT_POLICY[1], True


def _policy_text(options: dict) -> str:
    kind, value, _ = _policy(options)
    if kind == "rank":
        return "full rank" if value == "full" else f"rank {value}"
    return f"{kind} {value:g}" if isinstance(value, int | float) else f"{kind} {value}"


def conversion_tag(options: dict) -> str:
    """What a conversion asked for, in a few words: ``auto 1% · int8``, ``depthwise ratio 0.3``,
    ``int8 auto 0.5%``, ``spatial rank 4 · some layers``."""
    method = options.get("method") or "depthwise"
    precision = options.get("precision") or "float"
    budget = _budget_text(options)
    parts = []
    if method == "auto":
        parts.append(f"auto {budget}".strip())
    elif method != "none":
        parts.append(f"{method} {_policy_text(options)}")
    if precision == "int8":
        parts.append("int8")
    elif precision == "auto":
        parts.append("int8 auto" if method == "auto" else f"int8 auto {budget}".strip())
    if options.get("include") or options.get("exclude"):
        parts.append("some layers")
    if options.get("force"):
        parts.append("forced")
    return " · ".join(parts) or "no change"


def asked(options: dict) -> list[dict]:
    """The budget or rank policy the user gave, as {kind, value, default}."""
    out = []
    method, precision = options.get("method"), options.get("precision")
    if method not in ("auto", "none"):
        kind, value, default = _policy(options)
        out.append({"kind": kind, "value": value, "default": default})
    if method == "auto" or precision == "auto":
        out += [{"kind": k, "value": options[k], "default": False}
                for k in ("max_error", "max_accuracy_drop", "max_metric_drop") if options.get(k) is not None]
    return out


def _latency_ratio(report: dict, options: dict) -> float | None:
    """The converted model's measured whole-model latency over the original's, where one was measured:
    auto mode's, or precision auto's when nothing else was rewritten (its float model is the original)."""
    auto = report.get("auto")
    if auto:
        ratio = (auto.get("latency") or {}).get("ratio")
        return ratio if ratio is not None or auto.get("accepted") else 1.0
    precision = report.get("precision") or {}
    latency = precision.get("latency") or {}
    if options.get("method") == "none" and precision.get("chosen") not in (None, "float"):
        return latency.get("ratio")
    return None


def _error(report: dict) -> tuple[float | None, str | None]:
    """The output error (relative L2): on the held-out samples where auto mode (or precision auto)
    judged one, else on the verification samples."""
    auto = report.get("auto")
    if auto and auto.get("accepted") and (auto.get("chosen") or {}).get("held_out_error") is not None:
        return auto["chosen"]["held_out_error"], "held-out"
    precision = report.get("precision") or {}
    held = precision.get("held_out") or {}
    if precision.get("requested") == "auto" and precision.get("chosen") not in (None, "float") \
            and held.get("max_error") is not None:
        return held["max_error"], "held-out"
    rel = [o["rel_l2_error"] for o in (report.get("verification") or {}).get("outputs") or []
           if o.get("rel_l2_error") is not None]
    return (max(rel), "verification") if rel else (None, None)


def variant_summary(job: dict, model: dict | None) -> dict:
    """One conversion job as a row of its source model's variants (``model``: the converted model's row)."""
    options = job["params"].get("options") or {}
    result = job.get("result") or {}
    report = result.get("report") or {}
    verdict = result.get("verdict")
    totals = report.get("totals") or {}
    error, error_on = _error(report)
    accuracy = (report.get("verification") or {}).get("accuracy") or {}
    return {
        "job_id": job["id"], "state": job["state"], "created": job["created"], "finished": job.get("finished"),
        "model_id": result.get("model_id"), "name": model["name"] if model else None,
        "tag": conversion_tag(options), "method": options.get("method"), "precision": options.get("precision"),
        "precision_chosen": (report.get("precision") or {}).get("chosen"), "asked": asked(options),
        "macs_ratio": (totals.get("conv_macs") or {}).get("ratio"),
        "latency_ratio": _latency_ratio(report, options) if report else None,
        "error": error, "error_on": error_on, "accuracy_drop": accuracy.get("drop_points"),
        "size": model["size"] if model else (totals.get("file_bytes") or {}).get("after"),
        "verdict": {k: verdict.get(k) for k in ("level", "label", "summary")} if verdict else None,
        "failure": (job.get("error") or {}).get("message"),
        "options": options, "dataset_id": job["params"].get("dataset_id"),
    }
