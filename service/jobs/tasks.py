"""What the worker processes run: validation, conversion, benchmark (the production task table).

Everything that parses user files runs here, not in the API process: a crafted protobuf or
npz that crashes or bloats its parser takes down one worker (whose job is marked failed),
never the server. Paths come from the job queue and the artifacts (blob and temporary paths
they built), never from a request. Errors are :class:`converter.SepconvError` with the internal paths replaced by
the names the user knows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import onnx
from sepconv.converter import (
    ConvertOptions,
    Limits,
    SepconvError,
    check_model,
    convert_file,
    input_shapes,
    inspect_model,
    iter_tensors,
    load_npz,
    npz_headers,
    prepare_inputs,
)
from sepconv.converter import benchmark as run_benchmark

from ..storage.blob_store import sha256_file
from .proto_text import first_non_text
from .verdict import conversion_verdict
from .wording import reword_report

Progress = Callable[[str, float | None], None]


# -- validation -------------------------------------------------------------------------------
def validate_model(payload: dict, progress: Progress) -> dict:
    """Parse, refuse external data, run the checker, analyse. Returns the analysis."""
    path, name = Path(payload["path"]), payload["name"]
    with _renamed(path, name):
        model = _parse(path, name)
        Limits.from_env().check_structure(name, model)  # nodes, initializers, nesting: before the walks below
        refuse_external_data(model, name)
        if odd := first_non_text(model):
            raise SepconvError(f"{name}: a text field is not UTF-8 ({odd}); name nodes and tensors in UTF-8")
        if len(model.graph.node) == 0:
            raise SepconvError(f"{name}: not an ONNX model (the graph has no nodes)", "unsupported")
        check_model(model, name)
        analysis = inspect_model(model, {})
    if analysis.get("convs", 0) == 0:
        ops = sorted({n.op_type for n in model.graph.node})
        shown = ", ".join(ops[:8]) + (", ..." if len(ops) > 8 else "")
        raise SepconvError(f"{name}: the model has no Conv node, so there is nothing to factorize "
                           f"(its operators: {shown}); upload a CNN with Conv layers", "no_conv")
    return analysis


def _parse(path: Path, name: str) -> onnx.ModelProto:
    if path.stat().st_size == 0:
        raise SepconvError(f"{name}: the file is empty", "unsupported")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError and friends: truncated or not ONNX at all
        raise SepconvError(f"{name}: not a valid ONNX model (the file is truncated, or is not an ONNX "
                           "protobuf)", "unsupported") from None
    if not model.HasField("graph"):
        raise SepconvError(f"{name}: not an ONNX model (no graph)", "unsupported")
    return model


def refuse_external_data(model: onnx.ModelProto, name: str) -> None:
    """An upload is one file, so any external-data reference points outside it: refuse it
    (onnx's external-data path-traversal CVEs read or write arbitrary files through these)."""
    for t in iter_tensors(model):
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            where = next((e.value for e in t.external_data if e.key == "location"), "?")
            raise SepconvError(f"{name}: tensor {t.name!r} keeps its data in an external file ({where!r}); "
                               "upload a self-contained model (onnx.save with save_as_external_data=False)")


def validate_dataset(payload: dict, progress: Progress) -> dict:
    """List the npz's arrays from their headers (no pickles, nothing loaded whole); declared sizes
    past the limits (SEPCONV_MAX_DATASET_BYTES, SEPCONV_MAX_COMPRESSION_RATIO) are refused (413)."""
    headers = npz_headers(payload["path"], payload["name"], limits=Limits.from_env())
    return {"arrays": [{"name": h.name, "shape": list(h.shape), "dtype": h.dtype.name} for h in headers]}


def check_data(payload: dict, progress: Progress) -> dict:
    """Do the dataset's arrays fit the model's inputs? (Answered before a job is queued.)"""
    with _renamed(Path(payload["data"]), payload["data_name"]):
        model = onnx.load(payload["model"], load_external_data=False)
        inputs = prepare_inputs(model, payload["input_shapes"], load_npz(payload["data"]), 0)
    return {"samples": inputs.samples, "batch": inputs.batch}


# -- jobs -----------------------------------------------------------------------------------------
def convert(payload: dict, progress: Progress) -> dict:
    """Convert, judge the result (:mod:`.verdict`), then analyse and hash it so the API process only
    has to move it. A conversion that changed nothing stores no model: ``sha256`` is None."""
    output = Path(payload["output"])
    options = ConvertOptions(**payload["options"])
    with _renamed(Path(payload["source"]), payload["source_name"]), \
            _renamed(Path(payload["data"]) if payload.get("data") else None, payload.get("data_name")):
        report = convert_file(payload["source"], output, options, data=payload.get("data"),
                              progress=lambda stage, fraction: progress(stage, 0.9 * fraction))
    reword_report(report)
    verdict = conversion_verdict(report, payload["options"])
    if not verdict["stored"]:  # the output is the original again: no copy of it is stored or offered
        output.unlink(missing_ok=True)
        return {"report": report, "analysis": None, "sha256": None, "size": None, "verdict": verdict}
    if Path(str(output) + ".data").exists():
        raise SepconvError("the converted model is over 2 GB and needs external data, which the service "
                           "does not store yet; convert it with the CLI")
    progress("analysing result", 0.9)
    model = onnx.load(str(output), load_external_data=False)
    analysis = inspect_model(model, options.input_shapes)
    del model
    return {"report": report, "analysis": analysis, "sha256": sha256_file(output), "size": output.stat().st_size,
            "verdict": verdict}


def benchmark(payload: dict, progress: Progress) -> dict:
    """Latency of up to six models on the same inputs; against the first, each other's speedup and
    output difference; top-1 accuracy per model where the dataset has class labels."""
    paths, batch = payload["models"], payload.get("batch")
    progress("preparing inputs", 0.05)
    overrides = dict(payload["input_shapes"])
    if len(paths) > 1:
        overrides = _shared_shapes(paths, overrides)
    with _renamed(Path(payload["data"]) if payload.get("data") else None, payload.get("data_name")):
        model = onnx.load(paths[0], load_external_data=False)
        data = load_npz(payload["data"]) if payload.get("data") else None
        inputs = prepare_inputs(model, overrides, data, payload.get("seed", 0), samples=batch if data is None else None)
    del model, data
    if batch is not None and not inputs.whole:
        _check_batch_fits(inputs, batch)
    progress("timing", 0.1)
    t0 = time.perf_counter()
    try:
        result = run_benchmark(paths, inputs, runs=payload["runs"], warmup=payload["warmup"],
                               threads=payload.get("threads"), labels=payload["labels"], batch=batch)
    except ValueError as exc:  # a batch the models refuse (the API checks what it can before queueing)
        raise SepconvError(str(exc)) from None
    result["inputs"] = {"source": inputs.source, "samples": inputs.samples, "batch": result["batch_size"],
                        "dataset_id": payload.get("dataset_id"), "dataset_name": payload.get("data_name")}
    result["elapsed_s"] = time.perf_counter() - t0
    return result


def _check_batch_fits(inputs, batch: int) -> None:
    """A batch asked for must fit the tensor limit as it is (it is not cut like a default one)."""
    limits = Limits.from_env()
    for name, a in inputs.arrays.items():
        limits.batch_for(name, a.shape[1:], a.dtype, batch, fixed=True)


def _shared_shapes(paths: list[str], overrides: dict) -> dict:
    """Inputs for several models: where one model fixes a dim another leaves symbolic, the inputs
    take the fixed size, so they fit all. (The API checked that the models are compatible.)"""
    shapes = []
    for p in paths:
        model = onnx.load(p, load_external_data=False)
        shapes.append(input_shapes(model, overrides))
        del model
    a = shapes[0]
    for b in shapes[1:]:
        if sorted(a) != sorted(b):
            raise SepconvError(f"the models take different inputs ({', '.join(a)} vs {', '.join(b)}); "
                               "a benchmark compares versions of one model")
    merged = dict(overrides)
    for name, sa in a.items():
        if name in overrides or sa is None or None not in sa:
            continue
        others = [s[name] for s in shapes[1:]]
        if any(sb is None or len(sb) != len(sa) for sb in others):
            continue
        both = tuple(next((s[d] for s in [sa, *others] if s[d] is not None), None) for d in range(len(sa)))
        if None not in both:
            merged[name] = list(both)
    return merged


TASKS: dict[str, Callable[[dict, Progress], dict]] = {
    "validate_model": validate_model, "validate_dataset": validate_dataset, "check_data": check_data,
    "convert": convert, "benchmark": benchmark,
}


class _renamed:
    """Replace an internal path by the user's name in the message of a SepconvError."""

    def __init__(self, path: Path | None, name: str | None) -> None:
        self.path, self.name = path, name

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp, exc, tb) -> bool:
        if isinstance(exc, SepconvError) and self.path is not None and self.name:
            msg = str(exc).replace(str(self.path), self.name)
            raise SepconvError(msg, exc.kind) from None
        return False
