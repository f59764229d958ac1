"""``/v1/benchmarks``: time one model, or up to six (speedup, output difference, accuracy against the first)."""

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
    """Queue a benchmark of one to six models on the same inputs at ``batch`` (default: the data's first
    batch); the job's result has median/p90/mean/min latency, throughput and each run's latency
    (``times_ms``, at most 2000, evenly spaced past that: ``times_ms_subsampled``) per model; for each
    after the first, its ``speedup`` (the first's median over its own) and ``output_difference``
    against the first; with a labelled dataset each model's top-1 ``accuracy`` (``accuracy_samples``;
    else ``accuracy_note`` says why not). Two models also keep ``speedup`` and ``output_difference``
    at the top level."""
    refs = await check_benchmark(svc.artifacts, body)
    out = JobOut.from_row(svc.jobs.queue("benchmark", body.model_dump(), refs))
    return created(out, 202, f"/v1/jobs/{out.id}")
