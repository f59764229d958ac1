"""``/v1/datasets``: upload .npz files for verification, calibration and benchmarks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from ...errors import not_found
from ...storage.uploads import UPLOAD_DOC, receive
from ...wiring import Services
from ..schemas import ERRORS, DatasetOut, DatasetPage, Limit, Offset
from . import created, services

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=ERRORS)


@router.post("", status_code=201, response_model=DatasetOut, openapi_extra=UPLOAD_DOC,
             responses={200: {"model": DatasetOut, "description": "the same bytes were uploaded before"}})
async def upload_dataset(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    """Upload an .npz keyed by input name (samples on axis 0; optional 'labels'). No pickles."""
    rec = await receive(request, svc.blobs, svc.settings.max_upload_bytes, "data.npz",
                        svc.settings.body_timeout_s)
    row, new = await svc.artifacts.add_dataset(rec)
    out = DatasetOut.from_row(row)
    return created(out, 201 if new else 200, f"/v1/datasets/{out.id}")


@router.get("", response_model=DatasetPage)
def list_datasets(limit: Limit = 100, offset: Offset = 0,
                  svc: Services = Depends(services)) -> DatasetPage:
    return DatasetPage(items=[DatasetOut.from_row(r) for r in svc.db.list_datasets(limit, offset)],
                       limit=limit, offset=offset)


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, svc: Services = Depends(services)) -> DatasetOut:
    return DatasetOut.from_row(svc.artifacts.dataset(dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, svc: Services = Depends(services)) -> Response:
    if not svc.artifacts.delete("datasets", dataset_id):
        raise not_found("dataset", dataset_id)
    return Response(status_code=204)
