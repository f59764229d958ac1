"""``/v1/models``: upload, list, show, download, delete, and convert a model."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from ...errors import not_found
from ...storage.uploads import UPLOAD_DOC, receive
from ...wiring import Services
from ..request_checks import check_conversion
from ..schemas import ERRORS, ConversionRequest, JobOut, Limit, ModelOut, ModelPage, Offset
from . import created, services

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERRORS)


@router.post("", status_code=201, response_model=ModelOut, openapi_extra=UPLOAD_DOC,
             responses={200: {"model": ModelOut, "description": "the same bytes were uploaded before"}})
async def upload_model(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    """Upload an .onnx file (multipart 'file' part, or a raw body with ?name=). Streamed to disk,
    checked (protobuf, onnx.checker, no external data) and analysed; 201, or 200 for known bytes."""
    rec = await receive(request, svc.blobs, svc.settings.max_upload_bytes, "model.onnx")
    row, new = await svc.artifacts.add_model(rec)
    out = ModelOut.from_row(row)
    return created(out, 201 if new else 200, f"/v1/models/{out.id}")


@router.get("", response_model=ModelPage)
def list_models(limit: Limit = 100, offset: Offset = 0,
                svc: Services = Depends(services)) -> ModelPage:
    return ModelPage(items=[ModelOut.from_row(r, summary=True) for r in svc.db.list_models(limit, offset)],
                     limit=limit, offset=offset)


@router.get("/{model_id}", response_model=ModelOut)
def get_model(model_id: str, svc: Services = Depends(services)) -> ModelOut:
    return ModelOut.from_row(svc.artifacts.model(model_id))


@router.get("/{model_id}/file", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_model(model_id: str, svc: Services = Depends(services)) -> FileResponse:
    """The .onnx file, uploaded or converted."""
    row = svc.artifacts.model(model_id)
    return FileResponse(svc.artifacts.blob_path("models", row), media_type="application/octet-stream",
                        filename=row["name"], headers={"X-Content-SHA256": row["sha256"]})


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: str, svc: Services = Depends(services)) -> Response:
    if not svc.artifacts.delete("models", model_id):
        raise not_found("model", model_id)
    return Response(status_code=204)


@router.post("/{model_id}/conversions", status_code=202, response_model=JobOut)
async def convert_model(model_id: str, body: ConversionRequest, svc: Services = Depends(services)) -> JSONResponse:
    """Queue a conversion with the converter's options; poll ``GET /v1/jobs/{id}``. The result
    holds the converter's report and the id of the converted model."""
    model = svc.artifacts.model(model_id)
    options = body.options()
    refs = await check_conversion(svc.artifacts, model, body, options)
    params = {"model_id": model_id, "dataset_id": body.dataset_id, "options": options}
    out = JobOut.from_row(svc.jobs.queue("conversion", params, refs))
    return created(out, 202, f"/v1/jobs/{out.id}")
