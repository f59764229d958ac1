"""sepconv's converter: factorize the Conv layers of an ONNX model, count what it saves,
verify it in ONNX Runtime. Depends on onnx, onnxruntime and numpy only."""

from __future__ import annotations

__version__ = "0.1.0"

from .convert import ConvertOptions, analyse, convert_file, convert_model  # noqa: E402
from .errors import SepconvError  # noqa: E402

__all__ = ["ConvertOptions", "SepconvError", "analyse", "convert_file", "convert_model", "__version__"]
