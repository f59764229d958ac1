"""``/v1/models``: upload, list, show, download, delete, and convert a model."""

from __future__ import annotations

import numpy as np
import onnx
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sepconv.converter import ConvertOptions, OptionError
from sepconv.converter.shapes import format_shape, input_shapes

from ..errors import ApiError, not_found
from ..manager import Services
from ..schemas import ERRORS, ConversionRequest, JobOut, ModelOut, ModelPage
from ..uploads import receive
from . import services

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERRORS)

UPLOAD_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("", status_code=201, response_model=ModelOut, openapi_extra=UPLOAD_DOC,
             responses={200: {"model": ModelOut, "description": "the same bytes were uploaded before"}})
async def upload_model(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    """Upload an .onnx file (multipart 'file' part, or a raw body with ?name=). Streamed to disk,
    checked (protobuf, onnx.checker, no external data) and analysed; 201, or 200 for known bytes."""
    rec = await receive(request, svc.blobs, svc.settings.max_upload_bytes, "model.onnx")
    row, created = await svc.add_model(rec)
    out = ModelOut.from_row(row)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200,
                        headers={"Location": f"/v1/models/{out.id}"})


@router.get("", response_model=ModelPage)
def list_models(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                svc: Services = Depends(services)) -> ModelPage:
    return ModelPage(items=[ModelOut.from_row(r) for r in svc.store.list_models(limit, offset)],
                     limit=limit, offset=offset)


def _model(svc: Services, model_id: str) -> dict:
    row = svc.store.get_model(model_id)
    if row is None:
        raise not_found("model", model_id)
    return row


@router.get("/{model_id}", response_model=ModelOut)
def get_model(model_id: str, svc: Services = Depends(services)) -> ModelOut:
    return ModelOut.from_row(_model(svc, model_id))


@router.get("/{model_id}/file", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_model(model_id: str, svc: Services = Depends(services)) -> FileResponse:
    """The .onnx file, uploaded or converted."""
    row = _model(svc, model_id)
    path = svc.blobs.path(row["sha256"])
    if not path.is_file():
        raise ApiError(404, "not_found", f"the file of model {model_id} is missing from the data directory")
    return FileResponse(path, media_type="application/octet-stream", filename=row["name"],
                        headers={"X-Content-SHA256": row["sha256"]})


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: str, svc: Services = Depends(services)) -> Response:
    if not svc.delete("models", model_id):
        raise not_found("model", model_id)
    return Response(status_code=204)


@router.post("/{model_id}/conversions", status_code=202, response_model=JobOut)
async def convert_model(model_id: str, body: ConversionRequest, svc: Services = Depends(services)) -> JSONResponse:
    """Queue a conversion with the converter's options; poll ``GET /v1/jobs/{id}``. The result
    holds the converter's report and the id of the converted model."""
    model = _model(svc, model_id)
    options = body.options()
    try:
        ConvertOptions(**options).validate()
    except OptionError as exc:
        raise ApiError(422, "invalid", exc.render(exc.field, FIELD_KEY)) from None
    analysis = model["analysis"]
    if analysis.get("convs", 0) == 0:
        raise ApiError(422, "no_conv", f"model {model_id} has no Conv node to convert")
    check_input_names(analysis, body.input_shapes)
    check_input_shapes(model, body.input_shapes)
    refs = [model_id]
    if body.dataset_id:
        await check_dataset(svc, model, body.dataset_id, body.input_shapes)
        refs.append(body.dataset_id)
    params = {"model_id": model_id, "dataset_id": body.dataset_id, "options": options}
    job = svc.queue_job("conversion", params, refs)
    out = JobOut.from_row(job)
    return JSONResponse(out.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/jobs/{out.id}"})


#: How the API names an entry of a dict option: input_shapes['x'].
FIELD_KEY = "{name}[{key!r}]"


def check_input_names(analysis: dict, shapes: dict[str, list[int]]) -> None:
    names = [i["name"] for i in analysis.get("inputs", [])]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise ApiError(422, "invalid", f"input_shapes names {', '.join(map(repr, unknown))}, which the model "
                                       f"does not take (inputs: {', '.join(names) or 'none'})")


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
    """input_shapes must agree with the model's fixed dims and ranks: 422 now, not a failed job later.
    The converter's own check (converter.shapes.input_shapes), on the inputs stored at upload."""
    if not shapes:
        return
    try:
        input_shapes(_inputs_only(model["analysis"]), shapes)
    except OptionError as exc:
        raise ApiError(422, "invalid", f"model {model['id']}: {exc.render(exc.field, FIELD_KEY)}") from None


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


async def check_dataset(svc: Services, model: dict, dataset_id: str, shapes: dict[str, list[int]]) -> None:
    """Do the dataset's arrays fit the model's inputs? Answered now, not as a failed job later."""
    ds = svc.store.get_dataset(dataset_id)
    if ds is None:
        raise not_found("dataset", dataset_id)
    await svc.validate("check_data", {"model": str(svc.blobs.path(model["sha256"])),
                                      "data": str(svc.blobs.path(ds["sha256"])), "data_name": ds["name"],
                                      "input_shapes": shapes})
