"""The conversion report: one JSON document, its schema in ``report_schema.json``.

``totals`` (multiplications, parameters and file bytes before/after with ratios),
``layers`` (one row per Conv: rewritten with method, rank and costs, or skipped with a
reason), ``verification`` and ``options``. Written atomically.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from .macs import ratio
from .modelio import iter_tensors, tensor_numel, write_bytes_atomic
from .shapes import shape_list
from .version import __version__

if TYPE_CHECKING:
    from .plan import Decision

SCHEMA_VERSION = 1


def schema() -> dict:
    """The report's JSON Schema."""
    return json.loads(resources.files(__package__).joinpath("report_schema.json").read_text())


def layer_row(dec: Decision, new_nodes: list[str]) -> dict:
    """One Conv as the report shows it."""
    layer = dec.layer
    fact = dec.fact
    rewritten = dec.rewritten
    row = {
        "name": layer.name, "graph": layer.graph_path,
        "status": "rewritten" if rewritten else "skipped", "reason": dec.reason,
        "method": dec.method.name if dec.method is not None and rewritten else None,
        "rank": dec.rank if rewritten else None,
        "full_rank": fact.full_rank if fact is not None else None,
        "weight_shape": list(layer.weight_shape),
        "input_shape": shape_list(layer.input_shape), "output_shape": shape_list(layer.output_shape),
        **layer.attributes(),
        "batchnorm_folded": bool(rewritten and layer.batchnorm is not None),
        "macs_before": layer.macs,
        "macs_after": dec.macs_after if rewritten else layer.macs,
        "params_before": layer.params,
        "params_after": dec.params_after if rewritten else layer.params,
        "weight_rel_error": fact.rel_error(dec.rank) if rewritten and fact is not None and dec.rank else None,
        "energy_kept": fact.energy(dec.rank) if rewritten and fact is not None and dec.rank else None,
        "new_nodes": new_nodes,
    }
    return row



def count_params(model: onnx.ModelProto) -> int:
    """Elements of every tensor the model holds (initializers, Constant values), in all graphs."""
    return sum(tensor_numel(t) for t in iter_tensors(model))


def _pair(before: int | None, after: int | None) -> dict:
    return {"before": before, "after": after,
            "ratio": ratio(after, before) if before is not None and after is not None else None}


def build_report(rows: list[dict], options: dict, verification: dict | None, *, params: tuple[int, int],
                 file_bytes: tuple[int | None, int | None], source: str | None = None, output: str | None = None,
                 timings: dict | None = None) -> dict:
    """Assemble the report document."""
    known = [r for r in rows if r["macs_before"] is not None]
    rewritten = [r for r in rows if r["status"] == "rewritten"]
    totals = {
        "convs": len(rows), "rewritten": len(rewritten), "skipped": len(rows) - len(rewritten),
        "conv_macs": _pair(sum(r["macs_before"] for r in known), sum(r["macs_after"] for r in known)),
        "convs_with_unknown_macs": len(rows) - len(known),
        "params": _pair(*params),
        "file_bytes": _pair(*file_bytes),
    }
    return {
        "schema_version": SCHEMA_VERSION, "tool": {"name": "sepconv", "version": __version__},
        "source": source, "output": output, "totals": totals, "layers": rows,
        "verification": verification, "options": options, "timings": timings or {},
    }


def mark_precision(report: dict, precision: dict) -> None:
    """Each layer's precision (int8 where all its nodes run in int8, mixed where some do) and the
    multiplications at each precision, from the precision stage's section."""
    int8 = set(precision.get("int8_nodes") or []) if precision.get("chosen") != "float" else set()
    by: dict[str, int] = {"int8": 0, "float": 0}
    for row in report["layers"]:
        nodes = row["new_nodes"] or [row["name"]]
        inside = sum(n in int8 for n in nodes)
        row["precision"] = "int8" if inside == len(nodes) else "mixed" if inside else "float"
        macs = row["macs_after"] or 0
        if row["precision"] == "mixed":  # a pair's share by its nodes is not known here: count it float
            by["float"] += macs
        else:
            by[row["precision"]] += macs
    report["totals"]["conv_macs_by_precision"] = by


def write_report(report: dict, path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p, (json.dumps(report, indent=2) + "\n").encode())
