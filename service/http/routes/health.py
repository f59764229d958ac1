"""Health checks, open without the API key (for Docker's HEALTHCHECK and load balancers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ...wiring import Services
from . import services

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up and its event loop answers (no disk, no locks: it must stay fast)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(svc: Services = Depends(services)) -> JSONResponse:
    """Ready to take work: the database and the data directory take writes, the workers are alive."""
    checks = svc.readiness()
    ok = all(checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks, "queued_jobs": svc.runner.queued()}
    if not ok:
        body["reason"] = svc.not_ready_reason(checks)
    return JSONResponse(body, status_code=200 if ok else 503)
