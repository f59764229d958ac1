"""``/v1/benchmarks``: time one model, or two (speedup and output difference), in ONNX Runtime."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ...wiring import Services
from ..request_checks import check_benchmark
from ..schemas import ERRORS, BenchmarkRequest, JobOut
from . import created, services

router = APIRouter(prefix="/v1/benchmarks", tags=["benchmarks"], responses=ERRORS)


@router.post("", status_code=202, response_model=JobOut)
async def start_benchmark(body: BenchmarkRequest, svc: Services = Depends(services)) -> JSONResponse:
    """Queue a benchmark; the job's result has median/p90/mean/min latency, throughput and each
    run's latency (``times_ms``, at most 2000, evenly spaced past that: ``times_ms_subsampled``)
    per model, and for two models the speedup (A / B) and their output difference."""
    refs = await check_benchmark(svc.artifacts, body)
    out = JobOut.from_row(svc.jobs.queue("benchmark", body.model_dump(), refs))
    return created(out, 202, f"/v1/jobs/{out.id}")
