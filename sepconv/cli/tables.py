"""Readable tables for the CLI (rich), built from the same dicts the JSON output holds."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sepconv.converter import format_shape


def _num(v: object) -> str:
    """One cell: "-" for unknown, thousands separators for counts, 4 significant digits for measurements."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def inspect_table(info: dict, console: Console) -> None:
    """Each Conv with why it can or cannot be rewritten, then the totals and a hint where shapes are unknown."""
    t = Table(title=f"Conv layers (opset {info['opset']})")
    for col in ("name", "weight", "kernel", "group", "input", "output", "MACs", "eligible / why not"):
        t.add_column(col, overflow="fold")
    for r in info["layers"]:
        why = ", ".join(r["eligible"]) or "; ".join(sorted(set(r["reasons"].values())))
        t.add_row(r["name"], format_shape(r["weight_shape"]), format_shape(r["kernel"]), str(r["group"]),
                  format_shape(r["input_shape"]), format_shape(r["output_shape"]), _num(r["macs"]), why)
    console.print(t)
    console.print(f"{info['convs']} Convs, {info['eligible_convs']} eligible; conv multiplications "
                  f"{_num(info['conv_macs'])} ({_num(info['eligible_conv_macs'])} in eligible Convs); "
                  f"{_num(info['params'])} parameters")
    if info["convs_with_unknown_macs"]:
        console.print(f"{info['convs_with_unknown_macs']} Convs have unknown shapes: fix symbolic input dims "
                      "with --input-shape NAME=1x3x224x224")


def report_table(report: dict, console: Console) -> None:
    """A conversion report: what happened to each layer, what it saved, and how close the outputs stayed."""
    # auto mode refits the last factor on data: its weight error says little (it can exceed 1 for a
    # layer that is fine), so the table shows the layer's output error on the data instead
    auto = bool(report.get("auto"))
    precision = report.get("precision")
    t = Table(title="Layers")
    for col in ("name", "status", "method", "rank", "MACs before", "MACs after",
                "output err" if auto else "weight err", *(["prec"] if precision else []), "reason"):
        t.add_column(col, overflow="fold")
    for r in report["layers"]:
        err = r.get("output_rel_error") if auto else r["weight_rel_error"]
        t.add_row(r["name"], r["status"], r["method"] or "-", _num(r["rank"]), _num(r["macs_before"]),
                  _num(r["macs_after"]), _num(err), *([r.get("precision", "float")] if precision else []),
                  r["reason"] or "")
    console.print(t)
    tot = report["totals"]
    s = Table(title="Totals")
    for col in ("", "before", "after", "ratio"):
        s.add_column(col)
    for key, label in (("conv_macs", "conv multiplications"), ("params", "parameters"), ("file_bytes", "file bytes")):
        p = tot[key]
        s.add_row(label, _num(p["before"]), _num(p["after"]), _num(p["ratio"]))
    console.print(s)
    console.print(f"{tot['rewritten']} of {tot['convs']} Convs rewritten, {tot['skipped']} skipped")
    verification_table(report.get("verification"), console)
    if report.get("auto"):
        auto_summary(report["auto"], console)
    if precision:
        precision_summary(precision, tot, console)


def precision_summary(p: dict, totals: dict, console: Console) -> None:
    """Which precision was handed out, on what calibration, which layers stayed float and why."""
    by = totals.get("conv_macs_by_precision") or {}
    cal = p.get("calibration") or {}
    line = f"precision: {p['chosen']} (asked for {p['requested']})"
    if p["chosen"] != "float":
        line += (f"; conv multiplications in int8 {_num(by.get('int8'))}, in float {_num(by.get('float'))}; "
                 f"calibration {cal.get('method')} on {cal.get('samples')} samples, chosen on held-out data")
    console.print(line)
    for f in p.get("float_nodes") or []:
        console.print(f"precision: {f['node']} {f['reason']}")
    for note in p.get("notes") or []:
        console.print(f"precision: {note}")
    if p.get("reason"):
        console.print(f"precision: kept float: {p['reason']}")


def auto_summary(auto: dict, console: Console) -> None:
    """Auto mode in words: the budget, how strong its check was, and what was chosen or why nothing was."""
    budget = auto.get("budget", {})
    parts = [f"output error <= {budget['max_error']:g}"] if budget.get("max_error") is not None else []
    if budget.get("max_accuracy_drop") is not None:
        parts.append(f"accuracy drop <= {budget['max_accuracy_drop']:g} points")
    if budget.get("metric") is not None:
        parts.append(f"{budget['metric']} drop <= {budget['max_metric_drop']:g}")
    split = auto.get("split", {})
    console.print(f"auto mode: budget {' and '.join(parts)}, checked on {split.get('held_out')} held-out samples "
                  f"({'your data' if auto.get('inputs') == 'data' else 'random inputs: a weaker guarantee'}; "
                  f"{split.get('fit')} samples used for fitting)")
    lat = auto.get("latency") or {}
    if auto.get("accepted"):
        chosen = auto.get("chosen") or {}
        console.print(f"auto mode: chose step {chosen.get('step')} of the explored trade-off: held-out error "
                      f"{chosen.get('held_out_error', 0):.4g}; whole-model median latency "
                      f"{lat.get('before_ms', 0):.3f} -> {lat.get('after_ms', 0):.3f} ms "
                      f"({lat.get('speedup', 0):.2f}x, measured interleaved at {auto.get('threads')} threads: the "
                      "speedup holds at that thread count; set --threads to the deployment's)")
        if chosen.get("held_out_metric"):
            m = chosen["held_out_metric"]
            console.print(f"auto mode: {budget.get('metric')} on held-out data {m['original']:.4g} -> "
                          f"{m['converted']:.4g} (drop {m['drop']:.4g})")
    else:
        console.print(f"auto mode: the original model is returned unchanged: {auto.get('reason')}")


def verification_table(ver: dict | None, console: Console) -> None:
    """Output differences beside the noise floor, so a reader can tell a real error from float rounding."""
    if not ver:
        console.print("verification: off")
        return
    what = "the data" if ver["inputs"] == "data" else f"seeded random inputs (seed {ver.get('seed')})"
    t = Table(title=f"Verification in ONNX Runtime: converted vs original on {ver['samples']} samples of {what}")
    for col in ("output", "max abs error", "rel L2 error", "cosine", "top-1 agreement", "noise floor"):
        t.add_column(col)
    for o in ver["outputs"]:
        t.add_row(o["name"], _num(o["max_abs_error"]), _num(o["rel_l2_error"]), _num(o["cosine_similarity"]),
                  _num(o["top1_agreement"]), _num(o.get("rel_l2_noise_floor")))
    console.print(t)
    console.print("noise floor: the original against itself with ONNX Runtime's graph optimizations off "
                  "(float rounding alone)")
    acc = ver.get("accuracy")
    if acc:
        console.print(f"accuracy on the labels: {acc['before']:.2%} before, {acc['after']:.2%} after "
                      f"({acc['drop_points']:+.2f} points drop)")


def bench_table(result: dict, console: Console) -> None:
    """Latencies, and for two models the speedup beside how far their outputs differ."""
    t = Table(title=f"ONNX Runtime latency ({result['runs']} runs, batch {result['batch_size']}, "
                    f"threads {result['threads'] or 'default'})")
    for col in ("model", "median ms", "p90 ms", "mean ms", "throughput /s"):
        t.add_column(col, overflow="fold")
    for m in result["models"]:
        t.add_row(m["name"], _num(m["median_ms"]), _num(m["p90_ms"]), _num(m["mean_ms"]), _num(m["throughput_per_s"]))
    console.print(t)
    if "speedup" in result:
        worst = max((o["rel_l2_error"] or 0.0) for o in result["output_difference"])
        console.print(f"speedup (median first / median second): {result['speedup']:.3f}x; "
                      f"largest relative L2 output difference {worst:.3g}")


def batch_table(rows: list[dict], console: Console) -> None:
    """One row per input, a failed one showing its error where a converted one shows its output."""
    t = Table(title="Batch summary")
    for col in ("input", "status", "rewritten", "MACs ratio", "worst rel L2 error", "output / error"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["input"], r["status"], _num(r.get("rewritten")), _num(r.get("macs_ratio")),
                  _num(r.get("worst_rel_l2_error")), r.get("output") or r.get("error") or "")
    console.print(t)
