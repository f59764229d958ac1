"""Bounds on what an input may make sepconv allocate, checked from declared sizes before
anything is read: an npz's arrays from their ``.npy`` headers (nothing decompressed), an
input tensor from its shape. Past a bound the error is :class:`TooLarge` (the service's 413).

The CLI and the service take the bounds from the environment (:meth:`Limits.from_env`);
the library's functions use the same defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import prod
from typing import Any, Protocol

import numpy as np

from .errors import SepconvError

MiB, GiB = 1 << 20, 1 << 30
#: Members declaring less than this are not held to the compression bound (labels, small arrays).
RATIO_FLOOR_BYTES = 1 * MiB


class Member(Protocol):
    """One array of an npz as its header declares it (``data.ArrayHeader``)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    compressed_bytes: int


class ModelLike(Protocol):
    """An ``onnx.ModelProto`` (only its graph is read)."""

    graph: Any


class TooLarge(SepconvError):
    """A declared size over a limit; the message says the size and the limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "too_large")


def size_text(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


@dataclass(frozen=True)
class Limits:
    """``max_dataset_bytes``: all of an npz's arrays, decompressed; ``max_compression_ratio``:
    declared over stored bytes of one member; ``max_tensor_bytes``: one sample of one input
    tensor (a batch is run in pieces that each fit it)."""

    max_dataset_bytes: int = 2 * GiB
    max_compression_ratio: float = 100.0
    max_tensor_bytes: int = 256 * MiB
    #: a model's structure: nodes and initializers in all its graphs, subgraphs (If, Loop, Scan bodies)
    #: nested in one another. Real CNNs have a few thousand nodes; past these, parsing is cheap but the
    #: checker, the analysis and every list that shows it are not.
    max_nodes: int = 100_000
    max_initializers: int = 100_000
    max_graph_depth: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """``SEPCONV_MAX_DATASET_BYTES``, ``SEPCONV_MAX_COMPRESSION_RATIO``, ``SEPCONV_MAX_TENSOR_BYTES``,
        ``SEPCONV_MAX_NODES``, ``SEPCONV_MAX_INITIALIZERS``, ``SEPCONV_MAX_GRAPH_DEPTH``."""
        fields = {"max_dataset_bytes": int, "max_compression_ratio": float, "max_tensor_bytes": int,
                  "max_nodes": int, "max_initializers": int, "max_graph_depth": int}
        values = {}
        for name, kind in fields.items():
            key = f"SEPCONV_{name.upper()}"
            if environ.get(key):
                try:
                    values[name] = kind(environ[key])
                except ValueError:
                    raise SepconvError(f"{key}={environ[key]!r}: expected a number") from None
                if values[name] <= 0:
                    raise SepconvError(f"{key}={environ[key]!r}: must be above 0")
        return cls(**values)

    def check_structure(self, label: str, model: ModelLike) -> None:
        """Refuse a model with more nodes or initializers (in all its graphs), or subgraphs nested
        deeper, than the bounds; walked without recursion, before the checker or the analysis runs."""
        nodes = inits = 0
        pending = [(model.graph, 1)]
        while pending:
            graph, depth = pending.pop()
            if depth > self.max_graph_depth:
                raise TooLarge(f"{label}: subgraphs nested {depth} deep, over the limit of {self.max_graph_depth} "
                               "(SEPCONV_MAX_GRAPH_DEPTH)")
            nodes += len(graph.node)
            inits += len(graph.initializer) + len(graph.sparse_initializer)
            if nodes > self.max_nodes:
                raise TooLarge(f"{label}: {nodes:,} nodes or more, over the limit of {self.max_nodes:,} "
                               "(SEPCONV_MAX_NODES)")
            if inits > self.max_initializers:
                raise TooLarge(f"{label}: {inits:,} initializers or more, over the limit of "
                               f"{self.max_initializers:,} (SEPCONV_MAX_INITIALIZERS)")
            for node in graph.node:
                for attr in node.attribute:
                    if attr.HasField("g"):
                        pending.append((attr.g, depth + 1))
                    pending.extend((g, depth + 1) for g in attr.graphs)

    def check_dataset(self, label: str, members: Iterable[Member]) -> None:
        """Refuse an npz whose declared total, one member's compression ratio, or all members' ratio
        together is past the bounds (many members each under the floor still add up)."""
        total = stored_total = 0
        for m in members:
            name, shape, dtype, stored = m.name, m.shape, m.dtype, m.compressed_bytes
            declared = prod(shape) * dtype.itemsize
            total += declared
            stored_total += stored
            if declared > RATIO_FLOOR_BYTES and declared > self.max_compression_ratio * max(stored, 1):
                raise TooLarge(f"{label}: array {name!r} declares {size_text(declared)} ({'x'.join(map(str, shape))} "
                               f"{dtype}) stored in {size_text(stored)}, a compression ratio over the limit of "
                               f"{self.max_compression_ratio:g}")
        if total > RATIO_FLOOR_BYTES and total > self.max_compression_ratio * max(stored_total, 1):
            raise TooLarge(f"{label}: the arrays declare {size_text(total)} in all, stored in "
                           f"{size_text(stored_total)}, a compression ratio over the limit of "
                           f"{self.max_compression_ratio:g} (SEPCONV_MAX_COMPRESSION_RATIO)")
        if total > self.max_dataset_bytes:
            raise TooLarge(f"{label}: the arrays declare {size_text(total)} in all, over the limit of "
                           f"{size_text(self.max_dataset_bytes)} (SEPCONV_MAX_DATASET_BYTES)")

    def batch_for(self, name: str, sample_shape: tuple[int, ...], dtype: np.dtype, wanted: int,
                  fixed: bool = False) -> int:
        """The largest batch up to ``wanted`` whose tensor for this input fits the bound. Refused:
        an input whose single sample does not fit, or a ``fixed`` batch (the model's own) that does not."""
        per = prod(sample_shape) * np.dtype(dtype).itemsize
        shape = f"{'x'.join(map(str, sample_shape))} {np.dtype(dtype)}"
        limit = f"over the limit of {size_text(self.max_tensor_bytes)} per input tensor (SEPCONV_MAX_TENSOR_BYTES)"
        if per > self.max_tensor_bytes:
            raise TooLarge(f"input {name}: one sample is {size_text(per)} ({shape}), {limit}")
        fits = max(1, min(wanted, self.max_tensor_bytes // max(per, 1)))
        if fixed and fits < wanted:
            raise TooLarge(f"input {name}: the model fixes a batch of {wanted}, whose tensor is "
                           f"{size_text(wanted * per)} ({shape} each), {limit}")
        return fits
