"""Inputs for running a model: the user's npz, or seeded random arrays of the right shapes.

An npz is keyed by input name, its arrays' first axis holds the samples, and an optional
``labels`` array holds one entry per sample (class indices for accuracy; anything for a
metric). Everything is checked against the model's inputs before anything runs, so a wrong
file is one clear line, not an ONNX Runtime traceback.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from .errors import SepconvError, first_line
from .limits import Limits
from .shapes import Shape, format_shape, graph_inputs, input_shapes

LABELS_KEY = "labels"
#: Batch size used when the model's batch dimension is symbolic.
DEFAULT_BATCH = 32
#: Random samples drawn when no data is given and the batch dimension is symbolic.
DEFAULT_RANDOM_SAMPLES = 8


@dataclass
class InputSet:
    """Arrays keyed by input name, all with the same number of samples on axis 0.

    ``whole`` marks inputs that have no common sample axis (a scalar, or a state tensor whose
    first dim is not the batch): they are fed as they are, as one sample.
    """

    arrays: dict[str, np.ndarray]
    labels: np.ndarray | None
    batch: int
    source: str  # "data" or "random"
    whole: bool = False
    given: int | None = None  # samples the data held, where fewer were drawn (see ``draw``)
    fixed: bool = False  # the model file fixes the batch size: feeds hold exactly ``batch`` samples

    @property
    def samples(self) -> int:
        return 1 if self.whole else len(next(iter(self.arrays.values())))

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """Feeds of ``batch`` samples each (the last one smaller unless the batch size is fixed)."""
        if self.whole:
            yield dict(self.arrays)
            return
        n = self.samples
        for start in range(0, n, self.batch):
            yield {k: v[start:start + self.batch] for k, v in self.arrays.items()}

    def draw(self, n: int, seed: int) -> InputSet:
        """At most n samples (whole batches where the batch is fixed by the model), drawn with a
        seeded generator and kept in their order; the set itself where it holds no more."""
        if self.whole or self.samples <= n:
            return self
        take = max(self.batch, n // self.batch * self.batch) if self.fixed else n
        subset = self.take(np.sort(np.random.default_rng(seed).choice(self.samples, size=take, replace=False)))
        subset.given = self.samples
        return subset

    def head(self, n: int) -> InputSet:
        """The first n samples."""
        return self if self.whole else self.take(slice(0, n))

    def take(self, idx: np.ndarray | slice, batch: int | None = None) -> InputSet:
        """The samples at ``idx`` (labels with them), run in ``batch`` (default: this set's)."""
        return InputSet({k: v[idx] for k, v in self.arrays.items()}, None if self.labels is None else self.labels[idx],
                        batch or self.batch, self.source, fixed=self.fixed)


def load_npz(path: str | Path, limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Read an npz file (no pickles) into a dict, or raise a one-line error. Its declared sizes
    are checked against ``limits`` (default: from the environment) before anything is read."""
    p = Path(path)
    if not p.is_file():
        raise SepconvError(f"{p}: no such file", kind="not_found")
    if zipfile.is_zipfile(p):
        npz_headers(p, limits=limits or Limits.from_env())
    try:
        loaded = np.load(p, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise SepconvError(f"{p}: a single array (.npy), not an .npz of arrays keyed by input name "
                               "(write one with numpy.savez(path, input=array, labels=...))")
        with loaded as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise SepconvError(f"{p}: not a readable .npz file ({first_line(exc, 200)})") from None


@dataclass(frozen=True)
class ArrayHeader:
    """One array of an npz as its ``.npy`` header declares it (nothing decompressed)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    compressed_bytes: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def npz_headers(path: str | Path, name: str | None = None, limits: Limits | None = None) -> list[ArrayHeader]:
    """The arrays of an npz from their headers alone: cheap on any file, refuses pickles, and
    with ``limits`` refuses declared sizes past them.

    ``name`` is what the user calls the file, for the messages (default: the path)."""
    p, label = Path(path), name or str(path)
    if p.stat().st_size == 0:
        raise SepconvError(f"{label}: the file is empty", "unsupported")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        raise SepconvError(f"{label}: not an .npz file (not a zip archive)", "unsupported") from None
    headers = []
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise SepconvError(f"{label}: member {info.filename!r} is not a .npy array")
            try:
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise SepconvError(f"{label}: array {info.filename!r} is not readable "
                                   f"({first_line(exc, 200)})") from None
            if dtype.hasobject:
                raise SepconvError(f"{label}: array {info.filename[:-4]!r} holds Python objects (pickles are refused)")
            headers.append(ArrayHeader(info.filename[:-4], tuple(shape), dtype, info.compress_size))
    if not headers:
        raise SepconvError(f"{label}: the npz holds no arrays")
    if limits is not None:
        limits.check_dataset(label, headers)
    return headers


def _npy_header(fh) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    return shape, dtype


def input_dtypes(model: onnx.ModelProto) -> dict[str, np.dtype]:
    return {v.name: helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type) for v in graph_inputs(model)}


def prepare_inputs(model: onnx.ModelProto, overrides: dict[str, list[int]], data: dict[str, np.ndarray] | None,
                   seed: int = 0, samples: int | None = None, limits: Limits | None = None) -> InputSet:
    """Check the user's arrays against the model (or draw random ones) and pick the batch size.

    The batch is the model file's own where it fixes one; else the ``overrides``' (or
    DEFAULT_BATCH), cut so that no input tensor of one batch passes ``limits.max_tensor_bytes``.
    """
    limits = limits or Limits.from_env()
    shapes = input_shapes(model, overrides)
    dtypes = input_dtypes(model)
    fixed = fixed_batch(input_shapes(model, {}))
    if data is None:
        inputs = _random_inputs(shapes, dtypes, seed, samples, fixed, limits)
    else:
        inputs = _data_inputs(data, shapes, dtypes, fixed, samples)
    if not inputs.whole:
        inputs.fixed = fixed is not None
        wanted = fixed or min(fixed_batch(shapes) or DEFAULT_BATCH, inputs.samples)  # the batch really run
        inputs.batch = _run_batch(inputs, fixed, wanted, limits)
    return inputs


def _run_batch(inputs: InputSet, fixed: int | None, wanted: int, limits: Limits) -> int:
    """``wanted`` (the file's fixed batch, which must fit), else cut to fit."""
    batch = wanted
    for name, a in inputs.arrays.items():
        batch = limits.batch_for(name, a.shape[1:], a.dtype, batch, fixed is not None)
    return batch


def _data_inputs(data: dict[str, np.ndarray], shapes: dict[str, Shape | None], dtypes: dict[str, np.dtype],
                 fixed: int | None, samples: int | None) -> InputSet:
    data = dict(data)
    labels = data.pop(LABELS_KEY, None)
    _check_keys(list(data), shapes)
    arrays = {n: _check_array(n, data[n], shapes[n], dtypes[n]) for n in shapes}
    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1:
        raise SepconvError(f"the data's arrays hold different numbers of samples: "
                           f"{', '.join(f'{k}={len(v)}' for k, v in arrays.items())}")
    n = counts.pop()
    if n == 0:
        raise SepconvError("the data holds no samples")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 0 or len(labels) != n:
            raise SepconvError(f"'labels' must hold one entry per sample ({n}) on its first axis, "
                               f"not an array of shape {labels.shape}")
    if fixed is not None and n % fixed:
        raise SepconvError(f"the model's batch size is fixed to {fixed}, but the data has {n} samples "
                           f"(not a multiple of {fixed})")
    if samples is not None:
        arrays = {k: v[:samples] for k, v in arrays.items()}
        labels = None if labels is None else labels[:samples]
    return InputSet(arrays, labels, fixed or DEFAULT_BATCH, "data")


def check_npz(model: onnx.ModelProto, path: str | Path, overrides: dict[str, list[int]]) -> None:
    """Do an npz's arrays fit the model's inputs (names, ranks, fixed dims)? Read from the arrays'
    headers alone, for a job that does not run the data (``--no-verify``) but must not ignore a wrong file."""
    shapes = input_shapes(model, overrides)
    headers = {h.name: h for h in npz_headers(path)}
    _check_keys([k for k in headers if k != LABELS_KEY], shapes)
    for name, shape in shapes.items():
        _check_shape(name, headers[name].shape, shape)


def _check_keys(keys: list[str], shapes: dict[str, Shape | None]) -> None:
    missing = [n for n in shapes if n not in keys]
    extra = [k for k in keys if k not in shapes]
    if missing:
        raise SepconvError(f"the data has no array for input(s) {', '.join(missing)} "
                           f"(keys found: {', '.join(keys) or 'none'})")
    if extra:
        raise SepconvError(f"the data has array(s) {', '.join(extra)} that are not model inputs "
                           f"(inputs: {', '.join(shapes)}; 'labels' is the only other key allowed)")


def _check_shape(name: str, got: tuple[int, ...], shape: Shape | None) -> None:
    if shape is None:
        return
    if len(got) != len(shape):
        raise SepconvError(f"input {name}: the data's array has shape {got} but the model expects "
                           f"rank {len(shape)} ({format_shape(shape)}, samples on the first axis)")
    for i, (have, want) in enumerate(zip(got[1:], shape[1:]), start=1):
        if want is not None and have != want:
            raise SepconvError(f"input {name}: dim {i} is {have} in the data but {want} in the model "
                               f"(data {got}, model {format_shape(shape)})")


def _check_array(name: str, a: np.ndarray, shape: Shape | None, dtype: np.dtype) -> np.ndarray:
    _check_shape(name, a.shape, shape)
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise SepconvError(f"input {name}: the data holds {bad} NaN or infinite values; a comparison on them "
                           "would mean nothing")
    if a.dtype == dtype:
        return a
    same_kind = (np.issubdtype(a.dtype, np.floating) and np.issubdtype(dtype, np.floating)) or (
        np.issubdtype(a.dtype, np.integer) and np.issubdtype(dtype, np.integer))
    if not same_kind:
        raise SepconvError(f"input {name}: the data is {a.dtype} but the model expects {dtype}")
    return a.astype(dtype)


def fixed_batch(shapes: dict[str, Shape | None]) -> int | None:
    """The fixed batch size, when every input fixes its first dim (to the same value)."""
    firsts = {s[0] for s in shapes.values() if s}
    if len(firsts) == 1:
        only = firsts.pop()
        return int(only) if only is not None else None
    return None


def _random_inputs(shapes: dict[str, Shape | None], dtypes: dict[str, np.dtype], seed: int,
                   samples: int | None, fixed: int | None, limits: Limits) -> InputSet:
    firsts = {s[0] for s in shapes.values() if s}
    # a scalar input, or inputs whose fixed first dims differ, share no sample axis
    whole = any(s == () for s in shapes.values()) or (fixed_batch(shapes) is None and
                                                       any(d is not None for d in firsts))
    n = samples or DEFAULT_RANDOM_SAMPLES
    if fixed is not None:
        n = max(fixed, n - n % fixed)
    dims: dict[str, tuple[int, ...]] = {}
    for name, shape in shapes.items():
        known = shape if whole else (shape[1:] if shape else None)
        if shape is None or known is None or any(d is None for d in known):
            raise SepconvError(f"input {name} has unknown dims ({'?' if shape is None else format_shape(shape)}): "
                               f"give them with --input-shape {name}=1x3x224x224 or pass --data FILE.npz")
        dims[name] = tuple(int(d) for d in known)  # type: ignore[arg-type]
        # checked before anything is drawn; without a fixed batch, fewer samples where they do not fit
        if whole:
            limits.batch_for(name, dims[name], dtypes[name], 1)
        elif fixed is not None:
            limits.batch_for(name, dims[name], dtypes[name], fixed, fixed=True)
        else:
            n = limits.batch_for(name, dims[name], dtypes[name], n)
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, d in dims.items():
        full, dtype = d if whole else (n, *d), dtypes[name]
        if np.issubdtype(dtype, np.floating):
            arrays[name] = rng.standard_normal(full).astype(dtype)
        elif dtype == np.bool_:
            arrays[name] = rng.integers(0, 2, full).astype(bool)
        else:
            arrays[name] = rng.integers(0, 10, full).astype(dtype)
    return InputSet(arrays, None, fixed or DEFAULT_BATCH, "random", whole=whole)
