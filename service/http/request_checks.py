"""Request checks: a conversion or benchmark request that cannot work gets a 4xx now, not a failed job later.

Options are checked by the converter's own validation, input shapes by its ``input_shapes`` on
the inputs stored at upload, and a dataset against a model in the validator process. One sample
of an input (its dims after the first) may hold at most SEPCONV_MAX_TENSOR_BYTES (413 past it);
a large batch is fine, the converter runs it in pieces.
"""

from __future__ import annotations

import numpy as np
import onnx
from sepconv.converter import ConvertOptions, Limits, OptionError, TooLarge, format_shape, input_shapes

from ..errors import ApiError
from ..storage.artifacts import Artifacts
from .schemas import BenchmarkRequest, ConversionRequest

#: How the API names an entry of a dict option: input_shapes['x'].
FIELD_KEY = "{name}[{key!r}]"


async def check_conversion(artifacts: Artifacts, model: dict, body: ConversionRequest, options: dict) -> list[str]:
    """Check a conversion request for ``model``; the ids the job refers to."""
    try:
        ConvertOptions(**options).validate(has_data=body.dataset_id is not None)
    except OptionError as exc:
        raise ApiError(422, "invalid", exc.render(exc.field, FIELD_KEY), details=field_at_fault(exc)) from None
    analysis = model["analysis"]
    if analysis.get("convs", 0) == 0:
        raise ApiError(422, "no_conv", f"model {model['id']} has no Conv node to convert")
    check_input_names(analysis, body.input_shapes)
    check_input_shapes(model, body.input_shapes)
    refs = [model["id"]]
    if body.dataset_id:
        try:
            await check_dataset(artifacts, model, body.dataset_id, body.input_shapes)
        except ApiError as exc:  # the shapes given, where there are any, else the dataset, is what does not fit
            if exc.status == 422 and not exc.details:
                fields = [f"input_shapes.{n}" for n in body.input_shapes] or ["dataset_id"]
                exc.details = [{"field": f, "message": exc.message} for f in fields]
            raise
        refs.append(body.dataset_id)
    return refs


def field_at_fault(exc: OptionError) -> list[dict]:
    """An option error's field as a request-validation error names it (``input_shapes.x`` for a dict's entry)."""
    field = exc.field if exc.key is None else f"{exc.field}.{exc.key}"
    return [{"field": field, "message": exc.detail}]


async def check_benchmark(artifacts: Artifacts, body: BenchmarkRequest) -> list[str]:
    """Check a benchmark request: the models exist and can share inputs, none fixes a batch other than the
    one asked for, the dataset fits each; the refs."""
    if len(set(body.model_ids)) != len(body.model_ids):
        raise ApiError(422, "invalid", "model_ids: give different models (each at most once)")
    models = [artifacts.model(mid) for mid in body.model_ids]
    check_input_names(models[0]["analysis"], body.input_shapes)
    for other in models[1:]:
        check_same_inputs(models[0], other)
    for row in models:
        check_input_shapes(row, body.input_shapes)
        if body.batch is not None:
            check_batch(row, body.batch, body.input_shapes)
    refs = list(body.model_ids)
    if body.dataset_id:
        for row in models:  # the same data feeds every model: it must fit each of them
            try:
                await check_dataset(artifacts, row, body.dataset_id, body.input_shapes)
            except ApiError as exc:
                if len(models) > 1 and exc.status == 422:
                    exc.message = f"model {row['id']}: {exc.message}"
                raise
        refs.append(body.dataset_id)
    return refs


def check_batch(model: dict, batch: int, shapes: dict[str, list[int]]) -> None:
    """A model whose file (or input_shapes) fixes the batch size to another one cannot run at ``batch``."""
    for i in model["analysis"].get("inputs", []):
        shape = shapes.get(i["name"], i.get("shape"))
        first = shape[0] if shape else None
        if isinstance(first, int) and first != batch:
            given = "input_shapes give" if i["name"] in shapes else "the model fixes"
            raise ApiError(422, "invalid", f"model {model['id']} ({model['name']}): {given} a batch size of {first} "
                                           f"for input {i['name']!r}, so it cannot be timed at the batch size of "
                                           f"{batch} asked for", details=[{"field": "batch", "message":
                                           f"model {model['id']} runs only at batch size {first}, not {batch}"}])


def check_input_names(analysis: dict, shapes: dict[str, list[int]]) -> None:
    names = [i["name"] for i in analysis.get("inputs", [])]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise ApiError(422, "invalid", f"input_shapes names {', '.join(map(repr, unknown))}, which the model "
                                       f"does not take (inputs: {', '.join(names) or 'none'})",
                       details=[{"field": "input_shapes", "message": f"the model takes no input {unknown[0]!r}"}])


def _inputs_only(analysis: dict) -> onnx.ModelProto:
    """A model with the stored model's inputs and nothing else: what ``input_shapes`` reads."""
    inputs = []
    for i in analysis.get("inputs", []):
        try:
            elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(i.get("dtype") or "float32"))
        except (TypeError, KeyError, ValueError):
            elem = onnx.TensorProto.FLOAT
        inputs.append(onnx.helper.make_tensor_value_info(i["name"], elem, i.get("shape")))
    return onnx.helper.make_model(onnx.helper.make_graph([], "inputs", inputs, []))


def check_input_shapes(model: dict, shapes: dict[str, list[int]]) -> None:
    """input_shapes must agree with the model's fixed dims and ranks (the converter's own check),
    and no input's single sample may be past the tensor limit."""
    if shapes:
        try:
            input_shapes(_inputs_only(model["analysis"]), shapes)
        except OptionError as exc:
            raise ApiError(422, "invalid", f"model {model['id']}: {exc.render(exc.field, FIELD_KEY)}",
                           details=field_at_fault(exc)) from None
    check_sample_sizes(model, shapes)


def check_sample_sizes(model: dict, shapes: dict[str, list[int]], limits: Limits | None = None) -> None:
    """One sample of each input (its dims after the first, as input_shapes or the model fix them)
    must fit SEPCONV_MAX_TENSOR_BYTES: 413, before anything is queued. Unknown dims are the data's."""
    limits = limits or Limits.from_env()
    for i in model["analysis"].get("inputs", []):
        shape = shapes.get(i["name"], i.get("shape"))
        if not shape or any(not isinstance(d, int) for d in shape[1:]):
            continue
        try:
            dtype = np.dtype(i.get("dtype") or "float32")
        except TypeError:
            dtype = np.dtype("float32")
        try:
            limits.batch_for(i["name"], tuple(shape[1:]), dtype, 1)
        except TooLarge as exc:
            raise ApiError(413, "too_large", f"model {model['id']}: {exc}") from None


def check_same_inputs(a: dict, b: dict) -> None:
    """Two models benchmarked on the same inputs must take the same inputs: same names, and no
    dtype, rank or fixed dim that differs (a symbolic dim fits any size)."""
    ia = {i["name"]: i for i in a["analysis"].get("inputs", [])}
    ib = {i["name"]: i for i in b["analysis"].get("inputs", [])}
    if set(ia) != set(ib):
        raise ApiError(422, "invalid", f"the two models take different inputs ({', '.join(ia) or 'none'} in "
                                       f"{a['id']}, {', '.join(ib) or 'none'} in {b['id']}); a benchmark "
                                       "compares two versions of one model")
    for name, x in ia.items():
        y = ib[name]
        if x.get("dtype") and y.get("dtype") and x["dtype"] != y["dtype"]:
            raise ApiError(422, "invalid", f"input {name!r} is {x['dtype']} in model {a['id']} but {y['dtype']} "
                                           f"in model {b['id']}; the two models cannot share inputs")
        sx, sy = x.get("shape"), y.get("shape")
        if sx is None or sy is None:
            continue
        where = f"({format_shape(sx)} in model {a['id']}, {format_shape(sy)} in model {b['id']})"
        if len(sx) != len(sy):
            raise ApiError(422, "invalid", f"input {name!r} has rank {len(sx)} in one model and {len(sy)} in "
                                           f"the other {where}; the two models cannot share inputs")
        for d, (p, q) in enumerate(zip(sx, sy)):
            if p is not None and q is not None and p != q:
                raise ApiError(422, "invalid", f"input {name!r}: dim {d} is fixed to {p} in one model and to {q} "
                                               f"in the other {where}; the two models cannot share inputs")


async def check_dataset(artifacts: Artifacts, model: dict, dataset_id: str, shapes: dict[str, list[int]]) -> None:
    """Do the dataset's arrays fit the model's inputs? Checked in the validator process."""
    ds = artifacts.dataset(dataset_id)
    await artifacts.validator.run("check_data", {
        "model": str(artifacts.blobs.path(model["sha256"])), "data": str(artifacts.blobs.path(ds["sha256"])),
        "data_name": ds["name"], "input_shapes": shapes})
