"""One router per resource; :mod:`sepconv.service.http.app` wires them together."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...wiring import Services


def services(request: Request) -> Services:
    """The app's services, as a dependency (tests can swap them per app)."""
    return request.app.state.services


def created(out: BaseModel, status: int, location: str) -> JSONResponse:
    """A resource made (or found) by a POST: its JSON, the status, and where it lives."""
    return JSONResponse(out.model_dump(mode="json"), status_code=status, headers={"Location": location})
