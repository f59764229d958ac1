"""sepconv: factorize the Conv layers of ONNX CNNs, count what it saves, verify it in ONNX Runtime.

The library's public API, for use from Python::

    import sepconv
    report = sepconv.convert_file("model.onnx", "model.sep.onnx", sepconv.ConvertOptions(method="spatial"))
    summary = sepconv.inspect_model(onnx.load("model.onnx"))

``sepconv.converter`` is the library (onnx, onnxruntime and numpy only), ``sepconv.service`` the
REST service (``pip install 'sepconv[service]'``), ``sepconv.cli`` the ``sepconv`` command.
"""

from __future__ import annotations

from .converter import (
    ConvertOptions,
    SepconvError,
    __version__,
    analyse,
    benchmark,
    convert_file,
    convert_model,
    inspect_model,
)

__all__ = ["ConvertOptions", "SepconvError", "__version__", "analyse", "benchmark", "convert_file",
           "convert_model", "inspect_model"]
