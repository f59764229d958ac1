"""The small protocol every numeric precision implements, and what it hands back.

A precision answers, about a float model: which of its nodes can you run (``candidates``), and
what is the model with those nodes at your precision, the others kept float (``apply``). It is
prepared once per model (``prepare``), so that its calibration is shared by every set of nodes a
search tries. Budgets, the held-out check, latency and the report are the search's and live in
``converter.auto.precision``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

import onnx

from ..data import InputSet


@dataclass
class Prepared:
    """A model made ready for one precision: the groups of nodes it may change, each named by its
    lead node (with that node's op type), and what was done to it first (an opset upgrade, a
    pre-processing pass)."""

    nodes: dict[str, str]
    notes: list[str] = field(default_factory=list)


class PreparedPrecision(Protocol):
    """A precision bound to one model and its calibration data."""

    name: str
    prepared: Prepared
    calibrations: tuple[str, ...]
    calib: InputSet

    def apply(self, calibration: str, keep_float: Collection[str] = ()) -> onnx.ModelProto:
        """The model with every candidate node but ``keep_float`` at this precision."""
        ...


class Precision(Protocol):
    """A numeric precision a model's nodes can run at."""

    name: str

    def prepare(self, model: onnx.ModelProto, calib: InputSet, workdir: str) -> PreparedPrecision:
        """Bind to a model (not changed) and the samples its calibration sees; ``workdir`` holds
        the intermediate files until the caller removes it."""
        ...

    def float_islands(self, model: onnx.ModelProto) -> dict[str, int]:
        """The op types (with counts) that run float between this precision's layers in ``model``
        (one ``apply`` gave): each costs conversions in and out, so they explain a slow model."""
        ...
