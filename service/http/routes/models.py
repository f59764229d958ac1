"""``/v1/models``: upload, list, show, download, delete, and convert a model."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from ...errors import not_found
from ...jobs.variants import variant_summary
from ...storage.uploads import UPLOAD_DOC, receive
from ...wiring import Services
from ..request_checks import check_conversion
from ..schemas import (
    ERRORS,
    ConversionRequest,
    JobOut,
    Limit,
    ModelOut,
    ModelPage,
    Offset,
    VariantLimit,
    VariantOut,
    VariantPage,
)
from . import created, services

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERRORS)


@router.post("", status_code=201, response_model=ModelOut, openapi_extra=UPLOAD_DOC,
             responses={200: {"model": ModelOut, "description": "the same bytes were uploaded before"}})
async def upload_model(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    """Upload an .onnx file (multipart 'file' part, or a raw body with ?name=). Streamed to disk,
    checked (protobuf, onnx.checker, no external data) and analysed; 201, or 200 for known bytes."""
    rec = await receive(request, svc.blobs, svc.settings.max_upload_bytes, "model.onnx",
                        svc.settings.body_timeout_s)
    row, new = await svc.artifacts.add_model(rec)
    out = ModelOut.from_row(row)
    return created(out, 201 if new else 200, f"/v1/models/{out.id}")


@router.get("", response_model=ModelPage)
def list_models(limit: Limit = 100, offset: Offset = 0,
                svc: Services = Depends(services)) -> ModelPage:
    """Newest first; a converted model's ``tag`` says what its conversion asked for."""
    rows = svc.db.list_models(limit, offset)
    options = svc.db.conversion_options([r["source_job"] for r in rows if r.get("source_job")])
    return ModelPage(items=[ModelOut.from_row(r, summary=True, options=options.get(r.get("source_job") or ""))
                            for r in rows], limit=limit, offset=offset)


@router.get("/{model_id}", response_model=ModelOut)
def get_model(model_id: str, svc: Services = Depends(services)) -> ModelOut:
    row = svc.artifacts.model(model_id)
    options = svc.db.conversion_options([row["source_job"]] if row.get("source_job") else [])
    return ModelOut.from_row(row, options=options.get(row.get("source_job") or ""))


@router.get("/{model_id}/variants", response_model=VariantPage)
def list_variants(model_id: str, limit: VariantLimit = 50, offset: Offset = 0,
                  svc: Services = Depends(services)) -> VariantPage:
    """Every conversion made from this model, newest first, as summaries (not whole reports): what
    it asked for (``tag``, ``asked``), the multiplications and measured latency over the original's,
    its output error, size and verdict, and its ``options`` to convert again with."""
    svc.artifacts.model(model_id)  # 404 for an unknown model
    jobs = svc.db.list_conversions(model_id, limit, offset)
    made = {j["result"]["model_id"] for j in jobs if isinstance(j.get("result"), dict) and j["result"].get("model_id")}
    models = {m: svc.db.get_model(m) for m in made}
    items = [VariantOut(**variant_summary(j, models.get((j.get("result") or {}).get("model_id") or "")))
             for j in jobs]
    return VariantPage(model_id=model_id, items=items, limit=limit, offset=offset)


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
