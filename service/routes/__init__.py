"""One router per resource; :mod:`service.app` wires them together."""

from __future__ import annotations

from fastapi import Request

from ..manager import Services


def services(request: Request) -> Services:
    """The app's services, as a dependency (tests can swap them per app)."""
    return request.app.state.services
