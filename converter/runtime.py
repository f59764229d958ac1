"""ONNX Runtime sessions, made one way for verification, benchmarks and auto mode."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnxruntime as ort

from .errors import SepconvError, whole_message
from .modelio import EXTERNAL_DATA_THRESHOLD, tensor_bytes

ModelSource = str | os.PathLike[str] | bytes | onnx.ModelProto


def session(source: ModelSource, threads: int | None = None,
            optimization: str = "all", spinning: bool = True) -> ort.InferenceSession:
    """A CPU session for a model given as a path, serialized bytes or a ModelProto. ``spinning``:
    whether idle intra-op threads spin waiting for work (ONNX Runtime's default); sessions timed
    against each other turn it off (see :mod:`.timing`)."""
    so = ort.SessionOptions()
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 4  # failures reach the user as one-line errors, not ORT's log
    so.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if isinstance(source, onnx.ModelProto):
        if tensor_bytes(source) > EXTERNAL_DATA_THRESHOLD:
            raise SepconvError("models over 2 GB must be saved before they are run; pass a path")
        source = source.SerializeToString()
    if isinstance(source, os.PathLike):
        source = str(Path(source))
    try:
        return ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise SepconvError(f"ONNX Runtime cannot load the model: {whole_message(exc)}") from None


def run(sess: ort.InferenceSession, feed: dict, what: str = "the model") -> list:
    """Run a session; runtime failures (wrong shapes, bad values) become one-line errors."""
    try:
        return sess.run(None, feed)
    except Exception as exc:
        raise SepconvError(f"ONNX Runtime failed to run {what}: {whole_message(exc)}") from None
