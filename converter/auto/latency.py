"""Measured latency: per candidate at the layer's real shapes, with its activation, interleaved.

Multiplications do not predict time (layouts, fast paths, memory), so every candidate is
timed in ONNX Runtime as a one-layer model at the layer's input shape, threads and
optimization level, interleaved with the original Conv so that machine noise hits both.
Results are cached on disk in one JSON file, keyed by shape, variant, ONNX Runtime
version, threads and CPU, and reused across models and runs.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from ..graph import Names
from ..layers import ConvLayer
from ..methods import Candidate
from ..methods.emit import conv_node
from ..modelio import write_bytes_atomic
from ..timing import median_ms
from .candidates import emit
from .epilogue import Epilogue

CACHE_FILE = "latency-v2.json"  # v1: timed with spinning sessions, biased
#: Seconds of timing spent on one pair (original + candidate), before the run-count limits.
PAIR_SECONDS = 0.25
MIN_RUNS, MAX_RUNS = 5, 40


def cache_dir() -> Path:
    """``$SEPCONV_CACHE_DIR``, else ``~/.cache/sepconv``."""
    env = os.environ.get("SEPCONV_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sepconv"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolved_threads(threads: int | None) -> int:
    return int(threads or os.cpu_count() or 1)


class LatencyCache:
    """A JSON file of measured pairs; ``hits`` and ``misses`` count this run's lookups."""

    def __init__(self, threads: int | None, directory: Path | None = None) -> None:
        self.path = (directory or cache_dir()) / CACHE_FILE
        self.env = f"ort={ort.__version__}|threads={resolved_threads(threads)}|cpu={cpu_name()}|ncpu={os.cpu_count()}"
        self.hits = self.misses = 0
        self._dirty = False
        try:
            self._data: dict = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._data = {}

    def get(self, key: str) -> dict | None:
        got = self._data.get(self.env, {}).get(key)
        if got is None:
            self.misses += 1
        else:
            self.hits += 1
        return got

    def put(self, key: str, value: dict) -> None:
        self._data.setdefault(self.env, {})[key] = value
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.path, json.dumps(self._data, indent=1, sort_keys=True).encode())
            self._dirty = False
        except OSError:
            pass  # a read-only home must not fail the conversion; the times are only not reused


def shape_key(layer: ConvLayer, batch: int, epilogue: Epilogue | None = None) -> str:
    return (f"conv {layer.cin}->{layer.cout} in {batch}x{'x'.join(map(str, layer.spatial_in or ()))} "
            f"k{'x'.join(map(str, layer.kernel))} s{list(layer.strides)} d{list(layer.dilations)} "
            f"p{list(layer.pads or ())} bias={layer.bias is not None}"
            + (f" then {epilogue.key}" if epilogue is not None else ""))


def _one_layer_model(layer: ConvLayer, batch: int, nodes: list[onnx.NodeProto],
                     inits: list[onnx.TensorProto], opset: int, epilogue: Epilogue | None = None) -> bytes:
    x = helper.make_tensor_value_info(layer.input_name, onnx.TensorProto.FLOAT, [batch, layer.cin,
                                                                                   *(layer.spatial_in or ())])
    out = layer.output_name if epilogue is None else epilogue.output
    y = helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)
    nodes = nodes + list(epilogue.nodes if epilogue is not None else ())
    g = helper.make_graph(nodes, "sepconv_latency", [x], [y], inits)
    ops = [helper.make_opsetid("", opset)]
    return helper.make_model(g, opset_imports=ops, ir_version=_oldest_ir_version(ops)).SerializeToString()


def _oldest_ir_version(ops: list[onnx.OperatorSetIdProto]) -> int:
    """The oldest IR version the opset allows: an ONNX Runtime older than the onnx package still
    loads it (ORT 1.30 refused onnx 1.23's newest); onnx's own where it does not know the opset."""
    try:
        return helper.find_min_ir_version_for(ops)
    except ValueError:
        return onnx.IR_VERSION


def original_model(layer: ConvLayer, batch: int, opset: int, epilogue: Epilogue | None = None) -> bytes:
    assert layer.weight is not None and layer.pads is not None
    namer = Names()
    inits = [numpy_helper.from_array(layer.weight, namer.fresh_name("W"))]
    inputs = [layer.input_name, inits[0].name]
    if layer.bias is not None:
        inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), namer.fresh_name("B")))
        inputs.append(inits[1].name)
    node = conv_node("conv", inputs, layer.output_name, layer.kernel, layer.pads, layer.strides,
                     layer.dilations, layer.group, "original")
    return _one_layer_model(layer, batch, [node], inits, opset, epilogue)


def candidate_model(layer: ConvLayer, cand: Candidate, batch: int, opset: int,
                    epilogue: Epilogue | None = None) -> bytes:
    em = emit(cand, layer, Names())
    return _one_layer_model(layer, batch, em.nodes, em.initializers, opset, epilogue)


def measure_layer(layer: ConvLayer, cands: list[Candidate], batch: int, threads: int | None,
                  cache: LatencyCache, opset: int, epilogue: Epilogue | None = None) -> float:
    """Fill ``ms`` and ``orig_ms`` of each candidate (cached); return the original's median ms.
    Both run with the layer's own activation after them (``epilogue``), which ONNX Runtime fuses."""
    shape = shape_key(layer, batch, epilogue)
    feed = None
    orig = None
    for cand in cands:
        key = f"{shape} | {cand.variant}"
        got = cache.get(key)
        if got is None:
            if feed is None:
                rng = np.random.default_rng(0)
                feed = {layer.input_name: rng.standard_normal((batch, layer.cin, *(layer.spatial_in or ())),
                                                              dtype=np.float32)}
                orig = original_model(layer, batch, opset, epilogue)
            t_orig, t_cand = median_ms([orig, candidate_model(layer, cand, batch, opset, epilogue)], feed, threads,
                                       PAIR_SECONDS, MIN_RUNS, MAX_RUNS)
            got = {"orig_ms": t_orig, "ms": t_cand, "measured": time.strftime("%Y-%m-%d")}
            cache.put(key, got)
        cand.orig_ms, cand.ms = float(got["orig_ms"]), float(got["ms"])
    return float(np.median([c.orig_ms for c in cands])) if cands else 0.0
