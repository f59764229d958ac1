"""``/v1/jobs``: the state, progress, timings and result of conversions and benchmarks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from ...wiring import Services
from ..schemas import ERRORS, JobOut, JobPage, Limit, Offset
from . import services

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)


@router.get("", response_model=JobPage)
def list_jobs(state: Literal["queued", "running", "succeeded", "failed"] | None = None,
              limit: Limit = 100, offset: Offset = 0,
              svc: Services = Depends(services)) -> JobPage:
    return JobPage(items=[JobOut.from_row(r, summary=True) for r in svc.db.list_jobs(limit, offset, state)],
                   limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    return JobOut.from_row(svc.jobs.job(job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    """Cancel a queued or running job (it ends as failed, kind 'cancelled'); 409 when it has finished."""
    return JobOut.from_row(svc.jobs.cancel(job_id))
