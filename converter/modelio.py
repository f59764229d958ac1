"""Loading and saving ONNX models safely.

Loading turns every way a file can be wrong into a one-line :class:`SepconvError`.
Saving is atomic (temporary file in the target folder, fsync, rename) and switches to
external data past protobuf's 2 GB limit, so large models load and save too; a path that cannot
be written is one line naming that path (never the temporary file's).
"""

from __future__ import annotations

import os
import tempfile
from math import prod
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from .errors import SepconvError, first_line

#: Past this many bytes of tensor data a model is saved with external data (protobuf's
#: hard limit is 2 GiB for the whole message).
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def load_model(path: str | os.PathLike[str], *, check: bool = True) -> onnx.ModelProto:
    """Load an ONNX model (external data included) or raise a one-line error."""
    return load_model_sized(path, check=check)[0]


def load_model_sized(path: str | os.PathLike[str], *, check: bool = True) -> tuple[onnx.ModelProto, int]:
    """Load a model as :func:`load_model` does; also return its bytes on disk (external data included)."""
    p = Path(path)
    if not p.exists():
        raise SepconvError(f"{p}: no such file", kind="not_found")
    if not p.is_file():
        raise SepconvError(f"{p}: not a file")
    try:
        model = onnx.load(str(p), load_external_data=False)
        size = p.stat().st_size + _external_bytes(model, p.parent)
        if size > p.stat().st_size:
            external_data_helper.load_external_data_for_model(model, str(p.parent))
    except (DecodeError, RuntimeError, ValueError, TypeError) as exc:
        raise SepconvError(f"{p}: not a valid ONNX protobuf ({first_line(exc)})", "unsupported") from None
    except OSError as exc:
        raise SepconvError(f"{p}: cannot read ({first_line(exc)})") from None
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise SepconvError(f"{p}: not an ONNX model (no graph nodes)", "unsupported")
    if check:
        check_model(model, p, structure_only=True)
    return model, size


def _external_bytes(model: onnx.ModelProto, base: Path) -> int:
    """Bytes of the external data files the model refers to (each file counted once)."""
    files = {e.value for t in iter_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL
             for e in t.external_data if e.key == "location"}
    total = 0
    for f in files:
        q = base / f
        if q.is_file():
            total += q.stat().st_size
    return total


def opset_version(model: onnx.ModelProto) -> int | None:
    """The model's version of the default ONNX operator set."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def check_model(model: onnx.ModelProto | bytes | str | os.PathLike[str], where: str | os.PathLike[str] = "model",
                *, full: bool = False, structure_only: bool = False) -> None:
    """Run onnx.checker on a model, its serialized bytes or its path; raise a one-line error.

    ``structure_only`` checks a copy whose large tensors are replaced by one-element
    stand-ins: graph, nodes, attributes, names and opsets are all checked, at no memory
    cost, but not the data of large tensors (ONNX Runtime reads those when it loads the
    model).
    """
    try:
        if isinstance(model, (bytes, str, os.PathLike)):
            onnx.checker.check_model(model, full_check=full)
        elif structure_only:
            onnx.checker.check_model(skeleton(model, keep_dims=False))
        elif tensor_bytes(model) > EXTERNAL_DATA_THRESHOLD:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.onnx"
                save_model(model, path)
                onnx.checker.check_model(str(path), full_check=full)
        else:
            onnx.checker.check_model(model, full_check=full)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError) as exc:
        raise SepconvError(f"{where}: the ONNX checker rejects it: {first_line(exc)}") from None


#: Tensors above this many bytes are left out of :func:`skeleton` copies.
SKELETON_TENSOR_BYTES = 4096


def skeleton(model: onnx.ModelProto, *, keep_dims: bool) -> onnx.ModelProto:
    """A copy of the model without the data of its large tensors (main graph initializers and
    Constant nodes), for analyses that must not double a large model's memory.

    ``keep_dims=True`` keeps each large tensor's dims and type with no data (for shape
    inference); ``keep_dims=False`` puts a one-element tensor of the same type in its place
    (for the checker, which wants data that matches the dims).
    """
    sk = onnx.ModelProto()
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(sk, f, getattr(model, f))
    sk.opset_import.extend(model.opset_import)
    sk.metadata_props.extend(model.metadata_props)
    sk.functions.extend(model.functions)
    src, g = model.graph, sk.graph
    g.name = src.name
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    for node in src.node:
        copy = g.node.add()
        if node.op_type == "Constant" and any(_is_large(a.t) for a in node.attribute if a.name == "value"):
            copy.CopyFrom(onnx.helper.make_node("Constant", [], list(node.output), name=node.name))
            big = next(a.t for a in node.attribute if a.name == "value")
            copy.attribute.add().CopyFrom(onnx.helper.make_attribute("value", _stand_in(big, keep_dims)))
        else:
            copy.CopyFrom(node)
    for t in src.initializer:
        g.initializer.add().CopyFrom(_stand_in(t, keep_dims) if _is_large(t) else t)
    return sk


def _is_large(t: onnx.TensorProto) -> bool:
    return _tensor_size(t) > SKELETON_TENSOR_BYTES or t.data_location == onnx.TensorProto.EXTERNAL


def _stand_in(t: onnx.TensorProto, keep_dims: bool) -> onnx.TensorProto:
    s = onnx.TensorProto()
    s.name, s.data_type = t.name, t.data_type
    if keep_dims:
        s.dims.extend(t.dims)
    else:
        s.dims.extend([1] * len(t.dims))
        s.raw_data = bytes(onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize)
    return s


def iter_tensors(model: onnx.ModelProto):
    """Every tensor held in the model: initializers and node attributes (Constant values
    included), in all graphs."""
    for graph in iter_graphs(model.graph):
        yield from graph.initializer
        for node in graph.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    yield a.t
                elif a.type == onnx.AttributeProto.TENSORS:
                    yield from a.tensors


def tensor_numel(t: onnx.TensorProto) -> int:
    """Elements of a tensor, from its dims."""
    return prod(t.dims)


def tensor_bytes(model: onnx.ModelProto) -> int:
    """Bytes of tensor data held in the model (initializers and attributes, all graphs)."""
    return sum(_tensor_size(t) for t in iter_tensors(model))


def _tensor_size(t: onnx.TensorProto) -> int:
    """Bytes of a tensor's data, from its dims and type (reading raw_data would copy it)."""
    n = tensor_numel(t)
    try:
        item = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        item = 4
    return n * item


def iter_graphs(graph: onnx.GraphProto):
    """The graph and every subgraph below it (If branches, Loop and Scan bodies)."""
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from iter_graphs(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from iter_graphs(g)


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str], *, check: bool = False) -> int:
    """Write the model atomically; return the bytes written (model file plus external data).

    Models whose tensors exceed :data:`EXTERNAL_DATA_THRESHOLD` get their weights in
    ``<name>.data`` beside the model file. With ``check``, onnx.checker vets the model
    first (its structure, see :func:`check_model`), and nothing is written if it fails.
    """
    p = Path(path)
    make_parent(p)
    if check:
        check_model(model, "converted model", structure_only=True)
    if tensor_bytes(model) > EXTERNAL_DATA_THRESHOLD:
        try:
            return _save_external(model, p)
        except OSError as exc:
            raise cannot_write(p, exc) from None
    return write_atomic(p, lambda fh: write_model_streamed(model, fh))


def write_model_streamed(model: onnx.ModelProto, fh) -> int:
    """Serialize a model to a file piece by piece; return the bytes written.

    A serialized protobuf message is the concatenation of its serialized fields, so the
    graph's nodes and initializers are written one at a time: memory grows by the largest
    tensor, not by the whole model as with ``SerializeToString``. Parsers accept the result
    as the same message (ONNX Runtime and onnx.load read it back unchanged).
    """
    graph = model.graph
    head = _without(model, onnx.ModelProto(), {"graph"}).SerializeToString()
    graph_head = _without(graph, onnx.GraphProto(), {"node", "initializer"}).SerializeToString()
    pieces = ((1, graph.node), (5, graph.initializer))  # GraphProto.node = 1, .initializer = 5
    # graph.ByteSize() would serialize the whole graph at once; sizing item by item does not
    graph_size = len(graph_head) + sum(len(_varint(fn << 3 | 2)) + len(_varint(n)) + n
                                       for fn, items in pieces for n in (_serialized_size(item) for item in items))
    written = fh.write(head)
    written += fh.write(_varint(7 << 3 | 2) + _varint(graph_size))  # ModelProto.graph = 7
    written += fh.write(graph_head)
    for field_number, items in pieces:
        for item in items:
            data = item.SerializeToString()
            written += fh.write(_varint(field_number << 3 | 2) + _varint(len(data)))
            written += fh.write(data)
    return written


def _serialized_size(item) -> int:
    """``item.ByteSize()``, without encoding a tensor's raw data (protobuf's upb backend encodes
    the whole message to size it, which would double the cost of writing large weights)."""
    if not isinstance(item, onnx.TensorProto) or not item.HasField("raw_data"):
        return item.ByteSize()
    n = len(item.raw_data)
    rest = _without(item, onnx.TensorProto(), {"raw_data"}).ByteSize()
    return rest + len(_varint(9 << 3 | 2)) + len(_varint(n)) + n  # TensorProto.raw_data = 9


def _without(msg, empty, skip: set[str]):
    """A copy of ``msg`` without the fields named in ``skip``."""
    for fd, value in msg.ListFields():
        if fd.name in skip:
            continue
        if _is_repeated(fd):
            getattr(empty, fd.name).extend(value)
        elif fd.type == fd.TYPE_MESSAGE:
            getattr(empty, fd.name).CopyFrom(value)
        else:
            setattr(empty, fd.name, value)
    return empty


def _is_repeated(fd) -> bool:
    """Whether a field is repeated (protobuf 5+ has ``is_repeated``; older ones ``label``)."""
    flag = getattr(fd, "is_repeated", None)
    return bool(flag) if flag is not None else fd.label == fd.LABEL_REPEATED


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _save_external(model: onnx.ModelProto, p: Path) -> int:
    """Save with external data: both files are written under temporary names, then renamed."""
    data_name = p.name + ".data"
    with tempfile.TemporaryDirectory(dir=p.parent, prefix=".sepconv-") as tmp:
        tmp_model = Path(tmp) / p.name
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        onnx.save_model(copy, str(tmp_model), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        del copy
        for f in (Path(tmp) / data_name, tmp_model):
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
        size = tmp_model.stat().st_size + (Path(tmp) / data_name).stat().st_size
        os.replace(Path(tmp) / data_name, p.parent / data_name)
        os.replace(tmp_model, p)
    return size


def cannot_write(path: str | os.PathLike[str], exc: OSError) -> SepconvError:
    """The one line for a path the system refuses to write: the path the user gave, the system's reason."""
    return SepconvError(f"cannot write {path}: {exc.strerror or first_line(exc)}")


def make_parent(path: str | os.PathLike[str]) -> None:
    """Make the folder ``path`` goes in (and those above it), or raise :func:`cannot_write`."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # a file stands where a folder must
        blocker = next((a for a in Path(path).parents if a.exists()), None)
        if blocker is None or blocker.is_dir():
            raise cannot_write(path, exc) from None
        raise SepconvError(f"cannot write {path}: {blocker} is a file, not a folder") from None
    except OSError as exc:
        raise cannot_write(path, exc) from None


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail now, in one line, where ``path`` cannot be written: before a conversion is spent on it.
    Its folder is made (as saving would) and a temporary file is created in it and removed."""
    make_parent(path)
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as exc:
        raise cannot_write(p, exc) from None
    os.close(fd)
    os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    write_atomic(path, lambda fh: fh.write(data))


def write_atomic(path: str | os.PathLike[str], writer) -> int:
    """Call ``writer(fh)`` on a temporary file beside ``path``, fsync, rename over ``path``.

    A reader never sees a half-written file, and a failure leaves ``path`` as it was. The system
    refusing the write (no such folder, no permission, a full disk) is :func:`cannot_write`.
    """
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as exc:
        raise cannot_write(p, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            result = writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
        return result
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise cannot_write(p, exc) from None
        raise
