"""ONNX Runtime sessions, made one way for verification, benchmarks and auto mode; and numpy's BLAS
kept to one thread where its linear algebra runs beside them (:func:`blas_beside_sessions`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import onnx
import onnxruntime as ort
from threadpoolctl import threadpool_limits

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


@contextlib.contextmanager
def blas_beside_sessions() -> Iterator[None]:
    """numpy's BLAS (OpenBLAS, MKL...) on one thread inside the block, as it was after it; usable as a
    decorator. For code whose linear algebra alternates with ONNX Runtime sessions, as auto mode's does:
    those sessions own the cores (``threads`` intra-op threads each), and a BLAS pool of one thread per
    core beside them oversubscribes the machine; BLAS threads also spin-wait after each call, taking
    cores from the sessions. On a loaded 2-core machine the main job's fitting took twice as long with
    them as on one thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
