"""sepconv's converter: factorize the Conv layers of an ONNX model, count what it saves,
verify it in ONNX Runtime. Depends on onnx, onnxruntime and numpy only.

What the CLI, the service and library users need is exported here; the modules below are
the implementation and may change.
"""

from __future__ import annotations

from .analysis import analyse, inspect_model
from .bench import benchmark
from .data import ArrayHeader, InputSet, load_npz, npz_headers, prepare_inputs
from .errors import OptionError, SepconvError, first_line
from .job import convert_file
from .limits import Limits, TooLarge
from .methods import METHODS
from .modelio import check_model, iter_tensors, load_model, write_bytes_atomic
from .options import AUTO, DEFAULT_MAX_ERROR, NONE, ConvertOptions, budget_max_error
from .precision import PRECISIONS
from .rewrite import convert_model
from .shapes import format_shape, input_shapes, parse_input_shapes
from .version import __version__

__all__ = [
    "AUTO", "DEFAULT_MAX_ERROR", "METHODS", "NONE", "PRECISIONS", "ArrayHeader", "ConvertOptions", "InputSet",
    "Limits", "OptionError", "SepconvError", "TooLarge", "__version__", "analyse", "benchmark", "budget_max_error",
    "check_model",
    "convert_file", "convert_model", "first_line", "format_shape", "input_shapes", "inspect_model", "iter_tensors",
    "load_model", "load_npz", "npz_headers", "parse_input_shapes", "prepare_inputs", "write_bytes_atomic",
]
