"""``/v1/jobs``: the state, progress, timings and result of conversions and benchmarks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from ..errors import ApiError, not_found
from ..manager import Services
from ..schemas import ERRORS, JobOut, JobPage
from . import services

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)


@router.get("", response_model=JobPage)
def list_jobs(state: Literal["queued", "running", "succeeded", "failed"] | None = None,
              limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
              svc: Services = Depends(services)) -> JobPage:
    return JobPage(items=[JobOut.from_row(r) for r in svc.store.list_jobs(limit, offset, state)],
                   limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    row = svc.store.get_job(job_id)
    if row is None:
        raise not_found("job", job_id)
    return JobOut.from_row(row)


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    """Cancel a queued or running job (it ends as failed, kind 'cancelled'); 409 when it has finished."""
    row = svc.store.get_job(job_id)
    if row is None:
        raise not_found("job", job_id)
    if row["state"] not in ("queued", "running") or not svc.cancel(job_id):
        raise ApiError(409, "conflict", f"job {job_id} has already finished ({row['state']})")
    row = svc.store.get_job(job_id)
    assert row is not None
    return JobOut.from_row(row)
