"""int8 through ONNX Runtime's own static quantizer (``onnxruntime.quantization``).

QDQ format, per-channel int8 weights, uint8 activations, calibrated on the user's samples. What
users hit with the quantizer is handled here: a model below opset 13 is upgraded first
(``onnx.version_converter``; per-channel DequantizeLinear needs 13), the model is pre-processed
(``quant_pre_process``: shape inference and ONNX Runtime's own fusions, BatchNormalization folded
into its Conv), every node gets a name (``nodes_to_exclude`` takes names), and on an x86 CPU without
VNNI, where uint8 x int8 products can saturate, weights keep 7 bits (``reduce_range``). Each
calibration method runs once per model; its ranges are cached, so every set of nodes kept float
that a search tries costs one quantization pass, not a calibration.
"""

from __future__ import annotations

import contextlib
import io
import logging
import platform
import tempfile
from collections.abc import Collection, Iterator
from functools import cache
from pathlib import Path

import onnx
from onnx import version_converter

from ..data import InputSet
from ..errors import SepconvError, first_line
from ..modelio import opset_version
from .base import Prepared

#: Calibration methods by the names the report and the options use.
CALIBRATIONS = ("minmax", "percentile", "entropy")
#: The opset per-channel QDQ needs.
MIN_OPSET = 13
#: The ops whose int8 kernels carry the gain; a search keeps or reverts these, the quantizer places
#: the rest (pools, reshapes, activations) around them.
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: Models past this size are pre-processed and quantized with external data.
LARGE_MODEL_BYTES = 1 << 30
#: Ops that read only a tensor's shape: an int8 layer feeding one needs no dequantize for it.
SHAPE_OPS = ("Shape", "Size")


@cache
def cpu_has_vnni() -> bool | None:
    """Whether this x86 CPU has VNNI (fast, non-saturating uint8 x int8 dot products); None elsewhere."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "i386"):
        return None
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_vnni" in flags or "avx_vnni" in flags


def reduce_range() -> bool:
    """7-bit weights where the CPU's int8 products may saturate (x86 without VNNI, per ORT's docs)."""
    return cpu_has_vnni() is False


class _Reader:
    """ONNX Runtime's CalibrationDataReader over an InputSet's batches (made afresh per calibration)."""

    def __init__(self, inputs: InputSet) -> None:
        self._feeds: Iterator[dict] = inputs.batches()

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer prints histograms and logs warnings: keep them off the user's terminal."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def _upgraded(model: onnx.ModelProto, notes: list[str]) -> onnx.ModelProto:
    opset = opset_version(model)
    if opset is not None and opset >= MIN_OPSET:
        return model
    try:
        up = version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # the converter raises its own types
        raise SepconvError(f"int8 needs opset {MIN_OPSET} and onnx cannot upgrade this model from opset {opset}: "
                           f"{first_line(exc)}", kind="quantize") from None
    notes.append(f"opset {opset} upgraded to {MIN_OPSET} (onnx.version_converter)")
    return up


def _named(model: onnx.ModelProto) -> None:
    """Give every main-graph node a unique name (its first output's, as the report names a Conv
    without one): ``nodes_to_exclude`` takes names."""
    taken = {n.name for n in model.graph.node if n.name}
    for i, n in enumerate(model.graph.node):
        if not n.name:
            name = n.output[0] if n.output and n.output[0] else f"{n.op_type.lower()}_{i}"
            while name in taken:
                name += "_"
            n.name = name
            taken.add(name)


def _quantized_ops() -> set[str]:
    """The op types ``quantize_static`` quantizes by default: its QLinear and QDQ registries
    together (Sigmoid, Mul, Add, Concat... are in the first only, and are quantized in QDQ too)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return set(QDQRegistry) | set(QLinearOpsRegistry)


def _groups(model: onnx.ModelProto) -> dict[str, list[str]]:
    """The nodes the quantizer would touch, grouped by the compute node they follow: each compute
    node with the pools, reshapes and activations downstream of it up to the next compute node
    (a node follows its first input's producer). Keeping a group float keeps all of it float, so
    every group float is the float model. Nodes before any compute node form groups of their own."""
    quantized = _quantized_ops()
    producer = {out: n.name for n in model.graph.node for out in n.output}
    group_of: dict[str, str | None] = {}
    groups: dict[str, list[str]] = {}
    for n in model.graph.node:  # ONNX graphs are topologically sorted
        if n.op_type in COMPUTE_OPS:
            group_of[n.name] = n.name
            groups[n.name] = [n.name]
            continue
        lead = next((group_of.get(producer[i]) for i in n.input if i in producer), None)
        group_of[n.name] = lead
        if n.op_type in quantized:
            groups.setdefault(lead or n.name, []).append(n.name)
    return groups


def float_islands(model: onnx.ModelProto) -> dict[str, int]:
    """The op types (with counts, most first) that int8 layers hand back to float in a QDQ model, as ONNX Runtime
    runs it: after its graph optimizations (which fuse each int8 layer's quantize / dequantize pairs
    into its kernel), the nodes still fed by a DequantizeLinear of an activation. Each costs a
    dequantize and float work (and a quantize where int8 follows), where the float model may have
    fused the op into the Conv before it: MobileNetV3's hard-swish (HardSigmoid), MTCNN's PRelu, a
    BatchNormalization after an activation. Empty for a model too large to optimize in memory."""
    import onnxruntime as ort

    if model.ByteSize() > LARGE_MODEL_BYTES:
        return {}
    with tempfile.TemporaryDirectory(prefix="sepconv-islands-") as work:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # fuses QDQ, keeps op names
        so.optimized_model_filepath, so.log_severity_level = str(Path(work) / "optimized.onnx"), 3
        try:
            ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            graph = onnx.load(so.optimized_model_filepath).graph
        except Exception:  # ORT raises its own types; the caller's own sessions report what is wrong
            return {}
    weights = {t.name for t in graph.initializer}
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in weights}
    skip = ("QuantizeLinear", "DequantizeLinear", *SHAPE_OPS, *COMPUTE_OPS)  # compute ops float are the search's
    found: dict[str, int] = {}
    for n in graph.node:
        if n.op_type not in skip and dequantized & set(n.input):
            found[n.op_type] = found.get(n.op_type, 0) + 1
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))  # the most first, for every place that lists them


class PreparedInt8:
    """One model ready for int8: upgraded, pre-processed and named once; calibrated once per method."""

    name = "int8"
    calibrations = CALIBRATIONS

    def __init__(self, model: onnx.ModelProto, calib: InputSet, workdir: str) -> None:
        self.calib, self.dir = calib, Path(workdir)
        notes: list[str] = []
        large = model.ByteSize() > LARGE_MODEL_BYTES
        src, self.path = self.dir / "float.onnx", self.dir / "prepared.onnx"
        onnx.save_model(_upgraded(model, notes), src, save_as_external_data=large)
        self._preprocess(src, large, notes)
        pre = onnx.load(self.path)
        _named(pre)
        self.groups = _groups(pre)
        ops = {n.name: n.op_type for n in pre.graph.node}
        nodes = {g: ops[g] for g in self.groups}
        onnx.save_model(pre, self.path, save_as_external_data=large)
        self.large = large
        self.reduce_range = reduce_range()
        if self.reduce_range:
            notes.append("weights keep 7 bits (reduce_range): this CPU has no VNNI, so uint8 x int8 may saturate")
        if not any(op in COMPUTE_OPS for op in nodes.values()):
            raise SepconvError("int8: the model's main graph has no Conv, Gemm or MatMul for ONNX Runtime's int8 "
                               "kernels (those inside If, Loop or Scan subgraphs stay float)", kind="quantize")
        self.prepared = Prepared(nodes, notes)

    def _preprocess(self, src: Path, large: bool, notes: list[str]) -> None:
        from onnxruntime.quantization import quant_pre_process

        try:  # in the work folder: a failed symbolic shape inference saves its model into the current one
            with _quiet(), contextlib.chdir(self.dir):
                quant_pre_process(str(src), str(self.path), save_as_external_data=large)
            return
        except Exception as exc:  # symbolic shape inference fails on some graphs; without it, the rest still runs
            reason = first_line(exc, 120)
        try:
            with _quiet():
                quant_pre_process(str(src), str(self.path), skip_symbolic_shape=True, save_as_external_data=large)
        except Exception as exc:
            raise SepconvError(f"int8: ONNX Runtime's quantizer cannot prepare this model: {first_line(exc)}",
                               kind="quantize") from None
        notes.append(f"pre-processed without symbolic shape inference ({reason})")

    def apply(self, calibration: str, keep_float: Collection[str] = ()) -> onnx.ModelProto:
        """The model quantized with ``calibration`` (one of CALIBRATIONS), the groups ``keep_float``
        (named by their lead node) left float."""
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        if calibration not in CALIBRATIONS:
            raise SepconvError(f"calibration {calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[calibration]
        out = self.dir / "int8.onnx"
        try:
            with _quiet():
                quantize_static(str(self.path), str(out), _Reader(self.calib), quant_format=QuantFormat.QDQ,
                                per_channel=True, reduce_range=self.reduce_range,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                nodes_to_exclude=sorted(n for g in keep_float for n in self.groups.get(g, [g])),
                                calibrate_method=method,
                                use_external_data_format=self.large,
                                calibration_cache_path=str(self.dir / f"ranges-{calibration}.json"))
        except Exception as exc:  # the quantizer raises whatever its passes raise
            raise SepconvError(f"int8: ONNX Runtime's quantizer cannot take this model ({calibration} "
                               f"calibration): {first_line(exc)}", kind="quantize") from None
        return onnx.load(out)


class Int8:
    """int8 weights and activations through ONNX Runtime's quantizer (see the module's docstring)."""

    name = "int8"

    def prepare(self, model: onnx.ModelProto, calib: InputSet, workdir: str) -> PreparedInt8:
        return PreparedInt8(model, calib, workdir)

    def float_islands(self, model: onnx.ModelProto) -> dict[str, int]:
        return float_islands(model)
