"""Readable tables for the CLI (rich), built from the same dicts the JSON output holds.

Every table fits 80 columns: a number or a shape is never split across lines (its column does not
wrap, its header is on two lines instead; multiplications past a billion are written 1.812G),
words wrap whole, names fold only where nothing else gives, and long reasons go under the table
as numbered notes, each said once. Sentences are printed with :func:`say`, which lets a terminal
wrap them at words and never hard-wraps them when piped.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

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


#: Counts from here on are written with a unit (1.812G) in a table's cells, all of a column's alike.
BIG_COUNT = 10**9
#: A name folds, where a table must, at no fewer than this many characters.
NAME_MIN_WIDTH = 12


def _si(v: object) -> str:
    """A count in 4 significant digits and a unit: 154.6G, 18.87M, 294.9k."""
    if not isinstance(v, int):
        return _num(v)
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(v) >= scale:
            return f"{v / scale:.4g}{unit}"
    return str(v)


def _counts(*values: int | None):
    """The cell format for a column of counts: exact with separators, or all with units where one is past
    BIG_COUNT (a column of 15-character numbers would not leave an 80-column table room for anything)."""
    return _si if max((v for v in values if v is not None), default=0) >= BIG_COUNT else _num


def say(console: Console, text: str) -> None:
    """A sentence: wrapped at words on a terminal, one line as it is when piped (a reader or a grep
    gets whole sentences, never "at 2 / threads"). Brackets are text, not rich markup."""
    console.print(text, soft_wrap=not console.is_terminal, markup=False, highlight=False)


def _table(title: str, columns: list[tuple[str, str]]) -> Table:
    """A table whose columns are ``(header, kind)``: ``num`` (right-aligned, never wrapped: a number),
    ``word`` (never wrapped: a shape, a status), ``name`` (folds where it must), ``words`` (wraps at
    spaces, a word never split). Print it with :func:`_fitted`."""
    t = Table(title=title)
    for header, kind in columns:
        if kind in ("num", "word"):
            t.add_column(header, no_wrap=True, justify="right" if kind == "num" else "left")
        else:
            t.add_column(header, overflow="fold", ratio=1 if kind == "words" else None)
    return t


def _fitted(t: Table, console: Console) -> Table:
    """The table with its wrapping columns' widths set to fit the console: the columns that never wrap
    keep their widths; each words column gets at least its longest word (none is split), each name at
    least NAME_MIN_WIDTH (it folds past that), and what room is left goes to those that would use it.
    Only where the console cannot hold even that do words and names fold, and no number is ever cut.
    (rich's own shrinking ignores such floors.)"""
    def lines(col) -> list[str]:
        return [ln for c in [col.header, *col.cells] for ln in str(c).splitlines()] or [""]

    wrapping = [c for c in t.columns if not c.no_wrap]
    room = console.width - (3 * len(t.columns) + 1) - sum(max(map(len, lines(c))) for c in t.columns if c.no_wrap)
    natural = [max(map(len, lines(c))) for c in wrapping]
    longest_word = [max((len(w) for ln in lines(c) for w in ln.split()), default=1) for c in wrapping]
    least = [min(n, w if c.ratio else min(w, NAME_MIN_WIDTH)) for c, n, w in zip(wrapping, natural, longest_word)]
    if sum(least) > room:  # too narrow for whole words: shrink all alike
        least = [max(1, w * max(room, 1) // sum(least)) for w in least]
    widths = list(least)
    for _ in range(max(0, room - sum(widths))):  # the room left, a character at a time, to the most wanting
        i = max(range(len(widths)), key=lambda k: natural[k] - widths[k], default=None)
        if i is None or widths[i] >= natural[i]:
            break
        widths[i] += 1
    for col, width in zip(wrapping, widths):
        col.width = width
    return t


class Notes:
    """Long texts as numbered notes under a table: each text once, its mark ("[1]") in the row."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str | None) -> str:
        if not text:
            return ""
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def print(self, console: Console) -> None:
        for i, text in enumerate(self.texts, start=1):
            say(console, f"[{i}] {text}")


def inspect_table(info: dict, console: Console) -> None:
    """Each Conv with what it could be rewritten as (a note says why not), then the totals and a hint where
    shapes are unknown. Input and output shapes share a column, the output under the input; the group shows where
    some Conv is grouped; the kernel is the weight's last dims (the JSON has each on its own)."""
    grouped = any(r["group"] != 1 for r in info["layers"])
    t = _table(f"Conv layers (opset {info['opset']})", [
        ("name", "name"), ("weight", "num"), *([("group", "num")] if grouped else []),
        ("input\noutput", "word"), ("MACs", "num"), ("eligible", "words")])
    notes, macs = Notes(), _counts(*(r["macs"] for r in info["layers"]))
    for r in info["layers"]:
        note = notes.ref(_why_not(r["reasons"]))
        eligible = (", ".join(r["eligible"]) or "no") + (f" {note}" if note else "")
        t.add_row(*_cells(r["name"], format_shape(r["weight_shape"]), *([str(r["group"])] if grouped else []),
                          f"{format_shape(r['input_shape'])}\n{format_shape(r['output_shape'])}",
                          macs(r["macs"]), eligible))
    console.print(_fitted(t, console))
    notes.print(console)
    say(console, f"{info['convs']} Convs, {info['eligible_convs']} eligible; conv multiplications "
                 f"{_num(info['conv_macs'])} ({_num(info['eligible_conv_macs'])} in eligible Convs); "
                 f"{_num(info['params'])} parameters")
    if info["convs_with_unknown_macs"]:
        say(console, f"{info['convs_with_unknown_macs']} Convs have unknown shapes: fix symbolic input dims "
                     "with --input-shape NAME=1x3x224x224")


def _why_not(reasons: dict[str, str]) -> str:
    """Why methods cannot rewrite a Conv: the reason alone where one reason stops them all, each method's
    otherwise ("spatial: ...")."""
    by_reason: dict[str, list[str]] = {}
    for method, reason in reasons.items():
        by_reason.setdefault(reason, []).append(method)
    if len(by_reason) == 1 and len(reasons) > 1:
        return next(iter(by_reason))
    return "; ".join(f"{' and '.join(methods)}: {reason}" for reason, methods in by_reason.items())


def _cells(*cells: str) -> list[Text]:
    """Cells as plain text: a layer or file name with brackets in it is not rich markup."""
    return [Text(c) for c in cells]


def report_table(report: dict, console: Console) -> None:
    """A conversion report: what happened to each layer, what it saved, and how close the outputs stayed."""
    # auto mode refits the last factor on data: its weight error says little (it can exceed 1 for a
    # layer that is fine), so the table shows the layer's output error on the data instead
    auto = bool(report.get("auto"))
    precision = report.get("precision")
    t = _table("Layers", [("name", "name"), ("method", "word"), ("rank", "num"), ("MACs\nbefore", "num"),
                          ("MACs\nafter", "num"), ("output\nerr" if auto else "weight\nerr", "num"),
                          *([("prec", "word")] if precision else []), ("note", "num")])
    notes = Notes()
    macs = _counts(*(r[k] for r in report["layers"] for k in ("macs_before", "macs_after")))
    for r in report["layers"]:
        err = r.get("output_rel_error") if auto else r["weight_rel_error"]
        method = r["method"] if r["status"] == "rewritten" else r["status"]  # "skipped"
        t.add_row(*_cells(r["name"], method or "-", _num(r["rank"]), macs(r["macs_before"]), macs(r["macs_after"]),
                          _num(err), *([r.get("precision", "float")] if precision else []), notes.ref(r["reason"])))
    if not notes.texts:
        t.columns.pop()
    console.print(_fitted(t, console))
    notes.print(console)
    tot = report["totals"]
    s = _table("Totals", [("", "word"), ("before", "num"), ("after", "num"), ("ratio", "num")])
    for key, label in (("conv_macs", "conv multiplications"), ("params", "parameters"), ("file_bytes", "file bytes")):
        p = tot[key]
        s.add_row(label, _num(p["before"]), _num(p["after"]), _num(p["ratio"]))
    console.print(_fitted(s, console))
    say(console, f"{tot['rewritten']} of {tot['convs']} Convs rewritten, {tot['skipped']} skipped")
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
    say(console, line)
    for f in p.get("float_nodes") or []:
        say(console, f"precision: {f['node']} {f['reason']}")
    for note in p.get("notes") or []:
        say(console, f"precision: {note}")
    islands = p.get("float_between_int8")
    if islands and p["chosen"] != "float":
        say(console, "precision: run float after int8 layers (no int8 kernel in ONNX Runtime): "
                     + ", ".join(f"{n} {op}" for op, n in islands.items()))
    if p.get("reason"):
        say(console, f"precision: kept float: {p['reason']}")


def auto_summary(auto: dict, console: Console) -> None:
    """Auto mode in words: the budget, how strong its check was, and what was chosen or why nothing was."""
    budget = auto.get("budget", {})
    parts = [f"output error <= {budget['max_error']:g}"] if budget.get("max_error") is not None else []
    if budget.get("max_accuracy_drop") is not None:
        parts.append(f"accuracy drop <= {budget['max_accuracy_drop']:g} points")
    if budget.get("metric") is not None:
        parts.append(f"{budget['metric']} drop <= {budget['max_metric_drop']:g}")
    split = auto.get("split", {})
    say(console, f"auto mode: budget {' and '.join(parts)}, checked on {split.get('held_out')} held-out samples "
                 f"({'your data' if auto.get('inputs') == 'data' else 'random inputs: a weaker guarantee'}; "
                 f"{split.get('fit')} samples used for fitting)")
    lat = auto.get("latency") or {}
    if auto.get("accepted"):
        chosen = auto.get("chosen") or {}
        say(console, f"auto mode: chose step {chosen.get('step')} of the explored trade-off: held-out error "
                     f"{chosen.get('held_out_error', 0):.4g}; whole-model median latency "
                     f"{lat.get('before_ms', 0):.3f} -> {lat.get('after_ms', 0):.3f} ms "
                     f"({lat.get('speedup', 0):.2f}x, measured interleaved at {auto.get('threads')} threads: the "
                     "speedup holds at that thread count; set --threads to the deployment's)")
        if chosen.get("held_out_metric"):
            m = chosen["held_out_metric"]
            say(console, f"auto mode: {budget.get('metric')} on held-out data {m['original']:.4g} -> "
                         f"{m['converted']:.4g} (drop {m['drop']:.4g})")
    else:
        say(console, f"auto mode: the original model is returned unchanged: {auto.get('reason')}")


def verification_table(ver: dict | None, console: Console) -> None:
    """Output differences beside the noise floor, so a reader can tell a real error from float rounding."""
    if not ver:
        say(console, "verification: off")
        return
    what = "the data" if ver["inputs"] == "data" else f"seeded random inputs (seed {ver.get('seed')})"
    t = _table(f"ONNX Runtime, converted vs original: {ver['samples']} samples of {what}",
               [("output", "name"), ("max abs\nerror", "num"), ("rel L2\nerror", "num"), ("cosine", "num"),
                ("top-1\nagreement", "num"), ("noise\nfloor", "num")])
    for o in ver["outputs"]:
        t.add_row(*_cells(o["name"], _num(o["max_abs_error"]), _num(o["rel_l2_error"]), _num(o["cosine_similarity"]),
                          _num(o["top1_agreement"]), _num(o.get("rel_l2_noise_floor"))))
    console.print(_fitted(t, console))
    say(console, "noise floor: the original against itself with ONNX Runtime's graph optimizations off "
                 "(float rounding alone)")
    acc = ver.get("accuracy")
    if acc:
        say(console, f"accuracy on the labels: {acc['before']:.2%} before, {acc['after']:.2%} after "
                     f"({accuracy_change(acc['drop_points'])})")


def accuracy_change(drop_points: float) -> str:
    """"dropped 0.31 points", "gained 0.31 points", or "unchanged" where it rounds to 0.00."""
    if round(drop_points, 2) == 0:
        return "unchanged"
    return f"{'dropped' if drop_points > 0 else 'gained'} {abs(drop_points):.2f} points"


def bench_table(result: dict, console: Console) -> None:
    """Latencies, and for two models the speedup beside how far their outputs differ."""
    t = _table(f"ONNX Runtime latency ({result['runs']} runs, batch {result['batch_size']}, "
               f"threads {result['threads'] or 'default'})",
               [("model", "name"), ("median\nms", "num"), ("p90\nms", "num"), ("mean\nms", "num"),
                ("throughput\n/s", "num")])
    for m in result["models"]:
        t.add_row(*_cells(m["name"], _num(m["median_ms"]), _num(m["p90_ms"]), _num(m["mean_ms"]),
                          _num(m["throughput_per_s"])))
    console.print(_fitted(t, console))
    if "speedup" in result:
        worst = max((o["rel_l2_error"] or 0.0) for o in result["output_difference"])
        say(console, f"speedup (median first / median second): {result['speedup']:.3f}x; "
                     f"largest relative L2 output difference {worst:.3g}")
    if result.get("accuracy_samples"):
        each = ", ".join(f"{m['name']} {m['accuracy']:.2%}" for m in result["models"])
        say(console, f"top-1 accuracy on {result['accuracy_samples']} labelled samples: {each}")


def batch_table(rows: list[dict], console: Console) -> None:
    """One row per input, a failed one showing its error where a converted one shows its output."""
    t = _table("Batch summary", [("input", "name"), ("status", "word"), ("rewritten", "num"),
                                 ("MACs\nratio", "num"), ("worst rel\nL2 error", "num"),
                                 ("output / error", "words")])
    for r in rows:
        t.add_row(*_cells(r["input"], r["status"], _num(r.get("rewritten")), _num(r.get("macs_ratio")),
                          _num(r.get("worst_rel_l2_error")), r.get("output") or r.get("error") or ""))
    console.print(_fitted(t, console))
