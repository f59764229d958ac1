"""Numeric precisions, by name: one registry for ``--precision`` and for auto mode's search.

Adding a precision is adding a module that implements :class:`~.base.Precision` and a line here.
``float`` is the model as it is; ``int8`` is ONNX Runtime's own static quantizer (QDQ,
per-channel int8 weights, uint8 activations). ``auto`` (``AUTO_PRECISION``) is not a precision
but a request: the search chooses per layer within the budget (``converter.auto.precision``).
"""

from __future__ import annotations

from .base import Precision, Prepared, PreparedPrecision
from .int8 import CALIBRATIONS, Int8

#: The precisions a user can ask for by name, besides ``auto``; ``float`` changes nothing.
FLOAT = "float"
REGISTRY: dict[str, Precision] = {"int8": Int8()}
AUTO_PRECISION = "auto"
PRECISIONS = (FLOAT, *REGISTRY, AUTO_PRECISION)

__all__ = ["AUTO_PRECISION", "CALIBRATIONS", "FLOAT", "PRECISIONS", "REGISTRY", "Int8", "Precision", "Prepared",
           "PreparedPrecision"]
