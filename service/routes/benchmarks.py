"""``/v1/benchmarks``: time one model, or two (speedup and output difference), in ONNX Runtime."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..errors import ApiError, not_found
from ..manager import Services
from ..schemas import ERRORS, BenchmarkRequest, JobOut
from . import services
from .models import check_dataset, check_input_names, check_input_shapes, check_same_inputs

router = APIRouter(prefix="/v1/benchmarks", tags=["benchmarks"], responses=ERRORS)


@router.post("", status_code=202, response_model=JobOut)
async def start_benchmark(body: BenchmarkRequest, svc: Services = Depends(services)) -> JSONResponse:
    """Queue a benchmark; the job's result has median/p90/mean latency and throughput per model,
    and for two models the speedup (A / B) and their output difference."""
    if len(set(body.model_ids)) != len(body.model_ids):
        raise ApiError(422, "invalid", "model_ids: give two different models (or one)")
    models = []
    for mid in body.model_ids:
        row = svc.store.get_model(mid)
        if row is None:
            raise not_found("model", mid)
        models.append(row)
    check_input_names(models[0]["analysis"], body.input_shapes)
    if len(models) == 2:
        check_same_inputs(models[0], models[1])
    for row in models:
        check_input_shapes(row, body.input_shapes)
    refs = list(body.model_ids)
    if body.dataset_id:
        for row in models:  # the same data feeds both models: it must fit each of them
            try:
                await check_dataset(svc, row, body.dataset_id, body.input_shapes)
            except ApiError as exc:
                if len(models) == 2 and exc.status == 422:
                    exc.message = f"model {row['id']}: {exc.message}"
                raise
        refs.append(body.dataset_id)
    params = body.model_dump()
    job = svc.queue_job("benchmark", params, refs)
    out = JobOut.from_row(job)
    return JSONResponse(out.model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/jobs/{out.id}"})
