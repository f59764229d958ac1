"""The conversion: analyse every Conv, decide a method and rank per layer, rewrite.

``convert_model`` edits a loaded model in place and returns the per-layer rows of the
report; ``convert_file`` is the whole job of the CLI and the service: load, convert,
check, save atomically, verify in ONNX Runtime, and build the report.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from math import prod
from pathlib import Path

import onnx

from .data import load_npz, prepare_inputs
from .errors import SepconvError
from .graph import ModelGraph
from .layers import ConvLayer, find_conv_layers
from .methods import METHODS, Factorization, Method
from .methods.base import emitted_params
from .modelio import load_model_sized, save_model
from .options import AUTO, ConvertOptions
from .ranks import RankPolicy
from .report import build_report, count_params, layer_row
from .shapes import infer_shapes
from .verify import verify
from .version import __version__


@dataclass
class Decision:
    """What happens to one layer."""

    layer: ConvLayer
    method: Method | None = None
    rank: int | None = None
    fact: Factorization | None = None
    reason: str | None = None
    macs_after: int | None = None
    params_after: int | None = None

    @property
    def rewritten(self) -> bool:
        return self.reason is None


def analyse(model: onnx.ModelProto, input_shapes: dict[str, list[int]],
            load_weights: bool = True) -> tuple[ModelGraph, list[ConvLayer]]:
    """Index the model and describe every Conv in it."""
    mg = ModelGraph(model)
    return mg, find_conv_layers(mg, infer_shapes(model, input_shapes), load_weights)


def decide(layer: ConvLayer, method: Method, policy: RankPolicy, options: ConvertOptions,
           mg: ModelGraph | None = None) -> Decision:
    """Method, rank and cost for one layer, or the reason it stays as it is (weights are
    read from ``mg`` only for layers that get this far)."""
    dec = Decision(layer)
    if options.include and not re.search(options.include, layer.name):
        dec.reason = "not matched by --include"
    elif options.exclude and re.search(options.exclude, layer.name):
        dec.reason = "matched by --exclude"
    else:
        dec.reason = method.ineligible(layer)
    if dec.reason:
        return dec
    if mg is not None:
        layer.load(mg)
    dec.fact = method.factorize(layer)
    rank, reason = policy.choose(method, layer, dec.fact)
    if rank is None:
        dec.reason = reason
        return dec
    dec.method, dec.rank = method, rank
    dec.macs_after, dec.params_after = method.macs(layer, rank), method.params(layer, rank)
    if layer.macs is not None and dec.macs_after >= layer.macs and not options.force:
        dec.reason = (f"no saving at rank {rank}: {dec.macs_after:,} >= {layer.macs:,} multiplications "
                      "(--force applies it anyway)")
    return dec


def apply(mg: ModelGraph, dec: Decision) -> list[str]:
    """Replace the layer's Conv (and folded BatchNormalization) by the method's nodes."""
    assert dec.method is not None and dec.fact is not None and dec.rank is not None
    emitted = dec.method.emit(dec.layer, dec.fact, dec.rank, mg)
    dec.params_after = emitted_params(emitted)
    removed = [dec.layer.batchnorm] if dec.layer.batchnorm is not None else []
    mg.replace(dec.layer.ref, emitted.nodes, emitted.initializers, removed)
    return [n.name for n in emitted.nodes]


def convert_model(model: onnx.ModelProto, options: ConvertOptions) -> list[dict]:
    """Rewrite the model in place; return one report row per Conv."""
    policy = options.validate()
    method = METHODS[options.method]
    mg, layers = analyse(model, options.input_shapes, load_weights=False)
    if not layers:
        raise SepconvError("the model has no Conv node to convert", kind="no_conv")
    rows: list[dict] = [{}] * len(layers)
    # largest weights first: their SVD workspace is the peak, and fewer new factors are held by then
    for i in sorted(range(len(layers)), key=lambda k: -prod(layers[k].weight_shape)):
        layer = layers[i]
        dec = decide(layer, method, policy, options, mg)
        new_nodes = apply(mg, dec) if dec.rewritten else []
        rows[i] = layer_row(dec, new_nodes)
        dec.fact = None
        layer.release()  # the factors are in the graph now
    mg.commit()
    stamp(model, options)
    return rows


def stamp(model: onnx.ModelProto, options: ConvertOptions) -> None:
    """Record the tool version and options in the model's metadata_props."""
    entries = {"sepconv.version": __version__,
               "sepconv.options": json.dumps(options.as_dict(), sort_keys=True)}
    keep = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for k, v in entries.items():
        model.metadata_props.add(key=k, value=v)


def convert_file(source: str | Path, output: str | Path, options: ConvertOptions,
                 data: str | Path | None = None, report_path: str | Path | None = None) -> dict:
    """Load, convert, check, save (atomically), verify and report. Returns the report."""
    options.validate()  # fail on bad options before reading anything
    for path, flag in ((output, "-o"), (report_path, "--report")):
        if path is not None and Path(path).is_dir():
            raise SepconvError(f"{flag} {path}: is a folder; give a file name")
        if path is not None and Path(path).resolve() == Path(source).resolve():
            raise SepconvError(f"{flag} {path} is the input model: choose another path (the original is needed "
                               "to verify the conversion)")
    if options.method == AUTO:
        from .auto import convert_auto_file
        return convert_auto_file(source, output, options, data, report_path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model, bytes_before = load_model_sized(source)
    params_before = count_params(model)
    data_arrays = load_npz(data) if data is not None and options.verify else None
    original_inputs = None
    if options.verify:  # check the data against the model before spending time on it
        original_inputs = prepare_inputs(model, options.input_shapes, data_arrays, options.seed)
    timings["load_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    rows = convert_model(model, options)
    timings["convert_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    bytes_after = save_model(model, output, check=True)
    params_after = count_params(model)
    del model
    timings["save_s"] = time.perf_counter() - t2
    verification = None
    if original_inputs is not None:
        t3 = time.perf_counter()
        try:
            verification = verify(source, output, original_inputs, options.threads, options.seed)
        except SepconvError:  # a model that cannot be verified is not handed out
            Path(output).unlink(missing_ok=True)
            Path(str(output) + ".data").unlink(missing_ok=True)
            raise
        timings["verify_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    report = build_report(rows, options.as_dict(), verification,
                          params=(params_before, params_after), file_bytes=(bytes_before, bytes_after),
                          source=str(source), output=str(output), timings=timings)
    if report_path is not None:
        from .report import write_report
        write_report(report, report_path)
    return report
