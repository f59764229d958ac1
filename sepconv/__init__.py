"""sepconv: factorize the Conv layers of ONNX CNNs, count what it saves, verify it in ONNX Runtime.

The library's public API, for use from Python::

    import sepconv
    report = sepconv.convert_file("model.onnx", "model.sep.onnx", sepconv.ConvertOptions(method="spatial"))
    summary = sepconv.inspect_model(onnx.load("model.onnx"))

Every public name of ``sepconv.converter`` is here too (``sepconv.OptionError``, ``sepconv.load_npz``,
``sepconv.Limits``, ...). ``sepconv.converter`` is the library (onnx, onnxruntime and numpy only),
``sepconv.service`` the REST service (``pip install 'sepconv[service]'``), ``sepconv.cli`` the ``sepconv``
command.
"""

from __future__ import annotations

from .converter import (
    AUTO,
    DEFAULT_MAX_ERROR,
    METHODS,
    NONE,
    PRECISIONS,
    ArrayHeader,
    ConvertOptions,
    InputSet,
    Limits,
    OptionError,
    SepconvError,
    TooLarge,
    __version__,
    analyse,
    benchmark,
    budget_max_error,
    check_model,
    convert_file,
    convert_model,
    first_line,
    format_shape,
    input_shapes,
    inspect_model,
    iter_tensors,
    load_model,
    load_npz,
    npz_headers,
    parse_input_shapes,
    prepare_inputs,
    write_bytes_atomic,
)

__all__ = [
    "AUTO", "DEFAULT_MAX_ERROR", "METHODS", "NONE", "PRECISIONS", "ArrayHeader", "ConvertOptions", "InputSet",
    "Limits", "OptionError",
    "SepconvError", "TooLarge", "__version__", "analyse", "benchmark", "budget_max_error", "check_model",
    "convert_file", "convert_model", "first_line", "format_shape", "input_shapes", "inspect_model", "iter_tensors",
    "load_model", "load_npz", "npz_headers", "parse_input_shapes", "prepare_inputs", "write_bytes_atomic",
]
